/*
 * input.c - a statement's input, checked before any call is made: the
 * user_ids array and the arrays that line up with it, the distinct UserIDs
 * among its elements; and the job's results, stored as calls are answered.
 */
#include "postgres.h"

#include "access/tupmacs.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "fmgr.h"

#include "imcheck_int.h"

/* the most bytes of a Nick or FaceUrl imcheck sends */
#define MAX_SENT_TEXT_BYTES 4096

/* At 10,000 UserIDs/s, the API's limit, this is over half an hour. */
#define MAX_USERIDS 20000000

void
input_not_null(FunctionCallInfo fcinfo, int arg, const char *name)
{
	if (PG_ARGISNULL(arg))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name)));
}

/* Raises an ERROR unless array is one-dimensional. */
static void
check_one_dimension(ArrayType *array, const char *name)
{
	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", name),
				 errdetail("The array has %d dimensions.", ARR_NDIM(array))));
}

int
input_user_ids(FunctionCallInfo fcinfo, int arg, const char *function, ArrayType **result)
{
	ArrayType  *array;
	int			nitems;
	const uint8 *nullmap;
	const char *ptr;

	array = PG_GETARG_ARRAYTYPE_P(arg);
	check_one_dimension(array, "user_ids");
	nitems = ArrayGetNItems(ARR_NDIM(array), ARR_DIMS(array));
	if (nitems > MAX_USERIDS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many UserIDs in one call: %d", nitems),
				 errdetail("At most %d UserIDs can be sent by one call of %s.",
						   MAX_USERIDS, function),
				 errhint("Send the UserIDs in parts.")));

	nullmap = ARR_NULLBITMAP(array);
	ptr = ARR_DATA_PTR(array);
	for (int i = 0; i < nitems; i++)
	{
		size_t		len;

		if (nullmap && !(nullmap[i / 8] & (1 << (i % 8))))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("user_ids must not contain null elements"),
					 errdetail("Element %d is null.", ARR_LBOUND(array)[0] + i)));
		if (VARATT_IS_EXTERNAL(ptr) || VARATT_IS_COMPRESSED(ptr))
			elog(ERROR, "unexpected toasted element in array");
		len = VARSIZE_ANY_EXHDR(ptr);
		if (len > IMCHECK_MAX_SENT_USERID_BYTES)
			ereport(ERROR,
					(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
					 errmsg("element %d of user_ids is too long", ARR_LBOUND(array)[0] + i),
					 errdetail("It is %zu bytes long; imcheck sends UserIDs of at most %d bytes (the API checks UserIDs of at most %d bytes, and answers longer ones with a per-item error).",
							   len, IMCHECK_MAX_SENT_USERID_BYTES, PROTOCOL_MAX_USERID_BYTES)));
		ptr = (const char *) att_addlength_pointer(ptr, -1, ptr);
		ptr = (const char *) att_align_nominal(ptr, TYPALIGN_INT);
	}
	*result = array;
	return nitems;
}

const char **
input_aligned_texts(FunctionCallInfo fcinfo, int arg, const char *name, int nitems,
					const element_map *map, uint32 n_distinct)
{
	ArrayType  *array;
	Datum	   *elements;
	bool	   *nulls;
	int			n;
	const char **values;
	uint32		d = 0;

	if (PG_ARGISNULL(arg))
		return NULL;
	array = PG_GETARG_ARRAYTYPE_P(arg);
	check_one_dimension(array, name);
	deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &elements, &nulls, &n);
	if (n != nitems)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must have as many elements as user_ids", name),
				 errdetail("Their lengths are %d (user_ids) and %d (%s).", nitems, n, name)));
	values = palloc(sizeof(char *) * Max(n_distinct, 1));
	for (int i = 0; i < n; i++)
	{
		const char *value = nulls[i] ? NULL : DatumGetPointer(elements[i]);

		if (value && (VARATT_IS_EXTERNAL(value) || VARATT_IS_COMPRESSED(value)))
			elog(ERROR, "unexpected toasted element in array");
		if (value && VARSIZE_ANY_EXHDR(value) > MAX_SENT_TEXT_BYTES)
			ereport(ERROR,
					(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
					 errmsg("element %d of %s is too long", ARR_LBOUND(array)[0] + i, name),
					 errdetail("It is %zu bytes long; imcheck sends at most %d bytes.",
							   (size_t) VARSIZE_ANY_EXHDR(value), MAX_SENT_TEXT_BYTES)));
		/* a repeated UserID keeps the value of its first element */
		if (!(map->is_repeat[i / 8] & (1 << (i % 8))))
			values[d++] = value;
	}
	pfree(nulls);
	pfree(elements);
	return values;
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
 * Each element's offset is written as the next distinct one's; it stays
 * only if the element is new.
 */
void
input_find_distinct(ArrayType *array, int nitems, imcheck_job *job, element_map *map)
{
	const char *data = ARR_DATA_PTR(array);
	const char *ptr = data;
	uint32	   *offsets = palloc(sizeof(uint32) * nitems);
	distinct_ids ids = {data, offsets};
	distinct_hash *set = distinct_create(CurrentMemoryContext, (uint32) nitems, &ids);

	map->is_repeat = palloc0((nitems + 7) / 8);
	job->n = 0;
	for (int i = 0; i < nitems; i++)
	{
		distinct_entry *entry;
		bool		found;

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

/*
 * The job's results.  The arrays other than status are allocated on first
 * use: most checks end with every code 0, no text and no detail, and a
 * million IDs would cost 16 MB of NULLs.
 */
void
job_set_code(imcheck_job *job, uint32 d, int32 code)
{
	if (code == 0 && job->result_code == NULL)
		return;
	if (job->result_code == NULL)
		job->result_code = MemoryContextAllocZero(job->mcxt, sizeof(int32) * job->n);
	job->result_code[d] = code;
}

void
job_set_info(imcheck_job *job, uint32 d, const char *info)
{
	if (info == NULL && job->result_info == NULL)
		return;
	if (job->result_info == NULL)
		job->result_info = MemoryContextAllocZero(job->mcxt, sizeof(char *) * job->n);
	job->result_info[d] = unconstify(char *, info);
}

void
job_set_detail(imcheck_job *job, uint32 d, Datum detail)
{
	if (detail == 0 && job->detail == NULL)
		return;
	if (job->detail == NULL)
		job->detail = MemoryContextAllocZero(job->mcxt, sizeof(Datum) * job->n);
	job->detail[d] = detail;
}

void
job_fail_ids(imcheck_job *job, uint32 first, uint32 n, const call_outcome *out)
{
	/* one copy for all of them, in the job's memory (out's is the call's) */
	const char *info = out->info ? MemoryContextStrdup(job->mcxt, out->info) : NULL;

	for (uint32 i = 0; i < n; i++)
	{
		job_set_code(job, first + i, out->code);
		job->status[first + i] = PROTOCOL_STATUS_NONE;
		job_set_info(job, first + i, info);
		job_set_detail(job, first + i, 0);
	}
}
