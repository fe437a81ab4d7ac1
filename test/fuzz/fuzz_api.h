/*
 * fuzz_api.h - what the multiaccount_import and query_online_status
 * harnesses (fuzz_import.c, fuzz_online.c) share: the fixed asked-ID sets,
 * checks every outcome must pass, a JSON string writer that escapes in
 * other ways than the request writer does, a PRNG seeded from the input,
 * and the cutting of an input into UserIDs with a few choice bits each.
 */
#ifndef IMCHECK_FUZZ_API_H
#define IMCHECK_FUZZ_API_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "fuzz_common.h"
#include "jsonscan.h"
#include "protocol.h"
#include "protocol_extra.h"

/* ---- asked-ID sets ------------------------------------------------------- */

static const char *const fixed_ids[] = {"UserID_1", "UserID_2", "UserID_3"};
static const size_t fixed_lens[] = {8, 8, 8};

/* u0 .. u<PROTOCOL_MAX_ANY_BATCH-1>, set up by fuzz_api_init() */
static char batch_storage[PROTOCOL_MAX_ANY_BATCH][8];
static const char *batch_ids[PROTOCOL_MAX_ANY_BATCH];
static size_t batch_lens[PROTOCOL_MAX_ANY_BATCH];

static inline void
fuzz_api_init(void)
{
	for (int i = 0; i < PROTOCOL_MAX_ANY_BATCH; i++)
	{
		batch_lens[i] = (size_t) snprintf(batch_storage[i], sizeof(batch_storage[i]),
										  "u%d", i);
		batch_ids[i] = batch_storage[i];
	}
}

/* ---- checks every outcome passes ------------------------------------------ */

/*
 * The API-independent part: outcome recorded, texts set, no items unless
 * OK.  The caller checks the items of an OK.
 */
static inline void
check_envelope(const protocol_response *r, protocol_outcome o, size_t n)
{
	CHECK(r->outcome == o);
	CHECK(r->error_info != NULL);
	(void) strlen(r->error_info);
	CHECK(protocol_outcome_text(o) != NULL);
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
				if (it->detail != NULL)
				{
					CHECK(it->detail_len > 0);
					CHECK(it->detail[0] == '[');
					CHECK(it->detail[it->detail_len] == '\0');
				}
				else
					CHECK(it->detail_len == 0);
			}
			break;
		case PROTOCOL_FAIL:
			CHECK(r->error_code > 0);	/* a negative ErrorCode is MALFORMED */
			CHECK(r->n_items == 0);
			break;
		case PROTOCOL_MALFORMED:
		case PROTOCOL_MISMATCH:
			CHECK(r->problem != NULL && r->problem[0] != '\0');
			CHECK(r->n_items == 0);
			break;
		case PROTOCOL_NO_MEMORY:
			CHECK(r->n_items == 0);
			break;
		default:
			CHECK(!"unknown outcome");
	}
}

static inline void
free_checked(protocol_response *r)
{
	protocol_response_free(r);
	CHECK(r->items == NULL && r->arena == NULL && r->n_items == 0);
	protocol_response_free(r);	/* twice is harmless */
}

/* ---- json-c as a second opinion ------------------------------------------- */

/*
 * Parses a whole document with json-c (strict), or returns NULL.  json-c
 * cuts object keys at a NUL, so a body with "\u0000" anywhere gets no
 * second opinion (a key "FailAccounts\u0000" is another member to us).
 */
static inline json_object *
json_second_opinion(const char *body, size_t len)
{
	json_tokener *tok;
	json_object *root;

	if (len > INT32_MAX)
		return NULL;
	for (size_t i = 0; i + 6 <= len; i++)
		if (body[i] == '\\' && memcmp(body + i + 1, "u0000", 5) == 0)
			return NULL;
	tok = json_tokener_new_ex(JSONSCAN_MAX_DEPTH + 1);
	if (tok == NULL)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	root = json_tokener_parse_ex(tok, body, (int) len);
	if (root != NULL && (json_tokener_get_error(tok) != json_tokener_success ||
						 json_tokener_get_parse_end(tok) != len))
	{
		json_object_put(root);
		root = NULL;
	}
	json_tokener_free(tok);
	return root;
}

static inline int
json_string_is(json_object *o, const char *s, size_t len)
{
	return o != NULL && json_object_is_type(o, json_type_string) &&
		(size_t) json_object_get_string_len(o) == len &&
		memcmp(json_object_get_string(o), s, len) == 0;
}

/* The envelope as json-c reads it agrees with an OK or a FAIL. */
static inline void
check_envelope_second_opinion(json_object *root, const protocol_response *r, protocol_outcome o)
{
	json_object *action;
	json_object *code;
	json_object *info;

	CHECK(json_object_is_type(root, json_type_object));
	CHECK(json_object_object_get_ex(root, "ActionStatus", &action));
	CHECK(json_object_object_get_ex(root, "ErrorCode", &code));
	CHECK(json_object_is_type(code, json_type_int));
	CHECK(json_object_get_int64(code) == r->error_code);
	if (o == PROTOCOL_OK)
		CHECK(json_string_is(action, "OK", 2));
	else
		CHECK(json_string_is(action, "FAIL", 4));
	if (json_object_object_get_ex(root, "ErrorInfo", &info) &&
		json_object_is_type(info, json_type_string))
	{
		size_t		l = (size_t) json_object_get_string_len(info);

		CHECK(memcmp(r->error_info, json_object_get_string(info), l) == 0);
		CHECK(r->error_info[l] == '\0');
	}
}

/* ---- building answers -------------------------------------------------------- */

/* xorshift32, never seeded with 0 */
static inline uint32_t
prng_next(uint32_t *s)
{
	uint32_t	x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

static inline uint32_t
prng_seed(const char *data, size_t len)
{
	uint32_t	h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char) data[i]) * 16777619u;
	return h ? h : 1;
}

static inline void
append(protocol_buffer *b, const char *s, size_t len)
{
	CHECK(protocol_buffer_append(b, s, len) == 0);
}

static inline void
append_lit(protocol_buffer *b, const char *s)
{
	append(b, s, strlen(s));
}

/*
 * Writes s as a JSON string, as a service might: mode 0 as the request
 * writer does; otherwise each ASCII byte is escaped as \u00XX (upper or
 * lower case hex) or in its short form, now and then, chosen by the PRNG.
 * Other bytes pass through (they may not be valid UTF-8: JSON escapes
 * could not write them).
 */
static inline void
append_json_string_mode(protocol_buffer *b, const char *s, size_t len, int mode, uint32_t *prng)
{
	static const char lower[] = "0123456789abcdef";
	static const char upper[] = "0123456789ABCDEF";

	if (mode == 0)
	{
		CHECK(protocol_buffer_append_json_string(b, s, len) == 0);
		return;
	}
	append(b, "\"", 1);
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];
		uint32_t	r = prng_next(prng);
		char		esc[6];

		if (c >= 0x80 || (!jsonscan_must_escape(c) && r % 3 != 0))
		{
			append(b, (const char *) &c, 1);
			continue;
		}
		if (c == '/' && r % 2)
			append(b, "\\/", 2);
		else if (c == '"' && r % 2)
			append(b, "\\\"", 2);
		else if (c == '\\' && r % 2)
			append(b, "\\\\", 2);
		else if (c == '\b' && r % 2)
			append(b, "\\b", 2);
		else if (c == '\f' && r % 2)
			append(b, "\\f", 2);
		else if (c == '\n' && r % 2)
			append(b, "\\n", 2);
		else if (c == '\r' && r % 2)
			append(b, "\\r", 2);
		else if (c == '\t' && r % 2)
			append(b, "\\t", 2);
		else
		{
			const char *hex = (r >> 4) % 2 ? upper : lower;

			esc[0] = '\\';
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0xf];
			append(b, esc, 6);
		}
	}
	append(b, "\"", 1);
}

/* Whitespace between tokens, now and then (mode != 0). */
static inline void
append_ws(protocol_buffer *b, int mode, uint32_t *prng)
{
	static const char *const ws[] = {" ", "\n", "\r\n", "\t", "  \n    "};
	uint32_t	r;

	if (mode == 0)
		return;
	r = prng_next(prng);
	if (r % 4 == 0)
		append_lit(b, ws[(r >> 2) % (sizeof(ws) / sizeof(ws[0]))]);
}

/* Fisher-Yates over order[0..n) */
static inline void
shuffle(size_t *order, size_t n, uint32_t *prng)
{
	for (size_t i = n; i > 1; i--)
	{
		size_t		j = prng_next(prng) % i;
		size_t		t = order[i - 1];

		order[i - 1] = order[j];
		order[j] = t;
	}
}

/*
 * Cuts data into at most max UserIDs: each chunk's first byte b gives the
 * length (b % 33, any bytes including NUL) and three choice bits (b / 33).
 */
typedef struct cut_ids
{
	const char *ids[PROTOCOL_MAX_ANY_BATCH];
	size_t		lens[PROTOCOL_MAX_ANY_BATCH];
	unsigned	choice[PROTOCOL_MAX_ANY_BATCH];
	size_t		n;
} cut_ids;

static inline void
cut_into_ids(const char *data, size_t len, size_t max, cut_ids *c)
{
	size_t		at = 0;

	c->n = 0;
	while (at < len && c->n < max)
	{
		unsigned char b = (unsigned char) data[at++];
		size_t		l = b % (PROTOCOL_MAX_USERID_BYTES + 1);

		if (l > len - at)
			l = len - at;
		c->ids[c->n] = data + at;
		c->lens[c->n] = l;
		c->choice[c->n] = b / (PROTOCOL_MAX_USERID_BYTES + 1);
		c->n++;
		at += l;
	}
}

static inline int
same_id(const cut_ids *c, size_t i, size_t j)
{
	return c->lens[i] == c->lens[j] && memcmp(c->ids[i], c->ids[j], c->lens[i]) == 0;
}

/*
 * Groups the copies of each ID (in linear time: pairwise comparison of 500
 * IDs was most of a run): first[i] is the first index holding ids[i],
 * next[i] the following copy or SIZE_MAX, size[first[i]] the copies.
 */
typedef struct id_groups
{
	size_t		first[PROTOCOL_MAX_ANY_BATCH];
	size_t		next[PROTOCOL_MAX_ANY_BATCH];
	size_t		size[PROTOCOL_MAX_ANY_BATCH];
} id_groups;

static inline void
group_copies(const cut_ids *c, id_groups *g)
{
	enum
	{
		SLOTS = 2048			/* a power of two, > 2 * PROTOCOL_MAX_ANY_BATCH */
	};
	static size_t slot_of[SLOTS];	/* 1 + the group's first index, 0 = free */
	size_t		last[PROTOCOL_MAX_ANY_BATCH];

	memset(slot_of, 0, sizeof(slot_of));
	for (size_t i = 0; i < c->n; i++)
	{
		size_t		h = prng_seed(c->ids[i], c->lens[i]) & (SLOTS - 1);

		while (slot_of[h] != 0 && !same_id(c, slot_of[h] - 1, i))
			h = (h + 1) & (SLOTS - 1);
		g->next[i] = SIZE_MAX;
		if (slot_of[h] == 0)
		{
			slot_of[h] = i + 1;
			g->first[i] = i;
			g->size[i] = 1;
			last[i] = i;
		}
		else
		{
			size_t		f = slot_of[h] - 1;

			g->first[i] = f;
			g->size[f]++;
			g->next[last[f]] = i;
			last[f] = i;
		}
	}
}

/* A UserID no cut_ids can hold: longer than PROTOCOL_MAX_USERID_BYTES. */
static const char unasked_id[] = "not-asked-0123456789-0123456789-x";

/* A prefix of body without its closing brace is never an answer. */
static inline void
check_prefix_malformed(protocol_outcome (*parse) (const char *, size_t, const char *const *,
												  const size_t *, size_t, protocol_response *),
					   const protocol_buffer *body, size_t cut, const cut_ids *c)
{
	char	   *part;
	protocol_response r;
	protocol_outcome o;
	size_t		content = body->len;

	/* trailing whitespace is not part of the document */
	while (content > 0 && strchr(" \t\r\n", body->data[content - 1]) != NULL)
		content--;
	if (content == 0)
		return;
	cut %= content;
	part = malloc(cut ? cut : 1);
	CHECK(part != NULL);
	memcpy(part, body->data, cut);
	o = parse(part, cut, c->ids, c->lens, c->n, &r);
	check_envelope(&r, o, c->n);
	CHECK(o == PROTOCOL_MALFORMED);
	free_checked(&r);
	free(part);
}

#endif							/* IMCHECK_FUZZ_API_H */
