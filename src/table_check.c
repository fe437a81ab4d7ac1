/*
 * table_check.c - CALL im_account_check_table(source, id_column, target,
 * max_age, chunk_size): every distinct UserID of a table or view column
 * checked with account_check and upserted into a status table, a
 * transaction per chunk (see table_int.h).
 *
 * One call's life here: the walk reads a chunk of chunk_size distinct IDs
 * in key order (a query of its own: keyset, no cursor across COMMITs) and
 * hands it to the engine a slice at a time (imcheck_feed).  Each slice's
 * answers are upserted as soon as they are all in; once every slice of a
 * chunk is stored, the run's row gets the chunk's last key and the
 * transaction commits.  The engine reads the next chunk when it has sent
 * the last slice of the one before, so the pipeline of calls never drains
 * at a chunk's end: a commit comes while the next chunk's calls are out.
 *
 * Continuing a stopped run: it starts after the last committed key, and
 * IDs stored at or after the run's cutoff (its start, less max_age) are
 * not sent again; those are the few stored past that key before the stop
 * (slices of the next chunk stored before the commit).
 */
#include "postgres.h"

#include "access/tupmacs.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "portability/instr_time.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "engine_int.h"
#include "table_int.h"

IMCHECK_SQL_FUNCTION(im_account_check_table);

#define DEFAULT_CHUNK_SIZE 100000
#define MIN_CHUNK_SIZE 100
/* a chunk's IDs are in memory twice while it is read: ~150 MB for short IDs */
#define MAX_CHUNK_SIZE 1000000

/* a slice is this many of the engine's batches */
#define SLICE_BATCHES 10

/* One chunk of the source: its IDs to send, as varlena elements. */
typedef struct table_chunk
{
	struct table_chunk *next;
	MemoryContext memory;
	char	   *data;
	uint32	   *offsets;
	uint32		n;				/* IDs to send */
	uint32		next_unsent;	/* the first ID not yet in a slice */
	int			slices_open;	/* given to the engine and not stored */
	char	   *last_key;		/* the text of its last key */
} table_chunk;

/* A slice of a chunk, the engine's job; its memory is its own. */
typedef struct table_slice
{
	imcheck_job job;			/* first: the engine hands it back as a job */
	table_chunk *chunk;
} table_slice;

/* One run of the procedure. */
typedef struct table_walk
{
	table_names names;
	table_run	run;
	imcheck_config cfg;
	int64		chunk_size;
	MemoryContext memory;		/* the run's: outlives its commits */
	MemoryContext commit_memory;	/* a commit's, reset after it */
	/*
	 * The queries that read the first chunk and the next after $1: planned
	 * for each chunk with its values (a generic plan would not know how
	 * many rows LIMIT $2 is)
	 */
	char	   *first_chunk;
	char	   *next_chunk;
	Oid			chunk_types[3];
	SPIPlanPtr	upsert;
	Datum		last_key;		/* the last key read (the column's type) */
	bool		have_last_key;
	bool		check_fresh;	/* leave out IDs checked since the cutoff */
	bool		locked;			/* the run lock is held */
	bool		source_ended;
	table_chunk *chunks;		/* read and not yet committed, oldest first */
	table_chunk *newest;
	uint32		slice_ids;
	Datum		status_texts[IMCHECK_STATUS_VALUES];	/* as im_account_check's */
	int16		key_typlen;
	bool		key_byval;
} table_walk;

/* Prepares sql (nargs of types) for the whole run. */
static SPIPlanPtr
prepare_kept(const char *sql, int nargs, Oid *types)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, types);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed (%d): %s", SPI_result, sql);
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	return plan;
}

static void
prepare_statements(table_walk *w)
{
	const table_names *n = &w->names;
	Oid			chunk_types[3] = {n->id_type, INT8OID, TIMESTAMPTZOID};
	Oid			upsert_types[4] = {TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID, TEXTARRAYOID};

	/*
	 * Whether an ID was checked since the cutoff: needed only when max_age
	 * is set or the run continues (a new run stored nothing yet).  A scalar
	 * subquery, not EXISTS: it stays a probe of the target's key per ID,
	 * where a semi-join could be planned as a scan of the whole target for
	 * every chunk.
	 */
	const char *fresh = w->check_fresh
		? psprintf("COALESCE((SELECT t.checked_at OPERATOR(pg_catalog.>=) $3 FROM %s AS t"
				   " WHERE t.user_id OPERATOR(pg_catalog.=) k.id::pg_catalog.text), false)",
				   n->target_name)
		: "false";
	const char *chunk_sql =
		"SELECT k.id, k.id::pg_catalog.text, %s"
		" FROM (SELECT DISTINCT s.%s AS id FROM %s AS s WHERE %s ORDER BY 1 LIMIT $2) AS k"
		" ORDER BY 1";

	memcpy(w->chunk_types, chunk_types, sizeof(chunk_types));
	w->first_chunk = psprintf(chunk_sql, fresh, n->id_column, n->source_name,
							  psprintf("s.%s IS NOT NULL", n->id_column));
	w->next_chunk = psprintf(chunk_sql, fresh, n->id_column, n->source_name,
							 psprintf("s.%s %s $1", n->id_column, n->id_greater));
	w->upsert = prepare_kept(psprintf("INSERT INTO %s AS t"
									  " (user_id, result_code, account_status, result_info, checked_at)"
									  " SELECT u.user_id, u.result_code, u.account_status, u.result_info,"
									  " pg_catalog.clock_timestamp()"
									  " FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2),"
									  " pg_catalog.unnest($3), pg_catalog.unnest($4))"
									  " AS u(user_id, result_code, account_status, result_info)"
									  " ON CONFLICT (user_id) DO UPDATE SET"
									  " result_code = excluded.result_code,"
									  " account_status = excluded.account_status,"
									  " result_info = excluded.result_info,"
									  " checked_at = excluded.checked_at", n->target_name),
							 4, upsert_types);
}

static void
free_statements(table_walk *w)
{
	if (w->upsert)
		SPI_freeplan(w->upsert);
	w->upsert = NULL;
}

/* Appends a UserID (text) to the chunk's elements. */
static void
add_id(table_chunk *c, uint32 *data_len, uint32 *data_cap, const text *id)
{
	Size		len = VARSIZE_ANY_EXHDR(id);
	Size		size = INTALIGN(VARHDRSZ + len);

	/* the engine finds an ID by a 32-bit offset (imcheck_int.h) */
	if ((uint64) *data_len + size > PG_UINT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a chunk of UserIDs is larger than 4 GB"),
				 errhint("Give a smaller chunk_size.")));
	while (*data_len + size > *data_cap)
	{
		*data_cap = (uint32) Min((uint64) *data_cap * 2, (uint64) PG_UINT32_MAX);
		c->data = repalloc_huge(c->data, *data_cap);
	}
	SET_VARSIZE(c->data + *data_len, VARHDRSZ + len);
	memcpy(VARDATA(c->data + *data_len), VARDATA_ANY(id), len);
	c->offsets[c->n++] = *data_len;
	*data_len += size;
}

/*
 * Reads the next chunk of the source after the last key (a new snapshot,
 * released when it returns) and queues it.  IDs stored since the cutoff
 * and IDs too long to send are counted and left out.
 */
static void
read_chunk(table_walk *w)
{
	Datum		args[3];
	char		nulls[3] = {' ', ' ', ' '};
	table_chunk *c;
	uint32		data_len = 0;
	uint32		data_cap = 64 * 1024;
	uint64		rows;
	int			rc;
	MemoryContext caller;

	args[0] = w->last_key;
	if (!w->have_last_key)
		nulls[0] = 'n';
	args[1] = Int64GetDatum(w->chunk_size);
	args[2] = TimestampTzGetDatum(w->run.cutoff);
	rc = SPI_execute_with_args(w->have_last_key ? w->next_chunk : w->first_chunk,
							   3, w->chunk_types, args, nulls, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed (%d) reading the source", rc);
	rows = SPI_processed;
	w->source_ended = rows < (uint64) w->chunk_size;

	c = MemoryContextAllocZero(w->memory, sizeof(table_chunk));
	c->memory = AllocSetContextCreate(w->memory, "imcheck chunk", ALLOCSET_DEFAULT_SIZES);
	c->data = MemoryContextAlloc(c->memory, data_cap);
	c->offsets = MemoryContextAlloc(c->memory, sizeof(uint32) * Max(rows, 1));
	/* an ID the source keeps toasted is detoasted into the chunk's memory */
	caller = MemoryContextSwitchTo(c->memory);
	for (uint64 i = 0; i < rows; i++)
	{
		HeapTuple	row = SPI_tuptable->vals[i];
		bool		isnull;
		text	   *id = DatumGetTextPP(SPI_getbinval(row, SPI_tuptable->tupdesc, 2, &isnull));
		bool		fresh = DatumGetBool(SPI_getbinval(row, SPI_tuptable->tupdesc, 3, &isnull));

		if (fresh)
			w->run.ids_skipped++;
		else if (VARSIZE_ANY_EXHDR(id) > IMCHECK_MAX_SENT_USERID_BYTES)
			w->run.ids_too_long++;
		else
			add_id(c, &data_len, &data_cap, id);
	}
	MemoryContextSwitchTo(caller);
	if (rows > 0)
	{
		HeapTuple	last = SPI_tuptable->vals[rows - 1];
		bool		isnull;

		caller = MemoryContextSwitchTo(w->memory);

		if (w->have_last_key && !w->key_byval)
			pfree(DatumGetPointer(w->last_key));
		w->last_key = datumCopy(SPI_getbinval(last, SPI_tuptable->tupdesc, 1, &isnull),
								w->key_byval, w->key_typlen);
		w->have_last_key = true;
		MemoryContextSwitchTo(c->memory);
		c->last_key = SPI_getvalue(last, SPI_tuptable->tupdesc, 2);
		MemoryContextSwitchTo(caller);
	}
	SPI_freetuptable(SPI_tuptable);

	if (w->newest)
		w->newest->next = c;
	else
		w->chunks = c;
	w->newest = c;
}

/* Upserts a slice's answers into the target (as the caller). */
static void
store_slice(table_walk *w, const imcheck_job *job)
{
	Datum	   *ids = palloc(sizeof(Datum) * job->n);
	Datum	   *codes = palloc(sizeof(Datum) * job->n);
	Datum	   *statuses = palloc(sizeof(Datum) * job->n);
	bool	   *status_nulls = palloc(sizeof(bool) * job->n);
	Datum	   *infos = palloc(sizeof(Datum) * job->n);
	Datum		args[4];
	int			dims[1] = {(int) job->n};
	int			lbs[1] = {1};
	int			rc;

	for (uint32 d = 0; d < job->n; d++)
	{
		int32		code = job->result_code ? job->result_code[d] : 0;
		const char *info = job->result_info ? job->result_info[d] : NULL;

		ids[d] = PointerGetDatum(job->array_data + job->offsets[d]);
		codes[d] = Int32GetDatum(code);
		statuses[d] = w->status_texts[job->status[d]];
		status_nulls[d] = statuses[d] == (Datum) 0;
		infos[d] = CStringGetTextDatum(info ? info : "");
		if (code != 0)
			w->run.ids_failed++;
	}
	args[0] = PointerGetDatum(construct_array(ids, job->n, TEXTOID, -1, false, TYPALIGN_INT));
	args[1] = PointerGetDatum(construct_array(codes, job->n, INT4OID, 4, true, TYPALIGN_INT));
	args[2] = PointerGetDatum(construct_md_array(statuses, status_nulls, 1, dims, lbs,
												 TEXTOID, -1, false, TYPALIGN_INT));
	args[3] = PointerGetDatum(construct_array(infos, job->n, TEXTOID, -1, false, TYPALIGN_INT));
	rc = SPI_execute_plan(w->upsert, args, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "SPI_execute_plan failed (%d) storing answers", rc);
	w->run.ids_done += job->n;
}

/*
 * Commits the chunks whose every ID is stored, oldest first, with the last
 * key of the newest of them in the run's row.
 */
static void
commit_stored_chunks(table_walk *w)
{
	bool		any = false;

	while (w->chunks != NULL && w->chunks->next_unsent == w->chunks->n &&
		   w->chunks->slices_open == 0)
	{
		table_chunk *c = w->chunks;

		if (c->last_key != NULL)
		{
			if (w->run.last_key != NULL)
				pfree(w->run.last_key);
			w->run.last_key = MemoryContextStrdup(w->memory, c->last_key);
		}
		w->chunks = c->next;
		if (w->newest == c)
			w->newest = NULL;
		MemoryContextDelete(c->memory);
		pfree(c);
		any = true;
	}
	if (!any)
		return;
	MemoryContextSwitchTo(w->commit_memory);
	table_run_save(&w->names, &w->run);
	MemoryContextSwitchTo(w->memory);
	MemoryContextReset(w->commit_memory);
	SPI_commit();
	MemoryContextSwitchTo(w->memory);
}

/* imcheck_feed: the next slice of the newest chunk, reading a chunk when it is all sent. */
static imcheck_job *
walk_next_job(void *arg)
{
	table_walk *w = arg;
	MemoryContext caller = MemoryContextSwitchTo(w->memory);

	for (;;)
	{
		table_chunk *c = w->newest;
		table_slice *slice;
		MemoryContext memory;

		if (c == NULL || c->next_unsent == c->n)
		{
			if (w->source_ended)
			{
				MemoryContextSwitchTo(caller);
				return NULL;
			}
			read_chunk(w);
			commit_stored_chunks(w);	/* a chunk with nothing to send is done */
			continue;
		}
		memory = AllocSetContextCreate(w->memory, "imcheck slice", ALLOCSET_SMALL_SIZES);
		slice = MemoryContextAllocZero(memory, sizeof(table_slice));
		slice->chunk = c;
		slice->job.mcxt = memory;
		slice->job.raise_on_error = true;
		slice->job.array_data = c->data;
		slice->job.offsets = c->offsets + c->next_unsent;
		slice->job.n = Min(w->slice_ids, c->n - c->next_unsent);
		slice->job.status = MemoryContextAllocZero(memory, slice->job.n);
		c->next_unsent += slice->job.n;
		c->slices_open++;
		MemoryContextSwitchTo(caller);
		return &slice->job;
	}
}

/* imcheck_feed: a slice's every ID is answered: store it, commit what is whole. */
static void
walk_job_done(void *arg, imcheck_job *job)
{
	table_walk *w = arg;
	table_slice *slice = (table_slice *) job;
	MemoryContext caller = MemoryContextSwitchTo(job->mcxt);

	/* what storing allocates goes with the slice */
	store_slice(w, job);
	MemoryContextSwitchTo(w->memory);
	w->run.calls += job->calls;
	w->run.retries += job->retries;
	slice->chunk->slices_open--;
	MemoryContextDelete(job->mcxt);
	commit_stored_chunks(w);
	MemoryContextSwitchTo(caller);
}

static int64
count_null_ids(table_walk *w)
{
	bool		isnull;
	int64		count;

	if (SPI_execute(psprintf("SELECT pg_catalog.count(*) FROM %s AS s WHERE s.%s IS NULL",
							 w->names.source_name, w->names.id_column), false, 0) != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed counting null IDs");
	count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	return count;
}

/* The run's line in the server log (error: the SQLSTATE it failed with, or 0). */
static void
log_run(const table_walk *w, int error, instr_time started)
{
	ereport(imcheck_log_level,
			(errmsg("imcheck check of table %s into %s %s%s (run %lld; stored: %lld, of which with an error code: %lld; skipped: %lld; calls: %lld, retries: %lld) after %.0f ms",
					w->names.source_name, w->names.target_name,
					error ? "failed with SQLSTATE " : "finished",
					error ? unpack_sql_state(error) : "",
					(long long) w->run.run_id, (long long) w->run.ids_done,
					(long long) w->run.ids_failed, (long long) w->run.ids_skipped,
					(long long) w->run.calls, (long long) w->run.retries,
					imcheck_ms_since(started)),
			 errhidestmt(true)));
}

/*
 * After an error: rolls back, and records in the run's row that it failed
 * and why (when the error left the procedure's own SPI level current, as
 * errors of imcheck and of its statements do).  Never raises.
 */
static void
record_failure(table_walk *w, ErrorData *edata)
{
	MemoryContext memory = w->memory;

	if (!SPI_inside_nonatomic_context())
		return;
	PG_TRY();
	{
		SPI_rollback();
		MemoryContextSwitchTo(memory);
		table_run_end(&w->names, &w->run,
					  edata->detail
					  ? psprintf("%s: %s (%s)", unpack_sql_state(edata->sqlerrcode),
								 edata->message, edata->detail)
					  : psprintf("%s: %s", unpack_sql_state(edata->sqlerrcode), edata->message));
		SPI_commit();
	}
	PG_CATCH();
	{
		FlushErrorState();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(memory);
}

static void
check_arguments(FunctionCallInfo fcinfo)
{
	static const char *const names[] = {"source", "id_column", "target"};

	if (fcinfo->context == NULL || !IsA(fcinfo->context, CallContext) ||
		castNode(CallContext, fcinfo->context)->atomic)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
				 errmsg("im_account_check_table() cannot run inside a transaction block"),
				 errdetail("It commits after each chunk."),
				 errhint("CALL it on its own, not in BEGIN ... COMMIT or from a function.")));
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("im_account_check_table() cannot run on a hot standby"),
				 errdetail("It writes its answers into the target table."),
				 errhint("CALL it on the primary; on a standby, im_account_check() checks UserIDs without storing them.")));
	for (int i = 0; i < 3; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be null", names[i])));
	if (!PG_ARGISNULL(3))
	{
		Interval   *age = PG_GETARG_INTERVAL_P(3);
		Interval	zero = {0};

		if (DatumGetBool(DirectFunctionCall2(interval_lt, IntervalPGetDatum(age),
											 IntervalPGetDatum(&zero))))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("max_age must not be negative")));
	}
	if (!PG_ARGISNULL(4) &&
		(PG_GETARG_INT32(4) < MIN_CHUNK_SIZE || PG_GETARG_INT32(4) > MAX_CHUNK_SIZE))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("chunk_size must be between %d and %d", MIN_CHUNK_SIZE, MAX_CHUNK_SIZE),
				 errdetail("It is %d.", PG_GETARG_INT32(4))));
}

/* The key to continue after, from its text in the run's row. */
static Datum
key_of_text(const table_walk *w, const char *text)
{
	Oid			input;
	Oid			ioparam;

	getTypeInputInfo(w->names.id_type, &input, &ioparam);
	return OidInputFunctionCall(input, (char *) text, ioparam, -1);
}

Datum
im_account_check_table(PG_FUNCTION_ARGS)
{
	MemoryContext memory = AllocSetContextCreate(CurrentMemoryContext, "imcheck table check",
												 ALLOCSET_DEFAULT_SIZES);
	table_walk *w = MemoryContextAllocZero(memory, sizeof(table_walk));
	imcheck_feed feed = {walk_next_job, walk_job_done, w};
	instr_time	started;

	check_arguments(fcinfo);
	w->memory = memory;
	w->commit_memory = AllocSetContextCreate(memory, "imcheck commit", ALLOCSET_SMALL_SIZES);
	w->chunk_size = PG_ARGISNULL(4) ? DEFAULT_CHUNK_SIZE : PG_GETARG_INT32(4);
	SPI_connect_ext(SPI_OPT_NONATOMIC);
	MemoryContextSwitchTo(memory);

	table_resolve(text_to_cstring(PG_GETARG_TEXT_PP(0)), text_to_cstring(PG_GETARG_TEXT_PP(1)),
				  text_to_cstring(PG_GETARG_TEXT_PP(2)), fcinfo->flinfo->fn_oid, &w->names);
	/* a new target is there for others at once: a second run is refused, not queued */
	if (w->names.target_created)
	{
		SPI_commit();
		MemoryContextSwitchTo(memory);
	}
	get_typlenbyval(w->names.id_type, &w->key_typlen, &w->key_byval);
	imcheck_status_texts(w->status_texts);
	/* from here on, the PG_CATCH zeroes the UserSig's copies */
	imcheck_resolve_config(&w->cfg, &imcheck_api_account_check);
	w->slice_ids = (uint32) w->cfg.batch_size * SLICE_BATCHES;

	INSTR_TIME_SET_CURRENT(started);
	PG_TRY();
	{
		table_run_lock(&w->names);
		w->locked = true;
		table_run_begin(&w->names, PG_ARGISNULL(3) ? NULL : PG_GETARG_INTERVAL_P(3),
						(int32) w->chunk_size, &w->run);
		w->check_fresh = w->run.resumed || !PG_ARGISNULL(3);
		if (w->run.last_key != NULL)
		{
			w->last_key = key_of_text(w, w->run.last_key);
			w->have_last_key = true;
		}
		prepare_statements(w);
		/* the run's row is seen at once */
		SPI_commit();
		MemoryContextSwitchTo(memory);

		imcheck_run_feed(&w->cfg, &feed);

		w->run.null_ids = count_null_ids(w);
		table_run_end(&w->names, &w->run, NULL);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		imcheck_forget_usersig(&w->cfg);	/* if the engine did not run */
		MemoryContextSwitchTo(memory);
		edata = CopyErrorData();
		FlushErrorState();
		if (w->run.run_id != 0)
		{
			record_failure(w, edata);
			log_run(w, edata->sqlerrcode, started);
		}
		if (w->locked)
			table_run_unlock(w->names.target);
		free_statements(w);
		ReThrowError(edata);
	}
	PG_END_TRY();
	log_run(w, 0, started);
	table_run_unlock(w->names.target);
	free_statements(w);
	SPI_finish();
	MemoryContextDelete(memory);
	PG_RETURN_VOID();
}
