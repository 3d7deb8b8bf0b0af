-- Live tail (`pipetel logs --follow`, the dashboard's log stream): after each statement that adds
-- log rows — one COPY batch, one deduplicating INSERT, one spool replay — one notification per
-- experiment in it, on channel 'pipetel_logs' with the experiment id as payload. Statement level
-- with a transition table: a batch of 1000 rows costs one notification, not 1000, and readers
-- that are not listening cost nothing. NOTIFY is delivered at commit, so a reader that queries on
-- a notification sees the rows.
CREATE OR REPLACE FUNCTION pipetel_notify_logs() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('pipetel_logs', e.experiment_id)
       FROM (SELECT DISTINCT experiment_id FROM pipetel_new_logs) e;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS pipetel_logs_notify ON pipeline_logs;
CREATE TRIGGER pipetel_logs_notify
    AFTER INSERT ON pipeline_logs
    REFERENCING NEW TABLE AS pipetel_new_logs
    FOR EACH STATEMENT EXECUTE FUNCTION pipetel_notify_logs();
