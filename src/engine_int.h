/*
 * engine_int.h - the engine and its parts: the loop of one statement
 * (engine.c), one call's transfer (call.c), what a finished transfer means
 * (outcome.c), the backend's libcurl multi handle and waiting through
 * PostgreSQL (multi.c), and how fast calls go (ratelimit.c).
 */
#ifndef IMCHECK_ENGINE_INT_H
#define IMCHECK_ENGINE_INT_H

#include <curl/curl.h>

#include "storage/lwlock.h"

#include "imcheck_int.h"

/* ---- the engine (engine.c) ---- */

/*
 * Runs the job: returns when every distinct ID has a result, or raises an
 * ERROR (fatal API error, retries exhausted with raise_on_error, cancel).
 * Allocations are made in CurrentMemoryContext.
 */
extern void imcheck_run_job(imcheck_config *cfg, imcheck_job *job);

/*
 * Work handed to the engine a job at a time, so that a table of any size
 * goes through one pipeline of calls (table_check.c).  next_job gives the
 * next job, or NULL when there is no more; it is called only when a call
 * could start, after the jobs before it have had all their batches sent.
 * job_done (if any) gets each job back once every ID of it has its result
 * (jobs may end out of order: a batch retried); the engine does not touch
 * it after.
 * Both may run SQL and commit: the engine keeps nothing in a transaction's
 * memory or resources.
 */
typedef struct imcheck_feed
{
	imcheck_job *(*next_job) (void *arg);
	void		(*job_done) (void *arg, imcheck_job *job);
	void	   *arg;
} imcheck_feed;

/*
 * Runs the feed's jobs through one pipeline of calls, as imcheck_run_job
 * runs one.  CurrentMemoryContext must outlive the feed's commits.
 */
extern void imcheck_run_feed(imcheck_config *cfg, const imcheck_feed *feed);

/* ---- one call's transfer (call.c) ---- */

/* the largest answer body we accept; a 100-ID answer is a few kilobytes */
#define CALL_MAX_ANSWER_BYTES (1024 * 1024)

/*
 * the most header an answer may have: the API's answers have about ten
 * short lines, and libcurl would take a hundred thousand
 */
#define CALL_MAX_HEADER_LINES 100
#define CALL_MAX_HEADER_BYTES (64 * 1024)

/* a kept connection idle longer than this is not reused (seconds) */
#define CALL_MAX_IDLE_S 30

/* Identifies a call in the rate log, to refine its time later. */
typedef uint64 ratelimit_ticket;

/*
 * One HTTP POST of one batch of UserIDs, carried by an easy handle of its
 * own on the engine's multi handle.  What the transfer allocates is
 * malloc'd or libcurl's, and freed by call_free() on every path.
 */
typedef struct imcheck_call
{
	/* what the engine asks */
	imcheck_job *job;			/* the batch's job */
	uint32		first;			/* its IDs: the job's distinct IDs from first on */
	uint32		batch;
	int			slot;			/* its place in the engine's calls in flight */
	int			attempt;		/* 0 for the first try */
	int			endpoint;		/* which of the base URLs it goes to */
	int			failovers;		/* base URLs this attempt could not reach */
	int			usersig_generation;
	ratelimit_ticket ticket;	/* its place in the rate log */
	int64		started_us;		/* when the engine started it */
	bool		fresh_connection;	/* send it on a new connection */
	int			rate_log;		/* the API whose rate log holds the ticket */
	uint32		n_ids;
	const char *ids[PROTOCOL_MAX_ANY_BATCH];
	size_t		id_lens[PROTOCOL_MAX_ANY_BATCH];

	/* the transfer */
	CURL	   *easy;
	char	   *url;			/* holds the UserSig: never shown */
	protocol_buffer request;	/* the POST body, written before call_start */
	protocol_buffer answer;		/* the answer body received so far */
	bool		answer_too_large;
	bool		header_too_large;
	int			header_lines;	/* received so far */
	size_t		header_bytes;
	bool		out_of_memory;
	bool		went_out;		/* the request was sent */
	bool		stale_connection;	/* ... on a kept connection that broke
									 * before any answer (see call.c) */
	uint32		random;			/* the URL's random: support traces a call by it */
	char		errbuf[CURL_ERROR_SIZE];
} imcheck_call;

/*
 * Adds the transfer of call's request to the multi handle, to cfg's API.
 * Raises an ERROR when out of memory or an option is refused; call_free()
 * then cleans up.
 */
extern void call_start(imcheck_call *call, const imcheck_config *cfg);

/* Ends the transfer, if any, and frees what the call holds.  Never raises. */
extern void call_free(imcheck_call *call);

/*
 * What call's finished transfer means (rc: libcurl's code for it): no
 * answer, an HTTP status other than 200, or the answer as cfg's API parses
 * it.  On VERDICT_DONE the answer's items are stored in the job, in its
 * memory; the outcome itself is allocated in CurrentMemoryContext.
 */
extern call_outcome outcome_of_call(const imcheck_config *cfg, imcheck_call *call,
									CURLcode rc);

/* ---- the multi handle (multi.c) ---- */

/* The multi handle, made on first use (raises if libcurl cannot start). */
extern CURLM *multi_handle(void);
extern void multi_set_option(CURLMcode rc, const char *option);

/*
 * Closes the multi handle and its cached connections (a new one comes
 * next), and forgets what was learnt through them (failover, round trip).
 */
extern void multi_reset(void);

/* CURLOPT_OPENSOCKETFUNCTION and CURLOPT_CLOSESOCKETFUNCTION of every call. */
extern curl_socket_t multi_open_socket(void *clientp, curlsocktype purpose,
									   struct curl_sockaddr *address);
extern int	multi_close_socket(void *clientp, curl_socket_t fd);

/*
 * Drains and shuts down every idle connection that has input waiting (or
 * is at end of file), so that no call is sent on it.  Returns how many.
 * Never raises.
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

/* ---- how fast calls go (ratelimit.c) ---- */

/* The window, in microseconds: one second plus a margin for delivery. */
#define RATELIMIT_WINDOW_US (1000 * 1000 + 20 * 1000)

/* The largest imcheck.rate_limit; the log holds this many starts. */
#define RATELIMIT_MAX_RATE 100000

/*
 * The call logs, one per API, in shared memory when the library is
 * preloaded (imcheck.c places them, with the named LWLock tranche
 * RATELIMIT_LOCK_TRANCHE, a lock per log), so that every session of the
 * server paces against one budget per API.  Without it each session keeps
 * its own.
 */
#define RATELIMIT_LOCK_TRANCHE "imcheck_rate_log"
extern Size ratelimit_shmem_size(void);
extern void ratelimit_shmem_attach(void *place, bool initialize, LWLockPadded *locks);

/* CLOCK_MONOTONIC in microseconds: the same clock in every process. */
extern int64 ratelimit_monotonic_us(void);

/*
 * Asks to start a call of API log now under a limit of rate calls per
 * window (0 = unlimited).  Returns 0, records the call and sets *ticket
 * when it may start; otherwise how many microseconds to wait.
 */
extern int64 ratelimit_try_acquire(int log, int rate, ratelimit_ticket *ticket);

/*
 * The API refused a recorded call for its rate limit: cuts the rate the
 * log allows unless the call started before the last cut.  Returns whether
 * it cut.
 */
extern bool ratelimit_refused(int log, int rate, ratelimit_ticket ticket);

/*
 * Moves a recorded call's time later, to when its request was really sent
 * (from libcurl's callback, so it raises no ERROR), if it is still in the log.
 */
extern void ratelimit_refine(int log, ratelimit_ticket ticket, int64 sent_us);

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

#endif							/* IMCHECK_ENGINE_INT_H */
