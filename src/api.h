/*
 * api.h - the APIs the engine carries, each described by one imcheck_api.
 *
 * The engine (engine.c) and a call's transfer (call.c) know nothing of any
 * API's request or answer: each API has a descriptor, defined in its own
 * file (account_check.c, account_import.c, online_status.c), with its
 * path, its batch limit, a request builder, its wire format's answer
 * parser (protocol*.c) and what stores a parsed answer's items; its rate
 * setting is settings.c's.
 */
#ifndef IMCHECK_API_H
#define IMCHECK_API_H

#include "outcome.h"
#include "protocol.h"

/* Each API has a rate log (ratelimit.c) and counters (stats.c) of its own. */
typedef enum imcheck_api_id
{
	IMCHECK_API_ACCOUNT_CHECK,
	IMCHECK_API_ACCOUNT_IMPORT,
	IMCHECK_API_ONLINE_STATUS,
	IMCHECK_APIS
} imcheck_api_id;

struct imcheck_job;
struct imcheck_call;
struct call_result;

typedef struct imcheck_api
{
	imcheck_api_id id;
	const char *name;			/* the service's name, as imcheck_stats shows it */
	const char *sql_function;	/* the SQL function that calls it */
	const char *path;			/* from the base URL on, e.g. /v4/openim/... */
	int			max_batch;		/* UserIDs per call, the API's limit */

	/*
	 * Writes the request of the call's IDs (the job's distinct IDs from
	 * first on) into out; 0, or -1 when out of memory.
	 */
	int			(*build_request) (const struct imcheck_job *job, uint32 first,
								  const struct imcheck_call *call, protocol_buffer *out);

	/* Parses an answer to the call's IDs: its wire format's parser (protocol.h). */
	protocol_outcome (*parse_answer) (const char *body, size_t len,
									  const char *const *ids, const size_t *id_lens,
									  size_t n, protocol_response *resp);

	/*
	 * Stores the items of an answer parsed as PROTOCOL_OK in the job (the
	 * call's IDs are the job's distinct IDs from first on); returns
	 * VERDICT_DONE, or the outcome of an answer that is still unusable.
	 * call_read_answer() (call.c) calls both.
	 */
	call_outcome (*store_answer) (const imcheck_config *cfg, struct imcheck_job *job,
								  uint32 first, const struct imcheck_call *call,
								  const protocol_response *resp);
} imcheck_api;

extern const imcheck_api imcheck_api_account_check;
extern const imcheck_api imcheck_api_account_import;
extern const imcheck_api imcheck_api_online_status;

/* by imcheck_api_id */
extern const imcheck_api *const imcheck_apis[IMCHECK_APIS];

#endif							/* IMCHECK_API_H */
