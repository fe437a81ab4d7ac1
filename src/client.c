/*
 * client.c - the engine that calls account_check.
 *
 * The distinct UserIDs are split into batches of imcheck.batch_size.  Up to
 * imcheck.max_concurrency calls are in flight at once, paced by the rate
 * limiter, retried with exponential backoff and jitter when they fail
 * transiently.
 *
 * Each call slot owns one keep-alive connection.  libcurl makes it (DNS,
 * TCP, TLS and its certificate checks; CURLOPT_CONNECT_ONLY on a multi
 * handle of the slot's own, so connecting never blocks) and carries its
 * bytes (curl_easy_send/recv); http1.c frames the requests and responses.
 * Connections live as long as the backend, so they are reused across calls
 * and statements.  A reused connection that the server had closed is
 * replaced, and its call sent again, without counting a failure.
 *
 * Waiting: the connections' sockets stay registered in one epoll set for
 * the backend's life (a poll() of every socket per wait cost more than the
 * wait itself at tens of thousands of calls per second).  epoll_wait()
 * returns at once when a signal arrives, and never sleeps more than
 * POLL_CAP_MS, so CHECK_FOR_INTERRUPTS()
 * runs promptly and cancel and statement_timeout act with PostgreSQL's own
 * errors.  Whatever happens (ERROR, cancel, statement_timeout) the
 * PG_FINALLY block closes the connection of every call in flight, so no
 * half-read answer is left for the next statement.
 */
#include "postgres.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>

#include "common/pg_prng.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/wait_event.h"

#include "client.h"
#include "http1.h"
#include "protocol.h"
#include "ratelimit.h"
#include "stats.h"

/* never sleep longer than this without checking for interrupts */
#define POLL_CAP_MS 20

/* while a connection is being made, look at it this often */
#define CONNECT_POLL_MS 1

/* the largest answer body we accept; a 100-ID answer is a few kilobytes */
#define MAX_REPLY_BYTES (1024 * 1024)

/*
 * The most bytes read for one answer: the body, its head, and chunked
 * framing (whose overhead the body cap doesn't count) up to as much again.
 */
#define MAX_RAW_REPLY_BYTES (2 * MAX_REPLY_BYTES + HTTP1_MAX_HEAD_BYTES)

/* read into at least this much free space */
#define RECV_SPACE 16384

/* the most slots the engine can hold: imcheck.max_concurrency's maximum */
#define MAX_SLOTS 256

/* idle connections kept beyond the statement's max_concurrency */
#define SPARE_CONNECTIONS 4

/* a connection idle this long is checked before a call goes on it */
#define IDLE_CHECK_US (100 * 1000)

#define BACKOFF_BASE_MS 100
#define BACKOFF_RATE_LIMITED_MS 1000
#define BACKOFF_CAP_MS 10000

const char *const imcheck_retry_reason_names[IMCHECK_RETRY_REASONS] = {
	"api_transient",
	"api_rate_limited",
	"usersig_renewed",
	"http_status",
	"connection",
	"timeout",
	"bad_response"
};

typedef enum call_phase
{
	PHASE_IDLE,					/* no call */
	PHASE_CONNECTING,			/* libcurl is making the connection */
	PHASE_SENDING,
	PHASE_RECEIVING
} call_phase;

/* A call slot: one connection, and the call in flight on it. */
typedef struct call_slot
{
	/* the connection (multi and easy are NULL when there is none) */
	CURLM	   *multi;
	CURL	   *easy;
	curl_socket_t fd;			/* once connected */
	bool		connected;
	uint32		watched;		/* the epoll events fd is registered for; 0 =
								 * not registered */
	uint32		answered;		/* answers read from this connection */
	int64_t		idle_since_us;	/* when its last call ended */

	/* the call */
	call_phase	phase;
	uint32		batch;
	int			attempt;		/* 0 for the first try */
	bool		on_reused;		/* sent on a connection that answered before */
	int			usersig_generation;
	int64_t		deadline_us;
	int64_t		sent_us;		/* when its first byte went out (0: not yet) */
	ratelimit_ticket ticket;
	long		connects;		/* connections opened for it */
	protocol_buffer body;
	protocol_buffer request;
	size_t		request_sent;
	protocol_buffer reply;
	protocol_buffer decoded;	/* a chunked answer's body */
	char		errbuf[CURL_ERROR_SIZE];
	uint32		n_ids;
	const char *ids[PROTOCOL_MAX_BATCH];
	size_t		id_lens[PROTOCOL_MAX_BATCH];
} call_slot;

/* The backend's persistent state. */
static struct
{
	bool		curl_ready;
	call_slot  *slots;			/* MAX_SLOTS, malloc'd on first use */
	int			epoll_fd;		/* every connected slot's socket; -1 before
								 * first use */
	struct epoll_event *events; /* MAX_SLOTS, for epoll_wait */
} engine = {.epoll_fd = -1};

/* A batch waiting to be sent (again). */
typedef struct pending_retry
{
	uint32		batch;
	int			attempt;
	bool		fresh_connection;	/* the last try's reused connection died */
	int64_t		not_before_us;
} pending_retry;

/* The state of one run of imcheck_run_job. */
typedef struct run_state
{
	imcheck_config *cfg;
	imcheck_job *job;
	char	   *connect_url;	/* scheme://authority/ */
	char	   *host;			/* authority, for the Host field */
	size_t		target_offset;	/* where the request target starts in url_prefix */
	uint32		n_batches;
	uint32		next_fresh;		/* next batch never tried */
	uint32		batches_done;
	int			in_flight;
	int			connecting;		/* calls waiting for a connection */
	pending_retry *retries;		/* fresh batches go on while earlier ones wait
								 * out their backoff, so any number of them
								 * (one per batch at most) may wait: grows */
	int			n_retries;
	int			retries_cap;
	int			usersig_generation;
	int			usersig_renewals;
} run_state;

/* How a finished call turned out. */
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
	imcheck_retry_reason reason;
	int32		code;			/* API ErrorCode, or an IMCHECK_CODE / -HTTP status */
	char	   *info;			/* palloc'd text for result_info / errdetail */
	bool		from_api;		/* code is the API's ErrorCode */
} call_outcome;

/* What a call's exchange on the connection gave. */
typedef struct transfer
{
	bool		answered;		/* an HTTP response: status and body */
	int			status;
	const char *body;
	size_t		body_len;
	call_outcome failure;		/* when not answered */
} transfer;

#define monotonic_us() ratelimit_monotonic_us()

static void
curl_failure(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_OUT_OF_MEMORY),
			 errmsg("could not initialize libcurl"),
			 errdetail("%s failed.", what)));
}

static void
out_of_memory(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_OUT_OF_MEMORY),
			 errmsg("out of memory")));
}

static void
ensure_engine(void)
{
	if (!engine.curl_ready)
	{
		if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
			curl_failure("curl_global_init");
		engine.curl_ready = true;
	}
	if (engine.slots == NULL)
	{
		call_slot  *slots = calloc(MAX_SLOTS, sizeof(call_slot));
		struct epoll_event *events = calloc(MAX_SLOTS, sizeof(struct epoll_event));

		if (slots == NULL || events == NULL)
		{
			free(slots);
			free(events);
			curl_failure("allocating call slots");
		}
		for (int i = 0; i < MAX_SLOTS; i++)
			slots[i].fd = CURL_SOCKET_BAD;
		engine.slots = slots;
		engine.events = events;
	}
	if (engine.epoll_fd < 0)
	{
		engine.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
		if (engine.epoll_fd < 0)
			ereport(ERROR,
					(errcode_for_socket_access(),
					 errmsg("could not create an epoll set: %m")));
	}
}

/* Makes the slot's socket wake the engine for events (EPOLLIN or EPOLLOUT). */
static void
watch_connection(call_slot *slot, uint32 events)
{
	struct epoll_event ev;

	if (slot->watched == events)
		return;
	ev.events = events;
	ev.data.ptr = slot;
	if (epoll_ctl(engine.epoll_fd, slot->watched ? EPOLL_CTL_MOD : EPOLL_CTL_ADD,
				  slot->fd, &ev) != 0)
		ereport(ERROR,
				(errcode_for_socket_access(),
				 errmsg("could not wait on a connection: %m")));
	slot->watched = events;
}

/* Closes the slot's connection, if any.  Never raises. */
static void
close_connection(call_slot *slot)
{
	/* before libcurl closes the socket, whose number may be reused at once */
	if (slot->watched)
	{
		(void) epoll_ctl(engine.epoll_fd, EPOLL_CTL_DEL, slot->fd, NULL);
		slot->watched = 0;
	}
	if (slot->easy != NULL)
	{
		curl_multi_remove_handle(slot->multi, slot->easy);
		curl_easy_cleanup(slot->easy);
	}
	if (slot->multi != NULL)
		curl_multi_cleanup(slot->multi);	/* closes what it still holds */
	slot->easy = NULL;
	slot->multi = NULL;
	slot->connected = false;
	slot->fd = CURL_SOCKET_BAD;
	slot->answered = 0;
}

/* Ends every call in flight; their connections are closed.  Never raises. */
static void
abandon_in_flight(void)
{
	if (engine.slots == NULL)
		return;
	for (int i = 0; i < MAX_SLOTS; i++)
	{
		call_slot  *slot = &engine.slots[i];

		if (slot->phase != PHASE_IDLE)
		{
			close_connection(slot);
			slot->phase = PHASE_IDLE;
		}
	}
}

void
imcheck_client_reset(void)
{
	if (engine.slots == NULL)
		return;
	for (int i = 0; i < MAX_SLOTS; i++)
	{
		call_slot  *slot = &engine.slots[i];

		close_connection(slot);
		slot->phase = PHASE_IDLE;
		protocol_buffer_free(&slot->body);
		protocol_buffer_free(&slot->request);
		protocol_buffer_free(&slot->reply);
		protocol_buffer_free(&slot->decoded);
	}
}

/*
 * Splits url_prefix (scheme://authority/path?query) into the URL libcurl
 * connects to, the Host field and where the request target begins.  The
 * endpoint was checked when it was set (settings.c).
 */
static void
split_url(run_state *rs)
{
	const char *url = rs->cfg->url_prefix;
	const char *authority = strstr(url, "://");
	const char *path;

	if (authority == NULL)
		elog(ERROR, "imcheck: request URL without a scheme");
	authority += 3;
	path = strchr(authority, '/');
	if (path == NULL || path == authority)
		elog(ERROR, "imcheck: request URL without a host or path");
	for (const char *p = path; *p; p++)
		if ((unsigned char) *p <= ' ' || (unsigned char) *p >= 0x7f)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"imcheck.endpoint\" has characters that must be percent-encoded")));
	rs->connect_url = psprintf("%.*s/", (int) (path - url), url);
	rs->host = pnstrdup(authority, path - authority);
	rs->target_offset = (size_t) (path - url);
}

/* Starts making the slot's connection. */
static void
open_connection(run_state *rs, call_slot *slot)
{
	const imcheck_config *cfg = rs->cfg;
	CURL	   *e;

	close_connection(slot);
	slot->multi = curl_multi_init();
	if (slot->multi == NULL)
		curl_failure("curl_multi_init");
	slot->easy = e = curl_easy_init();
	if (e == NULL)
		curl_failure("curl_easy_init");

	curl_easy_setopt(e, CURLOPT_URL, rs->connect_url);
	curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	/* with a CA file, trust only it, not also the system's CA directory */
	if (cfg->ca_file)
	{
		curl_easy_setopt(e, CURLOPT_CAINFO, cfg->ca_file);
		curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
	}
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long) cfg->timeout_ms);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, slot->errbuf);
	/* proxies from the server's environment must not see the UserSig */
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	slot->errbuf[0] = '\0';

	if (curl_multi_add_handle(slot->multi, e) != CURLM_OK)
		curl_failure("curl_multi_add_handle");
	slot->phase = PHASE_CONNECTING;
	slot->connects++;
	rs->connecting++;
}

static call_slot *
free_slot(int max_concurrency)
{
	/* prefer a slot with a connection: it saves a connect */
	call_slot  *unconnected = NULL;

	for (int i = 0; i < max_concurrency; i++)
	{
		call_slot  *slot = &engine.slots[i];

		if (slot->phase != PHASE_IDLE)
			continue;
		if (slot->connected)
			return slot;
		if (unconnected == NULL)
			unconnected = slot;
	}
	return unconnected;
}

static void start_sending(run_state *rs, call_slot *slot);

/*
 * Whether an idle keep-alive connection can carry a call: the server has
 * neither closed it nor sent anything on it (on TLS, a close_notify).  This
 * saves sending a call into a connection the server closed after its idle
 * timeout; the race of a close just as the call goes out remains, and
 * connection_lost() handles it.
 */
static bool
idle_connection_usable(call_slot *slot)
{
	char		byte;
	ssize_t		n = recv(slot->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);

	return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

static void
start_call(run_state *rs, call_slot *slot, uint32 batch, int attempt,
		   bool fresh_connection, ratelimit_ticket ticket, int64_t now)
{
	imcheck_job *job = rs->job;
	uint32		first = batch * (uint32) rs->cfg->batch_size;
	uint32		count = Min((uint32) rs->cfg->batch_size, job->n - first);
	const char *target = rs->cfg->url_prefix + rs->target_offset;
	char		random_text[16];
	int			random_len;

	for (uint32 i = 0; i < count; i++)
	{
		const char *element = job->array_data + job->offsets[first + i];

		slot->ids[i] = VARDATA_ANY(element);
		slot->id_lens[i] = VARSIZE_ANY_EXHDR(element);
	}
	slot->n_ids = count;

	protocol_buffer_reset(&slot->body);
	if (protocol_build_request(slot->ids, slot->id_lens, count, &slot->body) != 0)
		out_of_memory();

	/* a fresh 32-bit random per call, as the API asks */
	random_len = snprintf(random_text, sizeof(random_text), "%u",
						  pg_prng_uint32(&pg_global_prng_state));
	protocol_buffer_reset(&slot->request);
	if (http1_append_post_head(&slot->request, target, strlen(target),
							   random_text, (size_t) random_len, rs->host,
							   slot->body.len) != 0)
		out_of_memory();
	if (protocol_buffer_append(&slot->request, slot->body.data, slot->body.len) != 0)
		out_of_memory();

	slot->batch = batch;
	slot->attempt = attempt;
	slot->usersig_generation = rs->usersig_generation;
	slot->deadline_us = now + (int64_t) rs->cfg->timeout_ms * 1000;
	slot->sent_us = 0;
	slot->ticket = ticket;
	slot->connects = 0;
	slot->request_sent = 0;
	protocol_buffer_reset(&slot->reply);
	rs->in_flight++;
	job->calls++;
	imcheck_stats_call_started();

	if (!fresh_connection && slot->connected &&
		now - slot->idle_since_us > IDLE_CHECK_US && !idle_connection_usable(slot))
		fresh_connection = true;
	if (fresh_connection || !slot->connected)
		open_connection(rs, slot);
	else
		start_sending(rs, slot);
}

/*
 * Text from the network, made safe to store as text in this database and to
 * show to whoever may read it (no credential echoed back; see imcheck_redact).
 */
static char *
server_text(const imcheck_config *cfg, const char *s, size_t len)
{
	char	   *copy;
	char	   *safe;

	if (len == 0)
		return NULL;
	len = strnlen(s, len);
	if (!pg_verify_mbstr(GetDatabaseEncoding(), s, (int) len, true))
		return pstrdup("(text from the API is not valid in the database encoding)");
	copy = pnstrdup(s, len);
	safe = imcheck_redact(cfg, copy);
	pfree(copy);
	return safe;
}

/* result_info is allocated only once some ID has a non-empty text */
static void
ensure_result_info(imcheck_job *job)
{
	if (job->result_info == NULL)
		job->result_info = palloc0(sizeof(char *) * job->n);
}

/* result_code likewise, once some ID has a code other than 0 */
static void
set_result_code(imcheck_job *job, uint32 d, int32 code)
{
	if (code == 0 && job->result_code == NULL)
		return;
	if (job->result_code == NULL)
		job->result_code = palloc0(sizeof(int32) * job->n);
	job->result_code[d] = code;
}

static void
store_results(run_state *rs, call_slot *slot, const protocol_response *resp)
{
	imcheck_job *job = rs->job;
	uint32		first = slot->batch * (uint32) rs->cfg->batch_size;

	for (uint32 i = 0; i < slot->n_ids; i++)
	{
		const protocol_item_result *item = &resp->items[i];
		uint32		d = first + i;

		set_result_code(job, d, item->result_code);
		job->status[d] = (uint8) (item->result_code == 0 ? item->status
								  : PROTOCOL_STATUS_NONE);
		if (item->result_info_len > 0)
		{
			ensure_result_info(job);
			job->result_info[d] = server_text(rs->cfg, item->result_info,
											  item->result_info_len);
		}
	}
}

static bool
code_in(int32 code, const int32 *codes, int n)
{
	for (int i = 0; i < n; i++)
		if (codes[i] == code)
			return true;
	return false;
}

static const int32 transient_codes[] = {70169, 70202, 70500, 60008, 60014};
static const int32 rate_limited_codes[] = {60007, 60011, 60018, 60019};

/* UserSig, identifier, app and request errors: no retry can fix them */
static const int32 credential_codes[] = {
	70001, 70002, 70003, 70005, 70009, 70013, 70014, 70016, 70050, 70052,
	60004, 60005
};
static const int32 admin_codes[] = {70403, 60010};
static const int32 app_codes[] = {60006, 60012, 60016, 70020, 60020, 60021,
60002, 60003};

static call_outcome
api_failure(run_state *rs, call_slot *slot, int32 code, const char *info)
{
	call_outcome out = {0};

	out.code = code;
	out.info = pstrdup(info && *info ? info : "(no ErrorInfo)");
	out.from_api = true;
	if (code_in(code, transient_codes, lengthof(transient_codes)))
	{
		out.verdict = VERDICT_TRANSIENT;
		out.reason = RETRY_API_TRANSIENT;
	}
	else if (code_in(code, rate_limited_codes, lengthof(rate_limited_codes)))
	{
		out.verdict = VERDICT_TRANSIENT;
		out.reason = RETRY_API_RATE_LIMITED;
	}
	else if (code == 70001 && rs->cfg->usersig_from_key &&
			 (slot->usersig_generation < rs->usersig_generation ||
			  rs->usersig_renewals == 0))
	{
		/* expired: renew the UserSig once, then try again at once */
		if (slot->usersig_generation == rs->usersig_generation)
		{
			imcheck_renew_usersig(rs->cfg);
			rs->usersig_generation++;
			rs->usersig_renewals++;
		}
		out.verdict = VERDICT_TRANSIENT;
		out.reason = RETRY_USERSIG_RENEWED;
	}
	else if (code_in(code, credential_codes, lengthof(credential_codes)) ||
			 code_in(code, admin_codes, lengthof(admin_codes)) ||
			 code_in(code, app_codes, lengthof(app_codes)))
		out.verdict = VERDICT_FATAL;
	else
		out.verdict = VERDICT_CALL_FAILED;	/* e.g. 70402 */
	return out;
}

/* libcurl's text for a failed connect, without any query string. */
static char *
transport_text(call_slot *slot, CURLcode rc)
{
	const char *text = slot->errbuf[0] ? slot->errbuf : curl_easy_strerror(rc);
	char	   *copy = pstrdup(text);
	char	   *query = strchr(copy, '?');
	size_t		len;
	char	   *after;

	if (query != NULL)
		*query = '\0';
	/* "... after 12 ms: ..." varies from call to call; the rest does not */
	after = strstr(copy, " after ");
	if (after != NULL)
	{
		char	   *p = after + 7;

		while (*p >= '0' && *p <= '9')
			p++;
		if (p > after + 7 && strncmp(p, " ms", 3) == 0)
			memmove(after, p + 3, strlen(p + 3) + 1);
	}
	len = strlen(copy);
	while (len > 0 && (copy[len - 1] == '\n' || copy[len - 1] == '.'))
		copy[--len] = '\0';
	return copy;
}

/* A call that got no HTTP answer. */
static transfer
no_answer(int32 code, imcheck_retry_reason reason, char *info)
{
	transfer	t = {0};

	t.failure.verdict = VERDICT_TRANSIENT;
	t.failure.code = code;
	t.failure.reason = reason;
	t.failure.info = info;
	return t;
}

/* A connection libcurl could not make. */
static transfer
connect_failed(call_slot *slot, CURLcode rc)
{
	transfer	t = no_answer(IMCHECK_CODE_TRANSPORT, RETRY_CONNECTION,
							  transport_text(slot, rc));

	switch (rc)
	{
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_CONNECT:
			t.failure.code = IMCHECK_CODE_CONNECT_FAILED;
			break;
		case CURLE_OPERATION_TIMEDOUT:
			t.failure.code = IMCHECK_CODE_TIMEOUT;
			t.failure.reason = RETRY_TIMEOUT;
			break;
		case CURLE_UNSUPPORTED_PROTOCOL:
		case CURLE_URL_MALFORMAT:
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_SSL_CERTPROBLEM:
		case CURLE_SSL_ISSUER_ERROR:
		case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		case CURLE_SSL_CRL_BADFILE:
			/* configuration or a certificate we must not trust */
			t.failure.verdict = VERDICT_FATAL;
			break;
		default:
			break;
	}
	return t;
}

static call_outcome
judge_call(run_state *rs, call_slot *slot, const transfer *t)
{
	call_outcome out = {0};
	protocol_response resp;
	protocol_outcome parsed;

	if (!t->answered)
		return t->failure;

	out.verdict = VERDICT_TRANSIENT;
	if (t->status != 200)
	{
		out.code = (int32) -t->status;
		out.info = psprintf("HTTP status %d", t->status);
		out.reason = RETRY_HTTP_STATUS;
		/* 5xx, timeouts and throttling pass; anything else is our setup */
		if (!(t->status >= 500 || t->status == 408 || t->status == 429))
		{
			out.verdict = VERDICT_FATAL;
			if (t->status >= 300 && t->status < 400)
				out.info = psprintf("HTTP status %d (redirects are not followed)",
									t->status);
		}
		return out;
	}

	parsed = protocol_parse_response(t->body, t->body_len, slot->ids,
									 slot->id_lens, slot->n_ids, &resp);
	switch (parsed)
	{
		case PROTOCOL_OK:
			store_results(rs, slot, &resp);
			out.verdict = VERDICT_DONE;
			break;
		case PROTOCOL_FAIL:
			{
				char	   *info = server_text(rs->cfg, resp.error_info,
											   strlen(resp.error_info));

				out = api_failure(rs, slot, resp.error_code, info);
				break;
			}
		case PROTOCOL_MALFORMED:
			out.code = IMCHECK_CODE_MALFORMED;
			out.info = pstrdup(resp.problem);
			out.reason = RETRY_BAD_RESPONSE;
			break;
		case PROTOCOL_MISMATCH:
			out.code = IMCHECK_CODE_MISMATCH;
			out.info = pstrdup(resp.problem);
			out.reason = RETRY_BAD_RESPONSE;
			break;
		case PROTOCOL_NO_MEMORY:
			protocol_response_free(&resp);
			out_of_memory();
			break;
	}
	protocol_response_free(&resp);
	return out;
}

static const char *
fatal_hint(int32 code, bool usersig_from_key)
{
	if (code == 70001 && usersig_from_key)
		return "imcheck generated a new UserSig and the service still says it has expired: check the database server's clock.";
	if (code == 70001)
		return "The UserSig has expired: replace \"imcheck.usersig\", or set \"imcheck.secret_key_file\" so that imcheck generates and renews UserSigs.";
	if (code_in(code, credential_codes, lengthof(credential_codes)))
		return "Check \"imcheck.secret_key\" (or \"imcheck.usersig\"), \"imcheck.identifier\" and \"imcheck.sdkappid\".";
	if (code_in(code, admin_codes, lengthof(admin_codes)))
		return "\"imcheck.identifier\" must name an App admin account of the app.";
	if (code == 70020 || code == 60006)
		return "Check \"imcheck.sdkappid\", and that \"imcheck.region\" is the app's region.";
	return NULL;
}

static int
fatal_errcode(int32 code)
{
	if (code_in(code, credential_codes, lengthof(credential_codes)))
		return ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION;
	if (code_in(code, admin_codes, lengthof(admin_codes)))
		return ERRCODE_INSUFFICIENT_PRIVILEGE;
	return ERRCODE_INVALID_PARAMETER_VALUE;
}

static void
raise_fatal(const call_outcome *out, bool usersig_from_key)
{
	const char *hint;

	if (!out->from_api)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not call the IM API"),
				 errdetail("%s (imcheck code %d).", out->info, out->code),
				 errhint("Check \"imcheck.endpoint\", \"imcheck.region\" and \"imcheck.ca_file\".")));
	hint = fatal_hint(out->code, usersig_from_key);
	ereport(ERROR,
			(errcode(fatal_errcode(out->code)),
			 errmsg("the IM API refused the account_check call"),
			 errdetail("ErrorCode %d: %s", out->code, out->info),
			 hint ? errhint("%s", hint) : 0));
}

static void
raise_call_failed(const call_outcome *out, int attempts)
{
	if (out->from_api)
		ereport(ERROR,
				(errcode(out->verdict == VERDICT_TRANSIENT ?
						 ERRCODE_CONNECTION_FAILURE :
						 ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("account_check call failed after %d %s", attempts,
						attempts == 1 ? "attempt" : "attempts"),
				 errdetail("ErrorCode %d: %s", out->code, out->info),
				 errhint("Call im_account_check with raise_on_error => false to get the other results and this call's UserIDs as rows with its error.")));
	ereport(ERROR,
			(errcode(ERRCODE_CONNECTION_FAILURE),
			 errmsg("account_check call failed after %d %s", attempts,
					attempts == 1 ? "attempt" : "attempts"),
			 errdetail("%s (imcheck code %d).", out->info, out->code),
			 errhint("Call im_account_check with raise_on_error => false to get the other results and this call's UserIDs as rows with its error.")));
}

/*
 * Gives up on a batch, counting it as failed: raises, or (raise_on_error
 * false) gives its IDs the call's code.
 */
static void
fail_batch(run_state *rs, call_slot *slot, const call_outcome *out,
		   long connects)
{
	imcheck_job *job = rs->job;
	uint32		first = slot->batch * (uint32) rs->cfg->batch_size;

	imcheck_stats_call_finished(slot->n_ids, connects);
	imcheck_stats_call_failed(out->code);
	if (job->raise_on_error)
		raise_call_failed(out, slot->attempt + 1);
	ensure_result_info(job);
	for (uint32 i = 0; i < slot->n_ids; i++)
	{
		set_result_code(job, first + i, out->code);
		job->status[first + i] = PROTOCOL_STATUS_NONE;
		job->result_info[first + i] = out->info;
	}
	job->failed_calls++;
}

static int64_t
backoff_us(const call_outcome *out, int attempt)
{
	int64_t		base_ms;
	int64_t		ms;

	if (out->reason == RETRY_USERSIG_RENEWED)
		return 0;
	base_ms = out->reason == RETRY_API_RATE_LIMITED ? BACKOFF_RATE_LIMITED_MS
		: BACKOFF_BASE_MS;
	ms = base_ms << Min(attempt, 10);
	ms = Min(ms, BACKOFF_CAP_MS);
	/* jitter between half and all of it, so retries don't come in waves */
	return (int64_t) (ms * 1000 * (0.5 + 0.5 * pg_prng_double(&pg_global_prng_state)));
}

/*
 * The slot's call will go again: counts the retry and queues its batch
 * (with the given attempt number, no sooner than not_before_us).
 */
static void
retry_call(run_state *rs, call_slot *slot, imcheck_retry_reason reason,
		   int attempt, bool fresh_connection, int64_t not_before_us)
{
	imcheck_stats_call_finished(0, slot->connects);
	imcheck_stats_retry(reason);
	rs->job->retries++;
	rs->job->retries_by_reason[reason]++;
	if (rs->n_retries == rs->retries_cap)
	{
		rs->retries_cap *= 2;
		rs->retries = repalloc(rs->retries, sizeof(pending_retry) * rs->retries_cap);
	}
	rs->retries[rs->n_retries].batch = slot->batch;
	rs->retries[rs->n_retries].attempt = attempt;
	rs->retries[rs->n_retries].fresh_connection = fresh_connection;
	rs->retries[rs->n_retries].not_before_us = not_before_us;
	rs->n_retries++;
}

/* Ends the slot's call (its phase is already IDLE) and acts on the outcome. */
static void
finish_call(run_state *rs, call_slot *slot, const transfer *t)
{
	call_outcome out;
	long		connects = slot->connects;

	rs->in_flight--;
	out = judge_call(rs, slot, t);
	switch (out.verdict)
	{
		case VERDICT_DONE:
			imcheck_stats_call_finished(slot->n_ids, connects);
			rs->batches_done++;
			return;
		case VERDICT_FATAL:
			imcheck_stats_call_finished(0, connects);
			imcheck_stats_call_failed(out.code);
			raise_fatal(&out, rs->cfg->usersig_from_key);
			return;
		case VERDICT_CALL_FAILED:
			fail_batch(rs, slot, &out, connects);
			rs->batches_done++;
			return;
		case VERDICT_TRANSIENT:
			break;
	}

	/* a renewed UserSig is not the call's fault: it doesn't use a retry */
	if (out.reason != RETRY_USERSIG_RENEWED && slot->attempt >= rs->cfg->max_retries)
	{
		fail_batch(rs, slot, &out, connects);
		rs->batches_done++;
		return;
	}
	retry_call(rs, slot, out.reason,
			   slot->attempt + (out.reason == RETRY_USERSIG_RENEWED ? 0 : 1),
			   false, monotonic_us() + backoff_us(&out, slot->attempt));
}

/* Ends the slot's call with a transfer outcome; closes its connection if asked. */
static void
end_call(run_state *rs, call_slot *slot, const transfer *t, bool close)
{
	if (close)
		close_connection(slot);
	else
		slot->idle_since_us = monotonic_us();
	slot->phase = PHASE_IDLE;
	finish_call(rs, slot, t);
}

/*
 * The connection died before any byte of the answer came.  On a connection
 * that had answered before, that is a server closing an idle keep-alive
 * connection (a race no client can avoid): the call goes again at once on a
 * new connection, without using one of its retries.  Otherwise it is a
 * broken connection like any other.
 */
static void
connection_lost(run_state *rs, call_slot *slot, const char *what)
{
	transfer	t;

	if (slot->on_reused && slot->reply.len == 0)
	{
		close_connection(slot);
		slot->phase = PHASE_IDLE;
		rs->in_flight--;
		retry_call(rs, slot, RETRY_CONNECTION, slot->attempt, true, 0);
		return;
	}
	t = no_answer(IMCHECK_CODE_CONNECTION_BROKEN, RETRY_CONNECTION, pstrdup(what));
	end_call(rs, slot, &t, true);
}

/* Sends what the socket takes of the request; then waits for the answer. */
static void
send_request(run_state *rs, call_slot *slot)
{
	while (slot->request_sent < slot->request.len)
	{
		size_t		n = 0;
		CURLcode	rc;

		rc = curl_easy_send(slot->easy, slot->request.data + slot->request_sent,
							slot->request.len - slot->request_sent, &n);
		if (rc == CURLE_AGAIN || (rc == CURLE_OK && n == 0))
		{
			watch_connection(slot, EPOLLOUT);	/* until the socket takes more */
			return;
		}
		if (rc != CURLE_OK)
		{
			connection_lost(rs, slot, "the connection failed while sending the request");
			return;
		}
		if (slot->sent_us == 0)
		{
			/*
			 * The service counts the call when it arrives, no earlier than
			 * now.  Record that at once, not when the call ends: the other
			 * sessions pace themselves by the log in the meantime, and a
			 * call that waited for its connection would otherwise count as
			 * older than it is and free its place in the budget too early.
			 */
			slot->sent_us = monotonic_us();
			ratelimit_refine(slot->ticket, slot->sent_us);
		}
		slot->request_sent += n;
	}
	slot->phase = PHASE_RECEIVING;
	watch_connection(slot, EPOLLIN);
}

static void
start_sending(run_state *rs, call_slot *slot)
{
	slot->on_reused = slot->answered > 0;
	slot->phase = PHASE_SENDING;
	send_request(rs, slot);
}

/* Reads what has come; ends the call when its answer is complete. */
static void
receive_answer(run_state *rs, call_slot *slot)
{
	bool		at_eof = false;
	http1_outcome outcome = HTTP1_INCOMPLETE;
	http1_response resp;
	transfer	t;

	for (;;)
	{
		size_t		n = 0;
		CURLcode	rc;

		if (protocol_buffer_reserve(&slot->reply, RECV_SPACE) != 0)
			out_of_memory();
		rc = curl_easy_recv(slot->easy, slot->reply.data + slot->reply.len,
							slot->reply.cap - slot->reply.len - 1, &n);
		if (rc == CURLE_AGAIN)
			break;
		if (rc != CURLE_OK)
		{
			connection_lost(rs, slot, "the connection failed while receiving the answer");
			return;
		}
		if (n == 0)
		{
			at_eof = true;
			break;
		}
		slot->reply.len += n;
		slot->reply.data[slot->reply.len] = '\0';
		if (slot->reply.len > MAX_RAW_REPLY_BYTES)
		{
			outcome = HTTP1_TOO_LARGE;
			break;
		}
		/* most answers come in one read: stop as soon as this one is whole */
		outcome = http1_parse_response(slot->reply.data, slot->reply.len, false,
									   MAX_REPLY_BYTES, &slot->decoded, &resp);
		if (outcome != HTTP1_INCOMPLETE)
			break;
	}
	if (at_eof)
	{
		if (slot->reply.len == 0)
		{
			connection_lost(rs, slot, "the server closed the connection without answering");
			return;
		}
		outcome = http1_parse_response(slot->reply.data, slot->reply.len, true,
									   MAX_REPLY_BYTES, &slot->decoded, &resp);
	}

	switch (outcome)
	{
		case HTTP1_INCOMPLETE:
			return;
		case HTTP1_COMPLETE:
			t.answered = true;
			t.status = resp.status;
			t.body = resp.body;
			t.body_len = resp.body_len;
			if (resp.keep_alive && !at_eof)
				slot->answered++;
			end_call(rs, slot, &t, !resp.keep_alive || at_eof);
			return;
		case HTTP1_CUT_OFF:
			t = no_answer(IMCHECK_CODE_CONNECTION_BROKEN, RETRY_CONNECTION,
						  pstrdup(resp.problem));
			break;
		case HTTP1_BAD:
			if (strcmp(resp.problem, "out of memory") == 0)
				out_of_memory();
			t = no_answer(IMCHECK_CODE_TRANSPORT, RETRY_BAD_RESPONSE,
						  pstrdup(resp.problem));
			break;
		case HTTP1_TOO_LARGE:
			t = no_answer(IMCHECK_CODE_TOO_LARGE, RETRY_BAD_RESPONSE,
						  psprintf("the answer exceeds %d bytes", MAX_REPLY_BYTES));
			break;
	}
	end_call(rs, slot, &t, true);
}

/* Lets libcurl go on with the connections being made. */
static void
drive_connects(run_state *rs)
{
	for (int i = 0; i < rs->cfg->max_concurrency && rs->connecting > 0; i++)
	{
		call_slot  *slot = &engine.slots[i];
		int			running;
		int			queued;
		CURLMsg    *msg;

		if (slot->phase != PHASE_CONNECTING)
			continue;
		curl_multi_perform(slot->multi, &running);
		while ((msg = curl_multi_info_read(slot->multi, &queued)) != NULL)
		{
			CURLcode	rc = msg->data.result;

			if (msg->msg != CURLMSG_DONE)
				continue;
			rs->connecting--;
			if (rc == CURLE_OK &&
				curl_easy_getinfo(slot->easy, CURLINFO_ACTIVESOCKET, &slot->fd) == CURLE_OK &&
				slot->fd != CURL_SOCKET_BAD)
			{
				slot->connected = true;
				start_sending(rs, slot);
			}
			else
			{
				transfer	t = connect_failed(slot, rc == CURLE_OK ? CURLE_COULDNT_CONNECT : rc);

				end_call(rs, slot, &t, true);
			}
			break;
		}
	}
}

/* Ends the calls that have run out of time. */
static void
expire_calls(run_state *rs, int64_t now)
{
	for (int i = 0; i < rs->cfg->max_concurrency; i++)
	{
		call_slot  *slot = &engine.slots[i];
		transfer	t;

		if (slot->phase == PHASE_IDLE || slot->deadline_us > now)
			continue;
		if (slot->phase == PHASE_CONNECTING)
			rs->connecting--;
		t = no_answer(IMCHECK_CODE_TIMEOUT, RETRY_TIMEOUT,
					  psprintf("no answer within %d ms", rs->cfg->timeout_ms));
		end_call(rs, slot, &t, true);
	}
}

/*
 * Picks the next batch to send: a retry whose backoff is over first, else a
 * fresh batch.  Returns false when none is ready; *ready_at then says when
 * the earliest retry will be (INT64_MAX if none).
 */
static bool
next_batch(run_state *rs, int64_t now, uint32 *batch, int *attempt,
		   bool *fresh_connection, int *retry_index, int64_t *ready_at)
{
	int			best = -1;

	*ready_at = INT64_MAX;
	for (int i = 0; i < rs->n_retries; i++)
	{
		if (rs->retries[i].not_before_us <= now)
		{
			if (best < 0 || rs->retries[i].not_before_us < rs->retries[best].not_before_us)
				best = i;
		}
		else if (rs->retries[i].not_before_us < *ready_at)
			*ready_at = rs->retries[i].not_before_us;
	}
	if (best >= 0)
	{
		*batch = rs->retries[best].batch;
		*attempt = rs->retries[best].attempt;
		*fresh_connection = rs->retries[best].fresh_connection;
		*retry_index = best;
		return true;
	}
	if (rs->next_fresh < rs->n_batches)
	{
		*batch = rs->next_fresh;
		*attempt = 0;
		*fresh_connection = false;
		*retry_index = -1;
		return true;
	}
	return false;
}

/*
 * Starts every call that may start now; returns when to look again, and
 * whether it is the rate budget that holds calls back.
 */
static int64_t
start_calls(run_state *rs, int64_t now, bool *rate_blocked)
{
	int64_t		wake_at = INT64_MAX;

	*rate_blocked = false;
	while (rs->in_flight < rs->cfg->max_concurrency)
	{
		uint32		batch;
		int			attempt;
		bool		fresh_connection;
		int			retry_index;
		int64_t		ready_at;
		int64_t		wait;
		int64_t		started;
		ratelimit_ticket ticket;
		call_slot  *slot;

		if (!next_batch(rs, now, &batch, &attempt, &fresh_connection,
						&retry_index, &ready_at))
		{
			wake_at = Min(wake_at, ready_at);
			break;
		}
		wait = ratelimit_try_acquire(rs->cfg->rate_limit, &started, &ticket);
		if (wait > 0)
		{
			wake_at = Min(wake_at, now + wait);
			*rate_blocked = true;
			break;
		}
		slot = free_slot(rs->cfg->max_concurrency);
		Assert(slot != NULL);
		if (retry_index >= 0)
			rs->retries[retry_index] = rs->retries[--rs->n_retries];
		else
			rs->next_fresh++;
		start_call(rs, slot, batch, attempt, fresh_connection, ticket, started);
	}
	return wake_at;
}

/*
 * Sleeps until a socket is ready, wake_at or a call's deadline passes, or
 * POLL_CAP_MS; then serves the ready sockets.
 */
static void
wait_and_serve(run_state *rs, int64_t wake_at, int64_t now)
{
	long		timeout_ms = POLL_CAP_MS;
	int			ready;

	if (wake_at != INT64_MAX)
		timeout_ms = Min(timeout_ms, (long) ((wake_at - now + 999) / 1000));
	if (rs->in_flight == 0)
	{
		/* only the rate budget or a backoff to wait for */
		if (timeout_ms > 0)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 timeout_ms, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
		return;
	}
	if (rs->connecting > 0)
		timeout_ms = Min(timeout_ms, CONNECT_POLL_MS);
	for (int i = 0; i < rs->cfg->max_concurrency; i++)
	{
		call_slot  *slot = &engine.slots[i];

		if (slot->phase == PHASE_SENDING || slot->phase == PHASE_RECEIVING)
			timeout_ms = Min(timeout_ms, (long) ((slot->deadline_us - now + 999) / 1000));
	}
	timeout_ms = Max(timeout_ms, 0);
	/* a signal (cancel, timeout) ends the wait with EINTR */
	ready = epoll_wait(engine.epoll_fd, engine.events, MAX_SLOTS, (int) timeout_ms);
	for (int i = 0; i < ready; i++)
	{
		call_slot  *slot = engine.events[i].data.ptr;

		if (slot->phase == PHASE_SENDING)
			send_request(rs, slot);
		else if (slot->phase == PHASE_RECEIVING)
			receive_answer(rs, slot);
		else if (slot->phase == PHASE_IDLE)
		{
			/*
			 * An idle keep-alive connection has nothing to say: this is the
			 * server closing it (or breaking the protocol).  Either way it
			 * can carry no more calls.
			 */
			close_connection(slot);
		}
	}
}

void
imcheck_run_job(imcheck_config *cfg, imcheck_job *job)
{
	run_state	rs = {0};

	if (job->n == 0)
		return;
	ensure_engine();

	rs.cfg = cfg;
	rs.job = job;
	rs.n_batches = (job->n + (uint32) cfg->batch_size - 1) / (uint32) cfg->batch_size;
	rs.retries_cap = cfg->max_concurrency * 2;
	rs.retries = palloc(sizeof(pending_retry) * rs.retries_cap);
	split_url(&rs);

	/* keep a few idle connections beyond what this statement uses */
	for (int i = cfg->max_concurrency + SPARE_CONNECTIONS; i < MAX_SLOTS; i++)
		close_connection(&engine.slots[i]);

	imcheck_stats_check_started(job->n);
	PG_TRY();
	{
		while (rs.batches_done < rs.n_batches)
		{
			int64_t		now;
			int64_t		wake_at;
			uint32		done_before = rs.batches_done;
			int			in_flight_before;
			bool		rate_limited;

			CHECK_FOR_INTERRUPTS();
			now = monotonic_us();
			wake_at = start_calls(&rs, now, &rate_limited);
			in_flight_before = rs.in_flight;
			if (rs.connecting > 0)
				drive_connects(&rs);
			expire_calls(&rs, now);
			if (rs.batches_done != done_before || rs.in_flight != in_flight_before)
				continue;		/* start what can start now */

			wait_and_serve(&rs, wake_at, now);
			if (rate_limited)
				job->rate_wait_us += monotonic_us() - now;
		}
	}
	PG_FINALLY();
	{
		abandon_in_flight();
		imcheck_stats_check_ended();
		imcheck_stats_rate_wait(job->rate_wait_us);
	}
	PG_END_TRY();

	pfree(rs.retries);
}
