-- Partitions, retention and maintenance (SPEC §9), in SQL so that every caller shares one
-- implementation: the writers (a partition made on demand before a batch that needs it), the
-- spool replay, `pipetel maintain`, the in-app maintenance timer, and pg_cron.

-- One row: how the telemetry tables are partitioned (their state, written by the conversion) and
-- what maintenance keeps (the configuration, written by register() and `pipetel maintain`).
CREATE TABLE IF NOT EXISTS pipetel_settings (
    singleton                  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    partitioning               text NOT NULL DEFAULT 'none' CHECK (partitioning IN ('none', 'daily', 'monthly')),
    premake                    integer NOT NULL DEFAULT 3 CHECK (premake >= 0),
    logs_days                  integer CHECK (logs_days > 0),
    spans_days                 integer CHECK (spans_days > 0),
    metrics_days               integer CHECK (metrics_days > 0),
    archive_metrics_after_days integer CHECK (archive_metrics_after_days > 0),
    updated_at                 timestamptz NOT NULL DEFAULT now(),
    -- When pipetel last ran maintenance here (in-app runs skip until maintenance.interval has passed).
    last_maintenance_at        timestamptz
);
INSERT INTO pipetel_settings DEFAULT VALUES ON CONFLICT DO NOTHING;

-- The partitioned telemetry tables and their time columns.
CREATE OR REPLACE FUNCTION pipetel_time_column(parent text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE parent
        WHEN 'pipeline_logs' THEN 'timestamp'
        WHEN 'pipeline_metrics' THEN 'timestamp'
        WHEN 'pipeline_spans' THEN 'start_time'
    END
$$;

-- Partitions of `parent` covering [first, last], created when missing (names as in the seed:
-- pipeline_logs_2026_11 monthly, pipeline_logs_2026_11_30 daily; periods in UTC). Returns the
-- names created. Safe to call concurrently: a per-partition advisory lock, then a second look.
CREATE OR REPLACE FUNCTION pipetel_ensure_partitions(parent text, first timestamptz, last timestamptz)
RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    period text := (SELECT partitioning FROM pipetel_settings);
    unit text;
    step interval;
    lower timestamptz;
    upper timestamptz;
    name text;
BEGIN
    IF period IS NULL OR period = 'none' OR first IS NULL OR last IS NULL THEN
        RETURN;
    END IF;
    unit := CASE period WHEN 'daily' THEN 'day' ELSE 'month' END;
    step := CASE period WHEN 'daily' THEN interval '1 day' ELSE interval '1 month' END;
    lower := date_trunc(unit, first, 'UTC');
    WHILE lower <= last LOOP
        upper := ((lower AT TIME ZONE 'UTC') + step) AT TIME ZONE 'UTC';
        name := parent || '_' || to_char(lower AT TIME ZONE 'UTC', CASE period WHEN 'daily' THEN 'YYYY_MM_DD' ELSE 'YYYY_MM' END);
        IF to_regclass(quote_ident(name)) IS NULL THEN
            PERFORM pg_advisory_xact_lock(hashtext('pipetel partition ' || name));
            IF to_regclass(quote_ident(name)) IS NULL THEN
                EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)', name, parent, lower, upper);
                IF parent IN ('pipeline_logs', 'pipeline_metrics') THEN
                    -- The seed's autovacuum settings, which a partitioned parent cannot hold.
                    EXECUTE format('ALTER TABLE %I SET (autovacuum_vacuum_scale_factor = 0.1, autovacuum_analyze_scale_factor = 0.05)', name);
                END IF;
                RETURN NEXT name;
            END IF;
        END IF;
        lower := upper;
    END LOOP;
END
$$;

-- The partitions of `parent` that lie wholly before `cutoff`, oldest first.
CREATE OR REPLACE FUNCTION pipetel_partitions_before(parent text, cutoff timestamptz)
RETURNS TABLE (partition text, upper_bound timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT c.relname::text,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz
      FROM pg_inherits i
      JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = to_regclass(quote_ident(parent))
       AND (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz <= cutoff
     ORDER BY 2
$$;

-- The partitions past their table's retention, for monitoring_maintenance() and for pipetel, which
-- detaches them CONCURRENTLY (a function cannot).
CREATE OR REPLACE FUNCTION pipetel_expired_partitions()
RETURNS TABLE (parent text, partition text, upper_bound timestamptz, days integer)
LANGUAGE sql STABLE AS $$
    SELECT r.parent, p.partition, p.upper_bound, r.days
      FROM pipetel_settings s,
           LATERAL (VALUES ('pipeline_logs', s.logs_days), ('pipeline_spans', s.spans_days),
                           ('pipeline_metrics', s.metrics_days)) r(parent, days),
           LATERAL pipetel_partitions_before(r.parent, now() - make_interval(days => r.days)) p
     WHERE r.days IS NOT NULL AND s.partitioning <> 'none'
$$;

-- The seed's maintenance, one implementation for `pipetel maintain`, the in-app timer and pg_cron:
-- partitions premade ahead; logs, spans and metrics past their retention removed (whole
-- partitions dropped when partitioned, small batched deletes otherwise); metric points older than
-- archive_metrics_after_days rolled up per hour into pipeline_metrics_archive; runs whose logs
-- retention has passed removed with their progress and remaining rows; statistics refreshed.
-- Returns one line per action. With dry_run nothing changes and the lines say what would be done.
-- drop_partitions false leaves expired partitions for the caller (pipetel detaches them
-- CONCURRENTLY, which a function cannot do).
CREATE OR REPLACE FUNCTION monitoring_maintenance(dry_run boolean DEFAULT false, drop_partitions boolean DEFAULT true)
RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    s pipetel_settings;
    t text;
    days integer;
    cutoff timestamptz;
    p record;
    made text;
    n bigint;
    total bigint;
    expired_until timestamptz;
BEGIN
    SELECT * INTO s FROM pipetel_settings;
    IF s.partitioning <> 'none' THEN
        FOREACH t IN ARRAY ARRAY['pipeline_logs', 'pipeline_spans', 'pipeline_metrics'] LOOP
            IF dry_run THEN
                RETURN NEXT format('would premake %s partitions of %s through %s', s.partitioning, t,
                    now() + (CASE s.partitioning WHEN 'daily' THEN interval '1 day' ELSE interval '1 month' END) * s.premake);
            ELSE
                FOR made IN SELECT pipetel_ensure_partitions(t, now(),
                        now() + (CASE s.partitioning WHEN 'daily' THEN interval '1 day' ELSE interval '1 month' END) * s.premake) LOOP
                    RETURN NEXT format('created partition %s', made);
                END LOOP;
            END IF;
        END LOOP;
    END IF;

    -- Metrics archive first, so points past both horizons are rolled up before they are removed.
    IF s.archive_metrics_after_days IS NOT NULL THEN
        cutoff := date_trunc('hour', now() - make_interval(days => s.archive_metrics_after_days));
        IF s.metrics_days IS NOT NULL THEN
            cutoff := greatest(cutoff, date_trunc('hour', now() - make_interval(days => s.metrics_days)));
        END IF;
        IF dry_run THEN
            SELECT count(*) INTO n FROM pipeline_metrics WHERE "timestamp" < cutoff;
            RETURN NEXT format('would roll up %s metric points before %s into pipeline_metrics_archive', n, cutoff);
        ELSE
            -- One point per series and hour: gauges averaged (min and max kept), cumulative sums and
            -- histograms as their last point of the hour.
            INSERT INTO pipeline_metrics_archive (id, experiment_id, "timestamp", name, unit, kind, value, count, sum,
                                                  min, max, bucket_counts, explicit_bounds, attributes, start_time,
                                                  is_monotonic, scope)
            SELECT gen_random_uuid(), l.experiment_id, l.hour, l.name, l.unit, l.kind,
                   CASE WHEN l.kind = 'gauge' THEN a.avg_value ELSE l.value END, l.count, l.sum,
                   CASE WHEN l.kind = 'gauge' THEN a.min_value ELSE l.min END,
                   CASE WHEN l.kind = 'gauge' THEN a.max_value ELSE l.max END,
                   l.bucket_counts, l.explicit_bounds, l.attributes, a.first_start, l.is_monotonic, l.scope
              FROM (SELECT DISTINCT ON (experiment_id, date_trunc('hour', "timestamp"), name, unit, kind, attributes, scope)
                           *, date_trunc('hour', "timestamp") AS hour
                      FROM pipeline_metrics WHERE "timestamp" < cutoff
                     ORDER BY experiment_id, date_trunc('hour', "timestamp"), name, unit, kind, attributes, scope,
                              "timestamp" DESC) l
              JOIN (SELECT experiment_id, date_trunc('hour', "timestamp") AS hour, name, unit, kind, attributes, scope,
                           avg(value) AS avg_value, min(value) AS min_value, max(value) AS max_value,
                           min(start_time) AS first_start
                      FROM pipeline_metrics WHERE "timestamp" < cutoff
                     GROUP BY 1, 2, 3, 4, 5, 6, 7) a
                ON a.experiment_id = l.experiment_id AND a.hour = l.hour AND a.name = l.name AND a.unit = l.unit
               AND a.kind = l.kind AND a.attributes = l.attributes AND a.scope IS NOT DISTINCT FROM l.scope;
            GET DIAGNOSTICS n = ROW_COUNT;
            DELETE FROM pipeline_metrics WHERE "timestamp" < cutoff;
            GET DIAGNOSTICS total = ROW_COUNT;
            IF total > 0 THEN
                RETURN NEXT format('rolled up %s metric points before %s into %s hourly points in pipeline_metrics_archive', total, cutoff, n);
            END IF;
        END IF;
    END IF;

    FOREACH t IN ARRAY ARRAY['pipeline_logs', 'pipeline_spans', 'pipeline_metrics'] LOOP
        days := CASE t WHEN 'pipeline_logs' THEN s.logs_days WHEN 'pipeline_spans' THEN s.spans_days ELSE s.metrics_days END;
        CONTINUE WHEN days IS NULL;
        cutoff := now() - make_interval(days => days);
        -- Rows in whole expired partitions go with their partition (here or by the caller), not row by row.
        expired_until := coalesce((SELECT max(e.upper_bound) FROM pipetel_expired_partitions() e WHERE e.parent = t),
                                  '-infinity');
        IF s.partitioning <> 'none' THEN
            FOR p IN SELECT * FROM pipetel_expired_partitions() e WHERE e.parent = t ORDER BY e.upper_bound LOOP
                IF dry_run OR NOT drop_partitions THEN
                    RETURN NEXT format('%s partition %s (rows before %s; retention %s days)',
                        CASE WHEN dry_run THEN 'would drop' ELSE 'expired' END, p.partition, p.upper_bound, days);
                ELSE
                    EXECUTE format('ALTER TABLE %I DETACH PARTITION %I', t, p.partition);
                    EXECUTE format('DROP TABLE %I', p.partition);
                    RETURN NEXT format('dropped partition %s (retention %s days)', p.partition, days);
                END IF;
            END LOOP;
        END IF;
        -- Rows before the cutoff left in a table (unpartitioned, or a partition that straddles it):
        -- deleted 10,000 at a time, so no statement holds its locks for long.
        IF dry_run THEN
            EXECUTE format('SELECT count(*) FROM %1$I WHERE %2$I >= $2 AND %2$I < $1', t, pipetel_time_column(t))
                INTO n USING cutoff, expired_until;
            IF n > 0 THEN
                RETURN NEXT format('would delete %s rows of %s before %s (retention %s days)', n, t, cutoff, days);
            END IF;
        ELSE
            total := 0;
            LOOP
                -- (tableoid, ctid): a ctid alone names a row only within one partition.
                EXECUTE format('DELETE FROM %1$I d
                                  USING (SELECT tableoid, ctid FROM %1$I WHERE %2$I >= $2 AND %2$I < $1 LIMIT 10000) old
                                 WHERE d.tableoid = old.tableoid AND d.ctid = old.ctid',
                    t, pipetel_time_column(t)) USING cutoff, expired_until;
                GET DIAGNOSTICS n = ROW_COUNT;
                total := total + n;
                EXIT WHEN n = 0;
            END LOOP;
            IF total > 0 THEN
                RETURN NEXT format('deleted %s rows of %s before %s (retention %s days)', total, t, cutoff, days);
            END IF;
        END IF;
    END LOOP;

    -- A run goes with its logs: runs that ended (or were last seen) before the logs' horizon.
    IF s.logs_days IS NOT NULL THEN
        cutoff := now() - make_interval(days => s.logs_days);
        IF dry_run THEN
            SELECT count(*) INTO n FROM pipeline_experiments WHERE coalesce(ended_at, last_seen_at) < cutoff;
            IF n > 0 THEN
                RETURN NEXT format('would remove %s runs that ended before %s, with their progress and remaining rows', n, cutoff);
            END IF;
        ELSE
            WITH gone AS (
                DELETE FROM pipeline_experiments WHERE coalesce(ended_at, last_seen_at) < cutoff RETURNING experiment_id
            ), progress AS (
                DELETE FROM pipeline_progress WHERE experiment_id IN (SELECT experiment_id FROM gone)
            ), spans AS (
                DELETE FROM pipeline_spans WHERE experiment_id IN (SELECT experiment_id FROM gone)
            ), metrics AS (
                DELETE FROM pipeline_metrics WHERE experiment_id IN (SELECT experiment_id FROM gone)
            ), archived AS (
                DELETE FROM pipeline_metrics_archive WHERE experiment_id IN (SELECT experiment_id FROM gone)
            ), logs AS (
                DELETE FROM pipeline_logs WHERE experiment_id IN (SELECT experiment_id FROM gone)
            )
            SELECT count(*) INTO n FROM gone;
            IF n > 0 THEN
                RETURN NEXT format('removed %s runs that ended before %s, with their progress and remaining rows', n, cutoff);
            END IF;
        END IF;
    END IF;

    IF NOT dry_run THEN
        ANALYZE pipeline_logs;
        ANALYZE pipeline_metrics;
        ANALYZE pipeline_spans;
    END IF;
END
$$;

-- Converts pipeline_logs, pipeline_spans and pipeline_metrics to range partitions of `period`
-- (daily or monthly), moving their rows: `pipetel migrate --partitioning …`, and register() on
-- empty tables. One transaction, under an ACCESS EXCLUSIVE lock on each table (writers wait, then
-- carry on). The indexes, primary key and triggers are recreated from their own definitions;
-- the seed's autovacuum settings move to the partitions. Returns one line per table.
CREATE OR REPLACE FUNCTION pipetel_partition_tables(period text)
RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    current text := (SELECT partitioning FROM pipetel_settings);
    premake integer := (SELECT s.premake FROM pipetel_settings s);
    step interval := CASE period WHEN 'daily' THEN interval '1 day' ELSE interval '1 month' END;
    t text;
    old text;
    col text;
    index_defs text[];
    trigger_defs text[];
    pk_name text;
    pk_def text;
    d text;
    lo timestamptz;
    hi timestamptz;
    n bigint;
    made bigint;
BEGIN
    IF period IS NULL OR period NOT IN ('daily', 'monthly') THEN
        RAISE EXCEPTION 'partitioning must be daily or monthly, got %', coalesce(period, 'null');
    END IF;
    IF current = period THEN
        RETURN;
    END IF;
    IF current <> 'none' THEN
        RAISE EXCEPTION 'the tables are already partitioned %; changing the period is not supported', current;
    END IF;
    UPDATE pipetel_settings SET partitioning = period, updated_at = now();
    FOREACH t IN ARRAY ARRAY['pipeline_logs', 'pipeline_spans', 'pipeline_metrics'] LOOP
        old := t || '_unpartitioned';
        col := pipetel_time_column(t);
        EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE', t);
        SELECT array_agg(pg_get_indexdef(i.indexrelid)) INTO index_defs
          FROM pg_index i WHERE i.indrelid = t::regclass AND NOT i.indisprimary;
        SELECT conname, pg_get_constraintdef(oid) INTO pk_name, pk_def
          FROM pg_constraint WHERE conrelid = t::regclass AND contype = 'p';
        SELECT array_agg(pg_get_triggerdef(oid)) INTO trigger_defs
          FROM pg_trigger WHERE tgrelid = t::regclass AND NOT tgisinternal;
        EXECUTE format('ALTER TABLE %I RENAME TO %I', t, old);
        EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS) PARTITION BY RANGE (%I)',
            t, old, col);
        EXECUTE format('SELECT min(%1$I), max(%1$I) FROM %2$I', col, old) INTO lo, hi;
        -- Partitions for the rows there are (one per period that holds any) and premake ahead.
        SELECT count(*) INTO made FROM pipetel_ensure_partitions(t, now(), now() + step * premake);
        IF lo IS NOT NULL THEN
            EXECUTE format(
                'SELECT count(*) FROM (SELECT DISTINCT date_trunc(%L, %I, %L) AS p FROM %I) periods, pipetel_ensure_partitions(%L, p, p)',
                CASE period WHEN 'daily' THEN 'day' ELSE 'month' END, col, 'UTC', old, t) INTO n;
            made := made + n;
        END IF;
        EXECUTE format('INSERT INTO %I SELECT * FROM %I', t, old);
        GET DIAGNOSTICS n = ROW_COUNT;
        EXECUTE format('DROP TABLE %I', old);
        EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I %s', t, pk_name, pk_def);
        FOREACH d IN ARRAY coalesce(index_defs, '{}') LOOP
            EXECUTE d;
        END LOOP;
        FOREACH d IN ARRAY coalesce(trigger_defs, '{}') LOOP
            EXECUTE d;
        END LOOP;
        RETURN NEXT format('%s: partitioned %s on %s, %s rows moved into %s partitions', t, period, col, n, made);
    END LOOP;
END
$$;
