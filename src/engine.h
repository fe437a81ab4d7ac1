/*
 * engine.h - the engine: calls the API for a set of distinct UserIDs
 * (batches, calls in flight, pacing, retries, waits, cancel), on one
 * libcurl multi handle per backend.
 */
#ifndef IMCHECK_ENGINE_H
#define IMCHECK_ENGINE_H

#include "postgres.h"

#include "outcome.h"
#include "settings.h"

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

/* Closes the backend's connections (after the settings they were made for changed). */
extern void imcheck_engine_reset(void);

#endif							/* IMCHECK_ENGINE_H */
