// Creates and caches loggers by name over one shared core, and is where the live controls live:
// setLevel / setSampling reach every logger (and child) at once, stats() reports what the loggers
// dropped, altered or redacted. Settings come in as plain objects; register() owns the config.

import type { Resource } from '@opentelemetry/resources';
import type { TelemetryPolicy } from '../../exporters/policy/TelemetryPolicy.js';
import type { LevelName } from '../config/types.js';
import { ConsoleOutput } from './ConsoleOutput.js';
import { Logger } from './Logger.js';
import { LoggerCore } from './LoggerCore.js';
import type { LogRecordSink } from './types.js';

export interface LoggerConsoleOptions {
  /** Already resolved: register() turns 'auto' into "stderr is a TTY" (see resolveConsoleEnabled). */
  enabled: boolean;
  level: LevelName;
  /** Default process.stderr. */
  stream?: NodeJS.WritableStream;
  /** Default: only when the stream is a color terminal. */
  colors?: boolean;
}

export interface LoggerOptions {
  /** Records below this level are not sent to the sink. */
  level: LevelName;
  /** Share of records kept per level, 0..1 (e.g. { DEBUG: 0.1 }); missing levels keep all. */
  sampling?: Partial<Record<LevelName, number>>;
  sink: LogRecordSink;
  resource: Resource;
  /** Attribute keys holding any of these as a whole word have their values redacted, at any depth. Default DEFAULT_REDACT_KEYS; [] turns redaction off. */
  redactKeys?: string[];
  /** Secrets and limits shared with every sink (register() passes its own); wins over redactKeys. */
  policy?: TelemetryPolicy;
  console?: LoggerConsoleOptions;
  /** Random source for sampling, in [0, 1); default Math.random. */
  random?: () => number;
  /** When it returns true, records go to no sink (e.g. the SDK is disabled or shut down). */
  isDisabled?: () => boolean;
  /**
   * Build records off the call, up to 128 at a time within 100 ms (register() sets it unless
   * spool.mode is always); flush() builds what waits.
   */
  deferBuild?: boolean;
}

export interface LoggerStats {
  /** Records dropped by sampling. */
  sampledOut: number;
  /** Values or messages altered to be safe (truncated, NUL replaced, cycles cut, …). */
  sanitized: number;
  /** Values replaced by '[REDACTED]'. */
  redacted: number;
}

export class LoggerFactory {
  private readonly core: LoggerCore;
  private readonly loggers = new Map<string, Logger>();

  constructor(options: LoggerOptions) {
    this.core = new LoggerCore(coreOptions(options));
  }

  /** Rebinds every logger this factory made (and will make) to new settings and a new sink. */
  configure(options: LoggerOptions): void {
    this.core.configure(coreOptions(options));
  }

  /** The logger for `name`, created on first use and the same object afterwards. */
  getLogger(name: string): Logger {
    let logger = this.loggers.get(name);
    if (!logger) {
      logger = new Logger(this.core, String(name));
      this.loggers.set(name, logger);
    }
    return logger;
  }

  /** Changes the sink level of every logger, existing and future. Throws RangeError on an unknown level. */
  setLevel(level: LevelName): void {
    this.core.setLevel(level);
  }

  getLevel(): LevelName {
    return this.core.level;
  }

  /** Changes the console level (no effect when the console is off). */
  setConsoleLevel(level: LevelName): void {
    this.core.setConsoleLevel(level);
  }

  /** Replaces the per-level sampling ratios. Throws RangeError for a ratio outside 0..1. */
  setSampling(sampling: Partial<Record<LevelName, number>>): void {
    this.core.setSampling(sampling);
  }

  stats(): LoggerStats {
    const { sampledOut, sanitized, redacted } = this.core.counters;
    return { sampledOut, sanitized, redacted };
  }

  /** Log calls past the level check, staged or built at once, and their measured time (SelfCost). */
  callTiming(): LoggerCore['timing'] {
    return { ...this.core.timing };
  }

  /**
   * Stages log calls from now on, or builds every record at the call (LoggerOptions.deferBuild,
   * which register() sets; the overhead benchmark compares the two in one process).
   */
  setDeferBuild(deferBuild: boolean): void {
    this.core.setDeferBuild(deferBuild);
  }

  /** Builds the records of staged calls now (see LoggerOptions.deferBuild). */
  drain(): void {
    this.core.drain();
  }

  /** Log calls staged and not yet built into records (see LoggerOptions.deferBuild). */
  stagedCount(): number {
    return this.core.stagedCount;
  }

  /** Builds the records of staged calls and writes buffered console lines now (the sink has its own flushing). */
  flush(): void {
    this.core.flush();
  }
}

function coreOptions(options: LoggerOptions) {
  const console = options.console?.enabled
    ? new ConsoleOutput(options.console.stream ?? process.stderr, { colors: options.console.colors })
    : undefined;
  return {
    level: options.level,
    sampling: options.sampling,
    sink: options.sink,
    resource: options.resource,
    redactKeys: options.redactKeys,
    policy: options.policy,
    console,
    consoleLevel: options.console?.level,
    random: options.random,
    isDisabled: options.isDisabled,
    deferBuild: options.deferBuild,
  };
}
