/*
 * fuzz_response.c - libFuzzer harness for src/protocol.c.
 *
 * 1. The input is a response body, parsed against the fixed asked-ID set
 *    {UserID_1, UserID_2, UserID_3} (all three, and 0-2 of them or a full
 *    batch of 100 IDs depending on the length); the result's invariants are
 *    checked.
 * 2. The input is cut into UserIDs (up to 32 bytes each, any bytes including
 *    NUL) and sent through the escape/build path: the request must parse
 *    back (json-c, strict) to the same IDs, and a response built with the
 *    same escaping must parse to PROTOCOL_OK, in reverse order and in the
 *    order asked, and never when cut short.
 *
 * Any broken invariant calls abort(), which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "fuzz_common.h"
#include "protocol.h"
#include "protocol_extra.h"

static const char *const fixed_ids[] = {"UserID_1", "UserID_2", "UserID_3"};
static const size_t fixed_lens[] = {8, 8, 8};

static char batch_storage[PROTOCOL_MAX_BATCH][8];
static const char *batch_ids[PROTOCOL_MAX_BATCH];
static size_t batch_lens[PROTOCOL_MAX_BATCH];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void) argc;
	(void) argv;
	for (int i = 0; i < PROTOCOL_MAX_BATCH; i++)
	{
		batch_lens[i] = (size_t) snprintf(batch_storage[i], sizeof(batch_storage[i]),
										  "u%d", i);
		batch_ids[i] = batch_storage[i];
	}
	return 0;
}

static void
check_response(const protocol_response *r, protocol_outcome o, size_t n)
{
	CHECK(r->outcome == o);
	CHECK(r->error_info != NULL);
	(void) strlen(r->error_info);
	switch (o)
	{
		case PROTOCOL_OK:
			CHECK(r->error_code == 0);
			CHECK(r->n_items == n);
			CHECK(r->items != NULL);
			for (size_t i = 0; i < n; i++)
			{
				const protocol_item_result *it = &r->items[i];

				CHECK(it->result_info != NULL);
				CHECK(it->result_info[it->result_info_len] == '\0');
				CHECK(it->status == PROTOCOL_STATUS_NONE ||
					  it->status == PROTOCOL_STATUS_IMPORTED ||
					  it->status == PROTOCOL_STATUS_NOT_IMPORTED);
				CHECK(it->status == PROTOCOL_STATUS_NONE || it->result_code == 0);
				CHECK(it->result_code != 0 || it->status != PROTOCOL_STATUS_NONE);
			}
			break;
		case PROTOCOL_FAIL:
			CHECK(r->error_code != 0);
			CHECK(r->n_items == 0);
			break;
		case PROTOCOL_MALFORMED:
		case PROTOCOL_MISMATCH:
			CHECK(r->problem != NULL && r->problem[0] != '\0');
			CHECK(r->n_items == 0);
			break;
		case PROTOCOL_NO_MEMORY:
			break;
		default:
			CHECK(!"unknown outcome");
	}
	CHECK(protocol_outcome_text(o) != NULL);
}

/* Parses body against ids, checks the result, and returns its outcome. */
static protocol_outcome
parse_checked(const char *body, size_t len, const char *const *ids,
			  const size_t *lens, size_t n)
{
	protocol_response r;
	protocol_outcome o;

	o = protocol_parse_response(body, len, ids, lens, n, &r);
	check_response(&r, o, n);
	protocol_response_free(&r);
	CHECK(r.items == NULL && r.arena == NULL && r.n_items == 0);
	return o;
}

/*
 * Two parses per input (json-c under ASan is the cost): against all three
 * fixed IDs, and against a set chosen by the input's length: size % 4 = 0, 1
 * or 2 fixed IDs, or, when size % 4 == 3, the 100-ID batch u0..u99.  (The
 * seed corpus/response/ok100.json is padded with whitespace to a length of
 * 3 mod 4 so that it reaches PROTOCOL_OK.)
 */
static void
parse_as_response(const char *body, size_t len)
{
	size_t		k = len % 4;

	parse_checked(body, len, fixed_ids, fixed_lens, 3);
	if (k < 3)
		parse_checked(body, len, fixed_ids, fixed_lens, k);
	else
		parse_checked(body, len, batch_ids, batch_lens, PROTOCOL_MAX_BATCH);
}

/*
 * An answer to ids[0..n-1] with the request's escaping, items in
 * the order asked or in reverse; the ID asked i-th is Imported if i is odd.
 */
static void
build_answer(protocol_buffer *out, const char *const *ids, const size_t *lens,
			 size_t n, int reverse)
{
	static const char head[] =
		"{\"ActionStatus\":\"OK\",\"ErrorCode\":0,\"ErrorInfo\":\"\",\"ResultItem\":[";
	static const char mid[] = ",\"ResultCode\":0,\"ResultInfo\":\"\",\"AccountStatus\":";

	protocol_buffer_reset(out);
	CHECK(protocol_buffer_append(out, head, sizeof(head) - 1) == 0);
	for (size_t k = 0; k < n; k++)
	{
		size_t		i = reverse ? n - 1 - k : k;

		if (k > 0)
			CHECK(protocol_buffer_append(out, ",", 1) == 0);
		CHECK(protocol_buffer_append(out, "{\"UserID\":", 10) == 0);
		CHECK(protocol_buffer_append_json_string(out, ids[i], lens[i]) == 0);
		CHECK(protocol_buffer_append(out, mid, sizeof(mid) - 1) == 0);
		if (i % 2)
			CHECK(protocol_buffer_append(out, "\"Imported\"}", 11) == 0);
		else
			CHECK(protocol_buffer_append(out, "\"NotImported\"}", 14) == 0);
	}
	CHECK(protocol_buffer_append(out, "]}", 2) == 0);
}

static void
build_round_trip(const char *data, size_t len)
{
	const char *ids[PROTOCOL_MAX_BATCH];
	size_t		lens[PROTOCOL_MAX_BATCH];
	size_t		n = 0;
	size_t		at = 0;
	protocol_buffer req = {0};
	protocol_buffer resp_body = {0};
	json_tokener *tok;
	json_object *root;
	json_object *items;
	protocol_response r;
	protocol_outcome o;

	/* cut the data into IDs: the first byte of each chunk gives its length */
	while (at < len && n < PROTOCOL_MAX_BATCH)
	{
		size_t		l = (unsigned char) data[at++] % (PROTOCOL_MAX_USERID_BYTES + 1);

		if (l > len - at)
			l = len - at;
		ids[n] = data + at;
		lens[n] = l;
		n++;
		at += l;
	}

	CHECK(protocol_build_request(ids, lens, n, &req) == 0);
	CHECK(strlen(req.data) == req.len);

	tok = json_tokener_new();
	CHECK(tok != NULL);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	root = json_tokener_parse_ex(tok, req.data, (int) req.len);
	CHECK(root != NULL);
	CHECK(json_tokener_get_error(tok) == json_tokener_success);
	CHECK(json_tokener_get_parse_end(tok) == req.len);
	json_tokener_free(tok);
	CHECK(json_object_object_get_ex(root, "CheckItem", &items));
	CHECK(json_object_is_type(items, json_type_array));
	CHECK(json_object_array_length(items) == n);
	for (size_t i = 0; i < n; i++)
	{
		json_object *uid;

		CHECK(json_object_object_get_ex(json_object_array_get_idx(items, i), "UserID", &uid));
		CHECK(json_object_is_type(uid, json_type_string));
		CHECK((size_t) json_object_get_string_len(uid) == lens[i]);
		CHECK(memcmp(json_object_get_string(uid), ids[i], lens[i]) == 0);
	}
	json_object_put(root);

	/* a well-formed answer, in reverse order, must be accepted and mapped */
	build_answer(&resp_body, ids, lens, n, 1);
	CHECK(parse_checked(resp_body.data, resp_body.len, ids, lens, n) == PROTOCOL_OK);
	o = protocol_parse_response(resp_body.data, resp_body.len, ids, lens, n, &r);
	check_response(&r, o, n);
	CHECK(o == PROTOCOL_OK);
	/* with duplicate IDs either duplicate may take either answer; check the rest */
	for (size_t i = 0; i < n; i++)
	{
		int			dup = 0;

		for (size_t j = 0; j < n && !dup; j++)
			dup = j != i && lens[j] == lens[i] && memcmp(ids[j], ids[i], lens[i]) == 0;
		if (!dup)
			CHECK(r.items[i].status == (i % 2 ? PROTOCOL_STATUS_IMPORTED
										: PROTOCOL_STATUS_NOT_IMPORTED));
	}
	protocol_response_free(&r);

	/* the same body cut anywhere is never OK */
	if (resp_body.len > 0)
	{
		size_t		cut = (len ? (unsigned char) data[0] * 7919u : 0) % resp_body.len;
		char	   *part = malloc(cut ? cut : 1);

		CHECK(part != NULL);
		memcpy(part, resp_body.data, cut);
		CHECK(parse_checked(part, cut, ids, lens, n) == PROTOCOL_MALFORMED);
		free(part);
	}

	/* the same answer in the order asked */
	build_answer(&resp_body, ids, lens, n, 0);
	o = protocol_parse_response(resp_body.data, resp_body.len, ids, lens, n, &r);
	check_response(&r, o, n);
	CHECK(o == PROTOCOL_OK);
	for (size_t i = 0; i < n; i++)
		CHECK(r.items[i].status == (i % 2 ? PROTOCOL_STATUS_IMPORTED
									: PROTOCOL_STATUS_NOT_IMPORTED));
	protocol_response_free(&r);

	protocol_buffer_free(&req);
	protocol_buffer_free(&resp_body);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *copy = fuzz_exact_copy(data, size);

	if (copy == NULL)
		return 0;
	parse_as_response(copy, size);
	build_round_trip(copy, size);
	free(copy);
	return 0;
}
