// The run's row in pipeline_experiments from register() to shutdown: migrations and the `running`
// row at setup — retried in the background while the database is down, with the row spooled
// meanwhile — and the final row at the end, an upsert, spooled when the database cannot take it.
// So a run started or ended with the database down still appears whole once the spool replays.
// A server that refuses the role, password or database is a configuration error: said once, never
// retried.

import type pg from 'pg';
import { isConfigurationError } from '../../exporters/delivery/RetryPolicy.js';
import { targetIdentity } from '../../exporters/delivery/spoolTarget.js';
import type { SpillTarget, WarningSink } from '../../exporters/delivery/types.js';
import { refusedConnectionMessage, safeErrorMessage } from '../../exporters/postgres/connectionSecrets.js';
import { migrate } from '../../exporters/postgres/migrate.js';
import type { ExperimentStart, ExperimentStatus, ExperimentStore } from '../db/experimentStore.js';
import { EXPERIMENTS_SPOOL_TABLE, encodeExperimentLine } from '../db/spooledRows.js';

/** A failed setup is tried again after this, doubling up to RETRY_MAX_MS. */
const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 10_000;

export interface ExperimentLifecycleOptions {
  pool: pg.Pool;
  experiments: ExperimentStore;
  /** Where the row goes when the database cannot take it (none: it is only retried). */
  spool: SpillTarget | undefined;
  /** database.auto_migrate */
  autoMigrate: boolean;
  /** The row's content; `startedAt` is when register() ran. */
  run: () => ExperimentStart & { startedAt: Date };
  /** Running experiments whose heartbeat is older than this are marked failed at setup. */
  staleAfterMs: number;
  /** Connections opened once setup succeeded, so the first batches do not pay for them. */
  warmConnections: number;
  /** Called when a setup retried in the background succeeds (the spool can be replayed now). */
  onLateSetUp: () => void;
  /** Called once a setup attempt has a working connection (the server answers). */
  onConnected?: () => void;
  /** The server refused the connection's configuration; called once, before the warning about it. */
  onRefused?: (error: unknown) => void;
  /**
   * After migrations: the store's own setup (settings, partitions). A failure is warned about and
   * does not fail setup: records can be written without it.
   */
  prepareStore?: (pool: pg.Pool) => Promise<void>;
  /**
   * A worker that joined another process's run (PIPETEL_JOIN_RUN): it makes sure the row exists
   * but neither restarts nor ends it.
   */
  member?: boolean;
  /** host:port/database, named in its warnings (some driver errors name no server). */
  address?: string;
  /** database.url, named (its password hidden) when the server refuses it. */
  url?: string;
  warn: WarningSink;
}

export class ExperimentLifecycle {
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Setup succeeded: the schema is there and the run's row is stored. */
  isSetUp = false;
  /** The server's identity once reached (recorded with spooled records: see spoolTarget.ts). */
  identity: string | undefined;
  /** The server refused the connection's role, password or database: setup is not retried. */
  refused = false;
  /** That refusal has been warned about (once per run, whoever met it first). */
  private refusalReported = false;

  constructor(private readonly options: ExperimentLifecycleOptions) {}

  /**
   * First setup attempt; resolves when it succeeded, or when it failed and the `running` row is
   * spooled (retries then go on in the background until stop()).
   */
  async setUp(): Promise<void> {
    if (await this.trySetUp()) return;
    if (this.stopped) return;
    if (!this.options.member) await this.spool('running', null);
    if (!this.refused) this.scheduleRetry(RETRY_FIRST_MS);
  }

  /**
   * The server refused the connection's role, password or database — met by setup, or first by
   * a writer's probe (the database was down at start and came back refusing): reported once,
   * whoever met it, and setup is not tried again (each try would be one more refused login).
   */
  refusedByServer(error: unknown): void {
    this.refused = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (this.refusalReported) return;
    this.refusalReported = true;
    this.options.onRefused?.(error);
    this.options.warn(
      refusedConnectionMessage(
        this.options.url,
        error,
        this.options.spool
          ? 'records go to the spool and are replayed into this database by the next run or `pipetel sync` once it is fixed'
          : 'records are dropped and counted (the spool is off)',
      ),
    );
  }

  /** No more setup retries (shutdown). */
  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  /**
   * Ends the run: an upsert, so the row exists even if setup never reached the database. When that
   * fails or takes longer than `timeoutMs`, the final row goes to the spool instead.
   */
  async finish(status: Exclude<ExperimentStatus, 'running'>, reason: string | null, timeoutMs: number) {
    if (this.options.member) return; // the run's owner ends it
    // No time, or the database is known not to answer: straight to the spool.
    if (timeoutMs <= 0) {
      await this.spool(status, reason);
      return;
    }
    const finished = this.options.experiments.finish(this.options.run(), status, reason).then(
      () => true,
      (error) => {
        this.options.warn(`could not mark experiment ${status}: ${safeErrorMessage(error)}`);
        return false;
      },
    );
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const stored = await Promise.race([finished, timedOut]);
    clearTimeout(timer);
    if (!stored) await this.spool(status, reason);
  }

  private scheduleRetry(delayMs: number): void {
    if (this.stopped) return;
    this.retryTimer = setTimeout(async () => {
      this.retryTimer = undefined;
      if (this.stopped) return;
      if (await this.trySetUp()) {
        if (!this.stopped) this.options.onLateSetUp();
        return;
      }
      if (!this.refused) this.scheduleRetry(Math.min(RETRY_MAX_MS, delayMs * 2));
    }, delayMs);
    this.retryTimer.unref();
  }

  private async trySetUp(): Promise<boolean> {
    const { pool, experiments } = this.options;
    try {
      const client = await pool.connect(); // the connection the migration reuses
      try {
        this.identity ??= await targetIdentity(client);
      } finally {
        client.release();
      }
      this.options.onConnected?.();
      if (this.options.autoMigrate) await migrate(pool);
      await this.options.prepareStore?.(pool).catch((error) => {
        if (!this.stopped)
          this.options.warn(
            `store setup (partitions, retention settings) failed: ${safeErrorMessage(error)}`,
          );
      });
      await experiments.failStale(this.options.staleAfterMs);
      if (this.options.member) await experiments.join(this.options.run());
      else await experiments.start(this.options.run());
    } catch (error) {
      // Ended by shutdown (the connection attempt was cut off): nothing to report.
      if (this.stopped) return false;
      if (isConfigurationError(error)) {
        this.refusedByServer(error);
        return false;
      }
      this.options.warn(
        `database setup failed${this.options.address ? ` (database.url ${this.options.address})` : ''}, retrying in the background: ${safeErrorMessage(error)}`,
      );
      return false;
    }
    // Open the writers' connections now, inside register()'s bounded wait, so the first batches
    // do not pay connection setup (TCP, SCRAM) in the middle of the pipeline.
    const clients = await Promise.allSettled(
      Array.from({ length: this.options.warmConnections }, () => pool.connect()),
    );
    for (const client of clients) if (client.status === 'fulfilled') client.value.release();
    this.isSetUp = true;
    return true;
  }

  /**
   * process 'exit' before shutdown(): the run's final row goes to the spool synchronously, so the
   * next run (or `pipetel sync`) ends it as it ended — not, a minute later, as a process that died
   * without a word.
   */
  finishAtExit(status: Exclude<ExperimentStatus, 'running'>, reason: string | null): void {
    if (this.options.member || !this.options.spool?.appendAtExit) return;
    try {
      this.options.spool.appendAtExit(EXPERIMENTS_SPOOL_TABLE, [this.rowLine(status, reason)]);
    } catch (error) {
      this.options.warn(`could not spool the experiment row: ${safeErrorMessage(error)}`);
    }
  }

  /** The row as this process knows it, for replay (which never moves a row back in time). */
  private async spool(status: ExperimentStatus, reason: string | null): Promise<void> {
    if (!this.options.spool) return;
    await this.options.spool
      .append(EXPERIMENTS_SPOOL_TABLE, [this.rowLine(status, reason)])
      .catch((error) => this.options.warn(`could not spool the experiment row: ${safeErrorMessage(error)}`));
  }

  private rowLine(status: ExperimentStatus, reason: string | null): string {
    const run = this.options.run();
    const now = new Date();
    return encodeExperimentLine({
      experimentId: run.experimentId,
      serviceName: run.serviceName,
      status,
      startedAt: run.startedAt,
      endedAt: status === 'running' ? null : now,
      lastSeenAt: now,
      statusReason: reason,
      attributes: run.attributes,
    });
  }
}
