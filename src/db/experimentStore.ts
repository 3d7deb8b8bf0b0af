// The one writer of pipeline_experiments: the run's row, created `running` at register(), kept
// alive by a heartbeat on `last_seen_at`, and ended `succeeded` or `failed` with a reason.

import type pg from 'pg';

export type ExperimentStatus = 'running' | 'succeeded' | 'failed';

export interface ExperimentStart {
  experimentId: string;
  serviceName: string;
  attributes: Record<string, unknown>;
}

export class ExperimentStore {
  constructor(private readonly pool: pg.Pool) {}

  /** Creates the row, or restarts it when the experiment id is reused by a new run. */
  async start(run: ExperimentStart): Promise<void> {
    await this.pool.query(
      `INSERT INTO pipeline_experiments (experiment_id, service_name, status, started_at, last_seen_at, attributes)
       VALUES ($1, $2, 'running', now(), now(), $3::jsonb)
       ON CONFLICT (experiment_id) DO UPDATE
         SET service_name = EXCLUDED.service_name, status = 'running', started_at = now(), ended_at = NULL,
             last_seen_at = now(), status_reason = NULL,
             attributes = pipeline_experiments.attributes || EXCLUDED.attributes`,
      [run.experimentId, run.serviceName, JSON.stringify(run.attributes)],
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
    return result.rows.map((r) => r.experiment_id);
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

  async finish(
    experimentId: string,
    status: Exclude<ExperimentStatus, 'running'>,
    reason: string | null,
  ): Promise<void> {
    await this.pool.query(
      `UPDATE pipeline_experiments
          SET status = $2, ended_at = now(), last_seen_at = now(), status_reason = $3
        WHERE experiment_id = $1`,
      [experimentId, status, reason],
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
