// Stages are spans: tel.stage(name, fn) runs fn inside an active span named after the stage, with
// the stage name in the context (so logs, metrics and progress inside carry it) and the stage's CPU
// time and peak RSS on the span. The runner also remembers which stages are open, so Ctrl-C can end
// them as ERROR before the process goes.

import { type Span, type SpanContext, SpanStatusCode, type Tracer, trace } from '@opentelemetry/api';
import { STAGE_ATTRIBUTE } from '../../exporters/shared/conventions.js';
import { activeContext, withStage } from './context.js';
import { measureStage, type StageResourceUsage } from './StageResources.js';

export interface StageOptions {
  /** Extra span attributes for this stage. */
  attributes?: Record<string, string | number | boolean>;
}

/** Where a failed stage's exception is logged (pipetel's Logger `pipetel.stage`). */
export interface StageLog {
  exception(message: string, error: Error): void;
  error(message: string): void;
}

export class StageRunner {
  /** Stages started so far (pipetel's estimate of its own cost counts them). */
  started = 0;
  /** Errors a stage logged as it failed (with their stack), so crash() does not log them twice. */
  private readonly logged = new WeakSet<Error>();
  /** Stage spans not yet ended, with the resource measurement each ends with (see interrupt()). */
  private readonly open = new Map<Span, { name: string; endMeasurement: () => StageResourceUsage }>();

  constructor(
    private readonly tracer: Tracer,
    private readonly log: () => StageLog,
    /** A worker started with tel.childEnv(): its top-level stages continue the parent's stage. */
    private readonly parentSpanContext: SpanContext | undefined,
  ) {}

  /**
   * Runs fn inside an active span named after the stage. An error marks the span ERROR, is
   * recorded and logged with its stack, and re-thrown.
   */
  run<T>(name: string, fn: () => T | Promise<T>, options: StageOptions = {}): Promise<T> {
    this.started++;
    const active = activeContext();
    const base =
      this.parentSpanContext && !trace.getSpan(active)
        ? trace.setSpanContext(active, this.parentSpanContext)
        : active;
    const parent = withStage(base, name);
    const attributes = { ...options.attributes, [STAGE_ATTRIBUTE]: name };
    return this.tracer.startActiveSpan(name, { attributes }, parent, async (span: Span) => {
      const endMeasurement = measureStage();
      this.open.set(span, { name, endMeasurement });
      try {
        const result = await fn();
        span.setStatus({ code: SpanStatusCode.OK });
        return result;
      } catch (error) {
        const err = error instanceof Error ? error : new Error(String(error));
        span.recordException(err);
        span.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
        this.log().exception(`stage ${name} failed: ${err.message}`, err);
        if (error instanceof Error) this.logged.add(error);
        throw error;
      } finally {
        // An interrupted stage (SIGINT/SIGTERM) was already ended and stored by interrupt().
        if (this.open.delete(span)) {
          span.setAttributes({ ...endMeasurement() });
          span.end();
        }
      }
    });
  }

  /**
   * The process dies of an uncaught exception: every open stage ends as ERROR with the exception
   * recorded, and the exception is logged with its stack (naming the stages it ended), so the run
   * shows where and why it died — not a run without the stage it was in.
   */
  crash(error: Error): void {
    const names = [...this.open.values()].map((stage) => stage.name);
    // A stage's own error, rethrown up to the top: its stage logged it with the stack already.
    const logged = this.logged.has(error);
    for (const [span, { endMeasurement }] of this.open) {
      span.recordException(error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
      span.setAttributes({ ...endMeasurement() });
      span.end();
    }
    this.open.clear();
    if (logged) return;
    this.log().exception(
      `uncaught exception${names.length > 0 ? ` during stage ${names.join(', ')}` : ''}: ${error.message}`,
      error,
    );
  }

  /** Ends every open stage as ERROR with `reason` (Ctrl-C, SIGTERM), so their spans are stored. */
  interrupt(signal: NodeJS.Signals, reason: string): void {
    for (const [span, { endMeasurement }] of this.open) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: reason });
      span.setAttributes({ ...endMeasurement(), 'pipetel.interrupted': signal });
      span.end();
    }
    if (this.open.size > 0) {
      const names = [...this.open.values()].map((stage) => stage.name);
      this.log().error(`${reason} during stage ${names.join(', ')}`);
    }
    this.open.clear();
  }
}
