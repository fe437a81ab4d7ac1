/*
 * fuzz_online.c - libFuzzer harness for src/protocol_online.c
 * (query_online_status).
 *
 * 1. The input is an answer body, parsed against the fixed asked-ID set
 *    {UserID_1, UserID_2, UserID_3}, and against a set chosen by the
 *    input's length (size % 4 = 0, 1 or 2 fixed IDs, or when 3 the 100-ID
 *    batch u0..u99: an answer to 500 IDs does not fit in -max_len=8192, so
 *    full batches of 500 are left to the round trip).  Every outcome's invariants are checked (on OK: a
 *    known Status with ResultCode 0, or NONE with a positive ErrorCode; a
 *    Detail is a NUL-terminated JSON array found byte for byte in the
 *    body); an OK or a FAIL is compared with what json-c reads in the same
 *    body (when json-c takes it).
 * 2. The input is cut into UserIDs (with a few choice bits each; up to 500
 *    for one input in eight, else up to 100) and a
 *    valid answer is built for them: each in QueryResult (a Status, and a
 *    Detail or none) or in ErrorList (an ErrorCode), each list in a random
 *    order, escapes and whitespace chosen at random.  It must parse to
 *    PROTOCOL_OK with exactly those items; with one answer left out, one
 *    repeated or one for an unasked ID, PROTOCOL_MISMATCH; as a FAIL,
 *    PROTOCOL_FAIL; cut short, PROTOCOL_MALFORMED.  The request built for
 *    the same IDs must read back through json-c to the same bytes.
 *
 * Any broken invariant calls abort(), which libFuzzer reports as a crash.
 */
#define _GNU_SOURCE				/* memmem */
#include "fuzz_api.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void) argc;
	(void) argv;
	fuzz_api_init();
	return 0;
}

static void
check_items(const protocol_response *r, size_t n, const char *body, size_t len)
{
	for (size_t i = 0; i < n; i++)
	{
		const protocol_item_result *it = &r->items[i];

		CHECK(it->result_info[0] == '\0' && it->result_info_len == 0);
		if (it->status == PROTOCOL_STATUS_NONE)
		{
			CHECK(it->result_code > 0);
			CHECK(it->detail == NULL);
		}
		else
		{
			CHECK(it->status == PROTOCOL_STATUS_ONLINE ||
				  it->status == PROTOCOL_STATUS_PUSH_ONLINE ||
				  it->status == PROTOCOL_STATUS_OFFLINE);
			CHECK(it->result_code == 0);
		}
		if (it->detail != NULL)
		{
			jsonscan_cursor c = {it->detail, it->detail + it->detail_len};

			/* one JSON array, exactly, at nesting level 3, as sent */
			CHECK(jsonscan_value(&c, 3) == 0 && c.p == c.end);
			CHECK(it->detail_len <= len);
			CHECK(memmem(body, len, it->detail, it->detail_len) != NULL);
		}
	}
}

/* The json-c entry of a list answering id, or NULL. */
static json_object *
entry_for(json_object *list, const char *id, size_t len)
{
	size_t		m;

	if (list == NULL)
		return NULL;
	m = json_object_array_length(list);
	for (size_t k = 0; k < m; k++)
	{
		json_object *e = json_object_array_get_idx(list, k);
		json_object *account;

		if (json_object_is_type(e, json_type_object) &&
			json_object_object_get_ex(e, "To_Account", &account) &&
			json_string_is(account, id, len))
			return e;
	}
	return NULL;
}

/* An OK or FAIL as json-c reads it (asked IDs distinct). */
static void
second_opinion(const char *body, size_t len, const char *const *ids, const size_t *lens,
			   size_t n, const protocol_response *r, protocol_outcome o)
{
	json_object *root = json_second_opinion(body, len);
	json_object *results = NULL;
	json_object *errors = NULL;

	if (root == NULL)
		return;
	check_envelope_second_opinion(root, r, o);
	if (o == PROTOCOL_OK)
	{
		size_t		m = 0;

		if (json_object_object_get_ex(root, "QueryResult", &results))
		{
			CHECK(json_object_is_type(results, json_type_array));
			m += json_object_array_length(results);
		}
		if (json_object_object_get_ex(root, "ErrorList", &errors))
		{
			CHECK(json_object_is_type(errors, json_type_array));
			m += json_object_array_length(errors);
		}
		CHECK(results != NULL || errors != NULL);
		CHECK(m == n);
		for (size_t i = 0; i < n; i++)
		{
			const protocol_item_result *it = &r->items[i];
			json_object *qr = entry_for(results, ids[i], lens[i]);
			json_object *el = entry_for(errors, ids[i], lens[i]);
			json_object *v;

			CHECK((qr == NULL) != (el == NULL));
			if (el != NULL)
			{
				CHECK(it->status == PROTOCOL_STATUS_NONE);
				CHECK(json_object_object_get_ex(el, "ErrorCode", &v));
				CHECK(json_object_is_type(v, json_type_int));
				CHECK(json_object_get_int64(v) == it->result_code);
				continue;
			}
			CHECK(json_object_object_get_ex(qr, "Status", &v));
			CHECK(json_string_is(v, protocol_account_status_text(it->status),
								 strlen(protocol_account_status_text(it->status))));
			if (json_object_object_get_ex(qr, "Detail", &v))
			{
				json_object *mine;

				CHECK(json_object_is_type(v, json_type_array));
				CHECK(it->detail != NULL);
				mine = json_tokener_parse(it->detail);
				if (mine != NULL)	/* json-c's default depth is less than ours */
				{
					CHECK(json_object_equal(mine, v));
					json_object_put(mine);
				}
			}
			else
				CHECK(it->detail == NULL);
		}
	}
	json_object_put(root);
}

static protocol_outcome
parse_checked(const char *body, size_t len, const char *const *ids, const size_t *lens,
			  size_t n)
{
	protocol_response r;
	protocol_outcome o = protocol_parse_online_response(body, len, ids, lens, n, &r);

	check_envelope(&r, o, n);
	if (o == PROTOCOL_OK)
		check_items(&r, n, body, len);
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
		parse_checked(body, len, batch_ids, batch_lens, 100);
}

/* ---- round trip ---------------------------------------------------------- */

static const char *const details[] = {
	"[]",
	"[{\"Platform\":\"iPhone\",\"Status\":\"PushOnline\"},{\"Platform\":\"Web\",\"Status\":\"Online\"}]",
	"[ {\"Platform\" : \"Android\" , \"Status\" : \"PushOnline\" } ]",
	"[{\"Platform\":\"W\\u0065b\\n\\\"\",\"Status\":\"Online\",\"X\":[1,-2.5e3,null,true,{}]}]",
	"[\n  {\"Status\": \"Online\", \"Platform\": \"\xe7\x94\xa8\"}\n]",
};

/* What one asked ID is answered. */
typedef struct answer
{
	int			in_errors;
	protocol_account_status status;
	int32_t		code;
	const char *detail;
} answer;

/*
 * choice bits of ID i: 0..2 a Status, with a Detail when 1 or 2;
 * 3..5 likewise, 6 and 7 in ErrorList.
 */
static void
decide(const cut_ids *c, answer *a, uint32_t *prng)
{
	static const protocol_account_status statuses[] = {
		PROTOCOL_STATUS_ONLINE, PROTOCOL_STATUS_PUSH_ONLINE, PROTOCOL_STATUS_OFFLINE
	};

	for (size_t i = 0; i < c->n; i++)
	{
		unsigned	ch = c->choice[i];
		uint32_t	r = prng_next(prng);

		memset(&a[i], 0, sizeof(a[i]));
		if (ch >= 6)
		{
			a[i].in_errors = 1;
			a[i].status = PROTOCOL_STATUS_NONE;
			a[i].code = r % 2 ? 70107 : (int32_t) (r % INT32_MAX) + 1;
			continue;
		}
		a[i].status = statuses[(ch + r) % 3];
		if (ch % 3 != 0)
			a[i].detail = details[(r >> 3) % (sizeof(details) / sizeof(details[0]))];
	}
}

enum variant
{
	AS_IS,
	LEAVE_ONE_OUT,
	REPEAT_ONE,
	REPLACE_ONE				/* by an unasked ID */
};

static void
build_answer(protocol_buffer *b, const cut_ids *c, const answer *a, int mode,
			 enum variant variant, size_t which, uint32_t *prng)
{
	static size_t order[PROTOCOL_MAX_ONLINE_BATCH + 1];
	size_t		m = 0;
	int			errors_first = prng_next(prng) % 2;
	int			envelope_last = prng_next(prng) % 2;

	for (size_t i = 0; i < c->n; i++)
		if (!(variant == LEAVE_ONE_OUT && i == which))
			order[m++] = i;
	if (variant == REPEAT_ONE)
		order[m++] = which;

	protocol_buffer_reset(b);
	append_ws(b, mode, prng);
	append_lit(b, "{");
	if (!envelope_last)
		append_lit(b, "\"ActionStatus\":\"OK\",\"ErrorInfo\":\"\",\"ErrorCode\":0,");
	for (int pass = 0; pass < 2; pass++)
	{
		int			errors = errors_first ? pass == 0 : pass == 1;
		int			first = 1;

		shuffle(order, m, prng);
		if (pass > 0)
			append_lit(b, ",");
		append_ws(b, mode, prng);
		append_lit(b, errors ? "\"ErrorList\"" : "\"QueryResult\"");
		append_ws(b, mode, prng);
		append_lit(b, ":[");
		for (size_t k = 0; k < m; k++)
		{
			size_t		i = order[k];
			int			detail_first;

			if (a[i].in_errors != errors)
				continue;
			if (!first)
				append_lit(b, ",");
			first = 0;
			append_ws(b, mode, prng);
			append_lit(b, "{\"To_Account\":");
			append_ws(b, mode, prng);
			if (variant == REPLACE_ONE && i == which)
				append_json_string_mode(b, unasked_id, sizeof(unasked_id) - 1, mode, prng);
			else
				append_json_string_mode(b, c->ids[i], c->lens[i], mode, prng);
			if (errors)
			{
				char		num[32];

				snprintf(num, sizeof(num), ",\"ErrorCode\":%d}", (int) a[i].code);
				append_lit(b, num);
				continue;
			}
			detail_first = prng_next(prng) % 2;
			if (a[i].detail != NULL && detail_first)
			{
				append_lit(b, ",\"Detail\":");
				append_lit(b, a[i].detail);
			}
			append_lit(b, ",\"Status\":");
			append_json_string_mode(b, protocol_account_status_text(a[i].status),
									strlen(protocol_account_status_text(a[i].status)), mode, prng);
			if (a[i].detail != NULL && !detail_first)
			{
				append_lit(b, ",\"Detail\":");
				append_ws(b, mode, prng);
				append_lit(b, a[i].detail);
			}
			append_ws(b, mode, prng);
			append_lit(b, "}");
		}
		append_lit(b, "]");
	}
	if (envelope_last)
		append_lit(b, ",\"ErrorCode\":0,\"ActionStatus\":\"OK\"");
	append_lit(b, "}");
	append_ws(b, mode, prng);
}

static int
same_answer(const protocol_item_result *it, const answer *a)
{
	if (it->status != a->status || it->result_code != a->code)
		return 0;
	if (a->detail == NULL)
		return it->detail == NULL && it->detail_len == 0;
	return it->detail != NULL && it->detail_len == strlen(a->detail) &&
		memcmp(it->detail, a->detail, it->detail_len) == 0 && it->detail[it->detail_len] == '\0';
}

/* An answer as a sortable key: status, code, which Detail. */
typedef struct answer_key
{
	int			status;
	int32_t		code;
	int			detail;			/* -1 none, else its index in details[], or 99 */
} answer_key;

static int
detail_index(const char *d, size_t len)
{
	if (d == NULL)
		return -1;
	for (size_t k = 0; k < sizeof(details) / sizeof(details[0]); k++)
		if (strlen(details[k]) == len && memcmp(details[k], d, len) == 0)
			return (int) k;
	return 99;
}

static int
compare_keys(const void *x, const void *y)
{
	const answer_key *a = x;
	const answer_key *b = y;

	if (a->status != b->status)
		return a->status < b->status ? -1 : 1;
	if (a->code != b->code)
		return a->code < b->code ? -1 : 1;
	return (a->detail > b->detail) - (a->detail < b->detail);
}

/*
 * Each ID got its answer; copies of an ID may have taken each other's, so
 * a group of copies must have got the same answers as a multiset.
 */
static void
check_round_trip_items(const protocol_response *r, const cut_ids *c, const answer *a)
{
	static id_groups g;
	static answer_key want[PROTOCOL_MAX_ONLINE_BATCH];
	static answer_key got[PROTOCOL_MAX_ONLINE_BATCH];

	group_copies(c, &g);
	for (size_t i = 0; i < c->n; i++)
	{
		size_t		k = 0;

		if (g.size[g.first[i]] == 1)
		{
			CHECK(same_answer(&r->items[i], &a[i]));
			continue;
		}
		if (g.first[i] != i)
			continue;			/* checked with its group's first */
		for (size_t j = i; j != SIZE_MAX; j = g.next[j], k++)
		{
			const protocol_item_result *it = &r->items[j];

			want[k].status = (int) a[j].status;
			want[k].code = a[j].code;
			want[k].detail = a[j].detail ? detail_index(a[j].detail, strlen(a[j].detail)) : -1;
			got[k].status = (int) it->status;
			got[k].code = it->result_code;
			got[k].detail = detail_index(it->detail, it->detail_len);
		}
		CHECK(k == g.size[i]);
		qsort(want, k, sizeof(want[0]), compare_keys);
		qsort(got, k, sizeof(got[0]), compare_keys);
		CHECK(memcmp(want, got, k * sizeof(want[0])) == 0);
	}
}

static void
check_request(const cut_ids *c)
{
	protocol_buffer req = {0};
	json_tokener *tok;
	json_object *root;
	json_object *list;
	json_object *v;

	CHECK(protocol_build_online_request(c->ids, c->lens, c->n, &req) == 0);
	CHECK(strlen(req.data) == req.len);
	tok = json_tokener_new();
	CHECK(tok != NULL);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	root = json_tokener_parse_ex(tok, req.data, (int) req.len);
	CHECK(root != NULL);
	CHECK(json_tokener_get_error(tok) == json_tokener_success);
	CHECK(json_tokener_get_parse_end(tok) == req.len);
	json_tokener_free(tok);
	CHECK(json_object_object_length(root) == 2);
	CHECK(json_object_object_get_ex(root, "IsNeedDetail", &v));
	CHECK(json_object_is_type(v, json_type_int) && json_object_get_int(v) == 1);
	CHECK(json_object_object_get_ex(root, "To_Account", &list));
	CHECK(json_object_is_type(list, json_type_array));
	CHECK(json_object_array_length(list) == c->n);
	for (size_t i = 0; i < c->n; i++)
		CHECK(json_string_is(json_object_array_get_idx(list, i), c->ids[i], c->lens[i]));
	json_object_put(root);
	protocol_buffer_free(&req);
}

static void
round_trip(const char *data, size_t len)
{
	static cut_ids c;
	static answer a[PROTOCOL_MAX_ONLINE_BATCH];
	uint32_t	prng = prng_seed(data, len);
	int			mode = (int) (prng_next(&prng) % 2);
	protocol_buffer body = {0};
	protocol_response r;
	protocol_outcome o;

	/*
	 * A full batch of 500 costs ten times a run of 50 (the parser's own
	 * scanning, mostly): one input in eight may have that many, the others
	 * up to 100, so that the smoke run takes about as long as the others.
	 */
	cut_into_ids(data, len, prng_next(&prng) % 8 == 0 ? PROTOCOL_MAX_ONLINE_BATCH : 100, &c);
	decide(&c, a, &prng);

	build_answer(&body, &c, a, mode, AS_IS, 0, &prng);
	o = protocol_parse_online_response(body.data, body.len, c.ids, c.lens, c.n, &r);
	check_envelope(&r, o, c.n);
	CHECK(o == PROTOCOL_OK);
	check_items(&r, c.n, body.data, body.len);
	check_round_trip_items(&r, &c, a);
	free_checked(&r);
	check_prefix_malformed(protocol_parse_online_response, &body, prng_next(&prng), &c);

	if (c.n > 0)
	{
		enum variant v = (enum variant) (1 + prng_next(&prng) % 3);
		size_t		which = prng_next(&prng) % c.n;

		build_answer(&body, &c, a, mode, v, which, &prng);
		o = protocol_parse_online_response(body.data, body.len, c.ids, c.lens, c.n, &r);
		check_envelope(&r, o, c.n);
		CHECK(o == PROTOCOL_MISMATCH);
		free_checked(&r);
	}

	/* a FAIL */
	{
		int32_t		code = (int32_t) (prng_next(&prng) % INT32_MAX) + 1;
		size_t		info_len = len < 64 ? len : 64;
		char		num[16];

		protocol_buffer_reset(&body);
		snprintf(num, sizeof(num), "%d", (int) code);
		append_lit(&body, "{\"ErrorInfo\":");
		append_json_string_mode(&body, data, info_len, mode, &prng);
		append_lit(&body, ",\"ErrorCode\":");
		append_lit(&body, num);
		append_lit(&body, ",\"ActionStatus\":\"FAIL\"}");
		o = protocol_parse_online_response(body.data, body.len, c.ids, c.lens, c.n, &r);
		check_envelope(&r, o, c.n);
		CHECK(o == PROTOCOL_FAIL);
		CHECK(r.error_code == code);
		CHECK(memcmp(r.error_info, data, info_len) == 0 && r.error_info[info_len] == '\0');
		free_checked(&r);
	}
	protocol_buffer_free(&body);

	check_request(&c);
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
