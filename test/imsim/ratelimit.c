/*
 * ratelimit.c - imsim's rate limit: a sliding one-second window of the
 * arrival times of accepted calls (runtime.win, a FIFO ring that grows as
 * needed), which also gives the statistics' max_calls_per_second.
 */
#include "imsim.h"

#include <stdlib.h>

/*
 * Admits a call that arrived at now (caller holds runtime.lock): returns 1
 * and records it when fewer than rate_limit calls were admitted in the
 * last second, else 0 (a rejected call is not recorded).
 */
int
ratelimit_admit(uint64_t now)
{
	size_t		since_reset;

	while (runtime.win_len > 0 &&
		   runtime.win[runtime.win_head] + NS_PER_S <= now)
	{
		runtime.win_head = (runtime.win_head + 1) & (runtime.win_cap - 1);
		runtime.win_len--;
	}
	if (runtime.rate_limit > 0 &&
		runtime.win_len >= (uint64_t) runtime.rate_limit)
		return 0;
	if (runtime.win_len == runtime.win_cap)
	{
		size_t		ncap = runtime.win_cap ? runtime.win_cap * 2 : 1024;
		uint64_t   *nw = malloc(ncap * sizeof(uint64_t));

		if (nw != NULL)
		{
			for (size_t i = 0; i < runtime.win_len; i++)
				nw[i] = runtime.win[(runtime.win_head + i) &
									(runtime.win_cap - 1)];
			free(runtime.win);
			runtime.win = nw;
			runtime.win_cap = ncap;
			runtime.win_head = 0;
		}
		else if (runtime.win_cap > 0)
		{
			/* out of memory: forget the oldest (statistics only) */
			runtime.win_head = (runtime.win_head + 1) & (runtime.win_cap - 1);
			runtime.win_len--;
		}
		else
			return 1;			/* out of memory, nothing recorded */
	}
	runtime.win[(runtime.win_head + runtime.win_len) &
				(runtime.win_cap - 1)] = now;
	runtime.win_len++;
	runtime.win_pushed++;
	since_reset = runtime.win_pushed - runtime.win_pushed_at_reset;
	if (since_reset > runtime.win_len)
		since_reset = runtime.win_len;
	if (since_reset > runtime.max_cps)
		runtime.max_cps = since_reset;
	return 1;
}
