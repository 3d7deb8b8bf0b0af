// The shared delivery path of every signal: a bounded in-memory queue that the pipeline enqueues
// into without waiting, a batcher (batch_size / flush_interval / max_batch_size), several writes in
// flight at once so encoding the next batch overlaps the database's work on the previous one, retry
// with backoff and jitter, isolation of poisoned rows, and a spill target for what cannot be written.
// Every record is in exactly one of queued / exported / spooled / dropped / failed at every moment.

import { callWithTimeout } from '@opentelemetry/core';
import { writeBisecting } from './bisect.js';
import type { Journal } from './Journal.js';
import { KeyedWarnings, stderrWarning } from './RateLimitedWarning.js';
import {
  backoffDelayMs,
  defaultRetryPolicy,
  isConfigurationError,
  isDataError,
  isUnavailable,
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
  /** Default bound of shutdown() and forceFlush() (the SDK calls them without one). Default 10000. */
  shutdownTimeoutMs?: number;
  spill?: SpillTarget;
  /**
   * When the queue is full, encode the overflowing records at once and append them to `spill` (in
   * small batches, off the emitting call) instead of dropping them; they are counted as queued
   * until appended, then as spooled. Needs `spill`.
   */
  overflowToSpill?: boolean;
  /** Encoded overflow (UTF-16 code units) held while it waits for the spill; beyond it, records are dropped. Default 32 Mi. */
  maxOverflowChars?: number;
  /**
   * spool.mode: always — every queued record is encoded within `journalFlushMs` (instead of when
   * its batch is taken) and appended to this journal, so a killed process loses at most that much;
   * the journal is told as records settle, so it can delete what the database has.
   */
  journal?: Journal;
  /** How often queued records are journaled (spool.flush_ms). Default 100. */
  journalFlushMs?: number;
  /**
   * Encode records on the next turn of the event loop after they are queued, not when their batch
   * is taken: what waits in the queue is then one line per record instead of the record's objects.
   * For producers that hand over many records at once and keep nothing of them (the gateway):
   * their records die young instead of being copied by every GC while the writers are busy.
   */
  encodeAhead?: boolean;
  /**
   * No batch is taken before this settles (fulfilled or rejected): records wait in the queue,
   * and shutdown spools them if it comes first. For a sink whose tables are still being made.
   */
  writesAfter?: PromiseLike<unknown>;
  /**
   * Called, instead of this queue's own warning, when the server refuses the connection's
   * configuration (isConfigurationError): for a caller that reports it once for all its queues.
   */
  onRefused?: (error: unknown) => void;
  warn?: WarningSink;
}

/** Records encoded ahead (and journaled) per turn of the event loop (spool.mode: always, encodeAhead). */
const ENCODE_SLICE = 2000;
/** Overflowing records appended to the spill per write. */
const OVERFLOW_SPILL_BATCH = 512;
const DEFAULT_MAX_OVERFLOW_CHARS = 32 * 1024 * 1024;
/**
 * How long a batch keeps retrying when the database is unreachable or the schema is missing,
 * before it goes to the spill: SPEC §5 wants such records on disk within flush_interval + 1 s.
 */
const OUTAGE_GIVE_UP_MS = 750;
/**
 * At shutdown, writes that settle nothing for this long (a server that accepts and never answers)
 * are given up: what they hold is spooled rather than waited for until shutdown.timeout.
 */
const SHUTDOWN_STALL_MS = 750;

/**
 * Makes V8 store a string built by concatenation (a rope: one node per `+`) as one sequential
 * string, in place; ToNumber does that first (the trick pino's `flatstr` used). A line that waits in the queue is then one object
 * for the garbage collector to copy instead of some thirty: measured on the gateway, scavenges
 * 630 → 205 ms and 8–10 % more rows/s.
 */
function flatten(line: string): void {
  _flattened = Number(line); // kept, so an optimizing compiler cannot drop the call
}
let _flattened = 0;

/** A record already encoded (and journaled) while it waited in the queue (spool.mode: always, encodeAhead). */
class Encoded {
  constructor(readonly line: string | undefined) {}
}

/** A batch on its way to the sink. Its lines settle in order, so `settled` is a prefix of them. */
interface Ticket {
  lines: string[];
  /** Sequence number of its first record (journal bookkeeping). */
  firstSeq: number;
  settled: number;
  /** Spooled by shutdown while its write was still hanging; whatever that write does later is ignored. */
  abandoned: boolean;
  phase: 'writing' | 'waiting' | 'spilling';
  writeStartedAt: number;
}

type Outcome = 'exported' | 'spooled' | 'dropped' | 'failed';

/** The database is known to be unreachable: batches go to the spill, one probe write at a time. */
interface Outage {
  error: unknown;
  probes: number;
  nextProbeAt: number;
  probing: boolean;
  /**
   * The server refused the connection's role, password or database (isConfigurationError): no
   * probes, every batch goes to the spill (or is counted as dropped) for the queue's life.
   */
  refused: boolean;
}

/**
 * The queue length that starts a write. A batch_size the queue cannot reach (max_queue_size below
 * it) would leave writes to the timer while new records are refused: half the queue starts one.
 */
function writeTrigger(batchSize: number, maxQueueSize: number): number {
  return batchSize < maxQueueSize ? batchSize : Math.max(1, Math.floor(maxQueueSize / 2));
}

export class DeliveryQueue<T> {
  private queue: Array<T | Encoded> = [];
  /** Sequence number of queue[0] (records are numbered as they enter the queue). */
  private headSeq = 0;
  /** Records before this sequence number are encoded and journaled (spool.mode: always). */
  /** Records before this sequence number are encoded (and journaled, with a journal). */
  private encodedSeq = 0;
  private readonly encodeAhead: boolean;
  private readonly journalTimer: NodeJS.Timeout | undefined;
  private encodeSliceScheduled = false;
  /** Records taken out of the queue (being encoded, written, retried or spilled) and not yet settled. */
  private pending = 0;
  private inflight = 0;
  private drainScheduled = false;
  private flushing = 0;
  private closed = false;
  /** Past the flush phase of shutdown: no more write attempts, everything goes to the spill. */
  private closing = false;
  /** shutdown() is done: flushes still waiting (on abandoned writes) return now. */
  private shutDown = false;
  private shutdownPromise: Promise<void> | undefined;
  private readonly tickets = new Set<Ticket>();
  private outage: Outage | undefined;
  /** When a record last settled or a write last started: how shutdown tells slow from hanging. */
  private lastActivityAt = Date.now();
  /** `writesAfter` has not settled yet: batches wait. */
  private gated = false;
  /** Woken whenever a record settles or the queue goes idle. */
  private changeWaiters: Array<() => void> = [];
  private sleepers = new Set<() => void>();
  private timer: NodeJS.Timeout;
  /** Queued records that start a write: batch_size, but never more than the queue can hold. */
  private batchSize: number;
  private flushIntervalMs: number;
  private readonly warnings: KeyedWarnings;
  private readonly retry: RetryPolicyOptions;
  private readonly defaultTimeoutMs: number;
  private readonly counts = { exported: 0, dropped: 0, spooled: 0, failed: 0 };
  /** Milliseconds spent encoding records on the event loop: the queue's own CPU work. */
  private encodeMs = 0;
  /** Encoded records refused by the full queue, waiting to be appended to the spill (overflowToSpill). */
  private overflowLines: string[] = [];
  private overflowChars = 0;
  private readonly maxOverflowChars: number;
  private overflowSpilling: Promise<void> | undefined;
  /** Batches whose spill append has not finished (see spillAtExit). */
  private readonly spilling = new Set<string[]>();

  constructor(private readonly options: DeliveryOptions<T>) {
    this.retry = options.retry ?? defaultRetryPolicy;
    this.defaultTimeoutMs = options.shutdownTimeoutMs ?? 10_000;
    this.maxOverflowChars = options.maxOverflowChars ?? DEFAULT_MAX_OVERFLOW_CHARS;
    this.warnings = new KeyedWarnings(options.warn ?? stderrWarning);
    this.batchSize = writeTrigger(options.batchSize, options.maxQueueSize);
    this.flushIntervalMs = options.flushIntervalMs;
    // A journal encodes ahead on its own timer (spool.flush_ms).
    this.encodeAhead = options.encodeAhead === true && !options.journal;
    this.timer = setInterval(() => this.scheduleDrain(), options.flushIntervalMs);
    this.timer.unref();
    if (options.writesAfter) {
      this.gated = true;
      const open = () => {
        this.gated = false;
        this.lastActivityAt = Date.now(); // shutdown's stall clock starts with the first writes
        this.scheduleDrain();
      };
      Promise.resolve(options.writesAfter).then(open, open);
    }
    if (options.journal) {
      this.journalTimer = setInterval(() => this.encodeQueued(), options.journalFlushMs ?? 100);
      this.journalTimer.unref();
    }
  }

  /** Hot path: an array push and two comparisons. Returns false when the record was dropped. */
  enqueue(item: T): boolean {
    if (this.queue.length >= this.options.maxQueueSize || this.closed) return this.overflow(item);
    this.queue.push(item);
    if (this.queue.length >= this.batchSize) this.scheduleDrain();
    if (this.encodeAhead && !this.encodeSliceScheduled) this.scheduleEncodeSlice();
    return true;
  }

  /** New batching while running: a write starts at `batchSize` queued records or every `flushIntervalMs`. */
  setBatching(batchSize: number, flushIntervalMs: number): void {
    this.batchSize = writeTrigger(batchSize, this.options.maxQueueSize);
    if (this.closed) return;
    // A new timer only for a new interval: restarting it would let queued records wait up to twice
    // the interval.
    if (flushIntervalMs !== this.flushIntervalMs) {
      this.flushIntervalMs = flushIntervalMs;
      clearInterval(this.timer);
      this.timer = setInterval(() => this.scheduleDrain(), flushIntervalMs);
      this.timer.unref();
    }
    if (this.queue.length >= this.batchSize) this.scheduleDrain();
  }

  /** `queued` counts what is in memory: waiting, being written or retried, or on its way to the spill. */
  stats(): DeliveryStats {
    return { queued: this.queue.length + this.overflowLines.length + this.pending, ...this.counts };
  }

  /** False while the sink is known to be unreachable (batches are being spooled instead). */
  get sinkAvailable(): boolean {
    return this.outage === undefined;
  }

  /**
   * The caller found that the server refuses this connection's configuration (role, password,
   * database: isConfigurationError) and has told the user: from now on batches go to the spill
   * (or are dropped without one), neither tried nor probed, and this queue says nothing more of it.
   */
  refuse(error: unknown): void {
    if (this.outage?.refused) return;
    this.outage = { error, probes: 0, nextProbeAt: Number.POSITIVE_INFINITY, probing: false, refused: true };
  }

  /** The refusal passed (the caller reached the database again): batches are written again. */
  resume(): void {
    if (!this.outage?.refused) return;
    this.outage = undefined;
    this.scheduleDrain();
  }

  /** Milliseconds of encoding work done so far, on the thread that enqueues. */
  workMs(): number {
    return this.encodeMs;
  }

  /**
   * process 'exit' came before shutdown() finished (process.exit() from anywhere, also while a
   * shutdown() nobody awaited runs): nothing asynchronous runs any more, so what this queue still
   * holds — queued, in a write or a retry, on its way to the spill, journaled or not — is appended
   * to the spill synchronously (its appendAtExit). A write in flight may yet have committed, and a
   * journal may hold some of it: the replay deduplicates. Without such a spill the records are
   * counted as dropped. Returns what was spooled and what was lost.
   */
  spillAtExit(): { spooled: number; lost: number } {
    if (this.shutDown) return { spooled: 0, lost: 0 };
    const lines: string[] = [];
    for (const ticket of this.tickets) {
      if (ticket.abandoned) continue; // its lines are in `spilling`
      for (let i = ticket.settled; i < ticket.lines.length; i++) lines.push(ticket.lines[i]!);
    }
    for (const pending of this.spilling) for (const line of pending) lines.push(line);
    for (const line of this.encodeEach(this.queue)) lines.push(line);
    for (const line of this.overflowLines) lines.push(line);
    this.queue = [];
    this.overflowLines = [];
    this.shutDown = true;
    // A record made after this (another 'exit' listener that logs) is counted as dropped.
    this.closed = true;
    if (lines.length === 0) return { spooled: 0, lost: 0 };
    const spill = this.options.spill;
    try {
      if (!spill?.appendAtExit) throw new Error('no spool to write them to (spool.enabled: false)');
      spill.appendAtExit(this.options.sink.table, lines);
      this.counts.spooled += lines.length;
      return { spooled: lines.length, lost: 0 };
    } catch (error) {
      this.counts.dropped += lines.length;
      this.options.warn?.(`${this.options.name}: ${lines.length} records lost at exit: ${describe(error)}`);
      return { spooled: 0, lost: lines.length };
    }
  }

  /** Writes (or spools) everything queued now and waits for it, at most timeoutMs. */
  async forceFlush(timeoutMs = this.defaultTimeoutMs): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    this.flushing++;
    try {
      this.drain();
      if (this.options.shutdownDeadline?.() !== undefined) {
        // The flush that precedes shutdown (the SDK's readers and processors do one): a write that
        // hangs is left to shutdown, which spools it, rather than waited for until the deadline.
        await this.flushWhileProgressing(deadline);
      } else {
        while (!this.isIdle() && !this.shutDown && Date.now() < deadline)
          await this.nextChange(deadline - Date.now());
      }
      await this.untilDeadline(this.overflowSpilling, deadline);
    } finally {
      this.flushing--;
    }
  }

  /**
   * Stops accepting records, flushes while the sink makes progress (at most until shortly before
   * the deadline), then spools whatever is left — queued, retrying, or stuck in a write that does
   * not answer — and accounts for every record.
   */
  shutdown(timeoutMs = this.defaultTimeoutMs): Promise<void> {
    // A second call (e.g. the exporter's, then the SDK provider's) waits for the same one. (Not
    // BindOnceFuture: its callback type takes unknown[] arguments, and this one takes a timeout.)
    this.shutdownPromise ??= this.close(timeoutMs);
    return this.shutdownPromise;
  }

  private async close(timeoutMs: number): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    if (this.journalTimer) clearInterval(this.journalTimer);
    const deadline = Math.min(
      Date.now() + timeoutMs,
      this.options.shutdownDeadline?.() ?? Number.POSITIVE_INFINITY,
    );
    // Keep a share of the budget for spooling what the flush leaves.
    const flushUntil = deadline - Math.min(1000, Math.max(0, deadline - Date.now()) / 4);
    this.flushing++;
    // Retries waiting out a backoff try now: a database that answers takes them, one that is
    // unreachable sends them to the spool without more waiting (see deliver()).
    for (const wake of this.sleepers) wake();
    this.drain();
    await this.flushWhileProgressing(flushUntil);
    this.closing = true;
    for (const wake of this.sleepers) wake();
    this.drain(); // with `closing` set, batches go straight to the spill
    // Batches that were sleeping between retries now spill; give them a moment.
    await this.waitUntil(() => this.noRetryWaiting(), Math.min(250, deadline - Date.now()));
    // Writes still hanging (e.g. a connection attempt to a server that does not answer) are spooled
    // now; if one does commit later, the replay deduplicates it.
    const spills: Promise<void>[] = [];
    for (const ticket of this.tickets) {
      if (ticket.phase === 'spilling') continue;
      // A write that hung past the stall means the database does not answer: say so (sinkAvailable).
      // One merely still running when time ran out (a big backlog) says nothing of the sort.
      if (ticket.phase === 'writing' && Date.now() - ticket.writeStartedAt >= SHUTDOWN_STALL_MS)
        this.startOutage(new Error('writes in flight did not complete'));
      ticket.abandoned = true;
      const unsettled = ticket.lines.slice(ticket.settled);
      ticket.settled = ticket.lines.length;
      spills.push(
        this.giveUp(undefined, unsettled, new Error('shutdown deadline reached with the write in flight')),
      );
    }
    // What the hanging writes kept from being drained.
    const leftover = this.queue;
    this.queue = [];
    this.headSeq += leftover.length;
    this.pending += leftover.length;
    spills.push(this.giveUp(undefined, this.encodeAll(leftover), new Error('shutdown deadline reached')));
    await Promise.all(spills);
    await this.untilDeadline(this.overflowSpilling, deadline);
    await this.waitUntil(() => this.isIdleExceptAbandoned(), Math.max(0, deadline - Date.now()));
    this.shutDown = true;
    this.notifyChange();
    this.warnings.flush();
  }

  /**
   * Waits for the queue to empty while writes keep settling; returns at `until`, or once nothing
   * has settled and no write has started for SHUTDOWN_STALL_MS (writes that hang).
   */
  private async flushWhileProgressing(until: number): Promise<void> {
    while (!this.isIdle()) {
      const now = Date.now();
      const stallAt = this.lastActivityAt + SHUTDOWN_STALL_MS;
      if (now >= until || now >= stallAt) return;
      if (this.outage && this.allStuckOrIdle()) return; // only a probe left, and it hangs
      await this.nextChange(Math.min(until, stallAt) - now);
    }
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
    // Held back until the sink is ready, except that shutdown's spooling takes what waits.
    if (this.gated && !this.closing) return;
    const { maxBatchSize, concurrency } = this.options;
    while (this.queue.length > 0 && this.inflight < concurrency) {
      let batch: Array<T | Encoded>;
      if (this.queue.length <= maxBatchSize) {
        batch = this.queue;
        this.queue = [];
      } else {
        batch = this.queue.splice(0, maxBatchSize);
      }
      const firstSeq = this.headSeq;
      this.headSeq += batch.length;
      this.inflight++;
      this.pending += batch.length;
      const ticket: Ticket = {
        lines: this.encodeAll(batch, firstSeq),
        firstSeq,
        settled: 0,
        abandoned: false,
        phase: 'waiting',
        writeStartedAt: 0,
      };
      this.tickets.add(ticket);
      void this.send(ticket, ticket.lines).finally(() => {
        this.tickets.delete(ticket);
        this.batchDone();
      });
    }
    if (this.isIdle()) this.notifyChange();
  }

  private batchDone(): void {
    this.inflight--;
    this.releaseJournal();
    if (this.flushing > 0 || this.queue.length >= this.batchSize) this.drain();
    this.notifyChange();
  }

  private isIdle(): boolean {
    return this.inflight === 0 && this.queue.length === 0;
  }

  /** Nothing left but writes that hang (no ticket is waiting to retry or spilling). */
  private allStuckOrIdle(): boolean {
    for (const ticket of this.tickets) if (ticket.phase !== 'writing' && !ticket.abandoned) return false;
    return this.queue.length === 0;
  }

  private noRetryWaiting(): boolean {
    for (const ticket of this.tickets) if (ticket.phase === 'waiting' && !ticket.abandoned) return false;
    return true;
  }

  private isIdleExceptAbandoned(): boolean {
    for (const ticket of this.tickets) if (!ticket.abandoned) return false;
    return this.queue.length === 0;
  }

  /**
   * The batch's lines. With a journal, the records not journaled yet (from `firstSeq` on, those
   * the queue's timer has not reached) are journaled here, before any write is attempted.
   */
  private encodeAll(batch: Array<T | Encoded>, firstSeq?: number): string[] {
    const started = performance.now();
    try {
      const lines = this.encodeEach(batch);
      const journal = this.options.journal;
      if (firstSeq !== undefined && firstSeq + batch.length > this.encodedSeq) {
        if (journal) {
          const fresh: string[] = [];
          for (let i = Math.max(0, this.encodedSeq - firstSeq); i < batch.length; i++) {
            const item = batch[i];
            if (!(item instanceof Encoded)) continue; // encodeEach marked every item it encoded
            if (item.line !== undefined) fresh.push(item.line);
          }
          journal.append(this.options.sink.table, fresh, firstSeq + batch.length);
        }
        this.encodedSeq = firstSeq + batch.length;
      }
      return lines;
    } finally {
      this.encodeMs += performance.now() - started;
    }
  }

  /** Records that cannot be encoded are settled as failed here (they were counted as pending). */
  private encodeEach(batch: Array<T | Encoded>): string[] {
    const lines: string[] = [];
    const keep = this.options.journal !== undefined;
    for (let i = 0; i < batch.length; i++) {
      const item = batch[i]!;
      let line: string | undefined;
      if (item instanceof Encoded) line = item.line;
      else {
        line = this.encodeOne(item);
        if (keep) batch[i] = new Encoded(line);
      }
      if (line === undefined) this.settle('failed', 1);
      else lines.push(line);
    }
    return lines;
  }

  private scheduleEncodeSlice(): void {
    this.encodeSliceScheduled = true;
    setImmediate(() => {
      this.encodeSliceScheduled = false;
      this.encodeQueued();
    });
  }

  /**
   * Encodes the records that entered the queue since the last call (spool.mode: always, on the
   * journal's timer; encodeAhead, on the next turn) and journals them; their batches later write
   * these same lines (same row ids: a replay of the journal after a crash finds what the database
   * has and skips it).
   */
  private encodeQueued(): void {
    const journal = this.options.journal;
    const from = Math.max(0, this.encodedSeq - this.headSeq);
    if (from >= this.queue.length) return;
    // In slices, the event loop free in between: a backlog encoded in one go would hold back the
    // batches whose writes complete meanwhile (the database would wait on us).
    const end = Math.min(this.queue.length, from + ENCODE_SLICE);
    const started = performance.now();
    const lines: string[] = [];
    for (let i = from; i < end; i++) {
      const item = this.queue[i]!;
      const line = item instanceof Encoded ? item.line : this.encodeOne(item);
      if (line !== undefined) flatten(line);
      if (!(item instanceof Encoded)) this.queue[i] = new Encoded(line);
      if (journal && line !== undefined) lines.push(line);
    }
    this.encodedSeq = this.headSeq + end;
    journal?.append(this.options.sink.table, lines, this.encodedSeq);
    this.encodeMs += performance.now() - started;
    if (end < this.queue.length && !this.encodeSliceScheduled) this.scheduleEncodeSlice();
  }

  /** Tells the journal up to which record everything has settled: the oldest batch still out, else the queue's head. */
  private releaseJournal(): void {
    const journal = this.options.journal;
    if (!journal) return;
    let watermark = this.headSeq;
    for (const ticket of this.tickets) if (ticket.firstSeq < watermark) watermark = ticket.firstSeq;
    journal.release(this.options.sink.table, Math.min(watermark, this.encodedSeq));
  }

  private encodeOne(item: T): string | undefined {
    try {
      return this.options.encode(item);
    } catch (error) {
      this.warn(
        'encode',
        `${this.options.name}: a record could not be encoded and was skipped: ${describe(error)}`,
      );
      return undefined;
    }
  }

  private settle(outcome: Outcome, records: number, ticket?: Ticket): void {
    if (records === 0) return;
    if (ticket) {
      if (ticket.abandoned) return; // shutdown already settled its lines
      ticket.settled += records;
    }
    this.counts[outcome] += records;
    this.pending -= records;
    this.lastActivityAt = Date.now();
    this.notifyChange();
  }

  /** Whether this batch may try the sink: not during shutdown's spooling, and only as the probe of an outage. */
  private mayAttempt(): boolean {
    if (this.closing) return false;
    const outage = this.outage;
    if (!outage) return true;
    if (outage.refused || outage.probing || Date.now() < outage.nextProbeAt) return false;
    outage.probing = true;
    return true;
  }

  /**
   * Writes a ticket's lines; a batch the database rejects as malformed is split until the bad rows
   * stand alone (writeBisecting), and every half goes through deliver() again: the outage gate,
   * retries and spooling apply to it as to a whole batch.
   */
  private send(ticket: Ticket, lines: string[]): Promise<void> {
    return writeBisecting(lines, {
      write: (batch) => this.deliver(ticket, batch),
      isRowError: isDataError,
      onRejected: (_line, error) => this.reject(ticket, error),
    });
  }

  /**
   * One batch to the sink, retried on trouble and spooled (or dropped) when retries run out; only a
   * data error is thrown, for send() to split the batch.
   */
  private async deliver(ticket: Ticket, lines: string[]): Promise<void> {
    if (lines.length === 0 || ticket.abandoned) return;
    if (!this.mayAttempt()) {
      return this.giveUp(ticket, lines, this.outage?.error ?? new Error('shutting down'));
    }
    const probe = this.outage !== undefined;
    let idempotent = probe; // a probe may follow an attempt that committed before the connection broke
    let attempt = 0;
    const firstTry = Date.now();
    let lastError: unknown;
    for (;;) {
      if (this.closing && lastError !== undefined) return this.giveUp(ticket, lines, lastError);
      const started = performance.now();
      ticket.phase = 'writing';
      ticket.writeStartedAt = Date.now();
      this.lastActivityAt = ticket.writeStartedAt;
      try {
        await this.options.sink.write(lines, { idempotent });
        if (ticket.abandoned) return; // already spooled at the shutdown deadline; replay deduplicates
        this.endOutage();
        this.settle('exported', lines.length, ticket);
        this.options.onBatchWritten?.(lines.length, performance.now() - started);
        return;
      } catch (error) {
        if (ticket.abandoned) return;
        if (sqlState(error) === UNIQUE_VIOLATION && !idempotent) {
          idempotent = true; // an earlier attempt did commit: write again, deduplicating
          continue;
        }
        if (isDataError(error)) {
          if (probe) this.endOutage(); // the database answered
          throw error; // send() splits the batch
        }
        if (isConfigurationError(error)) {
          this.startOutage(error); // not retried, nor probed: the same login fails the same way
          return this.giveUp(ticket, lines, error);
        }
        attempt++;
        lastError = error;
        idempotent = true; // the failed attempt may have committed before the connection broke
        const outage = this.options.spill !== undefined && isUnavailable(error);
        const budgetMs = outage ? OUTAGE_GIVE_UP_MS : this.retry.maxElapsedMs;
        const delayMs = backoffDelayMs(this.retry, attempt);
        // A caller waiting on a flush or shutdown does not wait for an unreachable database either.
        const waitedOn = this.flushing > 0;
        if (probe || this.closing || (outage && waitedOn) || Date.now() - firstTry + delayMs > budgetMs) {
          if (outage || probe) this.startOutage(error); // a failed probe schedules the next one
          return this.giveUp(ticket, lines, error);
        }
        this.warn(
          'retry',
          `${this.options.name}: write to ${this.options.sink.table} failed, retrying: ${describe(error)}`,
        );
        ticket.phase = 'waiting';
        await this.sleep(delayMs);
        if (ticket.abandoned) return;
      }
    }
  }

  /**
   * The sink is down: from now on batches spill at once, and one batch at a time probes it — unless
   * the server refused the connection's configuration, which no probe can change.
   */
  private startOutage(error: unknown): void {
    const refused = isConfigurationError(error);
    const outage = this.outage;
    if (!outage) {
      const nextProbeAt = Date.now() + this.retry.initialDelayMs;
      this.outage = { error, probes: 0, nextProbeAt, probing: false, refused };
    } else {
      outage.error = error;
      outage.probing = false;
      outage.probes++;
      outage.nextProbeAt = Date.now() + backoffDelayMs(this.retry, outage.probes);
      if (!refused || outage.refused) return; // said when it started
      outage.refused = true;
    }
    if (!refused) {
      this.warn(
        'outage',
        `${this.options.name}: ${this.options.sink.table} unreachable (${describe(error)}); spooling records to disk until it answers`,
      );
      return;
    }
    if (this.options.onRefused) {
      this.options.onRefused(error);
      return;
    }
    const where = this.options.spill
      ? 'spooling records to disk (replayed once the connection string is fixed)'
      : 'records are dropped and counted';
    this.warn(
      'refused',
      `${this.options.name}: the database refused the connection (${describe(error)}): a configuration error, not retried; ${where}`,
    );
  }

  private endOutage(): void {
    if (!this.outage) return;
    this.outage = undefined;
    this.warn('recovered', `${this.options.name}: ${this.options.sink.table} reachable again`);
  }

  /** A record the database rejected on its own: it is counted as failed and skipped. */
  private reject(ticket: Ticket, error: unknown): void {
    this.settle('failed', 1, ticket);
    this.warn('poison', `${this.options.name}: the database rejected a record, skipped: ${describe(error)}`);
  }

  /** Spools the lines, or counts them as dropped when there is no spool (or it fails). */
  private async giveUp(ticket: Ticket | undefined, lines: string[], error: unknown): Promise<void> {
    if (lines.length === 0) return;
    const spill = this.options.spill;
    if (ticket) ticket.phase = 'spilling';
    // Read before the append: an outage that ends while it runs (resume()) was still said.
    const saidByOutage = this.outage !== undefined;
    let spillError: unknown;
    if (spill) {
      // On their way to the spill: a process that exits meanwhile appends them synchronously.
      this.spilling.add(lines);
      try {
        await spill.append(this.options.sink.table, lines);
        this.spilling.delete(lines);
        this.settleOrCount('spooled', lines.length, ticket);
        // During an outage its own warning has said where records go; the counts are in stats()
        // and the shutdown summary.
        if (saidByOutage || this.outage) return;
        this.warn(
          'spooled',
          `${this.options.name}: ${this.options.sink.table} unavailable (${describe(error)}); records spooled to disk` +
            ` (${this.counts.spooled} spooled so far)`,
        );
        return;
      } catch (caught) {
        this.spilling.delete(lines);
        spillError = caught;
        this.warn('spool', `${this.options.name}: spool unavailable: ${describe(caught)}`);
      }
    }
    this.settleOrCount('dropped', lines.length, ticket);
    // Both causes when the spool failed too: the database's alone would send the reader to the
    // wrong place (a full disk is what lost these records).
    const cause = spillError
      ? `the spool failed (${describe(spillError)}) after the database did (${describe(error)})`
      : describe(error);
    this.warn(
      'drop',
      `${this.options.name}: dropped ${lines.length} records${this.outage?.refused || spillError ? '' : ' after retries'}: ${cause}` +
        ` (${this.counts.dropped} dropped so far)`,
    );
  }

  /** Lines of an abandoned ticket were already taken off its count by close(). */
  private settleOrCount(outcome: Outcome, records: number, ticket: Ticket | undefined): void {
    if (ticket) this.settle(outcome, records, ticket);
    else this.settle(outcome, records);
  }

  /**
   * Queue full (or closed): with overflowToSpill the record is encoded now and goes to the spill
   * (bounded by maxOverflowChars, so a slow disk cannot grow memory without end), else it is dropped.
   */
  private overflow(item: T): boolean {
    const { spill, overflowToSpill } = this.options;
    if (!overflowToSpill || !spill || this.closed || this.overflowChars >= this.maxOverflowChars) {
      this.drop();
      return false;
    }
    const started = performance.now();
    const line = this.encodeOne(item);
    this.encodeMs += performance.now() - started;
    if (line === undefined) {
      this.counts.failed++;
      return false;
    }
    this.overflowLines.push(line);
    this.overflowChars += line.length;
    this.overflowSpilling ??= this.spillOverflow(spill);
    return true;
  }

  /** Appends the overflow to the spill until it is empty; one run at a time. */
  private async spillOverflow(spill: SpillTarget): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve)); // let a burst gather into one append
    while (this.overflowLines.length > 0) {
      const lines = this.overflowLines.splice(0, OVERFLOW_SPILL_BATCH);
      for (const line of lines) this.overflowChars -= line.length;
      this.pending += lines.length;
      this.spilling.add(lines);
      try {
        await spill.append(this.options.sink.table, lines);
        this.spilling.delete(lines);
        this.settle('spooled', lines.length);
        this.warn(
          'overflow',
          `${this.options.name}: queue full (max_queue_size=${this.options.maxQueueSize}), spooling new records` +
            ` to disk (${this.counts.spooled} spooled so far)`,
        );
      } catch (error) {
        this.spilling.delete(lines);
        this.settle('dropped', lines.length);
        this.warn(
          'spool',
          `${this.options.name}: spool unavailable, ${lines.length} records dropped: ${describe(error)}` +
            ` (${this.counts.dropped} dropped so far)`,
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

  /** A retry's wait: never keeps the process alive, and shutdown cuts it short. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      timer.unref();
      this.sleepers.add(wake);
    });
  }

  /**
   * Resolves at the next settle / idle event, or after ms. The timer keeps the process alive: it
   * only runs while a caller awaits a flush or shutdown, which are bounded, and is cleared after.
   */
  private nextChange(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(0, ms));
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.changeWaiters.push(done);
    });
  }

  private async waitUntil(condition: () => boolean, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (!condition() && Date.now() < deadline) await this.nextChange(deadline - Date.now());
  }

  private async untilDeadline(promise: Promise<void> | undefined, deadline: number): Promise<void> {
    if (!promise) return;
    await callWithTimeout(promise, Math.max(0, deadline - Date.now())).catch(() => undefined);
  }

  private notifyChange(): void {
    if (this.changeWaiters.length === 0) return;
    const waiters = this.changeWaiters;
    this.changeWaiters = [];
    for (const waiter of waiters) waiter();
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
