/*
 * call.h - one API call's life on libcurl.
 *
 * A call is one HTTP POST of one batch of UserIDs, carried by an easy
 * handle of its own on the engine's multi handle: the request body, a
 * write callback into a buffer capped at CALL_MAX_ANSWER_BYTES, and a
 * timeout for the whole call.  libcurl does all of HTTP (connections and
 * their reuse, TLS, chunked answers); the engine only adds and collects
 * calls.  Everything a call allocates is freed by call_free(), on every
 * path.
 */
#ifndef IMCHECK_CALL_H
#define IMCHECK_CALL_H

#include <curl/curl.h>

#include "job.h"
#include "outcome.h"
#include "protocol.h"
#include "ratelimit.h"
#include "settings.h"

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

typedef struct imcheck_call
{
	/* what the engine asks */
	imcheck_job *job;			/* the batch's job */
	uint32		batch;
	int			slot;			/* its place in the engine's calls in flight */
	int			attempt;		/* 0 for the first try */
	int			endpoint;		/* which of the base URLs it goes to */
	int			failovers;		/* base URLs this attempt could not reach */
	int			usersig_generation;
	ratelimit_ticket ticket;	/* its place in the rate log */
	int64_t		started_us;		/* when the engine started it */
	bool		fresh_connection;	/* send it on a new connection */
	int			rate_log;		/* the API whose rate log holds the ticket */
	uint32		n_ids;
	const char *ids[PROTOCOL_MAX_ANY_BATCH];
	size_t		id_lens[PROTOCOL_MAX_ANY_BATCH];

	/* the transfer: malloc'd or libcurl's, freed by call_free() */
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
 * Adds the transfer of call's request to multi, to cfg's API.  Raises an
 * ERROR when out of memory; call_free() then cleans up.
 */
extern void call_start(imcheck_call *call, CURLM *multi, const imcheck_config *cfg);

/* How a transfer ended: an HTTP answer, or why there was none. */
typedef struct call_result
{
	bool		answered;		/* status and the answer's body are valid */
	long		status;
	const char *body;
	size_t		body_len;
	long		connects;		/* connections opened for the call */
	call_outcome failure;		/* when not answered */
} call_result;

/* The result of call's finished transfer (rc: libcurl's code for it). */
extern call_result call_result_of(imcheck_call *call, CURLcode rc,
								  const imcheck_config *cfg);

/* Ends the transfer, if any, and frees what the call holds.  Never raises. */
extern void call_free(imcheck_call *call, CURLM *multi);

/*
 * Text from the network, made safe to store as text in this database and to
 * show to whoever may read it (no credential echoed back; see imcheck_redact).
 * NULL for an empty text.
 */
extern char *call_server_text(const imcheck_config *cfg, const char *s, size_t len);

/*
 * What the finished call means, for any API: no answer, an HTTP status
 * other than 200, or the answer parsed by cfg->api's parser; on
 * VERDICT_DONE its items are stored in the job (cfg->api's store_answer).
 */
extern call_outcome call_read_answer(const imcheck_config *cfg, imcheck_job *job,
									 uint32 first, const imcheck_call *call,
									 const call_result *res);

#endif							/* IMCHECK_CALL_H */
