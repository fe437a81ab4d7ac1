--
-- cancel: statement_timeout stops a stalled call with PostgreSQL's own error
--
SELECT imsim_reset();
SELECT imsim_config('{"faults": {"stall": 1}, "fault_budget": -1, "stall_ms": 3000}');
SET statement_timeout = '300ms';
SELECT * FROM im_account_check(ARRAY(SELECT 's' || g FROM generate_series(1, 500) g));
RESET statement_timeout;
SELECT imsim_config('{"faults": {}}');
-- the same session goes on working
SELECT count(*) FILTER (WHERE account_status = expected_status(user_id)) AS right_rows
  FROM im_account_check(ARRAY(SELECT 's' || g FROM generate_series(1, 500) g));

-- cancel during a backoff sleep
SELECT imsim_config('{"faults": {"code70500": 1}, "fault_budget": -1}');
SET imcheck.max_retries = 10;
SET statement_timeout = '500ms';
SELECT * FROM im_account_check(ARRAY['b1']);
RESET statement_timeout;
RESET imcheck.max_retries;
SELECT imsim_config('{"faults": {}}');

-- inside a transaction with savepoints and in PL/pgSQL EXCEPTION blocks
BEGIN;
SAVEPOINT s1;
SET LOCAL statement_timeout = '300ms';
SELECT imsim_config('{"faults": {"stall": 1}}');
SELECT * FROM im_account_check(ARRAY['tx1']);
ROLLBACK TO s1;
SELECT imsim_config('{"faults": {}}');
SELECT user_id, account_status FROM im_account_check(ARRAY['tx2']);
COMMIT;
DO $$
BEGIN
    PERFORM imsim_config('{"faults": {"code70403": 1}}');
    BEGIN
        PERFORM * FROM im_account_check(ARRAY['e1']);
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE NOTICE 'caught: %', SQLERRM;
    END;
    PERFORM imsim_config('{"faults": {}}');
    RAISE NOTICE 'then: %', (SELECT account_status FROM im_account_check(ARRAY['e2']));
END $$;
