// The process-wide logger factory behind the top-level getLogger(): loggers can be created at
// import time, before register() runs; register() binds them to its log pipeline and settings and
// shutdown() unbinds them, so the same Logger objects work across the whole process lifetime.

import { emptyResource } from '@opentelemetry/resources';
import { resolveConsoleEnabled } from './ConsoleOutput.js';
import type { Logger } from './Logger.js';
import { LoggerFactory, type LoggerOptions } from './LoggerFactory.js';

const NO_SINK = { emit: () => undefined };

/** Before register(): nothing reaches a sink; warnings and above still reach a terminal. */
function unboundOptions(): LoggerOptions {
  return {
    level: 'CRITICAL',
    sink: NO_SINK,
    resource: emptyResource(),
    console: { enabled: resolveConsoleEnabled('auto', process.stderr), level: 'WARNING' },
    isDisabled: () => true,
  };
}

let factory: LoggerFactory | undefined;

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
  f.configure(options);
  return f;
}

/** shutdown(): back to the unbound state. */
export function unbindGlobalLogging(): void {
  factory?.flush();
  factory?.configure(unboundOptions());
}
