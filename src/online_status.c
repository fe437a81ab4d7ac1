/*
 * online_status.c - the API v4/openim/query_online_status: who is online,
 * on which platforms (see api.h).
 */
#include "postgres.h"

#include "mb/pg_wchar.h"

#include "api.h"
#include "call.h"
#include "engine.h"

static int
build_request(const imcheck_job *job, uint32 first, const imcheck_call *call,
			  protocol_buffer *out)
{
	return protocol_build_online_request(call->ids, call->id_lens, call->n_ids, out);
}

static call_outcome
read_answer(const imcheck_config *cfg, imcheck_job *job, uint32 first,
			const imcheck_call *call, const call_result *res)
{
	call_outcome out;
	protocol_response resp;

	out = call_outcome_of_parse(cfg,
								protocol_parse_online_response(res->body, res->body_len,
															   call->ids, call->id_lens,
															   call->n_ids, &resp),
								&resp);
	for (uint32 i = 0; out.verdict == VERDICT_DONE && i < call->n_ids; i++)
	{
		const protocol_item_result *item = &resp.items[i];
		uint32		d = first + i;

		job_set_code(job, d, item->result_code);
		job->status[d] = (uint8) item->status;
		if (item->detail == NULL)
			continue;
		/* valid JSON (the parser checked), to become jsonb in this database */
		if (!pg_verify_mbstr(GetDatabaseEncoding(), item->detail, (int) item->detail_len, true))
		{
			out = outcome_no_answer(IMCHECK_CODE_MALFORMED, RETRY_BAD_RESPONSE,
									pstrdup("a Detail is not valid in the database encoding"));
			break;
		}
		job_set_detail(job, d, job_recent_detail(job, item->detail, item->detail_len,
												 call_server_text, cfg));
	}
	protocol_response_free(&resp);
	return out;
}

const imcheck_api imcheck_api_online_status = {
	.id = IMCHECK_API_ONLINE_STATUS,
	.name = "query_online_status",
	.sql_function = "im_query_online_status",
	.path = "/v4/openim/query_online_status",
	.max_batch = PROTOCOL_MAX_ONLINE_BATCH,
	.rate_setting = "\"imcheck.online_status_rate_limit\"",
	.build_request = build_request,
	.read_answer = read_answer,
};
