/* imcheck--1.1--1.2.sql: who may read the statistics and the progress */

\echo Use "ALTER EXTENSION imcheck UPDATE TO '1.2'" to load this file. \quit

-- Like PostgreSQL's own statistics of other sessions: superusers and
-- members of pg_read_all_stats.  They hold no secret, but UserID counts,
-- backend pids and when checks ran; the functions and the views agree.
REVOKE ALL ON FUNCTION imcheck_stats() FROM PUBLIC;
REVOKE ALL ON FUNCTION imcheck_progress() FROM PUBLIC;
REVOKE ALL ON imcheck_stats, imcheck_progress FROM PUBLIC;
GRANT EXECUTE ON FUNCTION imcheck_stats(), imcheck_progress() TO pg_read_all_stats;
GRANT SELECT ON imcheck_stats, imcheck_progress TO pg_read_all_stats;
