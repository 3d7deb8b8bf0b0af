// Where a registered process keeps what it records, apart from the signal pipelines: the
// connection pool, the experiment row's store, the crash-safe spool (and, with spool.mode: always,
// the journal), and the synchronizer that replays the spool and ships the log file. Built from the
// configuration once, at register(); Telemetry wires the pipelines to it.

import type pg from 'pg';
import { Journal } from '../../exporters/delivery/Journal.js';
import { Spool, spoolDirectory } from '../../exporters/delivery/Spool.js';
import { targetAddress } from '../../exporters/delivery/spoolTarget.js';
import { safeErrorMessage } from '../../exporters/postgres/connectionSecrets.js';
import { createPool } from '../../exporters/postgres/pool.js';
import type { Config } from '../config/index.js';
import { ExperimentStore } from '../db/experimentStore.js';
import { logFilePath, shipsLogFile } from '../sync/LogFileShipper.js';
import { LogSynchronizer } from '../sync/LogSynchronizer.js';

export interface RunStorage {
  pool: pg.Pool | undefined;
  experiments: ExperimentStore | undefined;
  spool: Spool | undefined;
  journal: Journal | undefined;
  synchronizer: LogSynchronizer | undefined;
}

export interface RunStorageHooks {
  experimentId: string;
  /** Whether anything is stored in the database at all (monitoring or database logging on). */
  storesToDatabase: boolean;
  /** The server's identity once known (recorded with spooled records: see spoolTarget.ts). */
  identity: () => string | undefined;
  /** True once shutdown began: connection errors it causes itself are no news. */
  shuttingDown: () => boolean;
  /** Records this process spooled and later replayed itself (no longer counted as spooled). */
  onDelivered: (table: string, records: number) => void;
  warn: (message: string) => void;
}

export function openRunStorage(
  config: Config,
  databaseUrl: string | undefined,
  hooks: RunStorageHooks,
): RunStorage {
  const settings = config.values;
  const storage: RunStorage = {
    pool: undefined,
    experiments: undefined,
    spool: undefined,
    journal: undefined,
    synchronizer: undefined,
  };
  if (!databaseUrl || !hooks.storesToDatabase) return storage;
  const pool = createPool({
    connectionString: databaseUrl,
    maxConnections: settings.monitoring.database.connection_pool_size,
    connectionTimeoutMs: settings.monitoring.database.connection_timeout * 1000,
    statementTimeoutMs: settings.monitoring.database.batch_timeout * 1000,
    onError: (error) => {
      // Connections shutdown cut off itself (closePool) are no news.
      if (!hooks.shuttingDown())
        hooks.warn(`database connection error: ${safeErrorMessage(error, databaseUrl)}`);
    },
  });
  storage.pool = pool;
  storage.experiments = new ExperimentStore(pool);
  // Crash-safe spool: what the database cannot take (down, or a full queue) goes to disk under
  // PIPETEL_HOME and is replayed — by this process when the database answers, or a later one.
  if (settings.spool.enabled) {
    // Spooled records are for this database only (replayed into it, never another).
    const target = () => ({ address: targetAddress(databaseUrl), identity: hooks.identity() });
    storage.spool = new Spool({
      dir: spoolDirectory(config.home),
      fsyncIntervalMs: settings.spool.fsync_interval * 1000,
      target,
      warn: hooks.warn,
    });
    // spool.mode: always — every record on disk within flush_ms, before the database has it.
    if (settings.spool.mode === 'always') {
      storage.journal = new Journal({
        dir: spoolDirectory(config.home),
        flushMs: settings.spool.flush_ms,
        target,
        warn: hooks.warn,
      });
    }
  }
  // Network-constrained mode (database logging off, file on): the synchronizer ships the file.
  const logFile = shipsLogFile(config)
    ? { path: logFilePath(config), experimentId: hooks.experimentId }
    : undefined;
  if (storage.spool || logFile) {
    storage.synchronizer = new LogSynchronizer({
      home: config.home,
      pool,
      syncIntervalMs: settings.spool.sync_interval * 1000,
      batchSize: settings.spool.batch_size,
      spool: storage.spool,
      autoMigrate: settings.database.auto_migrate,
      logFile,
      onDelivered: hooks.onDelivered,
      warn: hooks.warn,
    });
  }
  return storage;
}
