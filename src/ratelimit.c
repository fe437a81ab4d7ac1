/*
 * ratelimit.c - sliding-window pacing of API calls (see ratelimit.h).
 *
 * Per backend for now; the log lives in malloc'd memory so that it outlives
 * statements (two statements run back to back share one window).
 */
#include "ratelimit.h"

#include <stdlib.h>
#include <string.h>

static struct
{
	int64_t    *starts;			/* ring of the last `rate` call starts */
	int			rate;
	uint64_t	count;			/* calls recorded so far; ring index = count % rate */
	int64_t		wait_us;
} limiter;

void
ratelimit_configure(int rate_limit)
{
	int64_t    *starts;

	if (rate_limit < 0)
		rate_limit = 0;
	if (rate_limit == limiter.rate)
		return;
	starts = NULL;
	if (rate_limit > 0)
	{
		starts = calloc((size_t) rate_limit, sizeof(int64_t));
		if (starts == NULL)
			abort();
		/* zero times are far in the past: the first `rate` calls may start */
		for (int i = 0; i < rate_limit; i++)
			starts[i] = INT64_MIN / 2;
	}
	free(limiter.starts);
	limiter.starts = starts;
	limiter.rate = rate_limit;
	limiter.count = 0;
}

int64_t
ratelimit_try_acquire(int64_t now_us, ratelimit_ticket *ticket)
{
	int64_t    *oldest;

	if (limiter.rate == 0)
	{
		*ticket = UINT64_MAX;
		return 0;
	}
	oldest = &limiter.starts[limiter.count % (uint64_t) limiter.rate];
	if (now_us - *oldest < RATELIMIT_WINDOW_US)
		return *oldest + RATELIMIT_WINDOW_US - now_us;
	*oldest = now_us;
	*ticket = limiter.count++;
	return 0;
}

void
ratelimit_refine(ratelimit_ticket ticket, int64_t sent_us)
{
	int64_t    *slot;

	if (limiter.rate == 0 || ticket == UINT64_MAX ||
		ticket + (uint64_t) limiter.rate <= limiter.count)
		return;					/* unlimited, or already overwritten */
	slot = &limiter.starts[ticket % (uint64_t) limiter.rate];
	if (sent_us > *slot)
		*slot = sent_us;
}

int64_t
ratelimit_total_wait_us(void)
{
	return limiter.wait_us;
}

void
ratelimit_add_wait(int64_t us)
{
	limiter.wait_us += us;
}
