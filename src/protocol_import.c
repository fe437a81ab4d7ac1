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
#include <stdlib.h>
#include <string.h>

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

/* protocol_member_reader of multiaccount_import: FailAccounts */
static int
scan_fail_accounts(jsonscan_cursor *c, member_name name, void *state)
{
	import_fields *f = state;

	if (name != MEMBER_FAIL_ACCOUNTS)
		return jsonscan_value(c, 1);
	return protocol_scan_list(c, &f->fail_state, &f->n_failed, SIZE_MAX,
							  scan_failed_account, f);
}

protocol_outcome
protocol_parse_import_response(const char *body, size_t len,
							   const char *const *ids, const size_t *id_lens,
							   size_t n, protocol_response *resp)
{
	import_fields *f;
	envelope_fields env;
	arena_builder arena;
	protocol_outcome outcome;
	unsigned char failed[PROTOCOL_MAX_IMPORT_BATCH] = {0};

	memset(resp, 0, sizeof(*resp));
	resp->error_info = "";
	if (n > PROTOCOL_MAX_IMPORT_BATCH)
		return protocol_finish(resp, PROTOCOL_MISMATCH, "more UserIDs asked than a call allows");
	f = calloc(1, sizeof(import_fields));
	if (f == NULL)
		return protocol_finish(resp, PROTOCOL_NO_MEMORY, NULL);
	outcome = protocol_open_answer(protocol_scan_document(body, len, &env,
														  scan_fail_accounts, f),
								   &env, len, n, &arena, resp);
	if (outcome == PROTOCOL_OK && (f->fail_state == 2 || f->not_strings))
		outcome = protocol_finish(resp, PROTOCOL_MALFORMED,
								  "FailAccounts is not an array of strings");
	else if (outcome == PROTOCOL_OK && f->n_failed > PROTOCOL_MAX_IMPORT_BATCH)
		outcome = protocol_finish(resp, PROTOCOL_MISMATCH,
								  "FailAccounts lists more accounts than were asked");
	for (size_t i = 0; outcome == PROTOCOL_OK && i < f->n_failed; i++)
	{
		size_t		uid_len;
		const char *uid = protocol_peek_string(&arena, &f->failed[i], &uid_len);
		int			asked = 0;

		/* an account asked twice failed twice; listed twice, it failed all the same */
		for (size_t k = 0; k < n; k++)
			if (id_lens[k] == uid_len && memcmp(ids[k], uid, uid_len) == 0)
				failed[k] = asked = 1;
		if (!asked)
			outcome = protocol_finish(resp, PROTOCOL_MISMATCH,
									  "FailAccounts lists an account that was not asked");
	}
	if (outcome == PROTOCOL_OK)
	{
		for (size_t i = 0; i < n; i++)
			resp->items[i].status = failed[i] ? PROTOCOL_STATUS_NOT_IMPORTED
				: PROTOCOL_STATUS_IMPORTED;
		resp->n_items = n;
		outcome = protocol_finish(resp, PROTOCOL_OK, NULL);
	}
	free(f);
	return outcome;
}
