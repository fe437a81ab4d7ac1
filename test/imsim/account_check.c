/*
 * account_check.c - imsim's API call, POST
 * /v4/im_open_login_svc/account_check: the query checks (when the headers
 * arrive), then the body checks, the rate limit, the fault draw and the
 * delay (when the body is complete), and the answer they make.  README.md
 * has the checks in their order; doc/api.md the real service's API.
 */
#include "imsim.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "checkbody.h"

/* A query parameter (URL-decoded, the first when repeated); 0 if absent. */
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
void
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
 * The OK answer: one ResultItem per UserID in order, except ids[skip]
 * (SIZE_MAX: none), and one more NotImported item for extra (NULL: none).
 */
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

/*
 * The request is complete: decide the answer (checks, rate limit, fault,
 * delay), record it, then answer now or suspend until the delay is over.
 */
enum MHD_Result
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
	pthread_mutex_lock(&runtime.lock);
	if (code == 0)
	{
		if (!ratelimit_admit(mono_ns()))
		{
			code = 60007;
			info = error_info_for(60007);
			n = 0;
		}
		else
			f = fault_draw();
	}
	if (f.kind == FK_STALL)
		delay_ms = (uint64_t) runtime.stall_ms;
	else
	{
		int64_t		d = runtime.latency_ms;

		if (runtime.jitter_ms > 0)
			d += (int64_t) rng_below(&runtime.rng_aux,
									 (uint64_t) (2 * runtime.jitter_ms + 1)) -
				runtime.jitter_ms;
		delay_ms = d > 0 ? (uint64_t) d : 0;
	}
	if (f.kind == FK_TRUNCATED || f.kind == FK_MISSING_ITEM)
		aux = rng_next(&runtime.rng_aux);
	if (f.kind == FK_EXTRA_ITEM)
		extra_no = ++runtime.extra_counter;
	pthread_mutex_unlock(&runtime.lock);

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
