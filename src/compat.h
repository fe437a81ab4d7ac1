/*
 * compat.h - the differences between the PostgreSQL majors imcheck builds
 * on, in one place.
 */
#ifndef IMCHECK_COMPAT_H
#define IMCHECK_COMPAT_H

#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/wait_event.h"

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/fmgrprotos.h"

#if PG_VERSION_NUM >= 160000
#include "nodes/miscnodes.h"
#include "varatt.h"				/* VARDATA_ANY and friends left postgres.h */
#else
#include "common/jsonapi.h"
#endif
#if PG_VERSION_NUM >= 170000
#include "storage/procnumber.h"
#else
#include "storage/backendid.h"
#endif

/*
 * text as jsonb, or 0 when jsonb refuses it.  16 and later say so without
 * raising, in one parse; 15 asks its JSON lexer first, with the escapes
 * checked as jsonb checks them (a number jsonb cannot hold, 1e999999, then
 * still raises 22003 on 15).
 */
static inline Datum
imcheck_jsonb_or_0(char *text)
{
#if PG_VERSION_NUM >= 160000
	ErrorSaveContext escontext = {T_ErrorSaveContext};
	Datum		jsonb;

	if (!DirectInputFunctionCallSafe(jsonb_in, text, InvalidOid, -1,
									 (Node *) &escontext, &jsonb))
		return (Datum) 0;
	return jsonb;
#else
	JsonLexContext *lex = makeJsonLexContextCstringLen(text, (int) strlen(text),
													   GetDatabaseEncoding(), true);

	if (pg_parse_json(lex, &nullSemAction) != JSON_SUCCESS)
		return (Datum) 0;
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(text));
#endif
}

/*
 * A function that never returns: 18 spells it C11's way, before the
 * declaration, and 19 dropped pg_attribute_noreturn(), which GCC and clang
 * also take before a declaration.
 */
#ifndef pg_noreturn
#define pg_noreturn pg_attribute_noreturn()
#endif

/*
 * This backend's place among the server's backends, from 1 (0: none):
 * BackendId until 16, ProcNumber (from 0) since 17.
 */
static inline int
imcheck_backend_number(void)
{
#if PG_VERSION_NUM >= 170000
	return MyProcNumber == INVALID_PROC_NUMBER ? 0 : MyProcNumber + 1;
#else
	return MyBackendId == InvalidBackendId ? 0 : MyBackendId;
#endif
}

/*
 * A WaitEventSet that the caller frees (on every path, ERROR included):
 * 17 tracks it by a resource owner instead of a memory context, and none
 * is needed here.
 */
static inline WaitEventSet *
imcheck_create_wait_event_set(int nevents)
{
#if PG_VERSION_NUM >= 170000
	return CreateWaitEventSet(NULL, nevents);
#else
	return CreateWaitEventSet(TopMemoryContext, nevents);
#endif
}

/*
 * The wait events a backend reports while it waits for the API: custom,
 * named ones from 17 on (pg_stat_activity shows the name), the generic
 * "Extension" before.
 */
typedef enum imcheck_wait
{
	IMCHECK_WAIT_CALL,			/* calls in flight */
	IMCHECK_WAIT_RATE_BUDGET,	/* the rate budget, or a retry's backoff */
	IMCHECK_WAITS
} imcheck_wait;

static inline uint32
imcheck_wait_event(imcheck_wait wait)
{
#if PG_VERSION_NUM >= 170000
	static const char *const names[IMCHECK_WAITS] = {"ImcheckCall", "ImcheckRateBudget"};
	static uint32 events[IMCHECK_WAITS];

	if (events[wait] == 0)
		events[wait] = WaitEventExtensionNew(names[wait]);
	return events[wait];
#else
	return PG_WAIT_EXTENSION;
#endif
}

/*
 * A SQL-callable function, exported from imcheck.so (built with hidden
 * visibility): 16's PG_FUNCTION_INFO_V1 marks the function PGDLLEXPORT,
 * 15's only its pg_finfo_ record.
 */
#define IMCHECK_SQL_FUNCTION(name) \
	extern PGDLLEXPORT Datum name(PG_FUNCTION_ARGS); \
	PG_FUNCTION_INFO_V1(name)

#endif							/* IMCHECK_COMPAT_H */
