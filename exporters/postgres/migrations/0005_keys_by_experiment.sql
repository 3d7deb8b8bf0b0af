-- Every unique key of the telemetry tables includes experiment_id, so the schema can be
-- distributed by run (Citus requires the distribution column in each unique key; see the README,
-- "Beyond one server"). experiment_id goes last: the keys still serve lookups by id, and the
-- deduplicating write (ON CONFLICT DO NOTHING) still finds a replayed row, which carries the same
-- experiment_id. On partitioned tables the constraint is rebuilt on every partition.
ALTER TABLE pipeline_logs
    DROP CONSTRAINT pipeline_logs_pkey,
    ADD CONSTRAINT pipeline_logs_pkey PRIMARY KEY (id, "timestamp", experiment_id);
ALTER TABLE pipeline_spans
    DROP CONSTRAINT pipeline_spans_pkey,
    ADD CONSTRAINT pipeline_spans_pkey PRIMARY KEY (trace_id, span_id, start_time, experiment_id);
ALTER TABLE pipeline_metrics
    DROP CONSTRAINT pipeline_metrics_pkey,
    ADD CONSTRAINT pipeline_metrics_pkey PRIMARY KEY (id, "timestamp", experiment_id);
ALTER TABLE pipeline_metrics_archive
    DROP CONSTRAINT pipeline_metrics_archive_pkey,
    ADD CONSTRAINT pipeline_metrics_archive_pkey PRIMARY KEY (id, "timestamp", experiment_id);
