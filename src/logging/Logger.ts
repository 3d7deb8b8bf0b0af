// What pipeline authors call: one Logger per name (plus children with extra bindings). Each level
// method compares a severity number against the shared threshold first and returns before
// touching anything else, so a call below the level costs a load and a compare (pino's discipline).

import { stderrWarning } from '../../exporters/delivery/RateLimitedWarning.js';
import type { LevelName } from '../config/types.js';
import { Bindings, type LoggerCore, NO_ERROR } from './LoggerCore.js';
import type { RecordOrigin } from './LogRecordData.js';
import { LEVELS, parseLevel } from './levels.js';

/** A message, or a function producing it that is only called when the record will be written. */
export type LogMessage = string | (() => string);

const DEBUG = LEVELS.DEBUG;
const INFO = LEVELS.INFO;
const WARNING = LEVELS.WARNING;
const ERROR = LEVELS.ERROR;
const CRITICAL = LEVELS.CRITICAL;
const NO_ARGS: unknown[] = [];
const NO_ATTRIBUTES: Readonly<Record<string, unknown>> = Object.freeze({});

export class Logger {
  readonly name: string;
  private readonly core: LoggerCore;
  private readonly scope: RecordOrigin;
  private bindings: Bindings;

  /** @internal Loggers come from LoggerFactory.getLogger() or Logger.child(). */
  constructor(core: LoggerCore, name: string, bindings: Bindings = Bindings.EMPTY) {
    this.core = core;
    this.name = name;
    this.scope = core.originFor(name);
    this.bindings = bindings;
  }

  debug(msg: LogMessage, ...args: unknown[]): void {
    if (this.core.threshold > DEBUG) return;
    this.core.write(this.scope, this.bindings, DEBUG, msg, args, NO_ERROR, undefined);
  }

  info(msg: LogMessage, ...args: unknown[]): void {
    if (this.core.threshold > INFO) return;
    this.core.write(this.scope, this.bindings, INFO, msg, args, NO_ERROR, undefined);
  }

  warning(msg: LogMessage, ...args: unknown[]): void {
    if (this.core.threshold > WARNING) return;
    this.core.write(this.scope, this.bindings, WARNING, msg, args, NO_ERROR, undefined);
  }

  /** Alias of warning(). */
  warn(msg: LogMessage, ...args: unknown[]): void {
    if (this.core.threshold > WARNING) return;
    this.core.write(this.scope, this.bindings, WARNING, msg, args, NO_ERROR, undefined);
  }

  error(msg: LogMessage, ...args: unknown[]): void {
    if (this.core.threshold > ERROR) return;
    this.core.write(this.scope, this.bindings, ERROR, msg, args, NO_ERROR, undefined);
  }

  critical(msg: LogMessage, ...args: unknown[]): void {
    if (this.core.threshold > CRITICAL) return;
    this.core.write(this.scope, this.bindings, CRITICAL, msg, args, NO_ERROR, undefined);
  }

  /**
   * An ERROR record for a caught exception: its type, message and stack trace (with causes) go to
   * exception.type / exception.message / exception.stacktrace (pipeline_logs.traceback).
   */
  exception(msg: LogMessage, error: unknown, attrs?: Record<string, unknown>): void {
    if (this.core.threshold > ERROR) return;
    this.core.write(this.scope, this.bindings, ERROR, msg, NO_ARGS, error, attrs ?? NO_ATTRIBUTES);
  }

  /** Logs at a level given by name; an unknown name logs at INFO rather than throwing. */
  log(level: LevelName, msg: LogMessage, ...args: unknown[]): void {
    const severity = severityFor(level);
    if (this.core.threshold > severity) return;
    this.core.write(this.scope, this.bindings, severity, msg, args, NO_ERROR, undefined);
  }

  /** Whether a call at `level` would be written anywhere (sink or console), before sampling. */
  isEnabledFor(level: LevelName): boolean {
    return severityFor(level) >= this.core.threshold;
  }

  /**
   * Attributes merged into every later record of this logger (the seed's context caching): sanitized
   * and redacted once, here. Loggers are cached by name, so this applies to every getLogger(name).
   * Children created before the call keep the bindings they were created with.
   */
  addContext(attrs: Record<string, unknown>): void {
    this.bindings = this.core.bind(this.bindings, attrs);
  }

  /** A logger with the same name whose bindings are this logger's plus `attrs` (computed once). */
  child(attrs: Record<string, unknown>): Logger {
    return new Logger(this.core, this.name, this.core.bind(this.bindings, attrs));
  }
}

function severityFor(level: LevelName): number {
  const severity: unknown = LEVELS[level];
  if (typeof severity === 'number') return severity;
  const parsed = parseLevel(level);
  if (parsed !== undefined) return LEVELS[parsed];
  warnUnknownLevel(level);
  return INFO;
}

/** Unknown levels already warned about (a log call never throws: it says so once, and logs at INFO). */
const warnedLevels = new Set<string>();

function warnUnknownLevel(level: unknown): void {
  const text = String(level).slice(0, 40);
  if (warnedLevels.has(text) || warnedLevels.size >= 20) return;
  warnedLevels.add(text);
  stderrWarning(
    `log.log(): unknown level "${text}", logged at INFO (levels: DEBUG, INFO, WARNING, ERROR, CRITICAL)`,
  );
}
