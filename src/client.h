/*
 * client.h - the engine: calls account_check for a set of distinct UserIDs
 * with a libcurl multi handle (batches, concurrency, pacing, retries,
 * timeouts, cancel).
 */
#ifndef IMCHECK_CLIENT_H
#define IMCHECK_CLIENT_H

#include "settings.h"

/* Result codes imcheck reports for calls that got no answer from the API. */
#define IMCHECK_CODE_CONNECT_FAILED		(-1)	/* could not connect / resolve */
#define IMCHECK_CODE_TIMEOUT			(-2)	/* no answer within imcheck.timeout */
#define IMCHECK_CODE_CONNECTION_BROKEN	(-3)	/* reset, empty or cut-off reply */
#define IMCHECK_CODE_MALFORMED			(-4)	/* answer is not valid account_check JSON */
#define IMCHECK_CODE_MISMATCH			(-5)	/* answer does not match the UserIDs asked */
#define IMCHECK_CODE_TOO_LARGE			(-6)	/* answer larger than the cap */
#define IMCHECK_CODE_TRANSPORT			(-7)	/* any other transport failure */
/* HTTP status other than 200: -status, e.g. -502 */

/* Why a call was repeated, for statistics. */
typedef enum imcheck_retry_reason
{
	RETRY_API_TRANSIENT,		/* 70169, 70202, 70500, 60008, 60014 */
	RETRY_API_RATE_LIMITED,		/* 60007, 60011, 60018, 60019 */
	RETRY_USERSIG_RENEWED,		/* 70001 answered, UserSig regenerated */
	RETRY_HTTP_STATUS,			/* HTTP 5xx, 408, 429 */
	RETRY_CONNECTION,			/* connect failure, reset, cut-off reply */
	RETRY_TIMEOUT,
	RETRY_BAD_RESPONSE,			/* malformed, mismatched or oversized answer */
	IMCHECK_RETRY_REASONS
} imcheck_retry_reason;

extern const char *const imcheck_retry_reason_names[IMCHECK_RETRY_REASONS];

/* What the engine fills for each distinct UserID. */
typedef struct imcheck_job
{
	/* input: n distinct UserIDs, as varlena elements of the caller's array */
	const char *array_data;		/* base of the array's element data */
	const uint32 *offsets;		/* offsets of distinct elements in array_data */
	uint32		n;
	bool		raise_on_error;

	/* output, n entries each: status allocated by the caller, the others by the engine */
	int32	   *result_code;	/* NULL while every code is 0; allocated lazily */
	uint8	   *status;			/* protocol_account_status */
	char	  **result_info;	/* NULL entries mean ""; allocated lazily */

	/* statistics of the run */
	uint32		calls;			/* HTTP requests sent */
	uint32		retries;		/* calls repeated, for any reason */
	uint32		retries_by_reason[IMCHECK_RETRY_REASONS];
	uint32		failed_calls;	/* batches given up (raise_on_error = false) */
	int64		rate_wait_us;	/* time spent waiting for the rate budget */
} imcheck_job;

/*
 * Runs the job: returns when every distinct ID has a result, or raises an
 * ERROR (fatal API error, retries exhausted with raise_on_error, cancel).
 * Allocations are made in CurrentMemoryContext.
 */
extern void imcheck_run_job(imcheck_config *cfg, imcheck_job *job);

/* Frees the backend's persistent curl state (connections). */
extern void imcheck_client_reset(void);

#endif							/* IMCHECK_CLIENT_H */
