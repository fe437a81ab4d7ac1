/*
 * client.c - the engine that calls account_check.
 *
 * The distinct UserIDs are split into batches of imcheck.batch_size.  Up to
 * imcheck.max_concurrency calls are kept in flight on one libcurl multi
 * handle, paced by the rate limiter, retried with exponential backoff and
 * jitter when they fail transiently.
 *
 * The multi handle and its easy handles live as long as the backend, so
 * keep-alive connections are reused across calls and across statements.
 * Everything per statement is palloc'd; whatever happens (ERROR, cancel,
 * statement_timeout) the PG_FINALLY block detaches every in-flight transfer,
 * which closes its connection, so nothing is left half-done for the next
 * statement.
 *
 * Waiting: curl_multi_poll() returns at once when a signal arrives (poll()
 * fails with EINTR, which curl treats as "nothing happened"), and never
 * sleeps more than POLL_CAP_MS, so CHECK_FOR_INTERRUPTS() runs promptly and
 * cancel and statement_timeout act with PostgreSQL's own errors.  No ereport
 * is ever made from inside a curl callback.
 */
#include "postgres.h"

#include <time.h>

#include <curl/curl.h>

#include "common/pg_prng.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/wait_event.h"

#include "client.h"
#include "protocol.h"
#include "ratelimit.h"
#include "stats.h"

/* never sleep longer than this without checking for interrupts */
#define POLL_CAP_MS 20

/* the largest answer we accept; a 100-ID answer is a few kilobytes */
#define MAX_REPLY_BYTES (1024 * 1024)

/* the most slots the engine can hold: imcheck.max_concurrency's maximum */
#define MAX_SLOTS 256

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

/* One call in flight: an easy handle and the buffers it uses. */
typedef struct call_slot
{
	CURL	   *easy;
	bool		busy;
	uint32		batch;
	int			attempt;		/* 0 for the first try */
	int			usersig_generation;
	int64_t		started_us;
	ratelimit_ticket ticket;
	protocol_buffer url;
	protocol_buffer body;
	protocol_buffer reply;
	bool		reply_too_large;
	char		errbuf[CURL_ERROR_SIZE];
	uint32		n_ids;
	const char *ids[PROTOCOL_MAX_BATCH];
	size_t		id_lens[PROTOCOL_MAX_BATCH];
} call_slot;

/* The backend's persistent curl state. */
static struct
{
	bool		curl_ready;
	CURLM	   *multi;
	struct curl_slist *headers;
	call_slot  *slots;			/* MAX_SLOTS, malloc'd on first use */
} engine;

/* A batch waiting to be retried. */
typedef struct pending_retry
{
	uint32		batch;
	int			attempt;
	int64_t		not_before_us;
} pending_retry;

/* The state of one run of imcheck_run_job. */
typedef struct run_state
{
	imcheck_config *cfg;
	imcheck_job *job;
	uint32		n_batches;
	uint32		next_fresh;		/* next batch never tried */
	uint32		batches_done;
	int			in_flight;
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

#define monotonic_us() ratelimit_monotonic_us()

static size_t
collect_reply(char *data, size_t size, size_t nmemb, void *userdata)
{
	call_slot  *slot = (call_slot *) userdata;
	size_t		len = size * nmemb;

	/* returning less than len makes curl fail the transfer */
	if (slot->reply.len + len > MAX_REPLY_BYTES)
	{
		slot->reply_too_large = true;
		return 0;
	}
	if (protocol_buffer_append(&slot->reply, data, len) != 0)
		return 0;
	return len;
}

static void
curl_failure(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_OUT_OF_MEMORY),
			 errmsg("could not initialize libcurl"),
			 errdetail("%s failed.", what)));
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
		engine.slots = calloc(MAX_SLOTS, sizeof(call_slot));
		if (engine.slots == NULL)
			curl_failure("allocating call slots");
	}
	if (engine.headers == NULL)
	{
		struct curl_slist *h;

		h = curl_slist_append(NULL, "Content-Type: application/json");
		/* no "Expect: 100-continue" round trip for bodies over 1 kB */
		if (h != NULL)
			h = curl_slist_append(h, "Expect:");
		if (h == NULL)
			curl_failure("curl_slist_append");
		engine.headers = h;
	}
	if (engine.multi == NULL)
	{
		engine.multi = curl_multi_init();
		if (engine.multi == NULL)
			curl_failure("curl_multi_init");
	}
}

/* Sets the options that don't change between calls of one run. */
static void
configure_easy(call_slot *slot, const imcheck_config *cfg)
{
	CURL	   *e = slot->easy;

	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	/*
	 * With a CA file, trust only it, not also the system's CA directory.
	 * Without one, curl's defaults (the system's CAs) stay: handles are made
	 * anew when imcheck.ca_file changes (see the fingerprint in imcheck.c).
	 */
	if (cfg->ca_file)
	{
		curl_easy_setopt(e, CURLOPT_CAINFO, cfg->ca_file);
		curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
	}
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long) cfg->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long) cfg->timeout_ms);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, engine.headers);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "imcheck/1.0");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect_reply);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, slot);
	curl_easy_setopt(e, CURLOPT_PRIVATE, slot);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, slot->errbuf);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	/* proxies from the server's environment must not see the UserSig */
	curl_easy_setopt(e, CURLOPT_PROXY, "");
}

/* Detaches every in-flight transfer; its connection is closed. */
static void
abandon_in_flight(void)
{
	if (engine.slots == NULL)
		return;
	for (int i = 0; i < MAX_SLOTS; i++)
	{
		call_slot  *slot = &engine.slots[i];

		if (slot->busy)
		{
			curl_multi_remove_handle(engine.multi, slot->easy);
			slot->busy = false;
		}
	}
}

void
imcheck_client_reset(void)
{
	abandon_in_flight();
	if (engine.slots != NULL)
	{
		for (int i = 0; i < MAX_SLOTS; i++)
		{
			call_slot  *slot = &engine.slots[i];

			if (slot->easy)
				curl_easy_cleanup(slot->easy);
			slot->easy = NULL;
			protocol_buffer_free(&slot->url);
			protocol_buffer_free(&slot->body);
			protocol_buffer_free(&slot->reply);
		}
	}
	if (engine.multi != NULL)
		curl_multi_cleanup(engine.multi);
	engine.multi = NULL;
}

static void
out_of_memory(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_OUT_OF_MEMORY),
			 errmsg("out of memory")));
}

static call_slot *
free_slot(int max_concurrency, const imcheck_config *cfg)
{
	for (int i = 0; i < max_concurrency; i++)
	{
		call_slot  *slot = &engine.slots[i];

		if (slot->busy)
			continue;
		if (slot->easy == NULL)
		{
			slot->easy = curl_easy_init();
			if (slot->easy == NULL)
				curl_failure("curl_easy_init");
		}
		configure_easy(slot, cfg);
		return slot;
	}
	return NULL;
}

static void
start_call(run_state *rs, call_slot *slot, uint32 batch, int attempt,
		   ratelimit_ticket ticket, int64_t now)
{
	imcheck_job *job = rs->job;
	uint32		first = batch * (uint32) rs->cfg->batch_size;
	uint32		count = Min((uint32) rs->cfg->batch_size, job->n - first);
	char		random_text[16];
	CURLMcode	mrc;

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
	snprintf(random_text, sizeof(random_text), "%u",
			 pg_prng_uint32(&pg_global_prng_state));
	protocol_buffer_reset(&slot->url);
	if (protocol_buffer_append(&slot->url, rs->cfg->url_prefix,
							   strlen(rs->cfg->url_prefix)) != 0 ||
		protocol_buffer_append(&slot->url, random_text, strlen(random_text)) != 0)
		out_of_memory();

	protocol_buffer_reset(&slot->reply);
	slot->reply_too_large = false;
	slot->errbuf[0] = '\0';
	curl_easy_setopt(slot->easy, CURLOPT_URL, slot->url.data);
	curl_easy_setopt(slot->easy, CURLOPT_POSTFIELDS, slot->body.data);
	curl_easy_setopt(slot->easy, CURLOPT_POSTFIELDSIZE_LARGE,
					 (curl_off_t) slot->body.len);

	slot->batch = batch;
	slot->attempt = attempt;
	slot->usersig_generation = rs->usersig_generation;
	slot->started_us = now;
	slot->ticket = ticket;
	mrc = curl_multi_add_handle(engine.multi, slot->easy);
	if (mrc != CURLM_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not start an API call: %s", curl_multi_strerror(mrc))));
	slot->busy = true;
	rs->in_flight++;
	job->calls++;
	imcheck_stats_call_started();
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

static void
store_results(run_state *rs, call_slot *slot, const protocol_response *resp)
{
	imcheck_job *job = rs->job;
	uint32		first = slot->batch * (uint32) rs->cfg->batch_size;

	for (uint32 i = 0; i < slot->n_ids; i++)
	{
		const protocol_item_result *item = &resp->items[i];
		uint32		d = first + i;

		job->result_code[d] = item->result_code;
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

/* Without the query string, which holds the UserSig. */
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

static call_outcome
judge_call(run_state *rs, call_slot *slot, CURLcode rc)
{
	call_outcome out = {0};
	long		http_status = 0;
	protocol_response resp;
	protocol_outcome parsed;

	out.verdict = VERDICT_TRANSIENT;
	if (rc != CURLE_OK)
	{
		out.info = transport_text(slot, rc);
		switch (rc)
		{
			case CURLE_COULDNT_RESOLVE_HOST:
			case CURLE_COULDNT_CONNECT:
				out.code = IMCHECK_CODE_CONNECT_FAILED;
				out.reason = RETRY_CONNECTION;
				break;
			case CURLE_OPERATION_TIMEDOUT:
				out.code = IMCHECK_CODE_TIMEOUT;
				out.reason = RETRY_TIMEOUT;
				break;
			case CURLE_WRITE_ERROR:
				out.code = slot->reply_too_large ? IMCHECK_CODE_TOO_LARGE
					: IMCHECK_CODE_TRANSPORT;
				if (slot->reply_too_large)
					out.info = psprintf("the answer exceeds %d bytes", MAX_REPLY_BYTES);
				out.reason = RETRY_BAD_RESPONSE;
				break;
			case CURLE_GOT_NOTHING:
			case CURLE_RECV_ERROR:
			case CURLE_SEND_ERROR:
			case CURLE_PARTIAL_FILE:
				out.code = IMCHECK_CODE_CONNECTION_BROKEN;
				out.reason = RETRY_CONNECTION;
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
				out.code = IMCHECK_CODE_TRANSPORT;
				out.verdict = VERDICT_FATAL;
				break;
			default:
				out.code = IMCHECK_CODE_TRANSPORT;
				out.reason = RETRY_CONNECTION;
				break;
		}
		return out;
	}

	curl_easy_getinfo(slot->easy, CURLINFO_RESPONSE_CODE, &http_status);
	if (http_status != 200)
	{
		out.code = (int32) -http_status;
		out.info = psprintf("HTTP status %ld", http_status);
		out.reason = RETRY_HTTP_STATUS;
		/* 5xx, timeouts and throttling pass; anything else is our setup */
		if (!(http_status >= 500 || http_status == 408 || http_status == 429))
		{
			out.verdict = VERDICT_FATAL;
			if (http_status >= 300 && http_status < 400)
				out.info = psprintf("HTTP status %ld (redirects are not followed)",
									http_status);
		}
		return out;
	}

	parsed = protocol_parse_response(slot->reply.data ? slot->reply.data : "",
									 slot->reply.len, slot->ids,
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
		job->result_code[first + i] = out->code;
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

static void
finish_call(run_state *rs, call_slot *slot, CURLcode rc)
{
	call_outcome out;
	curl_off_t	pretransfer_us = 0;
	curl_off_t	total_us = 0;
	long		connects = 0;

	curl_multi_remove_handle(engine.multi, slot->easy);
	slot->busy = false;
	rs->in_flight--;

	/*
	 * The call reached the service no earlier than when it was sent.  curl
	 * times the transfer from when it took it up, which can be later than
	 * started_us when this process was not running; counting back from now
	 * (at or after the transfer's end) gives a send time that is never
	 * early, which is the safe side for the rate log.
	 */
	if (curl_easy_getinfo(slot->easy, CURLINFO_PRETRANSFER_TIME_T,
						  &pretransfer_us) == CURLE_OK &&
		curl_easy_getinfo(slot->easy, CURLINFO_TOTAL_TIME_T,
						  &total_us) == CURLE_OK && pretransfer_us > 0)
		ratelimit_refine(slot->ticket,
						 Max(slot->started_us, monotonic_us() - total_us) + pretransfer_us);

	curl_easy_getinfo(slot->easy, CURLINFO_NUM_CONNECTS, &connects);

	out = judge_call(rs, slot, rc);
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
	imcheck_stats_call_finished(0, connects);
	imcheck_stats_retry(out.reason);
	if (rs->n_retries == rs->retries_cap)
	{
		rs->retries_cap *= 2;
		rs->retries = repalloc(rs->retries, sizeof(pending_retry) * rs->retries_cap);
	}
	rs->retries[rs->n_retries].batch = slot->batch;
	rs->retries[rs->n_retries].attempt =
		slot->attempt + (out.reason == RETRY_USERSIG_RENEWED ? 0 : 1);
	rs->retries[rs->n_retries].not_before_us =
		monotonic_us() + backoff_us(&out, slot->attempt);
	rs->n_retries++;
	rs->job->retries++;
	rs->job->retries_by_reason[out.reason]++;
}

/*
 * Picks the next batch to send: a retry whose backoff is over first, else a
 * fresh batch.  Returns false when none is ready; *ready_at then says when
 * the earliest retry will be (INT64_MAX if none).
 */
static bool
next_batch(run_state *rs, int64_t now, uint32 *batch, int *attempt,
		   int *retry_index, int64_t *ready_at)
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
		*retry_index = best;
		return true;
	}
	if (rs->next_fresh < rs->n_batches)
	{
		*batch = rs->next_fresh;
		*attempt = 0;
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
		int			retry_index;
		int64_t		ready_at;
		int64_t		wait;
		int64_t		started;
		ratelimit_ticket ticket;
		call_slot  *slot;

		if (!next_batch(rs, now, &batch, &attempt, &retry_index, &ready_at))
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
		slot = free_slot(rs->cfg->max_concurrency, rs->cfg);
		Assert(slot != NULL);
		if (retry_index >= 0)
			rs->retries[retry_index] = rs->retries[--rs->n_retries];
		else
			rs->next_fresh++;
		start_call(rs, slot, batch, attempt, ticket, started);
	}
	return wake_at;
}

/* Sleeps until something happens, wake_at passes, or POLL_CAP_MS. */
static void
wait_for_progress(run_state *rs, int64_t wake_at, int64_t now)
{
	long		timeout_ms = POLL_CAP_MS;

	if (wake_at != INT64_MAX)
		timeout_ms = Min(timeout_ms, (long) ((wake_at - now + 999) / 1000));
	if (rs->in_flight > 0)
	{
		long		curl_ms = -1;

		curl_multi_timeout(engine.multi, &curl_ms);
		if (curl_ms >= 0)
			timeout_ms = Min(timeout_ms, curl_ms);
		if (timeout_ms > 0)
			curl_multi_poll(engine.multi, NULL, 0, (int) timeout_ms, NULL);
	}
	else if (timeout_ms > 0)
	{
		/* only the rate budget or a backoff to wait for */
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

void
imcheck_run_job(imcheck_config *cfg, imcheck_job *job)
{
	run_state	rs = {0};

	if (job->n == 0)
		return;
	ensure_engine();
	curl_multi_setopt(engine.multi, CURLMOPT_MAXCONNECTS,
					  (long) cfg->max_concurrency + 4);

	rs.cfg = cfg;
	rs.job = job;
	rs.n_batches = (job->n + (uint32) cfg->batch_size - 1) / (uint32) cfg->batch_size;
	rs.retries_cap = cfg->max_concurrency * 2;
	rs.retries = palloc(sizeof(pending_retry) * rs.retries_cap);

	imcheck_stats_check_started(job->n);
	PG_TRY();
	{
		while (rs.batches_done < rs.n_batches)
		{
			int64_t		now;
			int64_t		wake_at;
			int			running;
			int			queued;
			bool		finished_any = false;
			CURLMsg    *msg;
			bool		rate_limited;

			CHECK_FOR_INTERRUPTS();
			now = monotonic_us();
			wake_at = start_calls(&rs, now, &rate_limited);

			curl_multi_perform(engine.multi, &running);
			while ((msg = curl_multi_info_read(engine.multi, &queued)) != NULL)
			{
				call_slot  *slot = NULL;

				if (msg->msg != CURLMSG_DONE)
					continue;
				curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &slot);
				Assert(slot != NULL && slot->busy);
				finish_call(&rs, slot, msg->data.result);
				finished_any = true;
			}
			if (finished_any || rs.batches_done == rs.n_batches)
				continue;		/* start what can start now */

			wait_for_progress(&rs, wake_at, now);
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
