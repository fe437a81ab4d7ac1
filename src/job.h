/*
 * job.h - one statement's work for the engine: the distinct UserIDs to
 * send, what comes back for each, and what the run cost.
 */
#ifndef IMCHECK_JOB_H
#define IMCHECK_JOB_H

#include "outcome.h"

/* Detail texts remembered to store each only once (a few platform combinations recur) */
#define JOB_RECENT_DETAILS 8

/* What the engine fills for each distinct UserID. */
typedef struct imcheck_job
{
	/* input: n distinct UserIDs, as varlena elements of the caller's array */
	const char *array_data;		/* base of the array's element data */
	const uint32 *offsets;		/* offsets of distinct elements in array_data */
	uint32		n;
	bool		raise_on_error;
	/* multiaccount_import: per distinct ID, its first Nick/FaceUrl (varlena) or NULL */
	const char **nicks;
	const char **face_urls;

	/* output, n entries each: status allocated by the caller, the others lazily */
	int32	   *result_code;	/* NULL while every code is 0 */
	uint8	   *status;			/* protocol_account_status */
	char	  **result_info;	/* NULL entries mean "" */
	char	  **detail;			/* query_online_status: Detail as JSON text */

	/* query_online_status: the last distinct Detail texts stored (job.c) */
	struct
	{
		char	   *raw;		/* as answered */
		size_t		len;
		char	   *text;		/* as stored: made safe to show */
	}			recent_details[JOB_RECENT_DETAILS];
	int			n_recent_details;
	int			next_recent_detail; /* the slot a new one takes when all are used */

	/* statistics of the run */
	uint32		calls;			/* HTTP requests sent */
	uint32		retries;		/* calls repeated, for any reason */
	uint32		retries_by_reason[IMCHECK_RETRY_REASONS];
	uint32		failed_calls;	/* batches given up (raise_on_error = false) */
	bool		has_failed_random;	/* a call failed: the random of the last */
	uint32		failed_random;

	/*
	 * Where the results are allocated: NULL for the memory context current
	 * when the engine was called (a feed's jobs each have their own, freed
	 * when the job is done).
	 */
	MemoryContext mcxt;

	/* the engine's own: its way through the job's batches (engine.c) */
	uint32		n_batches;
	uint32		next_fresh;		/* next batch never tried */
	uint32		batches_done;
	uint8	   *answered_once;	/* per batch: an attempt got past connecting */
} imcheck_job;

/* The bytes of distinct UserID d. */
static inline const char *
job_id(const imcheck_job *job, uint32 d, size_t *len)
{
	const char *element = job->array_data + job->offsets[d];

	*len = VARSIZE_ANY_EXHDR(element);
	return VARDATA_ANY(element);
}

extern void job_set_code(imcheck_job *job, uint32 d, int32 code);
extern void job_set_info(imcheck_job *job, uint32 d, char *info);
extern void job_set_detail(imcheck_job *job, uint32 d, char *detail);

/*
 * The stored text of an answered Detail: one seen lately is shared (so
 * that it becomes jsonb once, see imcheck.c), a new one is made by
 * make_text(cfg, raw, len) and remembered.
 */
struct imcheck_config;
extern char *job_recent_detail(imcheck_job *job, const char *raw, size_t len,
							   char *(*make_text) (const struct imcheck_config *cfg,
												   const char *s, size_t len),
							   const struct imcheck_config *cfg);

/* Gives the n IDs from first on the code and text of a failed call. */
extern void job_fail_ids(imcheck_job *job, uint32 first, uint32 n, const call_outcome *out);

#endif							/* IMCHECK_JOB_H */
