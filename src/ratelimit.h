/*
 * ratelimit.h - pacing of API calls: no one-second window may hold more
 * than imcheck.rate_limit call starts.
 *
 * A sliding-window log: the start times of the most recent calls are kept
 * in a ring; a call may start once the rate_limit-th most recent start is
 * more than a window ago.  Unlike a token bucket this never lets two bursts
 * meet inside one second.  The window is slightly longer than a second,
 * because the service counts calls when they arrive, a little after we
 * start them.  Within it, calls start evenly spaced after a short burst.
 *
 * The rate it allows is the limit until the API refuses a call for its
 * rate limit, which says that other servers spend the app's quota too: it
 * is then cut, and grows back over time (ratelimit.c).
 *
 * Each API has a log of its own (its limit is its own: 100, 100 and 200
 * calls a second), named by its imcheck_api_id.  With the library in
 * shared_preload_libraries the logs are in shared memory and every session
 * of the cluster spends one budget per API (the API's limit is per app,
 * not per session); otherwise each backend has logs of its own.
 */
#ifndef IMCHECK_RATELIMIT_H
#define IMCHECK_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "storage/lwlock.h"

/* The window, in microseconds: one second plus a margin for delivery. */
#define RATELIMIT_WINDOW_US (1000 * 1000 + 20 * 1000)

/* The largest imcheck.rate_limit; the log holds this many starts. */
#define RATELIMIT_MAX_RATE 100000

/* The logs, one per API (IMCHECK_APIS). */
#define RATELIMIT_LOGS 3

/* Identifies a recorded call, to refine its time later. */
typedef uint64_t ratelimit_ticket;

/*
 * The call log in shared memory (shmem.c places it, with the named LWLock
 * tranche RATELIMIT_LOCK_TRANCHE of RATELIMIT_LOGS locks, one per log), so
 * that every session of the server paces against one budget.  Without it
 * each session keeps its own log.
 */
#define RATELIMIT_LOCK_TRANCHE "imcheck_rate_log"
extern size_t ratelimit_shmem_size(void);
extern void ratelimit_shmem_attach(void *place, bool initialize, LWLockPadded *locks);

/* CLOCK_MONOTONIC in microseconds: the same clock in every process. */
extern int64_t ratelimit_monotonic_us(void);

/*
 * Asks to start a call of API log now under a limit of rate calls per window (0 =
 * unlimited).  Returns 0, records the call and sets *ticket when it may
 * start; otherwise returns how many microseconds to wait before asking again.
 */
extern int64_t ratelimit_try_acquire(int log, int rate, ratelimit_ticket *ticket);

/*
 * The API refused a recorded call for its rate limit: cuts the rate the
 * log allows (ratelimit.c says how, and how it grows back) unless the call
 * started before the last cut.  Returns whether it cut.
 */
extern bool ratelimit_refused(int log, int rate, ratelimit_ticket ticket);

/*
 * Moves a recorded call's time later, to when its request was really sent
 * (call.c calls it from libcurl's callback as the request goes out), if it
 * is still in the log.  It raises no ERROR, as a callback must not.
 */
extern void ratelimit_refine(int log, ratelimit_ticket ticket, int64_t sent_us);

#endif							/* IMCHECK_RATELIMIT_H */
