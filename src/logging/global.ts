// The process-wide logger factory behind the top-level getLogger(): loggers can be created at
// import time, before register() runs; register() binds them to its log pipeline and settings and
// shutdown() unbinds them, so the same Logger objects work across the whole process lifetime.
// Records made before the first register() wait in a bounded buffer and are delivered by it.

import { emptyResource } from '@opentelemetry/resources';
import { resolveConsoleEnabled } from './ConsoleOutput.js';
import type { Logger } from './Logger.js';
import { LoggerFactory, type LoggerOptions } from './LoggerFactory.js';
import { LEVELS, severityOf } from './levels.js';
import { PreRegisterBuffer } from './PreRegisterBuffer.js';

const NO_SINK = { emit: () => undefined };

/**
 * Before the first register(): every record goes to the bounded pre-register buffer; warnings and
 * above also reach a terminal at once. After shutdown(): records still go to the ended run's
 * pipeline, built at the call (no staging timer), and its sinks, shut down, count each one as
 * dropped and say so — a log call after shutdown() is a lost record, never a silent one.
 */
function unboundOptions(): LoggerOptions {
  if (lastBound) return { ...lastBound, deferBuild: false };
  const console = { enabled: resolveConsoleEnabled('auto', process.stderr), level: 'WARNING' as const };
  if (!everBound) {
    preRegister ??= new PreRegisterBuffer(
      (record) => console.enabled && (record.severityNumber ?? 0) >= LEVELS.WARNING,
    );
    return { level: 'DEBUG', sink: preRegister, resource: emptyResource(), console };
  }
  return { level: 'CRITICAL', sink: NO_SINK, resource: emptyResource(), console, isDisabled: () => true };
}

let factory: LoggerFactory | undefined;
let preRegister: PreRegisterBuffer | undefined;
let everBound = false;
/** The settings of the run bound now, and of the run that ended last (see unboundOptions). */
let bound: LoggerOptions | undefined;
let lastBound: LoggerOptions | undefined;

export function globalLoggerFactory(): LoggerFactory {
  factory ??= new LoggerFactory(unboundOptions());
  return factory;
}

/** The logger named `name`; the same object before and after register(). */
export function getLogger(name: string): Logger {
  return globalLoggerFactory().getLogger(name);
}

/** register(): binds every logger to the pipeline and settings of the registered instance. */
export function bindGlobalLogging(options: LoggerOptions): LoggerFactory {
  const f = globalLoggerFactory();
  everBound = true;
  bound = options;
  lastBound = undefined;
  f.configure(options);
  // What was logged before register(), at the level it configured, in the order it was made.
  const threshold = severityOf(options.level);
  preRegister?.deliverTo(
    options.sink,
    (record) => (record.severityNumber ?? 0) >= threshold && !options.isDisabled?.(),
  );
  preRegister = undefined;
  return f;
}

/** shutdown(): back to the unbound state. */
export function unbindGlobalLogging(): void {
  factory?.flush();
  lastBound = bound;
  bound = undefined;
  factory?.configure(unboundOptions());
}
