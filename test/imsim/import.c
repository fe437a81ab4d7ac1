/*
 * import.c - what is particular to POST
 * /v4/im_open_login_svc/multiaccount_import: its body (AccountList, 1..100
 * objects with a string UserID and optional string Nick and FaceUrl; or the
 * older Accounts, 1..100 strings), the fail rule, its effect (the accounts
 * it imports go into the account store, within --account-limit) and its
 * OK answer, which lists the accounts not imported in FailAccounts.  The
 * rest of the call is shared: query.c, apicall.c.
 */
#include "imsim.h"

#include <string.h>

/* AccountList wins over Accounts when a body has both (checkbody.h) */
static const checkbody_spec body = {
	.lists = {
		{"AccountList", CHECKBODY_OBJECTS, "UserID", {"Nick", "FaceUrl"}},
		{"Accounts", CHECKBODY_STRINGS, NULL, {NULL, NULL}},
	},
	.max_items = 100,
};

/*
 * The fail rule: a UserID that is not imported (and so is listed in
 * FailAccounts): empty, longer than the service allows, or beginning with
 * "reject", so that a test can ask for a failure by name.
 */
static int
refused(const char *id, size_t len)
{
	return len == 0 || len > PROTOCOL_MAX_USERID_BYTES ||
		(len >= 6 && memcmp(id, "reject", 6) == 0);
}

/*
 * Imports the call's accounts that the fail rule lets through, all or none:
 * 70398 when the new ones would go beyond the account limit.  Nick and
 * FaceUrl were checked by the body checks; nothing in imsim reads them back,
 * so they are not kept.
 */
static int32_t
effect(const api_call *call, const char **info)
{
	const char *ids[MAX_ITEMS];
	size_t		lens[MAX_ITEMS];
	size_t		n = 0;
	int64_t		limit;

	for (size_t i = 0; i < call->n; i++)
		if (!refused(call->ids[i], call->lens[i]))
		{
			ids[n] = call->ids[i];
			lens[n++] = call->lens[i];
		}
	/* read apart from the store's lock: no lock is taken inside another */
	pthread_mutex_lock(&runtime.lock);
	limit = runtime.account_limit;
	pthread_mutex_unlock(&runtime.lock);
	switch (accounts_import(ids, lens, n, limit))
	{
		case 0:
			return 0;
		case 1:
			*info = error_info_for(70398);
			return 70398;
		default:
			*info = error_info_for(70500);
			return 70500;
	}
}

/*
 * The OK answer: FailAccounts lists the refused UserIDs in request order
 * (each time they appear), except one left out when edit->drop, and
 * edit->extra added last.
 */
static int
build(protocol_buffer *b, const api_call *call, const answer_edit *edit)
{
	size_t		nfail = 0;
	size_t		skip = SIZE_MAX;
	size_t		k = 0;
	int			first = 1;

	for (size_t i = 0; i < call->n; i++)
		nfail += (size_t) refused(call->ids[i], call->lens[i]);
	if (edit->drop && nfail > 0)
		skip = edit->drop_aux % nfail;
	if (protocol_buffer_reserve(b, 80 + nfail * 72) != 0 ||
		LIT(b, "{\"ActionStatus\":\"OK\",\"ErrorCode\":0,\"ErrorInfo\":\"\",\"FailAccounts\":[") != 0)
		return -1;
	for (size_t i = 0; i < call->n; i++)
	{
		if (!refused(call->ids[i], call->lens[i]) || k++ == skip)
			continue;
		if ((!first && LIT(b, ",") != 0) ||
			protocol_buffer_append_json_string(b, call->ids[i], call->lens[i]) != 0)
			return -1;
		first = 0;
	}
	if (edit->extra != NULL &&
		((!first && LIT(b, ",") != 0) ||
		 protocol_buffer_append_json_string(b, edit->extra,
											strlen(edit->extra)) != 0))
		return -1;
	return LIT(b, "]}");
}

const api_def import_api = {
	.name = "multiaccount_import",
	.path = "/v4/im_open_login_svc/multiaccount_import",
	.body = &body,
	.list_member = "FailAccounts",
	.effect = effect,
	.build = build,
};
