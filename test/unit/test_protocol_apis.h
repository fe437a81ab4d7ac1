/*
 * test_protocol_apis.h - what the cmocka tests of the multiaccount_import
 * (test_protocol_import.c) and query_online_status (test_protocol_online.c)
 * wire formats share: ID sets, parsing with checks common to every
 * outcome, json-c cross-checks.
 *
 * Every response is parsed from a malloc'd buffer of exactly its length with
 * no NUL after it, so valgrind / ASan catch any read past body + len, and
 * the response struct is filled with garbage first, so a field the parser
 * forgets to set shows.
 */
#ifndef TEST_PROTOCOL_APIS_H
#define TEST_PROTOCOL_APIS_H

#include "test_common.h"

#include <stdio.h>

#include <json-c/json.h>

#include "jsonscan.h"			/* JSONSCAN_MAX_DEPTH */
#include "protocol.h"
#include "protocol_extra.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ------------------------------------------------------------ */

typedef struct idset
{
	const char *ids[PROTOCOL_MAX_ANY_BATCH + 1];
	size_t		lens[PROTOCOL_MAX_ANY_BATCH + 1];
	size_t		n;
} idset;

/* An idset of NUL-terminated strings, NULL-terminated argument list. */
static inline idset *
ids_of(idset *s, const char *first, ...)
{
	va_list		ap;
	const char *id = first;

	memset(s, 0, sizeof(*s));
	va_start(ap, first);
	while (id != NULL)
	{
		s->ids[s->n] = id;
		s->lens[s->n] = strlen(id);
		s->n++;
		id = va_arg(ap, const char *);
	}
	va_end(ap);
	return s;
}

/* n generated IDs "<prefix><i>" in storage (each at most 32 bytes) */
static inline idset *
ids_numbered(idset *s, char (*storage)[PROTOCOL_MAX_USERID_BYTES + 1], const char *prefix,
			 size_t n)
{
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < n; i++)
	{
		s->lens[i] = (size_t) snprintf(storage[i], PROTOCOL_MAX_USERID_BYTES + 1,
									   "%s%zu", prefix, i);
		s->ids[i] = storage[i];
	}
	s->n = n;
	return s;
}

typedef protocol_outcome (*parse_fn) (const char *body, size_t len,
									  const char *const *ids, const size_t *id_lens,
									  size_t n, protocol_response *resp);

/* What every outcome must satisfy, whichever API. */
static inline void
check_common(const protocol_response *r, protocol_outcome o, size_t n)
{
	assert_int_equal(r->outcome, o);
	assert_non_null(r->error_info);
	(void) strlen(r->error_info);
	switch (o)
	{
		case PROTOCOL_OK:
			assert_int_equal(r->error_code, 0);
			assert_int_equal(r->n_items, n);
			assert_non_null(r->items);
			for (size_t i = 0; i < n; i++)
			{
				const protocol_item_result *it = &r->items[i];

				assert_non_null(it->result_info);
				assert_int_equal(it->result_info[it->result_info_len], '\0');
				if (it->detail != NULL)
				{
					assert_true(it->detail_len > 0);
					assert_int_equal(it->detail[0], '[');
					assert_int_equal(it->detail[it->detail_len], '\0');
				}
				else
					assert_int_equal(it->detail_len, 0);
			}
			break;
		case PROTOCOL_FAIL:
			assert_true(r->error_code != 0);
			assert_int_equal(r->n_items, 0);
			break;
		case PROTOCOL_MALFORMED:
		case PROTOCOL_MISMATCH:
			assert_non_null(r->problem);
			assert_true(strlen(r->problem) > 0);
			assert_int_equal(r->n_items, 0);
			break;
		case PROTOCOL_NO_MEMORY:
			fail_msg("out of memory in a unit test");
			break;
	}
}

/* Parses len bytes of body from an exact-size, unterminated copy. */
static inline protocol_outcome
parse_with(parse_fn fn, const char *body, size_t len, const idset *s, protocol_response *r)
{
	char	   *copy = exact_copy(body, len);
	protocol_outcome o;

	memset(r, 0x5a, sizeof(*r));	/* the parse must initialise everything */
	o = fn(copy, len, s->ids, s->lens, s->n, r);
	free(copy);
	check_common(r, o, s->n);
	return o;
}

static inline protocol_outcome
parse_import(const char *body, const idset *s, protocol_response *r)
{
	return parse_with(protocol_parse_import_response, body, strlen(body), s, r);
}

static inline protocol_outcome
parse_online(const char *body, const idset *s, protocol_response *r)
{
	return parse_with(protocol_parse_online_response, body, strlen(body), s, r);
}

static inline protocol_outcome
outcome_with(parse_fn fn, const char *body, const idset *s)
{
	protocol_response r;
	protocol_outcome o = parse_with(fn, body, strlen(body), s, &r);

	protocol_response_free(&r);
	assert_null(r.items);
	assert_null(r.arena);
	return o;
}

#define assert_parse(fn, body, set, want) \
	do { \
		protocol_outcome got_ = outcome_with(fn, (body), (set)); \
		if (got_ != (want)) \
			fail_msg("%s\n  got %s, want %s", (body), protocol_outcome_text(got_), \
					 protocol_outcome_text(want)); \
	} while (0)
#define assert_import(body, set, want) assert_parse(protocol_parse_import_response, body, set, want)
#define assert_online(body, set, want) assert_parse(protocol_parse_online_response, body, set, want)

/* Every proper prefix of a complete answer is MALFORMED (and never crashes). */
static inline void
assert_every_prefix_malformed(parse_fn fn, const char *body, const idset *s)
{
	size_t		len = strlen(body);

	for (size_t cut = 0; cut < len; cut++)
	{
		protocol_response r;
		protocol_outcome o = parse_with(fn, body, cut, s, &r);

		if (o != PROTOCOL_MALFORMED)
			fail_msg("prefix of %zu bytes of %s: %s", cut, body, protocol_outcome_text(o));
		protocol_response_free(&r);
	}
}

static inline void
assert_statuses(const protocol_response *r, const protocol_account_status *want, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (r->items[i].status != want[i])
			fail_msg("item %zu: status %d, want %d", i, (int) r->items[i].status, (int) want[i]);
}

/* json-c (strict) parses text completely; returns the root (put it). */
static inline json_object *
json_parse_strict(const char *text, size_t len)
{
	json_tokener *tok = json_tokener_new();
	json_object *o;

	assert_non_null(tok);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, text, (int) len);
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success)
		fail_msg("json-c rejects %.*s", (int) len, text);
	assert_int_equal(json_tokener_get_parse_end(tok), len);
	json_tokener_free(tok);
	return o;
}

static inline void
assert_json_string_member(json_object *obj, const char *name, const char *want, size_t want_len)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, name, &v))
		fail_msg("no member %s", name);
	assert_true(json_object_is_type(v, json_type_string));
	assert_int_equal((size_t) json_object_get_string_len(v), want_len);
	assert_memory_equal(json_object_get_string(v), want, want_len);
}

static inline void
append_lit(protocol_buffer *b, const char *s)
{
	assert_int_equal(protocol_buffer_append(b, s, strlen(s)), 0);
}

/* A small deterministic generator for the randomised tests. */
static uint32_t
next_rand(uint32_t *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return *seed >> 8;
}

#define ENVELOPE_OK "\"ActionStatus\":\"OK\",\"ErrorCode\":0,\"ErrorInfo\":\"\""
#define IMPORT_OK(list) "{" ENVELOPE_OK ",\"FailAccounts\":[" list "]}"
#define ONLINE_OK(results, errors) \
	"{" ENVELOPE_OK ",\"QueryResult\":[" results "],\"ErrorList\":[" errors "]}"
#define ONLINE_OK_HEAD "{" ENVELOPE_OK ",\"QueryResult\":["
#define QR(uid, status) "{\"To_Account\":\"" uid "\",\"Status\":\"" status "\"}"
#define QRD(uid, status, detail) \
	"{\"To_Account\":\"" uid "\",\"Detail\":" detail ",\"Status\":\"" status "\"}"
#define EL(uid, code) "{\"To_Account\":\"" uid "\",\"ErrorCode\":" #code "}"

#endif							/* TEST_PROTOCOL_APIS_H */
