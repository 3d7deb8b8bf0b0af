// From a run's configuration to what its parts are built with: the database it writes to (the
// configured one, else the embedded server), its experiment id, and the PostgreSQL exporters'
// options (batching, queue, pool share, spool, journal, shutdown bound).

import { randomBytes } from 'node:crypto';
import type { Journal } from '../../exporters/delivery/Journal.js';
import { stderrWarning } from '../../exporters/delivery/RateLimitedWarning.js';
import type { Spool } from '../../exporters/delivery/Spool.js';
import type { WarningSink } from '../../exporters/delivery/types.js';
import { safeErrorMessage } from '../../exporters/postgres/connectionSecrets.js';
import type { PostgresExporterOptions } from '../../exporters/postgres/PostgresDelivery.js';
import type { PgPool } from '../../exporters/postgres/pgTypes.js';
import type { Config, PipetelSettings } from '../config/index.js';
import { ensureEmbeddedPostgres } from '../db/embedded/index.js';

/** Resolves a database URL: the configured one, else the embedded server (started if needed). */
export async function resolveDatabaseUrl(config: Config): Promise<string | undefined> {
  const settings = config.values;
  if (!settings.database.enabled) return undefined; // OTLP only
  if (!settings.monitoring.enabled && !settings.logging.database.enabled) return undefined;
  if (settings.database.url) return settings.database.url;
  try {
    return (await ensureEmbeddedPostgres({ home: config.home })).url;
  } catch (error) {
    stderrWarning(
      `embedded PostgreSQL could not start, telemetry will not be stored: ${safeErrorMessage(error)}`,
    );
    return undefined;
  }
}

/** `<service>-<yyyymmdd-hhmmss>-<6 hex>`: sorts by start time, unique across hosts. */
export function generateExperimentId(serviceName: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${serviceName}-${stamp}-${randomBytes(3).toString('hex')}`;
}

export interface RunExporterParts {
  pool: PgPool;
  experimentId: string;
  spool: Spool | undefined;
  journal: Journal | undefined;
  /** The absolute time shutdown must be done by, once shutdown has begun. */
  shutdownDeadline: () => number | undefined;
  /** Settles when the store is set up (or setup has given up for now): batches wait for it. */
  setUp: Promise<void>;
  /** A write met a refused login: reported once for the run (see ExperimentLifecycle). */
  onRefused: (error: unknown) => void;
  warn: WarningSink;
}

/** The options every PostgreSQL exporter of a registered run shares. */
export function runExporterOptions(
  settings: PipetelSettings,
  parts: RunExporterParts,
): PostgresExporterOptions {
  return {
    pool: parts.pool,
    experimentId: parts.experimentId,
    batchSize: settings.logging.database.batch_size,
    flushIntervalMs: settings.logging.database.flush_interval * 1000,
    maxBatchSize: settings.monitoring.database.max_batch_size,
    maxQueueSize: settings.logging.database.max_queue_size,
    concurrency: Math.max(1, Math.min(3, settings.monitoring.database.connection_pool_size - 1)),
    usePreparedStatements: settings.monitoring.database.use_prepared_statements,
    statementTimeoutMs: settings.monitoring.database.batch_timeout * 1000,
    policy: 'upstream', // register() applies the policy in front of every sink
    spill: parts.spool,
    overflowToSpill: parts.spool !== undefined,
    journal: parts.journal,
    journalFlushMs: settings.spool.flush_ms,
    shutdownTimeoutMs: settings.shutdown.timeout * 1000,
    shutdownDeadline: parts.shutdownDeadline,
    writesAfter: parts.setUp,
    onRefused: parts.onRefused,
    warn: parts.warn,
  };
}
