/*
 * multi.h - the backend's libcurl multi handle, and waiting on it through
 * PostgreSQL.
 *
 * One multi handle lives as long as the backend, so its connection cache
 * keeps connections alive across calls and statements.  Waiting goes
 * through a WaitEventSet over the latch, postmaster death and the sockets
 * libcurl asks us to watch (CURLMOPT_SOCKETFUNCTION), with libcurl's timer
 * (CURLMOPT_TIMERFUNCTION) as a timeout: cancel, statement_timeout and
 * pg_terminate_backend set the latch, so they act at once.
 */
#ifndef IMCHECK_MULTI_H
#define IMCHECK_MULTI_H

#include <curl/curl.h>

/* The multi handle, made on first use (raises if libcurl cannot start). */
extern CURLM *multi_handle(void);

/* Closes the multi handle and its cached connections (a new one comes next). */
extern void multi_reset(void);

/* Is fd a socket libcurl watches now (one of a call in flight)? */
extern bool multi_watches_socket(curl_socket_t fd);

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
