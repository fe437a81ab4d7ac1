/* imcheck--1.3--1.4.sql: a whole table checked by a procedure that commits as it goes */

\echo Use "ALTER EXTENSION imcheck UPDATE TO '1.4'" to load this file. \quit

-- One row per run of im_account_check_table(), written by the procedure as
-- the extension's owner: callers need no privilege on it.  OIDs, not
-- regclass: pg_upgrade refuses reg* columns in tables.
CREATE TABLE imcheck_table_run (
    run_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_by       oid NOT NULL,
    source_oid   oid NOT NULL,
    source       text NOT NULL,
    id_column    text NOT NULL,
    target_oid   oid NOT NULL,
    target       text NOT NULL,
    max_age      interval,
    chunk_size   integer NOT NULL,
    cutoff       timestamptz NOT NULL,
    started      timestamptz NOT NULL,
    resumed      integer NOT NULL DEFAULT 0,
    last_resumed timestamptz,
    saved        timestamptz,
    finished     timestamptz,
    pid          integer,
    state        text NOT NULL CHECK (state IN ('running', 'finished', 'failed', 'abandoned')),
    error        text,
    last_key     text,
    ids_done     bigint NOT NULL DEFAULT 0,
    ids_skipped  bigint NOT NULL DEFAULT 0,
    ids_failed   bigint NOT NULL DEFAULT 0,
    ids_too_long bigint NOT NULL DEFAULT 0,
    null_ids     bigint,
    calls        bigint NOT NULL DEFAULT 0,
    retries      bigint NOT NULL DEFAULT 0
);
CREATE INDEX ON imcheck_table_run (target_oid, run_id);
REVOKE ALL ON imcheck_table_run FROM PUBLIC;

-- A run whose row says running but whose session no longer holds the run
-- lock (an advisory lock: classid 1768776552, objid the target's OID)
-- stopped without a word: terminated, crashed, or the server restarted.
-- Each role sees its own runs; members of pg_read_all_stats see all.
CREATE VIEW imcheck_table_runs WITH (security_barrier) AS
SELECT r.run_id, r.source, r.id_column, r.target, r.max_age, r.chunk_size,
       r.started, r.finished,
       CASE WHEN r.state <> 'running' THEN r.state
            WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_locks l
                         WHERE l.locktype = 'advisory' AND l.granted
                           AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d
                                             WHERE d.datname = pg_catalog.current_database())
                           AND l.classid = 1768776552::oid AND l.objid = r.target_oid
                           AND l.objsubid = 2 AND l.pid = r.pid)
            THEN 'running'
            ELSE 'stopped' END AS state,
       r.error, r.ids_done, r.ids_skipped, r.ids_failed, r.ids_too_long, r.null_ids,
       r.calls, r.retries, r.last_key, r.resumed, r.last_resumed, r.saved AS last_commit,
       ro.rolname AS run_by, r.pid
FROM imcheck_table_run r
LEFT JOIN pg_catalog.pg_roles ro ON ro.oid = r.run_by
WHERE pg_catalog.pg_has_role(r.run_by, 'USAGE')
   OR pg_catalog.pg_has_role('pg_read_all_stats', 'USAGE');
GRANT SELECT ON imcheck_table_runs TO PUBLIC;

COMMENT ON VIEW imcheck_table_runs IS
'the runs of im_account_check_table(): what each checks, how far it got, and how it ended';

CREATE PROCEDURE im_account_check_table(source text, id_column text, target text,
                                        max_age interval DEFAULT NULL,
                                        chunk_size integer DEFAULT 100000)
AS 'MODULE_PATHNAME', 'im_account_check_table'
LANGUAGE C;

COMMENT ON PROCEDURE im_account_check_table(text, text, text, interval, integer) IS
'checks every UserID of a table or view column with account_check and upserts the answers into a status table, committing after each chunk; continues a stopped run';

-- Like im_account_check: an administrator grants EXECUTE.
REVOKE ALL ON PROCEDURE im_account_check_table(text, text, text, interval, integer) FROM PUBLIC;
