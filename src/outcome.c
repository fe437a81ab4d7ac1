/*
 * outcome.c - what the end of a call means: one function from a finished
 * transfer to a verdict (outcome_of_call), the API's ErrorCodes in classes
 * (transient, rate limited, credential, admin rights, the app's
 * configuration, or a problem of this call alone), and for each class what
 * the engine does and the SQLSTATE and hint of its error.
 */
#include "postgres.h"

#include "engine_int.h"

const char *const imcheck_retry_reason_names[IMCHECK_RETRY_REASONS] = {
	"api_transient",
	"api_rate_limited",
	"usersig_renewed",
	"http_status",
	"connection",
	"timeout",
	"bad_response"
};

/* The classes of the API's ErrorCodes. */
typedef enum code_class
{
	CLASS_CALL_FAILED,			/* a problem of this call alone, e.g. 70402 */
	CLASS_TRANSIENT,			/* try again later */
	CLASS_RATE_LIMITED,			/* over the app's call rate */
	CLASS_CREDENTIAL,			/* UserSig, key, identifier */
	CLASS_ADMIN,				/* the identifier is not an App admin */
	CLASS_APP					/* SDKAppID, region, plan, request format */
} code_class;

/* the credential's own source is named where the hint is made */
#define CREDENTIAL_HINT "Check %s, \"imcheck.identifier\" and \"imcheck.sdkappid\"."
#define ADMIN_HINT "Set \"imcheck.identifier\" to an App admin account of the app."
#define APP_ID_HINT "Check \"imcheck.sdkappid\", and that \"imcheck.region\" is the app's region."
#define REGION_HINT "The domain called is not in the app's data centre: set \"imcheck.region\" to the app's region, or \"imcheck.endpoint\" to its domain."
#define USERSIG_THROTTLED_HINT "Too many UserSig checks failed: the service refuses this identifier for about a minute. Fix %s first, then wait a minute before calling again."
#define REQUEST_DISABLED_HINT "The service has disabled this request for the app: check the app in the Tencent Cloud Chat console."
#define TRIAL_VOLUME_HINT "The app's trial edition has used its calls for today: upgrade the app's edition in the Tencent Cloud Chat console, or call again tomorrow."
#define ACCOUNT_LIMIT_HINT "The app has as many accounts as its plan allows: raise the limit in the Tencent Cloud Chat console, then import the rest."

/*
 * Every ErrorCode imcheck treats other than as a failure of one call, with
 * the SQLSTATE it raises with (0: its class's, see class_sqlstate).
 */
static const struct
{
	int32		code;
	code_class	class;
	const char *hint;			/* for CLASS_CREDENTIAL/ADMIN/APP */
	int			sqlstate;
}			api_codes[] =
{
	{70169, CLASS_TRANSIENT},
	{70202, CLASS_TRANSIENT},
	{70500, CLASS_TRANSIENT},
	{60008, CLASS_TRANSIENT},
	{60014, CLASS_TRANSIENT},
	{60007, CLASS_RATE_LIMITED},
	{60011, CLASS_RATE_LIMITED},
	{60018, CLASS_RATE_LIMITED},
	{60019, CLASS_RATE_LIMITED},
	{70001, CLASS_CREDENTIAL},	/* expired: see fatal_hint */
	{70002, CLASS_CREDENTIAL, CREDENTIAL_HINT},
	{70003, CLASS_CREDENTIAL, CREDENTIAL_HINT},
	{70005, CLASS_CREDENTIAL, CREDENTIAL_HINT},
	{70009, CLASS_CREDENTIAL, CREDENTIAL_HINT},
	{70013, CLASS_CREDENTIAL, CREDENTIAL_HINT},
	{70014, CLASS_CREDENTIAL, CREDENTIAL_HINT},
	{70016, CLASS_CREDENTIAL, CREDENTIAL_HINT},
	{70050, CLASS_CREDENTIAL, USERSIG_THROTTLED_HINT},	/* retrying now only prolongs it */
	{70052, CLASS_CREDENTIAL, CREDENTIAL_HINT},
	{60004, CLASS_CREDENTIAL, CREDENTIAL_HINT},
	{60005, CLASS_CREDENTIAL, CREDENTIAL_HINT},
	{70403, CLASS_ADMIN, ADMIN_HINT},
	{60010, CLASS_ADMIN, ADMIN_HINT},
	{60006, CLASS_APP, APP_ID_HINT},	/* SDKAppID invalid */
	{70020, CLASS_APP, APP_ID_HINT},	/* SDKAppID not found */
	{60012, CLASS_APP},			/* SDKAppID missing */
	{60016, CLASS_APP, NULL, ERRCODE_EXTERNAL_ROUTINE_EXCEPTION},	/* app disabled */
	{60020, CLASS_APP, NULL, ERRCODE_EXTERNAL_ROUTINE_EXCEPTION},	/* plan expired */
	{60021, CLASS_APP, NULL, ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION}, /* IP refused */
	{60025, CLASS_APP, REGION_HINT},	/* domain not in the app's data centre */
	{60026, CLASS_APP, REGION_HINT},	/* SDKAppID not in the domain's data centre */
	{60017, CLASS_APP, REQUEST_DISABLED_HINT, ERRCODE_EXTERNAL_ROUTINE_EXCEPTION},
	{60028, CLASS_APP, TRIAL_VOLUME_HINT, ERRCODE_PROGRAM_LIMIT_EXCEEDED},	/* until tomorrow */
	{70398, CLASS_APP, ACCOUNT_LIMIT_HINT, ERRCODE_PROGRAM_LIMIT_EXCEEDED},	/* no retry can help */
	{60002, CLASS_APP, NULL, ERRCODE_PROTOCOL_VIOLATION},	/* request not parsed */
	{60003, CLASS_APP, NULL, ERRCODE_PROTOCOL_VIOLATION},	/* body not parsed */
};

/*
 * What a class of answer raises with: an answer of the API is never a
 * connection failure.
 */
static int
class_sqlstate(code_class class)
{
	switch (class)
	{
		case CLASS_CREDENTIAL:
			return ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION;
		case CLASS_ADMIN:
			return ERRCODE_INSUFFICIENT_PRIVILEGE;
		case CLASS_APP:
			return ERRCODE_INVALID_PARAMETER_VALUE;	/* the settings name the app */
		case CLASS_CALL_FAILED:
		case CLASS_TRANSIENT:
		case CLASS_RATE_LIMITED:
			break;
	}
	return ERRCODE_EXTERNAL_ROUTINE_EXCEPTION;
}

/* The table's row for code, or -1. */
static int
find_code(int32 code)
{
	for (int i = 0; i < lengthof(api_codes); i++)
		if (api_codes[i].code == code)
			return i;
	return -1;
}

call_outcome
outcome_api_error(int32 code, const char *info)
{
	call_outcome out = {0};
	int			row = find_code(code);
	code_class	class = row < 0 ? CLASS_CALL_FAILED : api_codes[row].class;

	out.code = code;
	out.info = pstrdup(info && *info ? info : "(no ErrorInfo)");
	out.from_api = true;
	out.usersig_expired = code == 70001;
	out.sqlstate = row >= 0 && api_codes[row].sqlstate != 0 ? api_codes[row].sqlstate
		: class_sqlstate(class);
	switch (class)
	{
		case CLASS_CALL_FAILED:
			out.verdict = VERDICT_CALL_FAILED;
			break;
		case CLASS_TRANSIENT:
			out.verdict = VERDICT_TRANSIENT;
			out.reason = RETRY_API_TRANSIENT;
			break;
		case CLASS_RATE_LIMITED:
			out.verdict = VERDICT_TRANSIENT;
			out.reason = RETRY_API_RATE_LIMITED;
			break;
		case CLASS_CREDENTIAL:
		case CLASS_ADMIN:
		case CLASS_APP:
			out.verdict = VERDICT_FATAL;
			break;
	}
	return out;
}

/* A call answered with an HTTP status other than 200. */
static call_outcome
http_status_outcome(long status)
{
	call_outcome out = {0};

	out.code = (int32) -status;
	out.reason = RETRY_HTTP_STATUS;
	out.sqlstate = ERRCODE_CONNECTION_FAILURE;
	if (status >= 500 || status == 408 || status == 429)
	{
		/* the service or a gateway in front of it, busy or failing */
		out.verdict = VERDICT_TRANSIENT;
		out.info = psprintf("HTTP status %ld", status);
	}
	else if (status >= 200 && status < 300)
	{
		/* a success status with no answer to read: this call failed */
		out.verdict = VERDICT_TRANSIENT;
		out.reason = RETRY_BAD_RESPONSE;
		out.sqlstate = ERRCODE_PROTOCOL_VIOLATION;
		out.info = psprintf("HTTP status %ld", status);
	}
	else
	{
		/* anything else is our setup (a wrong endpoint, a proxy's refusal) */
		out.verdict = VERDICT_FATAL;
		if (status >= 300 && status < 400)
			out.info = psprintf("HTTP status %ld (redirects are not followed)", status);
		else
			out.info = psprintf("HTTP status %ld", status);
	}
	return out;
}

call_outcome
outcome_no_answer(int32 code, imcheck_retry_reason reason, char *info)
{
	call_outcome out = {0};

	out.verdict = VERDICT_TRANSIENT;
	out.code = code;
	out.reason = reason;
	out.info = info;
	/* an answer that came but cannot be read is not a broken connection */
	out.sqlstate = reason == RETRY_BAD_RESPONSE && code != IMCHECK_CODE_TRANSPORT
		? ERRCODE_PROTOCOL_VIOLATION : ERRCODE_CONNECTION_FAILURE;
	return out;
}

static const char *
fatal_hint(int32 code, const imcheck_config *cfg)
{
	int			row = find_code(code);

	if (code == 70001 && cfg->usersig_from_key)
		return "A freshly generated UserSig was refused as expired too: check the database server's clock.";
	if (code == 70001)
		return "The UserSig has expired: replace \"imcheck.usersig\", or set \"imcheck.secret_key_file\" so that imcheck generates and renews UserSigs.";
	if (row < 0 || api_codes[row].hint == NULL)
		return NULL;
	/* a credential's hint names where the credential comes from */
	if (api_codes[row].class == CLASS_CREDENTIAL)
		return psprintf(api_codes[row].hint, cfg->credential_source);
	return api_codes[row].hint;
}

/*
 * The call's random, by which Tencent's support finds it: the one part of
 * its URL that may be shown.
 */
static const char *
random_note(const call_outcome *out)
{
	return psprintf(" (random %u)", out->random);
}

#define RAISE_ON_ERROR_HINT "Call %s with raise_on_error => false to get the other results and this call's UserIDs as rows with its error."

/* Where the call went, for hints: its base URL, or all of them. */
static const char *
destination(const call_outcome *out, const imcheck_config *cfg)
{
	return out->base_url ? out->base_url : cfg->endpoints_shown;
}

#define PROXY_HINT "Check \"imcheck.proxy\" (calls go through %s), and that it runs and lets calls through to %s."

void
outcome_raise_fatal(const call_outcome *out, const imcheck_config *cfg)
{
	const char *hint;
	const char *where = destination(out, cfg);

	if (!out->from_api)
		ereport(ERROR,
				(errcode(out->sqlstate),
				 errmsg("could not call the IM API"),
				 errdetail_internal("imcheck code %d: %s%s", out->code, out->info, random_note(out)),
				 strncasecmp(where, "http://", 7) == 0
				 ? errhint("Check %s (calls go to %s), and that the server speaks plain HTTP.",
						   cfg->base_url_setting, where)
				 : errhint("Check %s (calls go to %s), \"imcheck.ca_file\", and that the server speaks HTTPS.",
						   cfg->base_url_setting, where)));
	hint = fatal_hint(out->code, cfg);
	ereport(ERROR,
			(errcode(out->sqlstate),
			 errmsg("the IM API refused the %s call", cfg->api->name),
			 errdetail_internal("ErrorCode %d: %s%s", out->code, out->info, random_note(out)),
			 hint ? errhint("%s", hint) : 0));
	pg_unreachable();
}

void
outcome_raise_call_failed(const call_outcome *out, int attempts,
						  const imcheck_config *cfg, bool never_connected,
						  bool others_answered)
{
	const char *hint = NULL;
	const char *where = destination(out, cfg);
	bool		at_proxy = out->proxy_failed || out->code == IMCHECK_CODE_PROXY_REFUSED;

	/* the rows of the other calls are worth having only if there are some */
	if (others_answered)
		hint = psprintf(RAISE_ON_ERROR_HINT, cfg->api->sql_function);
	else if (at_proxy)
		hint = psprintf(PROXY_HINT, cfg->proxy_shown, cfg->endpoints_shown);
	else if (never_connected && cfg->n_endpoints > 1)
		hint = psprintf("None of the servers at %s accepts connections: check %s, and that the servers run.",
						cfg->endpoints_shown, cfg->base_url_setting);
	else if (never_connected)
		hint = psprintf("The server at %s refuses connections: check %s, and that the server runs.",
						where, cfg->base_url_setting);
	else if (!out->from_api)
		hint = psprintf("Check %s: calls go to %s.", cfg->base_url_setting, where);
	ereport(ERROR,
			(errcode(out->sqlstate),
			 never_connected && at_proxy
			 ? errmsg_plural("could not reach the IM API through the proxy in %d attempt",
							 "could not reach the IM API through the proxy in %d attempts",
							 attempts, attempts)
			 : never_connected
			 ? errmsg_plural("could not connect to the IM API in %d attempt",
							 "could not connect to the IM API in %d attempts",
							 attempts, attempts)
			 : errmsg_plural("%s call failed after %d attempt",
							 "%s call failed after %d attempts",
							 attempts, cfg->api->name, attempts),
			 out->from_api
			 ? errdetail_internal("ErrorCode %d: %s%s", out->code, out->info, random_note(out))
			 : errdetail_internal("imcheck code %d: %s%s", out->code, out->info, random_note(out)),
			 hint ? errhint("%s", hint) : 0));
	pg_unreachable();
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
	safe = imcheck_server_text(cfg, copy, len);
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
header_line_too_long(CURLcode rc)
{
#if LIBCURL_VERSION_NUM >= 0x080600
	return rc == CURLE_TOO_LARGE;
#else
	return false;
#endif
}

/*
 * What a transfer that got no HTTP answer means (rc: libcurl's code): the
 * connection, the proxy, the answer's size, or a transport failure.
 */
static call_outcome
transfer_failure(imcheck_call *call, CURLcode rc, const imcheck_config *cfg)
{
	call_outcome out;

	if (call->stale_connection)
	{
		out = outcome_no_answer(IMCHECK_CODE_CONNECTION_BROKEN, RETRY_CONNECTION,
								pstrdup("the kept connection broke before an answer came"));
		out.stale_connection = true;
		return out;
	}
	if (cfg->proxy != NULL && proxy_failure(call, rc, cfg, &out))
		return out;
	if (call->header_too_large)
		return outcome_no_answer(IMCHECK_CODE_MALFORMED, RETRY_BAD_RESPONSE,
								 psprintf("the answer's header has more than %d lines or %d bytes",
										  CALL_MAX_HEADER_LINES, CALL_MAX_HEADER_BYTES));
	if (rc == CURLE_OUT_OF_MEMORY || header_line_too_long(rc))
	{
		/*
		 * Once the request is out, this is libcurl refusing a header line
		 * longer than its limit (libcurl before 8.6 says "out of memory"
		 * for it); a real lack of memory there looks the same, and the
		 * retry finds out.
		 */
		return outcome_no_answer(IMCHECK_CODE_MALFORMED, RETRY_BAD_RESPONSE,
								 pstrdup("a line of the answer's header is longer than libcurl accepts"));
	}
	if (call->answer_too_large || rc == CURLE_FILESIZE_EXCEEDED)
		return outcome_no_answer(IMCHECK_CODE_TOO_LARGE, RETRY_BAD_RESPONSE,
								 psprintf("the answer's body exceeds %d bytes",
										  CALL_MAX_ANSWER_BYTES));
	switch (rc)
	{
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_CONNECT:
			out = outcome_no_answer(IMCHECK_CODE_CONNECT_FAILED, RETRY_CONNECTION,
									transport_text(call, rc, cfg));
			out.unreachable = true;
			break;
		case CURLE_OPERATION_TIMEDOUT:
			out = outcome_no_answer(IMCHECK_CODE_TIMEOUT, RETRY_TIMEOUT,
									psprintf("no answer within %d ms", cfg->timeout_ms));
			break;
		case CURLE_GOT_NOTHING:
			out = outcome_no_answer(IMCHECK_CODE_CONNECTION_BROKEN, RETRY_CONNECTION,
									pstrdup("the server closed the connection without answering"));
			break;
		case CURLE_SEND_ERROR:
		case CURLE_RECV_ERROR:
		case CURLE_PARTIAL_FILE:
			out = outcome_no_answer(IMCHECK_CODE_CONNECTION_BROKEN, RETRY_CONNECTION,
									transport_text(call, rc, cfg));
			break;
		case CURLE_WEIRD_SERVER_REPLY:
		case CURLE_BAD_CONTENT_ENCODING:
		case CURLE_HTTP2:
		case CURLE_HTTP2_STREAM:
			out = outcome_no_answer(IMCHECK_CODE_TRANSPORT, RETRY_BAD_RESPONSE,
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
			out = outcome_no_answer(IMCHECK_CODE_TRANSPORT, RETRY_CONNECTION,
									transport_text(call, rc, cfg));
			out.verdict = VERDICT_FATAL;
			out.unreachable = rc == CURLE_PEER_FAILED_VERIFICATION;
			break;
		default:
			out = outcome_no_answer(IMCHECK_CODE_TRANSPORT, RETRY_CONNECTION,
									transport_text(call, rc, cfg));
			/*
			 * A TLS handshake answered in plain HTTP (OpenSSL: "wrong
			 * version number") is an https:// endpoint on an http server:
			 * no retry can fix it.  Other handshake failures may be a
			 * connection broken on the way, and are retried.
			 */
			if (rc == CURLE_SSL_CONNECT_ERROR && strstr(call->errbuf, "wrong version number"))
				out.verdict = VERDICT_FATAL;
			out.unreachable = rc == CURLE_SSL_CONNECT_ERROR;
			break;
	}
	return out;
}

/*
 * What a parsed answer means: VERDICT_DONE for PROTOCOL_OK, with its items
 * stored in the job's memory, else the FAIL's or the bad answer's outcome.
 */
static call_outcome
answer_outcome(const imcheck_config *cfg, imcheck_call *call)
{
	protocol_response resp;
	protocol_outcome parsed;
	call_outcome out = {0};

	parsed = cfg->api->parse_answer(call->answer.data, call->answer.len, call->ids,
									call->id_lens, call->n_ids, &resp);
	/* the parsed answer is malloc'd: freed whatever happens (out of memory) */
	PG_TRY();
	{
		switch (parsed)
		{
			case PROTOCOL_OK:
				{
					MemoryContext caller = MemoryContextSwitchTo(call->job->mcxt);
					const char *problem = imcheck_store_answer(cfg, call, &resp);

					MemoryContextSwitchTo(caller);
					out = problem == NULL ? (call_outcome) {.verdict = VERDICT_DONE}
						: outcome_no_answer(IMCHECK_CODE_MALFORMED, RETRY_BAD_RESPONSE,
											pstrdup(problem));
					break;
				}
			case PROTOCOL_FAIL:
				out = outcome_api_error(resp.error_code,
										imcheck_server_text(cfg, resp.error_info,
															strlen(resp.error_info)));
				break;
			case PROTOCOL_MALFORMED:
			case PROTOCOL_MISMATCH:
				out = outcome_no_answer(parsed == PROTOCOL_MALFORMED
										? IMCHECK_CODE_MALFORMED : IMCHECK_CODE_MISMATCH,
										RETRY_BAD_RESPONSE, pstrdup(resp.problem));
				break;
			case PROTOCOL_NO_MEMORY:
				imcheck_out_of_memory();
		}
	}
	PG_FINALLY();
	{
		protocol_response_free(&resp);
	}
	PG_END_TRY();
	return out;
}

call_outcome
outcome_of_call(const imcheck_config *cfg, imcheck_call *call, CURLcode rc)
{
	call_outcome out;
	long		connects = 0;
	long		status = 0;

	curl_easy_getinfo(call->easy, CURLINFO_NUM_CONNECTS, &connects);
	if (call->out_of_memory || (rc == CURLE_OUT_OF_MEMORY && !call->went_out))
		imcheck_out_of_memory();
	if (rc != CURLE_OK)
		out = transfer_failure(call, rc, cfg);
	else if (curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK ||
			 status != 200)
		out = http_status_outcome(status);
	else
		out = answer_outcome(cfg, call);
	out.connects = connects;
	return out;
}
