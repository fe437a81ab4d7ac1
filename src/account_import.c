/*
 * account_import.c - the API v4/im_open_login_svc/multiaccount_import:
 * imports accounts, or updates the Nick and FaceUrl of those that exist
 * (see api.h).
 */
#include "postgres.h"

#include "api.h"
#include "call.h"
#include "engine.h"

/* The text of an account the service listed in FailAccounts. */
#define NOT_IMPORTED_INFO "the service did not import this account and gave no reason"

static int
build_request(const imcheck_job *job, uint32 first, const imcheck_call *call,
			  protocol_buffer *out)
{
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

static call_outcome
store_answer(const imcheck_config *cfg, imcheck_job *job, uint32 first,
			 const imcheck_call *call, const protocol_response *resp)
{
	call_outcome out = {.verdict = VERDICT_DONE};
	/* one text for the call's refused accounts */
	char	   *not_imported = pstrdup(NOT_IMPORTED_INFO);

	for (uint32 i = 0; i < call->n_ids; i++)
	{
		uint32		d = first + i;
		bool		refused = resp->items[i].status == PROTOCOL_STATUS_NOT_IMPORTED;

		job->status[d] = (uint8) resp->items[i].status;
		job_set_code(job, d, refused ? IMCHECK_CODE_NOT_IMPORTED : 0);
		job_set_info(job, d, refused ? not_imported : NULL);
	}
	return out;
}

const imcheck_api imcheck_api_account_import = {
	.id = IMCHECK_API_ACCOUNT_IMPORT,
	.name = "multiaccount_import",
	.sql_function = "im_account_import",
	.path = "/v4/im_open_login_svc/multiaccount_import",
	.max_batch = PROTOCOL_MAX_IMPORT_BATCH,
	.build_request = build_request,
	.parse_answer = protocol_parse_import_response,
	.store_answer = store_answer,
};
