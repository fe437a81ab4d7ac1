--
-- apis: im_account_import and im_query_online_status, on the engine that
-- carries im_account_check.  imsim's rules (test/imsim/README.md): an ID
-- beginning with 'reject' fails to import; an imported ID is Online when it
-- ends in 0, 4 or 8, PushOnline in 2 or 6, else Offline; not imported: 70107.
--
SELECT imsim('POST', '/_imsim/accounts/reset', '{}');
SELECT imsim_reset();

-- imsim's online rule, for the accounts that are imported
CREATE FUNCTION expected_online(id text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE right(id, 1) WHEN '0' THEN 'Online' WHEN '4' THEN 'Online' WHEN '8' THEN 'Online'
                             WHEN '2' THEN 'PushOnline' WHEN '6' THEN 'PushOnline'
                             ELSE 'Offline' END
$$;

-- the online status of imported (even) and not imported (odd) accounts
SELECT * FROM im_query_online_status(ARRAY['a10', 'a12', 'a13', 'a14', 'a16', 'a1x']);
SELECT imsim_stats()->'apis'->'query_online_status'->'calls' AS calls;

-- import: two new accounts, one the service refuses, one that exists
SELECT * FROM im_account_import(ARRAY['new1', 'reject-me', 'new3', 'a10']);
-- ... they are imported now, and online by the rule (1 and 3: Offline)
SELECT c.user_id, c.account_status, s.status, s.result_code
  FROM im_account_check(ARRAY['new1', 'reject-me', 'new3']) c
  JOIN im_query_online_status(ARRAY['new1', 'reject-me', 'new3']) s USING (user_id);

-- nicks and face_urls line up by position; NULL elements send none
SELECT * FROM im_account_import(ARRAY['n1', 'n2', 'n3'], ARRAY['Ann', NULL, 'Carl'],
                                ARRAY['https://x.invalid/a.png', NULL, NULL]);
SELECT * FROM im_account_import(ARRAY['n4'], face_urls => ARRAY['https://x.invalid/d.png']);

-- repeats: one row per element, each distinct ID sent once (the first
-- element's nick is the one sent)
SELECT imsim_reset();
SELECT * FROM im_account_import(ARRAY['d1', 'd2', 'd1', 'reject1', 'd1', 'reject1'],
                                ARRAY['first', 'x', 'second', 'y', 'third', 'z']);
SELECT imsim_stats()->'apis'->'multiaccount_import'->'items' AS items_sent;
SELECT * FROM im_query_online_status(ARRAY['a4', 'a5', 'a4', 'a4']);

-- batches: 100 per import call, 500 per online-status call; every row right
SELECT imsim_reset();
SELECT count(*) AS rows,
       count(*) FILTER (WHERE result_code = 0 AND result_info = '') AS imported,
       count(*) FILTER (WHERE result_code = -9 AND user_id LIKE 'reject%') AS refused
  FROM im_account_import(ARRAY(SELECT CASE WHEN g % 10 = 0 THEN 'reject' ELSE 'b' END || g
                               FROM generate_series(1, 250) g));
SELECT imsim_stats()->'apis'->'multiaccount_import'->'calls' AS import_calls;
SELECT count(*) AS rows,
       count(*) FILTER (WHERE s.user_id = 'o' || s.ord) AS in_order,
       count(*) FILTER (WHERE CASE WHEN right(s.user_id, 1) IN ('0','2','4','6','8')
                                   THEN s.result_code = 0 AND s.status = expected_online(s.user_id)
                                   ELSE s.result_code = 70107 AND s.status IS NULL AND s.detail IS NULL
                              END) AS right_answers
  FROM im_query_online_status(ARRAY(SELECT 'o' || g FROM generate_series(1, 1200) g))
       WITH ORDINALITY AS s(user_id, result_code, status, detail, ord);
SELECT imsim_stats()->'apis'->'query_online_status'->'calls' AS online_calls;
-- imcheck.batch_size is capped by each API's limit
SET imcheck.batch_size = 300;
SELECT imsim_reset();
SELECT count(*) FROM im_query_online_status(ARRAY(SELECT 'p' || g FROM generate_series(1, 900) g));
SELECT count(*) FROM im_account_import(ARRAY(SELECT 'q' || g FROM generate_series(1, 150) g));
SELECT imsim_stats()->'apis'->'query_online_status'->'calls' AS online_calls,
       imsim_stats()->'apis'->'multiaccount_import'->'calls' AS import_calls;
RESET imcheck.batch_size;

-- detail is jsonb
SELECT s.user_id, d->>'Platform' AS platform, d->>'Status' AS status
  FROM im_query_online_status(ARRAY['a20', 'a22', 'a23']) s
  LEFT JOIN LATERAL jsonb_array_elements(s.detail) d ON true ORDER BY 1;

-- input checks, before any call
SELECT imsim_reset();
SELECT * FROM error_of($$SELECT * FROM im_account_import(ARRAY['a', 'b'], ARRAY['only one'])$$);
SELECT * FROM error_of($$SELECT * FROM im_account_import(ARRAY['a'], NULL, ARRAY['x', 'y'])$$);
SELECT * FROM error_of($$SELECT * FROM im_account_import('{}'::text[], ARRAY['x'])$$);
SELECT * FROM error_of($$SELECT * FROM im_account_import(ARRAY['a'], ARRAY[repeat('n', 5000)])$$);
SELECT * FROM error_of($$SELECT * FROM im_account_import(ARRAY['a'], ARRAY[['x'], ['y']])$$);
SELECT * FROM error_of($$SELECT * FROM im_account_import(NULL)$$);
SELECT * FROM error_of($$SELECT * FROM im_account_import(ARRAY['a', NULL])$$);
SELECT * FROM error_of($$SELECT * FROM im_account_import(ARRAY['a'], raise_on_error => NULL)$$);
SELECT * FROM error_of($$SELECT * FROM im_query_online_status(ARRAY[['a'], ['b']])$$);
SELECT * FROM error_of($$SELECT * FROM im_query_online_status(ARRAY[repeat('u', 5000)])$$);
SELECT * FROM error_of($$SELECT * FROM im_query_online_status(NULL)$$);
SELECT count(*) FROM im_query_online_status('{}'::text[]);
SELECT count(*) FROM im_account_import('{}'::text[]);
SELECT imsim_stats()->'calls' AS calls;

-- a call that fails: raise, or rows carrying its code
SET imcheck.max_retries = 0;
SELECT imsim_config('{"faults": {"code70402": 1}, "fault_budget": 1}');
SELECT * FROM error_of($$SELECT * FROM im_query_online_status(ARRAY['e2', 'e3'])$$);
SELECT imsim_config('{"faults": {"code70402": 1}, "fault_budget": 1}');
SELECT * FROM im_query_online_status(ARRAY['e2', 'e3'], false);
SELECT imsim_config('{"faults": {"code70402": 1}, "fault_budget": 1}');
SELECT * FROM im_account_import(ARRAY['e4', 'e5'], raise_on_error => false);
-- transient codes of import are retried
RESET imcheck.max_retries;
SELECT imsim_config('{"faults": {"code70169": 1}, "fault_budget": 1}');
SELECT * FROM im_account_import(ARRAY['t1']);
SELECT imsim_config('{"faults": {"code70202": 1}, "fault_budget": 1}');
SELECT * FROM im_account_import(ARRAY['t2']);
-- only import calls draw faults: the check between them is untouched
SELECT imsim_config('{"faults": {"code70500": 1}, "fault_budget": 1, "fault_api": "multiaccount_import"}');
SELECT * FROM im_account_check(ARRAY['t1']);
SELECT * FROM im_account_import(ARRAY['t3']);
SELECT imsim_stats()->'faults' AS faults_since_reset,
       imsim_stats()->'apis'->'multiaccount_import'->'calls_by_code' AS import_answers;
SELECT imsim_config('{"faults": {}, "fault_budget": -1, "fault_api": ""}');

-- the account limit always raises, whatever raise_on_error says
SELECT imsim_config(jsonb_build_object('account_limit',
                    (imsim('GET', '/_imsim/config')->>'imported_by_api')::int));
SELECT * FROM error_of($$SELECT * FROM im_account_import(ARRAY['over1', 'over2'], raise_on_error => false)$$);
SELECT account_status FROM im_account_check(ARRAY['over1']);
SELECT imsim_config('{"account_limit": 0}');

-- statistics are kept per API
SELECT imcheck_reset_stats();
SELECT count(*) FROM im_query_online_status(ARRAY['s1', 's2']);
SELECT count(*) FROM im_account_import(ARRAY['s3']);
SELECT api, name, value FROM imcheck_stats
 WHERE name IN ('checks', 'calls', 'user_ids') AND value > 0 ORDER BY api, name;

-- the planner's row estimate is the array's length for these too
SELECT estimated_rows($$SELECT * FROM im_query_online_status(ARRAY['a', 'b', 'c'])$$) AS online,
       estimated_rows($$SELECT * FROM im_account_import(ARRAY['a', 'b'])$$) AS import;
