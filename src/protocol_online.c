/*
 * protocol_online.c - the query_online_status wire format (see protocol.h).
 *
 * The answer splits the asked accounts in two lists: QueryResult (their
 * Status, and Detail by platform) and ErrorList (those it could not query,
 * with an ErrorCode each, e.g. 70107 for an account not imported).
 */
#include "protocol.h"

#include "protocol_scan.h"

int
protocol_build_online_request(const char *const *ids, const size_t *id_lens,
							  size_t n, protocol_buffer *out)
{
	static const char head[] = "{\"To_Account\":[";
	static const char tail[] = "],\"IsNeedDetail\":1}";

	if (protocol_buffer_append(out, head, sizeof(head) - 1) != 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((i > 0 && protocol_buffer_append(out, ",", 1) != 0) ||
			protocol_buffer_append_json_string(out, ids[i], id_lens[i]) != 0)
			return -1;
	return protocol_buffer_append(out, tail, sizeof(tail) - 1);
}

/* One entry of QueryResult or ErrorList, its members each at most once. */
typedef struct entry_fields
{
	int			is_object;
	int			in_error_list;
	string_member account;
	string_member status;
	int32_member code;
	int			seen_detail;
	const char *detail;			/* the value as sent */
	size_t		detail_len;
} entry_fields;

typedef struct online_fields
{
	int			result_state;	/* QueryResult: 0 absent, 1 an array, 2 not one */
	int			errors_state;	/* ErrorList likewise */
	size_t		n_entries;		/* of both lists, counted past the ones kept */
	entry_fields entries[PROTOCOL_MAX_ONLINE_BATCH];
} online_fields;

static int
read_entry_member(jsonscan_cursor *c, member_name name, void *state)
{
	entry_fields *e = state;
	const char *start = c->p;
	int			rc;

	switch (name)
	{
		case MEMBER_TO_ACCOUNT:
			return protocol_read_string_member(c, &e->account);
		case MEMBER_STATUS:
			return protocol_read_string_member(c, &e->status);
		case MEMBER_ERROR_CODE:
			return protocol_read_int32_member(c, &e->code);
		case MEMBER_DETAIL:
			if (e->seen_detail)
				return DUPLICATE_MEMBER;
			e->seen_detail = 1;
			rc = jsonscan_value(c, 3);
			e->detail = start;
			e->detail_len = (size_t) (c->p - start);
			return rc;
		default:
			return MEMBER_NOT_READ;
	}
}

static int
scan_entry(jsonscan_cursor *c, entry_fields *e, int in_error_list)
{
	e->in_error_list = in_error_list;
	return protocol_scan_object(c, 2, &e->is_object, read_entry_member, e);
}

static int
scan_result_entry(jsonscan_cursor *c, size_t index, void *arg)
{
	return scan_entry(c, &((online_fields *) arg)->entries[index], 0);
}

static int
scan_error_entry(jsonscan_cursor *c, size_t index, void *arg)
{
	return scan_entry(c, &((online_fields *) arg)->entries[index], 1);
}

/* QueryResult and ErrorList: their entries go into one array, each marked with its list. */
static int
read_online_member(jsonscan_cursor *c, member_name name, void *state)
{
	online_fields *f = state;

	if (name == MEMBER_QUERY_RESULT)
		return protocol_scan_list(c, &f->result_state, &f->n_entries,
								  PROTOCOL_MAX_ONLINE_BATCH, scan_result_entry, f);
	if (name == MEMBER_ERROR_LIST)
		return protocol_scan_list(c, &f->errors_state, &f->n_entries,
								  PROTOCOL_MAX_ONLINE_BATCH, scan_error_entry, f);
	return MEMBER_NOT_READ;
}

/* A QueryResult entry's Status, or NONE when it is none we know. */
static protocol_account_status
status_of(const entry_fields *e)
{
	if (KEY_IS(e->status.s, "Online"))
		return PROTOCOL_STATUS_ONLINE;
	if (KEY_IS(e->status.s, "PushOnline"))
		return PROTOCOL_STATUS_PUSH_ONLINE;
	if (KEY_IS(e->status.s, "Offline"))
		return PROTOCOL_STATUS_OFFLINE;
	return PROTOCOL_STATUS_NONE;
}

/* Reads one entry into the item of the asked ID it answers; *next: its list's. */
static protocol_outcome
read_entry(const entry_fields *e, size_t *next, protocol_answer *a)
{
	protocol_item_result *item;
	long		k;

	if (!e->is_object || !e->account.is_string)
		return protocol_finish(a->resp, PROTOCOL_MALFORMED, "an entry lacks a string To_Account");
	if ((k = protocol_match_asked(a, &e->account.s, next)) < 0)
		return protocol_finish(a->resp, PROTOCOL_MISMATCH,
							   "response answers an account that was not asked, or one twice");
	item = &a->resp->items[k];
	if (e->in_error_list)
	{
		if (e->code.state != 1 || e->code.value <= 0)
			return protocol_finish(a->resp, PROTOCOL_MALFORMED,
								   "an ErrorList entry lacks a positive ErrorCode");
		item->result_code = e->code.value;
		return PROTOCOL_OK;
	}
	if (!e->status.is_string || (item->status = status_of(e)) == PROTOCOL_STATUS_NONE)
		return protocol_finish(a->resp, PROTOCOL_MALFORMED,
							   "a QueryResult entry lacks a known Status");
	if (e->seen_detail)
	{
		if (e->detail_len == 0 || e->detail[0] != '[')
			return protocol_finish(a->resp, PROTOCOL_MALFORMED, "a Detail is not an array");
		item->detail = protocol_arena_copy(&a->arena, e->detail, e->detail_len);
		item->detail_len = e->detail_len;
	}
	return PROTOCOL_OK;
}

static protocol_outcome
read_online_lists(const void *fields, protocol_answer *a)
{
	const online_fields *f = fields;
	size_t		next[2] = {0, 0};	/* per list: QueryResult, ErrorList */
	protocol_outcome outcome = PROTOCOL_OK;

	if (f->result_state == 2 || f->errors_state == 2)
		return protocol_finish(a->resp, PROTOCOL_MALFORMED,
							   "QueryResult or ErrorList is not an array");
	if (f->result_state == 0 && f->errors_state == 0)
		return protocol_finish(a->resp, PROTOCOL_MALFORMED, "response lacks QueryResult");
	if (f->n_entries != a->n)
		return protocol_finish(a->resp, PROTOCOL_MISMATCH, f->n_entries < a->n ?
							   "response answers fewer accounts than were asked" :
							   "response answers more accounts than were asked");
	for (size_t i = 0; outcome == PROTOCOL_OK && i < a->n; i++)
		outcome = read_entry(&f->entries[i], &next[f->entries[i].in_error_list], a);
	return outcome;
}

static const protocol_api query_online_status = {
	PROTOCOL_MAX_ONLINE_BATCH, sizeof(online_fields), read_online_member, read_online_lists
};

protocol_outcome
protocol_parse_online_response(const char *body, size_t len,
							   const char *const *ids, const size_t *id_lens,
							   size_t n, protocol_response *resp)
{
	return protocol_parse_answer(&query_online_status, body, len, ids, id_lens, n, resp);
}
