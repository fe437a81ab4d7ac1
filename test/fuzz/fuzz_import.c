/*
 * fuzz_import.c - libFuzzer harness for src/protocol_import.c
 * (multiaccount_import).
 *
 * 1. The input is an answer body, parsed against the fixed asked-ID set
 *    {UserID_1, UserID_2, UserID_3}, and against a set chosen by the
 *    input's length (size % 4 = 0, 1 or 2 fixed IDs, or when 3 the 100-ID
 *    batch u0..u99).  Every outcome's invariants are checked; an OK or a
 *    FAIL is compared with what json-c reads in the same body (when json-c
 *    takes it): each asked ID is NotImported exactly when FailAccounts
 *    lists it.
 * 2. The input is cut into UserIDs (with a few choice bits each) and a
 *    valid answer is built for them: a random subset in FailAccounts, some
 *    listed twice, in a random order, with escapes chosen at random.  It
 *    must parse to PROTOCOL_OK with exactly those NotImported; with an
 *    unasked ID added, PROTOCOL_MISMATCH; as a FAIL, PROTOCOL_FAIL with its
 *    ErrorCode and ErrorInfo; cut short, PROTOCOL_MALFORMED.  The request
 *    built for the same IDs (with nicks and faces) must read back through
 *    json-c to the same bytes.
 *
 * The same UserID asked twice: every copy is NotImported when FailAccounts
 * lists it (a fixed bug marked only as many copies as there were listings;
 * see test_import_parse_duplicate_asked).
 *
 * Any broken invariant calls abort(), which libFuzzer reports as a crash.
 */
#include "fuzz_api.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void) argc;
	(void) argv;
	fuzz_api_init();
	return 0;
}

/* Is ids[i] among the strings of the json-c FailAccounts array? */
static int
listed_in(json_object *fail, const char *id, size_t len)
{
	size_t		n = json_object_array_length(fail);

	for (size_t k = 0; k < n; k++)
		if (json_string_is(json_object_array_get_idx(fail, k), id, len))
			return 1;
	return 0;
}

static void
check_items(const protocol_response *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
	{
		const protocol_item_result *it = &r->items[i];

		CHECK(it->status == PROTOCOL_STATUS_IMPORTED ||
			  it->status == PROTOCOL_STATUS_NOT_IMPORTED);
		CHECK(it->result_code == 0);
		CHECK(it->result_info[0] == '\0' && it->result_info_len == 0);
		CHECK(it->detail == NULL);
	}
}

/* An OK or FAIL as json-c reads it (asked IDs distinct). */
static void
second_opinion(const char *body, size_t len, const char *const *ids, const size_t *lens,
			   size_t n, const protocol_response *r, protocol_outcome o)
{
	json_object *root = json_second_opinion(body, len);
	json_object *fail;

	if (root == NULL)
		return;
	check_envelope_second_opinion(root, r, o);
	if (o == PROTOCOL_OK)
	{
		if (json_object_object_get_ex(root, "FailAccounts", &fail))
		{
			size_t		m;

			CHECK(json_object_is_type(fail, json_type_array));
			m = json_object_array_length(fail);
			CHECK(m <= PROTOCOL_MAX_IMPORT_BATCH);
			for (size_t k = 0; k < m; k++)
			{
				json_object *e = json_object_array_get_idx(fail, k);
				int			asked = 0;

				CHECK(json_object_is_type(e, json_type_string));
				for (size_t i = 0; i < n && !asked; i++)
					asked = json_string_is(e, ids[i], lens[i]);
				CHECK(asked);
			}
			for (size_t i = 0; i < n; i++)
				CHECK(r->items[i].status == (listed_in(fail, ids[i], lens[i])
											 ? PROTOCOL_STATUS_NOT_IMPORTED
											 : PROTOCOL_STATUS_IMPORTED));
		}
		else
			for (size_t i = 0; i < n; i++)
				CHECK(r->items[i].status == PROTOCOL_STATUS_IMPORTED);
	}
	json_object_put(root);
}

static protocol_outcome
parse_checked(const char *body, size_t len, const char *const *ids, const size_t *lens,
			  size_t n)
{
	protocol_response r;
	protocol_outcome o = protocol_parse_import_response(body, len, ids, lens, n, &r);

	check_envelope(&r, o, n);
	if (o == PROTOCOL_OK)
		check_items(&r, n);
	if (o == PROTOCOL_OK || o == PROTOCOL_FAIL)
		second_opinion(body, len, ids, lens, n, &r, o);
	free_checked(&r);
	return o;
}

static void
parse_as_answer(const char *body, size_t len)
{
	size_t		k = len % 4;

	parse_checked(body, len, fixed_ids, fixed_lens, 3);
	if (k < 3)
		parse_checked(body, len, fixed_ids, fixed_lens, k);
	else
		parse_checked(body, len, batch_ids, batch_lens, PROTOCOL_MAX_IMPORT_BATCH);
}

/* ---- round trip ---------------------------------------------------------- */

/*
 * choice bits of ID i: 1 = it failed, 2 = list it twice (both decided by
 * its first copy: an ID is listed, not each copy), 4 = (first ID only) add
 * an unasked ID.
 */
static void
build_answer(protocol_buffer *b, const cut_ids *c, const id_groups *g,
			 const unsigned char *failed, int mode, int add_unasked, uint32_t *prng,
			 size_t *n_listed)
{
	size_t		order[2 * PROTOCOL_MAX_IMPORT_BATCH + 1];
	size_t		m = 0;
	int			fail_first = prng_next(prng) % 2;

	for (size_t i = 0; i < c->n; i++)
		if (failed[i] && g->first[i] == i)
		{
			order[m++] = i;
			if (c->choice[i] & 2)
				order[m++] = i;
		}
	if (add_unasked)
		order[m++] = SIZE_MAX;
	shuffle(order, m, prng);
	*n_listed = m;

	protocol_buffer_reset(b);
	append_ws(b, mode, prng);
	append_lit(b, "{");
	if (fail_first)
		append_lit(b, "\"FailAccounts\":[");
	else
		append_lit(b, "\"ActionStatus\":\"OK\",\"ErrorCode\":0,\"ErrorInfo\":\"\",\"FailAccounts\":[");
	for (size_t k = 0; k < m; k++)
	{
		if (k > 0)
			append_lit(b, ",");
		append_ws(b, mode, prng);
		if (order[k] == SIZE_MAX)
			append_json_string_mode(b, unasked_id, sizeof(unasked_id) - 1, mode, prng);
		else
			append_json_string_mode(b, c->ids[order[k]], c->lens[order[k]], mode, prng);
		append_ws(b, mode, prng);
	}
	append_lit(b, "]");
	if (fail_first)
		append_lit(b, ",\"ErrorCode\":0,\"ActionStatus\":\"OK\"");
	append_lit(b, "}");
	append_ws(b, mode, prng);
}

static void
check_round_trip_items(const protocol_response *r, const cut_ids *c, const id_groups *g,
					   const unsigned char *failed)
{
	(void) g;
	for (size_t i = 0; i < c->n; i++)
		CHECK(r->items[i].status == (failed[i] ? PROTOCOL_STATUS_NOT_IMPORTED
									 : PROTOCOL_STATUS_IMPORTED));
}

/* The request for the same IDs, some with a nick and a face cut from them. */
static void
check_request(const cut_ids *c, uint32_t *prng)
{
	const char *nicks[PROTOCOL_MAX_IMPORT_BATCH];
	const char *faces[PROTOCOL_MAX_IMPORT_BATCH];
	size_t		nick_lens[PROTOCOL_MAX_IMPORT_BATCH];
	size_t		face_lens[PROTOCOL_MAX_IMPORT_BATCH];
	uint32_t	r0 = prng_next(prng);
	int			use_nicks = r0 % 4 != 0;
	int			use_faces = (r0 >> 2) % 4 != 0;
	protocol_buffer req = {0};
	json_tokener *tok;
	json_object *root;
	json_object *list;

	for (size_t i = 0; i < c->n; i++)
	{
		uint32_t	r = prng_next(prng);
		size_t		half = c->lens[i] / 2;

		nicks[i] = r % 3 ? c->ids[i] : NULL;
		nick_lens[i] = half;
		faces[i] = (r >> 2) % 3 ? c->ids[i] + half : NULL;
		face_lens[i] = c->lens[i] - half;
	}
	CHECK(protocol_build_import_request(c->ids, c->lens, use_nicks ? nicks : NULL, nick_lens,
										use_faces ? faces : NULL, face_lens, c->n, &req) == 0);
	CHECK(strlen(req.data) == req.len);
	tok = json_tokener_new();
	CHECK(tok != NULL);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	root = json_tokener_parse_ex(tok, req.data, (int) req.len);
	CHECK(root != NULL);
	CHECK(json_tokener_get_error(tok) == json_tokener_success);
	CHECK(json_tokener_get_parse_end(tok) == req.len);
	json_tokener_free(tok);
	CHECK(json_object_object_length(root) == 1);
	CHECK(json_object_object_get_ex(root, "AccountList", &list));
	CHECK(json_object_is_type(list, json_type_array));
	CHECK(json_object_array_length(list) == c->n);
	for (size_t i = 0; i < c->n; i++)
	{
		json_object *item = json_object_array_get_idx(list, i);
		int			has_nick = use_nicks && nicks[i] != NULL;
		int			has_face = use_faces && faces[i] != NULL;
		json_object *v;

		CHECK(json_object_is_type(item, json_type_object));
		CHECK(json_object_object_length(item) == 1 + has_nick + has_face);
		CHECK(json_object_object_get_ex(item, "UserID", &v));
		CHECK(json_string_is(v, c->ids[i], c->lens[i]));
		if (has_nick)
		{
			CHECK(json_object_object_get_ex(item, "Nick", &v));
			CHECK(json_string_is(v, nicks[i], nick_lens[i]));
		}
		if (has_face)
		{
			CHECK(json_object_object_get_ex(item, "FaceUrl", &v));
			CHECK(json_string_is(v, faces[i], face_lens[i]));
		}
	}
	json_object_put(root);
	protocol_buffer_free(&req);
}

static void
round_trip(const char *data, size_t len)
{
	static cut_ids c;
	static id_groups g;
	unsigned char failed[PROTOCOL_MAX_IMPORT_BATCH];
	uint32_t	prng = prng_seed(data, len);
	int			mode = (int) (prng_next(&prng) % 2);
	protocol_buffer body = {0};
	protocol_response r;
	protocol_outcome o;
	size_t		n_listed;

	cut_into_ids(data, len, PROTOCOL_MAX_IMPORT_BATCH, &c);
	group_copies(&c, &g);
	/* copies of an ID take the decision of its first copy */
	for (size_t i = 0; i < c.n; i++)
		failed[i] = c.choice[g.first[i]] & 1;

	/* the answer as built: OK, or MISMATCH past the most a call lists */
	build_answer(&body, &c, &g, failed, mode, 0, &prng, &n_listed);
	o = protocol_parse_import_response(body.data, body.len, c.ids, c.lens, c.n, &r);
	check_envelope(&r, o, c.n);
	if (n_listed > PROTOCOL_MAX_IMPORT_BATCH)
		CHECK(o == PROTOCOL_MISMATCH);
	else
	{
		CHECK(o == PROTOCOL_OK);
		check_items(&r, c.n);
		check_round_trip_items(&r, &c, &g, failed);
	}
	free_checked(&r);
	check_prefix_malformed(protocol_parse_import_response, &body, prng_next(&prng), &c);

	/* with an unasked ID among them */
	if (c.n > 0 && (c.choice[0] & 4))
	{
		build_answer(&body, &c, &g, failed, mode, 1, &prng, &n_listed);
		o = protocol_parse_import_response(body.data, body.len, c.ids, c.lens, c.n, &r);
		check_envelope(&r, o, c.n);
		CHECK(o == PROTOCOL_MISMATCH);
		free_checked(&r);
	}

	/* a FAIL, its ErrorInfo the input's first bytes */
	{
		int32_t		code = (int32_t) (prng_next(&prng) % INT32_MAX) + 1;
		size_t		info_len = len < 64 ? len : 64;
		char		num[16];

		protocol_buffer_reset(&body);
		snprintf(num, sizeof(num), "%d", (int) code);
		append_lit(&body, "{\"ActionStatus\":\"FAIL\",\"ErrorCode\":");
		append_lit(&body, num);
		append_lit(&body, ",\"ErrorInfo\":");
		append_json_string_mode(&body, data, info_len, mode, &prng);
		append_lit(&body, "}");
		o = protocol_parse_import_response(body.data, body.len, c.ids, c.lens, c.n, &r);
		check_envelope(&r, o, c.n);
		CHECK(o == PROTOCOL_FAIL);
		CHECK(r.error_code == code);
		CHECK(memcmp(r.error_info, data, info_len) == 0 && r.error_info[info_len] == '\0');
		free_checked(&r);
	}
	protocol_buffer_free(&body);

	check_request(&c, &prng);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *copy = fuzz_exact_copy(data, size);

	if (copy == NULL)
		return 0;
	parse_as_answer(copy, size);
	round_trip(copy, size);
	free(copy);
	return 0;
}
