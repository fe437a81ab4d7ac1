/*
 * account_check.c - the answer reader of account_check (see account_check.h).
 */
#include "postgres.h"

#include "account_check.h"
#include "protocol.h"

/* result_info is allocated only once some ID has a non-empty text */
static void
ensure_result_info(imcheck_job *job)
{
	if (job->result_info == NULL)
		job->result_info = palloc0(sizeof(char *) * job->n);
}

/* result_code likewise, once some ID has a code other than 0 */
static void
set_result_code(imcheck_job *job, uint32 d, int32 code)
{
	if (code == 0 && job->result_code == NULL)
		return;
	if (job->result_code == NULL)
		job->result_code = palloc0(sizeof(int32) * job->n);
	job->result_code[d] = code;
}

static void
store_results(const imcheck_config *cfg, imcheck_job *job, uint32 first,
			  const imcheck_call *call, const protocol_response *resp)
{
	for (uint32 i = 0; i < call->n_ids; i++)
	{
		const protocol_item_result *item = &resp->items[i];
		uint32		d = first + i;

		set_result_code(job, d, item->result_code);
		job->status[d] = (uint8) (item->result_code == 0 ? item->status
								  : PROTOCOL_STATUS_NONE);
		if (item->result_info_len > 0)
		{
			ensure_result_info(job);
			job->result_info[d] = call_server_text(cfg, item->result_info,
												   item->result_info_len);
		}
	}
}

call_outcome
account_check_read_answer(const imcheck_config *cfg, imcheck_job *job, uint32 first,
						  const imcheck_call *call, const call_result *res)
{
	call_outcome out = {0};
	protocol_response resp;

	if (!res->answered)
		return res->failure;
	if (res->status != 200)
		return outcome_http_status(res->status);

	switch (protocol_parse_response(res->body, res->body_len, call->ids,
									call->id_lens, call->n_ids, &resp))
	{
		case PROTOCOL_OK:
			store_results(cfg, job, first, call, &resp);
			out.verdict = VERDICT_DONE;
			break;
		case PROTOCOL_FAIL:
			out = outcome_api_error(resp.error_code,
									call_server_text(cfg, resp.error_info,
													 strlen(resp.error_info)));
			break;
		case PROTOCOL_MALFORMED:
			out = outcome_no_answer(IMCHECK_CODE_MALFORMED, RETRY_BAD_RESPONSE,
									pstrdup(resp.problem));
			break;
		case PROTOCOL_MISMATCH:
			out = outcome_no_answer(IMCHECK_CODE_MISMATCH, RETRY_BAD_RESPONSE,
									pstrdup(resp.problem));
			break;
		case PROTOCOL_NO_MEMORY:
			protocol_response_free(&resp);
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory")));
	}
	protocol_response_free(&resp);

	return out;
}

void
account_check_fail_ids(imcheck_job *job, uint32 first, uint32 n, const call_outcome *out)
{
	ensure_result_info(job);
	for (uint32 i = 0; i < n; i++)
	{
		set_result_code(job, first + i, out->code);
		job->status[first + i] = PROTOCOL_STATUS_NONE;
		job->result_info[first + i] = out->info;
	}
}
