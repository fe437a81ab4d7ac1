/*
 * stats.h - what imcheck has done: cumulative counters, and the progress
 * of the checks running now.
 *
 * With the library in shared_preload_libraries both live in shared memory:
 * counters add up over all sessions since the server started (or the last
 * imcheck_reset_stats()), and every session can see every running check.
 * Otherwise each session sees only its own.  Counters are kept per API: a
 * check counts for the API it calls.
 */
#ifndef IMCHECK_STATS_H
#define IMCHECK_STATS_H

#include "api.h"
#include "outcome.h"

/*
 * The counters and one progress slot per backend in shared memory (shmem.c
 * places them).  Without them each session counts alone.
 */
extern Size imcheck_stats_shmem_size(int n_slots);
extern void imcheck_stats_shmem_attach(void *place, int n_slots, bool initialize);

/* A check starts / ends (also on error): the progress slot of this backend. */
extern void imcheck_stats_check_started(imcheck_api_id api, uint32 n_ids);
/* the check has n_ids more UserIDs (a table's, as they are read) */
extern void imcheck_stats_check_grew(uint32 n_ids);
extern void imcheck_stats_check_ended(void);

extern void imcheck_stats_call_started(void);
/* A call's kept connection broke before any answer: it goes again on a new one. */
extern void imcheck_stats_stale_connection(void);
extern void imcheck_stats_call_finished(uint32 ids_done, long connections_opened);
/* A call could not reach one base URL and the next was tried. */
extern void imcheck_stats_failover(void);
extern void imcheck_stats_rate_reduction(void);

extern void imcheck_stats_retry(imcheck_retry_reason reason);
extern void imcheck_stats_call_failed(int32 code);
extern void imcheck_stats_rate_wait(int64 us);

#endif							/* IMCHECK_STATS_H */
