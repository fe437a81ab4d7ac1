/*
 * protocol_online.c - the query_online_status wire format (see protocol.h).
 *
 * The answer splits the asked accounts in two lists: QueryResult (their
 * Status, and Detail by platform) and ErrorList (those it could not query,
 * with an ErrorCode each, e.g. 70107 for an account not imported).  Every
 * asked account must be in exactly one of them.
 */
#include "protocol.h"

#include <stdlib.h>
#include <string.h>

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
	int			seen_account;
	int			has_account;
	jsonscan_string account;
	int			seen_status;
	int			has_status;
	jsonscan_string status;
	int			code_state;
	int32_t		code;
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
scan_entry(jsonscan_cursor *c, entry_fields *e, int in_error_list)
{
	int			state = 0;
	int			more;
	jsonscan_string key;

	memset(e, 0, sizeof(*e));
	e->in_error_list = in_error_list;
	if (c->p >= c->end || *c->p != '{')
		return jsonscan_value(c, 2);
	e->is_object = 1;
	while ((more = jsonscan_object_next(c, &state, &key)) > 0)
	{
		int			rc;
		const char *start = c->p;

		switch (protocol_member_of(&key))
		{
			case MEMBER_TO_ACCOUNT:
				rc = protocol_read_string_member(c, &e->seen_account, &e->has_account,
												 &e->account);
				break;
			case MEMBER_STATUS:
				rc = protocol_read_string_member(c, &e->seen_status, &e->has_status,
												 &e->status);
				break;
			case MEMBER_ERROR_CODE:
				rc = protocol_read_int32_member(c, &e->code_state, &e->code);
				break;
			case MEMBER_DETAIL:
				if (e->seen_detail)
					return DUPLICATE_MEMBER;
				e->seen_detail = 1;
				rc = jsonscan_value(c, 3);
				e->detail = start;
				e->detail_len = (size_t) (c->p - start);
				break;
			default:
				rc = jsonscan_value(c, 3);
				break;
		}
		if (rc != 0)
			return rc;
	}
	return more;
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

/*
 * protocol_member_reader of query_online_status: QueryResult, ErrorList
 * (their entries go into one array, each marked with its list)
 */
static int
scan_lists(jsonscan_cursor *c, member_name name, void *state)
{
	online_fields *f = state;

	if (name == MEMBER_QUERY_RESULT)
		return protocol_scan_list(c, &f->result_state, &f->n_entries,
								  PROTOCOL_MAX_ONLINE_BATCH, scan_result_entry, f);
	if (name == MEMBER_ERROR_LIST)
		return protocol_scan_list(c, &f->errors_state, &f->n_entries,
								  PROTOCOL_MAX_ONLINE_BATCH, scan_error_entry, f);
	return jsonscan_value(c, 1);
}

/* A QueryResult entry's Status, or NONE when it is none we know. */
static protocol_account_status
status_of(const entry_fields *e)
{
	if (KEY_IS(e->status, "Online"))
		return PROTOCOL_STATUS_ONLINE;
	if (KEY_IS(e->status, "PushOnline"))
		return PROTOCOL_STATUS_PUSH_ONLINE;
	if (KEY_IS(e->status, "Offline"))
		return PROTOCOL_STATUS_OFFLINE;
	return PROTOCOL_STATUS_NONE;
}

/*
 * Which asked index an entry answers: each list is in request order, with
 * the other list's accounts left out, so the search starts after the last
 * match of its list and wraps around.  -1 if not asked or already answered.
 */
static long
find_asked(const char *uid, size_t uid_len, size_t from, const char *const *ids,
		   const size_t *id_lens, size_t n, const unsigned char *answered)
{
	for (size_t j = 0; j < n; j++)
	{
		size_t		i = (from + j) % n;

		if (!answered[i] && id_lens[i] == uid_len && memcmp(ids[i], uid, uid_len) == 0)
			return (long) i;
	}
	return -1;
}

/*
 * Reads one entry into the item of the asked ID it answers; *next: where
 * the search of its list starts, moved past the match.
 */
static protocol_outcome
read_entry(const entry_fields *e, size_t *next, const char *const *ids,
		   const size_t *id_lens, size_t n, unsigned char *answered,
		   arena_builder *arena, protocol_response *resp)
{
	protocol_item_result *item;
	const char *uid;
	size_t		uid_len;
	long		k;

	if (!e->is_object || !e->has_account)
		return protocol_finish(resp, PROTOCOL_MALFORMED, "an entry lacks a string To_Account");
	uid = protocol_peek_string(arena, &e->account, &uid_len);
	k = find_asked(uid, uid_len, *next, ids, id_lens, n, answered);
	if (k < 0)
		return protocol_finish(resp, PROTOCOL_MISMATCH,
							   "response answers an account that was not asked, or one twice");
	answered[k] = 1;
	*next = (size_t) k + 1;
	item = &resp->items[k];
	if (e->in_error_list)
	{
		if (e->code_state != 1 || e->code <= 0)
			return protocol_finish(resp, PROTOCOL_MALFORMED,
								   "an ErrorList entry lacks a positive ErrorCode");
		item->result_code = e->code;
		return PROTOCOL_OK;
	}
	if (!e->has_status || (item->status = status_of(e)) == PROTOCOL_STATUS_NONE)
		return protocol_finish(resp, PROTOCOL_MALFORMED,
							   "a QueryResult entry lacks a known Status");
	if (e->seen_detail)
	{
		if (e->detail_len == 0 || e->detail[0] != '[')
			return protocol_finish(resp, PROTOCOL_MALFORMED, "a Detail is not an array");
		item->detail = protocol_arena_copy(arena, e->detail, e->detail_len);
		item->detail_len = e->detail_len;
	}
	return PROTOCOL_OK;
}

protocol_outcome
protocol_parse_online_response(const char *body, size_t len,
							   const char *const *ids, const size_t *id_lens,
							   size_t n, protocol_response *resp)
{
	online_fields *f;
	envelope_fields env;
	arena_builder arena;
	protocol_outcome outcome;
	unsigned char answered[PROTOCOL_MAX_ONLINE_BATCH] = {0};
	size_t		next[2] = {0, 0};	/* per list: QueryResult, ErrorList */

	memset(resp, 0, sizeof(*resp));
	resp->error_info = "";
	if (n > PROTOCOL_MAX_ONLINE_BATCH)
		return protocol_finish(resp, PROTOCOL_MISMATCH, "more UserIDs asked than a call allows");
	f = calloc(1, sizeof(online_fields));
	if (f == NULL)
		return protocol_finish(resp, PROTOCOL_NO_MEMORY, NULL);
	outcome = protocol_open_answer(protocol_scan_document(body, len, &env, scan_lists, f),
								   &env, len, n, &arena, resp);
	if (outcome == PROTOCOL_OK && (f->result_state == 2 || f->errors_state == 2))
		outcome = protocol_finish(resp, PROTOCOL_MALFORMED,
								  "QueryResult or ErrorList is not an array");
	else if (outcome == PROTOCOL_OK && f->result_state == 0 && f->errors_state == 0)
		outcome = protocol_finish(resp, PROTOCOL_MALFORMED, "response lacks QueryResult");
	else if (outcome == PROTOCOL_OK && f->n_entries != n)
		outcome = protocol_finish(resp, PROTOCOL_MISMATCH,
								  f->n_entries < n ?
								  "response answers fewer accounts than were asked" :
								  "response answers more accounts than were asked");
	for (size_t i = 0; outcome == PROTOCOL_OK && i < n; i++)
		outcome = read_entry(&f->entries[i], &next[f->entries[i].in_error_list],
							 ids, id_lens, n, answered, &arena, resp);
	if (outcome == PROTOCOL_OK)
	{
		resp->n_items = n;
		outcome = protocol_finish(resp, PROTOCOL_OK, NULL);
	}
	free(f);
	return outcome;
}
