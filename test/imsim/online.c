/*
 * online.c - what is particular to POST /v4/openim/query_online_status:
 * its body (To_Account, 1..500 strings; IsNeedDetail 0 or 1), the online
 * rule, and its OK answer: a QueryResult entry for each Imported account,
 * an ErrorList entry (70107) for each other one.  The rest of the call is
 * shared: query.c, apicall.c.
 */
#include "imsim.h"

#include <string.h>

#define ONLINE_MAX_ITEMS 500

/* the parser writes up to max_items IDs into an api_call */
_Static_assert(ONLINE_MAX_ITEMS <= MAX_ITEMS, "MAX_ITEMS is too small");

static const checkbody_spec body = {
	.lists = {{"To_Account", CHECKBODY_STRINGS, NULL, {NULL, NULL}}},
	.max_items = ONLINE_MAX_ITEMS,
	.int_key = "IsNeedDetail",
	.int_min = 0,
	.int_max = 1,
};

typedef enum presence
{
	PRESENCE_ERROR = 0,			/* not Imported: ErrorList, 70107 */
	PRESENCE_ONLINE,
	PRESENCE_PUSH_ONLINE,
	PRESENCE_OFFLINE
} presence;

static const char *const status_text[] = {
	[PRESENCE_ONLINE] = "Online",
	[PRESENCE_PUSH_ONLINE] = "PushOnline",
	[PRESENCE_OFFLINE] = "Offline",
};

static const char *const detail_text[] = {
	[PRESENCE_ONLINE] = "[{\"Platform\":\"iPhone\",\"Status\":\"Online\"}]",
	[PRESENCE_PUSH_ONLINE] = "[{\"Platform\":\"Android\",\"Status\":\"PushOnline\"}]",
	[PRESENCE_OFFLINE] = "[]",
};

/*
 * The online rule: an Imported account's status is told by its last byte,
 * so that a test picks it by name (with the even rule, Imported IDs end in
 * 0 2 4 6 8 and so are all online one way or the other).
 */
static presence
presence_of(const char *id, size_t len)
{
	if (len == 0 || len > PROTOCOL_MAX_USERID_BYTES || !is_imported(id, len))
		return PRESENCE_ERROR;
	switch (id[len - 1])
	{
		case '0':
		case '4':
		case '8':
			return PRESENCE_ONLINE;
		case '2':
		case '6':
			return PRESENCE_PUSH_ONLINE;
		default:
			return PRESENCE_OFFLINE;
	}
}

/* One QueryResult entry; *first says whether it is the list's first. */
static int
append_result(protocol_buffer *b, const char *id, size_t len, presence p,
			  int detail, int *first)
{
	const char *st = status_text[p];

	if ((!*first && LIT(b, ",") != 0) ||
		LIT(b, "{\"To_Account\":") != 0 ||
		protocol_buffer_append_json_string(b, id, len) != 0 ||
		LIT(b, ",\"Status\":\"") != 0 ||
		protocol_buffer_append(b, st, strlen(st)) != 0 ||
		LIT(b, "\"") != 0)
		return -1;
	*first = 0;
	if (detail && (LIT(b, ",\"Detail\":") != 0 ||
				   protocol_buffer_append(b, detail_text[p],
										  strlen(detail_text[p])) != 0))
		return -1;
	return LIT(b, "}");
}

/*
 * The OK answer: QueryResult (always) and ErrorList (when not empty), each
 * in request order; edit->drop leaves out one QueryResult entry (one
 * ErrorList entry when QueryResult is empty), edit->extra adds an Offline
 * entry to QueryResult.
 */
static int
build(protocol_buffer *b, const api_call *call, const answer_edit *edit)
{
	unsigned char pr[MAX_ITEMS];
	size_t		nq = 0,
				ne = 0,
				skip_q = SIZE_MAX,
				skip_e = SIZE_MAX,
				k = 0;
	int			detail = call->detail == 1;
	int			first = 1;

	/* once per ID: the store may change while we write (imports) */
	for (size_t i = 0; i < call->n; i++)
	{
		pr[i] = (unsigned char) presence_of(call->ids[i], call->lens[i]);
		if (pr[i] == PRESENCE_ERROR)
			ne++;
		else
			nq++;
	}
	if (edit->drop && nq > 0)
		skip_q = edit->drop_aux % nq;
	else if (edit->drop && ne > 0)
		skip_e = edit->drop_aux % ne;
	if (protocol_buffer_reserve(b, 96 + call->n * (detail ? 120 : 72)) != 0 ||
		LIT(b, "{\"ActionStatus\":\"OK\",\"ErrorCode\":0,\"ErrorInfo\":\"\",\"QueryResult\":[") != 0)
		return -1;
	for (size_t i = 0; i < call->n; i++)
	{
		if (pr[i] == PRESENCE_ERROR || k++ == skip_q)
			continue;
		if (append_result(b, call->ids[i], call->lens[i], (presence) pr[i],
						  detail, &first) != 0)
			return -1;
	}
	if (edit->extra != NULL &&
		append_result(b, edit->extra, strlen(edit->extra), PRESENCE_OFFLINE,
					  detail, &first) != 0)
		return -1;
	if (LIT(b, "]") != 0)
		return -1;
	if (ne > (skip_e != SIZE_MAX ? 1u : 0u))
	{
		if (LIT(b, ",\"ErrorList\":[") != 0)
			return -1;
		first = 1;
		k = 0;
		for (size_t i = 0; i < call->n; i++)
		{
			if (pr[i] != PRESENCE_ERROR || k++ == skip_e)
				continue;
			if ((!first && LIT(b, ",") != 0) ||
				LIT(b, "{\"To_Account\":") != 0 ||
				protocol_buffer_append_json_string(b, call->ids[i], call->lens[i]) != 0 ||
				LIT(b, ",\"ErrorCode\":70107}") != 0)
				return -1;
			first = 0;
		}
		if (LIT(b, "]") != 0)
			return -1;
	}
	return LIT(b, "}");
}

const api_def online_api = {
	.name = "query_online_status",
	.path = "/v4/openim/query_online_status",
	.body = &body,
	.list_member = "QueryResult",
	.effect = NULL,
	.build = build,
};
