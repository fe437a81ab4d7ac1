/*
 * imcheck.c - entry points: _PG_init with its shared memory, and the SQL
 * functions im_account_check(), im_account_import() and
 * im_query_online_status().
 *
 * Each checks its input before anything is sent (input.c), sends each
 * distinct UserID once through the engine (engine.c) to its API (apis.c),
 * and returns one row per input element, in input order.
 */
#include "postgres.h"

#include "access/tupmacs.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "nodes/pathnodes.h"
#include "nodes/supportnodes.h"
#include "optimizer/optimizer.h"
#include "portability/instr_time.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

#include "engine_int.h"

IMCHECK_SQL_FUNCTION(im_account_check);
IMCHECK_SQL_FUNCTION(im_account_import);
IMCHECK_SQL_FUNCTION(im_query_online_status);
IMCHECK_SQL_FUNCTION(im_account_check_support);
IMCHECK_SQL_FUNCTION(imcheck_version);

/* the library's version, next to the extension's SQL version */
#define IMCHECK_LIBRARY_VERSION "1.4"

/* from 18 on, pg_get_loaded_modules() shows the name and version */
#ifdef PG_MODULE_MAGIC_EXT
PG_MODULE_MAGIC_EXT(.name = "imcheck",.version = IMCHECK_LIBRARY_VERSION);
#else
PG_MODULE_MAGIC;
#endif

bool		imcheck_preloaded = false;

PGDLLEXPORT void _PG_init(void);	/* 15's fmgr.h does not declare it */

/*
 * imcheck's shared memory, when the library is preloaded: one segment,
 * made at server start, holding the rate logs (ratelimit.c) and the
 * statistics with one progress slot per backend (stats.c).  Each keeps a
 * session-local copy when there is no segment.
 */
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static Size
segment_size(void)
{
	return add_size(MAXALIGN(ratelimit_shmem_size()),
					imcheck_stats_shmem_size(MaxBackends));
}

static void
request_segment(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(segment_size());
	RequestNamedLWLockTranche(RATELIMIT_LOCK_TRANCHE, IMCHECK_APIS);
}

static void
attach_segment(void)
{
	bool		found;
	char	   *segment;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	segment = ShmemInitStruct("imcheck", segment_size(), &found);
	ratelimit_shmem_attach(segment, !found, GetNamedLWLockTranche(RATELIMIT_LOCK_TRANCHE));
	imcheck_stats_shmem_attach(segment + MAXALIGN(ratelimit_shmem_size()),
							   MaxBackends, !found);
	LWLockRelease(AddinShmemInitLock);
}

void
_PG_init(void)
{
	imcheck_define_settings();

	if (process_shared_preload_libraries_in_progress)
	{
		imcheck_preloaded = true;
		prev_shmem_request_hook = shmem_request_hook;
		shmem_request_hook = request_segment;
		prev_shmem_startup_hook = shmem_startup_hook;
		shmem_startup_hook = attach_segment;
		return;
	}

	/*
	 * Loaded on first use instead of at server start: each session paces
	 * its calls alone, so sessions together can exceed the app's limit, and
	 * the settings were placeholders until now, which any role could read.
	 * Say so, once per session.
	 */
	ereport(WARNING,
			(errmsg("imcheck is not loaded through \"shared_preload_libraries\""),
			 errdetail("Each session paces its API calls alone, so concurrent sessions can exceed \"imcheck.rate_limit\" (and the other APIs' rate limits); and until imcheck is loaded in a session, any role can read its settings from postgresql.conf."),
			 errhint("Add imcheck to \"shared_preload_libraries\" and restart the server.")));
}

Datum
imcheck_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(IMCHECK_LIBRARY_VERSION));
}

/*
 * Planner support of the three functions: each returns one row per element
 * of its first argument, so
 * when the planner can see the array (a constant, a parameter's value in a
 * custom plan, or ARRAY(SELECT ...), whose subquery it has estimated), the
 * row estimate is its length instead of the declared ROWS.
 */
Datum
im_account_check_support(PG_FUNCTION_ARGS)
{
	Node	   *rawreq = (Node *) PG_GETARG_POINTER(0);
	SupportRequestRows *req;
	Node	   *arg;

	if (!IsA(rawreq, SupportRequestRows))
		PG_RETURN_POINTER(NULL);
	req = (SupportRequestRows *) rawreq;
	if (!is_funcclause(req->node) || list_length(((FuncExpr *) req->node)->args) < 1)
		PG_RETURN_POINTER(NULL);
	arg = linitial(((FuncExpr *) req->node)->args);
	if (req->root != NULL)
		arg = estimate_expression_value(req->root, arg);

	if (IsA(arg, Const) && !((Const *) arg)->constisnull)
	{
		ArrayType  *array = DatumGetArrayTypeP(((Const *) arg)->constvalue);

		req->rows = Max(ArrayGetNItems(ARR_NDIM(array), ARR_DIMS(array)), 1);
		PG_RETURN_POINTER(req);
	}
	if (IsA(arg, SubPlan) && req->root != NULL &&
		((SubPlan *) arg)->subLinkType == ARRAY_SUBLINK)
	{
		Plan	   *plan = planner_subplan_get_plan(req->root, (SubPlan *) arg);

		req->rows = Max(plan->plan_rows, 1);
		PG_RETURN_POINTER(req);
	}
	/* an uncorrelated ARRAY(SELECT ...) has become an initplan's output */
	if (IsA(arg, Param) && ((Param *) arg)->paramkind == PARAM_EXEC &&
		req->root != NULL)
	{
		ListCell   *lc;

		foreach(lc, req->root->init_plans)
		{
			SubPlan    *initplan = (SubPlan *) lfirst(lc);

			if (initplan->subLinkType == ARRAY_SUBLINK &&
				list_member_int(initplan->setParam, ((Param *) arg)->paramid))
			{
				Plan	   *plan = planner_subplan_get_plan(req->root, initplan);

				req->rows = Max(plan->plan_rows, 1);
				PG_RETURN_POINTER(req);
			}
		}
	}
	PG_RETURN_POINTER(NULL);
}

double
imcheck_ms_since(instr_time started)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, started);
	return INSTR_TIME_GET_MILLISEC(now);
}

/*
 * The part every function shares once its input is checked: runs the job
 * (job->n distinct IDs found) against api, and logs the statement's line
 * whatever its end.
 */
static void
run_statement(const imcheck_api *api, int nitems, imcheck_job *job)
{
	imcheck_config cfg;
	instr_time	started;

	job->status = palloc0(sizeof(uint8) * job->n);
	imcheck_resolve_config(&cfg, api);

	INSTR_TIME_SET_CURRENT(started);
	PG_TRY();
	{
		imcheck_run_job(&cfg, job);
	}
	PG_CATCH();
	{
		imcheck_forget_usersig(&cfg);	/* if the engine did not start */
		/* it spent API calls too: say so (a FATAL exit is logged by stats.c) */
		imcheck_log_check(api->id, nitems, job, geterrcode(), imcheck_ms_since(started));
		PG_RE_THROW();
	}
	PG_END_TRY();
	imcheck_log_check(api->id, nitems, job, 0, imcheck_ms_since(started));
}

/*
 * Checks the arguments every function has (user_ids first, raise_on_error
 * at raise_arg), finds the distinct UserIDs, and sets up the result set.
 * Returns the number of input elements (0: no call to make).
 */
static int
begin_statement(FunctionCallInfo fcinfo, const imcheck_api *api, int raise_arg,
				ArrayType **array, imcheck_job *job, element_map *map)
{
	int			nitems;

	input_not_null(fcinfo, 0, "user_ids");
	input_not_null(fcinfo, raise_arg, "raise_on_error");
	nitems = input_user_ids(fcinfo, 0, api->sql_function, array);
	job->raise_on_error = PG_GETARG_BOOL(raise_arg);
	InitMaterializedSRF(fcinfo, 0);
	if (nitems > 0)
		input_find_distinct(*array, nitems, job, map);
	return nitems;
}

/* text of a palloc'd or NULL C string ("" for NULL) */
static inline Datum
text_or_empty(const char *s, Datum empty)
{
	return s != NULL ? CStringGetTextDatum(s) : empty;
}

void
imcheck_status_texts(Datum *texts)
{
	for (int i = 0; i < IMCHECK_STATUS_VALUES; i++)
	{
		const char *t = protocol_account_status_text((protocol_account_status) i);

		texts[i] = t ? CStringGetTextDatum(t) : (Datum) 0;
	}
}

/* Moves ptr past the varlena array element it points at. */
static inline const char *
next_element(const char *ptr)
{
	ptr = (const char *) att_addlength_pointer(ptr, -1, ptr);
	return (const char *) att_align_nominal(ptr, TYPALIGN_INT);
}

/* The columns after user_id and result_code, by function. */
#define ROW_STATUS	0x1			/* account_status, or status */
#define ROW_INFO	0x2			/* result_info, '' for none */
#define ROW_DETAIL	0x4			/* detail (jsonb) */

/*
 * The result set: one row per input element, in input order, each from
 * its distinct UserID's results in job.
 */
static void
put_rows(FunctionCallInfo fcinfo, const imcheck_job *job, element_map *map, int nitems,
		 int columns)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	element_walk walk = {map};
	Datum		status_texts[IMCHECK_STATUS_VALUES];
	Datum		empty_text = (Datum) 0;
	const char *ptr = job->array_data;

	if (columns & ROW_STATUS)
		imcheck_status_texts(status_texts);
	if (columns & ROW_INFO)
		empty_text = CStringGetTextDatum("");
	for (int i = 0; i < nitems; i++, ptr = next_element(ptr))
	{
		uint32		d = input_next_distinct(&walk, i);
		const char *info = NULL;
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};
		int			n = 0;
		int			info_at = -1;

		values[n++] = PointerGetDatum(ptr);
		values[n++] = Int32GetDatum(job->result_code ? job->result_code[d] : 0);
		if (columns & ROW_STATUS)
		{
			values[n] = status_texts[job->status[d]];
			nulls[n] = values[n] == (Datum) 0;
			n++;
		}
		if (columns & ROW_INFO)
		{
			info = job->result_info ? job->result_info[d] : NULL;
			info_at = n;
			values[n++] = text_or_empty(info, empty_text);
		}
		if (columns & ROW_DETAIL)
		{
			values[n] = job->detail != NULL ? job->detail[d] : (Datum) 0;
			nulls[n] = values[n] == (Datum) 0;
			n++;
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		if (info)
			pfree(DatumGetPointer(values[info_at]));
	}
}

/*
 * One of the functions: checks its input, runs its calls and returns its
 * rows (columns: which, after user_id and result_code).  user_ids comes
 * first, raise_on_error at raise_arg.
 */
static Datum
run_function(FunctionCallInfo fcinfo, const imcheck_api *api, int raise_arg, int columns)
{
	ArrayType  *array;
	imcheck_job job = {0};
	element_map map = {0};
	int			nitems = begin_statement(fcinfo, api, raise_arg, &array, &job, &map);

	/* multiaccount_import's texts that line up with user_ids (even with none) */
	if (api->id == IMCHECK_API_ACCOUNT_IMPORT)
	{
		job.nicks = input_aligned_texts(fcinfo, 1, "nicks", nitems, &map, job.n);
		job.face_urls = input_aligned_texts(fcinfo, 2, "face_urls", nitems, &map, job.n);
	}
	if (nitems == 0)
		return (Datum) 0;
	run_statement(api, nitems, &job);
	put_rows(fcinfo, &job, &map, nitems, columns);
	return (Datum) 0;
}

/* im_account_check(user_ids, raise_on_error): whether accounts are imported. */
Datum
im_account_check(PG_FUNCTION_ARGS)
{
	return run_function(fcinfo, &imcheck_api_account_check, 1, ROW_STATUS | ROW_INFO);
}

/*
 * im_account_import(user_ids, nicks, face_urls, raise_on_error): imports
 * the accounts (or updates the Nick and FaceUrl of existing ones).
 */
Datum
im_account_import(PG_FUNCTION_ARGS)
{
	return run_function(fcinfo, &imcheck_api_account_import, 3, ROW_INFO);
}

/* im_query_online_status(user_ids, raise_on_error): who is online. */
Datum
im_query_online_status(PG_FUNCTION_ARGS)
{
	return run_function(fcinfo, &imcheck_api_online_status, 1, ROW_STATUS | ROW_DETAIL);
}
