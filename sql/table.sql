--
-- table: CALL im_account_check_table(), the checks one session can make
-- (test/table runs the ones that need a second session, a big table or
-- a stop in the middle).
--
SELECT imsim_config('{"faults": {}, "fault_budget": -1, "fault_api": ""}');

-- 240 IDs, two NULLs, a repeat, an empty ID, one of 33 bytes (the API
-- answers both with a per-item error) and one too long for imcheck to send
CREATE TABLE tc_users (id text, name text);
INSERT INTO tc_users SELECT 'tc' || g, 'user ' || g FROM generate_series(1, 240) g;
INSERT INTO tc_users VALUES (NULL, 'null 1'), (NULL, 'null 2'), ('tc5', 'a repeat'),
  ('', 'empty'), (repeat('x', 32) || '7', '33 bytes'), (repeat('y', 5000), 'too long');
SELECT imsim_reset();
CALL im_account_check_table('tc_users', 'id', 'tc_status');
SELECT (imsim_stats()->>'calls')::int AS calls, (imsim_stats()->>'items')::int AS ids_sent;

-- the target was created; each distinct ID sent has the row
-- im_account_check gives it
\d tc_status
SELECT count(*) AS differing
  FROM tc_status s
  FULL JOIN im_account_check(ARRAY(SELECT DISTINCT id FROM tc_users
                                    WHERE octet_length(id) <= 4096)) c USING (user_id)
 WHERE s.user_id IS NULL OR c.user_id IS NULL
    OR s.result_code <> c.result_code OR s.account_status IS DISTINCT FROM c.account_status
    OR s.result_info <> c.result_info;
SELECT result_code, account_status, count(*) FROM tc_status GROUP BY 1, 2 ORDER BY 1, 2;
SELECT source, id_column, target, state, error, ids_done, ids_skipped, ids_failed,
       ids_too_long, null_ids, calls, retries, left(last_key, 8) AS last_key, resumed, run_by,
       finished >= started AS finished_after_start
  FROM imcheck_table_runs;

-- max_age: only what is older is checked again
UPDATE tc_status SET checked_at = now() - interval '2 days' WHERE user_id IN ('tc1', 'tc2', 'tc3');
SELECT imsim_reset();
CALL im_account_check_table('tc_users', 'id', 'tc_status', max_age => interval '1 day');
SELECT (imsim_stats()->>'calls')::int AS calls, (imsim_stats()->>'items')::int AS ids_sent;
SELECT count(*) AS old_rows FROM tc_status WHERE checked_at < now() - interval '1 day';
SELECT max_age, state, ids_done, ids_skipped, ids_too_long, null_ids, calls
  FROM imcheck_table_runs ORDER BY run_id DESC LIMIT 1;

-- a view as the source, keys that are not text, several chunks
CREATE VIEW tc_even AS SELECT id AS uid FROM tc_users WHERE id ~ '^tc[0-9]*[02468]$';
CALL im_account_check_table('tc_even', 'uid', 'tc_even_status');
SELECT count(*), bool_and(account_status = 'Imported') AS all_imported FROM tc_even_status;
CREATE TABLE tc_numbers (n bigint PRIMARY KEY);
INSERT INTO tc_numbers SELECT g FROM generate_series(1, 250) g;
SELECT imsim_reset();
CALL im_account_check_table('tc_numbers', 'n', 'tc_number_status', chunk_size => 100);
SELECT (imsim_stats()->>'calls')::int AS calls;
SELECT count(*), count(DISTINCT user_id), min(user_id::int), max(user_id::int),
       count(*) FILTER (WHERE account_status = 'Imported') AS imported
  FROM tc_number_status;
SELECT last_key, ids_done, calls, chunk_size FROM imcheck_table_runs WHERE target = 'public.tc_number_status';
-- a second run with the same arguments after a finished one starts anew
CALL im_account_check_table('tc_numbers', 'n', 'tc_number_status', chunk_size => 100);
SELECT count(*) AS runs, sum(ids_done) AS ids_done, bool_and(state = 'finished') AS finished
  FROM imcheck_table_runs WHERE target = 'public.tc_number_status';

-- what is wrong is said before any call
SELECT imsim_reset();
CREATE TABLE tc_points (p point);
CREATE TABLE tc_extra (user_id text PRIMARY KEY, result_code int NOT NULL, account_status text,
                       result_info text, checked_at timestamptz NOT NULL, note text);
CREATE TABLE tc_short (user_id text PRIMARY KEY, result_code int NOT NULL, account_status text,
                       checked_at timestamptz NOT NULL);
CREATE TABLE tc_bigint (user_id text PRIMARY KEY, result_code bigint NOT NULL, account_status text,
                        result_info text, checked_at timestamptz NOT NULL);
CREATE TABLE tc_nokey (user_id text, result_code int NOT NULL, account_status text,
                       result_info text, checked_at timestamptz NOT NULL);
CALL im_account_check_table('tc_nope', 'id', 'tc_status');
CALL im_account_check_table('tc_users', 'nope', 'tc_status');
CALL im_account_check_table('tc_users', 'ctid', 'tc_status');
CALL im_account_check_table('tc_points', 'p', 'tc_status');
CALL im_account_check_table('tc_users', 'id', 'tc_extra');
CALL im_account_check_table('tc_users', 'id', 'tc_short');
CALL im_account_check_table('tc_users', 'id', 'tc_bigint');
CALL im_account_check_table('tc_users', 'id', 'tc_nokey');
CALL im_account_check_table('tc_users', 'id', 'tc_even');
CALL im_account_check_table('tc_status_seq', 'id', 'tc_status');
CALL im_account_check_table(NULL, 'id', 'tc_status');
CALL im_account_check_table('tc_users', 'id', 'tc_status', chunk_size => 10);
CALL im_account_check_table('tc_users', 'id', 'tc_status', max_age => interval '-1 hour');
BEGIN;
CALL im_account_check_table('tc_users', 'id', 'tc_status');
ROLLBACK;
CREATE FUNCTION tc_in_function() RETURNS void LANGUAGE plpgsql AS
$$ BEGIN CALL im_account_check_table('tc_users', 'id', 'tc_status'); END $$;
SELECT tc_in_function();
SELECT (imsim_stats()->>'calls')::int AS calls_made;

-- names reach SQL only resolved and quoted: a quote, a semicolon, a second
-- statement in each argument run nothing and drop nothing
CREATE TABLE tc_victim (x int);
CALL im_account_check_table('tc_users; DROP TABLE tc_victim', 'id', 'tc_status');
CALL im_account_check_table('tc_users"; DROP TABLE tc_victim; --', 'id', 'tc_status');
CALL im_account_check_table($$tc_users' ; DROP TABLE tc_victim; --$$, 'id', 'tc_status');
CALL im_account_check_table('tc_users', 'id; DROP TABLE tc_victim', 'tc_status');
CALL im_account_check_table('tc_users', 'id" FROM tc_users; DROP TABLE tc_victim; --', 'tc_status');
CALL im_account_check_table('tc_users', 'id', 'tc_t; DROP TABLE tc_victim');
CALL im_account_check_table('tc_users', 'id', $$tc_t'); DROP TABLE tc_victim; --$$);
SELECT count(*) AS victim_still_there FROM tc_victim;
-- a quoted name is a name, however odd: the table is made with that name
CALL im_account_check_table('tc_numbers', 'n', '"tc_t; DROP TABLE tc_victim"');
SELECT count(*) AS victim_still_there FROM tc_victim;
SELECT count(*) FROM "tc_t; DROP TABLE tc_victim";
-- a column whose name holds a quote
CREATE TABLE tc_quoted ("i""d" text);
INSERT INTO tc_quoted VALUES ('q1'), ('q2');
CALL im_account_check_table('tc_quoted', 'i"d', 'tc_quoted_status');
SELECT user_id, account_status FROM tc_quoted_status ORDER BY 1;

-- a hostile search_path: every function and operator is schema-qualified
CREATE SCHEMA tc_evil;
CREATE FUNCTION tc_evil.hijack(text, text) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN RAISE EXCEPTION 'hijacked'; END $$;
CREATE OPERATOR tc_evil.> (LEFTARG = text, RIGHTARG = text, FUNCTION = tc_evil.hijack);
CREATE OPERATOR tc_evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = tc_evil.hijack);
CREATE FUNCTION tc_evil.hijack_time(timestamptz, timestamptz) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN RAISE EXCEPTION 'hijacked'; END $$;
CREATE OPERATOR tc_evil.>= (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = tc_evil.hijack_time);
CREATE FUNCTION tc_evil.clock_timestamp() RETURNS timestamptz LANGUAGE sql AS $$ SELECT 'epoch'::timestamptz $$;
CREATE FUNCTION tc_evil.unnest(text[]) RETURNS SETOF text LANGUAGE plpgsql AS
$$ BEGIN RAISE EXCEPTION 'hijacked'; END $$;
SET search_path = tc_evil, pg_catalog, public;
CALL im_account_check_table('tc_users', 'id', 'tc_status', max_age => interval '1 hour', chunk_size => 100);
CALL im_account_check_table('tc_users', 'id', 'tc_evil_status', chunk_size => 100);
RESET search_path;
SELECT count(*), min(checked_at) > '2000-01-01' AS real_times FROM tc_evil.tc_evil_status;

-- EXECUTE is the administrator's to grant; then SELECT on the source and
-- SELECT, INSERT, UPDATE on the target are enough
CREATE ROLE tc_checker;
SET ROLE tc_checker;
CALL im_account_check_table('tc_users', 'id', 'tc_status');
RESET ROLE;
GRANT EXECUTE ON PROCEDURE im_account_check_table(text, text, text, interval, integer) TO tc_checker;
SET ROLE tc_checker;
CALL im_account_check_table('tc_users', 'id', 'tc_status');
RESET ROLE;
GRANT SELECT ON tc_users TO tc_checker;
SET ROLE tc_checker;
CALL im_account_check_table('tc_users', 'id', 'tc_status');
RESET ROLE;
GRANT SELECT, INSERT, UPDATE ON tc_status TO tc_checker;
SET ROLE tc_checker;
CALL im_account_check_table('tc_users', 'id', 'tc_status', chunk_size => 100);
-- a role sees its own runs only
SELECT count(*) AS runs_seen, bool_and(run_by = 'tc_checker') AS own FROM imcheck_table_runs;
SELECT count(*) FROM imcheck_table_run;
RESET ROLE;

-- the runs of a role dropped since stay, with no name
DROP OWNED BY tc_checker;
DROP ROLE tc_checker;
SELECT count(*) AS runs, count(run_by) AS named FROM imcheck_table_runs;
DROP SCHEMA tc_evil CASCADE;
DROP TABLE tc_users, tc_status, tc_even_status, tc_numbers, tc_number_status, tc_points,
  tc_extra, tc_short, tc_bigint, tc_nokey, tc_victim, "tc_t; DROP TABLE tc_victim",
  tc_quoted, tc_quoted_status CASCADE;
DROP FUNCTION tc_in_function();
