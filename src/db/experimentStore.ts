// The one writer of pipeline_experiments: the run's row, created `running` at register(), kept
// alive by a heartbeat on `last_seen_at`, and ended `succeeded` or `failed` with a reason. Ending
// is an upsert, so a run whose start could not be written (database down) still appears whole;
// rows that could not be written at all come back from the spool through replay().

import type pg from 'pg';

export type ExperimentStatus = 'running' | 'succeeded' | 'failed';

/** A gateway run that has sent nothing for this long is taken as over (followers stop). */
export const GATEWAY_QUIET_SECONDS = 40;

/** A running process refreshes its row's `last_seen_at` this often. */
export const HEARTBEAT_INTERVAL_MS = 15_000;
/**
 * A `running` row whose heartbeat is older than this belongs to a process taken as dead: readers
 * stop following it, and the next register() on the database marks it failed (failStale).
 */
export const STALE_AFTER_MS = 4 * HEARTBEAT_INTERVAL_MS;

export interface ExperimentStart {
  experimentId: string;
  serviceName: string;
  attributes: Record<string, unknown>;
  /** When the run began (register()); default: now, on the server. */
  startedAt?: Date;
}

/** The whole row as the client knows it: what the spool carries when the database is down. */
export interface ExperimentRow {
  experimentId: string;
  serviceName: string;
  status: ExperimentStatus;
  startedAt: Date;
  endedAt: Date | null;
  lastSeenAt: Date;
  statusReason: string | null;
  attributes: Record<string, unknown>;
}

// A replayed row never moves a run backwards: a spooled `running` row only creates a missing row,
// and a spooled final row ends a row still `running`, or replaces an older final one.
/** A row the gateway made (a window of telemetry), not one a registered process owns. */
const GATEWAY_ROW = `pipeline_experiments.attributes ? 'pipetel.source'`;
/** A spooled row the gateway wrote. */
const GATEWAY_LINE = `EXCLUDED.attributes ? 'pipetel.source'`;
/** The attributes only a gateway row carries: a registered process taking the row over drops them. */
const GATEWAY_KEYS = `ARRAY['pipetel.source', 'pipetel.ended']`;
/**
 * A gateway run all of whose workers ended, quiet for longer than readers follow it: records for
 * it now are a new launch of the same experiment id (a fleet started again), not its stragglers.
 */
const RELAUNCHED = `(${GATEWAY_ROW} AND pipeline_experiments.attributes ? 'pipetel.ended'
  AND pipeline_experiments.last_seen_at < now() - interval '${GATEWAY_QUIET_SECONDS} seconds')`;

const REPLAY_SQL = `INSERT INTO pipeline_experiments
  (experiment_id, service_name, status, started_at, ended_at, last_seen_at, status_reason, attributes)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[],
                     $6::timestamptz[], $7::text[], $8::jsonb[])
ON CONFLICT (experiment_id) DO UPDATE SET
  service_name = EXCLUDED.service_name,
  -- a gateway run a worker failed stays failed (a later line may come from a restarted gateway)
  status = CASE WHEN ${GATEWAY_LINE} AND ${GATEWAY_ROW} AND pipeline_experiments.status = 'failed'
                THEN 'failed' ELSE EXCLUDED.status END,
  started_at = LEAST(pipeline_experiments.started_at, EXCLUDED.started_at),
  ended_at = EXCLUDED.ended_at,
  last_seen_at = GREATEST(pipeline_experiments.last_seen_at, EXCLUDED.last_seen_at),
  status_reason = CASE WHEN ${GATEWAY_LINE} AND ${GATEWAY_ROW} AND pipeline_experiments.status = 'failed'
                       THEN pipeline_experiments.status_reason ELSE EXCLUDED.status_reason END,
  -- a gateway line says whether the run has ended; a registered process's row is its own
  attributes = CASE WHEN ${GATEWAY_LINE} THEN pipeline_experiments.attributes - 'pipetel.ended'
                    ELSE pipeline_experiments.attributes - ${GATEWAY_KEYS} END || EXCLUDED.attributes
WHERE EXCLUDED.status <> 'running'
  AND (pipeline_experiments.status = 'running' OR pipeline_experiments.last_seen_at < EXCLUDED.last_seen_at)
  -- a row the gateway spooled (a window of telemetry) creates a missing run or extends its own,
  -- never ends or overrides a run a registered process owns
  AND (NOT EXCLUDED.attributes ? 'pipetel.source' OR pipeline_experiments.attributes ? 'pipetel.source')
RETURNING experiment_id`;

export class ExperimentStore {
  constructor(private readonly pool: pg.Pool) {}

  /** Creates the row, or restarts it when the experiment id is reused by a new run. */
  async start(run: ExperimentStart): Promise<void> {
    await this.pool.query(
      `INSERT INTO pipeline_experiments (experiment_id, service_name, status, started_at, last_seen_at, attributes)
       VALUES ($1, $2, 'running', COALESCE($4::timestamptz, now()), now(), $3::jsonb)
       ON CONFLICT (experiment_id) DO UPDATE
         SET service_name = EXCLUDED.service_name, status = 'running', started_at = EXCLUDED.started_at,
             ended_at = NULL, last_seen_at = now(), status_reason = NULL,
             -- the process owns the row now, whoever made it (the gateway may have been first)
             attributes = (pipeline_experiments.attributes - ${GATEWAY_KEYS}) || EXCLUDED.attributes
         -- a late start (setup retried while the database was down) never reopens its own run
         -- once that run has ended
         WHERE pipeline_experiments.status = 'running'
            OR pipeline_experiments.started_at IS DISTINCT FROM EXCLUDED.started_at`,
      [run.experimentId, run.serviceName, JSON.stringify(run.attributes), run.startedAt ?? null],
    );
  }

  /**
   * A worker process joining a run another process owns (tel.childEnv()): the row is created if
   * the owner's has not arrived yet, and otherwise left alone — the owner starts and ends the run.
   */
  async join(run: ExperimentStart): Promise<void> {
    await this.pool.query(
      `INSERT INTO pipeline_experiments (experiment_id, service_name, status, started_at, last_seen_at, attributes)
       VALUES ($1, $2, 'running', COALESCE($4::timestamptz, now()), now(), $3::jsonb)
       ON CONFLICT (experiment_id) DO NOTHING`,
      [run.experimentId, run.serviceName, JSON.stringify(run.attributes), run.startedAt ?? null],
    );
  }

  /**
   * A run seen through the gateway (records from other processes, no process of ours owns it):
   * created as ended at its latest record, and moved forward as records keep arriving. `failed`
   * (a worker said its run failed) makes it `failed`; `pipetel.ended` in the attributes (every
   * worker said its run ended) is set or cleared as given. `relaunched` says the records are a new
   * launch of an ended run (its status, reason and start begin again); undefined leaves that to the
   * row (RELAUNCHED: ended and quiet). A row a registered process owns keeps its own status and
   * attributes.
   */
  async observe(
    run: ExperimentStart,
    received?: { first: Date; last: Date },
    failed?: string,
    relaunched?: boolean,
  ): Promise<void> {
    // The run's window is when its records arrived (`received`), not when this row is written
    // (up to a refresh interval, or an outage, later); last_seen_at is now (the run is live).
    const relaunch = `(${GATEWAY_ROW} AND COALESCE($7::boolean, ${RELAUNCHED}))`;
    await this.pool.query(
      `INSERT INTO pipeline_experiments (experiment_id, service_name, status, started_at, ended_at, last_seen_at, status_reason, attributes)
       VALUES ($1, $2, CASE WHEN $6::text IS NULL THEN 'succeeded' ELSE 'failed' END,
               COALESCE($4::timestamptz, now()), COALESCE($5::timestamptz, now()), now(), $6::text, $3::jsonb)
       ON CONFLICT (experiment_id) DO UPDATE
         SET last_seen_at = now(),
             started_at = CASE WHEN ${relaunch} THEN COALESCE($4::timestamptz, now())
                               ELSE pipeline_experiments.started_at END,
             ended_at = CASE WHEN ${relaunch} THEN COALESCE($5::timestamptz, now())
                             WHEN ${GATEWAY_ROW}
                             THEN GREATEST(pipeline_experiments.ended_at, COALESCE($5::timestamptz, now()))
                             ELSE pipeline_experiments.ended_at END,
             status = CASE WHEN ${GATEWAY_ROW} AND $6::text IS NOT NULL THEN 'failed'
                           WHEN ${relaunch} THEN 'succeeded'
                           ELSE pipeline_experiments.status END,
             status_reason = CASE WHEN ${GATEWAY_ROW} AND $6::text IS NOT NULL
                                       AND (pipeline_experiments.status <> 'failed' OR ${relaunch})
                                  THEN $6::text
                                  WHEN ${relaunch} THEN NULL
                                  ELSE pipeline_experiments.status_reason END,
             attributes = CASE WHEN ${GATEWAY_ROW}
                               THEN (pipeline_experiments.attributes - 'pipetel.ended') || $3::jsonb
                               ELSE pipeline_experiments.attributes END
         WHERE pipeline_experiments.status <> 'running'`,
      [
        run.experimentId,
        run.serviceName,
        JSON.stringify(run.attributes),
        received?.first ?? null,
        received?.last ?? null,
        failed ?? null,
        relaunched ?? null,
      ],
    );
  }

  /**
   * Experiments still `running` whose heartbeat stopped more than `staleAfterMs` ago belonged to
   * a process that died without ending them (SIGKILL, OOM, power loss): they become `failed`.
   * Returns the ids marked.
   */
  async failStale(staleAfterMs: number): Promise<string[]> {
    const result = await this.pool.query<{ experiment_id: string }>(
      `UPDATE pipeline_experiments
          SET status = 'failed', ended_at = last_seen_at,
              status_reason = 'no heartbeat since ' || to_char(last_seen_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                              || ': the process ended without shutting down'
        WHERE status = 'running' AND last_seen_at < now() - make_interval(secs => $1)
        RETURNING experiment_id`,
      [staleAfterMs / 1000],
    );
    const ids = result.rows.map((r) => r.experiment_id);
    await this.failRunningProgress(
      ids,
      ids.map(() => 'the process ended without shutting down'),
    );
    return ids;
  }

  /**
   * Keeps the run's row alive. A run that failStale() declared dead while it was in fact busy (an
   * event loop blocked for minutes) is revived; a run ended by finish() is left alone.
   */
  async heartbeat(experimentId: string): Promise<void> {
    await this.pool.query(
      `UPDATE pipeline_experiments
          SET last_seen_at = now(), status = 'running', ended_at = NULL, status_reason = NULL
        WHERE experiment_id = $1
          AND (status = 'running' OR (status = 'failed' AND status_reason LIKE 'no heartbeat since %'))`,
      [experimentId],
    );
  }

  /**
   * Ends the run. An upsert: when start() never reached the database (it was down at register()),
   * the row is created here from `run`, whole.
   */
  async finish(
    run: ExperimentStart,
    status: Exclude<ExperimentStatus, 'running'>,
    reason: string | null,
  ): Promise<void> {
    await this.pool.query(
      `INSERT INTO pipeline_experiments
         (experiment_id, service_name, status, started_at, ended_at, last_seen_at, status_reason, attributes)
       VALUES ($1, $2, $3, COALESCE($4::timestamptz, now()), now(), now(), $5, $6::jsonb)
       ON CONFLICT (experiment_id) DO UPDATE
         SET status = EXCLUDED.status, ended_at = now(), last_seen_at = now(),
             status_reason = EXCLUDED.status_reason,
             attributes = pipeline_experiments.attributes - ${GATEWAY_KEYS}`,
      [
        run.experimentId,
        run.serviceName,
        status,
        run.startedAt ?? null,
        reason,
        JSON.stringify(run.attributes),
      ],
    );
  }

  /**
   * Upserts spooled rows; returns how many of them are stored — a run's earlier versions (its
   * `running` row, spooled before its final one) count as stored with the version that wins.
   */
  async replay(rows: ExperimentRow[]): Promise<number> {
    if (rows.length === 0) return 0;
    // ON CONFLICT DO UPDATE refuses to touch a row twice in one statement: keep each run's latest.
    const latest = new Map<string, ExperimentRow>();
    const versions = new Map<string, number>();
    for (const row of rows) {
      const seen = latest.get(row.experimentId);
      if (!seen || rank(row) >= rank(seen)) latest.set(row.experimentId, row);
      versions.set(row.experimentId, (versions.get(row.experimentId) ?? 0) + 1);
    }
    const unique = [...latest.values()];
    const result = await this.pool.query<{ experiment_id: string }>(REPLAY_SQL, [
      unique.map((r) => r.experimentId),
      unique.map((r) => r.serviceName),
      unique.map((r) => r.status),
      unique.map((r) => r.startedAt),
      unique.map((r) => r.endedAt),
      unique.map((r) => r.lastSeenAt),
      unique.map((r) => r.statusReason),
      unique.map((r) => JSON.stringify(r.attributes)),
    ]);
    let stored = 0;
    for (const { experiment_id } of result.rows) stored += versions.get(experiment_id) ?? 1;
    // A run that ended failed while its process could not write (a process.exit(), an outage):
    // its progress still `running` failed with it, not a bar with an ETA under an ended run.
    const failed = unique.filter(
      (r) => r.status === 'failed' && result.rows.some((row) => row.experiment_id === r.experimentId),
    );
    await this.failRunningProgress(
      failed.map((r) => r.experimentId),
      failed.map((r) => r.statusReason ?? 'the run failed'),
    );
    return stored;
  }

  /** Progress nodes still `running` of these runs (each with its reason) become `failed`. */
  private async failRunningProgress(experimentIds: string[], reasons: string[]): Promise<void> {
    if (experimentIds.length === 0) return;
    await this.pool.query(
      `UPDATE pipeline_progress p SET status = 'failed', error = COALESCE(p.error, f.reason), updated_at = now()
         FROM unnest($1::text[], $2::text[]) AS f(experiment_id, reason)
        WHERE p.experiment_id = f.experiment_id AND p.status = 'running'`,
      [experimentIds, reasons],
    );
  }

  /** Merges attributes into the run's row (e.g. what the overhead budget did). */
  async mergeAttributes(experimentId: string, attributes: Record<string, unknown>): Promise<void> {
    await this.pool.query(
      `UPDATE pipeline_experiments SET attributes = attributes || $2::jsonb WHERE experiment_id = $1`,
      [experimentId, JSON.stringify(attributes)],
    );
  }
}

/** Final rows outrank running ones; among equals, the later one wins. */
function rank(row: ExperimentRow): number {
  return (row.status === 'running' ? 0 : 1e15) + row.lastSeenAt.getTime();
}
