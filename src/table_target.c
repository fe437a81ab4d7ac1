/*
 * table_target.c - what im_account_check_table() is given, resolved and
 * checked before any call, and the runs it keeps (see table_int.h).
 *
 * Names reach dynamic SQL only as the catalog's names, quoted
 * (quote_identifier), and every function and operator the statements use
 * is schema-qualified: a caller's search_path changes nothing.  The
 * procedure cannot pin search_path itself (a procedure with SET cannot
 * COMMIT).
 *
 * The runs table belongs to the extension's owner; the procedure, which
 * runs as its caller, writes the run's row as that owner
 * (SetUserIdAndSecContext, as PostgreSQL's RI triggers do), so that a
 * caller needs no privilege on it and cannot forge another's row.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"
#include "utils/varlena.h"

#include "table_int.h"

/* classid of the run locks' advisory tag ("imch"); objid is the target's OID */
#define RUN_LOCK_KEY 0x696d6368

static const struct
{
	const char *name;
	Oid			type;
}			target_columns[TARGET_COLUMNS] =
{
	{"user_id", TEXTOID},
	{"result_code", INT4OID},
	{"account_status", TEXTOID},
	{"result_info", TEXTOID},
	{"checked_at", TIMESTAMPTZOID},
};

#define STATUS_TABLE_HINT "A status table has exactly the columns (user_id text PRIMARY KEY, result_code integer NOT NULL, account_status text, result_info text, checked_at timestamptz NOT NULL); name a table that does not exist to have one created."

static char *
qualified_name(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

/*
 * The relation argument arg names (read as regclass reads it: quoted or
 * not, schema-qualified or not), or InvalidOid.
 */
static Oid
lookup_relation(const char *arg, const char *name, RangeVar **rv)
{
	char	   *raw = pstrdup(name);
	List	   *parts;
	List	   *names = NIL;
	ListCell   *lc;

	if (!SplitIdentifierString(raw, '.', &parts) || parts == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("%s is not a valid name: \"%s\"", arg, name),
				 errhint("Write the name as in SQL, schema-qualified if need be: public.users, or \"My Users\".")));
	foreach(lc, parts)
		names = lappend(names, makeString(pstrdup(lfirst(lc))));
	*rv = makeRangeVarFromNameList(names);
	return RangeVarGetRelid(*rv, AccessShareLock, true);
}

static void
resolve_source(const char *source, const char *id_column, table_names *names)
{
	RangeVar   *rv;
	char		relkind;
	int32		typmod;
	TypeCacheEntry *type;
	HeapTuple	tuple;
	Form_pg_operator op;

	names->source = lookup_relation("source", source, &rv);
	if (!OidIsValid(names->source))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("source relation \"%s\" does not exist", source)));
	relkind = get_rel_relkind(names->source);
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE &&
		relkind != RELKIND_VIEW && relkind != RELKIND_MATVIEW &&
		relkind != RELKIND_FOREIGN_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("source \"%s\" is not a table or view", source)));
	names->source_name = qualified_name(names->source);

	names->id_attnum = get_attnum(names->source, id_column);
	if (names->id_attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						id_column, get_rel_name(names->source))));
	names->id_column = pstrdup(quote_identifier(id_column));
	get_atttypetypmodcoll(names->source, names->id_attnum, &names->id_type, &typmod,
						  &names->id_collation);

	/* the IDs are walked in the column's order: it must have one */
	type = lookup_type_cache(names->id_type, TYPECACHE_GT_OPR);
	if (!OidIsValid(type->gt_opr))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("column \"%s\" of relation \"%s\" has type %s, which has no ordering",
						id_column, get_rel_name(names->source), format_type_be(names->id_type)),
				 errdetail("The IDs are read in the order of the column's default btree operator class.")));
	tuple = SearchSysCache1(OPEROID, ObjectIdGetDatum(type->gt_opr));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for operator %u", type->gt_opr);
	op = (Form_pg_operator) GETSTRUCT(tuple);
	names->id_greater = psprintf("OPERATOR(%s.%s)",
								 quote_identifier(get_namespace_name(op->oprnamespace)),
								 NameStr(op->oprname));
	ReleaseSysCache(tuple);

	/* checked here, so that it fails before the run's row is written */
	if (pg_class_aclcheck(names->source, GetUserId(), ACL_SELECT) != ACLCHECK_OK &&
		pg_attribute_aclcheck(names->source, names->id_attnum, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, get_relkind_objtype(relkind),
					   get_rel_name(names->source));
}

/* Creates a missing target (as the caller: CREATE on its schema). */
static Oid
create_target(RangeVar *rv)
{
	Oid			namespace = RangeVarGetCreationNamespace(rv);
	char	   *sql = psprintf("CREATE TABLE IF NOT EXISTS %s ("
							   "user_id pg_catalog.text PRIMARY KEY, "
							   "result_code pg_catalog.int4 NOT NULL, "
							   "account_status pg_catalog.text, "
							   "result_info pg_catalog.text, "
							   "checked_at pg_catalog.timestamptz NOT NULL)",
							   quote_qualified_identifier(get_namespace_name(namespace),
														  rv->relname));

	if (SPI_execute(sql, false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "SPI_execute failed: %s", sql);
	return get_relname_relid(rv->relname, namespace);
}

/* Raises an ERROR unless the target has a status table's columns, and a unique key on user_id. */
static void
check_target_shape(Oid target, const char *given)
{
	Relation	rel = table_open(target, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	AttrNumber	user_id = InvalidAttrNumber;
	bool		found[TARGET_COLUMNS] = {0};
	List	   *indexes;
	ListCell   *lc;
	bool		unique = false;

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		int			c;

		if (att->attisdropped)
			continue;
		for (c = 0; c < TARGET_COLUMNS; c++)
			if (strcmp(NameStr(att->attname), target_columns[c].name) == 0)
				break;
		if (c == TARGET_COLUMNS)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("target \"%s\" is not a status table", given),
					 errdetail("It has a column \"%s\", which a status table does not have.",
							   NameStr(att->attname)),
					 errhint(STATUS_TABLE_HINT)));
		if (att->atttypid != target_columns[c].type)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("target \"%s\" is not a status table", given),
					 errdetail("Its column \"%s\" has type %s instead of %s.",
							   NameStr(att->attname), format_type_be(att->atttypid),
							   format_type_be(target_columns[c].type)),
					 errhint(STATUS_TABLE_HINT)));
		found[c] = true;
		if (c == 0)
			user_id = att->attnum;
	}
	for (int c = 0; c < TARGET_COLUMNS; c++)
		if (!found[c])
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("target \"%s\" is not a status table", given),
					 errdetail("It has no column \"%s\".", target_columns[c].name),
					 errhint(STATUS_TABLE_HINT)));

	/* the upsert's ON CONFLICT (user_id) needs a unique index on it alone */
	indexes = RelationGetIndexList(rel);
	foreach(lc, indexes)
	{
		HeapTuple	tuple = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		Form_pg_index index;

		if (!HeapTupleIsValid(tuple))
			continue;
		index = (Form_pg_index) GETSTRUCT(tuple);
		if (index->indisunique && index->indimmediate && index->indisvalid &&
			index->indnkeyatts == 1 && index->indkey.values[0] == user_id &&
			heap_attisnull(tuple, Anum_pg_index_indpred, NULL) &&
			heap_attisnull(tuple, Anum_pg_index_indexprs, NULL))
			unique = true;
		ReleaseSysCache(tuple);
	}
	list_free(indexes);
	table_close(rel, AccessShareLock);
	if (!unique)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("target \"%s\" is not a status table", given),
				 errdetail("It has no primary key or unique index on user_id."),
				 errhint(STATUS_TABLE_HINT)));
}

void
table_resolve(const char *source, const char *id_column, const char *target,
			  Oid procedure, table_names *names)
{
	RangeVar   *rv;
	Oid			namespace = get_func_namespace(procedure);
	HeapTuple	tuple;
	char		relkind;
	AclMode		needed = ACL_SELECT | ACL_INSERT | ACL_UPDATE;

	resolve_source(source, id_column, names);

	names->target = lookup_relation("target", target, &rv);
	if (!OidIsValid(names->target))
	{
		names->target = create_target(rv);
		names->target_created = true;
	}
	relkind = get_rel_relkind(names->target);
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("target \"%s\" is not a table", target)));
	names->target_name = qualified_name(names->target);
	check_target_shape(names->target, target);
	/* SELECT too: ON CONFLICT (user_id) reads it, and so do max_age and resuming */
	if (pg_class_aclmask(names->target, GetUserId(), needed, ACLMASK_ALL) != needed)
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_TABLE, get_rel_name(names->target));

	names->runs_name = quote_qualified_identifier(get_namespace_name(namespace),
												  "imcheck_table_run");
	tuple = SearchSysCache1(RELOID,
							ObjectIdGetDatum(get_relname_relid("imcheck_table_run", namespace)));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "imcheck_table_run is missing from schema %s",
			 get_namespace_name(namespace));
	names->runs_owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
}

/* Runs sql with args as the runs table's owner; returns SPI's code. */
static int
execute_as_owner(const table_names *names, const char *sql, int nargs, Oid *types,
				 Datum *values, const char *nulls, bool read_only)
{
	Oid			caller;
	int			sec_context;
	int			rc;

	GetUserIdAndSecContext(&caller, &sec_context);
	SetUserIdAndSecContext(names->runs_owner, sec_context | SECURITY_LOCAL_USERID_CHANGE);
	rc = SPI_execute_with_args(sql, nargs, types, values, nulls, read_only, 0);
	SetUserIdAndSecContext(caller, sec_context);
	if (rc < 0)
		elog(ERROR, "SPI_execute_with_args failed (%d): %s", rc, sql);
	return rc;
}

static void
run_lock_tag(LOCKTAG *tag, Oid target)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, RUN_LOCK_KEY, target, 2);
}

void
table_run_unlock(Oid target)
{
	LOCKTAG		tag;

	run_lock_tag(&tag, target);
	LockRelease(&tag, ExclusiveLock, true);
}

void
table_run_lock(const table_names *names)
{
	LOCKTAG		tag;
	LockAcquireResult got;

	run_lock_tag(&tag, names->target);
	got = LockAcquire(&tag, ExclusiveLock, true, true);
	if (got == LOCKACQUIRE_OK)
		return;
	if (got == LOCKACQUIRE_ALREADY_HELD)
		LockRelease(&tag, ExclusiveLock, true);
	ereport(ERROR,
			(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
			 errmsg("a check into \"%s\" is already running", names->target_name),
			 errdetail("Only one im_account_check_table() at a time writes to a target."),
			 errhint("The view imcheck_table_runs shows the run.")));
}

static int64
int64_of(int column)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, column, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

/* The columns table_run_begin reads of a run to continue. */
#define RUN_COLUMNS "r.run_id, r.source_oid, r.id_column, r.max_age, r.cutoff, r.last_key, " \
	"r.ids_done, r.ids_skipped, r.ids_failed, r.ids_too_long, r.calls, r.retries"

/* Takes the run of SPI_tuptable's row, if it is one of these arguments. */
static bool
continue_run(const table_names *names, const Interval *max_age, table_run *run)
{
	TupleDesc	desc = SPI_tuptable->tupdesc;
	HeapTuple	row = SPI_tuptable->vals[0];
	bool		isnull;
	Datum		age;
	char	   *column;

	if (DatumGetObjectId(SPI_getbinval(row, desc, 2, &isnull)) != names->source)
		return false;
	column = SPI_getvalue(row, desc, 3);
	if (strcmp(quote_identifier(column), names->id_column) != 0)
		return false;
	age = SPI_getbinval(row, desc, 4, &isnull);
	if (isnull != (max_age == NULL) ||
		(!isnull && !DatumGetBool(DirectFunctionCall2(interval_eq, age,
													  IntervalPGetDatum(max_age)))))
		return false;

	run->run_id = int64_of(1);
	run->resumed = true;
	run->cutoff = DatumGetTimestampTz(SPI_getbinval(row, desc, 5, &isnull));
	run->last_key = SPI_getvalue(row, desc, 6);
	run->ids_done = int64_of(7);
	run->ids_skipped = int64_of(8);
	run->ids_failed = int64_of(9);
	run->ids_too_long = int64_of(10);
	run->calls = int64_of(11);
	run->retries = int64_of(12);
	return true;
}

void
table_run_begin(const table_names *names, const Interval *max_age, int32 chunk_size,
				table_run *run)
{
	Oid			types[7] = {OIDOID, INT4OID, INT4OID, OIDOID, TEXTOID, INTERVALOID, OIDOID};
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	Oid			caller = GetUserId();

	memset(run, 0, sizeof(*run));

	/* the last run into the target that did not finish */
	values[0] = ObjectIdGetDatum(names->target);
	execute_as_owner(names,
					 psprintf("SELECT " RUN_COLUMNS " FROM %s r"
							  " WHERE r.target_oid OPERATOR(pg_catalog.=) $1"
							  " AND r.state OPERATOR(pg_catalog.<>) 'finished'"
							  " AND r.state OPERATOR(pg_catalog.<>) 'abandoned'"
							  " ORDER BY r.run_id DESC LIMIT 1", names->runs_name),
					 1, types, values, nulls, true);
	if (SPI_processed == 1 && continue_run(names, max_age, run))
	{
		values[1] = Int32GetDatum(MyProcPid);
		values[2] = Int32GetDatum(chunk_size);
		values[0] = Int64GetDatum(run->run_id);
		types[0] = INT8OID;
		execute_as_owner(names,
						 psprintf("UPDATE %s SET state = 'running', error = NULL, pid = $2,"
								  " chunk_size = $3, resumed = resumed OPERATOR(pg_catalog.+) 1,"
								  " last_resumed = pg_catalog.now()"
								  " WHERE run_id OPERATOR(pg_catalog.=) $1", names->runs_name),
						 3, types, values, nulls, false);
		return;
	}

	/* a new run: one that stopped with other arguments will not go on */
	execute_as_owner(names,
					 psprintf("UPDATE %s SET state = 'abandoned', pid = NULL"
							  " WHERE target_oid OPERATOR(pg_catalog.=) $1"
							  " AND state OPERATOR(pg_catalog.<>) 'finished'", names->runs_name),
					 1, types, values, nulls, false);
	values[1] = Int32GetDatum(MyProcPid);
	values[2] = Int32GetDatum(chunk_size);
	values[3] = ObjectIdGetDatum(names->source);
	values[4] = CStringGetTextDatum(names->id_column);
	if (max_age != NULL)
		values[5] = IntervalPGetDatum(max_age);
	else
		nulls[5] = 'n';
	values[6] = ObjectIdGetDatum(caller);
	execute_as_owner(names,
					 psprintf("INSERT INTO %s (run_by, source_oid, source, id_column, target_oid,"
							  " target, max_age, chunk_size, cutoff, started, pid, state)"
							  " VALUES ($7, $4, %s, $5, $1, %s, $6, $3,"
							  " pg_catalog.now() OPERATOR(pg_catalog.-)"
							  " COALESCE($6, '0'::pg_catalog.interval),"
							  " pg_catalog.now(), $2, 'running')"
							  " RETURNING run_id, cutoff", names->runs_name,
							  quote_literal_cstr(names->source_name),
							  quote_literal_cstr(names->target_name)),
					 7, types, values, nulls, false);
	run->run_id = int64_of(1);
	run->cutoff = DatumGetTimestampTz(int64_of(2));
}

void
table_run_save(const table_names *names, const table_run *run)
{
	Oid			types[8] = {INT8OID, TEXTOID, INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, INT8OID};
	Datum		values[8];
	char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};

	values[0] = Int64GetDatum(run->run_id);
	if (run->last_key != NULL)
		values[1] = CStringGetTextDatum(run->last_key);
	else
		nulls[1] = 'n';
	values[2] = Int64GetDatum(run->ids_done);
	values[3] = Int64GetDatum(run->ids_skipped);
	values[4] = Int64GetDatum(run->ids_failed);
	values[5] = Int64GetDatum(run->ids_too_long);
	values[6] = Int64GetDatum(run->calls);
	values[7] = Int64GetDatum(run->retries);
	execute_as_owner(names,
					 psprintf("UPDATE %s SET last_key = $2, ids_done = $3, ids_skipped = $4,"
							  " ids_failed = $5, ids_too_long = $6, calls = $7, retries = $8,"
							  " saved = pg_catalog.clock_timestamp()"
							  " WHERE run_id OPERATOR(pg_catalog.=) $1", names->runs_name),
					 8, types, values, nulls, false);
}

void
table_run_end(const table_names *names, const table_run *run, const char *error)
{
	Oid			types[5] = {INT8OID, TEXTOID, INT8OID, INT8OID, INT8OID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};

	/* a failed run's progress is what it committed; its calls were all made */
	if (error == NULL)
		table_run_save(names, run);
	values[0] = Int64GetDatum(run->run_id);
	if (error != NULL)
		values[1] = CStringGetTextDatum(error);
	else
		nulls[1] = 'n';
	values[2] = Int64GetDatum(run->null_ids);
	values[3] = Int64GetDatum(run->calls);
	values[4] = Int64GetDatum(run->retries);
	execute_as_owner(names,
					 psprintf("UPDATE %s SET state = CASE WHEN $2 IS NULL THEN 'finished' ELSE 'failed' END,"
							  " error = $2, null_ids = CASE WHEN $2 IS NULL THEN $3 END, pid = NULL,"
							  " calls = $4, retries = $5, finished = pg_catalog.clock_timestamp()"
							  " WHERE run_id OPERATOR(pg_catalog.=) $1", names->runs_name),
					 5, types, values, nulls, false);
}
