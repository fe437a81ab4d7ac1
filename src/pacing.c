/*
 * pacing.c - calls in flight and retry backoff (see pacing.h).
 *
 * 100 calls a second over a 300 ms round trip need 30 calls in flight
 * (Little's law), so a fixed number would cap the rate far from the app's
 * region.  With imcheck.max_concurrency = 0 the engine keeps rate x round
 * trip in flight, a quarter more for jitter and two spare.  The round trip
 * is a moving average of answered calls' times, an eighth per call as TCP
 * averages its RTT, kept per backend: the next statement starts from it.
 */
#include "postgres.h"

#include "common/pg_prng.h"

#include "pacing.h"

/* before any answer, and without a rate limit */
#define FIRST_IN_FLIGHT 16
#define MIN_IN_FLIGHT 4

#define BACKOFF_BASE_MS 100
#define BACKOFF_RATE_LIMITED_MS 1000
#define BACKOFF_CAP_MS 10000

/* the moving average of answered calls' times; 0: none answered yet */
static int64 round_trip_us = 0;

int
pacing_in_flight_limit(const imcheck_config *cfg, int64 oldest_age_us)
{
	int64		round_trip = round_trip_us;
	int64		need;

	if (cfg->max_concurrency > 0)
		return cfg->max_concurrency;
	if (cfg->rate_limit <= 0)
		return FIRST_IN_FLIGHT;

	/*
	 * Before the first answer, the round trip is at least the age of the
	 * oldest call in flight: the limit then grows as fast as the rate
	 * budget lets calls start, as in TCP's slow start.
	 */
	if (round_trip == 0)
		round_trip = oldest_age_us;
	need = ((int64) cfg->rate_limit * round_trip * 5 / 4 + 999999) / 1000000 + 2;
	if (round_trip_us == 0)
		need = Max(need, FIRST_IN_FLIGHT);
	return (int) Max(MIN_IN_FLIGHT, Min(need, PACING_MAX_IN_FLIGHT));
}

bool
pacing_round_trip_known(void)
{
	return round_trip_us != 0;
}

void
pacing_answered(int64 took_us)
{
	round_trip_us = round_trip_us == 0 ? took_us
		: round_trip_us + (took_us - round_trip_us) / 8;
}

void
pacing_forget_round_trip(void)
{
	round_trip_us = 0;
}

int64
pacing_backoff_us(const imcheck_config *cfg, const call_outcome *out, int attempt)
{
	int64		base_ms;
	int64		ms;

	if (out->reason == RETRY_USERSIG_RENEWED)
		return 0;

	/*
	 * A rate-limit answer under imcheck.rate_limit has cut the rate the
	 * calls start at (ratelimit.c), which spaces them out: the retry needs
	 * no long wait of its own.  Without a limit, the wait is all there is.
	 */
	base_ms = out->reason == RETRY_API_RATE_LIMITED && cfg->rate_limit <= 0
		? BACKOFF_RATE_LIMITED_MS : BACKOFF_BASE_MS;
	ms = base_ms << Min(attempt, 10);
	ms = Min(ms, BACKOFF_CAP_MS);
	/* jitter between half and all of it, so retries don't come in waves */
	return (int64) (ms * 1000 * (0.5 + 0.5 * pg_prng_double(&pg_global_prng_state)));
}
