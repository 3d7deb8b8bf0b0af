-- Schema v1: the tables and indexes of SPEC §4 and the seed's "Database Tuning" section.
-- Every row carries a client-generated key so a replayed batch is deduplicated by the database;
-- each key includes the time column so that time partitioning (database.partitioning) can be
-- added later without touching the write path.

CREATE TABLE IF NOT EXISTS pipeline_experiments (
    experiment_id  text PRIMARY KEY,
    service_name   text NOT NULL,
    status         text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
    started_at     timestamptz NOT NULL DEFAULT now(),
    ended_at       timestamptz,
    last_seen_at   timestamptz NOT NULL DEFAULT now(),
    status_reason  text,
    attributes     jsonb NOT NULL DEFAULT '{}'::jsonb
);

CREATE TABLE IF NOT EXISTS pipeline_logs (
    id               uuid NOT NULL,
    experiment_id    text NOT NULL,
    "timestamp"      timestamptz NOT NULL,
    level            text NOT NULL,
    severity_number  smallint NOT NULL,
    logger_name      text NOT NULL DEFAULT '',
    message          text NOT NULL DEFAULT '',
    traceback        text,
    attributes       jsonb NOT NULL DEFAULT '{}'::jsonb,
    trace_id         text,
    span_id          text,
    stage            text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, "timestamp")
);

CREATE TABLE IF NOT EXISTS pipeline_spans (
    trace_id        text NOT NULL,
    span_id         text NOT NULL,
    parent_span_id  text,
    experiment_id   text NOT NULL,
    name            text NOT NULL,
    kind            text NOT NULL,
    start_time      timestamptz NOT NULL,
    end_time        timestamptz NOT NULL,
    duration_ms     double precision NOT NULL,
    status_code     text NOT NULL,
    status_message  text,
    attributes      jsonb NOT NULL DEFAULT '{}'::jsonb,
    events          jsonb NOT NULL DEFAULT '[]'::jsonb,
    links           jsonb NOT NULL DEFAULT '[]'::jsonb,
    resource        jsonb NOT NULL DEFAULT '{}'::jsonb,
    scope           text,
    stage           text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (trace_id, span_id, start_time)
);

CREATE TABLE IF NOT EXISTS pipeline_metrics (
    id               uuid NOT NULL,
    experiment_id    text NOT NULL,
    "timestamp"      timestamptz NOT NULL,
    name             text NOT NULL,
    unit             text NOT NULL DEFAULT '',
    kind             text NOT NULL CHECK (kind IN ('gauge', 'sum', 'histogram')),
    value            double precision,
    count            bigint,
    sum              double precision,
    min              double precision,
    max              double precision,
    bucket_counts    bigint[],
    explicit_bounds  double precision[],
    attributes       jsonb NOT NULL DEFAULT '{}'::jsonb,
    start_time       timestamptz,
    is_monotonic     boolean,
    scope            text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, "timestamp")
);

CREATE TABLE IF NOT EXISTS pipeline_metrics_archive (LIKE pipeline_metrics INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);

CREATE TABLE IF NOT EXISTS pipeline_progress (
    experiment_id  text NOT NULL,
    node_id        text NOT NULL,
    completed      double precision NOT NULL DEFAULT 0,
    total          double precision,
    status         text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed')),
    rate           double precision,
    eta_seconds    double precision,
    stage          text,
    error          text,
    started_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (experiment_id, node_id)
);

-- The seed's indexes, by name.
CREATE INDEX IF NOT EXISTS idx_logs_experiment_time ON pipeline_logs (experiment_id, "timestamp" DESC);
CREATE INDEX IF NOT EXISTS idx_logs_level_time ON pipeline_logs (level, "timestamp" DESC)
    WHERE level IN ('ERROR', 'CRITICAL');
CREATE INDEX IF NOT EXISTS idx_progress_experiment_node ON pipeline_progress (experiment_id, node_id);
CREATE INDEX IF NOT EXISTS idx_metrics_experiment_time ON pipeline_metrics (experiment_id, "timestamp" DESC);
CREATE INDEX IF NOT EXISTS idx_logs_logger_time ON pipeline_logs (logger_name, "timestamp" DESC);
CREATE INDEX IF NOT EXISTS idx_logs_search ON pipeline_logs USING gin (to_tsvector('english', message));

-- What the spans table needs: the primary key leads with trace_id (trace lookups);
-- experiment timelines read by start time.
CREATE INDEX IF NOT EXISTS idx_spans_experiment_time ON pipeline_spans (experiment_id, start_time DESC);
CREATE INDEX IF NOT EXISTS idx_spans_parent ON pipeline_spans (trace_id, parent_span_id);
CREATE INDEX IF NOT EXISTS idx_experiments_started ON pipeline_experiments (started_at DESC);

-- The seed's autovacuum settings for the high-churn tables.
ALTER TABLE pipeline_logs SET (autovacuum_vacuum_scale_factor = 0.1, autovacuum_analyze_scale_factor = 0.05);
ALTER TABLE pipeline_metrics SET (autovacuum_vacuum_scale_factor = 0.1, autovacuum_analyze_scale_factor = 0.05);
