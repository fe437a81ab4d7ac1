--
-- basic: round trips, batching, duplicates, input checks, special characters
--
SELECT imsim_reset();

-- the documented request/response round trip
SELECT * FROM im_account_check(ARRAY['UserID_1', 'UserID_2']);
SELECT imsim_stats()->'calls' AS calls, imsim_stats()->'items' AS items;

-- empty array: no rows, no call
SELECT imsim_reset();
SELECT count(*) FROM im_account_check('{}'::text[]);
SELECT imsim_stats()->'calls' AS calls;

-- 1, 100, 101, 250 and 10,000 IDs: every row right, ceil(n/100) calls
-- answered (a call the service refused for its rate limit, 60007, is
-- retried, so calls that were answered are what the batching decides)
CREATE FUNCTION check_n(n int, OUT rows bigint, OUT right_answers bigint,
                        OUT in_order boolean, OUT calls int)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM imsim_reset();
    SELECT count(*),
           count(*) FILTER (WHERE c.account_status = expected_status(c.user_id)
                              AND c.result_code = 0 AND c.result_info = ''),
           bool_and(c.user_id = 'u' || c.ord)
      INTO rows, right_answers, in_order
      FROM im_account_check(ARRAY(SELECT 'u' || g FROM generate_series(1, n) g))
           WITH ORDINALITY AS c(user_id, result_code, account_status, result_info, ord);
    calls := (imsim_stats()->'calls_by_code'->>'0')::int;
END $$;
SELECT n, c.* FROM unnest(ARRAY[1, 100, 101, 250, 10000]) AS n, LATERAL check_n(n) AS c;

-- batch size: 250 IDs in calls of 7
SET imcheck.batch_size = 7;
SELECT * FROM check_n(250);
RESET imcheck.batch_size;

-- duplicates: one row per element, each distinct ID sent once
SELECT imsim_reset();
SELECT ord, user_id, account_status
  FROM im_account_check(ARRAY['d2', 'd1', 'd2', 'd2', 'd1', 'd3'])
       WITH ORDINALITY AS c(user_id, result_code, account_status, result_info, ord);
SELECT imsim_stats()->'calls' AS calls, imsim_stats()->'items' AS items;
SELECT imsim_reset();
-- (imsim's rule: a UserID ending in an even number is imported)
SELECT count(*), count(DISTINCT user_id),
       count(*) FILTER (WHERE account_status = CASE substr(user_id, 2)::int % 2
                        WHEN 0 THEN 'Imported' ELSE 'NotImported' END) AS right_status
  FROM im_account_check(ARRAY(SELECT 'x' || (g % 150) FROM generate_series(1, 3000) g));
SELECT imsim_stats()->'calls' AS calls, imsim_stats()->'items' AS items,
       imsim_stats()->'repeated_ids' AS repeated_ids;

-- input errors come before any call
SELECT imsim_reset();
SELECT * FROM im_account_check(ARRAY['a', NULL, 'b']);
SELECT * FROM im_account_check(ARRAY[['a', 'b'], ['c', 'd']]);
SELECT * FROM im_account_check(NULL);
SELECT * FROM im_account_check(ARRAY['a'], NULL);
SELECT * FROM im_account_check(ARRAY[repeat('x', 5000)]);
SELECT imsim_stats()->'calls' AS calls;

-- special characters travel as correct JSON and come back on their rows
SELECT imsim_reset();
SELECT ord, user_id = input AS same_id, result_code, account_status = expected_status(input) AS right
  FROM (VALUES (ARRAY['quote"2', 'back\slash4', E'tab\t6', E'newline\n8', E'ctl\x01\x1f10',
                      'ünïcödé12', '用户14', 'emoji😀16', 'apos''18', '{"json":20}',
                      E'nul-ish\\u000022'])) v(a),
       LATERAL im_account_check(v.a) WITH ORDINALITY AS c(user_id, result_code, account_status, result_info, ord),
       LATERAL (SELECT v.a[ord]) AS i(input)
 ORDER BY ord;
SELECT imsim_stats()->'calls' AS calls;

-- per-item errors: empty and over-long UserIDs get the API's code
SELECT user_id, result_code, account_status, result_info <> '' AS has_info
  FROM im_account_check(ARRAY['', repeat('y', 32) || '', repeat('z', 33), 'ok2']);

-- the join from the README
CREATE TABLE users (id text PRIMARY KEY, name text);
INSERT INTO users SELECT 'user' || g, 'name ' || g FROM generate_series(1, 20) g;
SELECT u.id, c.account_status
  FROM users u
  JOIN im_account_check(ARRAY(SELECT id FROM users)) AS c ON c.user_id = u.id
 ORDER BY u.name LIMIT 4;
SELECT account_status, count(*)
  FROM im_account_check(ARRAY(SELECT id FROM users))
 GROUP BY 1 ORDER BY 1;
