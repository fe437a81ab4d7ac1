/*
 * account_check.c - what is particular to POST
 * /v4/im_open_login_svc/account_check: its body ({"CheckItem":[{"UserID":
 * "..."},...]}, 1..100 items) and its OK answer, one ResultItem per UserID
 * with its AccountStatus from the account store.  The rest of the call
 * (query checks, rate limit, faults, delay) is shared: query.c, apicall.c.
 */
#include "imsim.h"

#include <string.h>

static const checkbody_spec body = {
	.lists = {{"CheckItem", CHECKBODY_OBJECTS, "UserID", {NULL, NULL}}},
	.max_items = 100,
};

/*
 * The OK answer: one ResultItem per UserID in order, except one left out
 * when edit->drop, and one more NotImported item for edit->extra.
 */
static int
build(protocol_buffer *b, const api_call *call, const answer_edit *edit)
{
	size_t		skip = edit->drop ? edit->drop_aux % call->n : SIZE_MAX;
	int			first = 1;

	if (protocol_buffer_reserve(b, 64 + call->n * 96) != 0 ||
		LIT(b, "{\"ActionStatus\":\"OK\",\"ErrorCode\":0,\"ErrorInfo\":\"\",\"ResultItem\":[") != 0)
		return -1;
	for (size_t i = 0; i < call->n; i++)
	{
		const char *id = call->ids[i];
		size_t		len = call->lens[i];
		int			r;

		if (i == skip)
			continue;
		if (!first && LIT(b, ",") != 0)
			return -1;
		first = 0;
		if (LIT(b, "{\"UserID\":") != 0 ||
			protocol_buffer_append_json_string(b, id, len) != 0)
			return -1;
		if (len == 0)
			r = LIT(b, ",\"ResultCode\":70402,\"ResultInfo\":\"invalid UserID: empty\"}");
		else if (len > PROTOCOL_MAX_USERID_BYTES)
			r = LIT(b, ",\"ResultCode\":70402,\"ResultInfo\":\"invalid UserID: longer than 32 bytes\"}");
		else if (is_imported(id, len))
			r = LIT(b, ",\"ResultCode\":0,\"ResultInfo\":\"\",\"AccountStatus\":\"Imported\"}");
		else
			r = LIT(b, ",\"ResultCode\":0,\"ResultInfo\":\"\",\"AccountStatus\":\"NotImported\"}");
		if (r != 0)
			return -1;
	}
	if (edit->extra != NULL)
	{
		if ((!first && LIT(b, ",") != 0) ||
			LIT(b, "{\"UserID\":") != 0 ||
			protocol_buffer_append_json_string(b, edit->extra,
											   strlen(edit->extra)) != 0 ||
			LIT(b, ",\"ResultCode\":0,\"ResultInfo\":\"\",\"AccountStatus\":\"NotImported\"}") != 0)
			return -1;
	}
	return LIT(b, "]}");
}

const api_def account_check_api = {
	.name = "account_check",
	.path = "/v4/im_open_login_svc/account_check",
	.body = &body,
	.list_member = "ResultItem",
	.effect = NULL,
	.build = build,
};
