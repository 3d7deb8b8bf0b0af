// Human-readable log lines on stderr: `HH:MM:SS.mmm LEVEL logger [stage] message key=value…`, colored
// only on a terminal. Lines are buffered and written once per event-loop turn (or when 64 KiB are
// pending, or at process exit), so a burst of logs costs one write, not one syscall per line.

import { STAGE_ATTRIBUTE, TRACEBACK_ATTRIBUTE } from '../../exporters/shared/conventions.js';
import type { LevelName } from '../config/types.js';
import { safeJson } from './format.js';
import { levelNameOf } from './levels.js';
import type { PipetelLogRecord } from './types.js';

/** Pending output that triggers an immediate write. */
const FLUSH_AT_CHARS = 64 * 1024;
/** Characters of one attribute value shown on the console. */
const MAX_VALUE_CHARS = 500;

const LEVEL_COLORS: Record<LevelName, string> = {
  DEBUG: '\x1b[90m',
  INFO: '\x1b[36m',
  WARNING: '\x1b[33m',
  ERROR: '\x1b[31m',
  CRITICAL: '\x1b[1;35m',
};
const DIM = '\x1b[2m';
const RESET = '\x1b[0m';

export interface ConsoleOutputOptions {
  /** Default: true when the stream is a terminal that supports colors. */
  colors?: boolean;
}

/** `console.enabled` as configured: 'auto' means "stderr is a terminal". */
export function resolveConsoleEnabled(
  enabled: boolean | 'auto',
  stream: NodeJS.WritableStream = process.stderr,
): boolean {
  return enabled === 'auto' ? (stream as { isTTY?: boolean }).isTTY === true : enabled;
}

export class ConsoleOutput {
  private pending = '';
  private scheduled = false;
  private readonly colors: boolean;
  private readonly flushNow = (): void => this.flush();

  constructor(
    private readonly stream: NodeJS.WritableStream = process.stderr,
    options: ConsoleOutputOptions = {},
  ) {
    this.colors = options.colors ?? supportsColor(stream);
  }

  write(record: PipetelLogRecord): void {
    this.pending += formatConsoleLine(record, this.colors);
    if (this.pending.length >= FLUSH_AT_CHARS) {
      this.flush();
    } else if (!this.scheduled) {
      this.scheduled = true;
      // unref'd: pending lines never keep the process alive; the exit hook writes them instead.
      setImmediate(this.flushNow).unref();
      process.on('exit', this.flushNow);
    }
  }

  /** Writes everything pending now. */
  flush(): void {
    if (this.scheduled) {
      this.scheduled = false;
      process.off('exit', this.flushNow);
    }
    if (this.pending === '') return;
    const text = this.pending;
    this.pending = '';
    try {
      this.stream.write(text);
    } catch {
      // A closed stderr must not break the pipeline; the lines are lost for humans only.
    }
  }
}

/** One console line (with the stack trace indented below it, if the record has one). */
export function formatConsoleLine(record: PipetelLogRecord, colors: boolean): string {
  const level = levelNameOf(record.severityNumber ?? 9);
  const attributes = record.attributes as Record<string, unknown>;
  const stage = attributes[STAGE_ATTRIBUTE];
  let line = clock(record.hrTime[0] * 1000 + record.hrTime[1] / 1e6);
  line += colors
    ? ` ${LEVEL_COLORS[level]}${level.padEnd(8)}${RESET} ${DIM}${record.instrumentationScope.name}${RESET}`
    : ` ${level.padEnd(8)} ${record.instrumentationScope.name}`;
  if (typeof stage === 'string') line += ` [${stage}]`;
  line += ` ${typeof record.body === 'string' ? record.body : safeJson(record.body)}`;
  const stack = attributes[TRACEBACK_ATTRIBUTE];
  const hasStack = typeof stack === 'string';
  for (const key in attributes) {
    if (key === STAGE_ATTRIBUTE || key === TRACEBACK_ATTRIBUTE) continue;
    // The stack trace printed below starts with "Type: message" already.
    if (hasStack && (key === 'exception.type' || key === 'exception.message')) continue;
    line += colors
      ? ` ${DIM}${key}=${RESET}${consoleValue(attributes[key])}`
      : ` ${key}=${consoleValue(attributes[key])}`;
  }
  if (hasStack) line += `\n    ${stack.replaceAll('\n', '\n    ')}`;
  return line + '\n';
}

function consoleValue(value: unknown): string {
  let text = typeof value === 'string' && /^[^\s"=]+$/.test(value) ? value : safeJson(value);
  if (text.length > MAX_VALUE_CHARS) text = `${text.slice(0, MAX_VALUE_CHARS)}…`;
  return text;
}

/** Local wall-clock time of day, HH:MM:SS.mmm. */
function clock(epochMs: number): string {
  const date = new Date(epochMs);
  return `${pad2(date.getHours())}:${pad2(date.getMinutes())}:${pad2(date.getSeconds())}.${String(date.getMilliseconds()).padStart(3, '0')}`;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

function supportsColor(stream: NodeJS.WritableStream): boolean {
  const tty = stream as { isTTY?: boolean; hasColors?: () => boolean };
  if (tty.isTTY !== true) return false;
  try {
    return typeof tty.hasColors === 'function' ? tty.hasColors() : true;
  } catch {
    return false;
  }
}
