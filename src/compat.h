/*
 * compat.h - the differences between the PostgreSQL majors imcheck builds
 * on, in one place.
 */
#ifndef IMCHECK_COMPAT_H
#define IMCHECK_COMPAT_H

#include "postgres.h"

#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/wait_event.h"

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

#endif							/* IMCHECK_COMPAT_H */
