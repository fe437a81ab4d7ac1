/*
 * imsim.h - declarations shared by imsim's source files.
 *
 * imsim is a simulator of three Tencent Cloud Chat (IM) REST APIs,
 * v4/im_open_login_svc/account_check, .../multiaccount_import and
 * v4/openim/query_online_status, for imcheck's tests and benchmarks;
 * README.md beside this file describes its behaviour (the contract the
 * tests rely on) and which file does what; doc/api.md of this repository
 * describes the real service it imitates.
 *
 * libmicrohttpd (epoll, thread pool, suspend/resume) + json-c.  UserSig
 * verification and JSON string escaping come from the extension's own
 * src/usersig.c (via test/common/usersig_verify.c) and src/protocol.c.
 *
 * Include this first in every imsim .c file (as postgres.h in PostgreSQL):
 * it sets _GNU_SOURCE before any system header is read.
 *
 * Threads: MHD's worker threads run the handler; a timer thread resumes
 * suspended connections (latency, jitter, stall) when their deadline comes;
 * the main thread waits for SIGTERM/SIGINT and stops everything.
 *
 * Locking: fixed is written only before the HTTP server starts, so it is
 * read without a lock; runtime.lock guards runtime; the statistics, the
 * UserSig cache, the accounts imported through the API and the timer have
 * locks of their own, private to their files.  None of these locks is
 * taken while another one is held.
 */
#ifndef IMSIM_H
#define IMSIM_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <microhttpd.h>

#include "checkbody.h"
#include "idset.h"
#include "../../src/protocol.h"
#include "../../src/usersig.h"
#include "../common/usersig_verify.h"

#define MAX_FAULTS 64
/* the largest batch of any API (query_online_status's To_Account) */
#define MAX_ITEMS 500
/* ranges shared by the command line and /_imsim/config */
#define MAX_RATE_LIMIT 100000000
#define MAX_ACCOUNT_LIMIT 100000000
#define MAX_DELAY_MS 3600000	/* latency, jitter, stall */
#define NS_PER_MS 1000000ULL
#define NS_PER_S 1000000000ULL

/* Appends a string literal to a protocol_buffer; 0 or -1 as the append. */
#define LIT(b, s) protocol_buffer_append((b), (s), sizeof(s) - 1)

/* The APIs imsim simulates; each has its own rate window and statistics. */
typedef enum api_id
{
	API_ACCOUNT_CHECK = 0,
	API_IMPORT,					/* multiaccount_import */
	API_ONLINE,					/* query_online_status */
	NAPIS
} api_id;

/* ---- util.c: small helpers ---- */

extern uint64_t mono_ns(void);
extern uint64_t rng_next(uint64_t *state);
extern double rng_unit(uint64_t *state);
extern uint64_t rng_below(uint64_t *state, uint64_t n);
extern int	parse_u64(const char *s, size_t len, uint64_t *out);
extern int	parse_i64_arg(const char *s, int64_t min, int64_t max,
						  int64_t *out);
extern void die(const char *fmt,...) __attribute__((format(printf, 1, 2),
													noreturn));

/* ---- faults.c: the injectable faults ---- */

typedef enum fault_kind
{
	FK_NONE = 0,
	FK_HTTP502,
	FK_CODE,
	FK_RESET,
	FK_STALL,
	FK_MALFORMED,
	FK_TRUNCATED,
	FK_MISSING_ITEM,
	FK_EXTRA_ITEM
} fault_kind;

typedef struct fault
{
	fault_kind	kind;
	int32_t		code;			/* FK_CODE */
	double		prob;
	char		name[24];		/* as given: "http502", "code70500", ... */
} fault;

extern int	fault_parse_name(const char *name, fault *f);
extern int	fault_set(fault *arr, int *n, const fault *f);
extern fault fault_draw(void);
extern const char *error_info_for(int32_t code);

/* ---- options.c: the command line; settings fixed at start-up ---- */

typedef struct fixed_settings
{
	uint64_t	sdkappid;
	char	   *identifier;
	size_t		identifier_len;
	char	   *key;
	size_t		key_len;
	size_t		max_body;
	int			rule_even;
	idset		imported;
	int			verbose;
	int			no_id_stats;	/* skip the distinct-ID set (throughput runs) */
} fixed_settings;

extern fixed_settings fixed;

/* What the command line says beyond fixed and runtime: main's business. */
typedef struct start_options
{
	int64_t		port;
	int64_t		threads;
	int64_t		conn_timeout;
	int64_t		usersig_expire;
	const char *imported_file;
	const char *rule;			/* NULL: the default for imported_file */
	const char *tls_cert_path;
	const char *tls_key_path;
	int			print_usersig;
} start_options;

extern int	options_parse(int argc, char **argv, start_options *opts);

/* ---- config.c: settings changeable at run time (/_imsim/config) ---- */

/* ratelimit.c: arrival times (ns) of one API's accepted calls in the last second */
typedef struct ratewindow
{
	uint64_t   *ring;			/* FIFO ring */
	size_t		cap;			/* power of two */
	size_t		head;
	size_t		len;
	uint64_t	pushed;			/* pushes ever */
	uint64_t	pushed_at_reset;
	uint64_t	max_cps;
} ratewindow;

typedef struct runtime_settings
{
	pthread_mutex_t lock;		/* guards everything here */
	fault		faults[MAX_FAULTS];
	int			nfaults;
	int64_t		fault_budget;	/* -1 = unlimited */
	int64_t		fault_api;		/* -1: every API draws faults; else an api_id */
	int64_t		rate_limit[NAPIS];	/* each API's window; 0 = off */
	int64_t		account_limit;	/* most accounts imported by the API; 0 = none */
	int64_t		latency_ms;
	int64_t		jitter_ms;
	int64_t		stall_ms;
	uint64_t	seed;
	uint64_t	rng_fault;		/* one draw per accepted call */
	uint64_t	rng_aux;		/* jitter, truncation point, item choice */
	uint64_t	extra_counter;
	ratewindow	win[NAPIS];		/* ratelimit.c */
} runtime_settings;

extern runtime_settings runtime;

extern void reseed(uint64_t seed);
extern void config_json(protocol_buffer *b);
extern int	config_apply(const char *body, size_t len, char *err,
						 size_t errlen);

/* ---- ratelimit.c ---- */

extern int	ratelimit_admit(api_id api, uint64_t arrived);
extern void ratelimit_free(void);

/* ---- accounts.c: who is Imported ---- */

extern int	is_imported(const char *id, size_t len);
extern void load_imported_file(const char *path);
extern int	accounts_import(const char *const *ids, const size_t *lens,
							size_t n, int64_t limit);
extern size_t accounts_imported_by_api(void);
extern void accounts_reset(void);
extern void accounts_free(void);

/* ---- sigcache.c: UserSig verification with a cache ---- */

extern usersig_status verify_usersig(const char *sig, size_t sig_len,
									 const char *ident, size_t ident_len,
									 uint64_t sdkappid, int64_t now);

/* ---- server.c: per-request state, answers, MHD callbacks ---- */

typedef enum endpoint
{
	EP_API,						/* req_ctx.api says which */
	EP_CONFIG,
	EP_STATS,
	EP_STATS_RESET,
	EP_ACCOUNTS_RESET,
	EP_NOT_FOUND
} endpoint;

typedef enum req_state
{
	RS_RECEIVING = 0,
	RS_SUSPENDED,				/* answer ready, waiting for its deadline */
	RS_DONE						/* answer queued (or connection dropped) */
} req_state;

typedef enum req_action
{
	ACT_RESPOND = 0,
	ACT_RESET,					/* close with RST, no answer */
	ACT_CLOSE					/* close, no answer (after a stall) */
} req_action;

typedef struct req_ctx
{
	endpoint	ep;
	api_id		api;			/* EP_API */
	int			is_post;
	int			is_get;
	int			in_flight;		/* counted in the statistics' in_flight */
	req_state	state;
	int			aborted;		/* resumed by shutdown: drop */
	/* body */
	char	   *body;
	size_t		body_len;
	size_t		body_cap;
	size_t		body_limit;
	int			too_big;
	uint64_t	arrived_ns;		/* API: when it arrived (server.c) */
	/* query verdict (API), decided when the headers arrive */
	int32_t		fail_code;
	const char *fail_info;
	/* prepared answer */
	req_action	action;
	unsigned	http_status;
	char	   *resp;			/* malloc'd, handed to MHD */
	size_t		resp_len;
	const char *resp_static;	/* or a static body */
	const char *content_type;
} req_ctx;

extern enum MHD_Result deliver(struct MHD_Connection *conn, req_ctx *rc);
extern int	build_fail(protocol_buffer *b, int32_t code, const char *info);
extern void set_answer(req_ctx *rc, unsigned status, protocol_buffer *b);
extern void set_fail(req_ctx *rc, int32_t code, const char *info);
extern struct MHD_Daemon *http_start(uint16_t port, int64_t threads,
									 int64_t conn_timeout,
									 const char *tls_cert,
									 const char *tls_key);

/* ---- query.c: the query checks every API shares ---- */

extern void check_query(struct MHD_Connection *conn, req_ctx *rc);

/* ---- apicall.c: an API call, whichever API (and its per-API parts) ---- */

/* A request whose body passed its API's checks: what its answer needs. */
typedef struct api_call
{
	const char *ids[MAX_ITEMS];	/* decoded UserIDs, pointing into the body */
	size_t		lens[MAX_ITEMS];
	size_t		n;
	int64_t		detail;			/* query_online_status: IsNeedDetail */
} api_call;

/* How a fault edits an OK answer's list (missing_item, extra_item). */
typedef struct answer_edit
{
	int			drop;			/* leave one entry out: ... */
	uint64_t	drop_aux;		/* ... the (drop_aux % entries)-th */
	const char *extra;			/* add an entry with this ID (NULL: none) */
} answer_edit;

/* What is particular to one API: account_check.c, import.c, online.c. */
typedef struct api_def
{
	const char *name;			/* as stats, config and --fault-api say it */
	const char *path;
	const checkbody_spec *body; /* its body checks (15-20) */
	const char *list_member;	/* the OK answer's list (malformed breaks it) */
	/* the accepted call's effect (NULL: none): 0 or a whole-call ErrorCode */
	int32_t		(*effect) (const api_call *call, const char **info);
	/* the OK answer, edited as a fault says; 0, or -1 when out of memory */
	int			(*build) (protocol_buffer *b, const api_call *call,
						  const answer_edit *edit);
} api_def;

extern const api_def account_check_api;
extern const api_def import_api;
extern const api_def online_api;

extern int	api_find_path(const char *path);
extern int	api_find_name(const char *name);
extern const char *api_name(int api);
extern enum MHD_Result finish_api(struct MHD_Connection *conn, req_ctx *rc,
								  int early);

/* ---- timer.c: suspended connections waiting for their deadline ---- */

extern void timer_start(void);
extern int	timer_schedule(struct MHD_Connection *conn, req_ctx *rc,
						   uint64_t delay_ns);
extern void timer_resumed(void);
extern void timer_stop(void);
extern void timer_free(void);

/* ---- stats.c: /_imsim/stats ---- */

extern void stats_call_begin(req_ctx *rc);
extern void stats_call_end(req_ctx *rc);
extern void stats_record(api_id api, const char *code_key,
						 const char *fault_name, const char *const *ids,
						 const size_t *lens, size_t n);
extern void stats_connection_opened(void);
extern void stats_connection_closed(void);
extern void stats_json(protocol_buffer *b);
extern void stats_reset(void);
extern void stats_free(void);

#endif							/* IMSIM_H */
