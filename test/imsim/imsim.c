/*
 * imsim.c - a simulator of the Tencent Cloud Chat (IM) REST API
 * v4/im_open_login_svc/account_check, for imcheck's tests and benchmarks.
 *
 * libmicrohttpd (epoll, thread pool, suspend/resume) + json-c.  UserSig
 * verification and JSON string escaping come from the extension's own
 * src/usersig.c and src/protocol.c.  See README.md beside this file for the
 * behaviour; it is the contract the tests rely on.
 *
 * Threads: MHD's worker threads run the handler; a timer thread resumes
 * suspended connections (latency, jitter, stall) when their deadline comes;
 * the main thread waits for SIGTERM/SIGINT and stops everything.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <microhttpd.h>

#include "checkbody.h"
#include "idset.h"
#include "../../src/protocol.h"
#include "../../src/usersig.h"

#define API_PATH "/v4/im_open_login_svc/account_check"
#define DEFAULT_SDKAPPID 1400000000ULL
#define DEFAULT_IDENTIFIER "administrator"
/* the public TLSSigAPIv2 test key (DESIGN.md); never a real secret */
#define DEFAULT_SECRET_KEY "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
#define MAX_FAULTS 64
#define CONTROL_MAX_BODY (64 * 1024)
#define NS_PER_MS 1000000ULL
#define NS_PER_S 1000000000ULL

/* ------------------------------------------------------------------ */
/* small helpers                                                       */
/* ------------------------------------------------------------------ */

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * NS_PER_S + (uint64_t) ts.tv_nsec;
}

/* splitmix64: small, fast, fully determined by its 64-bit state */
static uint64_t
rng_next(uint64_t *state)
{
	uint64_t	z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* uniform in [0, 1) */
static double
rng_unit(uint64_t *state)
{
	return (double) (rng_next(state) >> 11) * 0x1.0p-53;
}

/* uniform integer in [0, n) for n > 0 */
static uint64_t
rng_below(uint64_t *state, uint64_t n)
{
	return n ? rng_next(state) % n : 0;
}

/* Parses exactly len ASCII digits into *out; 0 on overflow/empty/non-digit. */
static int
parse_u64(const char *s, size_t len, uint64_t *out)
{
	uint64_t	v = 0;

	if (len == 0)
		return 0;
	for (size_t i = 0; i < len; i++)
	{
		unsigned	d;

		if (s[i] < '0' || s[i] > '9')
			return 0;
		d = (unsigned) (s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return 0;
		v = v * 10 + d;
	}
	*out = v;
	return 1;
}

static int
parse_i64_arg(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char	   *end;
	long long	v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return 0;
	*out = v;
	return 1;
}

static void
die(const char *fmt,...)
{
	va_list		ap;

	fputs("imsim: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* ------------------------------------------------------------------ */
/* faults                                                              */
/* ------------------------------------------------------------------ */

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

/* Parses a fault kind name; 0 on success. */
static int
fault_parse_name(const char *name, fault *f)
{
	static const struct
	{
		const char *name;
		fault_kind	kind;
	}			kinds[] = {
		{"http502", FK_HTTP502},
		{"reset", FK_RESET},
		{"stall", FK_STALL},
		{"malformed", FK_MALFORMED},
		{"truncated", FK_TRUNCATED},
		{"missing_item", FK_MISSING_ITEM},
		{"extra_item", FK_EXTRA_ITEM},
	};

	memset(f, 0, sizeof(*f));
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(name, kinds[i].name) == 0)
		{
			f->kind = kinds[i].kind;
			snprintf(f->name, sizeof(f->name), "%s", name);
			return 0;
		}
	if (strncmp(name, "code", 4) == 0)
	{
		uint64_t	code;

		if (!parse_u64(name + 4, strlen(name + 4), &code) || code == 0 ||
			code > INT32_MAX || name[4] == '0')
			return -1;
		f->kind = FK_CODE;
		f->code = (int32_t) code;
		snprintf(f->name, sizeof(f->name), "code%" PRIu64, code);
		return 0;
	}
	return -1;
}

/* ErrorInfo texts for the codes a test is likely to inject */
static const char *
error_info_for(int32_t code)
{
	switch (code)
	{
		case 60007:
			return "REST API call frequency exceeds the limit. Reduce the call frequency.";
		case 60008:
			return "Service request timed out or HTTP request format error. Try again later.";
		case 60014:
			return "Server busy. Try again later.";
		case 70169:
		case 70202:
			return "Server timeout. Try again later.";
		case 70402:
			return "Invalid parameters. Make sure that the required fields are all entered and the parameter settings meet the protocol requirements.";
		case 70403:
			return "Request failed. App admin permissions are required to perform this operation.";
		case 70500:
			return "Internal server error. Try again later.";
		default:
			return "imsim injected error";
	}
}

/* ------------------------------------------------------------------ */
/* global state                                                        */
/* ------------------------------------------------------------------ */

/* fixed at start-up */
static struct
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
} fixed;

/* changeable at run time: g.lock guards everything here */
static struct
{
	pthread_mutex_t lock;
	fault		faults[MAX_FAULTS];
	int			nfaults;
	int64_t		fault_budget;	/* -1 = unlimited */
	int64_t		rate_limit;		/* 0 = off */
	int64_t		latency_ms;
	int64_t		jitter_ms;
	int64_t		stall_ms;
	uint64_t	seed;
	uint64_t	rng_fault;		/* one draw per accepted call */
	uint64_t	rng_aux;		/* jitter, truncation point, item choice */
	uint64_t	extra_counter;
	/* arrival times (ns) of accepted calls in the last second, FIFO ring */
	uint64_t   *win;
	size_t		win_cap;		/* power of two */
	size_t		win_head;
	size_t		win_len;
	uint64_t	win_pushed;		/* pushes ever */
	uint64_t	win_pushed_at_reset;
	uint64_t	max_cps;
} g = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* statistics: st.lock guards everything here */
typedef struct counter
{
	char		key[24];
	uint64_t	n;
} counter;

#define MAX_COUNTERS 128

static struct
{
	pthread_mutex_t lock;
	uint64_t	calls;
	counter		by_code[MAX_COUNTERS];
	int			n_by_code;
	counter		faults[MAX_COUNTERS];
	int			n_faults;
	uint64_t	items;
	idset		ids;
	uint64_t	repeated_ids;
	uint64_t	call_seq;
	uint64_t	in_flight;
	uint64_t	max_in_flight;
	uint64_t	connections;
	uint64_t	connections_open;
} st = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void
counter_add(counter *arr, int *n, const char *key)
{
	for (int i = 0; i < *n; i++)
		if (strcmp(arr[i].key, key) == 0)
		{
			arr[i].n++;
			return;
		}
	if (*n >= MAX_COUNTERS)
		key = "other";
	for (int i = 0; i < *n; i++)
		if (strcmp(arr[i].key, key) == 0)
		{
			arr[i].n++;
			return;
		}
	if (*n >= MAX_COUNTERS)
		return;
	snprintf(arr[*n].key, sizeof(arr[*n].key), "%s", key);
	arr[*n].n = 1;
	(*n)++;
}

/* ------------------------------------------------------------------ */
/* account store                                                       */
/* ------------------------------------------------------------------ */

/*
 * The even rule: take the maximal run of trailing ASCII digits of the
 * UserID; if there is none the ID is NotImported; otherwise take the last
 * 18 digits of that run as a decimal number: Imported iff it is even.
 */
static int
rule_even_imported(const char *id, size_t len)
{
	size_t		start = len;
	uint64_t	v = 0;

	while (start > 0 && id[start - 1] >= '0' && id[start - 1] <= '9')
		start--;
	if (start == len)
		return 0;
	if (len - start > 18)
		start = len - 18;
	for (size_t i = start; i < len; i++)
		v = v * 10 + (uint64_t) (id[i] - '0');
	return v % 2 == 0;
}

static int
is_imported(const char *id, size_t len)
{
	if (fixed.imported.count > 0 &&
		idset_find(&fixed.imported, id, len, idset_hash(id, len)) != NULL)
		return 1;
	return fixed.rule_even && rule_even_imported(id, len);
}

static void
load_imported_file(const char *path)
{
	FILE	   *f = fopen(path, "rb");
	char	   *line = NULL;
	size_t		cap = 0;
	ssize_t		n;

	if (f == NULL)
		die("cannot open imported file \"%s\": %s", path, strerror(errno));
	while ((n = getline(&line, &cap, f)) >= 0)
	{
		size_t		len = (size_t) n;
		int			inserted;

		if (len > 0 && line[len - 1] == '\n')
			len--;
		if (len > 0 && line[len - 1] == '\r')
			len--;
		if (len == 0)
			continue;
		if (idset_upsert(&fixed.imported, line, len, idset_hash(line, len),
						 &inserted) == NULL)
			die("out of memory");
	}
	free(line);
	if (ferror(f))
		die("cannot read imported file \"%s\"", path);
	fclose(f);
}

/* ------------------------------------------------------------------ */
/* UserSig verification cache                                          */
/* ------------------------------------------------------------------ */

/*
 * Verifying a UserSig inflates and parses it and computes an HMAC; the same
 * UserSig comes with every call, so remember the ones that verified.  Only
 * verified (USERSIG_OK) results are cached, with the document's time and
 * expire so that expiry is still checked against the clock on every call,
 * in the same order as usersig_verify does (identifier, sdkappid, expiry,
 * signature: a cached entry already passed the first two and the last).
 */
#define SIGCACHE_SIZE 8
#define SIGCACHE_MAX_SIG 1024

typedef struct sigcache_entry
{
	char		sig[SIGCACHE_MAX_SIG];
	size_t		sig_len;
	char		ident[USERSIG_MAX_IDENTIFIER + 1];
	size_t		ident_len;
	uint64_t	sdkappid;
	int64_t		time;
	int64_t		expire;
	int			used;
} sigcache_entry;

static struct
{
	pthread_mutex_t lock;
	sigcache_entry e[SIGCACHE_SIZE];
	int			next;
} sigcache = {.lock = PTHREAD_MUTEX_INITIALIZER};

static usersig_status
verify_usersig(const char *sig, size_t sig_len, const char *ident,
			   size_t ident_len, uint64_t sdkappid, int64_t now)
{
	usersig_document doc;
	usersig_status status;
	int			cacheable = sig_len <= SIGCACHE_MAX_SIG &&
		ident_len <= USERSIG_MAX_IDENTIFIER && memchr(ident, 0, ident_len) == NULL;

	if (cacheable)
	{
		pthread_mutex_lock(&sigcache.lock);
		for (int i = 0; i < SIGCACHE_SIZE; i++)
		{
			sigcache_entry *e = &sigcache.e[i];

			if (e->used && e->sig_len == sig_len && e->ident_len == ident_len &&
				e->sdkappid == sdkappid &&
				memcmp(e->sig, sig, sig_len) == 0 &&
				memcmp(e->ident, ident, ident_len) == 0)
			{
				int			expired = e->expire > INT64_MAX - e->time ||
					now > e->time + e->expire;

				pthread_mutex_unlock(&sigcache.lock);
				return expired ? USERSIG_EXPIRED : USERSIG_OK;
			}
		}
		pthread_mutex_unlock(&sigcache.lock);
	}

	status = usersig_verify(sig, sig_len, fixed.key, fixed.key_len, ident,
							sdkappid, now, &doc);
	/*
	 * usersig_verify compares the identifier as a C string: one with an
	 * embedded NUL (from %00 in the URL) can never match.
	 */
	if (memchr(ident, 0, ident_len) != NULL &&
		(status == USERSIG_OK || status == USERSIG_SDKAPPID_MISMATCH ||
		 status == USERSIG_EXPIRED || status == USERSIG_BAD_SIGNATURE))
		return USERSIG_IDENTIFIER_MISMATCH;

	if (status == USERSIG_OK && cacheable)
	{
		sigcache_entry *e;

		pthread_mutex_lock(&sigcache.lock);
		e = &sigcache.e[sigcache.next];
		sigcache.next = (sigcache.next + 1) % SIGCACHE_SIZE;
		memcpy(e->sig, sig, sig_len);
		e->sig_len = sig_len;
		memcpy(e->ident, ident, ident_len);
		e->ident[ident_len] = '\0';
		e->ident_len = ident_len;
		e->sdkappid = sdkappid;
		e->time = doc.time;
		e->expire = doc.expire;
		e->used = 1;
		pthread_mutex_unlock(&sigcache.lock);
	}
	return status;
}

/* ------------------------------------------------------------------ */
/* per-request state                                                   */
/* ------------------------------------------------------------------ */

typedef enum endpoint
{
	EP_API,
	EP_CONFIG,
	EP_STATS,
	EP_STATS_RESET,
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
	int			is_post;
	int			is_get;
	int			in_flight;		/* counted in st.in_flight */
	req_state	state;
	int			aborted;		/* resumed by shutdown: drop */
	/* body */
	char	   *body;
	size_t		body_len;
	size_t		body_cap;
	size_t		body_limit;
	int			too_big;
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

static void
req_free(req_ctx *rc)
{
	free(rc->body);
	free(rc->resp);
	free(rc);
}

static int
body_append(req_ctx *rc, const char *data, size_t len)
{
	if (rc->too_big)
		return 0;
	if (len > rc->body_limit - rc->body_len)
	{
		/* keep reading (and discarding) to the end, then answer */
		rc->too_big = 1;
		free(rc->body);
		rc->body = NULL;
		rc->body_len = rc->body_cap = 0;
		return 0;
	}
	if (rc->body_len + len + 1 > rc->body_cap)
	{
		size_t		ncap = rc->body_cap ? rc->body_cap : 4096;
		char	   *nb;

		while (ncap < rc->body_len + len + 1)
			ncap *= 2;
		nb = realloc(rc->body, ncap);
		if (nb == NULL)
			return -1;
		rc->body = nb;
		rc->body_cap = ncap;
	}
	memcpy(rc->body + rc->body_len, data, len);
	rc->body_len += len;
	rc->body[rc->body_len] = '\0';
	return 0;
}

/* ------------------------------------------------------------------ */
/* timer: suspended connections waiting for their deadline             */
/* ------------------------------------------------------------------ */

typedef struct timer_item
{
	uint64_t	deadline;
	struct MHD_Connection *conn;
	req_ctx    *rc;
} timer_item;

static struct
{
	pthread_mutex_t lock;
	pthread_cond_t cond;
	timer_item *heap;
	size_t		len;
	size_t		cap;
	int			shutting_down;
	size_t		suspended;		/* suspended and not yet seen resumed */
	pthread_t	thread;
} timer = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void
heap_push(timer_item it)
{
	size_t		i = timer.len++;

	while (i > 0)
	{
		size_t		p = (i - 1) / 2;

		if (timer.heap[p].deadline <= it.deadline)
			break;
		timer.heap[i] = timer.heap[p];
		i = p;
	}
	timer.heap[i] = it;
}

static timer_item
heap_pop(void)
{
	timer_item	top = timer.heap[0];
	timer_item	last = timer.heap[--timer.len];
	size_t		i = 0;

	for (;;)
	{
		size_t		c = 2 * i + 1;

		if (c >= timer.len)
			break;
		if (c + 1 < timer.len && timer.heap[c + 1].deadline < timer.heap[c].deadline)
			c++;
		if (last.deadline <= timer.heap[c].deadline)
			break;
		timer.heap[i] = timer.heap[c];
		i = c;
	}
	if (timer.len > 0)
		timer.heap[i] = last;
	return top;
}

/*
 * Suspends conn until now + delay_ns.  Must be called from the access
 * handler.  Returns -1 when shutting down (or out of memory): the caller
 * then drops the connection.
 */
static int
timer_schedule(struct MHD_Connection *conn, req_ctx *rc, uint64_t delay_ns)
{
	timer_item	it = {mono_ns() + delay_ns, conn, rc};

	pthread_mutex_lock(&timer.lock);
	if (timer.shutting_down)
	{
		pthread_mutex_unlock(&timer.lock);
		return -1;
	}
	if (timer.len == timer.cap)
	{
		size_t		ncap = timer.cap ? timer.cap * 2 : 256;
		timer_item *nh = realloc(timer.heap, ncap * sizeof(timer_item));

		if (nh == NULL)
		{
			pthread_mutex_unlock(&timer.lock);
			return -1;
		}
		timer.heap = nh;
		timer.cap = ncap;
	}
	MHD_suspend_connection(conn);
	rc->state = RS_SUSPENDED;
	timer.suspended++;
	heap_push(it);
	if (timer.heap[0].rc == rc)
		pthread_cond_signal(&timer.cond);
	pthread_mutex_unlock(&timer.lock);
	return 0;
}

static void *
timer_main(void *arg)
{
	timer_item	due[256];

	(void) arg;
	pthread_mutex_lock(&timer.lock);
	for (;;)
	{
		size_t		n = 0;
		uint64_t	now = mono_ns();

		if (timer.shutting_down)
		{
			/* resume everything; the handler drops the aborted ones */
			while (timer.len > 0)
			{
				timer_item	it = heap_pop();

				it.rc->aborted = 1;
				MHD_resume_connection(it.conn);
			}
			break;
		}
		while (timer.len > 0 && timer.heap[0].deadline <= now &&
			   n < sizeof(due) / sizeof(due[0]))
			due[n++] = heap_pop();
		if (n > 0)
		{
			pthread_mutex_unlock(&timer.lock);
			for (size_t i = 0; i < n; i++)
				MHD_resume_connection(due[i].conn);
			pthread_mutex_lock(&timer.lock);
			continue;
		}
		if (timer.len == 0)
			pthread_cond_wait(&timer.cond, &timer.lock);
		else
		{
			uint64_t	d = timer.heap[0].deadline;
			struct timespec ts = {(time_t) (d / NS_PER_S), (long) (d % NS_PER_S)};

			pthread_cond_timedwait(&timer.cond, &timer.lock, &ts);
		}
	}
	pthread_mutex_unlock(&timer.lock);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* statistics                                                          */
/* ------------------------------------------------------------------ */

static void
stats_call_begin(req_ctx *rc)
{
	pthread_mutex_lock(&st.lock);
	st.calls++;
	st.in_flight++;
	if (st.in_flight > st.max_in_flight)
		st.max_in_flight = st.in_flight;
	pthread_mutex_unlock(&st.lock);
	rc->in_flight = 1;
}

static void
stats_call_end(req_ctx *rc)
{
	if (!rc->in_flight)
		return;
	pthread_mutex_lock(&st.lock);
	st.in_flight--;
	pthread_mutex_unlock(&st.lock);
	rc->in_flight = 0;
}

/*
 * Records the answer of one call.  code_key is the ErrorCode answered or a
 * fault name; ids are the UserIDs of a successful call (else n = 0).
 */
static void
stats_record(const char *code_key, const char *fault_name,
			 const char *const *ids, const size_t *lens, size_t n)
{
	uint64_t	hashes[PROTOCOL_MAX_BATCH];

	for (size_t i = 0; i < n; i++)
		hashes[i] = idset_hash(ids[i], lens[i]);
	pthread_mutex_lock(&st.lock);
	counter_add(st.by_code, &st.n_by_code, code_key);
	if (fault_name)
		counter_add(st.faults, &st.n_faults, fault_name);
	if (n > 0)
	{
		uint64_t	call = ++st.call_seq;

		st.items += n;
		for (size_t i = 0; i < n && !fixed.no_id_stats; i++)
		{
			int			inserted;
			idset_entry *e = idset_upsert(&st.ids, ids[i], lens[i], hashes[i],
										  &inserted);

			if (e == NULL)
				break;			/* out of memory: statistics only */
			if (e->last_call != call)
			{
				e->last_call = call;
				if (++e->ncalls == 2)
					st.repeated_ids++;
			}
		}
	}
	pthread_mutex_unlock(&st.lock);
}

static void
append_counters(protocol_buffer *b, const counter *arr, int n)
{
	char		num[32];

	protocol_buffer_append(b, "{", 1);
	for (int i = 0; i < n; i++)
	{
		if (i)
			protocol_buffer_append(b, ",", 1);
		protocol_buffer_append_json_string(b, arr[i].key, strlen(arr[i].key));
		snprintf(num, sizeof(num), ":%" PRIu64, arr[i].n);
		protocol_buffer_append(b, num, strlen(num));
	}
	protocol_buffer_append(b, "}", 1);
}

static void
stats_json(protocol_buffer *b)
{
	char		tmp[512];
	char		distinct[32];
	char		repeated[32];
	uint64_t	max_cps;

	pthread_mutex_lock(&g.lock);
	max_cps = g.max_cps;
	pthread_mutex_unlock(&g.lock);

	pthread_mutex_lock(&st.lock);
	snprintf(tmp, sizeof(tmp), "{\"calls\":%" PRIu64 ",\"calls_by_code\":", st.calls);
	protocol_buffer_append(b, tmp, strlen(tmp));
	append_counters(b, st.by_code, st.n_by_code);
	protocol_buffer_append(b, ",\"faults\":", 10);
	append_counters(b, st.faults, st.n_faults);
	/* without the distinct-ID set (--no-id-stats) its figures are null */
	if (fixed.no_id_stats)
		snprintf(distinct, sizeof(distinct), "null");
	else
		snprintf(distinct, sizeof(distinct), "%zu", st.ids.count);
	if (fixed.no_id_stats)
		snprintf(repeated, sizeof(repeated), "null");
	else
		snprintf(repeated, sizeof(repeated), "%" PRIu64, st.repeated_ids);
	snprintf(tmp, sizeof(tmp),
			 ",\"items\":%" PRIu64 ",\"distinct_ids\":%s,\"repeated_ids\":%s"
			 ",\"max_calls_per_second\":%" PRIu64 ",\"max_in_flight\":%" PRIu64
			 ",\"in_flight\":%" PRIu64 ",\"connections\":%" PRIu64
			 ",\"connections_open\":%" PRIu64 "}",
			 st.items, distinct, repeated, max_cps,
			 st.max_in_flight, st.in_flight, st.connections,
			 st.connections_open);
	protocol_buffer_append(b, tmp, strlen(tmp));
	pthread_mutex_unlock(&st.lock);
}

static void
stats_reset(void)
{
	pthread_mutex_lock(&g.lock);
	g.max_cps = 0;
	g.win_pushed_at_reset = g.win_pushed;
	pthread_mutex_unlock(&g.lock);

	pthread_mutex_lock(&st.lock);
	st.calls = 0;
	st.n_by_code = 0;
	st.n_faults = 0;
	st.items = 0;
	idset_clear(&st.ids);
	st.repeated_ids = 0;
	st.max_in_flight = st.in_flight;
	st.connections = 0;
	pthread_mutex_unlock(&st.lock);
}

/* ------------------------------------------------------------------ */
/* configuration (run-time part)                                       */
/* ------------------------------------------------------------------ */

/* caller holds g.lock */
static void
reseed(uint64_t seed)
{
	g.seed = seed;
	g.rng_fault = seed ^ 0x6a09e667f3bcc908ULL;
	g.rng_aux = seed ^ 0xbb67ae8584caa73bULL;
}

static void
config_json(protocol_buffer *b)
{
	char		tmp[256];

	pthread_mutex_lock(&g.lock);
	snprintf(tmp, sizeof(tmp), "{\"sdkappid\":%" PRIu64 ",\"identifier\":",
			 fixed.sdkappid);
	protocol_buffer_append(b, tmp, strlen(tmp));
	protocol_buffer_append_json_string(b, fixed.identifier, fixed.identifier_len);
	snprintf(tmp, sizeof(tmp),
			 ",\"rule\":\"%s\",\"imported\":%zu,\"max_body\":%zu,\"faults\":{",
			 fixed.rule_even ? "even" : "none", fixed.imported.count,
			 fixed.max_body);
	protocol_buffer_append(b, tmp, strlen(tmp));
	for (int i = 0; i < g.nfaults; i++)
	{
		if (i)
			protocol_buffer_append(b, ",", 1);
		protocol_buffer_append_json_string(b, g.faults[i].name,
										   strlen(g.faults[i].name));
		snprintf(tmp, sizeof(tmp), ":%.17g", g.faults[i].prob);
		protocol_buffer_append(b, tmp, strlen(tmp));
	}
	snprintf(tmp, sizeof(tmp),
			 "},\"fault_budget\":%" PRId64 ",\"rate_limit\":%" PRId64
			 ",\"latency_ms\":%" PRId64 ",\"jitter_ms\":%" PRId64
			 ",\"seed\":%" PRIu64 ",\"stall_ms\":%" PRId64 "}",
			 g.fault_budget, g.rate_limit, g.latency_ms, g.jitter_ms, g.seed,
			 g.stall_ms);
	protocol_buffer_append(b, tmp, strlen(tmp));
	pthread_mutex_unlock(&g.lock);
}

/* Adds or replaces a fault in an array; 0, or -1 when full. */
static int
fault_set(fault *arr, int *n, const fault *f)
{
	for (int i = 0; i < *n; i++)
		if (strcmp(arr[i].name, f->name) == 0)
		{
			arr[i].prob = f->prob;
			return 0;
		}
	if (*n >= MAX_FAULTS)
		return -1;
	arr[(*n)++] = *f;
	return 0;
}

static int
json_get_int(struct json_object *v, int64_t min, int64_t max, int64_t *out)
{
	int64_t		x;

	if (!json_object_is_type(v, json_type_int))
		return 0;
	errno = 0;
	x = json_object_get_int64(v);
	if (errno != 0 || x < min || x > max)
		return 0;
	*out = x;
	return 1;
}

/*
 * Applies a POST /_imsim/config body.  All or nothing: on error nothing
 * changes and *err says why.
 */
static int
config_apply(const char *body, size_t len, char *err, size_t errlen)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *obj;
	fault		nf[MAX_FAULTS];
	int			nnf = 0;
	int			have_faults = 0;
	int64_t		budget = 0,
				rate = 0,
				lat = 0,
				jit = 0,
				seed = 0,
				stall = 0;
	int			have_budget = 0,
				have_rate = 0,
				have_lat = 0,
				have_jit = 0,
				have_seed = 0,
				have_stall = 0;
	int			ok = 0;

	if (tok == NULL)
	{
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	obj = json_tokener_parse_ex(tok, body, (int) len);
	if (obj != NULL)
	{
		size_t		end = json_tokener_get_parse_end(tok);

		while (end < len && (body[end] == ' ' || body[end] == '\t' ||
							 body[end] == '\n' || body[end] == '\r'))
			end++;
		if (end != len)
		{
			json_object_put(obj);
			obj = NULL;
		}
	}
	if (obj == NULL || !json_object_is_type(obj, json_type_object))
	{
		snprintf(err, errlen, "body must be a JSON object");
		goto out;
	}
	{
		json_object_object_foreach(obj, k, v)
		{
			if (strcmp(k, "faults") == 0)
			{
				if (!json_object_is_type(v, json_type_object))
				{
					snprintf(err, errlen, "faults must be an object");
					goto out;
				}
				have_faults = 1;
				{
					json_object_object_foreach(v, fk, fv)
					{
						fault		f;
						double		p;

						if (fault_parse_name(fk, &f) != 0)
						{
							snprintf(err, errlen, "unknown fault kind \"%.40s\"", fk);
							goto out;
						}
						if (!json_object_is_type(fv, json_type_double) &&
							!json_object_is_type(fv, json_type_int))
						{
							snprintf(err, errlen, "probability of %s must be a number", fk);
							goto out;
						}
						p = json_object_get_double(fv);
						if (!(p >= 0.0 && p <= 1.0))
						{
							snprintf(err, errlen, "probability of %s must be in 0..1", fk);
							goto out;
						}
						f.prob = p;
						if (fault_set(nf, &nnf, &f) != 0)
						{
							snprintf(err, errlen, "too many fault kinds");
							goto out;
						}
					}
				}
			}
			else if (strcmp(k, "fault_budget") == 0)
			{
				if (!json_get_int(v, -1, INT64_MAX, &budget))
				{
					snprintf(err, errlen, "fault_budget must be an integer >= -1");
					goto out;
				}
				have_budget = 1;
			}
			else if (strcmp(k, "rate_limit") == 0)
			{
				if (!json_get_int(v, 0, 100000000, &rate))
				{
					snprintf(err, errlen, "rate_limit must be an integer in 0..100000000");
					goto out;
				}
				have_rate = 1;
			}
			else if (strcmp(k, "latency_ms") == 0)
			{
				if (!json_get_int(v, 0, 3600000, &lat))
				{
					snprintf(err, errlen, "latency_ms must be an integer in 0..3600000");
					goto out;
				}
				have_lat = 1;
			}
			else if (strcmp(k, "jitter_ms") == 0)
			{
				if (!json_get_int(v, 0, 3600000, &jit))
				{
					snprintf(err, errlen, "jitter_ms must be an integer in 0..3600000");
					goto out;
				}
				have_jit = 1;
			}
			else if (strcmp(k, "stall_ms") == 0)
			{
				if (!json_get_int(v, 0, 3600000, &stall))
				{
					snprintf(err, errlen, "stall_ms must be an integer in 0..3600000");
					goto out;
				}
				have_stall = 1;
			}
			else if (strcmp(k, "seed") == 0)
			{
				if (!json_get_int(v, 0, INT64_MAX, &seed))
				{
					snprintf(err, errlen, "seed must be a non-negative integer");
					goto out;
				}
				have_seed = 1;
			}
			else
			{
				snprintf(err, errlen, "unknown setting \"%.40s\"", k);
				goto out;
			}
		}
	}

	pthread_mutex_lock(&g.lock);
	if (have_faults)
	{
		memcpy(g.faults, nf, sizeof(fault) * (size_t) nnf);
		g.nfaults = nnf;
	}
	if (have_budget)
		g.fault_budget = budget;
	if (have_rate)
		g.rate_limit = rate;
	if (have_lat)
		g.latency_ms = lat;
	if (have_jit)
		g.jitter_ms = jit;
	if (have_stall)
		g.stall_ms = stall;
	if (have_seed)
		reseed((uint64_t) seed);
	pthread_mutex_unlock(&g.lock);
	ok = 1;

out:
	if (obj)
		json_object_put(obj);
	json_tokener_free(tok);
	return ok ? 0 : -1;
}

/*
 * Sliding window of accepted calls (caller holds g.lock).  Returns 1 and
 * records the call when it is within the rate limit, 0 when rejected.
 */
static int
window_admit(uint64_t now)
{
	size_t		since_reset;

	while (g.win_len > 0 && g.win[g.win_head] + NS_PER_S <= now)
	{
		g.win_head = (g.win_head + 1) & (g.win_cap - 1);
		g.win_len--;
	}
	if (g.rate_limit > 0 && g.win_len >= (uint64_t) g.rate_limit)
		return 0;
	if (g.win_len == g.win_cap)
	{
		size_t		ncap = g.win_cap ? g.win_cap * 2 : 1024;
		uint64_t   *nw = malloc(ncap * sizeof(uint64_t));

		if (nw != NULL)
		{
			for (size_t i = 0; i < g.win_len; i++)
				nw[i] = g.win[(g.win_head + i) & (g.win_cap - 1)];
			free(g.win);
			g.win = nw;
			g.win_cap = ncap;
			g.win_head = 0;
		}
		else if (g.win_cap > 0)
		{
			/* out of memory: forget the oldest (statistics only) */
			g.win_head = (g.win_head + 1) & (g.win_cap - 1);
			g.win_len--;
		}
		else
			return 1;			/* out of memory, nothing recorded */
	}
	g.win[(g.win_head + g.win_len) & (g.win_cap - 1)] = now;
	g.win_len++;
	g.win_pushed++;
	since_reset = g.win_pushed - g.win_pushed_at_reset;
	if (since_reset > g.win_len)
		since_reset = g.win_len;
	if (since_reset > g.max_cps)
		g.max_cps = since_reset;
	return 1;
}

/* ------------------------------------------------------------------ */
/* answers                                                             */
/* ------------------------------------------------------------------ */

static int
build_fail(protocol_buffer *b, int32_t code, const char *info)
{
	char		tmp[96];

	snprintf(tmp, sizeof(tmp),
			 "{\"ActionStatus\":\"FAIL\",\"ErrorCode\":%" PRId32 ",\"ErrorInfo\":", code);
	if (protocol_buffer_append(b, tmp, strlen(tmp)) != 0 ||
		protocol_buffer_append_json_string(b, info, strlen(info)) != 0 ||
		protocol_buffer_append(b, "}", 1) != 0)
		return -1;
	return 0;
}

#define LIT(b, s) protocol_buffer_append((b), (s), sizeof(s) - 1)

static int
build_ok(protocol_buffer *b, const char *const *ids, const size_t *lens,
		 size_t n, size_t skip, const char *extra)
{
	int			first = 1;

	if (protocol_buffer_reserve(b, 64 + n * 96) != 0 ||
		LIT(b, "{\"ActionStatus\":\"OK\",\"ErrorCode\":0,\"ErrorInfo\":\"\",\"ResultItem\":[") != 0)
		return -1;
	for (size_t i = 0; i < n; i++)
	{
		int			r;

		if (i == skip)
			continue;
		if (!first && LIT(b, ",") != 0)
			return -1;
		first = 0;
		if (LIT(b, "{\"UserID\":") != 0 ||
			protocol_buffer_append_json_string(b, ids[i], lens[i]) != 0)
			return -1;
		if (lens[i] == 0)
			r = LIT(b, ",\"ResultCode\":70402,\"ResultInfo\":\"invalid UserID: empty\"}");
		else if (lens[i] > PROTOCOL_MAX_USERID_BYTES)
			r = LIT(b, ",\"ResultCode\":70402,\"ResultInfo\":\"invalid UserID: longer than 32 bytes\"}");
		else if (is_imported(ids[i], lens[i]))
			r = LIT(b, ",\"ResultCode\":0,\"ResultInfo\":\"\",\"AccountStatus\":\"Imported\"}");
		else
			r = LIT(b, ",\"ResultCode\":0,\"ResultInfo\":\"\",\"AccountStatus\":\"NotImported\"}");
		if (r != 0)
			return -1;
	}
	if (extra != NULL)
	{
		if ((!first && LIT(b, ",") != 0) ||
			LIT(b, "{\"UserID\":") != 0 ||
			protocol_buffer_append_json_string(b, extra, strlen(extra)) != 0 ||
			LIT(b, ",\"ResultCode\":0,\"ResultInfo\":\"\",\"AccountStatus\":\"NotImported\"}") != 0)
			return -1;
	}
	return LIT(b, "]}");
}

static const char BAD_GATEWAY_BODY[] =
"<html><head><title>502 Bad Gateway</title></head><body>502 Bad Gateway (imsim)</body></html>\n";

/* Queues (or drops) the prepared answer. */
static enum MHD_Result
deliver(struct MHD_Connection *conn, req_ctx *rc)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	rc->state = RS_DONE;
	/*
	 * The call stops being in flight now, before the client can see the
	 * answer (or the closed connection): a client that got its answer then
	 * reads in_flight without the call.
	 */
	if (rc->ep == EP_API)
		stats_call_end(rc);
	if (rc->aborted || rc->action == ACT_CLOSE)
		return MHD_NO;
	if (rc->action == ACT_RESET)
	{
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

		if (ci != NULL)
		{
			struct linger lg = {1, 0};

			/* closing with linger 0 sends RST instead of FIN */
			setsockopt(ci->connect_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		}
		return MHD_NO;
	}
	if (rc->resp_static != NULL)
		r = MHD_create_response_from_buffer(strlen(rc->resp_static),
											(void *) rc->resp_static,
											MHD_RESPMEM_PERSISTENT);
	else
	{
		r = MHD_create_response_from_buffer(rc->resp_len, rc->resp,
											MHD_RESPMEM_MUST_FREE);
		if (r != NULL)
			rc->resp = NULL;	/* MHD frees it */
	}
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
							rc->content_type ? rc->content_type : "application/json");
	ret = MHD_queue_response(conn, rc->http_status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Sets the prepared answer to a JSON body built in b (takes b's memory). */
static void
set_answer(req_ctx *rc, unsigned status, protocol_buffer *b)
{
	rc->action = ACT_RESPOND;
	rc->http_status = status;
	free(rc->resp);
	rc->resp = b->data;
	rc->resp_len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	rc->content_type = "application/json";
}

static void
set_fail(req_ctx *rc, int32_t code, const char *info)
{
	protocol_buffer b = {0};

	if (build_fail(&b, code, info) != 0)
	{
		protocol_buffer_free(&b);
		rc->action = ACT_CLOSE;
		return;
	}
	set_answer(rc, MHD_HTTP_OK, &b);
}

/* ------------------------------------------------------------------ */
/* the API                                                             */
/* ------------------------------------------------------------------ */

static int
lookup_arg(struct MHD_Connection *conn, const char *name, const char **v,
		   size_t *len)
{
	*v = NULL;
	*len = 0;
	if (MHD_lookup_connection_value_n(conn, MHD_GET_ARGUMENT_KIND, name,
									  strlen(name), v, len) != MHD_YES ||
		*v == NULL)
	{
		*v = NULL;
		return 0;
	}
	return 1;
}

/* The query-string checks, in the service's order; sets rc->fail_*. */
static void
check_query(struct MHD_Connection *conn, req_ctx *rc)
{
	const char *v,
			   *ident,
			   *sig;
	size_t		len,
				ident_len,
				sig_len;
	uint64_t	appid,
				rnd;
	usersig_status s;

	if (!lookup_arg(conn, "sdkappid", &v, &len) || len == 0)
	{
		rc->fail_code = 60012;
		rc->fail_info = "SDKAppID is missing in the request URL";
		return;
	}
	if (!parse_u64(v, len, &appid) || appid != fixed.sdkappid)
	{
		rc->fail_code = 70020;
		rc->fail_info = "SDKAppID not found";
		return;
	}
	if (!lookup_arg(conn, "identifier", &ident, &ident_len) || ident_len == 0)
	{
		rc->fail_code = 60004;
		rc->fail_info = "identifier is missing in the request URL";
		return;
	}
	if (!lookup_arg(conn, "usersig", &sig, &sig_len) || sig_len == 0)
	{
		rc->fail_code = 70002;
		rc->fail_info = "UserSig is empty";
		return;
	}
	s = verify_usersig(sig, sig_len, ident, ident_len, appid, (int64_t) time(NULL));
	switch (s)
	{
		case USERSIG_OK:
			break;
		case USERSIG_EMPTY:
			rc->fail_code = 70002;
			rc->fail_info = "UserSig is empty";
			return;
		case USERSIG_IDENTIFIER_MISMATCH:
			rc->fail_code = 70013;
			rc->fail_info = "identifier in the request URL does not match the UserSig";
			return;
		case USERSIG_SDKAPPID_MISMATCH:
			rc->fail_code = 70014;
			rc->fail_info = "SDKAppID in the request URL does not match the UserSig";
			return;
		case USERSIG_EXPIRED:
			rc->fail_code = 70001;
			rc->fail_info = "UserSig has expired";
			return;
		case USERSIG_BAD_SIGNATURE:
			rc->fail_code = 70009;
			rc->fail_info = "UserSig verification failed: the signature does not match the secret key";
			return;
		case USERSIG_NO_MEMORY:
			rc->fail_code = 70500;
			rc->fail_info = "Internal server error. Try again later.";
			return;
		default:				/* undecodable */
			rc->fail_code = 70003;
			rc->fail_info = "UserSig check failed: it cannot be decoded";
			return;
	}
	if (!lookup_arg(conn, "random", &v, &len) || !parse_u64(v, len, &rnd) ||
		rnd > UINT32_MAX)
	{
		rc->fail_code = 60002;
		rc->fail_info = "random must be an integer in 0..4294967295";
		return;
	}
	if (!lookup_arg(conn, "contenttype", &v, &len) || len != 4 ||
		memcmp(v, "json", 4) != 0)
	{
		rc->fail_code = 60002;
		rc->fail_info = "contenttype must be json";
		return;
	}
	if (ident_len != fixed.identifier_len ||
		memcmp(ident, fixed.identifier, ident_len) != 0)
	{
		rc->fail_code = 70403;
		rc->fail_info = error_info_for(70403);
		return;
	}
}

/*
 * The request is complete: decide the answer (checks, rate limit, fault,
 * delay), record it, then answer now or suspend until the delay is over.
 */
static enum MHD_Result
finish_api(struct MHD_Connection *conn, req_ctx *rc, int early)
{
	const char *ids[PROTOCOL_MAX_BATCH];
	size_t		lens[PROTOCOL_MAX_BATCH];
	size_t		n = 0;
	int32_t		code = rc->fail_code;
	const char *info = rc->fail_info;
	char		infobuf[128];
	fault		f = {.kind = FK_NONE};
	uint64_t	delay_ms = 0;
	uint64_t	aux = 0;
	uint64_t	extra_no = 0;
	char		code_key[24];
	protocol_buffer b = {0};
	enum MHD_Result ret;

	if (code == 0 && rc->too_big)
	{
		code = 60003;
		snprintf(infobuf, sizeof(infobuf),
				 "request body is larger than %zu bytes", fixed.max_body);
		info = infobuf;
	}
	if (code == 0)
	{
		size_t		bad = 0;

		switch (checkbody_parse(rc->body, rc->body_len, ids, lens, &n, &bad))
		{
			case CHECKBODY_OK:
				break;
			case CHECKBODY_NOT_JSON:
				code = 60003;
				info = "request body is not valid JSON";
				break;
			case CHECKBODY_NO_CHECKITEM:
				code = 70402;
				info = "CheckItem is missing";
				break;
			case CHECKBODY_NOT_ARRAY:
				code = 70402;
				info = "CheckItem is not an array";
				break;
			case CHECKBODY_EMPTY:
				code = 70402;
				info = "CheckItem is empty";
				break;
			case CHECKBODY_TOO_MANY:
				code = 70402;
				info = "CheckItem has more than 100 items";
				break;
			case CHECKBODY_BAD_ITEM:
				code = 70402;
				snprintf(infobuf, sizeof(infobuf),
						 "CheckItem[%zu] is not an object with a string UserID", bad);
				info = infobuf;
				break;
		}
		if (code != 0)
			n = 0;
	}

	/* rate limit, fault draw, delay: one critical section */
	pthread_mutex_lock(&g.lock);
	if (code == 0)
	{
		if (!window_admit(mono_ns()))
		{
			code = 60007;
			info = error_info_for(60007);
			n = 0;
		}
		else
		{
			double		u = rng_unit(&g.rng_fault);
			double		acc = 0.0;

			for (int i = 0; i < g.nfaults; i++)
			{
				acc += g.faults[i].prob;
				if (u < acc)
				{
					if (g.fault_budget != 0)
					{
						f = g.faults[i];
						if (g.fault_budget > 0)
							g.fault_budget--;
					}
					break;
				}
			}
		}
	}
	if (f.kind == FK_STALL)
		delay_ms = (uint64_t) g.stall_ms;
	else
	{
		int64_t		d = g.latency_ms;

		if (g.jitter_ms > 0)
			d += (int64_t) rng_below(&g.rng_aux, (uint64_t) (2 * g.jitter_ms + 1)) - g.jitter_ms;
		delay_ms = d > 0 ? (uint64_t) d : 0;
	}
	if (f.kind == FK_TRUNCATED || f.kind == FK_MISSING_ITEM)
		aux = rng_next(&g.rng_aux);
	if (f.kind == FK_EXTRA_ITEM)
		extra_no = ++g.extra_counter;
	pthread_mutex_unlock(&g.lock);

	/* build the answer */
	snprintf(code_key, sizeof(code_key), "%" PRId32, code);
	if (code != 0)
		set_fail(rc, code, info);
	else
	{
		size_t		skip = SIZE_MAX;
		char		extra[48];
		int			r = 0;

		switch (f.kind)
		{
			case FK_HTTP502:
				rc->action = ACT_RESPOND;
				rc->http_status = MHD_HTTP_BAD_GATEWAY;
				rc->resp_static = BAD_GATEWAY_BODY;
				rc->content_type = "text/html";
				snprintf(code_key, sizeof(code_key), "http502");
				break;
			case FK_CODE:
				set_fail(rc, f.code, error_info_for(f.code));
				snprintf(code_key, sizeof(code_key), "%" PRId32, f.code);
				break;
			case FK_RESET:
				rc->action = ACT_RESET;
				snprintf(code_key, sizeof(code_key), "reset");
				break;
			case FK_STALL:
				rc->action = ACT_CLOSE;
				snprintf(code_key, sizeof(code_key), "stall");
				break;
			case FK_MISSING_ITEM:
				skip = aux % n;
				/* FALLTHROUGH */
			case FK_NONE:
				r = build_ok(&b, ids, lens, n, skip, NULL);
				break;
			case FK_EXTRA_ITEM:
				snprintf(extra, sizeof(extra), "imsim-extra-%" PRIu64, extra_no);
				r = build_ok(&b, ids, lens, n, SIZE_MAX, extra);
				break;
			case FK_MALFORMED:
				r = build_ok(&b, ids, lens, n, SIZE_MAX, NULL);
				if (r == 0)
				{
					/* "ResultItem": -> "ResultItem"= : the rest is intact */
					char	   *p = strstr(b.data, "\"ResultItem\":");

					if (p != NULL)
						p[12] = '=';
				}
				snprintf(code_key, sizeof(code_key), "malformed");
				break;
			case FK_TRUNCATED:
				r = build_ok(&b, ids, lens, n, SIZE_MAX, NULL);
				/* any proper prefix of a JSON object is invalid JSON */
				if (r == 0)
					b.len = 1 + (size_t) (aux % (b.len - 1));
				snprintf(code_key, sizeof(code_key), "truncated");
				break;
		}
		if (r != 0)
		{
			protocol_buffer_free(&b);
			set_fail(rc, 70500, error_info_for(70500));
			snprintf(code_key, sizeof(code_key), "70500");
		}
		else if (b.data != NULL)
			set_answer(rc, MHD_HTTP_OK, &b);
	}
	stats_record(code_key, f.kind != FK_NONE ? f.name : NULL, ids, lens,
				 (code == 0 && f.kind == FK_NONE) ? n : 0);

	free(rc->body);
	rc->body = NULL;

	/* an early answer (body not read) is not delayed */
	if (delay_ms > 0 && !early)
	{
		if (timer_schedule(conn, rc, delay_ms * NS_PER_MS) != 0)
		{
			rc->state = RS_DONE;
			return MHD_NO;
		}
		return MHD_YES;
	}
	ret = deliver(conn, rc);
	return ret;
}

/* ------------------------------------------------------------------ */
/* control endpoints                                                   */
/* ------------------------------------------------------------------ */

static enum MHD_Result
control_reply(struct MHD_Connection *conn, req_ctx *rc, unsigned status,
			  protocol_buffer *b)
{
	set_answer(rc, status, b);
	return deliver(conn, rc);
}

static enum MHD_Result
control_error(struct MHD_Connection *conn, req_ctx *rc, unsigned status,
			  const char *msg)
{
	protocol_buffer b = {0};

	LIT(&b, "{\"error\":");
	protocol_buffer_append_json_string(&b, msg, strlen(msg));
	LIT(&b, "}");
	if (b.data == NULL)
		return MHD_NO;
	return control_reply(conn, rc, status, &b);
}

static enum MHD_Result
finish_control(struct MHD_Connection *conn, req_ctx *rc)
{
	protocol_buffer b = {0};
	char		err[160];

	if (rc->too_big)
		return control_error(conn, rc, MHD_HTTP_CONTENT_TOO_LARGE, "body too large");
	switch (rc->ep)
	{
		case EP_CONFIG:
			if (rc->is_post)
			{
				if (config_apply(rc->body ? rc->body : "", rc->body_len, err,
								 sizeof(err)) != 0)
					return control_error(conn, rc, MHD_HTTP_BAD_REQUEST, err);
			}
			else if (!rc->is_get)
				return control_error(conn, rc, MHD_HTTP_METHOD_NOT_ALLOWED,
									 "use GET or POST");
			config_json(&b);
			break;
		case EP_STATS:
			if (!rc->is_get)
				return control_error(conn, rc, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
			stats_json(&b);
			break;
		case EP_STATS_RESET:
			if (!rc->is_post)
				return control_error(conn, rc, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST");
			stats_reset();
			stats_json(&b);
			break;
		default:
			{
				protocol_buffer nb = {0};

				build_fail(&nb, 60002, "unknown path");
				if (nb.data == NULL)
					return MHD_NO;
				return control_reply(conn, rc, MHD_HTTP_NOT_FOUND, &nb);
			}
	}
	if (b.data == NULL)
		return MHD_NO;
	return control_reply(conn, rc, MHD_HTTP_OK, &b);
}

/* ------------------------------------------------------------------ */
/* MHD callbacks                                                       */
/* ------------------------------------------------------------------ */

static endpoint
classify(const char *url)
{
	if (strcmp(url, API_PATH) == 0)
		return EP_API;
	if (strcmp(url, "/_imsim/config") == 0)
		return EP_CONFIG;
	if (strcmp(url, "/_imsim/stats") == 0)
		return EP_STATS;
	if (strcmp(url, "/_imsim/stats/reset") == 0)
		return EP_STATS_RESET;
	return EP_NOT_FOUND;
}

static enum MHD_Result
access_handler(void *cls, struct MHD_Connection *conn, const char *url,
			   const char *method, const char *version,
			   const char *upload_data, size_t *upload_data_size,
			   void **con_cls)
{
	req_ctx    *rc = *con_cls;

	(void) cls;
	(void) version;

	if (rc == NULL)
	{
		const char *cl;

		rc = calloc(1, sizeof(req_ctx));
		if (rc == NULL)
			return MHD_NO;
		*con_cls = rc;
		rc->ep = classify(url);
		rc->is_post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
		rc->is_get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;
		rc->body_limit = rc->ep == EP_API ? fixed.max_body : CONTROL_MAX_BODY;
		if (rc->ep != EP_API)
			return MHD_YES;

		stats_call_begin(rc);
		if (!rc->is_post)
		{
			rc->fail_code = 60002;
			rc->fail_info = "HTTP method must be POST";
		}
		else
			check_query(conn, rc);

		/* a declared body over the limit is answered at once */
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
										 MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl != NULL)
		{
			uint64_t	clen;

			if (parse_u64(cl, strlen(cl), &clen) && clen > fixed.max_body)
			{
				rc->too_big = 1;
				return finish_api(conn, rc, 1);
			}
		}
		return MHD_YES;
	}

	if (rc->state == RS_SUSPENDED)
	{
		/* resumed by the timer (or by shutdown) */
		pthread_mutex_lock(&timer.lock);
		timer.suspended--;
		pthread_mutex_unlock(&timer.lock);
		*upload_data_size = 0;
		return deliver(conn, rc);
	}
	if (rc->state == RS_DONE)
	{
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size != 0)
	{
		/* after a query failure the body is read but not kept */
		if (rc->ep == EP_API && rc->fail_code != 0)
			;
		else if (body_append(rc, upload_data, *upload_data_size) != 0)
			return MHD_NO;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (rc->ep == EP_API)
		return finish_api(conn, rc, 0);
	return finish_control(conn, rc);
}

static void
request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
				  enum MHD_RequestTerminationCode toe)
{
	req_ctx    *rc = *con_cls;

	(void) cls;
	(void) conn;
	(void) toe;
	if (rc == NULL)
		return;
	stats_call_end(rc);
	req_free(rc);
	*con_cls = NULL;
}

static void
connection_notify(void *cls, struct MHD_Connection *conn, void **socket_ctx,
				  enum MHD_ConnectionNotificationCode toe)
{
	(void) cls;
	(void) conn;
	(void) socket_ctx;
	pthread_mutex_lock(&st.lock);
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
	{
		st.connections++;
		st.connections_open++;
	}
	else if (st.connections_open > 0)
		st.connections_open--;
	pthread_mutex_unlock(&st.lock);
}

static void
mhd_logger(void *cls, const char *fm, va_list ap)
{
	(void) cls;
	if (fixed.verbose)
	{
		fputs("imsim: mhd: ", stderr);
		vfprintf(stderr, fm, ap);
	}
}

/* ------------------------------------------------------------------ */
/* main                                                                */
/* ------------------------------------------------------------------ */

static char *
read_file(const char *path)
{
	FILE	   *f = fopen(path, "rb");
	char	   *buf = NULL;
	size_t		len = 0,
				cap = 0,
				n;

	if (f == NULL)
		die("cannot open \"%s\": %s", path, strerror(errno));
	do
	{
		if (cap - len < 4096)
		{
			cap = cap ? cap * 2 : 8192;
			buf = realloc(buf, cap);
			if (buf == NULL)
				die("out of memory");
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
	} while (n > 0);
	if (ferror(f))
		die("cannot read \"%s\"", path);
	fclose(f);
	buf[len] = '\0';
	return buf;
}

static void
usage(FILE *out)
{
	fputs(
		  "usage: imsim [options]\n"
		  "A simulator of the Tencent Cloud Chat REST API\n"
		  "POST /v4/im_open_login_svc/account_check (see README.md).\n"
		  "\n"
		  "  --port N             port on 127.0.0.1 (0 = any free port; default 0)\n"
		  "  --sdkappid ID        the app's SDKAppID (default 1400000000)\n"
		  "  --identifier ADMIN   the App admin account (default administrator)\n"
		  "  --secret-key KEY     key UserSigs are checked with (default: the public\n"
		  "                       TLSSigAPIv2 test key 5bd2850f...bb93b5e)\n"
		  "  --imported-file F    UserIDs that are Imported, one per line\n"
		  "  --rule even|none     built-in rule (default even; none with --imported-file)\n"
		  "  --rate-limit N       accepted calls per sliding second (default 100, 0 = off)\n"
		  "  --latency-ms N       delay of every API answer (default 0)\n"
		  "  --jitter-ms N        uniform +-jitter added to the latency (default 0)\n"
		  "  --fault KIND=P       inject a fault with probability P (repeatable); KIND is\n"
		  "                       http502, codeN, reset, stall, malformed, truncated,\n"
		  "                       missing_item or extra_item\n"
		  "  --fault-budget N     fault at most N calls (-1 = unlimited, default)\n"
		  "  --seed N             seed of the fault/jitter generators (default 1)\n"
		  "  --stall-ms N         how long a stall holds the call (default 60000)\n"
		  "  --max-body BYTES     largest request body (default 1048576)\n"
		  "  --threads N          HTTP worker threads (default 2)\n"
		  "  --conn-timeout S     idle connection timeout, seconds (default 30)\n"
		  "  --tls-cert FILE      serve HTTPS with this PEM certificate...\n"
		  "  --tls-key FILE       ...and this PEM private key\n"
		  "  --print-usersig      print a UserSig for --identifier made with --secret-key\n"
		  "                       and --sdkappid (time now, --usersig-expire), then exit\n"
		  "  --usersig-expire S   lifetime for --print-usersig (default 86400)\n"
		  "  --no-id-stats        don't keep the set of UserIDs seen (distinct_ids and\n"
		  "                       repeated_ids are null); for throughput runs\n"
		  "  --verbose            log libmicrohttpd's messages to stderr\n"
		  "  --help               this text\n", out);
}

enum
{
	OPT_PORT = 1000, OPT_SDKAPPID, OPT_IDENTIFIER, OPT_SECRET_KEY,
	OPT_IMPORTED, OPT_RULE, OPT_RATE, OPT_LATENCY, OPT_JITTER, OPT_FAULT,
	OPT_BUDGET, OPT_SEED, OPT_STALL, OPT_MAX_BODY, OPT_THREADS,
	OPT_CONN_TIMEOUT, OPT_TLS_CERT, OPT_TLS_KEY, OPT_PRINT_USERSIG,
	OPT_USERSIG_EXPIRE, OPT_VERBOSE, OPT_NO_ID_STATS, OPT_HELP
};

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"port", required_argument, NULL, OPT_PORT},
		{"sdkappid", required_argument, NULL, OPT_SDKAPPID},
		{"identifier", required_argument, NULL, OPT_IDENTIFIER},
		{"secret-key", required_argument, NULL, OPT_SECRET_KEY},
		{"imported-file", required_argument, NULL, OPT_IMPORTED},
		{"rule", required_argument, NULL, OPT_RULE},
		{"rate-limit", required_argument, NULL, OPT_RATE},
		{"latency-ms", required_argument, NULL, OPT_LATENCY},
		{"jitter-ms", required_argument, NULL, OPT_JITTER},
		{"fault", required_argument, NULL, OPT_FAULT},
		{"fault-budget", required_argument, NULL, OPT_BUDGET},
		{"seed", required_argument, NULL, OPT_SEED},
		{"stall-ms", required_argument, NULL, OPT_STALL},
		{"max-body", required_argument, NULL, OPT_MAX_BODY},
		{"threads", required_argument, NULL, OPT_THREADS},
		{"conn-timeout", required_argument, NULL, OPT_CONN_TIMEOUT},
		{"tls-cert", required_argument, NULL, OPT_TLS_CERT},
		{"tls-key", required_argument, NULL, OPT_TLS_KEY},
		{"print-usersig", no_argument, NULL, OPT_PRINT_USERSIG},
		{"usersig-expire", required_argument, NULL, OPT_USERSIG_EXPIRE},
		{"verbose", no_argument, NULL, OPT_VERBOSE},
		{"no-id-stats", no_argument, NULL, OPT_NO_ID_STATS},
		{"help", no_argument, NULL, OPT_HELP},
		{NULL, 0, NULL, 0}
	};
	int64_t		port = 0,
				threads = 2,
				conn_timeout = 30,
				usersig_expire = 86400,
				v;
	const char *imported_file = NULL,
			   *rule = NULL,
			   *tls_cert_path = NULL,
			   *tls_key_path = NULL;
	char	   *tls_cert = NULL,
			   *tls_key = NULL;
	int			print_usersig = 0;
	int			opt;
	struct MHD_Daemon *d;
	struct MHD_OptionItem mops[16];
	int			nmops = 0;
	unsigned int flags;
	struct sockaddr_in sa;
	const union MHD_DaemonInfo *di;
	sigset_t	sigs;
	int			sig;

	fixed.sdkappid = DEFAULT_SDKAPPID;
	fixed.identifier = strdup(DEFAULT_IDENTIFIER);
	fixed.key = strdup(DEFAULT_SECRET_KEY);
	fixed.max_body = 1024 * 1024;
	g.fault_budget = -1;
	g.rate_limit = 100;
	g.stall_ms = 60000;
	reseed(1);

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1)
	{
		switch (opt)
		{
			case OPT_PORT:
				if (!parse_i64_arg(optarg, 0, 65535, &port))
					die("--port must be in 0..65535");
				break;
			case OPT_SDKAPPID:
				if (!parse_u64(optarg, strlen(optarg), &fixed.sdkappid))
					die("--sdkappid must be decimal digits");
				break;
			case OPT_IDENTIFIER:
				if (optarg[0] == '\0' || strlen(optarg) > USERSIG_MAX_IDENTIFIER)
					die("--identifier must be 1..%d bytes", USERSIG_MAX_IDENTIFIER);
				free(fixed.identifier);
				fixed.identifier = strdup(optarg);
				break;
			case OPT_SECRET_KEY:
				if (optarg[0] == '\0')
					die("--secret-key must not be empty");
				free(fixed.key);
				fixed.key = strdup(optarg);
				break;
			case OPT_IMPORTED:
				imported_file = optarg;
				break;
			case OPT_RULE:
				if (strcmp(optarg, "even") != 0 && strcmp(optarg, "none") != 0)
					die("--rule must be even or none");
				rule = optarg;
				break;
			case OPT_RATE:
				if (!parse_i64_arg(optarg, 0, 100000000, &g.rate_limit))
					die("--rate-limit must be in 0..100000000");
				break;
			case OPT_LATENCY:
				if (!parse_i64_arg(optarg, 0, 3600000, &g.latency_ms))
					die("--latency-ms must be in 0..3600000");
				break;
			case OPT_JITTER:
				if (!parse_i64_arg(optarg, 0, 3600000, &g.jitter_ms))
					die("--jitter-ms must be in 0..3600000");
				break;
			case OPT_FAULT:
				{
					char	   *eq = strchr(optarg, '=');
					char	   *end;
					fault		f;
					double		p;

					if (eq == NULL)
						die("--fault wants KIND=PROBABILITY");
					*eq = '\0';
					if (fault_parse_name(optarg, &f) != 0)
						die("unknown fault kind \"%s\"", optarg);
					errno = 0;
					p = strtod(eq + 1, &end);
					if (errno != 0 || end == eq + 1 || *end != '\0' ||
						!(p >= 0.0 && p <= 1.0))
						die("fault probability must be a number in 0..1");
					f.prob = p;
					if (fault_set(g.faults, &g.nfaults, &f) != 0)
						die("too many --fault kinds");
					break;
				}
			case OPT_BUDGET:
				if (!parse_i64_arg(optarg, -1, INT64_MAX, &g.fault_budget))
					die("--fault-budget must be an integer >= -1");
				break;
			case OPT_SEED:
				if (!parse_i64_arg(optarg, 0, INT64_MAX, &v))
					die("--seed must be a non-negative integer");
				reseed((uint64_t) v);
				break;
			case OPT_STALL:
				if (!parse_i64_arg(optarg, 0, 3600000, &g.stall_ms))
					die("--stall-ms must be in 0..3600000");
				break;
			case OPT_MAX_BODY:
				if (!parse_i64_arg(optarg, 1, INT_MAX - 1, &v))
					die("--max-body must be in 1..%d", INT_MAX - 1);
				fixed.max_body = (size_t) v;
				break;
			case OPT_THREADS:
				if (!parse_i64_arg(optarg, 1, 256, &threads))
					die("--threads must be in 1..256");
				break;
			case OPT_CONN_TIMEOUT:
				if (!parse_i64_arg(optarg, 1, 86400, &conn_timeout))
					die("--conn-timeout must be in 1..86400");
				break;
			case OPT_TLS_CERT:
				tls_cert_path = optarg;
				break;
			case OPT_TLS_KEY:
				tls_key_path = optarg;
				break;
			case OPT_PRINT_USERSIG:
				print_usersig = 1;
				break;
			case OPT_USERSIG_EXPIRE:
				if (!parse_i64_arg(optarg, 0, INT32_MAX, &usersig_expire))
					die("--usersig-expire must be in 0..%d", INT32_MAX);
				break;
			case OPT_NO_ID_STATS:
				fixed.no_id_stats = 1;
				break;
			case OPT_VERBOSE:
				fixed.verbose = 1;
				break;
			case OPT_HELP:
			case 'h':
				usage(stdout);
				return 0;
			default:
				usage(stderr);
				return 2;
		}
	}
	if (optind < argc)
		die("unexpected argument \"%s\" (see --help)", argv[optind]);
	fixed.identifier_len = strlen(fixed.identifier);
	fixed.key_len = strlen(fixed.key);

	if (print_usersig)
	{
		char	   *sig = NULL;
		usersig_status s = usersig_generate(fixed.key, fixed.key_len,
											fixed.identifier, fixed.sdkappid,
											(int64_t) time(NULL),
											usersig_expire, &sig);

		if (s != USERSIG_OK)
			die("cannot generate a UserSig: %s", usersig_status_text(s));
		printf("%s\n", sig);
		free(sig);
		free(fixed.identifier);
		free(fixed.key);
		return 0;
	}

	if ((tls_cert_path == NULL) != (tls_key_path == NULL))
		die("--tls-cert and --tls-key go together");
	if (imported_file)
		load_imported_file(imported_file);
	fixed.rule_even = rule ? strcmp(rule, "even") == 0 : imported_file == NULL;
	if (tls_cert_path)
	{
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
			die("this libmicrohttpd has no TLS support");
		tls_cert = read_file(tls_cert_path);
		tls_key = read_file(tls_key_path);
	}

	/* many connections: raise the descriptor limit to the hard limit */
	{
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
		{
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}

	/* signals: SIGPIPE ignored; SIGTERM/SIGINT taken by sigwait in main */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&timer.cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	if (pthread_create(&timer.thread, NULL, timer_main, NULL) != 0)
		die("cannot start the timer thread");

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t) port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
		MHD_USE_ERROR_LOG;
	if (tls_cert)
		flags |= MHD_USE_TLS;
	mops[nmops++] = (struct MHD_OptionItem) {MHD_OPTION_SOCK_ADDR, 0, &sa};
	mops[nmops++] = (struct MHD_OptionItem) {MHD_OPTION_CONNECTION_LIMIT, 4096, NULL};
	mops[nmops++] = (struct MHD_OptionItem) {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t) conn_timeout, NULL};
	mops[nmops++] = (struct MHD_OptionItem) {MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, NULL};
	mops[nmops++] = (struct MHD_OptionItem) {MHD_OPTION_CONNECTION_MEMORY_LIMIT, 16 * 1024, NULL};
	mops[nmops++] = (struct MHD_OptionItem) {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t) request_completed, NULL};
	mops[nmops++] = (struct MHD_OptionItem) {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t) connection_notify, NULL};
	mops[nmops++] = (struct MHD_OptionItem) {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t) mhd_logger, NULL};
	if (threads > 1)
		mops[nmops++] = (struct MHD_OptionItem) {MHD_OPTION_THREAD_POOL_SIZE, (intptr_t) threads, NULL};
	if (tls_cert)
	{
		mops[nmops++] = (struct MHD_OptionItem) {MHD_OPTION_HTTPS_MEM_CERT, 0, tls_cert};
		mops[nmops++] = (struct MHD_OptionItem) {MHD_OPTION_HTTPS_MEM_KEY, 0, tls_key};
	}
	mops[nmops++] = (struct MHD_OptionItem) {MHD_OPTION_END, 0, NULL};

	d = MHD_start_daemon(flags, (uint16_t) port, NULL, NULL, access_handler, NULL,
						 MHD_OPTION_ARRAY, mops, MHD_OPTION_END);
	if (d == NULL)
		die("cannot start the HTTP server on 127.0.0.1:%d (port in use? bad TLS files?)",
			(int) port);
	di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	printf("imsim listening on %s://127.0.0.1:%u\n", tls_cert ? "https" : "http",
		   di ? (unsigned) di->port : (unsigned) port);
	fflush(stdout);

	for (;;)
	{
		if (sigwait(&sigs, &sig) == 0 && (sig == SIGTERM || sig == SIGINT))
			break;
	}

	/* stop: resume every suspended connection (dropping it), then MHD */
	pthread_mutex_lock(&timer.lock);
	timer.shutting_down = 1;
	pthread_cond_signal(&timer.cond);
	pthread_mutex_unlock(&timer.lock);
	pthread_join(timer.thread, NULL);
	for (int i = 0; i < 200; i++)
	{
		size_t		left;

		pthread_mutex_lock(&timer.lock);
		left = timer.suspended;
		pthread_mutex_unlock(&timer.lock);
		if (left == 0)
			break;
		usleep(10000);
	}
	MHD_stop_daemon(d);

	idset_clear(&fixed.imported);
	idset_clear(&st.ids);
	free(g.win);
	free(timer.heap);
	free(tls_cert);
	free(tls_key);
	free(fixed.identifier);
	free(fixed.key);
	pthread_cond_destroy(&timer.cond);
	return 0;
}
