-- Errors per run, counted for every run listed (`pipetel runs`, the dashboard): a small partial
-- index over the ERROR and CRITICAL rows only, so the count reads a handful of entries instead of
-- every log row of the run.
CREATE INDEX IF NOT EXISTS idx_logs_experiment_errors ON pipeline_logs (experiment_id)
    WHERE severity_number >= 17;
