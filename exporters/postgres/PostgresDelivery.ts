// Shared plumbing of the three Postgres exporters: the connection pool (borrowed or owned), a
// DeliveryQueue per table, the secrets-and-limits policy applied before encoding, and the options that map onto
// pipetel's config keys. Warnings never carry the database password.

import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import { DeliveryQueue } from '../delivery/DeliveryQueue.js';
import type { Journal } from '../delivery/Journal.js';
import { stderrWarning } from '../delivery/RateLimitedWarning.js';
import type { RetryPolicyOptions } from '../delivery/RetryPolicy.js';
import type { DeliveryStats, SpillTarget, WarningSink } from '../delivery/types.js';
import type { SanitizeCounters } from '../policy/Sanitizer.js';
import { TelemetryPolicy } from '../policy/TelemetryPolicy.js';
import { passwordsOf, scrubPasswords } from './connectionSecrets.js';
import type { PgPool } from './pgTypes.js';
import { answerTimeoutFor, closePool, createPool, sharedPool, watchesAnswers } from './pool.js';
import { PostgresTableWriter, type TableSpec } from './TableWriter.js';

export interface PostgresExporterOptions {
  /** A pool to share (a `pg.Pool`); the exporter then never closes it. */
  pool?: PgPool;
  /** Used to open a pool of its own when no `pool` is given. */
  connectionString?: string;
  /** Stored on every row; default: the resource attribute `pipetel.experiment_id`, else `service.instance.id`. */
  experimentId?: string;
  /** logging.database.batch_size (default 100) */
  batchSize?: number;
  /** logging.database.flush_interval in ms (default 5000) */
  flushIntervalMs?: number;
  /** monitoring.database.max_batch_size (default 1000) */
  maxBatchSize?: number;
  /** logging.database.max_queue_size (default 10000) */
  maxQueueSize?: number;
  /** Batches written at once (default 2). */
  concurrency?: number;
  /** monitoring.database.connection_pool_size, for an owned pool (default 10) */
  poolSize?: number;
  /** monitoring.database.connection_timeout in ms, for an owned pool (default 30000) */
  connectionTimeoutMs?: number;
  /**
   * monitoring.database.batch_timeout in ms (default 10000): an owned pool's statement_timeout, and
   * for any pool how long a statement of a write may go unanswered (plus a second's grace, so that
   * a live server's own cancellation comes first) before its connection is dropped and the batch
   * retried or spooled — a server or network gone silent ends no statement by itself.
   */
  statementTimeoutMs?: number;
  /** monitoring.database.use_prepared_statements (default true) */
  usePreparedStatements?: boolean;
  retry?: RetryPolicyOptions;
  /** An absolute time (ms since epoch) shutdown must be done by (register() sets it from shutdown.timeout). */
  shutdownDeadline?: () => number | undefined;
  /**
   * Batches are written once this settles (fulfilled or rejected): e.g. the schema being migrated
   * by the caller. Until then they wait in memory (a full queue spills as usual), so the first
   * records of a slow start are not sent to a table that does not exist yet — which would spool
   * them and warn of an outage that is none. Default: write at once.
   */
  writesAfter?: PromiseLike<unknown>;
  /**
   * Called instead of this exporter's own warning when the server refuses the connection's role,
   * password or database: for a caller reporting it once (register(): setup's message).
   */
  onRefused?: (error: unknown) => void;
  /** Called after each committed batch with its row count and write time (self-monitoring). */
  onBatchWritten?: (rows: number, durationMs: number) => void;
  /** How long shutdown() may spend flushing when the SDK calls it without a bound (default 10000). */
  shutdownTimeoutMs?: number;
  spill?: SpillTarget;
  /** With a spill target: records a full queue refuses go to the spill instead of being dropped. */
  overflowToSpill?: boolean;
  /** spool.mode: always — every record is journaled here (within journalFlushMs) before it is written. */
  journal?: Journal;
  /** spool.flush_ms (default 100). */
  journalFlushMs?: number;
  /**
   * Encode each record on the turn after export() instead of when its batch is written: for
   * callers that hand over large batches and drop them (the gateway), so queued records are held
   * as one line each rather than as object graphs the garbage collector copies. Default false.
   */
  encodeAhead?: boolean;
  warn?: WarningSink;
  /**
   * Secrets and limits (see TelemetryPolicy), applied to each record before it is encoded; default
   * a policy with `redactKeys`. 'upstream': records arrive through a front door that already
   * applied one (PolicySpanProcessor & co.; pipetel's register()), so the encoders only escape.
   */
  policy?: TelemetryPolicy | 'upstream';
  /**
   * For the default policy: attribute keys whose values are stored as '[REDACTED]', at any depth
   * (redaction.keys; the rule is SecretKeyMatcher's). Default DEFAULT_SECRET_KEYS; [] redacts nothing.
   */
  redactKeys?: readonly string[];
}

/**
 * A new connection that takes longer than this counts as the database not answering (SPEC §5:
 * timed-out connections reach the spool within flush_interval + 1 s). Connecting to a healthy
 * server, TLS and SCRAM included, takes milliseconds to a few hundred.
 */
const CONNECT_STALL_MS = 1000;
/** monitoring.database.batch_timeout's default, in ms. */
const DEFAULT_STATEMENT_TIMEOUT_MS = 10_000;

/** @internal */
export interface DeliveryHandle<T> {
  queue: DeliveryQueue<T>;
  /** The policy this exporter applies itself (undefined: applied upstream). */
  policy: TelemetryPolicy | undefined;
  close(timeoutMs?: number): Promise<void>;
}

/** @internal */
export function openDelivery<T>(
  name: string,
  table: TableSpec,
  encoder: (policy: TelemetryPolicy | undefined) => (item: T) => string,
  options: PostgresExporterOptions,
): DeliveryHandle<T> {
  const policy = resolvePolicy(options);
  const ownsPool = !options.pool;
  const pool = options.pool ? sharedPool(options.pool) : createPool(ownPoolSettings(options));
  const sink = new PostgresTableWriter(pool, table, {
    usePreparedStatements: options.usePreparedStatements ?? true,
    connectStallMs: CONNECT_STALL_MS,
    // pipetel's own pools watch every query themselves (see createPool).
    answerTimeoutMs: watchesAnswers(pool)
      ? undefined
      : answerTimeoutFor(options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS),
  });
  const queue = new DeliveryQueue<T>({
    name,
    sink,
    encode: encoder(policy),
    batchSize: options.batchSize ?? 100,
    flushIntervalMs: options.flushIntervalMs ?? 5000,
    maxBatchSize: options.maxBatchSize ?? 1000,
    maxQueueSize: options.maxQueueSize ?? 10_000,
    concurrency: options.concurrency ?? 2,
    retry: options.retry,
    shutdownTimeoutMs: options.shutdownTimeoutMs,
    onBatchWritten: options.onBatchWritten,
    shutdownDeadline: options.shutdownDeadline,
    spill: options.spill,
    overflowToSpill: options.overflowToSpill,
    journal: options.journal,
    journalFlushMs: options.journalFlushMs,
    encodeAhead: options.encodeAhead,
    writesAfter: options.writesAfter,
    onRefused: options.onRefused,
    warn: withoutPasswords(
      options.warn ?? stderrWarning,
      passwordsOf([options.connectionString, pool.options?.connectionString], pool.options?.password),
    ),
  });
  return {
    queue,
    policy,
    async close(timeoutMs) {
      await queue.shutdown(timeoutMs);
      // pg's end() waits for connection attempts still under way (a server that never answers):
      // closePool ends them at its deadline, so no socket of this exporter outlives it.
      if (ownsPool) await closePool(pool, 1000);
    },
  };
}

/**
 * The policy an exporter applies itself: the one given, a default one, or none when applied upstream.
 * @internal
 */
export function resolvePolicy(options: PostgresExporterOptions): TelemetryPolicy | undefined {
  if (options.policy === 'upstream') return undefined;
  return options.policy ?? new TelemetryPolicy({ redactKeys: options.redactKeys });
}

function ownPoolSettings(options: PostgresExporterOptions) {
  const connectionString = options.connectionString;
  if (!connectionString) throw new Error('pipetel exporter: pass `pool` or `connectionString`');
  return {
    connectionString,
    maxConnections: options.poolSize,
    connectionTimeoutMs: options.connectionTimeoutMs,
    statementTimeoutMs: options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS,
  };
}

/**
 * The driver's messages do not quote the password today (checked for refused connections, failed
 * authentication, unknown hosts and malformed URLs), but a warning must never depend on that.
 */
function withoutPasswords(warn: WarningSink, passwords: string[]): WarningSink {
  if (passwords.length === 0) return warn;
  return (message) => warn(scrubPasswords(message, passwords));
}

/**
 * Base of the exporters: accepts a batch into the delivery queue and reports success at once, so
 * an SDK batch processor hands over its next batch while this one is being written (the SDK runs
 * one export at a time; without this, encoding and COPY could never overlap).
 */
export abstract class QueueingExporter<T> {
  /** @internal */
  protected abstract readonly delivery: DeliveryHandle<T>;

  /** Enqueues one record; false when the queue was full (the drop is counted). */
  accept(item: T): boolean {
    return this.delivery.queue.enqueue(item);
  }

  export(items: T[], resultCallback: (result: ExportResult) => void): void {
    let refused = 0;
    for (const item of items) if (!this.delivery.queue.enqueue(item)) refused++;
    resultCallback(
      refused === 0
        ? { code: ExportResultCode.SUCCESS }
        : {
            code: ExportResultCode.FAILED,
            error: new Error(`pipetel: queue full, ${refused} records dropped`),
          },
    );
  }

  stats(): DeliveryStats {
    return this.delivery.queue.stats();
  }

  /**
   * The server refuses this connection's role, password or database, as the caller found and
   * reported (register()'s setup): records go to the spool from now on, without a warning of this
   * exporter's own and without dialing the server again.
   */
  refuse(error: unknown): void {
    this.delivery.queue.refuse(error);
  }

  /** After refuse(): the caller reached the database again (e.g. a dropped database was recreated). */
  resume(): void {
    this.delivery.queue.resume();
  }

  /**
   * process 'exit' before shutdown(): what the queue holds goes to the spool synchronously, to be
   * replayed by the next run or `pipetel sync` (DeliveryQueue.spillAtExit).
   */
  spillAtExit(): { spooled: number; lost: number } {
    return this.delivery.queue.spillAtExit();
  }

  /** False while the database is known to be unreachable (batches are being spooled). */
  sinkAvailable(): boolean {
    return this.delivery.queue.sinkAvailable;
  }

  /**
   * Changes when batches are written, while running: `batchSize` records queued, or every
   * `flushIntervalMs` (what `tel.config.set('logging.database.batch_size', 500)` reaches).
   */
  setBatching(batchSize: number, flushIntervalMs: number): void {
    this.delivery.queue.setBatching(batchSize, flushIntervalMs);
  }

  /** Milliseconds spent encoding this exporter's rows, on the thread that emits them. */
  workMs(): number {
    return this.delivery.queue.workMs();
  }

  /** Values sanitized (bad input) and redacted (secret keys) by this exporter's own policy (zeros when applied upstream). */
  encodingStats(): SanitizeCounters {
    return { ...(this.delivery.policy?.counters ?? { sanitized: 0, redacted: 0 }) };
  }

  forceFlush(timeoutMs?: number): Promise<void> {
    return this.delivery.queue.forceFlush(timeoutMs);
  }

  shutdown(timeoutMs?: number): Promise<void> {
    return this.delivery.close(timeoutMs);
  }
}
