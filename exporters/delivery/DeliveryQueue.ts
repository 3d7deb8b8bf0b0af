// The shared delivery path of every signal: a bounded in-memory queue that the pipeline enqueues
// into without waiting, a batcher (batch_size / flush_interval / max_batch_size), several writes in
// flight at once so encoding the next batch overlaps the database's work on the previous one, retry
// with backoff and jitter, isolation of poisoned rows, and a spill target for what cannot be written.

import { KeyedWarnings, stderrWarning } from './RateLimitedWarning.js';
import {
  backoffDelayMs,
  defaultRetryPolicy,
  isDataError,
  type RetryPolicyOptions,
  sqlState,
  UNIQUE_VIOLATION,
} from './RetryPolicy.js';
import type { BatchSink, DeliveryStats, SpillTarget, WarningSink } from './types.js';

export interface DeliveryOptions<T> {
  /** Signal name for messages and stats: 'logs', 'spans', 'metrics'. */
  name: string;
  sink: BatchSink;
  /** One COPY text line (ending in '\n') per record; may throw for a record that cannot be stored. */
  encode: (item: T) => string;
  batchSize: number;
  maxBatchSize: number;
  flushIntervalMs: number;
  maxQueueSize: number;
  /** Batches written at once (each holds one pooled connection). */
  concurrency: number;
  retry?: RetryPolicyOptions;
  /** An absolute time (ms since epoch) shutdown must be done by, whatever timeout it is given. */
  shutdownDeadline?: () => number | undefined;
  /** Called after each committed batch with its row count and write time (self-monitoring). */
  onBatchWritten?: (rows: number, durationMs: number) => void;
  /** Default bound of shutdown() (the SDK calls it without one). */
  shutdownTimeoutMs?: number;
  spill?: SpillTarget;
  /**
   * When the queue is full, append the overflowing records to `spill` (in small batches, off the
   * emitting call) instead of dropping them; they are counted as spooled. Needs `spill`.
   */
  overflowToSpill?: boolean;
  warn?: WarningSink;
}

/** Overflowing records appended to the spill per write. */
const OVERFLOW_SPILL_BATCH = 512;

/** A batch on its way to the sink; abandoned when shutdown spooled it before the write settled. */
interface Ticket {
  lines: string[];
  abandoned: boolean;
}

export class DeliveryQueue<T> {
  private queue: T[] = [];
  private inflight = 0;
  private drainScheduled = false;
  private flushing = 0;
  private closing = false;
  private closed = false;
  private shutdownPromise: Promise<void> | undefined;
  private readonly inflightTickets = new Set<Ticket>();
  private idleWaiters: Array<() => void> = [];
  private sleepers = new Set<() => void>();
  private readonly timer: NodeJS.Timeout;
  private readonly warnings: KeyedWarnings;
  private readonly retry: RetryPolicyOptions;
  private readonly counts = { exported: 0, dropped: 0, spooled: 0, failed: 0 };
  /** Milliseconds spent encoding records on the event loop: the queue's own CPU work. */
  private encodeMs = 0;
  /** Records refused by the full queue, waiting to be appended to the spill (overflowToSpill). */
  private overflowBuffer: T[] = [];
  private overflowSpilling: Promise<void> | undefined;

  constructor(private readonly options: DeliveryOptions<T>) {
    this.retry = options.retry ?? defaultRetryPolicy;
    this.warnings = new KeyedWarnings(options.warn ?? stderrWarning);
    this.timer = setInterval(() => this.scheduleDrain(), options.flushIntervalMs);
    this.timer.unref();
  }

  /** Hot path: an array push and two comparisons. Returns false when the record was dropped. */
  enqueue(item: T): boolean {
    if (this.queue.length >= this.options.maxQueueSize || this.closed) return this.overflow(item);
    this.queue.push(item);
    if (this.queue.length >= this.options.batchSize) this.scheduleDrain();
    return true;
  }

  stats(): DeliveryStats {
    return { queued: this.queue.length, ...this.counts };
  }

  /** Milliseconds of encoding work done so far, on the thread that enqueues. */
  workMs(): number {
    return this.encodeMs;
  }

  /** Writes everything queued now and waits for it (bounded by timeoutMs). */
  async forceFlush(timeoutMs = 30_000): Promise<void> {
    this.flushing++;
    try {
      this.drain();
      await this.waitIdle(timeoutMs);
      await this.overflowSpilling;
    } finally {
      this.flushing--;
    }
  }

  /**
   * Stops accepting records, flushes within timeoutMs (retries give up early and spill), and
   * accounts for whatever is still queued at the deadline as spooled or dropped.
   */
  shutdown(timeoutMs = this.options.shutdownTimeoutMs ?? 10_000): Promise<void> {
    // A second call (e.g. the exporter's, then the SDK provider's) waits for the same flush.
    this.shutdownPromise ??= this.close(timeoutMs);
    return this.shutdownPromise;
  }

  private async close(timeoutMs: number): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    const deadline = Math.min(
      Date.now() + timeoutMs,
      this.options.shutdownDeadline?.() ?? Number.POSITIVE_INFINITY,
    );
    timeoutMs = Math.max(0, deadline - Date.now());
    this.flushing++;
    this.drain();
    await this.waitIdle(Math.max(0, deadline - Date.now() - Math.min(1000, timeoutMs / 4)));
    this.closing = true;
    for (const wake of this.sleepers) wake();
    await this.waitIdle(Math.max(0, deadline - Date.now()));
    // Writes still hanging at the deadline (e.g. a connection attempt to a server that does not
    // answer) are spooled now; if one does commit later, the replay deduplicates it.
    for (const ticket of this.inflightTickets) {
      ticket.abandoned = true;
      await this.giveUp(ticket.lines, new Error('shutdown deadline reached with the write in flight'));
    }
    const leftover = this.queue;
    this.queue = [];
    if (leftover.length > 0)
      await this.giveUp(this.encodeAll(leftover), new Error('shutdown deadline reached'));
    await this.overflowSpilling;
  }

  private scheduleDrain(): void {
    if (this.drainScheduled || this.queue.length === 0) return;
    this.drainScheduled = true;
    setImmediate(() => {
      this.drainScheduled = false;
      this.drain();
    });
  }

  private drain(): void {
    const { maxBatchSize, concurrency } = this.options;
    while (this.queue.length > 0 && this.inflight < concurrency) {
      let batch: T[];
      if (this.queue.length <= maxBatchSize) {
        batch = this.queue;
        this.queue = [];
      } else {
        batch = this.queue.splice(0, maxBatchSize);
      }
      this.inflight++;
      const ticket: Ticket = { lines: this.encodeAll(batch), abandoned: false };
      this.inflightTickets.add(ticket);
      void this.send(ticket.lines, ticket).finally(() => {
        this.inflightTickets.delete(ticket);
        this.batchDone();
      });
    }
    if (this.inflight === 0 && this.queue.length === 0) this.notifyIdle();
  }

  private batchDone(): void {
    this.inflight--;
    if (this.flushing > 0 || this.queue.length >= this.options.batchSize) this.drain();
    if (this.inflight === 0 && this.queue.length === 0) this.notifyIdle();
  }

  private encodeAll(batch: T[]): string[] {
    const started = performance.now();
    try {
      return this.encodeEach(batch);
    } finally {
      this.encodeMs += performance.now() - started;
    }
  }

  private encodeEach(batch: T[]): string[] {
    const lines: string[] = [];
    for (const item of batch) {
      try {
        lines.push(this.options.encode(item));
      } catch (error) {
        this.counts.failed++;
        this.warn(
          'encode',
          `${this.options.name}: a record could not be encoded and was skipped: ${describe(error)}`,
        );
      }
    }
    return lines;
  }

  private async send(lines: string[], ticket: Ticket): Promise<void> {
    if (lines.length === 0) return;
    let idempotent = false;
    let attempt = 0;
    const firstTry = Date.now();
    for (;;) {
      const started = performance.now();
      try {
        await this.options.sink.write(lines, { idempotent });
        if (ticket.abandoned) return; // already spooled at the shutdown deadline; replay deduplicates
        this.counts.exported += lines.length;
        this.options.onBatchWritten?.(lines.length, performance.now() - started);
        return;
      } catch (error) {
        if (sqlState(error) === UNIQUE_VIOLATION && !idempotent) {
          idempotent = true; // an earlier attempt did commit: write again, deduplicating
          continue;
        }
        if (ticket.abandoned) return;
        if (isDataError(error)) return this.isolate(lines, error, ticket);
        attempt++;
        idempotent = true; // the failed attempt may have committed before the connection broke
        if (
          this.closing ||
          Date.now() - firstTry + backoffDelayMs(this.retry, attempt, () => 0) > this.retry.maxElapsedMs
        ) {
          return this.giveUp(lines, error);
        }
        this.warn(
          'retry',
          `${this.options.name}: write to ${this.options.sink.table} failed, retrying: ${describe(error)}`,
        );
        await this.sleep(backoffDelayMs(this.retry, attempt));
      }
    }
  }

  /** Splits a batch the database rejected as malformed until the bad rows stand alone. */
  private async isolate(lines: string[], error: unknown, ticket: Ticket): Promise<void> {
    if (lines.length === 1) {
      this.counts.failed++;
      this.warn(
        'poison',
        `${this.options.name}: the database rejected a record, skipped: ${describe(error)}`,
      );
      return;
    }
    const middle = lines.length >> 1;
    await this.send(lines.slice(0, middle), ticket);
    await this.send(lines.slice(middle), ticket);
  }

  private async giveUp(lines: string[], error: unknown): Promise<void> {
    const spill = this.options.spill;
    if (spill) {
      try {
        await spill.append(this.options.sink.table, lines);
        this.counts.spooled += lines.length;
        this.warn(
          'spooled',
          `${this.options.name}: database unavailable (${describe(error)}); records spooled to disk`,
        );
        return;
      } catch (spillError) {
        this.warn('spool', `${this.options.name}: spool unavailable: ${describe(spillError)}`);
      }
    }
    this.counts.dropped += lines.length;
    this.warn(
      'drop',
      `${this.options.name}: dropped ${lines.length} records after retries: ${describe(error)}`,
    );
  }

  /** Queue full (or closed): the record goes to the spill when overflowToSpill allows, else it is dropped. */
  private overflow(item: T): boolean {
    const { spill, overflowToSpill, maxQueueSize } = this.options;
    // The records waiting for the spill are bounded like the queue (a slow disk must not grow memory).
    const waitingMax = Math.max(maxQueueSize, OVERFLOW_SPILL_BATCH);
    if (overflowToSpill && spill && !this.closed && this.overflowBuffer.length < waitingMax) {
      this.overflowBuffer.push(item);
      this.overflowSpilling ??= this.spillOverflow(spill);
      return true;
    }
    this.drop();
    return false;
  }

  /** Appends the overflow buffer to the spill until it is empty; one run at a time. */
  private async spillOverflow(spill: SpillTarget): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve)); // let a burst gather into one append
    while (this.overflowBuffer.length > 0) {
      const lines = this.encodeAll(this.overflowBuffer.splice(0, OVERFLOW_SPILL_BATCH));
      try {
        await spill.append(this.options.sink.table, lines);
        this.counts.spooled += lines.length;
        this.warn(
          'overflow',
          `${this.options.name}: queue full (max_queue_size=${this.options.maxQueueSize}), spooling new records` +
            ` to disk (${this.counts.spooled} spooled so far)`,
        );
      } catch (error) {
        this.counts.dropped += lines.length;
        this.warn(
          'spool',
          `${this.options.name}: spool unavailable, ${lines.length} records dropped: ${describe(error)}`,
        );
      }
    }
    this.overflowSpilling = undefined;
  }

  private drop(): void {
    this.counts.dropped++;
    if (this.closed) {
      this.warn(
        'closed',
        `${this.options.name}: record emitted after shutdown, dropped (${this.counts.dropped} dropped so far)`,
      );
      return;
    }
    this.warn(
      'overflow',
      `${this.options.name}: queue full (max_queue_size=${this.options.maxQueueSize}), dropping new records` +
        ` (${this.counts.dropped} dropped so far)`,
    );
  }

  /** Each kind of trouble is rate-limited on its own, so retries never hide a drop. */
  private warn(kind: string, message: string): void {
    this.warnings.warn(kind, message);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.sleepers.add(wake);
    });
  }

  private waitIdle(timeoutMs: number): Promise<void> {
    if (this.inflight === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.idleWaiters.push(done);
    });
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const waiter of waiters) waiter();
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
