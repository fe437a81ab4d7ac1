/*
 * apis.c - the APIs the engine carries, each an imcheck_api (imcheck_int.h):
 * account_check, multiaccount_import and query_online_status.  The engine
 * and a call's transfer know nothing of any API's request or answer; each
 * descriptor names its path, its batch limit, its request builder and
 * answer parser (protocol*.c).  What a parsed answer's items say is stored
 * in the job by one function for all three (imcheck_store_answer).
 */
#include "postgres.h"

#include "engine_int.h"

/* account_check: whether accounts are imported. */

static int
build_check_request(const imcheck_call *call, protocol_buffer *out)
{
	return protocol_build_request(call->ids, call->id_lens, call->n_ids, out);
}

const imcheck_api imcheck_api_account_check = {
	.id = IMCHECK_API_ACCOUNT_CHECK,
	.name = "account_check",
	.sql_function = "im_account_check",
	.path = "/v4/im_open_login_svc/account_check",
	.max_batch = PROTOCOL_MAX_BATCH,
	.build_request = build_check_request,
	.parse_answer = protocol_parse_response,
};

/*
 * multiaccount_import: imports accounts, or updates the Nick and FaceUrl of
 * those that exist.
 */

static int
build_import_request(const imcheck_call *call, protocol_buffer *out)
{
	const imcheck_job *job = call->job;
	uint32		first = call->first;
	const char *nicks[PROTOCOL_MAX_IMPORT_BATCH];
	size_t		nick_lens[PROTOCOL_MAX_IMPORT_BATCH];
	const char *faces[PROTOCOL_MAX_IMPORT_BATCH];
	size_t		face_lens[PROTOCOL_MAX_IMPORT_BATCH];

	Assert(call->n_ids <= PROTOCOL_MAX_IMPORT_BATCH);
	for (uint32 i = 0; i < call->n_ids; i++)
	{
		const char *nick = job->nicks ? job->nicks[first + i] : NULL;
		const char *face = job->face_urls ? job->face_urls[first + i] : NULL;

		nicks[i] = nick ? VARDATA_ANY(nick) : NULL;
		nick_lens[i] = nick ? VARSIZE_ANY_EXHDR(nick) : 0;
		faces[i] = face ? VARDATA_ANY(face) : NULL;
		face_lens[i] = face ? VARSIZE_ANY_EXHDR(face) : 0;
	}
	return protocol_build_import_request(call->ids, call->id_lens, nicks, nick_lens,
										 faces, face_lens, call->n_ids, out);
}

const imcheck_api imcheck_api_account_import = {
	.id = IMCHECK_API_ACCOUNT_IMPORT,
	.name = "multiaccount_import",
	.sql_function = "im_account_import",
	.path = "/v4/im_open_login_svc/multiaccount_import",
	.max_batch = PROTOCOL_MAX_IMPORT_BATCH,
	.build_request = build_import_request,
	.parse_answer = protocol_parse_import_response,
};

/* query_online_status: who is online, on which platforms. */

static int
build_online_request(const imcheck_call *call, protocol_buffer *out)
{
	return protocol_build_online_request(call->ids, call->id_lens, call->n_ids, out);
}

/*
 * The Details made jsonb lately, by the text answered: a few platform
 * combinations recur, so most Details are made jsonb once, and share it.
 */
#define RECENT_DETAILS 8

typedef struct detail_cache
{
	struct
	{
		char	   *raw;		/* as answered */
		size_t		len;
		Datum		jsonb;		/* as stored; 0: not valid jsonb here */
	}			slot[RECENT_DETAILS];
	int			used;
	int			next;			/* the slot a new one takes when all are used */
} detail_cache;

/*
 * A Detail as stored: made safe to show, and then jsonb, or 0 when this
 * database's jsonb refuses it.  The answer's parser checked it is JSON, but
 * jsonb refuses more: \u0000, a lone surrogate, and outside UTF8 the escape
 * of a character the encoding lacks; and redaction may have changed it.
 */
static Datum
detail_jsonb(imcheck_job *job, const imcheck_config *cfg, const char *raw, size_t len)
{
	detail_cache *cache = job->details;
	int			k;
	char	   *text;

	if (cache == NULL)
		cache = job->details = palloc0(sizeof(detail_cache));
	for (k = 0; k < cache->used; k++)
		if (cache->slot[k].len == len && memcmp(cache->slot[k].raw, raw, len) == 0)
			return cache->slot[k].jsonb;
	if (cache->used < RECENT_DETAILS)
		k = cache->used++;
	else
	{
		k = cache->next;
		cache->next = (k + 1) % RECENT_DETAILS;
		pfree(cache->slot[k].raw);	/* (its jsonb stays: rows use it) */
	}
	cache->slot[k].raw = pnstrdup(raw, len);
	cache->slot[k].len = len;
	/* (text not valid in the database encoding becomes a stand-in, not JSON) */
	text = imcheck_server_text(cfg, raw, len);
	cache->slot[k].jsonb = text ? imcheck_jsonb_or_0(text) : (Datum) 0;
	if (text)
		pfree(text);
	return cache->slot[k].jsonb;
}

const imcheck_api imcheck_api_online_status = {
	.id = IMCHECK_API_ONLINE_STATUS,
	.name = "query_online_status",
	.sql_function = "im_query_online_status",
	.path = "/v4/openim/query_online_status",
	.max_batch = PROTOCOL_MAX_ONLINE_BATCH,
	.build_request = build_online_request,
	.parse_answer = protocol_parse_online_response,
};

/* The text of an account the service listed in FailAccounts. */
#define NOT_IMPORTED_INFO "the service did not import this account and gave no reason"

const char *
imcheck_store_answer(const imcheck_config *cfg, const imcheck_call *call,
					 const protocol_response *resp)
{
	imcheck_job *job = call->job;
	/* one text for the call's accounts that multiaccount_import refused */
	char	   *not_imported = NULL;

	for (uint32 i = 0; i < call->n_ids; i++)
	{
		const protocol_item_result *item = &resp->items[i];
		uint32		d = call->first + i;
		int32		code = item->result_code;
		char	   *info = imcheck_server_text(cfg, item->result_info, item->result_info_len);
		Datum		detail = 0;

		if (item->status == PROTOCOL_STATUS_NOT_IMPORTED &&
			cfg->api->id == IMCHECK_API_ACCOUNT_IMPORT)
		{
			code = IMCHECK_CODE_NOT_IMPORTED;
			info = not_imported ? not_imported : (not_imported = pstrdup(NOT_IMPORTED_INFO));
		}
		if (item->detail != NULL)
		{
			detail = detail_jsonb(job, cfg, item->detail, item->detail_len);
			if (detail == 0)
				return "a Detail is not valid jsonb in this database";
		}
		job_set_code(job, d, code);
		job->status[d] = (uint8) (item->result_code == 0 ? item->status : PROTOCOL_STATUS_NONE);
		job_set_info(job, d, info);
		job_set_detail(job, d, detail);
	}
	return NULL;
}

const imcheck_api *const imcheck_apis[IMCHECK_APIS] = {
	&imcheck_api_account_check,
	&imcheck_api_account_import,
	&imcheck_api_online_status,
};
