/* imcheck--1.0.sql */

\echo Use "CREATE EXTENSION imcheck" to load this file. \quit

CREATE FUNCTION im_account_check(user_ids text[], raise_on_error boolean DEFAULT true)
RETURNS TABLE (user_id text, result_code integer, account_status text, result_info text)
AS 'MODULE_PATHNAME', 'im_account_check'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL RESTRICTED
COST 10000 ROWS 1000;

COMMENT ON FUNCTION im_account_check(text[], boolean) IS
'asks the Tencent Cloud Chat account_check API whether each UserID has been imported; one row per element, in input order';

-- Calls spend the app's API quota and use its admin credential: an
-- administrator grants EXECUTE to the roles that may do that.
REVOKE ALL ON FUNCTION im_account_check(text[], boolean) FROM PUBLIC;
