/* imcheck--1.0--1.1.sql: statistics, progress, version, planner support */

\echo Use "ALTER EXTENSION imcheck UPDATE TO '1.1'" to load this file. \quit

-- row estimates from the array's length when the planner can see it
CREATE FUNCTION im_account_check_support(internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'im_account_check_support'
LANGUAGE C STRICT;

ALTER FUNCTION im_account_check(text[], boolean) SUPPORT im_account_check_support;

-- the library's version (the extension's is in pg_extension.extversion)
CREATE FUNCTION imcheck_version()
RETURNS text
AS 'MODULE_PATHNAME', 'imcheck_version'
LANGUAGE C STRICT PARALLEL SAFE;

-- cumulative counters: for the whole cluster when the library is preloaded
CREATE FUNCTION imcheck_stats(OUT name text, OUT value bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'imcheck_stats'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

CREATE VIEW imcheck_stats AS SELECT * FROM imcheck_stats();

CREATE FUNCTION imcheck_reset_stats()
RETURNS void
AS 'MODULE_PATHNAME', 'imcheck_reset_stats'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;
REVOKE ALL ON FUNCTION imcheck_reset_stats() FROM PUBLIC;

-- the checks running now, in every session when the library is preloaded
CREATE FUNCTION imcheck_progress(OUT pid integer, OUT started timestamptz,
                                 OUT user_ids bigint, OUT user_ids_done bigint,
                                 OUT calls bigint, OUT calls_in_flight integer)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'imcheck_progress'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

CREATE VIEW imcheck_progress AS SELECT * FROM imcheck_progress();
