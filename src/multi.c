/*
 * multi.c - the backend's libcurl multi handle and the waits on it (see
 * multi.h).
 */
#include "postgres.h"

#include <curl/curl.h>

#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/memutils.h"

#include "compat.h"
#include "multi.h"
#include "ratelimit.h"

/* A socket libcurl wants watched, and for what (CURL_POLL_IN/OUT/INOUT). */
typedef struct watched_socket
{
	curl_socket_t fd;
	int			what;
} watched_socket;

/*
 * The backend's libcurl state.  The callbacks below fill it from inside
 * libcurl, where nothing may raise an ERROR: the socket table is malloc'd.
 */
static struct
{
	bool		curl_ready;
	CURLM	   *multi;
	watched_socket *sockets;
	int			n_sockets;
	int			sockets_cap;
	bool		sockets_changed;	/* the wait set must be rebuilt */
	int64		timer_at_us;	/* when libcurl wants to be called; INT64_MAX: never */
	WaitEventSet *wait_set;		/* latch, postmaster death, the sockets */
	WaitEvent  *occurred;		/* in TopMemoryContext */
	int			occurred_cap;
}			state = {.timer_at_us = INT64_MAX};

/* libcurl's CURLMOPT_SOCKETFUNCTION: keeps the table of sockets to watch. */
static int
watch_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	int			i;

	for (i = 0; i < state.n_sockets; i++)
		if (state.sockets[i].fd == fd)
			break;
	if (what == CURL_POLL_REMOVE)
	{
		if (i < state.n_sockets)
			state.sockets[i] = state.sockets[--state.n_sockets];
	}
	else
	{
		if (i == state.n_sockets)
		{
			if (state.n_sockets == state.sockets_cap)
			{
				int			cap = Max(16, state.sockets_cap * 2);
				watched_socket *grown = realloc(state.sockets, sizeof(watched_socket) * cap);

				if (grown == NULL)
					return -1;	/* libcurl fails the transfers */
				state.sockets = grown;
				state.sockets_cap = cap;
			}
			state.sockets[state.n_sockets++].fd = fd;
		}
		state.sockets[i].what = what;
	}
	state.sockets_changed = true;
	return 0;
}

/* libcurl's CURLMOPT_TIMERFUNCTION: when to call it without socket activity. */
static int
set_timer(CURLM *multi, long timeout_ms, void *userp)
{
	state.timer_at_us = timeout_ms < 0 ? INT64_MAX
		: ratelimit_monotonic_us() + (int64) timeout_ms * 1000;
	return 0;
}

CURLM *
multi_handle(void)
{
	if (!state.curl_ready)
	{
		if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("could not initialize libcurl")));
		state.curl_ready = true;
	}
	if (state.multi == NULL)
	{
		state.multi = curl_multi_init();
		if (state.multi == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("could not initialize libcurl")));
		curl_multi_setopt(state.multi, CURLMOPT_SOCKETFUNCTION, watch_socket);
		curl_multi_setopt(state.multi, CURLMOPT_TIMERFUNCTION, set_timer);
	}
	return state.multi;
}

void
multi_reset(void)
{
	if (state.multi != NULL)
	{
		curl_multi_cleanup(state.multi);	/* closes the cached connections */
		state.multi = NULL;
	}
	state.n_sockets = 0;
	state.sockets_changed = true;
	state.timer_at_us = INT64_MAX;
}

bool
multi_watches_socket(curl_socket_t fd)
{
	for (int i = 0; i < state.n_sockets; i++)
		if (state.sockets[i].fd == fd)
			return true;
	return false;
}

/* Makes the wait set anew for the sockets libcurl watches now. */
static void
rebuild_wait_set(void)
{
	int			size = state.n_sockets + 2;

	multi_end_waits();
	if (size > state.occurred_cap)
	{
		int			cap = Max(16, Max(size, state.occurred_cap * 2));

		state.occurred = state.occurred == NULL
			? MemoryContextAlloc(TopMemoryContext, sizeof(WaitEvent) * cap)
			: repalloc(state.occurred, sizeof(WaitEvent) * cap);
		state.occurred_cap = cap;
	}
	state.wait_set = imcheck_create_wait_event_set(size);
	AddWaitEventToSet(state.wait_set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(state.wait_set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	for (int i = 0; i < state.n_sockets; i++)
	{
		int			what = state.sockets[i].what;
		uint32		events = 0;

		if (what & CURL_POLL_IN)
			events |= WL_SOCKET_READABLE;
		if (what & CURL_POLL_OUT)
			events |= WL_SOCKET_WRITEABLE;
		if (events != 0)
			AddWaitEventToSet(state.wait_set, events, state.sockets[i].fd, NULL, NULL);
	}
	state.sockets_changed = false;
}

void
multi_wait(int64 wake_at_us, int64 now_us, uint32 wait_event)
{
	int64		until = Min(wake_at_us, state.timer_at_us);
	long		timeout_ms = -1;
	int			running;
	int			n;

	if (until != INT64_MAX)
		timeout_ms = until <= now_us ? 0 : (long) ((until - now_us + 999) / 1000);
	if (state.wait_set == NULL || state.sockets_changed)
		rebuild_wait_set();
	n = WaitEventSetWait(state.wait_set, timeout_ms, state.occurred, state.occurred_cap,
						 wait_event);
	for (int i = 0; i < n; i++)
	{
		WaitEvent  *ev = &state.occurred[i];
		int			mask = 0;

		if (ev->events & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			continue;			/* the caller checks for interrupts */
		}
		if (ev->events & WL_SOCKET_READABLE)
			mask |= CURL_CSELECT_IN;
		if (ev->events & WL_SOCKET_WRITEABLE)
			mask |= CURL_CSELECT_OUT;
		if (mask != 0)
			curl_multi_socket_action(state.multi, ev->fd, mask, &running);
	}
	if (state.timer_at_us <= ratelimit_monotonic_us())
	{
		/*
		 * libcurl's timer fires once: libcurl sets it again, through
		 * set_timer, only if it still wants one.  Left armed, a timer that
		 * libcurl no longer needs would make every later wait return at once.
		 */
		state.timer_at_us = INT64_MAX;
		curl_multi_socket_action(state.multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}
}

void
multi_end_waits(void)
{
	if (state.wait_set != NULL)
	{
		FreeWaitEventSet(state.wait_set);
		state.wait_set = NULL;
	}
}
