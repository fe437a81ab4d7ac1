--
-- errors: whole-call failures from the API, retries, raise_on_error
--
-- helpers: the imsim answers of the last statement
CREATE FUNCTION calls() RETURNS int LANGUAGE sql
AS $$ SELECT (imsim_stats()->>'calls')::int $$;

SET imcheck.max_concurrency = 1;

-- a wrong SDKAppID (70020) always raises, and stops at once
SELECT imsim_reset();
SET imcheck.sdkappid = '1400000099';
SELECT * FROM error_of($$SELECT * FROM im_account_check(ARRAY(SELECT 'a' || g FROM generate_series(1, 250) g))$$);
SELECT * FROM error_of($$SELECT * FROM im_account_check(ARRAY(SELECT 'a' || g FROM generate_series(1, 250) g), raise_on_error => false)$$);
SELECT calls();
RESET imcheck.sdkappid;

-- an identifier that is not an App admin (70403)
SELECT imsim_reset();
SET imcheck.identifier = 'not_an_admin';
SELECT * FROM error_of($$SELECT * FROM im_account_check(ARRAY(SELECT 'a' || g FROM generate_series(1, 250) g), false)$$);
SELECT calls();
RESET imcheck.identifier;

-- a wrong secret key (70009), set as a DBA would: ALTER SYSTEM + reload
SELECT imsim_reset();
ALTER SYSTEM SET imcheck.secret_key = 'not-the-key';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT * FROM error_of($$SELECT * FROM im_account_check(ARRAY['a1', 'a2'])$$);
-- a key file that others could read is refused
ALTER SYSTEM RESET imcheck.secret_key;
ALTER SYSTEM SET imcheck.secret_key_file = '/etc/hostname';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT * FROM im_account_check(ARRAY['a1', 'a2']);
ALTER SYSTEM SET imcheck.secret_key_file = '/nonexistent/imcheck.key';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT * FROM im_account_check(ARRAY['a1', 'a2']);
-- a static UserSig that is not one fails before any call
ALTER SYSTEM SET imcheck.secret_key_file = '';
ALTER SYSTEM SET imcheck.usersig = 'not-a-usersig';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT * FROM im_account_check(ARRAY['a1', 'a2']);
-- neither key nor UserSig
ALTER SYSTEM RESET imcheck.usersig;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT * FROM im_account_check(ARRAY['a1', 'a2']);
ALTER SYSTEM RESET imcheck.secret_key_file;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT calls();
SELECT count(*) FROM im_account_check(ARRAY['a1', 'a2']);

-- an expired UserSig (70001) is renewed from the key once, and the call retried
SELECT imsim_reset();
SELECT imsim_config('{"faults": {"code70001": 1}, "fault_budget": 1}');
SELECT * FROM im_account_check(ARRAY['x1', 'x2']);
SELECT calls();
-- if the service still says so, it raises
SELECT imsim_config('{"faults": {"code70001": 1}, "fault_budget": -1}');
SELECT * FROM error_of($$SELECT * FROM im_account_check(ARRAY['x1', 'x2'], false)$$);
SELECT imsim_config('{"faults": {}}');

-- a static UserSig is checked before any call: the public one from the
-- TLSSigAPIv2 documentation names identifier "0" and has long expired
SELECT imsim_reset();
ALTER SYSTEM SET imcheck.secret_key_file = '';
ALTER SYSTEM SET imcheck.usersig = 'eJyrVgrxCdYrSy1SslIy0jNQ0gHzM1NS80oy0zLBwjDB4pTsxIKCzBQlK0MTAyiAyKRWFGQWpQLFTU1NjeCiJZm5YDEzS0tDAyOYaHFmOtBM54KsUqeUwGLLqPK8UndHryCL-Lx8-1RPy7Ty1AijMk9f30hLk0x-r3CvSFulWgAPYy*9';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT * FROM im_account_check(ARRAY['x1']);
SET imcheck.identifier = '0';
SELECT * FROM im_account_check(ARRAY['x1']);
SET imcheck.sdkappid = '1400000000';
SELECT * FROM im_account_check(ARRAY['x1']);
RESET imcheck.identifier;
RESET imcheck.sdkappid;
ALTER SYSTEM RESET imcheck.usersig;
ALTER SYSTEM RESET imcheck.secret_key_file;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT calls();

-- missing SDKAppID and a bad endpoint are named before any call
SELECT imsim_reset();
SET imcheck.sdkappid = '';
SELECT * FROM im_account_check(ARRAY['a1']);
RESET imcheck.sdkappid;
SET imcheck.endpoint = 'ftp://127.0.0.1:1';
SET imcheck.endpoint = 'http://127.0.0.1:1/?x=1';
SET imcheck.endpoint = 'http://127.0.0.1:1, ftp://127.0.0.1:2';
SET imcheck.endpoint = 'http://127.0.0.1:1,,http://127.0.0.1:2';
SET imcheck.endpoint = 'http://a:1,http://a:2,http://a:3,http://a:4,http://a:5,http://a:6,http://a:7,http://a:8,http://a:9';
-- a proxy's value is never quoted back: it may hold a password
SET imcheck.proxy = 'https://user:s3cret@127.0.0.1:3128';
SET imcheck.proxy = 'http://user:s3cret@127.0.0.1';
SET imcheck.proxy = 'http://user:s3cret@127.0.0.1:3128/path';
SELECT calls();

-- transient failures that recover: every row right, no error
SET imcheck.max_retries = 3;
SELECT imsim_reset();
SELECT imsim_config('{"faults": {"code70500": 1}, "fault_budget": 2}');
SELECT count(*) FILTER (WHERE account_status = expected_status(user_id)) AS right_rows
  FROM im_account_check(ARRAY(SELECT 'r' || g FROM generate_series(1, 150) g));
SELECT calls(), imsim_stats()->'faults' AS faults;
-- each kind of broken answer is retried the same way
SELECT kind, (SELECT count(*) FILTER (WHERE account_status = expected_status(user_id))
                FROM im_account_check(ARRAY(SELECT 'k' || g FROM generate_series(1, 150) g))) AS right_rows
  FROM (SELECT kind, imsim_config(jsonb_build_object('faults', jsonb_build_object(kind, 1), 'fault_budget', 1))
          FROM unnest(ARRAY['http502', 'code70169', 'code70202', 'code60008', 'code60014', 'reset',
                            'malformed', 'truncated', 'missing_item', 'extra_item']) AS kind) s;

-- the API's rate limit answers (60007) are retried after a pause
SELECT imsim_reset();
SELECT imsim_config('{"faults": {}, "fault_budget": -1, "rate_limit": 5}');
SET imcheck.max_concurrency = 16;
SET imcheck.batch_size = 10;
SELECT count(*) FILTER (WHERE account_status = expected_status(user_id)) AS right_rows
  FROM im_account_check(ARRAY(SELECT 'rl' || g FROM generate_series(1, 120) g));
SELECT (imsim_stats()->'calls_by_code'->>'60007')::int > 0 AS was_rate_limited;
SELECT imsim_config('{"rate_limit": 100}');
RESET imcheck.batch_size;
SET imcheck.max_concurrency = 1;

-- transient failures that don't recover: an error naming the code ...
SELECT imsim_reset();
SET imcheck.max_retries = 2;
SELECT imsim_config('{"faults": {"code70500": 1}, "fault_budget": -1}');
SELECT * FROM error_of($$SELECT * FROM im_account_check(ARRAY['t1', 't2'])$$);
SELECT calls();
-- ... or, without raise_on_error, rows carrying the call's code
SELECT * FROM im_account_check(ARRAY['t1', 't2', 't1'], raise_on_error => false);
SELECT imsim_config('{"faults": {"http502": 1}}');
SELECT * FROM im_account_check(ARRAY['t3'], false);
\x on
SELECT * FROM error_of($$SELECT * FROM im_account_check(ARRAY['t3'])$$);
\x off

-- only the failed calls' rows carry the error; the others are right
SELECT imsim_reset();
SET imcheck.batch_size = 10;
SET imcheck.max_retries = 0;
SELECT imsim_config('{"faults": {"code70169": 1}, "fault_budget": 2}');
SELECT result_code, account_status IS NOT DISTINCT FROM expected_status(user_id) AS right, count(*)
  FROM im_account_check(ARRAY(SELECT 'p' || g FROM generate_series(1, 50) g), false)
 GROUP BY 1, 2 ORDER BY 1, 2;
RESET imcheck.batch_size;

-- invalid parameters (70402) are not retried
SELECT imsim_reset();
SET imcheck.max_retries = 3;
SELECT imsim_config('{"faults": {"code70402": 1}, "fault_budget": -1}');
SELECT * FROM error_of($$SELECT * FROM im_account_check(ARRAY['q1'])$$);
SELECT * FROM im_account_check(ARRAY['q1'], false);
SELECT calls();

-- answers no retry can help: the domain not in the app's data centre
-- (60025, 60026), the request disabled (60017), the trial edition's calls
-- for the day spent (60028), too many failed UserSig checks (70050): each
-- raises at once with its SQLSTATE and hint, raise_on_error or not, after
-- one call
CREATE FUNCTION code_error(code int)
RETURNS TABLE (state text, message text, detail text, hint text, calls int)
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM imsim_reset();
  PERFORM imsim_config(format('{"faults": {"code%s": 1}, "fault_budget": -1}', code)::jsonb);
  SELECT e.state, e.message, e.detail, e.hint INTO state, message, detail, hint
    FROM error_of($q$SELECT * FROM im_account_check(ARRAY['c1', 'c2'], false)$q$) AS e;
  calls := calls();
  -- (the key file's name changes from run to run)
  hint := regexp_replace(hint, 'file "[^"]*"', 'file "KEYFILE"');
  RETURN NEXT;
END
$$;
\x on
SELECT code, e.* FROM unnest(ARRAY[60025, 60026, 60017, 60028, 70050]) AS code,
                      LATERAL code_error(code) AS e;
\x off
SELECT imsim_config('{"faults": {}, "fault_budget": -1}');

-- the service down: a connection error after the retries
SELECT imsim_config('{"faults": {}, "fault_budget": -1}');
SET imcheck.max_retries = 1;
SET imcheck.endpoint = 'http://127.0.0.1:9';
SELECT * FROM error_of($$SELECT * FROM im_account_check(ARRAY['z1'])$$);
SELECT user_id, result_code, account_status FROM im_account_check(ARRAY['z1'], false);
-- ... and a proxy that is down
RESET imcheck.endpoint;
SET imcheck.proxy = 'http://user:s3cret@127.0.0.1:9';
SELECT * FROM error_of($$SELECT * FROM im_account_check(ARRAY['z1'])$$);
RESET imcheck.proxy;
-- a first base URL that refuses connections: calls fail over to the next
SELECT imcheck_reset_stats();
SELECT set_config('imcheck.endpoint', 'http://127.0.0.1:9, ' || current_setting('imcheck.endpoint'), false) IS NOT NULL AS two_endpoints;
SELECT user_id, account_status FROM im_account_check(ARRAY['f1', 'f2', 'f1']);
SELECT value >= 1 AS failed_over FROM imcheck_stats WHERE api = 'account_check' AND name = 'failovers';
SELECT value AS failed_calls FROM imcheck_stats WHERE api = 'account_check' AND name = 'failed_calls';
RESET imcheck.endpoint;
RESET imcheck.max_retries;
RESET imcheck.max_concurrency;
SELECT count(*) FROM im_account_check(ARRAY['after1', 'after2']);
