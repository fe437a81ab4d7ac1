--
-- setup: the extension, and helpers that drive imsim (the API simulator
-- the cluster is configured for) from SQL.
--
CREATE EXTENSION imcheck;
SELECT extname, extversion FROM pg_extension WHERE extname = 'imcheck';

-- Calls imsim's control API with curl, run by the server (superuser only).
CREATE FUNCTION imsim(method text, path text, body text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    cmd text;
    result text;
BEGIN
    cmd := format('curl -sS --max-time 10 -X %s %s', method,
                  current_setting('imcheck.endpoint') || path);
    IF body IS NOT NULL THEN
        cmd := cmd || ' -H ''Content-Type: application/json'' --data-binary '''
               || replace(body, '''', '''\''''') || '''';
    END IF;
    IF to_regclass('pg_temp.imsim_reply') IS NULL THEN
        CREATE TEMP TABLE imsim_reply (line text);
    END IF;
    TRUNCATE imsim_reply;
    EXECUTE format('COPY imsim_reply FROM PROGRAM %L WITH (FORMAT csv, QUOTE %L, DELIMITER %L)',
                   cmd, E'\x01', E'\x02');
    SELECT string_agg(line, '') INTO result FROM imsim_reply;
    RETURN result::jsonb;
END $$;

CREATE FUNCTION imsim_stats() RETURNS jsonb
LANGUAGE sql AS $$ SELECT imsim('GET', '/_imsim/stats') $$;

CREATE FUNCTION imsim_reset() RETURNS void
LANGUAGE sql AS $$ SELECT imsim('POST', '/_imsim/stats/reset', '{}'); $$;

-- Sets imsim's faults (and other settings) for the next calls.
CREATE FUNCTION imsim_config(config jsonb) RETURNS void
LANGUAGE sql AS $$ SELECT imsim('POST', '/_imsim/config', config::text); $$;

-- imsim's built-in rule (test/imsim/README.md): Imported iff the UserID
-- ends in a decimal number (its last 18 digits) that is even.
CREATE FUNCTION expected_status(id text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN coalesce(substring(id from '([0-9]{1,18})$')::bigint % 2 = 0, false)
                THEN 'Imported' ELSE 'NotImported' END
$$;

SELECT imsim_config('{"faults": {}, "fault_budget": -1}');
SELECT imsim_reset();
SELECT (imsim_stats()->>'calls')::int AS calls_after_reset;

-- An error's fields as a row (none when the query succeeds), the ports of
-- the test servers and a failed call's random masked: they change from run
-- to run, and hints name the base URL calls go to.
CREATE FUNCTION error_of(query text)
RETURNS TABLE (state text, message text, detail text, hint text)
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE query;
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                          detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
  detail := regexp_replace(detail, '(127\.0\.0\.1|localhost):[0-9]+', '\1:PORT', 'g');
  hint := regexp_replace(hint, '(127\.0\.0\.1|localhost):[0-9]+', '\1:PORT', 'g');
  -- and the random of a failed call, which changes from call to call
  detail := regexp_replace(detail, ' \(random [0-9]+\)$', ' (random N)');
  RETURN NEXT;
END
$$;
