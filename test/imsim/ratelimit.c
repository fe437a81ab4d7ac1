/*
 * ratelimit.c - imsim's rate limits: for each API, a sliding one-second
 * window of the arrival times of its accepted calls (runtime.win[api], a
 * ring in arrival order that grows as needed), which also gives that API's
 * max_calls_per_second.  A call's arrival is when the kernel received it
 * (server.c, request_arrival_ns), as the service counts it.  The APIs' windows are independent, as the
 * service limits each API on its own.
 */
#include "imsim.h"

#include <stdlib.h>

/*
 * Calls of several worker threads reach ratelimit_admit a little out of
 * their arrival order (a thread stamps a call's arrival, then waits for the
 * lock): arrivals older than this behind the newest are still placed right.
 */
#define ARRIVAL_DISORDER_NS (200 * NS_PER_MS)

/* The i-th oldest arrival in w. */
#define AT(w, i) ((w)->ring[((w)->head + (i)) & ((w)->cap - 1)])

/*
 * Admits a call of api that arrived at arrived (caller holds runtime.lock):
 * returns 1 and records it when fewer than the API's rate limit calls
 * arrived in the second before it (or since: the kernel's clock ticks in
 * milliseconds, so a call stamped a little later may be counted first),
 * else 0 (a rejected call is not recorded).  The window is kept in arrival
 * order.
 */
int
ratelimit_admit(api_id api, uint64_t arrived)
{
	ratewindow *w = &runtime.win[api];
	int64_t		limit = runtime.rate_limit[api];
	size_t		later = 0;		/* recorded arrivals after this one */
	size_t		in_window = 0;	/* recorded arrivals since a second before it */
	size_t		since_reset;

	/* what no later call's window can hold any more */
	while (w->len > 0 && AT(w, 0) + NS_PER_S + ARRIVAL_DISORDER_NS <= arrived)
	{
		w->head = (w->head + 1) & (w->cap - 1);
		w->len--;
	}
	for (size_t i = w->len; i > 0; i--)
	{
		uint64_t	t = AT(w, i - 1);

		if (t + NS_PER_S <= arrived)
			break;
		in_window++;
		if (t > arrived)
			later++;
	}
	if (limit > 0 && in_window >= (uint64_t) limit)
		return 0;
	if (w->len == w->cap)
	{
		size_t		ncap = w->cap ? w->cap * 2 : 1024;
		uint64_t   *nw = malloc(ncap * sizeof(uint64_t));

		if (nw == NULL)
			return 1;			/* out of memory: admitted, not recorded */
		for (size_t i = 0; i < w->len; i++)
			nw[i] = AT(w, i);
		free(w->ring);
		w->ring = nw;
		w->cap = ncap;
		w->head = 0;
	}
	/* in its place: after the arrivals before it */
	for (size_t i = w->len; i > w->len - later; i--)
		AT(w, i) = AT(w, i - 1);
	AT(w, w->len - later) = arrived;
	w->len++;
	w->pushed++;
	since_reset = w->pushed - w->pushed_at_reset;
	if (since_reset > in_window + 1)
		since_reset = in_window + 1;
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
