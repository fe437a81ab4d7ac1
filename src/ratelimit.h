/*
 * ratelimit.h - pacing of API calls: no one-second window may hold more
 * than rate_limit call starts.
 *
 * A sliding-window log: the start times of the last rate_limit calls are
 * kept in a ring; a new call may start once the oldest of them is more
 * than a window ago.  Unlike a token bucket this never lets two bursts
 * meet inside one second.  The window is slightly longer than a second,
 * because the service counts calls when they arrive, a little after we
 * start them.
 */
#ifndef IMCHECK_RATELIMIT_H
#define IMCHECK_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

/* The window, in microseconds: one second plus a margin for delivery. */
#define RATELIMIT_WINDOW_US (1000 * 1000 + 10 * 1000)

/* Opaque handle of the call's slot in the log, to refine its time later. */
typedef uint64_t ratelimit_ticket;

/*
 * Sets the limit for the calls that follow (0 = unlimited).  Keeps the
 * history when the limit is unchanged, so consecutive statements pace too.
 */
extern void ratelimit_configure(int rate_limit);

/*
 * Asks to start a call at now_us.  Returns 0 and records the call (setting
 * *ticket) when it may start; otherwise returns how many microseconds to
 * wait before asking again.
 */
extern int64_t ratelimit_try_acquire(int64_t now_us, ratelimit_ticket *ticket);

/*
 * Moves a recorded call's time later, to when its request was really sent
 * (known once it has completed), if it is still in the log.
 */
extern void ratelimit_refine(ratelimit_ticket ticket, int64_t sent_us);

/* Microseconds spent waiting for the budget, since the backend started. */
extern int64_t ratelimit_total_wait_us(void);
extern void ratelimit_add_wait(int64_t us);

#endif							/* IMCHECK_RATELIMIT_H */
