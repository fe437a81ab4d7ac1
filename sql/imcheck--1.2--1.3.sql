/* imcheck--1.2--1.3.sql: multiaccount_import and query_online_status; statistics and progress per API */

\echo Use "ALTER EXTENSION imcheck UPDATE TO '1.3'" to load this file. \quit

CREATE FUNCTION im_account_import(user_ids text[], nicks text[] DEFAULT NULL,
                                  face_urls text[] DEFAULT NULL,
                                  raise_on_error boolean DEFAULT true)
RETURNS TABLE (user_id text, result_code integer, result_info text)
AS 'MODULE_PATHNAME', 'im_account_import'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL RESTRICTED
COST 10000 ROWS 1000
SUPPORT im_account_check_support;

COMMENT ON FUNCTION im_account_import(text[], text[], text[], boolean) IS
'imports the accounts into Tencent Cloud Chat with the multiaccount_import API (the Nick and FaceUrl of existing ones are overwritten); one row per element, in input order';

CREATE FUNCTION im_query_online_status(user_ids text[], raise_on_error boolean DEFAULT true)
RETURNS TABLE (user_id text, result_code integer, status text, detail jsonb)
AS 'MODULE_PATHNAME', 'im_query_online_status'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL RESTRICTED
COST 10000 ROWS 1000
SUPPORT im_account_check_support;

COMMENT ON FUNCTION im_query_online_status(text[], boolean) IS
'asks the Tencent Cloud Chat query_online_status API whether each account is online, and on which platforms; one row per element, in input order';

-- Like im_account_check: an administrator grants EXECUTE.  im_account_import
-- changes the app's data.
REVOKE ALL ON FUNCTION im_account_import(text[], text[], text[], boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION im_query_online_status(text[], boolean) FROM PUBLIC;

-- The counters and the progress gain the API they are of.
DROP VIEW imcheck_stats;
DROP FUNCTION imcheck_stats();
CREATE FUNCTION imcheck_stats(OUT api text, OUT name text, OUT value bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'imcheck_stats'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;
CREATE VIEW imcheck_stats AS SELECT * FROM imcheck_stats();

DROP VIEW imcheck_progress;
DROP FUNCTION imcheck_progress();
CREATE FUNCTION imcheck_progress(OUT pid integer, OUT started timestamptz,
                                 OUT user_ids bigint, OUT user_ids_done bigint,
                                 OUT calls bigint, OUT calls_in_flight integer,
                                 OUT api text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'imcheck_progress'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;
CREATE VIEW imcheck_progress AS SELECT * FROM imcheck_progress();

-- as in 1.2: superusers and members of pg_read_all_stats
REVOKE ALL ON FUNCTION imcheck_stats() FROM PUBLIC;
REVOKE ALL ON FUNCTION imcheck_progress() FROM PUBLIC;
REVOKE ALL ON imcheck_stats, imcheck_progress FROM PUBLIC;
GRANT EXECUTE ON FUNCTION imcheck_stats(), imcheck_progress() TO pg_read_all_stats;
GRANT SELECT ON imcheck_stats, imcheck_progress TO pg_read_all_stats;
