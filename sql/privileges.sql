--
-- privileges: EXECUTE is granted, settings that decide where requests go or
-- reveal the credential are for superusers only
--
CREATE ROLE imcheck_analyst LOGIN;
SET ROLE imcheck_analyst;
SELECT * FROM im_account_check(ARRAY['a2']);
SHOW imcheck.secret_key;
SELECT current_setting('imcheck.secret_key');
SELECT count(*) FROM pg_settings WHERE name IN ('imcheck.secret_key', 'imcheck.usersig');
SHOW imcheck.proxy;
SELECT count(*) FROM pg_settings WHERE name = 'imcheck.proxy';
SET imcheck.proxy = 'http://127.0.0.1:3128';
SET imcheck.endpoint = 'http://127.0.0.1:1';
SET imcheck.sdkappid = '1';
SET imcheck.identifier = 'x';
SET imcheck.region = 'tokyo';
SET imcheck.ca_file = '/tmp/x';
SET imcheck.rate_limit = 1000;
SELECT set_config('imcheck.endpoint', 'http://127.0.0.1:1', false);
SET imcheck.secret_key = 'x';
SET imcheck.secret_key_file = '/tmp/x';
ALTER ROLE imcheck_analyst SET imcheck.endpoint = 'http://127.0.0.1:1';
ALTER ROLE imcheck_analyst SET imcheck.rate_limit = 1000;
-- the per-statement knobs are everyone's
SET imcheck.batch_size = 50;
SET imcheck.max_concurrency = 4;
SET imcheck.timeout = '5s';
SET imcheck.max_retries = 1;
RESET ROLE;

-- the credential can't be stored per role or database
ALTER ROLE imcheck_analyst SET imcheck.secret_key = 'x';
ALTER DATABASE contrib_regression SET imcheck.usersig = 'x';
ALTER ROLE imcheck_analyst SET imcheck.endpoint = 'http://127.0.0.1:1';

-- the superuser sees the settings but SHOW ALL hides the secrets
SELECT name FROM pg_settings WHERE name LIKE 'imcheck.%' ORDER BY 1;
SELECT count(*) FROM pg_show_all_settings() WHERE name IN ('imcheck.secret_key', 'imcheck.usersig');

-- after GRANT the analyst can check
GRANT EXECUTE ON FUNCTION im_account_check(text[], boolean) TO imcheck_analyst;
SET ROLE imcheck_analyst;
SELECT * FROM im_account_check(ARRAY['a2', 'a3']);
RESET ROLE;
REVOKE EXECUTE ON FUNCTION im_account_check(text[], boolean) FROM imcheck_analyst;
-- the statistics and progress: pg_read_all_stats, functions and views alike
SET ROLE imcheck_analyst;
SELECT count(*) FROM imcheck_stats();
SELECT count(*) FROM imcheck_stats;
SELECT count(*) FROM imcheck_progress();
SELECT count(*) FROM imcheck_progress;
RESET ROLE;
GRANT pg_read_all_stats TO imcheck_analyst;
SET ROLE imcheck_analyst;
SELECT count(*) > 0 AS counters FROM imcheck_stats();
SELECT count(*) > 0 AS counters FROM imcheck_stats;
SELECT count(*) >= 0 AS progress FROM imcheck_progress();
SELECT count(*) >= 0 AS progress FROM imcheck_progress;
RESET ROLE;
REVOKE pg_read_all_stats FROM imcheck_analyst;
DROP ROLE imcheck_analyst;
SELECT has_function_privilege('public', 'im_account_check(text[], boolean)', 'EXECUTE') AS public_can_execute;
