/*
 * online_status.c - the API v4/openim/query_online_status: who is online,
 * on which platforms (see api.h).
 */
#include "postgres.h"

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"

#include "api.h"
#include "call.h"
#include "compat.h"
#include "engine.h"

static int
build_request(const imcheck_job *job, uint32 first, const imcheck_call *call,
			  protocol_buffer *out)
{
	return protocol_build_online_request(call->ids, call->id_lens, call->n_ids, out);
}

/*
 * A Detail as stored: made safe to show, and valid jsonb in this database,
 * or NULL.  The answer's parser checked it is JSON, but jsonb refuses more:
 * \u0000, a lone surrogate, and outside UTF8 the escape of a character the
 * encoding lacks; and redaction may have changed the text.  PostgreSQL's
 * own JSON lexer says so without raising.
 */
static char *
detail_text(const imcheck_config *cfg, const char *raw, size_t len)
{
	/* (text not valid in the database encoding becomes a stand-in, not JSON) */
	char	   *text = call_server_text(cfg, raw, len);

	if (text == NULL ||
		pg_parse_json(imcheck_json_lexer(text, strlen(text)), &nullSemAction) != JSON_SUCCESS)
		return NULL;
	return text;
}

static call_outcome
store_answer(const imcheck_config *cfg, imcheck_job *job, uint32 first,
			 const imcheck_call *call, const protocol_response *resp)
{
	call_outcome out = {.verdict = VERDICT_DONE};

	for (uint32 i = 0; i < call->n_ids; i++)
	{
		const protocol_item_result *item = &resp->items[i];
		uint32		d = first + i;
		char	   *detail = NULL;

		if (item->detail != NULL)
		{
			detail = job_recent_detail(job, item->detail, item->detail_len,
									   detail_text, cfg);
			/* the call's items stored so far are overwritten by its retry */
			if (detail == NULL)
				return outcome_no_answer(IMCHECK_CODE_MALFORMED, RETRY_BAD_RESPONSE,
										 pstrdup("a Detail is not valid jsonb in this database"));
		}
		job_set_code(job, d, item->result_code);
		job->status[d] = (uint8) item->status;
		job_set_detail(job, d, detail);
	}
	return out;
}

const imcheck_api imcheck_api_online_status = {
	.id = IMCHECK_API_ONLINE_STATUS,
	.name = "query_online_status",
	.sql_function = "im_query_online_status",
	.path = "/v4/openim/query_online_status",
	.max_batch = PROTOCOL_MAX_ONLINE_BATCH,
	.build_request = build_request,
	.parse_answer = protocol_parse_online_response,
	.store_answer = store_answer,
};
