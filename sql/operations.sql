--
-- operations: version and upgrade, planner estimates, statistics, progress,
-- reload of the credential and endpoint
--
-- the versions: the extension's, the library's, and every upgrade path
SELECT extversion FROM pg_extension WHERE extname = 'imcheck';
SELECT imcheck_version();
CREATE SCHEMA upgrade_walk;
DROP EXTENSION imcheck;
CREATE EXTENSION imcheck VERSION '1.0' SCHEMA upgrade_walk;
SELECT extversion FROM pg_extension WHERE extname = 'imcheck';
SELECT count(*) FROM upgrade_walk.im_account_check(ARRAY['v1', 'v2']);
ALTER EXTENSION imcheck UPDATE TO '1.1';
SELECT extversion FROM pg_extension WHERE extname = 'imcheck';
SELECT upgrade_walk.imcheck_version();
SELECT count(*) FROM upgrade_walk.im_account_check(ARRAY['v1', 'v2']);
ALTER EXTENSION imcheck UPDATE TO '1.2';
SELECT extversion FROM pg_extension WHERE extname = 'imcheck';
SELECT count(*) FROM upgrade_walk.im_account_check(ARRAY['v1', 'v2']);
-- 1.2's statistics and progress, read by the new library before the update
SELECT name, value > 0 AS counted FROM upgrade_walk.imcheck_stats WHERE name IN ('checks', 'calls') ORDER BY name;
SELECT count(*) FROM upgrade_walk.imcheck_progress;
ALTER EXTENSION imcheck UPDATE TO '1.3';
SELECT extversion FROM pg_extension WHERE extname = 'imcheck';
SELECT count(*) FROM upgrade_walk.im_account_check(ARRAY['v1', 'v2']);
SELECT count(*) FROM upgrade_walk.im_account_import(ARRAY['v4']);
SELECT count(*) FROM upgrade_walk.im_query_online_status(ARRAY['v4', 'v5']);
SELECT api, name, value > 0 AS counted FROM upgrade_walk.imcheck_stats WHERE name IN ('checks', 'calls') ORDER BY api, name;
SELECT count(*) FROM upgrade_walk.imcheck_progress;
ALTER EXTENSION imcheck UPDATE TO '1.4';
SELECT extversion FROM pg_extension WHERE extname = 'imcheck';
-- the procedure finds its runs table in the extension's schema
CREATE TABLE walk_users AS SELECT 'w' || g AS id FROM generate_series(1, 3) g;
CALL upgrade_walk.im_account_check_table('walk_users', 'id', 'walk_status');
SELECT target, state, ids_done FROM upgrade_walk.imcheck_table_runs;
DROP TABLE walk_users, walk_status;
-- what the walk made is what CREATE EXTENSION makes: the functions' privileges
SELECT p.proname, has_function_privilege('public', p.oid, 'EXECUTE') AS public_may_call
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'upgrade_walk' AND p.proname LIKE 'im\_%' ORDER BY 1;
SELECT * FROM pg_extension_update_paths('imcheck') WHERE path IS NOT NULL ORDER BY 1, 2;
DROP EXTENSION imcheck;
DROP SCHEMA upgrade_walk;
CREATE EXTENSION imcheck;

-- the planner's row estimate is the array's length when it can see it
CREATE FUNCTION estimated_rows(query text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE plan json;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) ' || query INTO plan;
    RETURN (plan->0->'Plan'->>'Plan Rows')::bigint;
END $$;
SELECT estimated_rows($$SELECT * FROM im_account_check(ARRAY['a', 'b', 'c'])$$) AS constant;
SELECT estimated_rows($$SELECT * FROM im_account_check('{}'::text[])$$) AS empty;
CREATE TABLE planner_users AS SELECT 'pu' || g AS id FROM generate_series(1, 5000) g;
ANALYZE planner_users;
SELECT estimated_rows($$SELECT * FROM im_account_check(ARRAY(SELECT id FROM planner_users))$$) AS subquery;
-- the subquery's own estimate: about 1,111 of the 5,000 ids start with pu1
SELECT estimated_rows($$SELECT * FROM im_account_check(ARRAY(SELECT id FROM planner_users WHERE id LIKE 'pu1%'))$$)
       BETWEEN 200 AND 3000 AND
       estimated_rows($$SELECT * FROM im_account_check(ARRAY(SELECT id FROM planner_users WHERE id LIKE 'pu1%'))$$)
       <> 1000 AS filtered_subquery_sensible;
-- a parameter's value, in a custom plan
PREPARE estimate(text[]) AS SELECT * FROM im_account_check($1);
SELECT estimated_rows($$EXECUTE estimate(ARRAY['x', 'y', 'z', 'w'])$$) AS parameter;
DEALLOCATE estimate;
-- the join against a table is planned with the array's size
EXPLAIN (COSTS OFF)
SELECT u.id, c.account_status
  FROM planner_users u
  JOIN im_account_check(ARRAY['pu1', 'pu2']) AS c ON c.user_id = u.id;

-- cumulative statistics
SELECT imcheck_reset_stats();
SELECT imsim_reset();
SELECT imsim_config('{"faults": {"code70500": 1}, "fault_budget": 1}');
SET imcheck.max_concurrency = 1;
SELECT count(*) FROM im_account_check(ARRAY(SELECT 'st' || g FROM generate_series(1, 250) g));
SELECT imsim_config('{"faults": {"code70402": 1}, "fault_budget": 1}');
SELECT count(*) FROM im_account_check(ARRAY['st1'], false);
RESET imcheck.max_concurrency;
SELECT api, name, value FROM imcheck_stats
 WHERE value > 0 AND name <> 'rate_wait_ms' ORDER BY api, name;
SELECT has_function_privilege('public', 'imcheck_reset_stats()', 'EXECUTE') AS public_can_reset;

-- progress of a check running in another session
CREATE EXTENSION dblink;
SELECT imsim_config('{"faults": {}, "latency_ms": 200}');
SELECT dblink_connect('other', format('dbname=%s host=%s port=%s', current_database(),
                      current_setting('unix_socket_directories'), current_setting('port')));
SELECT dblink_send_query('other',
  $$SELECT count(*) FROM im_account_check(ARRAY(SELECT 'pr' || g FROM generate_series(1, 20000) g))$$);
SELECT pg_sleep(0.5);
SELECT count(*) AS running, min(user_ids) AS user_ids,
       bool_and(user_ids_done > 0 AND user_ids_done < user_ids) AS part_done,
       bool_and(calls_in_flight BETWEEN 1 AND 30) AS in_flight -- 100 calls/s x 200 ms, and a quarter
  FROM imcheck_progress WHERE pid <> pg_backend_pid();
SELECT * FROM dblink_get_result('other') AS t(n bigint);
SELECT dblink_disconnect('other');
SELECT count(*) AS running_after FROM imcheck_progress;
SELECT imsim_config('{"latency_ms": 0}');
DROP EXTENSION dblink;

-- a reload that changes the endpoint takes effect on the next call
SELECT imsim_reset();
SELECT count(*) FROM im_account_check(ARRAY['r1']);
SELECT current_setting('imcheck.endpoint') AS old_endpoint \gset
ALTER SYSTEM SET imcheck.endpoint = 'http://127.0.0.1:9';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SET imcheck.max_retries = 0;
SELECT user_id, result_code FROM im_account_check(ARRAY['r1'], false);
ALTER SYSTEM RESET imcheck.endpoint;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT user_id, result_code FROM im_account_check(ARRAY['r1'], false);
RESET imcheck.max_retries;
