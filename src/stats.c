/*
 * stats.c - what imcheck has done: cumulative counters per API, the
 * progress of the checks running now, the SQL functions that show them,
 * and the one log line of each check.
 *
 * With the library in shared_preload_libraries both live in shared memory:
 * counters add up over all sessions since the server started (or the last
 * imcheck_reset_stats()), and every session can see every running check.
 * Otherwise each session sees only its own.
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "imcheck_int.h"

/* distinct failure codes remembered; later ones are counted as "other" */
#define FAILURE_CODES 32

typedef struct check_progress
{
	volatile int pid;			/* 0: no check running */
	volatile TimestampTz started;
	volatile uint32 ids_total;
	volatile uint32 ids_done;
	volatile uint32 calls;
	volatile int32 in_flight;
	volatile int api;			/* imcheck_api_id */
} check_progress;

/* The cumulative counters; the retries by reason follow them. */
typedef enum counter
{
	COUNTER_CHECKS,
	COUNTER_CALLS,
	COUNTER_USER_IDS,
	COUNTER_FAILED_CALLS,
	COUNTER_RATE_WAIT_US,		/* shown in ms */
	COUNTER_CONNECTIONS,
	COUNTER_FAILOVERS,
	COUNTER_RATE_REDUCTIONS,
	COUNTER_STALE_CONNECTIONS,
	COUNTER_RETRIES,			/* + imcheck_retry_reason */
	COUNTERS = COUNTER_RETRIES + IMCHECK_RETRY_REASONS
} counter;

/* imcheck_stats()'s names, in its order (the retries come after user_ids) */
static const char *const counter_names[COUNTER_RETRIES] = {
	"checks", "calls", "user_ids", "failed_calls", "rate_wait_ms", "connections_opened",
	"failovers", "rate_reductions", "stale_connections"
};

/* What failed calls of one API were answered with. */
typedef struct failure_counts
{
	int32		code[FAILURE_CODES];
	uint64		count[FAILURE_CODES];
	uint64		other;
} failure_counts;

/* Every counter is kept per API. */
typedef struct shared_stats
{
	pg_atomic_uint64 counters[IMCHECK_APIS][COUNTERS];
	slock_t		mutex;			/* protects failures */
	failure_counts failures[IMCHECK_APIS];
	int			n_slots;
	check_progress progress[FLEXIBLE_ARRAY_MEMBER];
} shared_stats;

static shared_stats *stats = NULL;
static check_progress *my_progress = NULL;

/* the API of this backend's check: the counters below count for it */
static imcheck_api_id current_api = IMCHECK_API_ACCOUNT_CHECK;

#define COUNTER(s, c) (&(s)->counters[current_api][c])

Size
imcheck_stats_shmem_size(int n_slots)
{
	return add_size(offsetof(shared_stats, progress),
					mul_size(sizeof(check_progress), n_slots));
}

static void
init_stats(shared_stats *s, int n_slots)
{
	memset(s, 0, imcheck_stats_shmem_size(n_slots));
	for (int a = 0; a < IMCHECK_APIS; a++)
		for (int i = 0; i < COUNTERS; i++)
			pg_atomic_init_u64(&s->counters[a][i], 0);
	SpinLockInit(&s->mutex);
	s->n_slots = n_slots;
}

void
imcheck_stats_shmem_attach(void *place, int n_slots, bool initialize)
{
	stats = place;
	if (initialize)
		init_stats(stats, n_slots);
}

/* The counters: shared, or this session's own when not preloaded. */
static shared_stats *
the_stats(void)
{
	if (stats == NULL)
	{
		stats = MemoryContextAlloc(TopMemoryContext, imcheck_stats_shmem_size(1));
		init_stats(stats, 1);
	}
	return stats;
}

static check_progress *
progress_slot(void)
{
	shared_stats *s = the_stats();

	if (s->n_slots == 1)
		return &s->progress[0];
	if (imcheck_backend_number() >= 1 && imcheck_backend_number() <= s->n_slots)
		return &s->progress[imcheck_backend_number() - 1];
	return NULL;
}

/*
 * How the log line of a check names its API: account_check's says "check"
 * (and "checked"), as it did before the other APIs came.
 */
static const char *
check_noun(imcheck_api_id api)
{
	return api == IMCHECK_API_ACCOUNT_CHECK ? "check" : imcheck_apis[api]->name;
}

void
imcheck_log_check(imcheck_api_id api, int nitems, const imcheck_job *job, int error,
				  double ms)
{
	/* Tencent's support traces a failed call by its random */
	const char *random_text = job->has_failed_random
		? psprintf(" (random of the last failed call: %u)", job->failed_random) : "";

	if (error != 0)
		ereport(imcheck_log_level,
				(errmsg_plural("imcheck %s of %d UserID failed with SQLSTATE %s (distinct: %u, calls: %u, retries: %u, failed calls: %u) after %.0f ms%s",
							   "imcheck %s of %d UserIDs failed with SQLSTATE %s (distinct: %u, calls: %u, retries: %u, failed calls: %u) after %.0f ms%s",
							   nitems, check_noun(api), nitems, unpack_sql_state(error),
							   job->n, job->calls, job->retries, job->failed_calls, ms, random_text),
				 errhidestmt(true)));
	else if (api == IMCHECK_API_ACCOUNT_CHECK)
		ereport(imcheck_log_level,
				(errmsg_plural("imcheck checked %d UserID (distinct: %u, calls: %u, retries: %u, failed calls: %u) in %.0f ms%s",
							   "imcheck checked %d UserIDs (distinct: %u, calls: %u, retries: %u, failed calls: %u) in %.0f ms%s",
							   nitems, nitems, job->n, job->calls, job->retries,
							   job->failed_calls, ms, random_text),
				 errhidestmt(true)));
	else
		ereport(imcheck_log_level,
				(errmsg_plural("imcheck %s of %d UserID done (distinct: %u, calls: %u, retries: %u, failed calls: %u) in %.0f ms%s",
							   "imcheck %s of %d UserIDs done (distinct: %u, calls: %u, retries: %u, failed calls: %u) in %.0f ms%s",
							   nitems, check_noun(api), nitems, job->n, job->calls, job->retries,
							   job->failed_calls, ms, random_text),
				 errhidestmt(true)));
}

/*
 * A backend that exits during a check (pg_terminate_backend, a FATAL error,
 * postmaster death) never returns to the check's cleanup: free its progress
 * slot on the way out, and log what the check spent, as every check does.
 */
static void
end_check_at_exit(int code, Datum arg)
{
	long		ms;

	if (my_progress == NULL)
		return;
	ms = (long) ((GetCurrentTimestamp() - my_progress->started) / 1000);

	ereport(imcheck_log_level,
			(errmsg_plural("imcheck %s of %u UserID ended with the backend's exit (done: %u, calls: %u) after %ld ms",
						   "imcheck %s of %u UserIDs ended with the backend's exit (done: %u, calls: %u) after %ld ms",
						   my_progress->ids_total, check_noun(current_api),
						   my_progress->ids_total, my_progress->ids_done,
						   my_progress->calls, ms),
			 errhidestmt(true)));
	my_progress->pid = 0;
	my_progress = NULL;
}

void
imcheck_stats_check_started(imcheck_api_id api, uint32 n_ids)
{
	shared_stats *s = the_stats();
	static bool exit_callback_registered = false;

	if (!exit_callback_registered)
	{
		before_shmem_exit(end_check_at_exit, (Datum) 0);
		exit_callback_registered = true;
	}

	current_api = api;
	pg_atomic_fetch_add_u64(COUNTER(s, COUNTER_CHECKS), 1);
	pg_atomic_fetch_add_u64(COUNTER(s, COUNTER_USER_IDS), n_ids);
	my_progress = progress_slot();
	if (my_progress == NULL)
		return;
	my_progress->started = GetCurrentTimestamp();
	my_progress->ids_total = n_ids;
	my_progress->ids_done = 0;
	my_progress->calls = 0;
	my_progress->in_flight = 0;
	my_progress->api = api;
	pg_write_barrier();
	my_progress->pid = MyProcPid;
}

void
imcheck_stats_check_grew(uint32 n_ids)
{
	pg_atomic_fetch_add_u64(COUNTER(the_stats(), COUNTER_USER_IDS), n_ids);
	if (my_progress != NULL)
		my_progress->ids_total += n_ids;
}

void
imcheck_stats_check_ended(void)
{
	if (my_progress != NULL)
		my_progress->pid = 0;
	my_progress = NULL;
}

void
imcheck_stats_call_started(void)
{
	pg_atomic_fetch_add_u64(COUNTER(the_stats(), COUNTER_CALLS), 1);
	if (my_progress != NULL)
	{
		my_progress->calls++;
		my_progress->in_flight++;
	}
}

void
imcheck_stats_stale_connection(void)
{
	pg_atomic_fetch_add_u64(COUNTER(the_stats(), COUNTER_STALE_CONNECTIONS), 1);
}

void
imcheck_stats_call_finished(uint32 ids_done, long connections_opened)
{
	if (connections_opened > 0)
		pg_atomic_fetch_add_u64(COUNTER(the_stats(), COUNTER_CONNECTIONS),
								(uint64) connections_opened);
	if (my_progress != NULL)
	{
		my_progress->in_flight--;
		my_progress->ids_done += ids_done;
	}
}

void
imcheck_stats_failover(void)
{
	pg_atomic_fetch_add_u64(COUNTER(the_stats(), COUNTER_FAILOVERS), 1);
}

void
imcheck_stats_rate_reduction(void)
{
	pg_atomic_fetch_add_u64(COUNTER(the_stats(), COUNTER_RATE_REDUCTIONS), 1);
}

void
imcheck_stats_retry(imcheck_retry_reason reason)
{
	pg_atomic_fetch_add_u64(COUNTER(the_stats(), COUNTER_RETRIES + reason), 1);
}

void
imcheck_stats_call_failed(int32 code)
{
	shared_stats *s = the_stats();
	failure_counts *f = &s->failures[current_api];
	int			i;

	pg_atomic_fetch_add_u64(COUNTER(s, COUNTER_FAILED_CALLS), 1);
	SpinLockAcquire(&s->mutex);
	for (i = 0; i < FAILURE_CODES; i++)
	{
		if (f->count[i] == 0)
			f->code[i] = code;
		if (f->code[i] == code)
		{
			f->count[i]++;
			break;
		}
	}
	if (i == FAILURE_CODES)
		f->other++;
	SpinLockRelease(&s->mutex);
}

void
imcheck_stats_rate_wait(int64 us)
{
	if (us > 0)
		pg_atomic_fetch_add_u64(COUNTER(the_stats(), COUNTER_RATE_WAIT_US), (uint64) us);
}

/*
 * A row of imcheck_stats(): (api, name, value), or (name, value) while the
 * extension's SQL is still 1.2 (a new library before ALTER EXTENSION UPDATE).
 */
static void
put_counter(ReturnSetInfo *rsinfo, imcheck_api_id api, const char *name, uint64 value)
{
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	int			first = rsinfo->setDesc->natts == 3 ? 1 : 0;

	values[0] = CStringGetTextDatum(imcheck_apis[api]->name);
	values[first] = CStringGetTextDatum(name);
	values[first + 1] = Int64GetDatum((int64) value);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/* The counters of one API, in imcheck_stats()'s order. */
static void
put_api_counters(ReturnSetInfo *rsinfo, shared_stats *s, imcheck_api_id api)
{
	failure_counts f;

	for (int i = 0; i < COUNTER_RETRIES; i++)
	{
		uint64		value = pg_atomic_read_u64(&s->counters[api][i]);

		put_counter(rsinfo, api, counter_names[i],
					i == COUNTER_RATE_WAIT_US ? value / 1000 : value);
		if (i != COUNTER_USER_IDS)
			continue;
		for (int r = 0; r < IMCHECK_RETRY_REASONS; r++)
		{
			char		name[64];

			snprintf(name, sizeof(name), "retries_%s", imcheck_retry_reason_names[r]);
			put_counter(rsinfo, api, name,
						pg_atomic_read_u64(&s->counters[api][COUNTER_RETRIES + r]));
		}
	}

	SpinLockAcquire(&s->mutex);
	f = s->failures[api];
	SpinLockRelease(&s->mutex);
	for (int i = 0; i < FAILURE_CODES && f.count[i] > 0; i++)
	{
		char		name[64];

		snprintf(name, sizeof(name), "failed_calls_code_%d", f.code[i]);
		put_counter(rsinfo, api, name, f.count[i]);
	}
	if (f.other > 0)
		put_counter(rsinfo, api, "failed_calls_code_other", f.other);
}

IMCHECK_SQL_FUNCTION(imcheck_stats);

/* imcheck_stats() -> (api text, name text, value bigint): the cumulative counters. */
Datum
imcheck_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	shared_stats *s = the_stats();

	InitMaterializedSRF(fcinfo, 0);
	/* 1.2's (name, value) shows account_check's, as it always did */
	for (int api = 0; api < (rsinfo->setDesc->natts == 3 ? IMCHECK_APIS : 1); api++)
		put_api_counters(rsinfo, s, (imcheck_api_id) api);
	return (Datum) 0;
}

IMCHECK_SQL_FUNCTION(imcheck_reset_stats);

Datum
imcheck_reset_stats(PG_FUNCTION_ARGS)
{
	shared_stats *s = the_stats();

	for (int a = 0; a < IMCHECK_APIS; a++)
		for (int i = 0; i < COUNTERS; i++)
			pg_atomic_write_u64(&s->counters[a][i], 0);
	SpinLockAcquire(&s->mutex);
	memset(s->failures, 0, sizeof(s->failures));
	SpinLockRelease(&s->mutex);
	PG_RETURN_VOID();
}

IMCHECK_SQL_FUNCTION(imcheck_progress);

/*
 * imcheck_progress() -> one row per running check: pid, started, user_ids,
 * user_ids_done, calls, calls_in_flight, api.  Read without locks: a row may mix
 * values from two moments, which is fine for watching progress.
 */
Datum
imcheck_progress(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	shared_stats *s = the_stats();

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < s->n_slots; i++)
	{
		check_progress *p = &s->progress[i];
		Datum		values[7];
		bool		nulls[7] = {false, false, false, false, false, false, false};
		int			pid = p->pid;

		if (pid == 0)
			continue;
		pg_read_barrier();
		values[0] = Int32GetDatum(pid);
		values[1] = TimestampTzGetDatum(p->started);
		values[2] = Int64GetDatum((int64) p->ids_total);
		values[3] = Int64GetDatum((int64) p->ids_done);
		values[4] = Int64GetDatum((int64) p->calls);
		values[5] = Int32GetDatum(Max(p->in_flight, 0));
		/* no api column while the extension's SQL is still 1.2 */
		if (rsinfo->setDesc->natts > 6)
			values[6] = CStringGetTextDatum(imcheck_apis[p->api]->name);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
