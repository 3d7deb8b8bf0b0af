-- A dry run of maintenance said "would premake daily partitions of … through …" for every table
-- every time, even when all those partitions existed. It now names the partitions it would create,
-- and says nothing when there are none, as the real run does.

-- The partitions of `parent` covering [first, last] under the current period: names and bounds
-- (names as in the seed: pipeline_logs_2026_11 monthly, pipeline_logs_2026_11_30 daily; UTC).
CREATE OR REPLACE FUNCTION pipetel_partition_periods(parent text, first timestamptz, last timestamptz)
RETURNS TABLE (name text, lower timestamptz, upper timestamptz)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    period text := (SELECT partitioning FROM pipetel_settings);
    unit text;
    step interval;
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
        RETURN NEXT;
        lower := upper;
    END LOOP;
END
$$;

-- As in 0004, over pipetel_partition_periods: the naming lives in one place.
CREATE OR REPLACE FUNCTION pipetel_ensure_partitions(parent text, first timestamptz, last timestamptz)
RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    p record;
BEGIN
    FOR p IN SELECT * FROM pipetel_partition_periods(parent, first, last) LOOP
        IF to_regclass(quote_ident(p.name)) IS NULL THEN
            PERFORM pg_advisory_xact_lock(hashtext('pipetel partition ' || p.name));
            IF to_regclass(quote_ident(p.name)) IS NULL THEN
                EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)', p.name, parent, p.lower, p.upper);
                IF parent IN ('pipeline_logs', 'pipeline_metrics') THEN
                    -- The seed's autovacuum settings, which a partitioned parent cannot hold.
                    EXECUTE format('ALTER TABLE %I SET (autovacuum_vacuum_scale_factor = 0.1, autovacuum_analyze_scale_factor = 0.05)', p.name);
                END IF;
                RETURN NEXT p.name;
            END IF;
        END IF;
    END LOOP;
END
$$;

-- monitoring_maintenance() of 0004 keeps everything but its premake lines of a dry run: it is
-- renamed and wrapped, so the rest of it is not written twice.
ALTER FUNCTION monitoring_maintenance(boolean, boolean) RENAME TO pipetel_maintenance_0004;

CREATE FUNCTION monitoring_maintenance(dry_run boolean DEFAULT false, drop_partitions boolean DEFAULT true)
RETURNS SETOF text
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT dry_run THEN
        RETURN QUERY SELECT * FROM pipetel_maintenance_0004(false, drop_partitions);
        RETURN;
    END IF;
    RETURN QUERY
        SELECT format('would create partition %s', p.name)
          FROM pipetel_settings s,
               unnest(ARRAY['pipeline_logs', 'pipeline_spans', 'pipeline_metrics']) t,
               LATERAL pipetel_partition_periods(t, now(),
                   now() + (CASE s.partitioning WHEN 'daily' THEN interval '1 day' ELSE interval '1 month' END) * s.premake) p
         WHERE s.partitioning <> 'none' AND to_regclass(quote_ident(p.name)) IS NULL;
    RETURN QUERY
        SELECT line FROM pipetel_maintenance_0004(true, drop_partitions) line
         WHERE line NOT LIKE 'would premake %';
END
$$;
