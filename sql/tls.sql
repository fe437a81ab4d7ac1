--
-- tls: HTTPS to imsim with a certificate from a CA of our own
--
SELECT set_config('imcheck.endpoint',
                  'https://localhost:' || current_setting('imcheck_test.https_port'), false) IS NOT NULL AS https_endpoint;
SET imcheck.max_retries = 0;
-- not trusted by default: the certificate's CA is not a system CA
\x on
SELECT * FROM error_of($$SELECT * FROM im_account_check(ARRAY['tls1', 'tls2'])$$);
\x off
-- trusted with imcheck.ca_file naming the CA
SELECT set_config('imcheck.ca_file', current_setting('imcheck_test.ca_file'), false) IS NOT NULL AS ca_file;
SELECT * FROM im_account_check(ARRAY['tls1', 'tls2']);
SELECT count(*) FILTER (WHERE account_status = expected_status(user_id)) AS right_rows
  FROM im_account_check(ARRAY(SELECT 'tls' || g FROM generate_series(1, 1000) g));
-- refused when the certificate doesn't name the host (it names localhost)
SELECT set_config('imcheck.endpoint',
                  'https://127.0.0.1:' || current_setting('imcheck_test.https_port'), false) IS NOT NULL AS by_address;
\x on
SELECT * FROM error_of($$SELECT * FROM im_account_check(ARRAY['tls1'])$$);
\x off
-- plain HTTP to the HTTPS port is not an answer
SELECT set_config('imcheck.endpoint',
                  'http://localhost:' || current_setting('imcheck_test.https_port'), false) IS NOT NULL AS plain_http;
SELECT user_id, result_code < 0 AS transport_failure, account_status
  FROM im_account_check(ARRAY['tls1'], false);
RESET imcheck.endpoint;
RESET imcheck.ca_file;
RESET imcheck.max_retries;
