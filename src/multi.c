/*
 * multi.c - the backend's libcurl multi handle, its sockets, and waiting on
 * them through PostgreSQL.
 *
 * One multi handle lives as long as the backend, so its connection cache
 * keeps connections alive across calls and statements.  Waiting goes
 * through a WaitEventSet over the latch, postmaster death and the sockets
 * of libcurl's connections (CURLMOPT_SOCKETFUNCTION), with libcurl's timer
 * (CURLMOPT_TIMERFUNCTION) as a timeout: cancel, statement_timeout and
 * pg_terminate_backend set the latch, so they act at once.
 *
 * libcurl opens and closes its sockets through multi_open_socket and
 * multi_close_socket, so every socket of every connection is known, in
 * use or idle in the cache.  The wait set holds them all: a change of what
 * libcurl watches on a socket is one ModifyWaitEvent, and the set is made
 * anew only when a socket closes (PostgreSQL cannot take an event out of a
 * set), so a wait costs the same with 3 or 300 connections.
 *
 * An idle connection is watched for input, and drained and shut down when
 * it has some (doc/architecture.md, "Kept connections"); one that went idle
 * since the last wait, and at a statement's start every idle one, is looked
 * at before calls start (multi_drop_unsolicited).  An unsolicited answer
 * that comes after a call was sent on the connection remains possible: no
 * HTTP/1.1 client can tell it apart.
 */
#include "postgres.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/memutils.h"

#include "engine_int.h"

/* What is known of one socket, kept at its descriptor's index. */
typedef struct socket_entry
{
	bool		open;			/* the slot describes a socket */
	bool		ours;			/* opened by multi_open_socket: its close is seen */
	bool		in_use;			/* libcurl watches it (a transfer uses it) */
	bool		was_used;		/* ... has done so: idle now means in the cache */
	bool		dead;			/* drained and shut down here */
	bool		changed;		/* in state.changed */
	int			curl_what;		/* CURL_POLL_IN/OUT/INOUT while in_use */
	int			pos;			/* its event in the wait set, or -1 */
	uint32		events;			/* what that event waits for */
} socket_entry;

/*
 * The backend's libcurl state.  The callbacks below fill it from inside
 * libcurl, where nothing may raise an ERROR: the tables are malloc'd, and
 * the wait set is brought up to date only in multi_wait.
 */
static struct
{
	bool		curl_ready;
	CURLM	   *multi;
	socket_entry *by_fd;		/* indexed by descriptor */
	int			by_fd_cap;
	int			n_open;
	int		   *changed;		/* descriptors whose entry changed since the
								 * wait set was brought up to date */
	int			n_changed;
	int			changed_cap;
	bool		rebuild;		/* the wait set holds a closed socket */
	bool		look_at_all_idle;	/* no wait watched the idle connections
									 * since the last statement */
	int64		timer_at_us;	/* when libcurl wants to be called; INT64_MAX: never */
	WaitEventSet *wait_set;		/* latch, postmaster death, the sockets */
	int			wait_set_cap;	/* events it can hold */
	int			wait_set_used;
	WaitEvent  *occurred;		/* in TopMemoryContext, wait_set_cap long */
	int			occurred_cap;
}			state = {.timer_at_us = INT64_MAX};

/* The entry of fd, made room for; NULL when out of memory. */
static socket_entry *
entry_of(curl_socket_t fd)
{
	if (fd < 0)
		return NULL;
	if (fd >= state.by_fd_cap)
	{
		int			cap = Max(64, state.by_fd_cap);
		socket_entry *grown;

		while (cap <= fd)
			cap *= 2;
		grown = realloc(state.by_fd, sizeof(socket_entry) * cap);
		if (grown == NULL)
			return NULL;
		memset(grown + state.by_fd_cap, 0, sizeof(socket_entry) * (cap - state.by_fd_cap));
		state.by_fd = grown;
		state.by_fd_cap = cap;
	}
	return &state.by_fd[fd];
}

/* Notes that fd's entry changed; false when out of memory. */
static bool
mark_changed(curl_socket_t fd, socket_entry *e)
{
	if (e->changed)
		return true;
	if (state.n_changed == state.changed_cap)
	{
		int			cap = Max(64, state.changed_cap * 2);
		int		   *grown = realloc(state.changed, sizeof(int) * cap);

		if (grown == NULL)
			return false;
		state.changed = grown;
		state.changed_cap = cap;
	}
	state.changed[state.n_changed++] = fd;
	e->changed = true;
	return true;
}

/* An open socket's entry no longer describes it: a closed one stays in the set. */
static void
forget_socket(socket_entry *e)
{
	if (e->pos >= 0)
		state.rebuild = true;
	if (e->open && e->ours)
		state.n_open--;
	/* a descriptor in state.changed whose entry is not open is skipped */
	memset(e, 0, sizeof(*e));
	e->pos = -1;
}

curl_socket_t
multi_open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *address)
{
	curl_socket_t fd = socket(address->family, address->socktype | SOCK_CLOEXEC,
							  address->protocol);
	socket_entry *e;

	if (fd == CURL_SOCKET_BAD)
		return fd;
	e = entry_of(fd);
	if (e == NULL)
	{
		close(fd);
		return CURL_SOCKET_BAD;
	}
	if (e->open)
		forget_socket(e);		/* closed behind our back: a stale entry */
	memset(e, 0, sizeof(*e));
	e->open = true;
	e->ours = true;
	e->pos = -1;
	state.n_open++;
	return fd;
}

int
multi_close_socket(void *clientp, curl_socket_t fd)
{
	if (fd >= 0 && fd < state.by_fd_cap && state.by_fd[fd].open)
		forget_socket(&state.by_fd[fd]);
	return close(fd);
}

/* libcurl's CURLMOPT_SOCKETFUNCTION: what to watch on a socket, or stop. */
static int
watch_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	socket_entry *e = entry_of(fd);

	if (e == NULL)
		return -1;				/* libcurl fails the transfers */
	if (what == CURL_POLL_REMOVE)
	{
		if (!e->open)
			return 0;
		if (!e->ours)
		{
			/* its close will not be seen (a resolver's, say): out at once */
			forget_socket(e);
			return 0;
		}
		e->in_use = false;
	}
	else
	{
		if (!e->open)
		{
			/* a socket libcurl did not open through multi_open_socket */
			e->open = true;
			e->pos = -1;
		}
		e->in_use = e->was_used = true;
		e->curl_what = what;
	}
	return mark_changed(fd, e) ? 0 : -1;
}

/* libcurl's CURLMOPT_TIMERFUNCTION: when to call it without socket activity. */
static int
set_timer(CURLM *multi, long timeout_ms, void *userp)
{
	state.timer_at_us = timeout_ms < 0 ? INT64_MAX
		: ratelimit_monotonic_us() + (int64) timeout_ms * 1000;
	return 0;
}

/* A multi option refused is an ERROR naming it (see set_option in call.c). */
void
multi_set_option(CURLMcode rc, const char *option)
{
	if (rc != CURLM_OK)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("could not set libcurl option %s: %s", option, curl_multi_strerror(rc))));
}

/*
 * The oldest libcurl imcheck runs on: 7.85.0 brought CURLOPT_PROTOCOLS_STR,
 * which keeps calls to http and https.  The library loaded at run time may
 * be older than the headers it was built with.
 */
#define MULTI_OLDEST_LIBCURL 0x075500
#define MULTI_OLDEST_LIBCURL_TEXT "7.85.0"
#if LIBCURL_VERSION_NUM < MULTI_OLDEST_LIBCURL
#error "imcheck needs libcurl " MULTI_OLDEST_LIBCURL_TEXT " or later"
#endif

CURLM *
multi_handle(void)
{
	if (!state.curl_ready)
	{
		const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);

		if (v->version_num < MULTI_OLDEST_LIBCURL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("imcheck needs libcurl %s or later, but this server loaded libcurl %s",
							MULTI_OLDEST_LIBCURL_TEXT, v->version)));
		if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("could not initialize libcurl")));
		state.curl_ready = true;
	}
	if (state.multi == NULL)
	{
		CURLM	   *multi = curl_multi_init();
		const char *option = "CURLMOPT_SOCKETFUNCTION";
		CURLMcode	rc;

		if (multi == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("could not initialize libcurl")));
		/* kept only once both callbacks are in place */
		rc = curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, watch_socket);
		if (rc == CURLM_OK)
		{
			option = "CURLMOPT_TIMERFUNCTION";
			rc = curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, set_timer);
		}
		if (rc != CURLM_OK)
		{
			curl_multi_cleanup(multi);
			multi_set_option(rc, option);
		}
		state.multi = multi;
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
	for (int fd = 0; fd < state.by_fd_cap; fd++)
		if (state.by_fd[fd].open)
			forget_socket(&state.by_fd[fd]);
	state.n_changed = 0;
	state.rebuild = true;
	state.timer_at_us = INT64_MAX;
	/* what was learnt through them: where calls go, their round trip */
	failover_reset();
	pacing_forget_round_trip();
}

/* What the wait set should wait for on a socket: 0 keeps it out. */
static uint32
events_of(const socket_entry *e)
{
	uint32		events = 0;

	if (!e->open || e->dead)
		return 0;
	if (!e->in_use)
		return e->was_used ? WL_SOCKET_READABLE : 0;	/* idle: any input is unasked */
	if (e->curl_what & CURL_POLL_IN)
		events |= WL_SOCKET_READABLE;
	if (e->curl_what & CURL_POLL_OUT)
		events |= WL_SOCKET_WRITEABLE;
	return events;
}

/*
 * Drains what an idle connection was sent unasked and shuts it down: libcurl
 * then finds it closed and does not reuse it.  It leaves the wait set (it
 * would be readable at every wait).
 */
static void
drop_idle(curl_socket_t fd, socket_entry *e)
{
	char		sink[4096];

	/* a few reads: the peer may go on sending */
	for (int reads = 0; reads < 16; reads++)
		if (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) <= 0)
			break;
	(void) shutdown(fd, SHUT_RDWR);
	e->dead = true;
	if (e->pos >= 0)
		state.rebuild = true;
}

/* Drops fd's idle connection if it has input waiting or is at end of file. */
static bool
drop_if_unsolicited(curl_socket_t fd, socket_entry *e)
{
	char		byte;
	ssize_t		n;

	if (!e->open || !e->was_used || e->in_use || e->dead)
		return false;
	n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return false;
	drop_idle(fd, e);			/* data, end of file, or an error */
	return true;
}

int
multi_drop_unsolicited(void)
{
	int			dropped = 0;

	/*
	 * Between statements nothing watched the idle connections: look at each
	 * once (a statement's cost, not a call's); during one, only at those
	 * that went idle since the last wait.
	 */
	if (state.look_at_all_idle)
	{
		state.look_at_all_idle = false;
		for (int fd = 0; fd < state.by_fd_cap; fd++)
			dropped += drop_if_unsolicited(fd, &state.by_fd[fd]);
		return dropped;
	}
	/* an idle one among the changed went idle since the last wait */
	for (int i = 0; i < state.n_changed; i++)
	{
		curl_socket_t fd = state.changed[i];

		dropped += drop_if_unsolicited(fd, &state.by_fd[fd]);
	}
	return dropped;
}

/*
 * Whether fd is still open, before the wait set takes it: epoll fails the
 * whole wait (EBADF) on a descriptor closed without our hearing of it, and
 * the regress suite once met one after a statement was cancelled with
 * calls in flight (libcurl 7.88).  Its entry is then forgotten.  Not every
 * descriptor libcurl hands us is a socket: newer versions (8.23 in Debian
 * sid) also give the threaded resolver's wake-up descriptor, which must be
 * waited on like the others, or no host name ever resolves.
 */
static bool
still_open(curl_socket_t fd, socket_entry *e)
{
	struct stat st;

	if (fstat(fd, &st) == 0)
		return true;
	elog(DEBUG1, "imcheck: descriptor %d was closed behind libcurl's back", (int) fd);
	forget_socket(e);
	return false;
}

/* Makes the wait set anew, for every socket there is. */
static void
rebuild_wait_set(void)
{
	int			need = state.n_open + 2;

	if (state.wait_set != NULL)
		FreeWaitEventSet(state.wait_set);
	state.wait_set = NULL;
	for (int fd = 0; fd < state.by_fd_cap; fd++)
		if (state.by_fd[fd].open && !state.by_fd[fd].ours)
			need++;
	if (need > state.wait_set_cap || state.wait_set_cap == 0)
		state.wait_set_cap = Max(32, need * 2);
	if (state.wait_set_cap > state.occurred_cap)
	{
		state.occurred = state.occurred == NULL
			? MemoryContextAlloc(TopMemoryContext, sizeof(WaitEvent) * state.wait_set_cap)
			: repalloc(state.occurred, sizeof(WaitEvent) * state.wait_set_cap);
		state.occurred_cap = state.wait_set_cap;
	}
	state.wait_set = imcheck_create_wait_event_set(state.wait_set_cap);
	AddWaitEventToSet(state.wait_set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(state.wait_set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	state.wait_set_used = 2;
	for (int fd = 0; fd < state.by_fd_cap; fd++)
	{
		socket_entry *e = &state.by_fd[fd];

		e->pos = -1;
		e->events = events_of(e);
		if (e->events != 0 && still_open(fd, e))
		{
			e->pos = AddWaitEventToSet(state.wait_set, e->events, fd, NULL, NULL);
			state.wait_set_used++;
		}
	}
	for (int i = 0; i < state.n_changed; i++)
		state.by_fd[state.changed[i]].changed = false;
	state.n_changed = 0;
	state.rebuild = false;
}

/*
 * Brings the wait set up to date with what changed since the last wait:
 * one AddWaitEventToSet or ModifyWaitEvent per changed socket.
 */
static void
update_wait_set(void)
{
	if (state.wait_set == NULL || state.rebuild)
	{
		rebuild_wait_set();
		return;
	}
	for (int i = 0; i < state.n_changed; i++)
	{
		curl_socket_t fd = state.changed[i];
		socket_entry *e = &state.by_fd[fd];
		uint32		events = events_of(e);

		e->changed = false;
		if (events == e->events && (e->pos >= 0 || events == 0))
			continue;
		if (!e->ours)
		{
			/*
			 * A socket libcurl opened by itself (a resolver's) may be closed
			 * and its number taken by another before the change is seen
			 * here: only a new set is sure to be right about it.
			 */
			state.rebuild = true;
			continue;
		}
		if (events != 0 && !still_open(fd, e))
			continue;			/* forgotten: the set is made anew */
		if (e->pos >= 0 && events != 0)
			ModifyWaitEvent(state.wait_set, e->pos, events, NULL);
		else if (e->pos < 0 && state.wait_set_used < state.wait_set_cap)
		{
			e->pos = AddWaitEventToSet(state.wait_set, events, fd, NULL, NULL);
			state.wait_set_used++;
		}
		else
		{
			/* to leave the set, or no room in it */
			state.rebuild = true;
			continue;
		}
		e->events = events;
	}
	state.n_changed = 0;
	if (state.rebuild)
		rebuild_wait_set();
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
	update_wait_set();
	n = WaitEventSetWait(state.wait_set, timeout_ms, state.occurred, state.occurred_cap,
						 wait_event);
	for (int i = 0; i < n; i++)
	{
		WaitEvent  *ev = &state.occurred[i];
		socket_entry *e;
		int			mask = 0;

		if (ev->events & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			continue;			/* the caller checks for interrupts */
		}
		if (ev->fd < 0 || ev->fd >= state.by_fd_cap)
			continue;
		e = &state.by_fd[ev->fd];
		if (!e->open || e->dead)
			continue;			/* closed by an earlier event's action */
		if (!e->in_use)
		{
			drop_idle(ev->fd, e);	/* an idle connection was sent something */
			continue;
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
	state.rebuild = true;
	state.look_at_all_idle = true;
}
