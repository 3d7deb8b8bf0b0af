// The one writer per table: COPY of pre-encoded text lines straight into the table on the first
// attempt (the fastest path PostgreSQL has), and on a retry or replay the same COPY into a
// per-connection staging table followed by INSERT … ON CONFLICT DO NOTHING, so rows that an
// earlier attempt did commit are not stored twice.

import type pg from 'pg';
import type { BatchSink, WriteOptions } from '../delivery/types.js';
import { copyIn } from './copyIn.js';
import { destroyConnection } from './pool.js';

export interface TableSpec {
  readonly name: string;
  /** Columns in the order the encoder writes them. */
  readonly columns: readonly string[];
  /**
   * The column the table is range-partitioned on when database.partitioning is on: a batch with a
   * row no partition takes gets its partitions made, then is written again.
   */
  readonly timeColumn?: string;
}

export interface TableWriterOptions {
  /** Name the deduplicating INSERT as a prepared statement (monitoring.database.use_prepared_statements). */
  usePreparedStatements?: boolean;
  /**
   * A new connection not made within this many ms fails the write as unreachable (ETIMEDOUT), so a
   * server that accepts and never answers sends batches to the spool within about a second rather
   * than at connection_timeout; the attempt itself goes on and its connection, if any, joins the
   * pool. Waiting for a busy pool's free connection is not bounded by it. Default: off.
   */
  connectStallMs?: number;
  /**
   * A statement that gets no answer within this many ms (a server or network gone silent, which
   * the server's own statement_timeout cannot end): its connection is destroyed and the write
   * fails as unreachable (ETIMEDOUT), to be retried or spooled. Without it such a write waits for
   * the operating system to give up on the socket, about 15 minutes on Linux, while records pile
   * up in memory. For pools that do not watch their connections themselves (createPool's do).
   * Default: off.
   */
  answerTimeoutMs?: number;
}

export class PostgresTableWriter implements BatchSink {
  readonly table: string;
  /** Field of the time column in an encoded line; -1 when the table is not partitioned by time. */
  private readonly timeIndex: number;
  private readonly copySql: string;
  private readonly stageTable: string;
  private readonly stageCopySql: string;
  private readonly createStageSql: string;
  private readonly insertSql: string;
  private readonly stagedClients = new WeakSet<pg.PoolClient>();
  private readonly listenedClients = new WeakSet<pg.PoolClient>();

  constructor(
    private readonly pool: pg.Pool,
    spec: TableSpec,
    private readonly options: TableWriterOptions = {},
  ) {
    this.table = spec.name;
    this.timeIndex = spec.timeColumn === undefined ? -1 : spec.columns.indexOf(spec.timeColumn);
    const columns = spec.columns.map((c) => `"${c}"`).join(', ');
    this.stageTable = `pipetel_stage_${spec.name}`;
    this.copySql = `COPY ${spec.name} (${columns}) FROM STDIN`;
    this.stageCopySql = `COPY ${this.stageTable} (${columns}) FROM STDIN`;
    this.createStageSql = `CREATE TEMP TABLE IF NOT EXISTS ${this.stageTable} (LIKE ${spec.name} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`;
    this.insertSql = `INSERT INTO ${spec.name} (${columns}) SELECT ${columns} FROM ${this.stageTable} ON CONFLICT DO NOTHING`;
  }

  async write(lines: string[], options: WriteOptions): Promise<number> {
    const client = await this.connect();
    if (!this.listenedClients.has(client)) {
      // A user-supplied pool may not guard its clients: a connection the server ends between two
      // queries would otherwise raise an unhandled 'error' in the host process.
      client.on('error', () => undefined);
      this.listenedClients.add(client);
    }
    let healthy = true;
    try {
      try {
        return await this.writeOnce(client, lines, options);
      } catch (error) {
        if (!isMissingPartition(error) || this.timeIndex < 0) throw error;
        // A row from before the first partition or past the premade ones: make its partitions,
        // then write the batch again (the failed statement stored nothing).
        await this.makePartitions(client, lines);
        return await this.writeOnce(client, lines, options);
      }
    } catch (error) {
      healthy = isStatementError(error);
      throw error;
    } finally {
      // A connection that failed mid-protocol is discarded rather than handed to the next batch.
      client.release(healthy ? undefined : true);
    }
  }

  private async writeOnce(client: pg.PoolClient, lines: string[], options: WriteOptions): Promise<number> {
    if (!options.idempotent) {
      await this.answered(client, copyIn(client, this.copySql, lines));
      return lines.length;
    }
    return this.writeDeduplicated(client, lines);
  }

  /** Partitions for every distinct UTC day among the batch's time values (migration 0004's function). */
  private async makePartitions(client: pg.PoolClient, lines: string[]): Promise<void> {
    const times = new Set<string>();
    for (const line of lines) {
      const field = line.split('\t', this.timeIndex + 1)[this.timeIndex];
      if (field !== undefined && field !== '\\N') times.add(field);
    }
    await this.answered(
      client,
      client.query(
        `SELECT pipetel_ensure_partitions($1, day, day)
           FROM (SELECT DISTINCT date_trunc('day', t, 'UTC') AS day FROM unnest($2::timestamptz[]) t) days`,
        [this.table, [...times]],
      ),
    );
  }

  /** `statement`'s outcome, or ETIMEDOUT with its connection destroyed after answerTimeoutMs without one. */
  private answered<R>(client: pg.PoolClient, statement: Promise<R>): Promise<R> {
    const ms = this.options.answerTimeoutMs;
    if (!ms) return statement;
    return new Promise<R>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        // Timers run before the loop reads its sockets: after a long synchronous stretch of the
        // application the answer may be waiting unread. Read first, then judge.
        setImmediate(() => {
          if (settled) return;
          settled = true;
          reject(
            Object.assign(new Error(`no answer from the database within ${ms} ms`), { code: 'ETIMEDOUT' }),
          );
          // pg then fails the statement itself ("Connection terminated"): settled already, ignored.
          destroyConnection(client);
        });
      }, ms);
      // Only a write in flight arms it, and that write's socket keeps the process alive anyway.
      timer.unref();
      statement.then(
        (value) => {
          clearTimeout(timer);
          if (settled) return;
          settled = true;
          resolve(value);
        },
        (error) => {
          clearTimeout(timer);
          if (settled) return;
          settled = true;
          reject(error);
        },
      );
    });
  }

  private connect(): Promise<pg.PoolClient> {
    const stallMs = this.options.connectStallMs;
    // An idle connection is handed over at once; a full pool means waiting for a busy one.
    const opensNew = this.pool.idleCount === 0 && this.pool.totalCount < (this.pool.options.max ?? 10);
    const connecting = this.pool.connect();
    if (!stallMs || !opensNew) return connecting;
    return new Promise((resolve, reject) => {
      let stalled = false;
      const timer = setTimeout(() => {
        stalled = true;
        reject(
          Object.assign(new Error(`no connection to the database within ${stallMs} ms`), {
            code: 'ETIMEDOUT',
          }),
        );
      }, stallMs);
      connecting.then(
        (client) => {
          clearTimeout(timer);
          if (stalled) client.release();
          else resolve(client);
        },
        (error) => {
          clearTimeout(timer);
          if (!stalled) reject(error);
        },
      );
    });
  }

  private async writeDeduplicated(client: pg.PoolClient, lines: string[]): Promise<number> {
    if (!this.stagedClients.has(client)) {
      await this.answered(client, client.query(this.createStageSql));
      this.stagedClients.add(client);
    }
    await this.answered(client, client.query('BEGIN'));
    try {
      await this.answered(client, copyIn(client, this.stageCopySql, lines));
      const insert = this.options.usePreparedStatements
        ? { name: `pipetel_dedup_${this.table}`, text: this.insertSql }
        : { text: this.insertSql };
      const result = await this.answered(client, client.query(insert));
      await this.answered(client, client.query('COMMIT'));
      return result.rowCount ?? 0;
    } catch (error) {
      await this.answered(client, client.query('ROLLBACK')).catch(() => undefined);
      throw error;
    }
  }
}

/** The server found no partition for a row (SQLSTATE 23514, raised by tuple routing). */
function isMissingPartition(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown } | null;
  return (
    e?.code === '23514' && typeof e.message === 'string' && e.message.startsWith('no partition of relation')
  );
}

/** Errors raised by the server for a statement leave the connection usable; others do not. */
export function isStatementError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (
    typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !code.startsWith('08') && !code.startsWith('57')
  );
}
