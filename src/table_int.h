/*
 * table_int.h - CALL im_account_check_table(): every UserID of a table
 * column checked into a status table, a transaction per chunk.
 *
 * table_check.c walks the source and feeds the engine; table_target.c
 * resolves what the procedure is given (names, the target's shape, the
 * caller's privileges) and keeps the runs (imcheck_table_run, its lock).
 */
#ifndef IMCHECK_TABLE_INT_H
#define IMCHECK_TABLE_INT_H

#include "datatype/timestamp.h"
#include "fmgr.h"

/* the columns of a target, in the order imcheck creates them */
#define TARGET_COLUMNS 5

/* The relations a run reads and writes, resolved and checked. */
typedef struct table_names
{
	Oid			source;
	char	   *source_name;	/* schema-qualified and quoted */
	AttrNumber	id_attnum;
	char	   *id_column;		/* quoted */
	Oid			id_type;
	Oid			id_collation;
	char	   *id_greater;		/* OPERATOR(schema.>) of the column's type */
	Oid			target;
	char	   *target_name;	/* schema-qualified and quoted */
	bool		target_created;
	char	   *runs_name;		/* the extension's imcheck_table_run, qualified */
	Oid			runs_owner;
} table_names;

/*
 * Resolves source, id_column and target (creating a missing target), and
 * checks them and the caller's privileges: raises an ERROR naming what is
 * wrong.  procedure: the procedure's own OID (its schema is the
 * extension's).
 */
extern void table_resolve(const char *source, const char *id_column, const char *target,
						  Oid procedure, table_names *names);

/* One run's row in imcheck_table_run, as the procedure keeps it. */
typedef struct table_run
{
	int64		run_id;
	bool		resumed;
	TimestampTz cutoff;			/* IDs checked since are not checked again */
	char	   *last_key;		/* every distinct ID up to it is stored; NULL: none yet */
	int64		ids_done;		/* stored by the run */
	int64		ids_skipped;	/* fresh enough, or stored before a stop */
	int64		ids_failed;		/* stored with a non-zero code */
	int64		ids_too_long;	/* not sent: over imcheck's limit */
	int64		calls;
	int64		retries;
	int64		null_ids;
} table_run;

/*
 * Takes the target's run lock, a session advisory lock: a second run on it
 * is refused at once (55P03).
 */
extern void table_run_lock(const table_names *names);

/*
 * Finds the stopped run to continue (same source, column and max_age) or
 * starts a new one; the caller holds the run lock.
 */
extern void table_run_begin(const table_names *names, const Interval *max_age,
							int32 chunk_size, table_run *run);

/* Writes the run's progress (state 'running'); the caller commits. */
extern void table_run_save(const table_names *names, const table_run *run);

/* Marks the run finished (or failed, with the error's text). */
extern void table_run_end(const table_names *names, const table_run *run,
						  const char *error);

/* Releases the run lock of the target, if this session holds it. */
extern void table_run_unlock(Oid target);

#endif							/* IMCHECK_TABLE_INT_H */
