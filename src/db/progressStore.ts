// The one writer of pipeline_progress: every row of a flush in a single upsert, passed as one
// array parameter per column (unnest), so the statement has eleven parameters whatever the number
// of nodes — multi-row VALUES would hit the protocol's 65535-parameter cap.

import type pg from 'pg';
import { truncate } from '../../exporters/policy/text.js';
import type { ProgressRow, ProgressWriter } from '../pipeline/Progress.js';

/** Error messages longer than this are truncated (and marked as such). */
const MAX_ERROR_CHARS = 8192;

// The WHERE clause keeps a row from going back in time if writes ever arrive out of order (a
// retried batch landing after a newer one). started_at is taken from the row: a node run again
// after it finished starts a new run in the same row.
const UPSERT_SQL = `INSERT INTO pipeline_progress
  (experiment_id, node_id, completed, total, status, rate, eta_seconds, stage, error, started_at, updated_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::float8[], $4::float8[], $5::text[], $6::float8[],
                     $7::float8[], $8::text[], $9::text[], $10::timestamptz[], $11::timestamptz[])
ON CONFLICT (experiment_id, node_id) DO UPDATE SET
  completed = EXCLUDED.completed,
  total = EXCLUDED.total,
  status = EXCLUDED.status,
  rate = EXCLUDED.rate,
  eta_seconds = EXCLUDED.eta_seconds,
  stage = EXCLUDED.stage,
  error = EXCLUDED.error,
  started_at = EXCLUDED.started_at,
  updated_at = EXCLUDED.updated_at
WHERE pipeline_progress.updated_at <= EXCLUDED.updated_at`;

export class PostgresProgressStore implements ProgressWriter {
  constructor(private readonly pool: pg.Pool) {}

  async write(rows: ProgressRow[]): Promise<void> {
    await this.upsert(rows);
  }

  /**
   * The upsert itself; returns the rows that changed the table. Also the replay path for rows
   * that went to the spool: an older row never overwrites a newer one, so replay is idempotent.
   */
  async upsert(rows: ProgressRow[]): Promise<number> {
    if (rows.length === 0) return 0;
    // ON CONFLICT DO UPDATE refuses to touch a row twice in one statement: keep each node's last row.
    const unique = [...new Map(rows.map((row) => [`${row.experimentId}\u0000${row.nodeId}`, row])).values()];
    const result = await this.pool.query(UPSERT_SQL, [
      unique.map((row) => storableText(row.experimentId)),
      unique.map((row) => storableText(row.nodeId)),
      unique.map((row) => row.completed),
      unique.map((row) => row.total),
      unique.map((row) => row.status),
      unique.map((row) => row.rate),
      unique.map((row) => row.etaSeconds),
      unique.map((row) => (row.stage === null ? null : storableText(row.stage))),
      unique.map((row) => (row.error === null ? null : storableText(truncate(row.error, MAX_ERROR_CHARS)))),
      unique.map((row) => row.startedAt),
      unique.map((row) => row.updatedAt),
    ]);
    return result.rowCount ?? 0;
  }
}

/** PostgreSQL text cannot hold NUL; it becomes U+FFFD, as in the COPY encoder. */
function storableText(value: string): string {
  return value.includes('\u0000') ? value.replaceAll('\u0000', '\uFFFD') : value;
}
