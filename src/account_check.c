/*
 * account_check.c - the API v4/im_open_login_svc/account_check: whether
 * accounts are imported (see api.h).
 */
#include "postgres.h"

#include "api.h"
#include "call.h"
#include "engine.h"

static int
build_request(const imcheck_job *job, uint32 first, const imcheck_call *call,
			  protocol_buffer *out)
{
	return protocol_build_request(call->ids, call->id_lens, call->n_ids, out);
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

		job_set_code(job, d, item->result_code);
		job->status[d] = (uint8) (item->result_code == 0 ? item->status
								  : PROTOCOL_STATUS_NONE);
		job_set_info(job, d, item->result_info_len == 0 ? NULL
					 : call_server_text(cfg, item->result_info, item->result_info_len));
	}
	return out;
}

const imcheck_api imcheck_api_account_check = {
	.id = IMCHECK_API_ACCOUNT_CHECK,
	.name = "account_check",
	.sql_function = "im_account_check",
	.path = "/v4/im_open_login_svc/account_check",
	.max_batch = PROTOCOL_MAX_BATCH,
	.build_request = build_request,
	.parse_answer = protocol_parse_response,
	.store_answer = store_answer,
};

const imcheck_api *const imcheck_apis[IMCHECK_APIS] = {
	&imcheck_api_account_check,
	&imcheck_api_account_import,
	&imcheck_api_online_status,
};
