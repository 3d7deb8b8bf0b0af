-- A progress node still running when the process was interrupted (SIGINT, SIGTERM) is stored as
-- 'interrupted' (SPEC §5), distinct from a node the pipeline itself marked failed.
ALTER TABLE pipeline_progress DROP CONSTRAINT IF EXISTS pipeline_progress_status_check;
ALTER TABLE pipeline_progress
    ADD CONSTRAINT pipeline_progress_status_check
    CHECK (status IN ('running', 'done', 'failed', 'interrupted'));
