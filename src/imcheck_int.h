/*
 * imcheck_int.h - what the extension's files share: the configuration of a
 * statement, the APIs, what a call's end means, the job, and the functions
 * each file offers (by file, as postgres_fdw.h does).  The engine's own
 * parts (the transfer, libcurl's multi handle, the rate log) are in
 * engine_int.h; the plain-C wire formats in protocol.h.
 *
 * doc/architecture.md walks one call through these files.
 */
#ifndef IMCHECK_INT_H
#define IMCHECK_INT_H

#include "fmgr.h"
#include "portability/instr_time.h"
#include "utils/array.h"

#include "compat.h"
#include "protocol.h"

/* ---- the configuration of one statement (settings.c) ---- */

/* the most base URLs imcheck.endpoint may list */
#define IMCHECK_MAX_ENDPOINTS 8

/* Each API has a rate log (ratelimit.c) and counters (stats.c) of its own. */
typedef enum imcheck_api_id
{
	IMCHECK_API_ACCOUNT_CHECK,
	IMCHECK_API_ACCOUNT_IMPORT,
	IMCHECK_API_ONLINE_STATUS,
	IMCHECK_APIS
} imcheck_api_id;

struct imcheck_api;

/*
 * Everything the engine needs for one statement, resolved and checked from
 * the settings before any call is made.  Strings are palloc'd in the
 * caller's memory context.
 */
typedef struct imcheck_config
{
	const struct imcheck_api *api;	/* what the calls ask */
	uint64		sdkappid;
	/* scheme://host[:port][/prefix], no slash at the end; tried in order */
	char	   *base_urls[IMCHECK_MAX_ENDPOINTS];
	int			n_endpoints;
	char	   *endpoints_shown;	/* the base URLs, for messages */
	const char *base_url_setting;	/* the setting they came from, quoted */
	char	   *url_query;		/* the query, up to and including "random=" */
	char	   *proxy;			/* NULL: direct; may hold a password: never shown */
	char	   *proxy_shown;	/* http://host:port of the proxy */
	char	   *proxy_password; /* as written in imcheck.proxy, or NULL */
	char	   *proxy_password_decoded;
	char	   *usersig;		/* the UserSig in use, and URL-escaped: never */
	char	   *usersig_escaped;	/* to be shown (see imcheck_server_text) */
	bool		usersig_from_key;	/* generated from imcheck.secret_key */
	const char *credential_source;	/* the setting (and file) it came from, quoted */
	char	   *ca_file;		/* NULL: system CAs */
	int			timeout_ms;
	int			max_retries;
	int			rate_limit;		/* the API's calls per second, 0 = unlimited */
	int			max_concurrency;	/* 0: follow the round trip */
	int			batch_size;		/* imcheck.batch_size, at most the API's limit */
	uint32		fingerprint;	/* changes when where or as whom calls go changes */
} imcheck_config;

/* Loaded through shared_preload_libraries (set by _PG_init). */
extern bool imcheck_preloaded;

/* imcheck.log_level: the level of the one line logged per statement. */
extern int	imcheck_log_level;

/* The credential settings, which credentials.c reads; settings.c defines every GUC. */
extern char *imcheck_sdkappid_setting;
extern char *imcheck_identifier_setting;
extern char *imcheck_secret_key_setting;
extern char *imcheck_secret_key_file_setting;
extern char *imcheck_usersig_setting;
extern int	imcheck_usersig_ttl_setting;

extern void imcheck_define_settings(void);

/*
 * Fills cfg for calls to api from the current settings; raises an ERROR
 * naming the setting when one is missing or malformed.  After a reload that
 * changed the credential or where calls go, closes the connections made
 * for the old ones.
 */
extern void imcheck_resolve_config(imcheck_config *cfg, const struct imcheck_api *api);

/* ---- what the end of a call means (outcome.c) ---- */

/* Result codes imcheck reports for calls that got no answer from the API. */
#define IMCHECK_CODE_CONNECT_FAILED		(-1)	/* could not connect / resolve */
#define IMCHECK_CODE_TIMEOUT			(-2)	/* no answer within imcheck.timeout */
#define IMCHECK_CODE_CONNECTION_BROKEN	(-3)	/* reset, empty or cut-off reply */
#define IMCHECK_CODE_MALFORMED			(-4)	/* answer is not the API's valid JSON */
#define IMCHECK_CODE_MISMATCH			(-5)	/* answer does not match the UserIDs asked */
#define IMCHECK_CODE_TOO_LARGE			(-6)	/* answer larger than the cap */
#define IMCHECK_CODE_TRANSPORT			(-7)	/* any other transport failure */
#define IMCHECK_CODE_PROXY_REFUSED		(-8)	/* the proxy refused the tunnel */
/* A result code of one account, not of a call: */
#define IMCHECK_CODE_NOT_IMPORTED		(-9)	/* in multiaccount_import's FailAccounts */
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

/* What the engine does with a finished call. */
typedef enum call_verdict
{
	VERDICT_DONE,				/* results stored */
	VERDICT_TRANSIENT,			/* retry if attempts remain */
	VERDICT_CALL_FAILED,		/* this call's IDs failed; others may go on */
	VERDICT_FATAL				/* no call can succeed: raise at once */
} call_verdict;

typedef struct call_outcome
{
	call_verdict verdict;
	imcheck_retry_reason reason;	/* when VERDICT_TRANSIENT */
	int32		code;			/* API ErrorCode, or an IMCHECK_CODE / -HTTP status */
	char	   *info;			/* palloc'd text for result_info / errdetail */
	bool		from_api;		/* code is the API's ErrorCode */
	bool		usersig_expired;	/* 70001: the engine may renew the UserSig */
	int			sqlstate;		/* what raising it says happened */
	bool		unreachable;	/* no way to the API at this base URL (DNS,
								 * TCP, TLS, the proxy's tunnel): another
								 * base URL may do */
	bool		proxy_failed;	/* the proxy could not be reached */
	bool		stale_connection;	/* sent on a kept connection that broke
									 * before any answer: a new one may do */
	long		connects;		/* connections the transfer opened */
	const char *base_url;		/* where the call went, for hints */
	uint32		random;			/* the call's, which support traces it by */
} call_outcome;

/* A call the API answered with ActionStatus FAIL (info: safe to show). */
extern call_outcome outcome_api_error(int32 code, const char *info);

/* A call that got no usable answer (code: an IMCHECK_CODE). */
extern call_outcome outcome_no_answer(int32 code, imcheck_retry_reason reason,
									  char *info);

/* Raises "out of memory" (53200) for an allocation outside palloc's. */
pg_noreturn static inline void
imcheck_out_of_memory(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_OUT_OF_MEMORY),
			 errmsg("out of memory")));
	pg_unreachable();
}

/* Raises the error of a VERDICT_FATAL outcome. */
pg_noreturn extern void outcome_raise_fatal(const call_outcome *out, const imcheck_config *cfg);

/*
 * Raises the error of a call given up after attempts tries.
 * never_connected: no attempt of the call got past connecting;
 * others_answered: other calls of the statement were answered.
 */
pg_noreturn extern void outcome_raise_call_failed(const call_outcome *out, int attempts,
												  const imcheck_config *cfg, bool never_connected,
												  bool others_answered);

/* ---- a statement's work: the job (input.c) ---- */

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
	Datum	   *detail;			/* query_online_status: Detail as jsonb, or 0 */
	struct detail_cache *details;	/* ... each made once (apis.c) */

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

/*
 * Stores a result of distinct ID d; the arrays other than status are made
 * on first use (most checks end with every code 0 and no text).  info and
 * detail are kept, so they must be in the job's memory.
 */
extern void job_set_code(imcheck_job *job, uint32 d, int32 code);
extern void job_set_info(imcheck_job *job, uint32 d, const char *info);
extern void job_set_detail(imcheck_job *job, uint32 d, Datum detail);

/* Gives the n IDs from first on the code and text of a failed call. */
extern void job_fail_ids(imcheck_job *job, uint32 first, uint32 n, const call_outcome *out);

/*
 * The longest UserID imcheck sends: far above the API's 32 bytes (those get
 * a per-item error from the API), but small enough that one UserID can't
 * blow up a request.
 */
#define IMCHECK_MAX_SENT_USERID_BYTES 4096

/*
 * Which distinct UserID each input element is.  A first occurrence's
 * distinct index is the number of first occurrences before it, so only the
 * repeats need to remember theirs: one bit per element says it repeats an
 * earlier one, and the repeats' distinct indexes follow in input order.
 */
typedef struct element_map
{
	uint8	   *is_repeat;
	uint32	   *repeat_of;
	uint32		n_repeats;
	uint32		repeats_cap;
} element_map;

/*
 * Checks argument arg of fcinfo (user_ids, found not null) and its
 * elements: one dimension, not too many, none null or too long.  Returns
 * its number of elements, and *array.  function names the SQL function.
 */
extern int	input_user_ids(FunctionCallInfo fcinfo, int arg, const char *function,
						   ArrayType **array);

/* Raises an ERROR when argument arg (name: its name) is null. */
extern void input_not_null(FunctionCallInfo fcinfo, int arg, const char *name);

/*
 * Finds the distinct UserIDs of array (nitems elements, checked): sets
 * job->n, job->array_data and job->offsets, and fills map.
 */
extern void input_find_distinct(ArrayType *array, int nitems, imcheck_job *job,
								element_map *map);

/*
 * For an optional text[] argument that lines up with user_ids by position
 * (NULL when the argument is null): each distinct UserID's value, the one
 * of its first element (varlena, or NULL for a null element).  Raises an
 * ERROR when its length is not nitems or an element is too long.
 */
extern const char **input_aligned_texts(FunctionCallInfo fcinfo, int arg, const char *name,
										int nitems, const element_map *map, uint32 n_distinct);

/* Walks the input elements in order: the distinct index of each. */
typedef struct element_walk
{
	const element_map *map;
	uint32		next_first;
	uint32		next_repeat;
} element_walk;

static inline uint32
input_next_distinct(element_walk *walk, int element)
{
	const element_map *map = walk->map;

	return (map->is_repeat[element / 8] & (1 << (element % 8)))
		? map->repeat_of[walk->next_repeat++] : walk->next_first++;
}

/* ---- entry points (imcheck.c) ---- */

/* The text of each protocol_account_status, as the functions return it (NONE: 0). */
#define IMCHECK_STATUS_VALUES (PROTOCOL_STATUS_OFFLINE + 1)
extern void imcheck_status_texts(Datum *texts);

/* Milliseconds since started, for the log lines. */
extern double imcheck_ms_since(instr_time started);

/* ---- the APIs (apis.c) ---- */

struct imcheck_call;

/*
 * What the engine and a call's transfer know of an API: its path, its batch
 * limit, a request builder and its wire format's parser (protocol*.c).
 */
typedef struct imcheck_api
{
	imcheck_api_id id;
	const char *name;			/* the service's name, as imcheck_stats shows it */
	const char *sql_function;	/* the SQL function that calls it */
	const char *path;			/* from the base URL on, e.g. /v4/openim/... */
	int			max_batch;		/* UserIDs per call, the API's limit */

	/* writes the call's request into out: 0, or -1 when out of memory */
	int			(*build_request) (const struct imcheck_call *call, protocol_buffer *out);

	protocol_outcome (*parse_answer) (const char *body, size_t len,
									  const char *const *ids, const size_t *id_lens,
									  size_t n, protocol_response *resp);
} imcheck_api;

extern const imcheck_api imcheck_api_account_check;
extern const imcheck_api imcheck_api_account_import;
extern const imcheck_api imcheck_api_online_status;

/* by imcheck_api_id */
extern const imcheck_api *const imcheck_apis[IMCHECK_APIS];

/*
 * Stores the items of an answer to call parsed as PROTOCOL_OK in its job,
 * in the current memory context (the job's); returns NULL, or what makes
 * the answer unusable after all (the call's items stored so far are
 * overwritten by its retry).
 */
extern const char *imcheck_store_answer(const imcheck_config *cfg,
										const struct imcheck_call *call,
										const protocol_response *resp);

/* ---- credentials (credentials.c) ---- */

/*
 * Sets cfg's UserSig (generated from the secret key, or the static one,
 * checked), the URL query that carries it, and the fingerprint's start.
 * Raises an ERROR naming the setting when no credential is usable.
 */
extern void imcheck_resolve_credentials(imcheck_config *cfg);

/*
 * After the service said the UserSig expired (70001): a fresh one, and
 * cfg->url_query rebuilt.  False when the UserSig is static, or no fresh
 * one can be made.
 */
extern bool imcheck_renew_usersig(imcheck_config *cfg);

/* Zeroes and frees the config's copies of the UserSig, once its calls are over. */
extern void imcheck_forget_usersig(imcheck_config *cfg);

/*
 * Text from the network, made safe to store and to show: valid in the
 * database encoding, and with the UserSig (raw or URL-escaped) and any
 * usersig= parameter's value replaced by "(redacted)", for an endpoint that
 * echoes the request would otherwise hand the admin UserSig to whoever reads
 * an error or a row.  palloc'd; NULL for an empty text.
 */
extern char *imcheck_server_text(const imcheck_config *cfg, const char *s, size_t len);

/* ---- where calls go (endpoints.c) ---- */

#define REGION_LIST "china, singapore, seoul, frankfurt, mumbai, silicon_valley, jakarta, tokyo"

/* Whether name is a region of the API (case does not matter). */
extern bool endpoints_region_known(const char *name);

/*
 * What is wrong with a value of imcheck.endpoint, or of imcheck.proxy: NULL
 * when nothing is.  The text never holds the value (it may hold a password).
 */
extern const char *endpoints_list_problem(const char *list);
extern const char *endpoints_proxy_problem(const char *url);

/*
 * Fills cfg's endpoints (from the list, or else the region's primary and
 * backup domain) and its proxy.  Raises an ERROR naming a malformed setting.
 */
extern void endpoints_resolve(imcheck_config *cfg, const char *endpoint_list,
							  const char *region, const char *proxy);

/*
 * Failover: calls go to the first base URL; one that cannot reach the API
 * at the one in use moves new calls to the next.  At a statement's start,
 * the first again if it is time.
 */
extern void failover_statement_starts(const imcheck_config *cfg);
extern int	failover_current(void);

/* A call could not reach base URL from (out says why): new calls go to the next. */
extern void failover_unreachable(const imcheck_config *cfg, int from,
								 const call_outcome *out);

/* When no base URL could be reached: why, for each of them (palloc'd). */
extern char *failover_reason(const imcheck_config *cfg, int at,
							 const call_outcome *out);

/* Forgets everything (a new libcurl multi handle, new settings). */
extern void failover_reset(void);

/* ---- statistics (stats.c) ---- */

/*
 * With the library preloaded, the counters and one progress slot per
 * backend live in shared memory (imcheck.c places them); otherwise each
 * session counts alone.  Counters are kept per API.
 */
extern Size imcheck_stats_shmem_size(int n_slots);
extern void imcheck_stats_shmem_attach(void *place, int n_slots, bool initialize);

/* A check starts / ends (also on error): the progress slot of this backend. */
extern void imcheck_stats_check_started(imcheck_api_id api, uint32 n_ids);
/* the check has n_ids more UserIDs (a table's, as they are read) */
extern void imcheck_stats_check_grew(uint32 n_ids);
extern void imcheck_stats_check_ended(void);

extern void imcheck_stats_call_started(void);
/* A call's kept connection broke before any answer: it goes again on a new one. */
extern void imcheck_stats_stale_connection(void);
extern void imcheck_stats_call_finished(uint32 ids_done, long connections_opened);
/* A call could not reach one base URL and the next was tried. */
extern void imcheck_stats_failover(void);
extern void imcheck_stats_rate_reduction(void);
extern void imcheck_stats_retry(imcheck_retry_reason reason);
extern void imcheck_stats_call_failed(int32 code);
extern void imcheck_stats_rate_wait(int64 us);

/*
 * Logs the one line of a statement of the functions that ends (error: the
 * SQLSTATE it failed with, or 0) after ms.
 */
extern void imcheck_log_check(imcheck_api_id api, int nitems, const imcheck_job *job,
							  int error, double ms);

#endif							/* IMCHECK_INT_H */
