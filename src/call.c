/*
 * call.c - one call's transfer on libcurl: the request body, a write
 * callback into a buffer capped at CALL_MAX_ANSWER_BYTES, and a timeout
 * for the whole call.  libcurl does all of HTTP (connections and their
 * reuse, TLS, chunked answers).
 *
 * libcurl's callbacks run inside curl_multi_socket_action(): they must not
 * raise an ERROR (a longjmp out of libcurl would leave it inconsistent), so
 * they only record what happened, and outcome_of_call() reports it.
 */
#include "postgres.h"

#include "common/pg_prng.h"

#include "engine_int.h"

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
	 * libcurl is sending it again, on any cached connection, as stale as the
	 * first may be: the engine does that itself, on a new connection
	 * (doc/architecture.md, "Kept connections").
	 */
	call->stale_connection = true;
	return CURL_PREREQFUNC_ABORT;
}

void
call_start(imcheck_call *call, const imcheck_config *cfg)
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

	if (curl_multi_add_handle(multi_handle(), e) != CURLM_OK)
		imcheck_out_of_memory();
}

void
call_free(imcheck_call *call)
{
	if (call->easy != NULL)
	{
		/* a transfer removed before its end also closes its connection */
		curl_multi_remove_handle(multi_handle(), call->easy);
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
