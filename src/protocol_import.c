/*
 * protocol_import.c - the multiaccount_import wire format (see protocol.h).
 *
 * The answer names only the accounts that could not be imported
 * (FailAccounts, with no reason); every other asked account was imported.
 * So an answer that lists an ID not asked is refused (MISMATCH): reading it
 * leniently would report as imported an account the service may never
 * have seen.
 */
#include "protocol.h"

#include <stdint.h>

#include "protocol_scan.h"

static int
append_member(protocol_buffer *out, const char *name, size_t name_len,
			  const char *value, size_t value_len)
{
	return protocol_buffer_append(out, name, name_len) != 0 ||
		protocol_buffer_append_json_string(out, value, value_len) != 0 ? -1 : 0;
}

#define APPEND_MEMBER(out, lit, v, len) append_member(out, lit, sizeof(lit) - 1, v, len)

int
protocol_build_import_request(const char *const *ids, const size_t *id_lens,
							  const char *const *nicks, const size_t *nick_lens,
							  const char *const *faces, const size_t *face_lens,
							  size_t n, protocol_buffer *out)
{
	static const char head[] = "{\"AccountList\":[";

	if (protocol_buffer_append(out, head, sizeof(head) - 1) != 0)
		return -1;
	for (size_t i = 0; i < n; i++)
	{
		if ((i > 0 && protocol_buffer_append(out, ",", 1) != 0) ||
			APPEND_MEMBER(out, "{\"UserID\":", ids[i], id_lens[i]) != 0)
			return -1;
		if (nicks != NULL && nicks[i] != NULL &&
			APPEND_MEMBER(out, ",\"Nick\":", nicks[i], nick_lens[i]) != 0)
			return -1;
		if (faces != NULL && faces[i] != NULL &&
			APPEND_MEMBER(out, ",\"FaceUrl\":", faces[i], face_lens[i]) != 0)
			return -1;
		if (protocol_buffer_append(out, "}", 1) != 0)
			return -1;
	}
	return protocol_buffer_append(out, "]}", 2);
}

/* FailAccounts as scanned: its strings, to be matched once the envelope is read. */
typedef struct import_fields
{
	int			fail_state;		/* 0 absent, 1 an array, 2 not one */
	int			not_strings;	/* an element is not a string */
	size_t		n_failed;		/* elements, counted past the ones kept */
	jsonscan_string failed[PROTOCOL_MAX_IMPORT_BATCH];
} import_fields;

static int
scan_failed_account(jsonscan_cursor *c, size_t index, void *arg)
{
	import_fields *f = arg;

	jsonscan_string past_the_most;

	/* every element must be a string, kept or not */
	if (c->p >= c->end || *c->p != '"')
	{
		f->not_strings = 1;
		return jsonscan_value(c, 2);
	}
	return jsonscan_string_scan(c, index < PROTOCOL_MAX_IMPORT_BATCH ? &f->failed[index]
								: &past_the_most);
}

static int
read_import_member(jsonscan_cursor *c, member_name name, void *state)
{
	import_fields *f = state;

	if (name != MEMBER_FAIL_ACCOUNTS)
		return MEMBER_NOT_READ;
	return protocol_scan_list(c, &f->fail_state, &f->n_failed, SIZE_MAX,
							  scan_failed_account, f);
}

static protocol_outcome
read_fail_accounts(const void *fields, protocol_answer *a)
{
	const import_fields *f = fields;

	if (f->fail_state == 2 || f->not_strings)
		return protocol_finish(a->resp, PROTOCOL_MALFORMED,
							   "FailAccounts is not an array of strings");
	if (f->n_failed > PROTOCOL_MAX_IMPORT_BATCH)
		return protocol_finish(a->resp, PROTOCOL_MISMATCH,
							   "FailAccounts lists more accounts than were asked");
	for (size_t i = 0; i < f->n_failed; i++)
	{
		size_t		next = 0;
		long		k;

		/*
		 * Every copy of it is marked answered (failed): an account asked
		 * twice failed twice; listed twice, it failed all the same.
		 */
		do
			k = protocol_match_asked(a, &f->failed[i], &next);
		while (k >= 0);
		if (k == -1)
			return protocol_finish(a->resp, PROTOCOL_MISMATCH,
								   "FailAccounts lists an account that was not asked");
	}
	for (size_t i = 0; i < a->n; i++)
		a->resp->items[i].status = a->answered[i] ? PROTOCOL_STATUS_NOT_IMPORTED
			: PROTOCOL_STATUS_IMPORTED;
	return PROTOCOL_OK;
}

static const protocol_api multiaccount_import = {
	PROTOCOL_MAX_IMPORT_BATCH, sizeof(import_fields), read_import_member, read_fail_accounts
};

protocol_outcome
protocol_parse_import_response(const char *body, size_t len,
							   const char *const *ids, const size_t *id_lens,
							   size_t n, protocol_response *resp)
{
	return protocol_parse_answer(&multiaccount_import, body, len, ids, id_lens, n, resp);
}
