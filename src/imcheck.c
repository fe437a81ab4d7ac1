/*
 * imcheck.c - entry points: _PG_init and im_account_check().
 *
 * im_account_check checks its input before anything is sent (no NULL
 * elements, one dimension, no absurd sizes), sends each distinct UserID
 * once through the engine in engine.c, and returns one row per input
 * element in input order.
 */
#include "postgres.h"

#include "access/tupmacs.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "nodes/pathnodes.h"
#include "nodes/supportnodes.h"
#include "optimizer/optimizer.h"
#include "portability/instr_time.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

#include "engine.h"
#include "protocol.h"
#include "settings.h"
#include "shmem.h"

/* Far above the API's 32 bytes (those get a per-item error from the API),
 * but small enough that one UserID can't blow up a request. */
#define MAX_SENT_USERID_BYTES 4096

/* At 10,000 UserIDs/s, the API's limit, this is over half an hour. */
#define MAX_USERIDS 20000000

PG_FUNCTION_INFO_V1(im_account_check);
PG_FUNCTION_INFO_V1(im_account_check_support);
PG_FUNCTION_INFO_V1(imcheck_version);

/* the library's version, next to the extension's SQL version */
#define IMCHECK_LIBRARY_VERSION "1.2"

/* from 18 on, pg_get_loaded_modules() shows the name and version */
#ifdef PG_MODULE_MAGIC_EXT
PG_MODULE_MAGIC_EXT(.name = "imcheck",.version = IMCHECK_LIBRARY_VERSION);
#else
PG_MODULE_MAGIC;
#endif

bool		imcheck_preloaded = false;

/* identifies the settings the connections were made for */
static uint32 last_fingerprint = 0;

void		_PG_init(void);

void
_PG_init(void)
{
	imcheck_define_settings();

	if (process_shared_preload_libraries_in_progress)
	{
		imcheck_preloaded = true;
		imcheck_shmem_request_segment();
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
			 errdetail("Each session paces its API calls alone, so concurrent sessions can exceed \"imcheck.rate_limit\"; and until imcheck is loaded in a session, any role can read its settings from postgresql.conf."),
			 errhint("Add imcheck to \"shared_preload_libraries\" and restart the server.")));
}

/*
 * The distinct UserIDs of one statement, in PostgreSQL's simplehash.  An
 * entry is a distinct index (the key); the element it stands for is at
 * data + offsets[index], so an entry is 5 bytes (packed: the table is most
 * of the memory a large input costs), whatever the IDs' length.
 */
typedef struct distinct_ids
{
	const char *data;			/* the array's element data */
	uint32	   *offsets;		/* offset of each distinct element in data */
} distinct_ids;

typedef struct pg_attribute_packed() distinct_entry
{
	uint32		index;
	char		status;			/* simplehash's */
} distinct_entry;

static inline uint32
hash_distinct(const distinct_ids *ids, uint32 index)
{
	const char *element = ids->data + ids->offsets[index];

	return hash_bytes((const unsigned char *) VARDATA_ANY(element),
					  (int) VARSIZE_ANY_EXHDR(element));
}

static inline bool
distinct_equal(const distinct_ids *ids, uint32 a, uint32 b)
{
	const char *x = ids->data + ids->offsets[a];
	const char *y = ids->data + ids->offsets[b];

	return VARSIZE_ANY_EXHDR(x) == VARSIZE_ANY_EXHDR(y) &&
		memcmp(VARDATA_ANY(x), VARDATA_ANY(y), VARSIZE_ANY_EXHDR(x)) == 0;
}

#define SH_PREFIX distinct
#define SH_ELEMENT_TYPE distinct_entry
#define SH_KEY_TYPE uint32
#define SH_KEY index
#define SH_HASH_KEY(tb, key) hash_distinct((const distinct_ids *) (tb)->private_data, key)
#define SH_EQUAL(tb, a, b) distinct_equal((const distinct_ids *) (tb)->private_data, a, b)
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/*
 * Which distinct UserID each input element is.  A first occurrence's
 * distinct index is the number of first occurrences before it, so only the
 * repeats need to remember theirs: one bit per element says it repeats an
 * earlier one, and the repeats' distinct indexes follow in input order.
 */
typedef struct element_map
{
	uint8	   *is_repeat;
	uint32	   *repeat_of;
	uint32		n_repeats;
	uint32		repeats_cap;
} element_map;

static void
note_repeat(element_map *map, int element, uint32 distinct_index)
{
	if (map->n_repeats == map->repeats_cap)
	{
		map->repeats_cap = map->repeats_cap == 0 ? 1024 : map->repeats_cap * 2;
		map->repeat_of = map->repeat_of == NULL
			? palloc(sizeof(uint32) * map->repeats_cap)
			: repalloc(map->repeat_of, sizeof(uint32) * map->repeats_cap);
	}
	map->is_repeat[element / 8] |= (uint8) (1 << (element % 8));
	map->repeat_of[map->n_repeats++] = distinct_index;
}

/*
 * Checks every element of the array, before any call, and finds the
 * distinct UserIDs: sets job->n and job->offsets, and fills map.  Each
 * element's offset is written as the next distinct one's; it stays only if
 * the element is new.
 */
static void
find_distinct(ArrayType *array, int nitems, imcheck_job *job, element_map *map)
{
	const char *data = ARR_DATA_PTR(array);
	const uint8 *nullmap = ARR_NULLBITMAP(array);
	const char *ptr = data;
	uint32	   *offsets = palloc(sizeof(uint32) * nitems);
	distinct_ids ids = {data, offsets};
	distinct_hash *set = distinct_create(CurrentMemoryContext, (uint32) nitems, &ids);

	map->is_repeat = palloc0((nitems + 7) / 8);
	job->n = 0;
	for (int i = 0; i < nitems; i++)
	{
		size_t		len;
		distinct_entry *entry;
		bool		found;

		if (nullmap && !(nullmap[i / 8] & (1 << (i % 8))))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("user_ids must not contain null elements"),
					 errdetail("Element %d is null.", ARR_LBOUND(array)[0] + i)));
		if (VARATT_IS_EXTERNAL(ptr) || VARATT_IS_COMPRESSED(ptr))
			elog(ERROR, "unexpected toasted element in array");
		len = VARSIZE_ANY_EXHDR(ptr);
		if (len > MAX_SENT_USERID_BYTES)
			ereport(ERROR,
					(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
					 errmsg("element %d of user_ids is too long", ARR_LBOUND(array)[0] + i),
					 errdetail("It is %zu bytes long; imcheck sends UserIDs of at most %d bytes (the API checks UserIDs of at most %d bytes, and answers longer ones with a per-item error).",
							   len, MAX_SENT_USERID_BYTES, PROTOCOL_MAX_USERID_BYTES)));
		offsets[job->n] = (uint32) (ptr - data);
		entry = distinct_insert(set, job->n, &found);
		if (found)
			note_repeat(map, i, entry->index);
		else
			job->n++;
		ptr = (const char *) att_addlength_pointer(ptr, -1, ptr);
		ptr = (const char *) att_align_nominal(ptr, TYPALIGN_INT);
	}
	distinct_destroy(set);
	job->array_data = data;
	job->offsets = offsets;
}

Datum
imcheck_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(IMCHECK_LIBRARY_VERSION));
}

/*
 * Planner support: im_account_check returns one row per array element, so
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

Datum
im_account_check(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ArrayType  *array;
	bool		raise_on_error;
	int			nitems;
	const char *ptr;
	imcheck_job job = {0};
	element_map map = {0};
	uint32		next_first = 0;
	uint32		next_repeat = 0;
	imcheck_config cfg;
	instr_time	started;
	instr_time	elapsed;
	Datum		imported_text;
	Datum		not_imported_text;
	Datum		empty_text;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("user_ids must not be null")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("raise_on_error must not be null")));
	array = PG_GETARG_ARRAYTYPE_P(0);
	raise_on_error = PG_GETARG_BOOL(1);

	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("user_ids must be a one-dimensional array"),
				 errdetail("The array has %d dimensions.", ARR_NDIM(array))));
	nitems = ArrayGetNItems(ARR_NDIM(array), ARR_DIMS(array));
	if (nitems > MAX_USERIDS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many UserIDs in one call: %d", nitems),
				 errdetail("At most %d UserIDs can be checked by one call of im_account_check.",
						   MAX_USERIDS),
				 errhint("Check the UserIDs in parts.")));

	InitMaterializedSRF(fcinfo, 0);
	if (nitems == 0)
		return (Datum) 0;

	find_distinct(array, nitems, &job, &map);

	imcheck_resolve_config(&cfg);

	/*
	 * After a reload that changed the credential or where calls go, drop
	 * the connections made for the old one (the UserSig cache notices by
	 * itself).
	 */
	if (last_fingerprint != 0 && cfg.fingerprint != last_fingerprint)
		imcheck_engine_reset();
	last_fingerprint = cfg.fingerprint;

	job.raise_on_error = raise_on_error;
	job.result_code = NULL;		/* allocated by the engine on the first code other than 0 */
	job.status = palloc0(sizeof(uint8) * job.n);
	job.result_info = NULL;

	INSTR_TIME_SET_CURRENT(started);
	PG_TRY();
	{
		imcheck_run_job(&cfg, &job);
	}
	PG_CATCH();
	{
		/* before ereport() stacks an entry of its own */
		int			sqlerrcode = geterrcode();

		/* it spent API calls too: say so (a FATAL exit is logged by stats.c) */
		INSTR_TIME_SET_CURRENT(elapsed);
		INSTR_TIME_SUBTRACT(elapsed, started);
		ereport(imcheck_log_level,
				(errmsg_plural("imcheck check of %d UserID failed with SQLSTATE %s (distinct: %u, calls: %u, retries: %u, failed calls: %u) after %.0f ms",
							   "imcheck check of %d UserIDs failed with SQLSTATE %s (distinct: %u, calls: %u, retries: %u, failed calls: %u) after %.0f ms",
							   nitems, nitems, unpack_sql_state(sqlerrcode),
							   job.n, job.calls, job.retries, job.failed_calls,
							   INSTR_TIME_GET_MILLISEC(elapsed)),
				 errhidestmt(true)));
		PG_RE_THROW();
	}
	PG_END_TRY();
	INSTR_TIME_SET_CURRENT(elapsed);
	INSTR_TIME_SUBTRACT(elapsed, started);

	ereport(imcheck_log_level,
			(errmsg_plural("imcheck checked %d UserID (distinct: %u, calls: %u, retries: %u, failed calls: %u) in %.0f ms",
						   "imcheck checked %d UserIDs (distinct: %u, calls: %u, retries: %u, failed calls: %u) in %.0f ms",
						   nitems, nitems, job.n, job.calls, job.retries,
						   job.failed_calls, INSTR_TIME_GET_MILLISEC(elapsed)),
			 errhidestmt(true)));

	/* one row per input element, in input order */
	imported_text = CStringGetTextDatum("Imported");
	not_imported_text = CStringGetTextDatum("NotImported");
	empty_text = CStringGetTextDatum("");
	ptr = job.array_data;
	for (int i = 0; i < nitems; i++)
	{
		uint32		d = (map.is_repeat[i / 8] & (1 << (i % 8)))
			? map.repeat_of[next_repeat++] : next_first++;
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = PointerGetDatum(ptr);
		values[1] = Int32GetDatum(job.result_code ? job.result_code[d] : 0);
		switch ((protocol_account_status) job.status[d])
		{
			case PROTOCOL_STATUS_IMPORTED:
				values[2] = imported_text;
				break;
			case PROTOCOL_STATUS_NOT_IMPORTED:
				values[2] = not_imported_text;
				break;
			default:
				values[2] = (Datum) 0;
				nulls[2] = true;
				break;
		}
		if (job.result_info != NULL && job.result_info[d] != NULL)
			values[3] = CStringGetTextDatum(job.result_info[d]);
		else
			values[3] = empty_text;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		if (job.result_info != NULL && job.result_info[d] != NULL)
			pfree(DatumGetPointer(values[3]));

		ptr = (const char *) att_addlength_pointer(ptr, -1, ptr);
		ptr = (const char *) att_align_nominal(ptr, TYPALIGN_INT);
	}
	return (Datum) 0;
}
