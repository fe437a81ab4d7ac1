/*
 * shmem.c - imcheck's shared memory: one segment, made at server start when
 * the library is preloaded, holding the rate limit's call log (ratelimit.c)
 * and the statistics with one progress slot per backend (stats.c).  Each
 * of those modules keeps a session-local copy when there is no segment.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "ratelimit.h"
#include "shmem.h"
#include "stats.h"

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
	RequestNamedLWLockTranche(RATELIMIT_LOCK_TRANCHE, RATELIMIT_LOGS);
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
imcheck_shmem_request_segment(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = request_segment;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = attach_segment;
}
