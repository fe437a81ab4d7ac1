/*
 * ratelimit.c - imsim's rate limits: for each API, a sliding one-second
 * window of the arrival times of its accepted calls (runtime.win[api], a
 * FIFO ring that grows as needed), which also gives that API's
 * max_calls_per_second.  The APIs' windows are independent, as the
 * service limits each API on its own.
 */
#include "imsim.h"

#include <stdlib.h>

/*
 * Admits a call of api that arrived at now (caller holds runtime.lock):
 * returns 1 and records it when fewer than the API's rate limit calls were
 * admitted in the last second, else 0 (a rejected call is not recorded).
 */
int
ratelimit_admit(api_id api, uint64_t now)
{
	ratewindow *w = &runtime.win[api];
	int64_t		limit = runtime.rate_limit[api];
	size_t		since_reset;

	while (w->len > 0 && w->ring[w->head] + NS_PER_S <= now)
	{
		w->head = (w->head + 1) & (w->cap - 1);
		w->len--;
	}
	if (limit > 0 && w->len >= (uint64_t) limit)
		return 0;
	if (w->len == w->cap)
	{
		size_t		ncap = w->cap ? w->cap * 2 : 1024;
		uint64_t   *nw = malloc(ncap * sizeof(uint64_t));

		if (nw != NULL)
		{
			for (size_t i = 0; i < w->len; i++)
				nw[i] = w->ring[(w->head + i) & (w->cap - 1)];
			free(w->ring);
			w->ring = nw;
			w->cap = ncap;
			w->head = 0;
		}
		else if (w->cap > 0)
		{
			/* out of memory: forget the oldest (statistics only) */
			w->head = (w->head + 1) & (w->cap - 1);
			w->len--;
		}
		else
			return 1;			/* out of memory, nothing recorded */
	}
	w->ring[(w->head + w->len) & (w->cap - 1)] = now;
	w->len++;
	w->pushed++;
	since_reset = w->pushed - w->pushed_at_reset;
	if (since_reset > w->len)
		since_reset = w->len;
	if (since_reset > w->max_cps)
		w->max_cps = since_reset;
	return 1;
}

/* At exit, after the HTTP server stopped. */
void
ratelimit_free(void)
{
	for (int i = 0; i < NAPIS; i++)
		free(runtime.win[i].ring);
}
