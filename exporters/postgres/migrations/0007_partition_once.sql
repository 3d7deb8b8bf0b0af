-- Converting to partitions is safe when several processes start at once on a fresh database (a
-- fleet, or a gateway and its workers): each register() found the tables unpartitioned and called
-- pipetel_partition_tables(); the second used to rename the partitioned table the first had just
-- made and fail on its partition names ("relation … already exists", a warning per process).
-- Now the conditional UPDATE of the settings row decides which one converts.
CREATE OR REPLACE FUNCTION pipetel_partition_tables(period text)
RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    current text;
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
    -- The settings row is the claim: a second process converting at the same time waits here for
    -- the first to commit, finds the row no longer 'none' and returns (or refuses another period)
    -- instead of renaming the table the first one just made.
    UPDATE pipetel_settings SET partitioning = period, updated_at = now() WHERE partitioning = 'none';
    IF NOT FOUND THEN
        current := (SELECT partitioning FROM pipetel_settings);
        IF current = period THEN
            RETURN;
        END IF;
        RAISE EXCEPTION 'the tables are already partitioned %; changing the period is not supported', current;
    END IF;
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
