// The state every logger of one factory shares — thresholds, sampling, counters, sink, console —
// and the one place a log call becomes a record. Loggers hold a reference to it, so setLevel() and
// setSampling() reach all of them at once; the level check itself happens in Logger before any call.

import { performance } from 'node:perf_hooks';
import { type Context, isSpanContextValid, type SpanContext, trace } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import { RateLimitedWarning, stderrWarning } from '../../exporters/delivery/RateLimitedWarning.js';
import { isPlainObject } from '../../exporters/policy/safeAccess.js';
import { TelemetryPolicy } from '../../exporters/policy/TelemetryPolicy.js';
import { cleanText, isCleanText } from '../../exporters/policy/text.js';
import { STAGE_ATTRIBUTE } from '../../exporters/shared/conventions.js';
import type { LevelName } from '../config/types.js';
import {
  activeContext,
  isMonitoringDisabled,
  monitoringMayBeDisabled,
  stageOf,
} from '../pipeline/context.js';
import type { ConsoleOutput } from './ConsoleOutput.js';
import { errorSummary, formatCompiled, stringifyArg, TemplateCache } from './format.js';
import { LogRecordData, type RecordOrigin } from './LogRecordData.js';
import { levelNameOf, MAX_SEVERITY, severityOf } from './levels.js';
import { AttributeSanitizer, isError, MAX_ATTRIBUTES, MAX_TEXT_CHARS } from './sanitize.js';
import type { LogRecordSink, PipetelLogRecord } from './types.js';

export { STAGE_ATTRIBUTE };

/** Passed as `error` when a call carries no explicit exception (undefined is a thrown value too). */
export const NO_ERROR: unique symbol = Symbol('no error');

/**
 * A logger's cached context (addContext/child): already sanitized and redacted, kept as parallel
 * key/value arrays because copying those into a fresh object is the fastest way V8 offers to start
 * each record's attributes (spreading an object and then adding keys hits a slow path).
 */
export class Bindings {
  static readonly EMPTY = new Bindings([], [], 0);

  constructor(
    readonly keys: readonly string[],
    readonly values: readonly unknown[],
    /** Distinct keys seen; above MAX_ATTRIBUTES the excess counts as dropped in every record. */
    readonly seenKeys: number,
  ) {}

  /** A new attributes object holding the bindings. */
  toAttributes(): Record<string, unknown> {
    const attributes: Record<string, unknown> = {};
    const { keys, values } = this;
    for (let i = 0; i < keys.length; i++) setAttribute(attributes, keys[i]!, values[i]);
    return attributes;
  }
}

/** Assigns without letting a `__proto__` key (from parsed JSON) replace the object's prototype. */
function setAttribute(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    target[key] = value;
  }
}

export interface LoggerCounters {
  /** Records dropped by per-level sampling. */
  sampledOut: number;
  /** Values (or messages) altered to be safe: truncated, NUL/surrogates replaced, cycles cut, … */
  sanitized: number;
  /** Attribute values replaced by '[REDACTED]'. */
  redacted: number;
}

export interface LoggerCoreOptions {
  level: LevelName;
  sampling?: Partial<Record<LevelName, number>>;
  sink: LogRecordSink;
  resource: Resource;
  /** Secrets and limits; default a TelemetryPolicy with redactKeys. */
  policy?: TelemetryPolicy;
  redactKeys?: readonly string[];
  console?: ConsoleOutput;
  consoleLevel?: LevelName;
  random?: () => number;
  isDisabled?: () => boolean;
  /** Build records off the call, in batches (see LoggerCore.stage); register() sets it. */
  deferBuild?: boolean;
}

/** Severity → severityText, for the numbers the seed's levels use (others map to their range). */
const SEVERITY_TEXT: string[] = Array.from({ length: MAX_SEVERITY + 1 }, (_, severity) =>
  levelNameOf(severity),
);

/** One log call in this many is timed; a power of two. */
const TIMED_EVERY = 16;
/** A timed log call counts at most this long: cold calls measure 10–60 µs, preemption ms. */
const MAX_TIMED_CALL_MS = 0.5;
/** Staged calls are built once this many wait, or STAGE_MS after the first of them. */
const STAGE_LIMIT = 128;
const STAGE_MS = 100;
/** Slots per staged call: origin, bindings, severity, message, arguments, context (the time apart). */
const STRIDE = 6;
/** Object.prototype.hasOwnProperty: inside for-in, V8 reduces this exact call to a map check. */
const hasOwn = Object.prototype.hasOwnProperty;

export class LoggerCore {
  /** Lowest severity anything listens to (sink or console): the first check of every call. */
  threshold = 0;
  sinkThreshold = 0;
  consoleThreshold = Number.POSITIVE_INFINITY;
  /** Share of records kept, by severity number. */
  readonly keepRatio: number[] = new Array(MAX_SEVERITY + 1).fill(1);
  readonly counters: LoggerCounters = { sampledOut: 0, sanitized: 0, redacted: 0 };
  /**
   * For pipetel's estimate of its own cost (SelfCost): calls past the level check; those staged
   * (counted, not timed: reading the clock twice around a cold call measured ~13 µs, more than
   * the 2–5 µs call); those built at once, one in TIMED_EVERY of them timed (see write());
   * and the time spent building staged calls into records, all of it (see drain()).
   */
  readonly timing = { calls: 0, stagedCalls: 0, builtCalls: 0, timedCalls: 0, timedMs: 0, buildMs: 0 };
  sanitizer: AttributeSanitizer;

  private sink: LogRecordSink;
  private resource: Resource;
  private console: ConsoleOutput | undefined;
  private random: () => number;
  private isDisabled: (() => boolean) | undefined;
  private readonly origins = new Map<string, RecordOrigin>();
  private readonly templates = new TemplateCache();
  private readonly failures = new RateLimitedWarning(stderrWarning);
  // Validating a span context runs two regexes; the same span logs many times in a row.
  private lastSpanContext: SpanContext | undefined;
  private lastSpanContextValid = false;
  /**
   * Calls waiting to be built into records (see stage()): STRIDE slots each in `staged`, their times
   * in `stagedTimes` (unboxed), `waiting` of them. Both are replaced, not reused, by each drain.
   */
  private staged: unknown[] = new Array(STAGE_LIMIT * STRIDE);
  private stagedTimes = new Float64Array(STAGE_LIMIT);
  private waiting = 0;
  private stageTimer: NodeJS.Timeout | undefined;
  private deferBuild = false;
  private readonly drainLater = () => {
    this.stageTimer = undefined;
    this.drain();
  };
  /**
   * process 'exit' (process.exit() from anywhere, an application's own signal handler): staged
   * calls are built before the sinks' own exit hooks write what they hold (the file sink does so
   * synchronously), so none is lost to the missing event loop.
   */
  private readonly drainAtExit = () => this.drain();

  constructor(options: LoggerCoreOptions) {
    this.sink = options.sink;
    this.resource = options.resource;
    this.sanitizer = sanitizerFor(options, this.counters);
    this.random = Math.random;
    this.configure(options);
  }

  /**
   * Replaces every setting at once: how the process-wide factory behind the top-level getLogger()
   * is rebound by register() (and unbound by shutdown), so loggers created at import time keep working.
   */
  configure(options: LoggerCoreOptions): void {
    this.console?.flush();
    this.setDeferBuild(options.deferBuild === true); // builds what waits for the sink it was made under
    this.sink = options.sink;
    this.resource = options.resource;
    // Loggers made before register() (and the records they buffered) carry the new resource too.
    for (const origin of this.origins.values())
      (origin as { resource: Resource }).resource = options.resource;
    this.console = options.console;
    this.random = options.random ?? Math.random;
    this.isDisabled = options.isDisabled;
    this.sanitizer = sanitizerFor(options, this.counters);
    this.sinkThreshold = severityOf(options.level);
    this.consoleThreshold = options.console
      ? severityOf(options.consoleLevel ?? options.level)
      : Number.POSITIVE_INFINITY;
    this.updateThreshold();
    this.setSampling(options.sampling ?? {});
  }

  /** Stages calls from now on, or builds every record at the call (what waits is built first). */
  setDeferBuild(deferBuild: boolean): void {
    this.drain();
    if (deferBuild !== this.deferBuild) {
      // Prepended: the sinks registered their exit hooks before register() configured the loggers.
      if (deferBuild) process.prependListener('exit', this.drainAtExit);
      else process.off('exit', this.drainAtExit);
    }
    this.deferBuild = deferBuild;
  }

  setLevel(level: LevelName): void {
    this.sinkThreshold = severityOf(level);
    this.updateThreshold();
  }

  get level(): LevelName {
    return levelNameOf(this.sinkThreshold);
  }

  setConsoleLevel(level: LevelName): void {
    if (!this.console) return;
    this.consoleThreshold = severityOf(level);
    this.updateThreshold();
  }

  /** Replaces the per-level keep ratios; levels not named keep everything. */
  setSampling(sampling: Partial<Record<LevelName, number>>): void {
    const ratios = new Array<number>(MAX_SEVERITY + 1).fill(1);
    for (const [name, ratio] of Object.entries(sampling)) {
      if (ratio === undefined) continue;
      if (typeof ratio !== 'number' || !(ratio >= 0 && ratio <= 1)) {
        throw new RangeError(`logging.sampling.${name}: expected a number from 0 to 1, got ${String(ratio)}`);
      }
      const low = severityOf(name);
      // A level's ratio covers its whole OTel range (e.g. DEBUG = 5..8).
      for (let severity = low; severity < low + 4; severity++) ratios[severity] = ratio;
    }
    for (let severity = 0; severity <= MAX_SEVERITY; severity++) this.keepRatio[severity] = ratios[severity]!;
  }

  /** What a logger's records share: one per name, so processors can group by scope identity. */
  originFor(name: string): RecordOrigin {
    let origin = this.origins.get(name);
    if (!origin) {
      // The name is user input too: bounded and cleaned like any string of a record.
      origin = { resource: this.resource, instrumentationScope: { name: cleanText(name, MAX_TEXT_CHARS) } };
      this.origins.set(name, origin);
    }
    return origin;
  }

  /** Sanitized, redacted bindings: `base` plus `attrs`, computed once per addContext/child. */
  bind(base: Bindings, attrs: unknown): Bindings {
    if (typeof attrs !== 'object' || attrs === null) return base;
    const merged = base.toAttributes();
    const seenKeys = this.sanitizer.copyInto(merged, attrs, base.seenKeys, false);
    return new Bindings(Object.keys(merged), Object.values(merged), seenKeys);
  }

  /**
   * One log call past the level check: sampling and the context lookup, then either staging the
   * call (see stage()) or building its record now: calls with a lazy message, an exception,
   * objects among their arguments (other than a flat plain object last, copied here, and not one
   * shown by %o/%O) or a console to print to are built at once, after the calls staged before
   * them, so records reach the sink in the order they were made.
   */
  write(
    origin: RecordOrigin,
    bindings: Bindings,
    severity: number,
    msg: unknown,
    args: unknown[],
    error: unknown,
    attrs: unknown,
  ): void {
    this.timing.calls++;
    const ratio = this.keepRatio[severity]!;
    if (ratio < 1 && !(this.random() < ratio)) {
      this.counters.sampledOut++;
      return;
    }
    const ctx = activeContext();
    if (
      this.deferBuild &&
      error === NO_ERROR &&
      typeof msg === 'string' &&
      severity >= this.sinkThreshold &&
      severity < this.consoleThreshold &&
      stageable(msg, args)
    ) {
      // Decided now, so a staged call is a record: stats() can count it as queued.
      if (this.isDisabled?.() || (monitoringMayBeDisabled() && isMonitoringDisabled(ctx))) return;
      this.timing.stagedCalls++;
      this.stage(origin, bindings, severity, msg, args, ctx);
      return;
    }
    if (this.waiting > 0) this.drain();
    const toSink = severity >= this.sinkThreshold && !isMonitoringDisabled(ctx) && !this.isDisabled?.();
    const toConsole = severity >= this.consoleThreshold;
    if (!toSink && !toConsole) return;
    // One call in TIMED_EVERY is timed, so the estimate uses what these calls really cost in this
    // process — cold call sites between bursts of other work cost tens of times the hot-loop
    // figure — for two clock reads per TIMED_EVERY calls.
    const timed = (++this.timing.builtCalls & (TIMED_EVERY - 1)) === 0;
    const started = performance.now();
    this.build(origin, bindings, severity, msg, args, error, attrs, ctx, started, toSink, toConsole, false);
    if (!timed) return;
    // A wall-clock sample also catches the thread being preempted (milliseconds on a loaded
    // machine), which the scaling would blow up: no call is counted above the cap.
    this.timing.timedMs += Math.min(performance.now() - started, MAX_TIMED_CALL_MS);
    this.timing.timedCalls++;
  }

  /**
   * Keeps a call to build its record later, with a batch of others. Measured inside a per-item
   * loop, whose own work evicts the caches between log calls, building a record at the call cost
   * 5–20 µs (60 µs between calls 4 ms apart), nearly all of it in misses: formatting, sanitizing,
   * the record and the hand-over each touch their own code and data. Staged, the call touches its
   * context and an array, and the records are built STAGE_LIMIT at a time, where that code is hot.
   * What the record holds is fixed at the call: the time, the context (immutable), the bindings
   * (replaced, never changed, by addContext) and arguments that are primitives or a flat copy.
   */
  private stage(
    origin: RecordOrigin,
    bindings: Bindings,
    severity: number,
    msg: string,
    args: unknown[],
    ctx: Context,
  ): void {
    const n = this.waiting++;
    const staged = this.staged;
    const at = n * STRIDE;
    staged[at] = origin;
    staged[at + 1] = bindings;
    staged[at + 2] = severity;
    staged[at + 3] = msg;
    staged[at + 4] = args;
    staged[at + 5] = ctx;
    this.stagedTimes[n] = performance.now();
    if (n + 1 >= STAGE_LIMIT) this.drain();
    else if (this.stageTimer === undefined) {
      this.stageTimer = setTimeout(this.drainLater, STAGE_MS);
      this.stageTimer.unref();
    }
  }

  /** Builds and delivers the staged calls now, in the order they were made (its time in buildMs). */
  drain(): void {
    if (this.stageTimer !== undefined) {
      clearTimeout(this.stageTimer);
      this.stageTimer = undefined;
    }
    const count = this.waiting;
    if (count === 0) return;
    const started = performance.now();
    const staged = this.staged;
    const times = this.stagedTimes;
    // Fresh arrays before any record is built: a call made while building is staged anew.
    this.staged = new Array(STAGE_LIMIT * STRIDE);
    this.stagedTimes = new Float64Array(STAGE_LIMIT);
    this.waiting = 0;
    for (let n = 0, i = 0; n < count; n++, i += STRIDE) {
      const ctx = staged[i + 5] as Context;
      try {
        this.build(
          staged[i] as RecordOrigin,
          staged[i + 1] as Bindings,
          staged[i + 2] as number,
          staged[i + 3],
          staged[i + 4] as unknown[],
          NO_ERROR,
          undefined,
          ctx,
          times[n]!,
          true,
          false,
          true,
        );
      } catch (error) {
        this.failures.warn(`a log record could not be built: ${describe(error)}`);
      }
    }
    this.timing.buildMs += performance.now() - started;
  }

  /** Calls staged and not built yet. */
  get stagedCount(): number {
    return this.waiting;
  }

  /**
   * Objects the message shows (%j, %o, %O, %s, appended: args[0..end), not the attributes) get the
   * attributes' redaction: a secret in a formatted object is a secret in every sink's text.
   */
  private redactShown(args: unknown[], end: number): void {
    for (let i = 0; i < end; i++) {
      const arg = args[i];
      // Errors too (an HTTP client's carries its request headers): the record's traceback and
      // exception attributes come from the original, which `error` still holds.
      if (typeof arg === 'object' && arg !== null) args[i] = this.sanitizer.forMessage(arg);
    }
  }

  /** Formatting, sanitizing, the record and its delivery: everything after the context lookup. */
  private build(
    origin: RecordOrigin,
    bindings: Bindings,
    severity: number,
    msg: unknown,
    args: unknown[],
    error: unknown,
    attrs: unknown,
    ctx: Context,
    time: number,
    toSink: boolean,
    toConsole: boolean,
    /** A staged call's: a plain object among `args` is the flat copy made at the call, no one else's. */
    ownCopy: boolean,
  ): void {
    let hasError = error !== NO_ERROR;
    /** Some argument is an object (an Error too): it may be shown in the message. */
    let objects = false;
    let message = typeof msg === 'function' ? callLazy(msg) : msg;
    if (typeof message !== 'string') {
      if (!hasError && isError(message)) {
        error = message;
        hasError = true;
      }
      message = stringifyArg(message);
    }
    let end = args.length;
    for (let i = 0; i < end; i++) {
      let arg = args[i];
      if (typeof arg === 'function') args[i] = arg = callLazy(arg);
      if (typeof arg === 'string') {
        if (!isCleanText(arg)) {
          this.counters.sanitized++;
          args[i] = cleanText(arg);
        }
      } else if (typeof arg === 'object' && arg !== null) {
        objects = true;
        if (!hasError && isError(arg)) {
          error = arg;
          hasError = true;
        }
      }
    }
    // The body is made of the template and formatted arguments, each known clean (string arguments
    // were checked above, the template once per template): only its length is left to check.
    const template = message as string;
    let body = template;
    let clean: boolean;
    if (end > 0 && template.indexOf('%') !== -1) {
      const compiled = this.templates.get(template);
      if (attrs === undefined && end > compiled.specifiers.length && isPlainObject(args[end - 1])) {
        attrs = args[--end];
      }
      if (objects) this.redactShown(args, end);
      if (end > 0) body = formatCompiled(compiled, args, end);
      clean = compiled.clean;
    } else {
      if (end > 0 && attrs === undefined && isPlainObject(args[end - 1])) attrs = args[--end];
      if (objects) this.redactShown(args, end);
      for (let i = 0; i < end; i++) body += ' ' + stringifyArg(args[i]);
      clean = isCleanText(template);
    }
    if (!clean || body.length > MAX_TEXT_CHARS) {
      this.counters.sanitized++;
      body = cleanText(body, MAX_TEXT_CHARS);
    }

    let attributes: Record<string, unknown>;
    let keys: number;
    // A staged call's own copy that the policy would keep as it is becomes the attributes itself:
    // copying it again (a keyed store per key, each adding a property) was half of a build.
    const adopted =
      ownCopy && !hasError && bindings.keys.length === 0 && typeof attrs === 'object' && attrs !== null
        ? this.sanitizer.adoptable(attrs as Record<string, unknown>)
        : -1;
    if (adopted >= 0) {
      attributes = attrs as Record<string, unknown>;
      keys = adopted;
    } else {
      attributes = bindings.toAttributes();
      keys = bindings.seenKeys;
      if (hasError) Object.assign(attributes, this.sanitizer.exceptionAttributes(error));
      if (typeof attrs === 'object' && attrs !== null) {
        keys = this.sanitizer.copyInto(attributes, attrs, keys, !hasError);
      }
    }
    const stage = stageOf(ctx);
    if (typeof stage === 'string') attributes[STAGE_ATTRIBUTE] = stage;

    const record = new LogRecordData(
      time,
      severity,
      SEVERITY_TEXT[severity]!,
      body,
      attributes as LogRecordData['attributes'],
      this.spanContextOf(ctx),
      keys > MAX_ATTRIBUTES ? keys - MAX_ATTRIBUTES : 0,
      origin,
    );
    if (toSink) this.deliver(record);
    if (toConsole) this.print(record);
  }

  private spanContextOf(ctx: Context): SpanContext | undefined {
    const spanContext = trace.getSpan(ctx)?.spanContext();
    if (spanContext === undefined) return undefined;
    if (spanContext !== this.lastSpanContext) {
      this.lastSpanContext = spanContext;
      this.lastSpanContextValid = isSpanContextValid(spanContext);
    }
    return this.lastSpanContextValid ? spanContext : undefined;
  }

  private deliver(record: PipetelLogRecord): void {
    try {
      this.sink.emit(record);
    } catch (error) {
      this.failures.warn(`a log record could not be delivered: ${describe(error)}`);
    }
  }

  private print(record: PipetelLogRecord): void {
    try {
      this.console!.write(record);
    } catch (error) {
      this.failures.warn(`a log record could not be printed: ${describe(error)}`);
    }
  }

  /** Builds the staged calls and writes buffered console output now. */
  flush(): void {
    this.drain();
    this.console?.flush();
  }

  private updateThreshold(): void {
    this.threshold = Math.min(this.sinkThreshold, this.consoleThreshold);
  }
}

/**
 * Whether a call's arguments can wait to be formatted: primitives (strings are immutable), and a
 * flat plain object as the last one, replaced here by a copy so later changes to it do not reach
 * the record. Anything else (objects, functions, symbols) is formatted at the call.
 */
function stageable(msg: string, args: unknown[]): boolean {
  const last = args.length - 1;
  for (let i = 0; i <= last; i++) {
    const arg = args[i];
    const type = typeof arg;
    if (type === 'object') {
      if (arg === null) continue;
      if (i !== last) return false;
      // %o / %O show an object as it is (prototype, symbols, getters): only the object will do.
      if (msg.indexOf('%o') !== -1 || msg.indexOf('%O') !== -1) return false;
      const copy = flatCopy(arg as object);
      if (copy === undefined) return false;
      args[i] = copy;
    } else if (type === 'function' || type === 'symbol') {
      return false;
    }
  }
  return true;
}

/** A copy of a plain object whose own enumerable values are all primitives; undefined otherwise. */
function flatCopy(value: object): Record<string, unknown> | undefined {
  // Not a null-prototype object: its copy would have Object.prototype, whose enumerable keys (if
  // some code added any) the record built from the copy would then carry and the object's not.
  if (Object.getPrototypeOf(value) !== Object.prototype) return undefined;
  const copy: Record<string, unknown> = {};
  try {
    for (const key in value) {
      if (!hasOwn.call(value, key)) return undefined;
      const v = (value as Record<string, unknown>)[key];
      const type = typeof v;
      if ((type === 'object' && v !== null) || type === 'function' || type === 'symbol') return undefined;
      setAttribute(copy, key, v);
    }
  } catch {
    return undefined; // a throwing getter: the call is built at once, where that is handled
  }
  return copy;
}

/** Calls a lazy argument; one that throws is logged as a marker instead of breaking the call. */
function callLazy(fn: unknown): unknown {
  try {
    return (fn as () => unknown)();
  } catch (error) {
    return `[lazy argument threw ${isError(error) ? errorSummary(error as Error) : stringifyArg(error)}]`;
  }
}

function describe(error: unknown): string {
  return isError(error) ? errorSummary(error as Error) : stringifyArg(error);
}

function sanitizerFor(options: LoggerCoreOptions, counters: LoggerCounters): AttributeSanitizer {
  const policy = options.policy ?? new TelemetryPolicy({ redactKeys: options.redactKeys });
  return new AttributeSanitizer(policy.newSanitizer(counters), counters);
}
