/*
 * test_protocol_import.c - cmocka tests of the multiaccount_import wire
 * format (src/protocol_import.c) and the status texts, as protocol.h
 * describes them.  Every response is parsed from a malloc'd buffer of
 * exactly its length (see test_protocol_apis.h).
 */
#include "test_protocol_apis.h"

/* ---- status texts ----------------------------------------------------------- */

static void
test_status_texts(void **state)
{
	(void) state;
	assert_string_equal(protocol_account_status_text(PROTOCOL_STATUS_IMPORTED), "Imported");
	assert_string_equal(protocol_account_status_text(PROTOCOL_STATUS_NOT_IMPORTED), "NotImported");
	assert_string_equal(protocol_account_status_text(PROTOCOL_STATUS_ONLINE), "Online");
	assert_string_equal(protocol_account_status_text(PROTOCOL_STATUS_PUSH_ONLINE), "PushOnline");
	assert_string_equal(protocol_account_status_text(PROTOCOL_STATUS_OFFLINE), "Offline");
	assert_null(protocol_account_status_text(PROTOCOL_STATUS_NONE));
	assert_null(protocol_account_status_text((protocol_account_status) 99));
	assert_null(protocol_account_status_text((protocol_account_status) -1));
}

/* ---- multiaccount_import: request ----------------------------------------- */

static char *
build_import(const char *const *ids, const size_t *id_lens,
			 const char *const *nicks, const size_t *nick_lens,
			 const char *const *faces, const size_t *face_lens, size_t n)
{
	protocol_buffer b = {0};

	assert_int_equal(protocol_build_import_request(ids, id_lens, nicks, nick_lens,
												   faces, face_lens, n, &b), 0);
	assert_non_null(b.data);
	assert_int_equal(strlen(b.data), b.len);	/* never a raw NUL */
	return b.data;
}

static void
test_import_request_ids_only(void **state)
{
	const char *ids[] = {"a", "UserID_2", "user@example.com"};
	size_t		lens[] = {1, 8, 16};
	char	   *got;

	(void) state;
	got = build_import(ids, lens, NULL, NULL, NULL, NULL, 3);
	assert_string_equal(got, "{\"AccountList\":[{\"UserID\":\"a\"},{\"UserID\":\"UserID_2\"},"
						"{\"UserID\":\"user@example.com\"}]}");
	free(got);

	got = build_import(ids, lens, NULL, NULL, NULL, NULL, 1);
	assert_string_equal(got, "{\"AccountList\":[{\"UserID\":\"a\"}]}");
	free(got);

	/* lengths, not terminators, bound the IDs */
	{
		size_t		short_lens[] = {1, 4, 4};

		got = build_import(ids, short_lens, NULL, NULL, NULL, NULL, 3);
		assert_string_equal(got, "{\"AccountList\":[{\"UserID\":\"a\"},{\"UserID\":\"User\"},"
							"{\"UserID\":\"user\"}]}");
		free(got);
	}
}

static void
test_import_request_zero(void **state)
{
	char	   *got;
	const char *nicks[] = {"x"};
	size_t		nick_lens[] = {1};

	(void) state;
	got = build_import(NULL, NULL, NULL, NULL, NULL, NULL, 0);
	assert_string_equal(got, "{\"AccountList\":[]}");
	free(got);
	got = build_import(NULL, NULL, nicks, nick_lens, nicks, nick_lens, 0);
	assert_string_equal(got, "{\"AccountList\":[]}");
	free(got);
}

static void
test_import_request_nicks_faces(void **state)
{
	const char *ids[] = {"a", "b", "c", "d"};
	size_t		id_lens[] = {1, 1, 1, 1};
	const char *nicks[] = {"Nick A", NULL, "", "Nick D"};
	size_t		nick_lens[] = {6, 99, 0, 6};	/* a NULL element's length is not read */
	const char *faces[] = {"http://x/a.png", "http://x/b.png", NULL, ""};
	size_t		face_lens[] = {14, 14, 1234, 0};
	char	   *got;

	(void) state;
	got = build_import(ids, id_lens, nicks, nick_lens, faces, face_lens, 4);
	assert_string_equal(got, "{\"AccountList\":["
						"{\"UserID\":\"a\",\"Nick\":\"Nick A\",\"FaceUrl\":\"http://x/a.png\"},"
						"{\"UserID\":\"b\",\"FaceUrl\":\"http://x/b.png\"},"
						"{\"UserID\":\"c\",\"Nick\":\"\"},"
						"{\"UserID\":\"d\",\"Nick\":\"Nick D\",\"FaceUrl\":\"\"}]}");
	free(got);

	/* only nicks */
	got = build_import(ids, id_lens, nicks, nick_lens, NULL, NULL, 2);
	assert_string_equal(got, "{\"AccountList\":[{\"UserID\":\"a\",\"Nick\":\"Nick A\"},"
						"{\"UserID\":\"b\"}]}");
	free(got);

	/* only faces */
	got = build_import(ids, id_lens, NULL, NULL, faces, face_lens, 3);
	assert_string_equal(got, "{\"AccountList\":[{\"UserID\":\"a\",\"FaceUrl\":\"http://x/a.png\"},"
						"{\"UserID\":\"b\",\"FaceUrl\":\"http://x/b.png\"},{\"UserID\":\"c\"}]}");
	free(got);

	/* every element NULL */
	{
		const char *no_nicks[] = {NULL, NULL};

		got = build_import(ids, id_lens, no_nicks, nick_lens, no_nicks, face_lens, 2);
		assert_string_equal(got, "{\"AccountList\":[{\"UserID\":\"a\"},{\"UserID\":\"b\"}]}");
		free(got);
	}
}

static void
test_import_request_escaping(void **state)
{
	static const char id[] = "a\"b\\c\x01\n\t\r\x1f/\0z";	/* 13 bytes, a NUL inside */
	static const char nick[] = "N\"i\\\x7f\xc3\xa9\x02";
	static const char face[] = "http://x/\"\\\b\f?\0";
	const char *ids[] = {id};
	size_t		id_lens[] = {sizeof(id) - 1};
	const char *nicks[] = {nick};
	size_t		nick_lens[] = {sizeof(nick) - 1};
	const char *faces[] = {face};
	size_t		face_lens[] = {sizeof(face) - 1};
	char	   *got;
	json_object *root;
	json_object *list;
	json_object *item;

	(void) state;
	got = build_import(ids, id_lens, nicks, nick_lens, faces, face_lens, 1);
	assert_string_equal(got, "{\"AccountList\":[{\"UserID\":\"a\\\"b\\\\c\\u0001\\n\\t\\r\\u001f/\\u0000z\","
						"\"Nick\":\"N\\\"i\\\\\x7f\xc3\xa9\\u0002\","
						"\"FaceUrl\":\"http://x/\\\"\\\\\\u0008\\u000c?\\u0000\"}]}");
	/* and a strict JSON parser reads back the same bytes */
	root = json_parse_strict(got, strlen(got));
	assert_true(json_object_object_get_ex(root, "AccountList", &list));
	assert_int_equal(json_object_array_length(list), 1);
	item = json_object_array_get_idx(list, 0);
	assert_json_string_member(item, "UserID", id, sizeof(id) - 1);
	assert_json_string_member(item, "Nick", nick, sizeof(nick) - 1);
	assert_json_string_member(item, "FaceUrl", face, sizeof(face) - 1);
	json_object_put(root);
	free(got);
}

static void
test_import_request_appends(void **state)
{
	const char *ids[] = {"a"};
	size_t		lens[] = {1};
	protocol_buffer b = {0};

	(void) state;
	assert_int_equal(protocol_buffer_append(&b, "XY", 2), 0);
	assert_int_equal(protocol_build_import_request(ids, lens, NULL, NULL, NULL, NULL, 1, &b), 0);
	assert_string_equal(b.data, "XY{\"AccountList\":[{\"UserID\":\"a\"}]}");
	assert_int_equal(b.len, strlen(b.data));
	protocol_buffer_free(&b);
}

/* Random bytes in, json-c reads back every ID, nick and face exactly. */
static void
test_import_request_random_round_trip(void **state)
{
	uint32_t	seed = 12345;

	(void) state;
	for (int round = 0; round < 200; round++)
	{
		char		storage[3][PROTOCOL_MAX_IMPORT_BATCH][40];
		const char *ids[PROTOCOL_MAX_IMPORT_BATCH];
		const char *nicks[PROTOCOL_MAX_IMPORT_BATCH];
		const char *faces[PROTOCOL_MAX_IMPORT_BATCH];
		size_t		id_lens[PROTOCOL_MAX_IMPORT_BATCH];
		size_t		nick_lens[PROTOCOL_MAX_IMPORT_BATCH];
		size_t		face_lens[PROTOCOL_MAX_IMPORT_BATCH];
		size_t		n = next_rand(&seed) % (PROTOCOL_MAX_IMPORT_BATCH + 1);
		int			use_nicks = round % 3 != 0;
		int			use_faces = round % 4 != 0;
		char	   *got;
		json_object *root;
		json_object *list;

		for (size_t i = 0; i < n; i++)
		{
			const char **arr[3] = {&ids[i], &nicks[i], &faces[i]};
			size_t	   *lens[3] = {&id_lens[i], &nick_lens[i], &face_lens[i]};

			for (int k = 0; k < 3; k++)
			{
				size_t		l = next_rand(&seed) % 40;

				for (size_t j = 0; j < l; j++)
					storage[k][i][j] = (char) (next_rand(&seed) % 128);	/* ASCII: json-c keeps it */
				*arr[k] = storage[k][i];
				*lens[k] = l;
			}
			if (next_rand(&seed) % 3 == 0)
				nicks[i] = NULL;
			if (next_rand(&seed) % 3 == 0)
				faces[i] = NULL;
		}
		got = build_import(ids, id_lens, use_nicks ? nicks : NULL, nick_lens,
						   use_faces ? faces : NULL, face_lens, n);
		root = json_parse_strict(got, strlen(got));
		assert_int_equal(json_object_object_length(root), 1);
		assert_true(json_object_object_get_ex(root, "AccountList", &list));
		assert_int_equal(json_object_array_length(list), n);
		for (size_t i = 0; i < n; i++)
		{
			json_object *item = json_object_array_get_idx(list, i);
			int			has_nick = use_nicks && nicks[i] != NULL;
			int			has_face = use_faces && faces[i] != NULL;
			json_object *v;

			assert_int_equal(json_object_object_length(item), 1 + has_nick + has_face);
			assert_json_string_member(item, "UserID", ids[i], id_lens[i]);
			if (has_nick)
				assert_json_string_member(item, "Nick", nicks[i], nick_lens[i]);
			else
				assert_false(json_object_object_get_ex(item, "Nick", &v));
			if (has_face)
				assert_json_string_member(item, "FaceUrl", faces[i], face_lens[i]);
			else
				assert_false(json_object_object_get_ex(item, "FaceUrl", &v));
		}
		json_object_put(root);
		free(got);
	}
}

/* ---- multiaccount_import: answer ------------------------------------------- */

static void
test_import_parse_none_failed(void **state)
{
	idset		s;
	protocol_response r;
	const protocol_account_status all_in[] = {
		PROTOCOL_STATUS_IMPORTED, PROTOCOL_STATUS_IMPORTED, PROTOCOL_STATUS_IMPORTED
	};

	(void) state;
	ids_of(&s, "a", "b", "c", NULL);
	/* FailAccounts empty */
	assert_int_equal(parse_import(IMPORT_OK(""), &s, &r), PROTOCOL_OK);
	assert_statuses(&r, all_in, 3);
	for (size_t i = 0; i < 3; i++)
	{
		assert_int_equal(r.items[i].result_code, 0);
		assert_string_equal(r.items[i].result_info, "");
		assert_int_equal(r.items[i].result_info_len, 0);
		assert_null(r.items[i].detail);
	}
	assert_string_equal(r.error_info, "");
	protocol_response_free(&r);

	/* FailAccounts absent: none failed */
	assert_int_equal(parse_import("{\"ActionStatus\":\"OK\",\"ErrorCode\":0,\"ErrorInfo\":\"\"}",
								  &s, &r), PROTOCOL_OK);
	assert_statuses(&r, all_in, 3);
	protocol_response_free(&r);

	/* no ErrorInfo, whitespace everywhere, other members ignored */
	assert_int_equal(parse_import(" \r\n{ \"ErrorCode\" : 0 ,\t\"ActionStatus\" : \"OK\" ,"
								  "\"Other\":{\"FailAccounts\":[\"a\"]},\"ResultItem\":[1],"
								  "\"ErrorList\":\"x\",\"QueryResult\":null,"
								  " \"FailAccounts\" : [ ] } \n", &s, &r), PROTOCOL_OK);
	assert_statuses(&r, all_in, 3);
	protocol_response_free(&r);
}

static void
test_import_parse_some_failed(void **state)
{
	idset		s;
	protocol_response r;
	const protocol_account_status want[] = {
		PROTOCOL_STATUS_IMPORTED, PROTOCOL_STATUS_NOT_IMPORTED,
		PROTOCOL_STATUS_IMPORTED, PROTOCOL_STATUS_NOT_IMPORTED
	};
	const char *bodies[] = {
		IMPORT_OK("\"b\",\"d\""),
		IMPORT_OK("\"d\",\"b\""),	/* order independent */
		IMPORT_OK(" \"d\" , \"b\" "),
		"{\"FailAccounts\":[\"d\",\"b\"]," ENVELOPE_OK "}",	/* before the envelope */
	};

	(void) state;
	ids_of(&s, "a", "b", "c", "d", NULL);
	for (size_t k = 0; k < N_OF(bodies); k++)
	{
		assert_int_equal(parse_import(bodies[k], &s, &r), PROTOCOL_OK);
		assert_statuses(&r, want, 4);
		for (size_t i = 0; i < 4; i++)
			assert_int_equal(r.items[i].result_code, 0);
		protocol_response_free(&r);
	}

	/* all failed, any order */
	{
		const protocol_account_status all_out[] = {
			PROTOCOL_STATUS_NOT_IMPORTED, PROTOCOL_STATUS_NOT_IMPORTED,
			PROTOCOL_STATUS_NOT_IMPORTED, PROTOCOL_STATUS_NOT_IMPORTED
		};

		assert_int_equal(parse_import(IMPORT_OK("\"c\",\"a\",\"d\",\"b\""), &s, &r), PROTOCOL_OK);
		assert_statuses(&r, all_out, 4);
		protocol_response_free(&r);
	}
}

/* The documented sample answer, verbatim layout. */
static void
test_import_parse_sample(void **state)
{
	idset		s;
	protocol_response r;
	const protocol_account_status want[] = {
		PROTOCOL_STATUS_NOT_IMPORTED, PROTOCOL_STATUS_IMPORTED, PROTOCOL_STATUS_NOT_IMPORTED
	};

	(void) state;
	ids_of(&s, "test1", "test3", "test2", NULL);
	assert_int_equal(parse_import("{\n"
								  "    \"ActionStatus\": \"OK\",\n"
								  "    \"ErrorCode\": 0,\n"
								  "    \"ErrorInfo\": \"\",\n"
								  "    \"FailAccounts\": [\n"
								  "        \"test1\",\n"
								  "        \"test2\"\n"
								  "    ]\n"
								  "}\n", &s, &r), PROTOCOL_OK);
	assert_statuses(&r, want, 3);
	protocol_response_free(&r);
}

static void
test_import_parse_unasked(void **state)
{
	idset		s;

	(void) state;
	ids_of(&s, "a", "b", NULL);
	assert_import(IMPORT_OK("\"c\""), &s, PROTOCOL_MISMATCH);
	assert_import(IMPORT_OK("\"a\",\"c\""), &s, PROTOCOL_MISMATCH);
	assert_import(IMPORT_OK("\"c\",\"a\""), &s, PROTOCOL_MISMATCH);
	assert_import(IMPORT_OK("\"A\""), &s, PROTOCOL_MISMATCH);	/* bytes, not case */
	assert_import(IMPORT_OK("\"a \""), &s, PROTOCOL_MISMATCH);
	assert_import(IMPORT_OK("\"\""), &s, PROTOCOL_MISMATCH);
	assert_import(IMPORT_OK("\"ab\""), &s, PROTOCOL_MISMATCH);
	assert_import(IMPORT_OK("\"a\\u0000\""), &s, PROTOCOL_MISMATCH);
	/* nothing asked: any listed account is unasked */
	ids_of(&s, NULL);
	assert_import(IMPORT_OK("\"a\""), &s, PROTOCOL_MISMATCH);
}

static void
test_import_parse_listed_twice(void **state)
{
	idset		s;
	protocol_response r;
	const protocol_account_status want[] = {
		PROTOCOL_STATUS_IMPORTED, PROTOCOL_STATUS_NOT_IMPORTED, PROTOCOL_STATUS_IMPORTED
	};
	const char *bodies[] = {
		IMPORT_OK("\"b\",\"b\""),
		IMPORT_OK("\"b\",\"b\",\"b\""),
		IMPORT_OK("\"b\",\"\\u0062\""),	/* the same account, escaped */
	};

	(void) state;
	ids_of(&s, "a", "b", "c", NULL);
	for (size_t k = 0; k < N_OF(bodies); k++)
	{
		assert_int_equal(parse_import(bodies[k], &s, &r), PROTOCOL_OK);
		assert_statuses(&r, want, 3);
		protocol_response_free(&r);
	}
	/* listed twice, and another one unasked */
	assert_import(IMPORT_OK("\"b\",\"b\",\"x\""), &s, PROTOCOL_MISMATCH);
}

/*
 * The same ID asked twice (the engine deduplicates, but the header's
 * contract is per asked index: "items[i].status is NOT_IMPORTED when ids[i]
 * is in FailAccounts, IMPORTED otherwise") must not come back both
 * Imported and NotImported.
 *
 * Regression test, fixed bug: with ids {a, b, a} and FailAccounts ["a"],
 * items[2] came back IMPORTED (each FailAccounts entry marked only the
 * first not-yet-marked copy).
 */
static void
test_import_parse_duplicate_asked(void **state)
{
	static const struct
	{
		const char *body;
		protocol_account_status want[3];
	}			cases[] = {
		{IMPORT_OK(""), {PROTOCOL_STATUS_IMPORTED, PROTOCOL_STATUS_IMPORTED,
		 PROTOCOL_STATUS_IMPORTED}},
		{IMPORT_OK("\"a\",\"a\""), {PROTOCOL_STATUS_NOT_IMPORTED, PROTOCOL_STATUS_IMPORTED,
		 PROTOCOL_STATUS_NOT_IMPORTED}},
		/* listed once: still the one account, which failed */
		{IMPORT_OK("\"a\""), {PROTOCOL_STATUS_NOT_IMPORTED, PROTOCOL_STATUS_IMPORTED,
		 PROTOCOL_STATUS_NOT_IMPORTED}},
		{IMPORT_OK("\"b\",\"a\""), {PROTOCOL_STATUS_NOT_IMPORTED, PROTOCOL_STATUS_NOT_IMPORTED,
		 PROTOCOL_STATUS_NOT_IMPORTED}},
	};
	idset		s;
	char		failures[512] = "";

	(void) state;
	ids_of(&s, "a", "b", "a", NULL);
	for (size_t k = 0; k < N_OF(cases); k++)
	{
		protocol_response r;
		protocol_outcome o = parse_import(cases[k].body, &s, &r);

		/* collect, free, then fail: no leak reports on top of the failure */
		if (o != PROTOCOL_OK)
			snprintf(failures + strlen(failures), sizeof(failures) - strlen(failures),
					 "\n  %s: %s", cases[k].body, protocol_outcome_text(o));
		else
			for (size_t i = 0; i < 3; i++)
				if (r.items[i].status != cases[k].want[i])
					snprintf(failures + strlen(failures), sizeof(failures) - strlen(failures),
							 "\n  %s: items[%zu] is %s, want %s", cases[k].body, i,
							 protocol_account_status_text(r.items[i].status),
							 protocol_account_status_text(cases[k].want[i]));
		protocol_response_free(&r);
	}
	if (failures[0] != '\0')
		fail_msg("ids {a, b, a}:%s", failures);
}

static void
test_import_parse_fail_accounts_shape(void **state)
{
	idset		s;
	const char *bad[] = {
		"{" ENVELOPE_OK ",\"FailAccounts\":\"a\"}",
		"{" ENVELOPE_OK ",\"FailAccounts\":null}",
		"{" ENVELOPE_OK ",\"FailAccounts\":{}}",
		"{" ENVELOPE_OK ",\"FailAccounts\":{\"a\":1}}",
		"{" ENVELOPE_OK ",\"FailAccounts\":1}",
		"{" ENVELOPE_OK ",\"FailAccounts\":true}",
		IMPORT_OK("\"a\",1"),
		IMPORT_OK("1"),
		IMPORT_OK("null"),
		IMPORT_OK("\"a\",null"),
		IMPORT_OK("[\"a\"]"),
		IMPORT_OK("{\"UserID\":\"a\"}"),
		IMPORT_OK("false,\"a\""),
		IMPORT_OK("\"x\",1"),	/* not a string wins over unasked */
	};

	(void) state;
	ids_of(&s, "a", "b", NULL);
	for (size_t k = 0; k < N_OF(bad); k++)
		assert_import(bad[k], &s, PROTOCOL_MALFORMED);
	/* and not JSON at all */
	assert_import(IMPORT_OK("\"a\","), &s, PROTOCOL_MALFORMED);
	assert_import(IMPORT_OK(",\"a\""), &s, PROTOCOL_MALFORMED);
	assert_import(IMPORT_OK("\"a\" \"b\""), &s, PROTOCOL_MALFORMED);
	assert_import(IMPORT_OK("'a'"), &s, PROTOCOL_MALFORMED);
	assert_import(IMPORT_OK("\"a\x01\""), &s, PROTOCOL_MALFORMED);
	assert_import(IMPORT_OK("\"a\\x\""), &s, PROTOCOL_MALFORMED);
}

static void
test_import_parse_full_batch(void **state)
{
	static char storage[PROTOCOL_MAX_ANY_BATCH + 1][PROTOCOL_MAX_USERID_BYTES + 1];
	static idset s;
	protocol_buffer body = {0};
	protocol_response r;

	(void) state;
	ids_numbered(&s, storage, "import_user_", PROTOCOL_MAX_IMPORT_BATCH);

	/* every one of 100 failed, listed in reverse: OK */
	append_lit(&body, "{" ENVELOPE_OK ",\"FailAccounts\":[");
	for (size_t k = 0; k < s.n; k++)
	{
		size_t		i = s.n - 1 - k;

		if (k > 0)
			assert_int_equal(protocol_buffer_append(&body, ",", 1), 0);
		assert_int_equal(protocol_buffer_append_json_string(&body, s.ids[i], s.lens[i]), 0);
	}
	{
		size_t		mark = body.len;

		append_lit(&body, "]}");
		assert_int_equal(parse_import(body.data, &s, &r), PROTOCOL_OK);
		for (size_t i = 0; i < s.n; i++)
			assert_int_equal(r.items[i].status, PROTOCOL_STATUS_NOT_IMPORTED);
		protocol_response_free(&r);

		/* a 101st entry, even a repeat of an asked one: more than a call asks */
		body.len = mark;
		append_lit(&body, ",\"import_user_7\"]}");
		assert_import(body.data, &s, PROTOCOL_MISMATCH);

		/* a 101st entry that is not a string is MALFORMED all the same */
		body.len = mark;
		append_lit(&body, ",7]}");
		assert_import(body.data, &s, PROTOCOL_MALFORMED);
	}

	/* 101 entries against a smaller ask, and far more than 101 */
	{
		idset		two;

		ids_of(&two, "a", "b", NULL);
		protocol_buffer_reset(&body);
		append_lit(&body, "{" ENVELOPE_OK ",\"FailAccounts\":[");
		for (size_t k = 0; k < 5000; k++)
			append_lit(&body, k ? ",\"a\"" : "\"a\"");
		append_lit(&body, "]}");
		assert_import(body.data, &two, PROTOCOL_MISMATCH);
	}

	/* 101 asked */
	ids_numbered(&s, storage, "import_user_", PROTOCOL_MAX_IMPORT_BATCH + 1);
	assert_import(IMPORT_OK(""), &s, PROTOCOL_MISMATCH);
	assert_import("{\"ActionStatus\":\"FAIL\",\"ErrorCode\":70398,\"ErrorInfo\":\"x\"}", &s,
				  PROTOCOL_MISMATCH);
	/* n > PROTOCOL_MAX_IMPORT_BATCH is refused before the body is read */
	{
		protocol_response rr;

		memset(&rr, 0x5a, sizeof(rr));
		assert_int_equal(protocol_parse_import_response(NULL, 0, s.ids, s.lens, s.n, &rr),
						 PROTOCOL_MISMATCH);
		check_common(&rr, PROTOCOL_MISMATCH, s.n);
		protocol_response_free(&rr);
	}
	protocol_buffer_free(&body);
}

static void
test_import_parse_fail(void **state)
{
	idset		s;
	protocol_response r;

	(void) state;
	ids_of(&s, "a", "b", NULL);
	assert_int_equal(parse_import("{\"ActionStatus\":\"FAIL\",\"ErrorCode\":70398,"
								  "\"ErrorInfo\":\"Err_Account_Count_Limit\"}", &s, &r),
					 PROTOCOL_FAIL);
	assert_int_equal(r.error_code, 70398);
	assert_string_equal(r.error_info, "Err_Account_Count_Limit");
	assert_int_equal(r.n_items, 0);
	protocol_response_free(&r);

	/* escaped ErrorInfo is decoded; the FailAccounts of a FAIL are not read */
	assert_int_equal(parse_import("{\"ErrorInfo\":\"a \\\"b\\\" \\u00e9\\n\",\"ErrorCode\":70398,"
								  "\"ActionStatus\":\"FAIL\",\"FailAccounts\":[\"zz\"]}", &s, &r),
					 PROTOCOL_FAIL);
	assert_int_equal(r.error_code, 70398);
	assert_string_equal(r.error_info, "a \"b\" \xc3\xa9\n");
	protocol_response_free(&r);

	/* without ErrorInfo */
	assert_int_equal(parse_import("{\"ActionStatus\":\"FAIL\",\"ErrorCode\":90001}", &s, &r),
					 PROTOCOL_FAIL);
	assert_int_equal(r.error_code, 90001);
	assert_string_equal(r.error_info, "");
	protocol_response_free(&r);

	/* an ErrorInfo on OK is kept too */
	assert_int_equal(parse_import("{\"ActionStatus\":\"OK\",\"ErrorCode\":0,\"ErrorInfo\":\"fine\"}",
								  &s, &r), PROTOCOL_OK);
	assert_string_equal(r.error_info, "fine");
	protocol_response_free(&r);
}

static void
test_import_parse_envelope(void **state)
{
	idset		s;
	const char *bad[] = {
		"{\"ActionStatus\":\"OK\",\"ErrorCode\":70398,\"ErrorInfo\":\"\",\"FailAccounts\":[]}",
		"{\"ActionStatus\":\"FAIL\",\"ErrorCode\":0,\"ErrorInfo\":\"\",\"FailAccounts\":[]}",
		"{\"ActionStatus\":\"ok\",\"ErrorCode\":0,\"FailAccounts\":[]}",
		"{\"ActionStatus\":\"OK \",\"ErrorCode\":0,\"FailAccounts\":[]}",
		"{\"ActionStatus\":\"\",\"ErrorCode\":0,\"FailAccounts\":[]}",
		"{\"ActionStatus\":\"fail\",\"ErrorCode\":70398}",
		"{\"ActionStatus\":null,\"ErrorCode\":0,\"FailAccounts\":[]}",
		"{\"ActionStatus\":1,\"ErrorCode\":0,\"FailAccounts\":[]}",
		"{\"ErrorCode\":0,\"ErrorInfo\":\"\",\"FailAccounts\":[]}",
		"{\"ActionStatus\":\"OK\",\"ErrorInfo\":\"\",\"FailAccounts\":[]}",
		"{\"ActionStatus\":\"OK\",\"ErrorCode\":\"0\",\"FailAccounts\":[]}",
		"{\"ActionStatus\":\"OK\",\"ErrorCode\":0.0,\"FailAccounts\":[]}",
		"{\"ActionStatus\":\"OK\",\"ErrorCode\":null,\"FailAccounts\":[]}",
		"{\"ActionStatus\":\"FAIL\",\"ErrorCode\":-1,\"ErrorInfo\":\"x\"}",
		"{\"ActionStatus\":\"FAIL\",\"ErrorCode\":2147483648,\"ErrorInfo\":\"x\"}",
		"{\"ActionStatus\":\"FAIL\",\"ErrorCode\":\"70398\",\"ErrorInfo\":\"x\"}",
	};

	(void) state;
	ids_of(&s, "a", NULL);
	for (size_t k = 0; k < N_OF(bad); k++)
		assert_import(bad[k], &s, PROTOCOL_MALFORMED);
	/* an ErrorInfo that is not a string: taken as absent, or refused */
	{
		protocol_outcome o = outcome_with(protocol_parse_import_response,
										  "{\"ActionStatus\":\"OK\",\"ErrorCode\":0,"
										  "\"ErrorInfo\":1,\"FailAccounts\":[]}", &s);

		assert_true(o == PROTOCOL_OK || o == PROTOCOL_MALFORMED);
	}
	/* the largest ErrorCode is a FAIL */
	assert_import("{\"ActionStatus\":\"FAIL\",\"ErrorCode\":2147483647,\"ErrorInfo\":\"x\"}",
				  &s, PROTOCOL_FAIL);
}

static void
test_import_parse_duplicate_members(void **state)
{
	idset		s;
	const char *bad[] = {
		/* FailAccounts twice, whatever the copies hold */
		"{" ENVELOPE_OK ",\"FailAccounts\":[],\"FailAccounts\":[]}",
		"{" ENVELOPE_OK ",\"FailAccounts\":[\"a\"],\"FailAccounts\":[]}",
		"{" ENVELOPE_OK ",\"FailAccounts\":[],\"FailAccounts\":[\"a\"]}",
		"{\"FailAccounts\":[]," ENVELOPE_OK ",\"FailAccounts\":[]}",
		"{" ENVELOPE_OK ",\"FailAccounts\":null,\"FailAccounts\":[]}",
		/* once plainly, once with escapes */
		"{" ENVELOPE_OK ",\"FailAccounts\":[],\"Fail\\u0041ccounts\":[\"a\"]}",
		"{" ENVELOPE_OK ",\"\\u0046ailAccounts\":[\"a\"],\"FailAccounts\":[]}",
		/* envelope members */
		"{\"ActionStatus\":\"OK\",\"ErrorCode\":70398,\"ErrorCode\":0,\"ErrorInfo\":\"\"}",
		"{\"ActionStatus\":\"OK\",\"ErrorCode\":0,\"ErrorCode\":0,\"ErrorInfo\":\"\"}",
		"{\"ActionStatus\":\"FAIL\",\"ErrorCode\":0,\"ActionStatus\":\"OK\",\"ErrorInfo\":\"\"}",
		"{\"ActionStatus\":\"OK\",\"ErrorCode\":0,\"ErrorInfo\":\"\",\"ErrorInfo\":\"\"}",
		"{\"ActionStatus\":\"FAIL\",\"ErrorCode\":70398,\"ErrorInfo\":\"x\",\"ErrorInfo\":\"y\"}",
		"{\"ActionStatus\":\"OK\",\"ErrorCode\":0,\"Error\\u0043ode\":0}",
		"{\"ActionStatus\":\"OK\",\"\\u0041ctionStatus\":\"OK\",\"ErrorCode\":0}",
	};

	(void) state;
	ids_of(&s, "a", NULL);
	for (size_t k = 0; k < N_OF(bad); k++)
		assert_import(bad[k], &s, PROTOCOL_MALFORMED);
	/* a repeated member we do not read is left alone */
	assert_import("{" ENVELOPE_OK ",\"X\":1,\"X\":2,\"FailAccounts\":[]}", &s, PROTOCOL_OK);
	/* a repeat inside another member is not a top-level repeat */
	assert_import("{" ENVELOPE_OK ",\"X\":{\"FailAccounts\":[\"a\"]},\"FailAccounts\":[]}",
				  &s, PROTOCOL_OK);
}

static void
test_import_parse_escapes(void **state)
{
	idset		s;
	protocol_response r;

	(void) state;
	/* member names written with escapes are the same members */
	ids_of(&s, "a", "b", NULL);
	{
		const protocol_account_status want[] = {
			PROTOCOL_STATUS_IMPORTED, PROTOCOL_STATUS_NOT_IMPORTED
		};

		assert_int_equal(parse_import("{\"\\u0041ctionStatus\":\"\\u004fK\",\"Error\\u0043ode\":0,"
									  "\"Fail\\u0041ccounts\":[\"b\"]}", &s, &r), PROTOCOL_OK);
		assert_statuses(&r, want, 2);
		protocol_response_free(&r);
	}
	/* a FAIL written with escapes is a FAIL */
	assert_int_equal(parse_import("{\"ActionStatus\":\"F\\u0041IL\",\"ErrorCode\":70398,"
								  "\"Error\\u0049nfo\":\"\\u0078\"}", &s, &r), PROTOCOL_FAIL);
	assert_int_equal(r.error_code, 70398);
	assert_string_equal(r.error_info, "x");
	protocol_response_free(&r);
	/* near misses of the names are other members */
	assert_import("{" ENVELOPE_OK ",\"failAccounts\":[\"zz\"],\"FailAccount\":[\"zz\"],"
				  "\"FailAccounts \":[\"zz\"],\"Fail\\u0041ccounts\\u0000\":[\"zz\"]}",
				  &s, PROTOCOL_OK);

	/* escaped IDs match the asked bytes */
	{
		static const char quote_id[] = "q\"\\/x";
		static const char ctl_id[] = "c\x01\n";
		static const char nul_id[] = "n\0m";
		static const char utf_id[] = "\xe7\x94\xa8\xc3\xa9\xf0\x9f\x98\x80";
		idset		e;
		const protocol_account_status want[] = {
			PROTOCOL_STATUS_NOT_IMPORTED, PROTOCOL_STATUS_NOT_IMPORTED,
			PROTOCOL_STATUS_NOT_IMPORTED, PROTOCOL_STATUS_NOT_IMPORTED,
			PROTOCOL_STATUS_IMPORTED
		};

		memset(&e, 0, sizeof(e));
		e.ids[0] = quote_id;
		e.lens[0] = sizeof(quote_id) - 1;
		e.ids[1] = ctl_id;
		e.lens[1] = sizeof(ctl_id) - 1;
		e.ids[2] = nul_id;
		e.lens[2] = sizeof(nul_id) - 1;
		e.ids[3] = utf_id;
		e.lens[3] = sizeof(utf_id) - 1;
		e.ids[4] = "plain";
		e.lens[4] = 5;
		e.n = 5;
		assert_int_equal(parse_import(IMPORT_OK("\"\\u7528\\u00E9\\ud83d\\ude00\","
												"\"n\\u0000m\",\"c\\u0001\\n\","
												"\"\\u0071\\\"\\\\\\/x\""), &e, &r), PROTOCOL_OK);
		assert_statuses(&r, want, 5);
		protocol_response_free(&r);
		/* the NUL ends nothing: "n" alone is not "n\0m" */
		assert_import(IMPORT_OK("\"n\""), &e, PROTOCOL_MISMATCH);
		/* a long ErrorInfo with escapes, and escaped IDs, share the arena */
		assert_int_equal(parse_import("{\"ActionStatus\":\"OK\",\"ErrorCode\":0,\"ErrorInfo\":"
									  "\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\","
									  "\"FailAccounts\":[\"\\u0071\\\"\\\\\\/x\",\"c\\u0001\\n\","
									  "\"n\\u0000m\",\"\\u7528\\u00E9\\ud83d\\ude00\"]}", &e, &r),
						 PROTOCOL_OK);
		assert_statuses(&r, want, 5);
		assert_string_equal(r.error_info, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
		protocol_response_free(&r);
	}
}

static void
test_import_parse_zero_ids(void **state)
{
	idset		s;
	protocol_response r;
	const char	body[] = IMPORT_OK("");
	char	   *copy;

	(void) state;
	ids_of(&s, NULL);
	assert_int_equal(parse_import(body, &s, &r), PROTOCOL_OK);
	assert_int_equal(r.n_items, 0);
	protocol_response_free(&r);
	assert_import("{\"ActionStatus\":\"OK\",\"ErrorCode\":0}", &s, PROTOCOL_OK);
	assert_import("{\"ActionStatus\":\"FAIL\",\"ErrorCode\":70398,\"ErrorInfo\":\"x\"}", &s,
				  PROTOCOL_FAIL);
	/* NULL id arrays */
	copy = exact_copy(body, sizeof(body) - 1);
	assert_int_equal(protocol_parse_import_response(copy, sizeof(body) - 1, NULL, NULL, 0, &r),
					 PROTOCOL_OK);
	check_common(&r, PROTOCOL_OK, 0);
	protocol_response_free(&r);
	free(copy);
}

static void
test_import_parse_not_json(void **state)
{
	idset		s;
	const char *bad[] = {
		"", " ", "{", "}", "[]", "null", "\"OK\"", "0", "{}",
		"{\"ActionStatus\":\"OK\",\"ErrorCode\":0,}",
		"{\"ActionStatus\":\"OK\",\"ErrorCode\":0 \"ErrorInfo\":\"\"}",
		"{\"ActionStatus\":\"OK\",\"ErrorCode\":00}",
		"{\"ActionStatus\":\"OK\",\"ErrorCode\":0}x",
		"{\"ActionStatus\":\"OK\",\"ErrorCode\":0}{}",
		"{'ActionStatus':'OK','ErrorCode':0}",
		"{ActionStatus:\"OK\",ErrorCode:0}",
		"{\"ActionStatus\":\"OK\",\"ErrorCode\":0,\"FailAccounts\":[\"a\"]",
		"{\"ActionStatus\":\"OK\",\"ErrorCode\":0,\"FailAccounts\":[\"a\"}",
		"{\"ActionStatus\":\"OK\",\"ErrorCode\":0,\"FailAccounts\":[\"a]}",
		"{\"ActionStatus\":\"OK\",\"ErrorCode\":0,\"FailAccounts\":[\"a\"]}]",
		"<html>502 Bad Gateway</html>",
		"\xef\xbb\xbf{\"ActionStatus\":\"OK\",\"ErrorCode\":0}",	/* a BOM */
	};

	(void) state;
	ids_of(&s, "a", NULL);
	for (size_t k = 0; k < N_OF(bad); k++)
		assert_import(bad[k], &s, PROTOCOL_MALFORMED);
	/* a NULL body */
	{
		protocol_response r;

		assert_int_equal(protocol_parse_import_response(NULL, 0, s.ids, s.lens, s.n, &r),
						 PROTOCOL_MALFORMED);
		check_common(&r, PROTOCOL_MALFORMED, s.n);
		protocol_response_free(&r);
	}
	/* a NUL byte inside is not whitespace */
	{
		const char	body[] = "{\"ActionStatus\":\"OK\",\"ErrorCode\":0}\0";
		protocol_response r;

		assert_int_equal(parse_with(protocol_parse_import_response, body, sizeof(body) - 1, &s, &r),
						 PROTOCOL_MALFORMED);
		protocol_response_free(&r);
	}
}

static void
test_import_parse_every_prefix(void **state)
{
	idset		s;
	const char *bodies[] = {
		IMPORT_OK("\"b\",\"a\""),
		IMPORT_OK(""),
		"{\"ActionStatus\":\"OK\",\"ErrorCode\":0}",
		"{\"ActionStatus\":\"FAIL\",\"ErrorCode\":70398,\"ErrorInfo\":\"e\"}",
		"{\"FailAccounts\":[\"\\u0061\"],\"ErrorCode\":0,\"ActionStatus\":\"OK\"}",
	};

	(void) state;
	ids_of(&s, "a", "b", "c", NULL);
	for (size_t k = 0; k < N_OF(bodies); k++)
	{
		protocol_outcome o = outcome_with(protocol_parse_import_response, bodies[k], &s);

		assert_true(o == PROTOCOL_OK || o == PROTOCOL_FAIL);
		assert_every_prefix_malformed(protocol_parse_import_response, bodies[k], &s);
	}
}

/* Randomised answers: a random subset failed, listed in a random order. */
static void
test_import_parse_random(void **state)
{
	static char storage[PROTOCOL_MAX_ANY_BATCH + 1][PROTOCOL_MAX_USERID_BYTES + 1];
	static idset s;
	uint32_t	seed = 777;
	protocol_buffer body = {0};

	(void) state;
	for (int round = 0; round < 300; round++)
	{
		size_t		n = next_rand(&seed) % (PROTOCOL_MAX_IMPORT_BATCH + 1);
		unsigned char failed[PROTOCOL_MAX_IMPORT_BATCH];
		size_t		order[PROTOCOL_MAX_IMPORT_BATCH];
		size_t		n_failed = 0;
		protocol_response r;

		ids_numbered(&s, storage, round % 2 ? "u" : "\xe7\x94\xa8\"\\", n);
		for (size_t i = 0; i < n; i++)
			if ((failed[i] = next_rand(&seed) % 3 == 0))
				order[n_failed++] = i;
		for (size_t i = n_failed; i > 1; i--)
		{
			size_t		j = next_rand(&seed) % i;
			size_t		t = order[i - 1];

			order[i - 1] = order[j];
			order[j] = t;
		}
		protocol_buffer_reset(&body);
		append_lit(&body, "{\"FailAccounts\":[");
		for (size_t k = 0; k < n_failed; k++)
		{
			if (k > 0)
				assert_int_equal(protocol_buffer_append(&body, ",", 1), 0);
			assert_int_equal(protocol_buffer_append_json_string(&body, s.ids[order[k]],
																s.lens[order[k]]), 0);
		}
		append_lit(&body, "]," ENVELOPE_OK "}");
		assert_int_equal(parse_with(protocol_parse_import_response, body.data, body.len, &s, &r),
						 PROTOCOL_OK);
		for (size_t i = 0; i < n; i++)
			assert_int_equal(r.items[i].status, failed[i] ? PROTOCOL_STATUS_NOT_IMPORTED
							 : PROTOCOL_STATUS_IMPORTED);
		protocol_response_free(&r);
	}
	protocol_buffer_free(&body);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_texts),
		cmocka_unit_test(test_import_request_ids_only),
		cmocka_unit_test(test_import_request_zero),
		cmocka_unit_test(test_import_request_nicks_faces),
		cmocka_unit_test(test_import_request_escaping),
		cmocka_unit_test(test_import_request_appends),
		cmocka_unit_test(test_import_request_random_round_trip),
		cmocka_unit_test(test_import_parse_none_failed),
		cmocka_unit_test(test_import_parse_some_failed),
		cmocka_unit_test(test_import_parse_sample),
		cmocka_unit_test(test_import_parse_unasked),
		cmocka_unit_test(test_import_parse_listed_twice),
		cmocka_unit_test(test_import_parse_duplicate_asked),
		cmocka_unit_test(test_import_parse_fail_accounts_shape),
		cmocka_unit_test(test_import_parse_full_batch),
		cmocka_unit_test(test_import_parse_fail),
		cmocka_unit_test(test_import_parse_envelope),
		cmocka_unit_test(test_import_parse_duplicate_members),
		cmocka_unit_test(test_import_parse_escapes),
		cmocka_unit_test(test_import_parse_zero_ids),
		cmocka_unit_test(test_import_parse_not_json),
		cmocka_unit_test(test_import_parse_every_prefix),
		cmocka_unit_test(test_import_parse_random),
	};

	return cmocka_run_group_tests_name("protocol_import", tests, NULL, NULL);
}
