/*
 * pacing.h - how many calls the engine keeps in flight, and how long a
 * failed call waits before it goes again (pacing.c).  The rate budget
 * itself is ratelimit.c's.
 */
#ifndef IMCHECK_PACING_H
#define IMCHECK_PACING_H

#include "outcome.h"
#include "settings.h"

/* the most calls in flight that imcheck.max_concurrency = 0 keeps */
#define PACING_MAX_IN_FLIGHT 256

/*
 * How many calls may be in flight now: imcheck.max_concurrency, or with 0
 * as many as the rate budget needs over the round trip.  oldest_age_us is
 * how long the oldest call in flight has been out (0: none).
 */
extern int	pacing_in_flight_limit(const imcheck_config *cfg, int64 oldest_age_us);

/* Whether an answer has measured the round trip (oldest_age_us is then unused). */
extern bool pacing_round_trip_known(void);

/* A call was answered after took_us: the round trip's average moves. */
extern void pacing_answered(int64 took_us);

/* The endpoint changed: its round trip is not known yet. */
extern void pacing_forget_round_trip(void);

/* How long a failed call waits before its attempt + 1. */
extern int64 pacing_backoff_us(const imcheck_config *cfg, const call_outcome *out,
								int attempt);

#endif							/* IMCHECK_PACING_H */
