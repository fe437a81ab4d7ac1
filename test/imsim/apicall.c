/*
 * apicall.c - an API call of imsim, whichever API: once the request is
 * complete, the body checks, the API's rate limit, the fault draw, the
 * API's effect (multiaccount_import's) and the delay, then the answer they
 * make, faulted the same way for every API.  What differs between the
 * APIs (path, body spec, effect, OK answer) is in account_check.c,
 * import.c and online.c; the query checks are query.c's.  README.md has
 * the checks in their order.
 */
#include "imsim.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const api_def *const apis[NAPIS] = {
	[API_ACCOUNT_CHECK] = &account_check_api,
	[API_IMPORT] = &import_api,
	[API_ONLINE] = &online_api,
};

/* The API served at path, or -1. */
int
api_find_path(const char *path)
{
	for (int i = 0; i < NAPIS; i++)
		if (strcmp(apis[i]->path, path) == 0)
			return i;
	return -1;
}

/* The API of that name ("account_check", ...), or -1. */
int
api_find_name(const char *name)
{
	for (int i = 0; i < NAPIS; i++)
		if (strcmp(apis[i]->name, name) == 0)
			return i;
	return -1;
}

/* An API's name; "" for anything else (fault_api -1: every API). */
const char *
api_name(int api)
{
	return api >= 0 && api < NAPIS ? apis[api]->name : "";
}

/*
 * Body checks 15-20: 0 with *call filled, else the ErrorCode and *info.
 * The texts are made from the spec, so that every API words them alike.
 */
static int32_t
check_body(const api_def *api, char *body, size_t len, api_call *call,
		   const char **info, char *buf, size_t buflen)
{
	const checkbody_spec *spec = api->body;
	checkbody_out out = {call->ids, call->lens, 0, -1, 0, 0, 0};
	checkbody_result r = checkbody_parse(body, len, spec, &out);
	const checkbody_list *l = out.list >= 0 ? &spec->lists[out.list] : NULL;

	*info = buf;
	switch (r)
	{
		case CHECKBODY_OK:
			call->n = out.n;
			call->detail = out.int_present ? out.int_value : 0;
			return 0;
		case CHECKBODY_NOT_JSON:
			*info = "request body is not valid JSON";
			return 60003;
		case CHECKBODY_NO_LIST:
			if (spec->lists[1].name != NULL)
				snprintf(buf, buflen, "%s or %s is missing",
						 spec->lists[0].name, spec->lists[1].name);
			else
				snprintf(buf, buflen, "%s is missing", spec->lists[0].name);
			break;
		case CHECKBODY_NOT_ARRAY:
			snprintf(buf, buflen, "%s is not an array", l->name);
			break;
		case CHECKBODY_EMPTY:
			snprintf(buf, buflen, "%s is empty", l->name);
			break;
		case CHECKBODY_TOO_MANY:
			snprintf(buf, buflen, "%s has more than %zu items", l->name,
					 spec->max_items);
			break;
		case CHECKBODY_BAD_ITEM:
			if (l->kind == CHECKBODY_STRINGS)
				snprintf(buf, buflen, "%s[%zu] is not a string", l->name, out.bad);
			else if (l->opt_keys[0] != NULL)
				snprintf(buf, buflen,
						 "%s[%zu] is not an object with a string %s (and %s, %s, if given, strings)",
						 l->name, out.bad, l->id_key, l->opt_keys[0],
						 l->opt_keys[1] ? l->opt_keys[1] : "");
			else
				snprintf(buf, buflen, "%s[%zu] is not an object with a string %s",
						 l->name, out.bad, l->id_key);
			break;
		case CHECKBODY_BAD_INT:
			snprintf(buf, buflen, "%s must be an integer in %" PRId64 "..%" PRId64,
					 spec->int_key, spec->int_min, spec->int_max);
			break;
	}
	return 70402;
}

/*
 * Does the call still take effect (import its accounts) under this fault?
 * Yes when the fault only damages the answer the service made; no when
 * the fault stands for a call that failed or never got to the service.
 */
static int
fault_keeps_effect(fault_kind k)
{
	return k == FK_NONE || k == FK_MALFORMED || k == FK_TRUNCATED ||
		k == FK_MISSING_ITEM || k == FK_EXTRA_ITEM;
}

static const char BAD_GATEWAY_BODY[] =
"<html><head><title>502 Bad Gateway</title></head><body>502 Bad Gateway (imsim)</body></html>\n";

/*
 * The answer made by the call (code 0: the API's OK answer, else a
 * whole-call FAIL), damaged as an answer-damaging fault f says.
 * *code_key becomes the fault's name where the answer has no ErrorCode.
 */
static int
build_answer(const api_def *api, protocol_buffer *b, const api_call *call,
			 int32_t code, const char *info, fault f, uint64_t aux,
			 uint64_t extra_no, char *code_key, size_t keylen)
{
	char		extra[48];
	answer_edit edit = {f.kind == FK_MISSING_ITEM, aux, NULL};
	int			r;

	if (f.kind == FK_EXTRA_ITEM)
	{
		snprintf(extra, sizeof(extra), "imsim-extra-%" PRIu64, extra_no);
		edit.extra = extra;
	}
	/* a FAIL answer (import over the account limit) has no list to edit */
	r = code == 0 ? api->build(b, call, &edit) : build_fail(b, code, info);
	if (r != 0)
		return -1;
	if (f.kind == FK_MALFORMED)
	{
		/* "List": -> "List"= : the rest is intact */
		const char *member = code == 0 ? api->list_member : "ErrorInfo";
		char		pat[40];
		char	   *p;

		snprintf(pat, sizeof(pat), "\"%s\":", member);
		p = strstr(b->data, pat);
		if (p != NULL)
			p[strlen(pat) - 1] = '=';
		snprintf(code_key, keylen, "malformed");
	}
	else if (f.kind == FK_TRUNCATED)
	{
		/* any proper prefix of a JSON object is invalid JSON */
		b->len = 1 + (size_t) (aux % (b->len - 1));
		snprintf(code_key, keylen, "truncated");
	}
	return 0;
}

/*
 * The request is complete: decide the answer (checks, rate limit, fault,
 * effect, delay), record it, then answer now or suspend until the delay is
 * over.
 */
enum MHD_Result
finish_api(struct MHD_Connection *conn, req_ctx *rc, int early)
{
	const api_def *api = apis[rc->api];
	api_call	call;
	int32_t		code = rc->fail_code;
	const char *info = rc->fail_info;
	char		infobuf[160];
	fault		f = {.kind = FK_NONE};
	uint64_t	delay_ms = 0;
	uint64_t	aux = 0;
	uint64_t	extra_no = 0;
	char		code_key[24];
	protocol_buffer b = {0};

	call.n = 0;
	call.detail = 0;
	if (code == 0 && rc->too_big)
	{
		code = 60003;
		snprintf(infobuf, sizeof(infobuf),
				 "request body is larger than %zu bytes", fixed.max_body);
		info = infobuf;
	}
	if (code == 0)
		code = check_body(api, rc->body, rc->body_len, &call, &info,
						  infobuf, sizeof(infobuf));

	/* rate limit, fault draw, delay: one critical section */
	pthread_mutex_lock(&runtime.lock);
	if (code == 0)
	{
		if (!ratelimit_admit(rc->api, rc->arrived_ns))
		{
			code = 60007;
			info = error_info_for(60007);
		}
		else if (runtime.fault_api < 0 || runtime.fault_api == rc->api)
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

	/* the accepted call's effect, unless the fault says it failed */
	if (code == 0 && api->effect != NULL && fault_keeps_effect(f.kind))
		code = api->effect(&call, &info);

	/* build the answer */
	snprintf(code_key, sizeof(code_key), "%" PRId32, code);
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
		case FK_NONE:
			if (code != 0)
			{
				set_fail(rc, code, info);
				break;
			}
			/* FALLTHROUGH */
		case FK_MALFORMED:
		case FK_TRUNCATED:
		case FK_MISSING_ITEM:
		case FK_EXTRA_ITEM:
			if (build_answer(api, &b, &call, code, info, f, aux, extra_no,
							 code_key, sizeof(code_key)) != 0)
			{
				protocol_buffer_free(&b);
				set_fail(rc, 70500, error_info_for(70500));
				snprintf(code_key, sizeof(code_key), "70500");
			}
			else
				set_answer(rc, MHD_HTTP_OK, &b);
			break;
	}
	stats_record(rc->api, code_key, f.kind != FK_NONE ? f.name : NULL,
				 call.ids, call.lens,
				 (code == 0 && f.kind == FK_NONE) ? call.n : 0);

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
	return deliver(conn, rc);
}
