/*
 * multi.h - the backend's libcurl multi handle, its sockets, and waiting on
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
 * An idle connection is watched for input: a server that closes it, or
 * sends on it unasked (a second, stale answer on a keep-alive connection),
 * makes it readable, and it is then drained and shut down.  libcurl checks
 * that a cached connection is not closed before it reuses it, but (libcurl
 * 7.88) not that nothing is waiting on it, which would be read as the next
 * call's answer.  A connection that went idle since the last wait, and at
 * a statement's start every idle one, is looked at before calls start
 * (multi_drop_unsolicited).  An unsolicited answer
 * that comes after a call was sent on the connection remains possible: no
 * HTTP/1.1 client can tell it apart.
 */
#ifndef IMCHECK_MULTI_H
#define IMCHECK_MULTI_H

#include <curl/curl.h>

/* The multi handle, made on first use (raises if libcurl cannot start). */
extern CURLM *multi_handle(void);
extern void multi_set_option(CURLMcode rc, const char *option);

/* Closes the multi handle and its cached connections (a new one comes next). */
extern void multi_reset(void);

/* CURLOPT_OPENSOCKETFUNCTION and CURLOPT_CLOSESOCKETFUNCTION of every call. */
extern curl_socket_t multi_open_socket(void *clientp, curlsocktype purpose,
									   struct curl_sockaddr *address);
extern int	multi_close_socket(void *clientp, curl_socket_t fd);

/*
 * Drains and shuts down every idle connection that has input waiting (or
 * is at end of file), so that no call is sent on it: at a statement's first
 * look each idle connection, then those that went idle since the last wait
 * (the wait watches the others).  Returns how many.  Never raises.
 */
extern int	multi_drop_unsolicited(void);

/*
 * Sleeps until a socket is ready, the latch is set, or wake_at_us or
 * libcurl's timer passes, showing wait_event in pg_stat_activity; then lets
 * libcurl act on what happened.  The caller reads finished transfers with
 * curl_multi_info_read and checks for interrupts.
 */
extern void multi_wait(int64 wake_at_us, int64 now_us, uint32 wait_event);

/* Frees the wait set multi_wait made (at the end of a statement).  Never raises. */
extern void multi_end_waits(void);

#endif							/* IMCHECK_MULTI_H */
