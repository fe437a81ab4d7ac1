/*
 * test_protocol_online.c - cmocka tests of the query_online_status wire
 * format (src/protocol_online.c), as protocol.h describes it, and of what
 * both new parsers share (nesting depth, freeing after every outcome).
 */
#include "test_protocol_apis.h"

/* ---- query_online_status: request ----------------------------------------- */

static char *
build_online(const char *const *ids, const size_t *lens, size_t n)
{
	protocol_buffer b = {0};

	assert_int_equal(protocol_build_online_request(ids, lens, n, &b), 0);
	assert_non_null(b.data);
	assert_int_equal(strlen(b.data), b.len);
	return b.data;
}

static void
test_online_request_exact(void **state)
{
	const char *ids[] = {"id1", "id2", "a\"b\\c\x01\n\0d"};
	size_t		lens[] = {3, 3, 9};
	char	   *got;
	protocol_buffer b = {0};

	(void) state;
	got = build_online(ids, lens, 2);
	assert_string_equal(got, "{\"To_Account\":[\"id1\",\"id2\"],\"IsNeedDetail\":1}");
	free(got);
	got = build_online(ids, lens, 1);
	assert_string_equal(got, "{\"To_Account\":[\"id1\"],\"IsNeedDetail\":1}");
	free(got);
	got = build_online(NULL, NULL, 0);
	assert_string_equal(got, "{\"To_Account\":[],\"IsNeedDetail\":1}");
	free(got);
	got = build_online(ids + 2, lens + 2, 1);
	assert_string_equal(got, "{\"To_Account\":[\"a\\\"b\\\\c\\u0001\\n\\u0000d\"],\"IsNeedDetail\":1}");
	free(got);

	/* appends */
	assert_int_equal(protocol_buffer_append(&b, "XY", 2), 0);
	assert_int_equal(protocol_build_online_request(ids, lens, 1, &b), 0);
	assert_string_equal(b.data, "XY{\"To_Account\":[\"id1\"],\"IsNeedDetail\":1}");
	protocol_buffer_free(&b);
}

static void
test_online_request_full_batch(void **state)
{
	static char storage[PROTOCOL_MAX_ANY_BATCH + 1][PROTOCOL_MAX_USERID_BYTES + 1];
	static idset s;
	char	   *got;
	json_object *root;
	json_object *list;
	json_object *v;

	(void) state;
	ids_numbered(&s, storage, "online\"\\\x01_", PROTOCOL_MAX_ONLINE_BATCH);
	got = build_online(s.ids, s.lens, s.n);
	root = json_parse_strict(got, strlen(got));
	assert_int_equal(json_object_object_length(root), 2);
	assert_true(json_object_object_get_ex(root, "To_Account", &list));
	assert_int_equal(json_object_array_length(list), s.n);
	for (size_t i = 0; i < s.n; i++)
	{
		json_object *e = json_object_array_get_idx(list, i);

		assert_true(json_object_is_type(e, json_type_string));
		assert_int_equal((size_t) json_object_get_string_len(e), s.lens[i]);
		assert_memory_equal(json_object_get_string(e), s.ids[i], s.lens[i]);
	}
	assert_true(json_object_object_get_ex(root, "IsNeedDetail", &v));
	assert_true(json_object_is_type(v, json_type_int));
	assert_int_equal(json_object_get_int(v), 1);
	json_object_put(root);
	free(got);
}

/* ---- query_online_status: answer ------------------------------------------ */

#define DETAIL_1 "[{\"Platform\":\"iPhone\",\"Status\":\"PushOnline\"},{\"Platform\":\"Web\",\"Status\":\"Online\"}]"
#define DETAIL_2 "[ {\"Platform\" : \"Android\", \"Status\":\"PushOnline\", \"X\":[1,2.5e3,null,true]} ]"
#define DETAIL_3 "[{\"Platform\":\"W\\u0065b\\n\\\"\",\"Status\":\"Online\"}]"

static void
assert_detail(const protocol_item_result *it, const char *want)
{
	if (want == NULL)
	{
		assert_null(it->detail);
		assert_int_equal(it->detail_len, 0);
		return;
	}
	assert_non_null(it->detail);
	assert_int_equal(it->detail_len, strlen(want));
	assert_memory_equal(it->detail, want, strlen(want));
	assert_int_equal(it->detail[it->detail_len], '\0');
}

static void
assert_item(const protocol_response *r, size_t i, protocol_account_status status,
			int32_t code, const char *detail)
{
	const protocol_item_result *it = &r->items[i];

	if (it->status != status || it->result_code != code)
		fail_msg("item %zu: status %d code %d, want status %d code %d", i, (int) it->status,
				 (int) it->result_code, (int) status, (int) code);
	assert_string_equal(it->result_info, "");
	assert_int_equal(it->result_info_len, 0);
	assert_detail(it, detail);
}

/* The documented sample answer, verbatim layout. */
static void
test_online_parse_sample(void **state)
{
	idset		s;
	protocol_response r;

	(void) state;
	ids_of(&s, "id1", "id2", "id3", "id4", NULL);
	assert_int_equal(parse_online("{\n"
								  "    \"ActionStatus\": \"OK\",\n"
								  "    \"ErrorInfo\": \"\",\n"
								  "    \"ErrorCode\": 0,\n"
								  "    \"QueryResult\": [\n"
								  "        {\n"
								  "            \"To_Account\": \"id1\",\n"
								  "            \"Detail\": [\n"
								  "                {\n"
								  "                    \"Platform\": \"iPhone\",\n"
								  "                    \"Status\": \"PushOnline\"\n"
								  "                },\n"
								  "                {\n"
								  "                    \"Platform\": \"Web\",\n"
								  "                    \"Status\": \"Online\"\n"
								  "                }\n"
								  "            ],\n"
								  "            \"Status\": \"Online\"\n"
								  "        },\n"
								  "        {\n"
								  "            \"To_Account\": \"id2\",\n"
								  "            \"Detail\": [\n"
								  "                {\n"
								  "                    \"Platform\": \"Android\",\n"
								  "                    \"Status\": \"PushOnline\"\n"
								  "                }\n"
								  "            ],\n"
								  "            \"Status\": \"PushOnline\"\n"
								  "        },\n"
								  "        {\n"
								  "            \"To_Account\": \"id3\",\n"
								  "            \"Status\": \"Offline\"\n"
								  "        }\n"
								  "    ],\n"
								  "    \"ErrorList\": [\n"
								  "        {\n"
								  "            \"To_Account\": \"id4\",\n"
								  "            \"ErrorCode\": 70107\n"
								  "        }\n"
								  "    ]\n"
								  "}\n", &s, &r), PROTOCOL_OK);
	assert_item(&r, 0, PROTOCOL_STATUS_ONLINE, 0,
				"[\n"
				"                {\n"
				"                    \"Platform\": \"iPhone\",\n"
				"                    \"Status\": \"PushOnline\"\n"
				"                },\n"
				"                {\n"
				"                    \"Platform\": \"Web\",\n"
				"                    \"Status\": \"Online\"\n"
				"                }\n"
				"            ]");
	assert_item(&r, 1, PROTOCOL_STATUS_PUSH_ONLINE, 0,
				"[\n"
				"                {\n"
				"                    \"Platform\": \"Android\",\n"
				"                    \"Status\": \"PushOnline\"\n"
				"                }\n"
				"            ]");
	assert_item(&r, 2, PROTOCOL_STATUS_OFFLINE, 0, NULL);
	assert_item(&r, 3, PROTOCOL_STATUS_NONE, 70107, NULL);
	protocol_response_free(&r);
}

static void
test_online_parse_lists(void **state)
{
	idset		s;
	protocol_response r;
	const char *bodies[] = {
		/* in request order */
		ONLINE_OK(QRD("a", "Online", DETAIL_1) "," QR("b", "Offline") ","
				  QRD("d", "PushOnline", DETAIL_2) "," QRD("f", "Online", DETAIL_3),
				  EL("c", 70107) "," EL("e", 70001)),
		/* shuffled, ErrorList first, members in another order */
		"{\"ErrorList\":[{\"ErrorCode\":70001,\"To_Account\":\"e\"}," EL("c", 70107) "],"
		"\"QueryResult\":[" QRD("f", "Online", DETAIL_3) ",{\"Status\":\"PushOnline\","
		"\"Detail\":" DETAIL_2 ",\"To_Account\":\"d\"}," QR("b", "Offline") ","
		"{\"Status\":\"Online\",\"To_Account\":\"a\",\"Detail\":" DETAIL_1 "}],"
		"\"ErrorInfo\":\"\",\"ErrorCode\":0,\"ActionStatus\":\"OK\"}",
		/* whitespace around, and other members ignored */
		" {\"ActionStatus\" : \"OK\" , \"ErrorCode\" : 0 , \"QueryResult\" : [ "
		"{ \"To_Account\" : \"b\" , \"Status\" : \"Offline\" , \"Platform\":\"x\" } , "
		"{\"To_Account\":\"a\",\"Detail\": " DETAIL_1 " ,\"Status\":\"Online\",\"ErrorCode\":5} , "
		"{\"To_Account\":\"f\",\"Detail\":" DETAIL_3 ",\"Status\":\"Online\"},"
		"{\"To_Account\":\"d\",\"Detail\":" DETAIL_2 ",\"Status\":\"PushOnline\",\"Extra\":{}} ] , "
		"\"ErrorList\" : [ {\"To_Account\":\"e\",\"ErrorCode\":70001,\"Status\":\"Online\","
		"\"Detail\":[1]} , {\"To_Account\":\"c\",\"ErrorCode\":70107,\"ErrorInfo\":\"x\"} ] , "
		"\"Other\":{\"QueryResult\":1} } \r\n",
	};

	(void) state;
	ids_of(&s, "a", "b", "c", "d", "e", "f", NULL);
	for (size_t k = 0; k < N_OF(bodies); k++)
	{
		assert_int_equal(parse_online(bodies[k], &s, &r), PROTOCOL_OK);
		assert_item(&r, 0, PROTOCOL_STATUS_ONLINE, 0, DETAIL_1);
		assert_item(&r, 1, PROTOCOL_STATUS_OFFLINE, 0, NULL);
		assert_item(&r, 2, PROTOCOL_STATUS_NONE, 70107, NULL);
		assert_item(&r, 3, PROTOCOL_STATUS_PUSH_ONLINE, 0, DETAIL_2);
		/* an ErrorList entry's Status and Detail are not taken */
		assert_item(&r, 4, PROTOCOL_STATUS_NONE, 70001, NULL);
		assert_item(&r, 5, PROTOCOL_STATUS_ONLINE, 0, DETAIL_3);
		protocol_response_free(&r);
	}
}

static void
test_online_parse_detail_forms(void **state)
{
	idset		s;
	protocol_response r;

	(void) state;
	ids_of(&s, "a", "b", "c", NULL);
	/* empty, nested, odd bytes: each kept as sent */
	assert_int_equal(parse_online(ONLINE_OK(QRD("a", "Online", "[]") ","
											QRD("b", "Offline", "[[[\"\\u00e9\xc3\xa9\"]],{}]") ","
											QRD("c", "PushOnline", "[ ]"), ""), &s, &r),
					 PROTOCOL_OK);
	assert_item(&r, 0, PROTOCOL_STATUS_ONLINE, 0, "[]");
	assert_item(&r, 1, PROTOCOL_STATUS_OFFLINE, 0, "[[[\"\\u00e9\xc3\xa9\"]],{}]");
	assert_item(&r, 2, PROTOCOL_STATUS_PUSH_ONLINE, 0, "[ ]");
	protocol_response_free(&r);

	/* a long ErrorInfo and long Details all fit in the arena */
	{
		protocol_buffer body = {0};
		protocol_buffer detail = {0};

		append_lit(&detail, "[");
		for (int i = 0; i < 300; i++)
			append_lit(&detail, i ? ",\"\\u00e9\"" : "\"\\u00e9\"");
		append_lit(&detail, "]");
		append_lit(&body, "{\"ActionStatus\":\"OK\",\"ErrorCode\":0,\"ErrorInfo\":\"");
		for (int i = 0; i < 300; i++)
			append_lit(&body, "\\u00e9");
		append_lit(&body, "\",\"QueryResult\":[");
		for (int k = 0; k < 3; k++)
		{
			char		item[64];

			snprintf(item, sizeof(item), "%s{\"To_Account\":\"\\u00%x\",\"Status\":\"Online\","
					 "\"Detail\":", k ? "," : "", (unsigned) ('c' - k));
			append_lit(&body, item);
			append_lit(&body, detail.data);
			append_lit(&body, "}");
		}
		append_lit(&body, "]}");
		assert_int_equal(parse_with(protocol_parse_online_response, body.data, body.len, &s, &r),
						 PROTOCOL_OK);
		assert_int_equal(strlen(r.error_info), 600);
		for (size_t i = 0; i < 3; i++)
			assert_item(&r, i, PROTOCOL_STATUS_ONLINE, 0, detail.data);
		protocol_response_free(&r);
		protocol_buffer_free(&body);
		protocol_buffer_free(&detail);
	}
}

static void
test_online_parse_error_list_only(void **state)
{
	idset		s;
	protocol_response r;

	(void) state;
	ids_of(&s, "a", "b", NULL);
	/* QueryResult empty */
	assert_int_equal(parse_online(ONLINE_OK("", EL("b", 70107) "," EL("a", 2147483647)), &s, &r),
					 PROTOCOL_OK);
	assert_item(&r, 0, PROTOCOL_STATUS_NONE, 2147483647, NULL);
	assert_item(&r, 1, PROTOCOL_STATUS_NONE, 70107, NULL);
	protocol_response_free(&r);
	/* QueryResult absent: the ErrorList answers every asked ID */
	assert_int_equal(parse_online("{" ENVELOPE_OK ",\"ErrorList\":[" EL("a", 70107) ","
								  EL("b", 70107) "]}", &s, &r), PROTOCOL_OK);
	assert_item(&r, 0, PROTOCOL_STATUS_NONE, 70107, NULL);
	assert_item(&r, 1, PROTOCOL_STATUS_NONE, 70107, NULL);
	protocol_response_free(&r);
	/* ErrorList absent, or empty */
	assert_int_equal(parse_online("{" ENVELOPE_OK ",\"QueryResult\":[" QR("a", "Offline") ","
								  QR("b", "Online") "]}", &s, &r), PROTOCOL_OK);
	assert_item(&r, 0, PROTOCOL_STATUS_OFFLINE, 0, NULL);
	assert_item(&r, 1, PROTOCOL_STATUS_ONLINE, 0, NULL);
	protocol_response_free(&r);
	assert_online(ONLINE_OK(QR("a", "Offline") "," QR("b", "Online"), ""), &s, PROTOCOL_OK);
}

static void
test_online_parse_mismatch(void **state)
{
	idset		s;
	const char *bad[] = {
		/* missing */
		ONLINE_OK(QR("a", "Online"), ""),
		ONLINE_OK(QR("a", "Online"), EL("b", 70107)),
		ONLINE_OK("", ""),
		"{" ENVELOPE_OK ",\"QueryResult\":[]}",
		"{" ENVELOPE_OK ",\"ErrorList\":[" EL("c", 1) "]}",
		/* extra */
		ONLINE_OK(QR("a", "Online") "," QR("b", "Online") "," QR("c", "Online") ","
				  QR("x", "Online"), ""),
		ONLINE_OK(QR("a", "Online") "," QR("b", "Online"), EL("c", 70107) "," EL("x", 70107)),
		/* one answered twice, one not */
		ONLINE_OK(QR("a", "Online") "," QR("a", "Offline") "," QR("b", "Online"), ""),
		ONLINE_OK(QR("a", "Online") "," QR("b", "Online"), EL("a", 70107)),
		ONLINE_OK(QR("a", "Online") "," QR("c", "Online"), EL("c", 70107)),
		ONLINE_OK("", EL("a", 1) "," EL("b", 1) "," EL("b", 1)),
		/* one answered twice, the others too */
		ONLINE_OK(QR("a", "Online") "," QR("b", "Online") "," QR("c", "Online"), EL("a", 70107)),
		ONLINE_OK(QR("a", "Online") "," QR("b", "Online") "," QR("c", "Online") ","
				  QR("c", "Online"), ""),
		/* unasked in place of an asked one */
		ONLINE_OK(QR("a", "Online") "," QR("b", "Online") "," QR("x", "Online"), ""),
		ONLINE_OK(QR("a", "Online") "," QR("b", "Online"), EL("x", 70107)),
		ONLINE_OK(QR("a", "Online") "," QR("b", "Online") "," QR("C", "Online"), ""),
		ONLINE_OK(QR("a", "Online") "," QR("b", "Online") "," QR("c\\u0000", "Online"), ""),
	};

	(void) state;
	ids_of(&s, "a", "b", "c", NULL);
	for (size_t k = 0; k < N_OF(bad); k++)
		assert_online(bad[k], &s, PROTOCOL_MISMATCH);
	/* nothing asked, something answered */
	ids_of(&s, NULL);
	assert_online(ONLINE_OK(QR("a", "Online"), ""), &s, PROTOCOL_MISMATCH);
	assert_online(ONLINE_OK("", EL("a", 70107)), &s, PROTOCOL_MISMATCH);
}

static void
test_online_parse_entry_shape(void **state)
{
	idset		s;
	const char *bad[] = {
		/* unknown or missing Status */
		ONLINE_OK(QR("a", "Busy"), ""),
		ONLINE_OK(QR("a", "online"), ""),
		ONLINE_OK(QR("a", "Online "), ""),
		ONLINE_OK(QR("a", ""), ""),
		ONLINE_OK(QR("a", "Imported"), ""),
		ONLINE_OK(QR("a", "Online\\u0000"), ""),
		ONLINE_OK("{\"To_Account\":\"a\"}", ""),
		ONLINE_OK("{\"To_Account\":\"a\",\"Status\":null}", ""),
		ONLINE_OK("{\"To_Account\":\"a\",\"Status\":1}", ""),
		ONLINE_OK("{\"To_Account\":\"a\",\"Status\":[\"Online\"]}", ""),
		ONLINE_OK("{\"To_Account\":\"a\",\"ErrorCode\":70107}", ""),	/* in the wrong list */
		/* Detail not an array */
		ONLINE_OK(QRD("a", "Online", "{}"), ""),
		ONLINE_OK(QRD("a", "Online", "\"[]\""), ""),
		ONLINE_OK(QRD("a", "Online", "null"), ""),
		ONLINE_OK(QRD("a", "Online", "1"), ""),
		ONLINE_OK(QRD("a", "Online", "{\"Platform\":\"Web\",\"Status\":\"Online\"}"), ""),
		/* ErrorList entry without a positive int32 ErrorCode */
		ONLINE_OK("", EL("a", 0)),
		ONLINE_OK("", EL("a", -1)),
		ONLINE_OK("", EL("a", -70107)),
		ONLINE_OK("", EL("a", 2147483648)),
		ONLINE_OK("", EL("a", 1.5)),
		ONLINE_OK("", EL("a", 7e4)),
		ONLINE_OK("", EL("a", "70107")),
		ONLINE_OK("", EL("a", null)),
		ONLINE_OK("", "{\"To_Account\":\"a\"}"),
		ONLINE_OK("", "{\"To_Account\":\"a\",\"Status\":\"Offline\"}"),	/* in the wrong list */
		/* entries without a string To_Account, or not objects */
		ONLINE_OK("{\"Status\":\"Online\"}", ""),
		ONLINE_OK("{\"To_Account\":1,\"Status\":\"Online\"}", ""),
		ONLINE_OK("{\"To_Account\":null,\"Status\":\"Online\"}", ""),
		ONLINE_OK("{\"To_Account\":[\"a\"],\"Status\":\"Online\"}", ""),
		ONLINE_OK("{\"to_account\":\"a\",\"Status\":\"Online\"}", ""),
		ONLINE_OK("\"a\"", ""),
		ONLINE_OK("null", ""),
		ONLINE_OK("[" QR("a", "Online") "]", ""),
		ONLINE_OK("", "{\"ErrorCode\":70107}"),
		ONLINE_OK("", "\"a\""),
		ONLINE_OK("", "70107"),
		/* the lists not arrays */
		"{" ENVELOPE_OK ",\"QueryResult\":" QR("a", "Online") "}",
		"{" ENVELOPE_OK ",\"QueryResult\":null,\"ErrorList\":[" EL("a", 70107) "]}",
		"{" ENVELOPE_OK ",\"QueryResult\":\"\",\"ErrorList\":[" EL("a", 70107) "]}",
		"{" ENVELOPE_OK ",\"QueryResult\":[" QR("a", "Online") "],\"ErrorList\":null}",
		"{" ENVELOPE_OK ",\"QueryResult\":[" QR("a", "Online") "],\"ErrorList\":{}}",
		"{" ENVELOPE_OK ",\"QueryResult\":[" QR("a", "Online") "],\"ErrorList\":0}",
		/* no QueryResult and no ErrorList */
		"{" ENVELOPE_OK "}",
		"{" ENVELOPE_OK ",\"ResultItem\":[" QR("a", "Online") "]}",
		"{" ENVELOPE_OK ",\"FailAccounts\":[\"a\"]}",
		"{" ENVELOPE_OK ",\"X\":{\"QueryResult\":[" QR("a", "Online") "]}}",
		"{" ENVELOPE_OK ",\"queryresult\":[" QR("a", "Online") "]}",
	};

	(void) state;
	ids_of(&s, "a", NULL);
	for (size_t k = 0; k < N_OF(bad); k++)
		assert_online(bad[k], &s, PROTOCOL_MALFORMED);
	/* known statuses written with escapes are known */
	assert_online(ONLINE_OK(QR("a", "\\u004fnline"), ""), &s, PROTOCOL_OK);
	assert_online(ONLINE_OK(QR("\\u0061", "Push\\u004fnline"), ""), &s, PROTOCOL_OK);
	assert_online(ONLINE_OK("", EL("a", 1)), &s, PROTOCOL_OK);
	/* n = 0 and no lists at all is still no answer */
	ids_of(&s, NULL);
	assert_online("{" ENVELOPE_OK "}", &s, PROTOCOL_MALFORMED);
}

static void
test_online_parse_duplicate_members(void **state)
{
	idset		s;
	const char *bad[] = {
		/* inside an entry */
		ONLINE_OK("{\"To_Account\":\"a\",\"To_Account\":\"a\",\"Status\":\"Online\"}", ""),
		ONLINE_OK("{\"To_Account\":\"x\",\"To_Account\":\"a\",\"Status\":\"Online\"}", ""),
		ONLINE_OK("{\"To_Account\":\"a\",\"Status\":\"Offline\",\"Status\":\"Online\"}", ""),
		ONLINE_OK("{\"To_Account\":\"a\",\"Status\":\"Online\",\"Stat\\u0075s\":\"Online\"}", ""),
		ONLINE_OK("{\"To_Account\":\"a\",\"Status\":\"Online\",\"Detail\":[],\"Detail\":[]}", ""),
		ONLINE_OK("{\"To_Account\":\"a\",\"Status\":\"Online\",\"Detail\":null,\"Detail\":[]}", ""),
		ONLINE_OK("", "{\"To_Account\":\"a\",\"ErrorCode\":0,\"ErrorCode\":70107}"),
		ONLINE_OK("", "{\"To_Account\":\"a\",\"ErrorCode\":70107,\"ErrorCode\":70107}"),
		ONLINE_OK("", "{\"To_Account\":\"a\",\"To_\\u0041ccount\":\"b\",\"ErrorCode\":70107}"),
		/* the lists */
		"{" ENVELOPE_OK ",\"QueryResult\":[" QR("a", "Online") "],\"QueryResult\":[]}",
		"{" ENVELOPE_OK ",\"QueryResult\":[],\"QueryResult\":[" QR("a", "Online") "]}",
		"{" ENVELOPE_OK ",\"ErrorList\":[" EL("a", 1) "],\"ErrorList\":[]}",
		"{" ENVELOPE_OK ",\"ErrorList\":[],\"QueryResult\":[" QR("a", "Online") "],\"ErrorList\":[]}",
		"{" ENVELOPE_OK ",\"Query\\u0052esult\":[],\"QueryResult\":[" QR("a", "Online") "]}",
		/* the envelope */
		"{\"ActionStatus\":\"OK\",\"ErrorCode\":70107,\"ErrorCode\":0,\"QueryResult\":["
		QR("a", "Online") "]}",
		"{\"ActionStatus\":\"FAIL\",\"ActionStatus\":\"OK\",\"ErrorCode\":0,\"QueryResult\":["
		QR("a", "Online") "]}",
	};

	(void) state;
	ids_of(&s, "a", "b", NULL);
	for (size_t k = 0; k < N_OF(bad); k++)
		assert_online(bad[k], &s, PROTOCOL_MALFORMED);
	/* a member repeated inside one we do not read is left alone */
	assert_online(ONLINE_OK("{\"To_Account\":\"a\",\"Status\":\"Online\",\"Detail\":"
							"[{\"Status\":\"x\",\"Status\":\"y\"}],\"P\":1,\"P\":2}"
							"," QR("b", "Offline"), ""), &s, PROTOCOL_OK);
}

static void
test_online_parse_fail(void **state)
{
	idset		s;
	protocol_response r;

	(void) state;
	ids_of(&s, "a", NULL);
	assert_int_equal(parse_online("{\"ActionStatus\":\"FAIL\",\"ErrorInfo\":\"Fail to Parse json data of body, Please check it\","
								  "\"ErrorCode\":90001}", &s, &r), PROTOCOL_FAIL);
	assert_int_equal(r.error_code, 90001);
	assert_string_equal(r.error_info, "Fail to Parse json data of body, Please check it");
	assert_int_equal(r.n_items, 0);
	protocol_response_free(&r);
	/* the lists of a FAIL are not read, whatever they hold */
	assert_int_equal(parse_online("{\"ActionStatus\":\"FAIL\",\"ErrorCode\":70402,"
								  "\"ErrorInfo\":\"\\u0041\",\"QueryResult\":[" QR("x", "?") "]}",
								  &s, &r), PROTOCOL_FAIL);
	assert_int_equal(r.error_code, 70402);
	assert_string_equal(r.error_info, "A");
	protocol_response_free(&r);
	/* envelopes that disagree */
	assert_online("{\"ActionStatus\":\"OK\",\"ErrorCode\":70402,\"QueryResult\":[" QR("a", "Online") "]}",
				  &s, PROTOCOL_MALFORMED);
	assert_online("{\"ActionStatus\":\"FAIL\",\"ErrorCode\":0,\"QueryResult\":[" QR("a", "Online") "]}",
				  &s, PROTOCOL_MALFORMED);
	assert_online("{\"ActionStatus\":\"FAIL\",\"ErrorCode\":-70402}", &s, PROTOCOL_MALFORMED);
	assert_online("{\"QueryResult\":[" QR("a", "Online") "]}", &s, PROTOCOL_MALFORMED);
	assert_online("{\"ActionStatus\":\"OK\",\"QueryResult\":[" QR("a", "Online") "]}", &s,
				  PROTOCOL_MALFORMED);
}

static void
test_online_parse_zero_ids(void **state)
{
	idset		s;
	protocol_response r;
	const char	body[] = ONLINE_OK("", "");
	char	   *copy;

	(void) state;
	ids_of(&s, NULL);
	assert_int_equal(parse_online(body, &s, &r), PROTOCOL_OK);
	assert_int_equal(r.n_items, 0);
	protocol_response_free(&r);
	assert_online("{" ENVELOPE_OK ",\"QueryResult\":[]}", &s, PROTOCOL_OK);
	assert_online("{" ENVELOPE_OK ",\"ErrorList\":[]}", &s, PROTOCOL_OK);
	copy = exact_copy(body, sizeof(body) - 1);
	assert_int_equal(protocol_parse_online_response(copy, sizeof(body) - 1, NULL, NULL, 0, &r),
					 PROTOCOL_OK);
	check_common(&r, PROTOCOL_OK, 0);
	protocol_response_free(&r);
	free(copy);
}

static void
test_online_parse_escaped_ids(void **state)
{
	static const char quote_id[] = "q\"\\/x";
	static const char nul_id[] = "n\0m";
	static const char utf_id[] = "\xe7\x94\xa8\xc3\xa9\xf0\x9f\x98\x80";
	idset		s;
	protocol_response r;

	(void) state;
	memset(&s, 0, sizeof(s));
	s.ids[0] = quote_id;
	s.lens[0] = sizeof(quote_id) - 1;
	s.ids[1] = nul_id;
	s.lens[1] = sizeof(nul_id) - 1;
	s.ids[2] = utf_id;
	s.lens[2] = sizeof(utf_id) - 1;
	s.n = 3;
	assert_int_equal(parse_online("{\"ActionStatus\":\"OK\",\"ErrorCode\":0,\"ErrorInfo\":"
								  "\"\\u00e9\\u00e9\\u00e9\\u00e9\",\"QueryResult\":["
								  "{\"To_Account\":\"\\u7528\\u00e9\\uD83D\\uDE00\",\"Status\":\"Online\","
								  "\"Detail\":" DETAIL_3 "},"
								  "{\"To_\\u0041ccount\":\"\\u0071\\\"\\\\\\/x\",\"Status\":\"Offline\"}],"
								  "\"Error\\u004cist\":[{\"To_Account\":\"n\\u0000m\",\"ErrorCode\":70107}]}",
								  &s, &r), PROTOCOL_OK);
	assert_item(&r, 0, PROTOCOL_STATUS_OFFLINE, 0, NULL);
	assert_item(&r, 1, PROTOCOL_STATUS_NONE, 70107, NULL);
	assert_item(&r, 2, PROTOCOL_STATUS_ONLINE, 0, DETAIL_3);
	assert_string_equal(r.error_info, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
	protocol_response_free(&r);
	/* "n" is not "n\0m" */
	assert_online(ONLINE_OK(QR("\\u0071\\\"\\\\\\/x", "Online") "," QR("n", "Online") ","
							QR("\\u7528\\u00e9\\uD83D\\uDE00", "Online"), ""), &s, PROTOCOL_MISMATCH);
}

/* The same ID asked twice is answered twice (the engine deduplicates). */
static void
test_online_parse_duplicate_asked(void **state)
{
	idset		s;
	protocol_response r;

	(void) state;
	ids_of(&s, "a", "b", "a", NULL);
	assert_int_equal(parse_online(ONLINE_OK(QR("a", "Online") "," QR("b", "Offline") ","
											QR("a", "Online"), ""), &s, &r), PROTOCOL_OK);
	assert_item(&r, 0, PROTOCOL_STATUS_ONLINE, 0, NULL);
	assert_item(&r, 1, PROTOCOL_STATUS_OFFLINE, 0, NULL);
	assert_item(&r, 2, PROTOCOL_STATUS_ONLINE, 0, NULL);
	protocol_response_free(&r);
	assert_online(ONLINE_OK(QR("a", "Online") "," QR("b", "Offline"), ""), &s, PROTOCOL_MISMATCH);
}

/* Builds an online answer; entries are written in the order given by order[]. */
typedef struct online_answer
{
	int			in_errors;		/* ErrorList, else QueryResult */
	protocol_account_status status;
	int32_t		code;
	const char *detail;
} online_answer;

static void
build_online_answer(protocol_buffer *b, const idset *s, const online_answer *a,
					const size_t *order, int errors_first)
{
	protocol_buffer_reset(b);
	append_lit(b, "{" ENVELOPE_OK);
	for (int pass = 0; pass < 2; pass++)
	{
		int			errors = errors_first ? pass == 0 : pass == 1;
		int			first = 1;

		append_lit(b, errors ? ",\"ErrorList\":[" : ",\"QueryResult\":[");
		for (size_t k = 0; k < s->n; k++)
		{
			size_t		i = order[k];
			char		code[32];

			if (a[i].in_errors != errors)
				continue;
			if (!first)
				append_lit(b, ",");
			first = 0;
			append_lit(b, "{\"To_Account\":");
			assert_int_equal(protocol_buffer_append_json_string(b, s->ids[i], s->lens[i]), 0);
			if (errors)
			{
				snprintf(code, sizeof(code), ",\"ErrorCode\":%d}", (int) a[i].code);
				append_lit(b, code);
				continue;
			}
			if (a[i].detail)
			{
				append_lit(b, ",\"Detail\":");
				append_lit(b, a[i].detail);
			}
			append_lit(b, ",\"Status\":\"");
			append_lit(b, protocol_account_status_text(a[i].status));
			append_lit(b, "\"}");
		}
		append_lit(b, "]");
	}
	append_lit(b, "}");
}

static void
test_online_parse_full_batch_shuffled(void **state)
{
	static char storage[PROTOCOL_MAX_ANY_BATCH + 1][PROTOCOL_MAX_USERID_BYTES + 1];
	static idset s;
	static online_answer a[PROTOCOL_MAX_ONLINE_BATCH + 1];
	static size_t order[PROTOCOL_MAX_ONLINE_BATCH + 1];
	static const char *const details[] = {NULL, DETAIL_1, DETAIL_2, DETAIL_3, "[]"};
	protocol_buffer body = {0};
	protocol_response r;
	uint32_t	seed = 4242;

	(void) state;
	for (int round = 0; round < 8; round++)
	{
		ids_numbered(&s, storage, round % 2 ? "online_user_" : "\xe7\x94\xa8\"\\", PROTOCOL_MAX_ONLINE_BATCH);
		for (size_t i = 0; i < s.n; i++)
		{
			uint32_t	x = next_rand(&seed);

			a[i].in_errors = x % 5 == 0;
			a[i].status = a[i].in_errors ? PROTOCOL_STATUS_NONE
				: (protocol_account_status) (PROTOCOL_STATUS_ONLINE + (x / 5) % 3);
			a[i].code = a[i].in_errors ? (int32_t) (x % 2 ? 70107 : 1 + x % 100000) : 0;
			a[i].detail = a[i].in_errors ? NULL : details[(x / 15) % N_OF(details)];
			order[i] = i;
		}
		/* round 0: request order; else shuffled */
		for (size_t i = s.n; round > 0 && i > 1; i--)
		{
			size_t		j = next_rand(&seed) % i;
			size_t		t = order[i - 1];

			order[i - 1] = order[j];
			order[j] = t;
		}
		build_online_answer(&body, &s, a, order, round % 3 == 1);
		assert_int_equal(parse_with(protocol_parse_online_response, body.data, body.len, &s, &r),
						 PROTOCOL_OK);
		for (size_t i = 0; i < s.n; i++)
			assert_item(&r, i, a[i].status, a[i].code, a[i].detail);
		protocol_response_free(&r);

		/* the same answer asked with one ID fewer, or one answer left out */
		s.n--;
		assert_parse(protocol_parse_online_response, body.data, &s, PROTOCOL_MISMATCH);
		s.n++;
		if (round == 0)
		{
			/* every prefix of a long answer, in big steps */
			for (size_t cut = 0; cut < body.len; cut += 97)
			{
				protocol_outcome o = parse_with(protocol_parse_online_response, body.data, cut, &s, &r);

				assert_int_equal(o, PROTOCOL_MALFORMED);
				protocol_response_free(&r);
			}
		}
	}

	/* 501 asked is more than a call allows, before reading the body */
	ids_numbered(&s, storage, "online_user_", PROTOCOL_MAX_ONLINE_BATCH + 1);
	for (size_t i = 0; i < s.n; i++)
	{
		a[i].in_errors = 0;
		a[i].status = PROTOCOL_STATUS_OFFLINE;
		a[i].detail = NULL;
		order[i] = i;
	}
	build_online_answer(&body, &s, a, order, 0);
	assert_parse(protocol_parse_online_response, body.data, &s, PROTOCOL_MISMATCH);
	{
		protocol_response rr;

		memset(&rr, 0x5a, sizeof(rr));
		assert_int_equal(protocol_parse_online_response(NULL, 0, s.ids, s.lens, s.n, &rr),
						 PROTOCOL_MISMATCH);
		check_common(&rr, PROTOCOL_MISMATCH, s.n);
		protocol_response_free(&rr);
	}
	/* 500 asked, 501 answered */
	s.n = PROTOCOL_MAX_ONLINE_BATCH;
	assert_parse(protocol_parse_online_response, body.data, &s, PROTOCOL_MISMATCH);
	/* and far more entries than any call */
	protocol_buffer_reset(&body);
	append_lit(&body, "{" ENVELOPE_OK ",\"QueryResult\":[");
	for (size_t k = 0; k < 3000; k++)
		append_lit(&body, k ? "," QR("online_user_1", "Online") : QR("online_user_1", "Online"));
	append_lit(&body, "]}");
	assert_parse(protocol_parse_online_response, body.data, &s, PROTOCOL_MISMATCH);
	protocol_buffer_free(&body);
}

static void
test_online_parse_not_json(void **state)
{
	idset		s;
	const char *bad[] = {
		"", "{", "[]", "null", "{}",
		ONLINE_OK(QR("a", "Online") ",", ""),
		ONLINE_OK(QR("a", "Online"), "") "x",
		"{" ENVELOPE_OK ",\"QueryResult\":[" QR("a", "Online") "]",
		"{" ENVELOPE_OK ",\"QueryResult\":[{\"To_Account\":\"a\",\"Status\":\"Online\",}]}",
		"{" ENVELOPE_OK ",\"QueryResult\":[{\"To_Account\":\"a\",\"Status\":\"Online\"]}",
		"{" ENVELOPE_OK ",\"QueryResult\":[{\"To_Account\":\"a\",\"Status\":\"Online\","
		"\"Detail\":[}]}",
		"{" ENVELOPE_OK ",\"QueryResult\":[{\"To_Account\":\"a\",\"Status\":\"Online\","
		"\"Detail\":[1,]}]}",
		"{" ENVELOPE_OK ",\"QueryResult\":[{\"To_Account\":\"a\",\"Status\":\"Online\","
		"\"Detail\":[\"\x01\"]}]}",
	};

	(void) state;
	ids_of(&s, "a", NULL);
	for (size_t k = 0; k < N_OF(bad); k++)
		assert_online(bad[k], &s, PROTOCOL_MALFORMED);
	{
		protocol_response r;

		assert_int_equal(protocol_parse_online_response(NULL, 0, s.ids, s.lens, s.n, &r),
						 PROTOCOL_MALFORMED);
		check_common(&r, PROTOCOL_MALFORMED, s.n);
		protocol_response_free(&r);
	}
}

static void
test_online_parse_every_prefix(void **state)
{
	idset		s;
	const char *bodies[] = {
		ONLINE_OK(QRD("a", "Online", DETAIL_1) "," QR("b", "Offline"), EL("c", 70107)),
		"{\"ErrorList\":[" EL("c", 70107) "],\"QueryResult\":[" QR("b", "PushOnline") ","
		QRD("a", "Online", DETAIL_2) "]," ENVELOPE_OK "}",
		"{\"ActionStatus\":\"FAIL\",\"ErrorCode\":70402,\"ErrorInfo\":\"e\"}",
		"{" ENVELOPE_OK ",\"ErrorList\":[" EL("a", 1) "," EL("b", 2) "," EL("c", 3) "]}",
	};

	(void) state;
	ids_of(&s, "a", "b", "c", NULL);
	for (size_t k = 0; k < N_OF(bodies); k++)
	{
		protocol_outcome o = outcome_with(protocol_parse_online_response, bodies[k], &s);

		assert_true(o == PROTOCOL_OK || o == PROTOCOL_FAIL);
		assert_every_prefix_malformed(protocol_parse_online_response, bodies[k], &s);
	}
}

/*
 * Nesting: a document of JSONSCAN_MAX_DEPTH levels (the top-level object
 * being the first) is read, one level more is not JSON we take.
 */
static void
test_parse_deep_nesting(void **state)
{
	idset		s;
	protocol_buffer body = {0};

	(void) state;
	ids_of(&s, "a", NULL);
	for (int depth = 60; depth <= 70; depth++)
	{
		protocol_outcome want = depth <= JSONSCAN_MAX_DEPTH ? PROTOCOL_OK : PROTOCOL_MALFORMED;

		/* depth levels: in a member we skip, */
		protocol_buffer_reset(&body);
		append_lit(&body, "{" ENVELOPE_OK ",\"FailAccounts\":[],\"X\":");
		for (int d = 1; d < depth; d++)
			append_lit(&body, "[");
		for (int d = 1; d < depth; d++)
			append_lit(&body, "]");
		append_lit(&body, "}");
		assert_parse(protocol_parse_import_response, body.data, &s, want);
		/* and in a Detail (object, QueryResult, entry, then the Detail's arrays) */
		protocol_buffer_reset(&body);
		append_lit(&body, ONLINE_OK_HEAD "{\"To_Account\":\"a\",\"Status\":\"Online\",\"Detail\":");
		for (int d = 3; d < depth; d++)
			append_lit(&body, "[");
		for (int d = 3; d < depth; d++)
			append_lit(&body, "]");
		append_lit(&body, "}]}");
		assert_parse(protocol_parse_online_response, body.data, &s, want);
	}
	protocol_buffer_free(&body);
}

/* ---- every outcome, then free (leaks: see the run under ASan) ---------------- */

static void
test_free_after_every_outcome(void **state)
{
	static const struct
	{
		parse_fn	fn;
		int			two;		/* asked {a, b}, else {a} */
		const char *body;
		protocol_outcome want;
	}			cases[] = {
		{protocol_parse_import_response, 0, IMPORT_OK("\"a\""), PROTOCOL_OK},
		{protocol_parse_import_response, 0, IMPORT_OK(""), PROTOCOL_OK},
		{protocol_parse_import_response, 0, "{\"ActionStatus\":\"FAIL\",\"ErrorCode\":70398,"
		 "\"ErrorInfo\":\"e\",\"FailAccounts\":[\"a\"]}", PROTOCOL_FAIL},
		{protocol_parse_import_response, 0, "nope", PROTOCOL_MALFORMED},	/* before any allocation */
		{protocol_parse_import_response, 0, "{" ENVELOPE_OK ",\"FailAccounts\":[1]}", PROTOCOL_MALFORMED},
		{protocol_parse_import_response, 0, "{\"ActionStatus\":\"OK\",\"ErrorCode\":1,"
		 "\"ErrorInfo\":\"i\"}", PROTOCOL_MALFORMED},	/* after the arena */
		{protocol_parse_import_response, 0, "{" ENVELOPE_OK ",\"FailAccounts\":[],"
		 "\"FailAccounts\":[]}", PROTOCOL_MALFORMED},
		{protocol_parse_import_response, 0, IMPORT_OK("\"zz\""), PROTOCOL_MISMATCH},	/* after items */
		{protocol_parse_import_response, 1, IMPORT_OK("\"b\",\"zz\""), PROTOCOL_MISMATCH},
		{protocol_parse_online_response, 0, ONLINE_OK(QRD("a", "Online", DETAIL_1), ""), PROTOCOL_OK},
		{protocol_parse_online_response, 0, ONLINE_OK("", EL("a", 70107)), PROTOCOL_OK},
		{protocol_parse_online_response, 0, "{\"ActionStatus\":\"FAIL\",\"ErrorCode\":70402,"
		 "\"ErrorInfo\":\"e\"}", PROTOCOL_FAIL},
		{protocol_parse_online_response, 0, "nope", PROTOCOL_MALFORMED},
		{protocol_parse_online_response, 0, "{" ENVELOPE_OK "}", PROTOCOL_MALFORMED},
		{protocol_parse_online_response, 0, ONLINE_OK("", EL("a", 0)), PROTOCOL_MALFORMED},
		{protocol_parse_online_response, 0, ONLINE_OK(QR("a", "Online") "," QR("a", "Online"), ""),
		 PROTOCOL_MISMATCH},
		/* after a Detail was copied into the arena */
		{protocol_parse_online_response, 1, ONLINE_OK(QRD("a", "Online", DETAIL_1) ","
													  QR("b", "Busy"), ""), PROTOCOL_MALFORMED},
		{protocol_parse_online_response, 1, ONLINE_OK(QRD("a", "Online", DETAIL_1) ","
													  QR("x", "Online"), ""), PROTOCOL_MISMATCH},
		{protocol_parse_online_response, 1, ONLINE_OK(QRD("a", "Online", DETAIL_1) ","
													  QRD("b", "Online", "{}"), ""), PROTOCOL_MALFORMED},
		{protocol_parse_online_response, 1, ONLINE_OK(QRD("a", "Online", DETAIL_1) ","
													  QRD("b", "Offline", DETAIL_2), ""), PROTOCOL_OK},
	};
	idset		one;
	idset		two;

	(void) state;
	ids_of(&one, "a", NULL);
	ids_of(&two, "a", "b", NULL);
	for (size_t i = 0; i < N_OF(cases); i++)
	{
		protocol_response r;
		protocol_outcome o = parse_with(cases[i].fn, cases[i].body, strlen(cases[i].body),
										cases[i].two ? &two : &one, &r);

		if (o != cases[i].want)
			fail_msg("%s\n  got %s, want %s", cases[i].body, protocol_outcome_text(o),
					 protocol_outcome_text(cases[i].want));
		protocol_response_free(&r);
		assert_null(r.items);
		assert_null(r.arena);
		assert_int_equal(r.n_items, 0);
		protocol_response_free(&r);	/* a second free is harmless */
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_online_request_exact),
		cmocka_unit_test(test_online_request_full_batch),
		cmocka_unit_test(test_online_parse_sample),
		cmocka_unit_test(test_online_parse_lists),
		cmocka_unit_test(test_online_parse_detail_forms),
		cmocka_unit_test(test_online_parse_error_list_only),
		cmocka_unit_test(test_online_parse_mismatch),
		cmocka_unit_test(test_online_parse_entry_shape),
		cmocka_unit_test(test_online_parse_duplicate_members),
		cmocka_unit_test(test_online_parse_fail),
		cmocka_unit_test(test_online_parse_zero_ids),
		cmocka_unit_test(test_online_parse_escaped_ids),
		cmocka_unit_test(test_online_parse_duplicate_asked),
		cmocka_unit_test(test_online_parse_full_batch_shuffled),
		cmocka_unit_test(test_online_parse_not_json),
		cmocka_unit_test(test_online_parse_every_prefix),
		cmocka_unit_test(test_parse_deep_nesting),
		cmocka_unit_test(test_free_after_every_outcome),
	};

	return cmocka_run_group_tests_name("protocol_online", tests, NULL, NULL);
}
