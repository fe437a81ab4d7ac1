/*
 * call.c - one API call's life on libcurl (see call.h).
 *
 * libcurl's callbacks run inside curl_multi_socket_action(): they must not
 * raise an ERROR (a longjmp out of libcurl would leave it inconsistent), so
 * they only record what happened, and call_result_of() reports it.
 */
#include "postgres.h"

#include "common/pg_prng.h"
#include "mb/pg_wchar.h"

#include "api.h"
#include "call.h"
#include "multi.h"
#include "redact.h"

/* Header fields of every call; made once per backend. */
static struct curl_slist *request_headers = NULL;

/*
 * Every option is checked, as pg_net does: a libcurl that refuses one
 * cannot make the call as it must be made (one built without a protocol, or
 * older at run time than at build time), and no call goes out half set.
 * The option is named, never its value (the URL holds the UserSig).
 */
#define set_option(easy, option, value) \
	check_option(curl_easy_setopt((easy), (option), (value)), #option)

static void
check_option(CURLcode rc, const char *option)
{
	if (rc != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("could not set libcurl option %s: %s", option, curl_easy_strerror(rc))));
}

/* libcurl's write callback: keeps the answer's body, up to the cap. */
static size_t
receive_answer(char *data, size_t size, size_t nmemb, void *userp)
{
	imcheck_call *call = userp;
	size_t		n = size * nmemb;

	if (n > CALL_MAX_ANSWER_BYTES - call->answer.len)
	{
		call->answer_too_large = true;
		return 0;				/* ends the transfer with CURLE_WRITE_ERROR */
	}
	if (protocol_buffer_append(&call->answer, data, n) != 0)
	{
		call->out_of_memory = true;
		return 0;
	}
	return n;
}

/*
 * libcurl's header callback: counts the answer's header lines (and those
 * of a proxy's CONNECT answer), so that an endless header ends the call.
 */
static size_t
receive_header(char *data, size_t size, size_t nmemb, void *userp)
{
	imcheck_call *call = userp;
	size_t		n = size * nmemb;

	call->header_lines++;
	call->header_bytes += n;
	if (call->header_lines > CALL_MAX_HEADER_LINES ||
		call->header_bytes > CALL_MAX_HEADER_BYTES)
	{
		call->header_too_large = true;
		return 0;				/* ends the transfer with CURLE_WRITE_ERROR */
	}
	return n;
}

/*
 * Called just before the request is sent, on a new or a reused connection.
 * The service counts a call when it arrives, no earlier than now: record
 * that in the rate log at once, so that a call that waited for its
 * connection does not count as older than it is and free its place in the
 * budget too early.
 */
static int
request_going_out(void *clientp, char *primary_ip, char *local_ip,
				  int primary_port, int local_port)
{
	imcheck_call *call = clientp;

	if (!call->went_out)
	{
		call->went_out = true;
		ratelimit_refine(call->rate_log, call->ticket, ratelimit_monotonic_us());
		return CURL_PREREQFUNC_OK;
	}

	/*
	 * libcurl sends a request again by itself when a reused connection
	 * broke before any answer came: the server closed an idle connection
	 * as the request arrived, say.  It may pick another cached connection,
	 * as stale as the first, so the engine sends the call again itself, on
	 * a new connection (CURLOPT_FRESH_CONNECT): see engine.c.
	 */
	call->stale_connection = true;
	return CURL_PREREQFUNC_ABORT;
}

void
call_start(imcheck_call *call, CURLM *multi, const imcheck_config *cfg)
{
	CURL	   *e;

	if (request_headers == NULL)
	{
		struct curl_slist *list = curl_slist_append(NULL, "Content-Type: application/json");

		/* no "Expect: 100-continue" round trip before the body */
		if (list != NULL)
			list = curl_slist_append(list, "Expect:");
		if (list == NULL)
			imcheck_out_of_memory();
		request_headers = list;
	}

	/* a fresh 32-bit random per call, as the API asks */
	call->random = pg_prng_uint32(&pg_global_prng_state);
	call->url = psprintf("%s%s%s%u", cfg->base_urls[call->endpoint], cfg->api->path,
						 cfg->url_query, call->random);

	call->easy = e = curl_easy_init();
	if (e == NULL)
		imcheck_out_of_memory();
	set_option(e, CURLOPT_PRIVATE, call);
	set_option(e, CURLOPT_URL, call->url);
	set_option(e, CURLOPT_POSTFIELDS, call->request.data);
	set_option(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) call->request.len);
	set_option(e, CURLOPT_HTTPHEADER, request_headers);
	set_option(e, CURLOPT_WRITEFUNCTION, receive_answer);
	set_option(e, CURLOPT_WRITEDATA, call);
	set_option(e, CURLOPT_HEADERFUNCTION, receive_header);
	set_option(e, CURLOPT_HEADERDATA, call);
	set_option(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) CALL_MAX_ANSWER_BYTES);
	set_option(e, CURLOPT_PREREQFUNCTION, request_going_out);
	set_option(e, CURLOPT_PREREQDATA, call);
	set_option(e, CURLOPT_TIMEOUT_MS, (long) cfg->timeout_ms);
	set_option(e, CURLOPT_ERRORBUFFER, call->errbuf);

	/* no signals (PostgreSQL owns them), http(s) only, no redirects */
	set_option(e, CURLOPT_NOSIGNAL, 1L);
	set_option(e, CURLOPT_PROTOCOLS_STR, "http,https");
	set_option(e, CURLOPT_FOLLOWLOCATION, 0L);
	/* certificates are always checked */
	set_option(e, CURLOPT_SSL_VERIFYPEER, 1L);
	set_option(e, CURLOPT_SSL_VERIFYHOST, 2L);
	/* with a CA file, trust only it, not also the system's CA directory */
	if (cfg->ca_file)
	{
		set_option(e, CURLOPT_CAINFO, cfg->ca_file);
		set_option(e, CURLOPT_CAPATH, NULL);
	}
	/*
	 * Through imcheck.proxy, always in a tunnel: the proxy never sees a
	 * request (its URL holds the UserSig), not even to an http:// endpoint.
	 * No proxy from the server's environment: "" turns them all off, and
	 * an empty no-proxy list ignores no_proxy.
	 */
	if (cfg->proxy != NULL)
	{
		set_option(e, CURLOPT_PROXY, cfg->proxy);
		set_option(e, CURLOPT_HTTPPROXYTUNNEL, 1L);
		set_option(e, CURLOPT_NOPROXY, "");
	}
	else
		set_option(e, CURLOPT_PROXY, "");
	set_option(e, CURLOPT_TCP_KEEPALIVE, 1L);
	/*
	 * A connection idle for longer may have been closed by the server, a
	 * load balancer or a NAT without a word: open a new one instead (see
	 * doc/architecture.md, "Kept connections").
	 */
	set_option(e, CURLOPT_MAXAGE_CONN, (long) CALL_MAX_IDLE_S);
	if (call->fresh_connection)
		set_option(e, CURLOPT_FRESH_CONNECT, 1L);

	/*
	 * HTTP/2 where the server offers it in the TLS handshake (ALPN): many
	 * calls then share one connection, which saves handshakes at long
	 * round trips.  Otherwise HTTP/1.1 with keep-alive, one call per
	 * connection at a time.  Over TLS a call waits for a connection being
	 * made to learn whether it can share it, rather than open one more; not
	 * over plain http://, which is HTTP/1.1, but which libcurl would learn
	 * only from the first answer, a round trip with no other call started.
	 */
	set_option(e, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_2TLS);
	if (strncasecmp(call->url, "https://", 8) == 0)
		set_option(e, CURLOPT_PIPEWAIT, 1L);
	/* every socket goes through multi.c (the wait set, its checks before reuse) */
	set_option(e, CURLOPT_OPENSOCKETFUNCTION, multi_open_socket);
	set_option(e, CURLOPT_CLOSESOCKETFUNCTION, multi_close_socket);

	if (curl_multi_add_handle(multi, e) != CURLM_OK)
		imcheck_out_of_memory();
}

void
call_free(imcheck_call *call, CURLM *multi)
{
	if (call->easy != NULL)
	{
		/* a transfer removed before its end also closes its connection */
		curl_multi_remove_handle(multi, call->easy);
		curl_easy_cleanup(call->easy);
		call->easy = NULL;
	}
	protocol_buffer_free(&call->request);
	protocol_buffer_free(&call->answer);
	if (call->url != NULL)
	{
		explicit_bzero(call->url, strlen(call->url));	/* it holds the UserSig */
		pfree(call->url);
		call->url = NULL;
	}
}

char *
call_server_text(const imcheck_config *cfg, const char *s, size_t len)
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

/*
 * libcurl's text for a failed transfer: no query string (the UserSig), and
 * without the "after N ms" that changes from call to call.
 */
static char *
transport_text(const imcheck_call *call, CURLcode rc, const imcheck_config *cfg)
{
	const char *text = call->errbuf[0] ? call->errbuf : curl_easy_strerror(rc);
	char	   *copy = pstrdup(text);
	char	   *query = strchr(copy, '?');
	char	   *after;
	char	   *safe;
	size_t		len;

	if (query != NULL)
		*query = '\0';
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
	safe = call_server_text(cfg, copy, len);
	pfree(copy);
	return safe ? safe : pstrdup(curl_easy_strerror(rc));
}

/*
 * Whether the call failed at the proxy: it could not be reached, or it
 * refused the tunnel (with an HTTP status, e.g. 403 for a port it does not
 * allow, or 502 when it cannot reach the API's host itself).
 */
static bool
proxy_failure(imcheck_call *call, CURLcode rc, const imcheck_config *cfg,
			  call_outcome *out)
{
	long		tunnel_status = 0;

	curl_easy_getinfo(call->easy, CURLINFO_HTTP_CONNECTCODE, &tunnel_status);
	if (tunnel_status >= 300)
	{
		*out = outcome_no_answer(IMCHECK_CODE_PROXY_REFUSED, RETRY_CONNECTION,
								 psprintf("the proxy at %s refused the tunnel with HTTP status %ld%s",
										  cfg->proxy_shown, tunnel_status,
										  tunnel_status == 401 || tunnel_status == 407
										  ? " (the user name and password in \"imcheck.proxy\" are missing or wrong)"
										  : ""));
		/*
		 * The proxy may not reach this host, and reach the next; a refused
		 * user name and password would be refused for the next too.
		 */
		out->unreachable = tunnel_status != 401 && tunnel_status != 407;
		return true;
	}
	if (rc == CURLE_COULDNT_RESOLVE_PROXY || rc == CURLE_COULDNT_CONNECT ||
		(rc == CURLE_RECV_ERROR && tunnel_status == 0 && call->answer.len == 0 &&
		 strstr(call->errbuf, "CONNECT") != NULL))
	{
		*out = outcome_no_answer(IMCHECK_CODE_CONNECT_FAILED, RETRY_CONNECTION,
								 transport_text(call, rc, cfg));
		out->proxy_failed = true;
		return true;
	}
	return false;
}

/* libcurl 8.6 and later name a header line over their limit "too large". */
static bool
call_header_line_too_long(CURLcode rc)
{
#if LIBCURL_VERSION_NUM >= 0x080600
	return rc == CURLE_TOO_LARGE;
#else
	return false;
#endif
}

call_result
call_result_of(imcheck_call *call, CURLcode rc, const imcheck_config *cfg)
{
	call_result r = {0};
	long		connects = 0;

	if (curl_easy_getinfo(call->easy, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK)
		r.connects = connects;
	if (call->out_of_memory || (rc == CURLE_OUT_OF_MEMORY && !call->went_out))
		imcheck_out_of_memory();
	if (rc == CURLE_OK)
	{
		r.answered = true;
		curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &r.status);
		r.body = call->answer.data;
		r.body_len = call->answer.len;
		return r;
	}
	if (call->stale_connection)
	{
		r.failure = outcome_no_answer(IMCHECK_CODE_CONNECTION_BROKEN, RETRY_CONNECTION,
									  pstrdup("the kept connection broke before an answer came"));
		r.failure.stale_connection = true;
		return r;
	}
	if (cfg->proxy != NULL && proxy_failure(call, rc, cfg, &r.failure))
		return r;
	if (call->header_too_large)
	{
		r.failure = outcome_no_answer(IMCHECK_CODE_MALFORMED, RETRY_BAD_RESPONSE,
									  psprintf("the answer's header has more than %d lines or %d bytes",
											   CALL_MAX_HEADER_LINES, CALL_MAX_HEADER_BYTES));
		return r;
	}
	if (rc == CURLE_OUT_OF_MEMORY || call_header_line_too_long(rc))
	{
		/*
		 * Once the request is out, this is libcurl refusing a header line
		 * longer than its limit (libcurl before 8.6 says "out of memory"
		 * for it); a real lack of memory there looks the same, and the
		 * retry finds out.
		 */
		r.failure = outcome_no_answer(IMCHECK_CODE_MALFORMED, RETRY_BAD_RESPONSE,
									  pstrdup("a line of the answer's header is longer than libcurl accepts"));
		return r;
	}
	if (call->answer_too_large || rc == CURLE_FILESIZE_EXCEEDED)
	{
		r.failure = outcome_no_answer(IMCHECK_CODE_TOO_LARGE, RETRY_BAD_RESPONSE,
									  psprintf("the answer's body exceeds %d bytes",
											   CALL_MAX_ANSWER_BYTES));
		return r;
	}
	switch (rc)
	{
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_CONNECT:
			r.failure = outcome_no_answer(IMCHECK_CODE_CONNECT_FAILED, RETRY_CONNECTION,
										  transport_text(call, rc, cfg));
			r.failure.unreachable = true;
			break;
		case CURLE_OPERATION_TIMEDOUT:
			r.failure = outcome_no_answer(IMCHECK_CODE_TIMEOUT, RETRY_TIMEOUT,
										  psprintf("no answer within %d ms", cfg->timeout_ms));
			break;
		case CURLE_GOT_NOTHING:
			r.failure = outcome_no_answer(IMCHECK_CODE_CONNECTION_BROKEN, RETRY_CONNECTION,
										  pstrdup("the server closed the connection without answering"));
			break;
		case CURLE_SEND_ERROR:
		case CURLE_RECV_ERROR:
		case CURLE_PARTIAL_FILE:
			r.failure = outcome_no_answer(IMCHECK_CODE_CONNECTION_BROKEN, RETRY_CONNECTION,
										  transport_text(call, rc, cfg));
			break;
		case CURLE_WEIRD_SERVER_REPLY:
		case CURLE_BAD_CONTENT_ENCODING:
		case CURLE_HTTP2:
		case CURLE_HTTP2_STREAM:
			r.failure = outcome_no_answer(IMCHECK_CODE_TRANSPORT, RETRY_BAD_RESPONSE,
										  transport_text(call, rc, cfg));
			break;
		case CURLE_UNSUPPORTED_PROTOCOL:
		case CURLE_URL_MALFORMAT:
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_SSL_CERTPROBLEM:
		case CURLE_SSL_ISSUER_ERROR:
		case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		case CURLE_SSL_CRL_BADFILE:
			/*
			 * Configuration, or a certificate we must not trust: a DNS
			 * answer hijacked to another server, say, so another base URL
			 * may do.
			 */
			r.failure = outcome_no_answer(IMCHECK_CODE_TRANSPORT, RETRY_CONNECTION,
										  transport_text(call, rc, cfg));
			r.failure.verdict = VERDICT_FATAL;
			r.failure.unreachable = rc == CURLE_PEER_FAILED_VERIFICATION;
			break;
		default:
			r.failure = outcome_no_answer(IMCHECK_CODE_TRANSPORT, RETRY_CONNECTION,
										  transport_text(call, rc, cfg));
			/*
			 * A TLS handshake answered in plain HTTP (OpenSSL: "wrong
			 * version number") is an https:// endpoint on an http server:
			 * no retry can fix it.  Other handshake failures may be a
			 * connection broken on the way, and are retried.
			 */
			if (rc == CURLE_SSL_CONNECT_ERROR && strstr(call->errbuf, "wrong version number"))
				r.failure.verdict = VERDICT_FATAL;
			r.failure.unreachable = rc == CURLE_SSL_CONNECT_ERROR;
			break;
	}
	return r;
}

/*
 * What a parsed answer means: VERDICT_DONE for PROTOCOL_OK, else the FAIL's
 * or the bad answer's outcome.
 */
static call_outcome
outcome_of_parse(const imcheck_config *cfg, protocol_outcome parsed,
				 protocol_response *resp)
{
	call_outcome out = {0};

	switch (parsed)
	{
		case PROTOCOL_OK:
			out.verdict = VERDICT_DONE;
			break;
		case PROTOCOL_FAIL:
			out = outcome_api_error(resp->error_code,
									call_server_text(cfg, resp->error_info,
													 strlen(resp->error_info)));
			break;
		case PROTOCOL_MALFORMED:
			out = outcome_no_answer(IMCHECK_CODE_MALFORMED, RETRY_BAD_RESPONSE,
									pstrdup(resp->problem));
			break;
		case PROTOCOL_MISMATCH:
			out = outcome_no_answer(IMCHECK_CODE_MISMATCH, RETRY_BAD_RESPONSE,
									pstrdup(resp->problem));
			break;
		case PROTOCOL_NO_MEMORY:
			imcheck_out_of_memory();
	}
	return out;
}

call_outcome
call_read_answer(const imcheck_config *cfg, imcheck_job *job, uint32 first,
				 const imcheck_call *call, const call_result *res)
{
	const imcheck_api *api = cfg->api;
	protocol_response resp;
	protocol_outcome parsed;
	call_outcome out;

	if (!res->answered)
		return res->failure;
	if (res->status != 200)
		return outcome_http_status(res->status);

	parsed = api->parse_answer(res->body, res->body_len, call->ids, call->id_lens,
							   call->n_ids, &resp);
	/* the parsed answer is malloc'd: freed whatever happens (out of memory) */
	PG_TRY();
	{
		out = outcome_of_parse(cfg, parsed, &resp);
		if (out.verdict == VERDICT_DONE)
			out = api->store_answer(cfg, job, first, call, &resp);
	}
	PG_FINALLY();
	{
		protocol_response_free(&resp);
	}
	PG_END_TRY();
	return out;
}
