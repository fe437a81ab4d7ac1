/*
 * protocol.c - the account_check wire format (see protocol.h).
 */
#include "protocol.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

int
protocol_buffer_reserve(protocol_buffer *buf, size_t extra)
{
	size_t		need;
	size_t		cap;
	char	   *data;

	if (extra > SIZE_MAX - buf->len - 1)
		return -1;
	need = buf->len + extra + 1;
	if (need <= buf->cap)
		return 0;
	cap = buf->cap ? buf->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	data = realloc(buf->data, cap);
	if (data == NULL)
		return -1;
	buf->data = data;
	buf->cap = cap;
	return 0;
}

int
protocol_buffer_append(protocol_buffer *buf, const char *s, size_t len)
{
	if (protocol_buffer_reserve(buf, len) != 0)
		return -1;
	memcpy(buf->data + buf->len, s, len);
	buf->len += len;
	buf->data[buf->len] = '\0';
	return 0;
}

int
protocol_buffer_append_json_string(protocol_buffer *buf,
								   const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	char	   *p;

	/* worst case every byte becomes \u00XX */
	if (len > (SIZE_MAX - 2) / 6 || protocol_buffer_reserve(buf, len * 6 + 2) != 0)
		return -1;
	p = buf->data + buf->len;
	*p++ = '"';
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c == '"' || c == '\\')
		{
			*p++ = '\\';
			*p++ = (char) c;
		}
		else if (c < 0x20)
		{
			switch (c)
			{
				case '\n':
					*p++ = '\\';
					*p++ = 'n';
					break;
				case '\t':
					*p++ = '\\';
					*p++ = 't';
					break;
				case '\r':
					*p++ = '\\';
					*p++ = 'r';
					break;
				default:
					*p++ = '\\';
					*p++ = 'u';
					*p++ = '0';
					*p++ = '0';
					*p++ = hex[c >> 4];
					*p++ = hex[c & 0xf];
			}
		}
		else
			*p++ = (char) c;	/* UTF-8 passes through as is */
	}
	*p++ = '"';
	*p = '\0';
	buf->len = (size_t) (p - buf->data);
	return 0;
}

void
protocol_buffer_reset(protocol_buffer *buf)
{
	buf->len = 0;
	if (buf->data)
		buf->data[0] = '\0';
}

void
protocol_buffer_free(protocol_buffer *buf)
{
	free(buf->data);
	buf->data = NULL;
	buf->len = buf->cap = 0;
}

int
protocol_build_request(const char *const *ids, const size_t *id_lens,
					   size_t n, protocol_buffer *out)
{
	static const char head[] = "{\"CheckItem\":[";
	static const char item[] = "{\"UserID\":";

	if (protocol_buffer_append(out, head, sizeof(head) - 1) != 0)
		return -1;
	for (size_t i = 0; i < n; i++)
	{
		if ((i > 0 && protocol_buffer_append(out, ",", 1) != 0) ||
			protocol_buffer_append(out, item, sizeof(item) - 1) != 0 ||
			protocol_buffer_append_json_string(out, ids[i], id_lens[i]) != 0 ||
			protocol_buffer_append(out, "}", 1) != 0)
			return -1;
	}
	return protocol_buffer_append(out, "]}", 2);
}

const char *
protocol_account_status_text(protocol_account_status status)
{
	switch (status)
	{
		case PROTOCOL_STATUS_IMPORTED:
			return "Imported";
		case PROTOCOL_STATUS_NOT_IMPORTED:
			return "NotImported";
		case PROTOCOL_STATUS_NONE:
			break;
	}
	return NULL;
}

const char *
protocol_outcome_text(protocol_outcome outcome)
{
	switch (outcome)
	{
		case PROTOCOL_OK:
			return "ok";
		case PROTOCOL_FAIL:
			return "the service answered FAIL";
		case PROTOCOL_MALFORMED:
			return "the response is not a valid account_check answer";
		case PROTOCOL_MISMATCH:
			return "the response does not answer exactly the UserIDs asked";
		case PROTOCOL_NO_MEMORY:
			return "out of memory";
	}
	return "unknown outcome";
}

/*
 * Strings the caller reads (ErrorInfo, ResultInfo) are copied into one
 * arena so the json-c tree can be freed before we return.
 */
typedef struct arena_builder
{
	char	   *base;
	size_t		used;
	size_t		cap;
} arena_builder;

/* Returns the offset of the copy, or SIZE_MAX when out of space. */
static size_t
arena_copy(arena_builder *arena, const char *s, size_t len)
{
	size_t		at = arena->used;

	if (len + 1 > arena->cap - arena->used)
		return SIZE_MAX;
	memcpy(arena->base + at, s, len);
	arena->base[at + len] = '\0';
	arena->used += len + 1;
	return at;
}

static protocol_outcome
finish(protocol_response *resp, protocol_outcome outcome, const char *problem)
{
	resp->outcome = outcome;
	if (problem)
		resp->problem = problem;
	return outcome;
}

/* Sums the lengths of ErrorInfo and every ResultInfo, for the arena. */
static size_t
info_bytes(json_object *root, json_object *items)
{
	size_t		total = 1;
	json_object *field;

	if (json_object_object_get_ex(root, "ErrorInfo", &field) &&
		json_object_is_type(field, json_type_string))
		total += (size_t) json_object_get_string_len(field) + 1;
	if (items != NULL)
	{
		size_t		n = json_object_array_length(items);

		for (size_t i = 0; i < n; i++)
		{
			json_object *item = json_object_array_get_idx(items, i);

			if (json_object_is_type(item, json_type_object) &&
				json_object_object_get_ex(item, "ResultInfo", &field) &&
				json_object_is_type(field, json_type_string))
				total += (size_t) json_object_get_string_len(field) + 1;
		}
	}
	return total;
}

/* Whether a JSON string is exactly text (no embedded NUL tricks). */
static int
string_is(json_object *str, const char *text)
{
	size_t		len = strlen(text);

	return (size_t) json_object_get_string_len(str) == len &&
		memcmp(json_object_get_string(str), text, len) == 0;
}

static int
get_int32(json_object *obj, const char *name, int32_t *value)
{
	json_object *field;
	int64_t		v;

	if (!json_object_object_get_ex(obj, name, &field) ||
		!json_object_is_type(field, json_type_int))
		return -1;
	v = json_object_get_int64(field);
	if (v < INT32_MIN || v > INT32_MAX)
		return -1;
	*value = (int32_t) v;
	return 0;
}

/*
 * Finds which asked index a ResultItem's UserID answers.  The service
 * answers in request order, so position i is tried first; otherwise a
 * linear search (batches are at most 100 IDs).  Returns -1 if not asked.
 */
static long
match_asked(const char *uid, size_t uid_len, size_t position,
			const char *const *ids, const size_t *id_lens, size_t n,
			const unsigned char *answered)
{
	if (position < n && !answered[position] && id_lens[position] == uid_len &&
		memcmp(ids[position], uid, uid_len) == 0)
		return (long) position;
	for (size_t i = 0; i < n; i++)
		if (!answered[i] && id_lens[i] == uid_len &&
			memcmp(ids[i], uid, uid_len) == 0)
			return (long) i;
	return -1;
}

protocol_outcome
protocol_parse_response(const char *body, size_t len,
						const char *const *ids, const size_t *id_lens,
						size_t n, protocol_response *resp)
{
	json_tokener *tok;
	json_object *root = NULL;
	json_object *field;
	json_object *items = NULL;
	json_object *action;
	arena_builder arena = {0};
	size_t		at;
	unsigned char answered[PROTOCOL_MAX_BATCH];
	size_t		n_answers;
	protocol_outcome outcome;

	memset(resp, 0, sizeof(*resp));
	resp->error_info = "";
	if (n > PROTOCOL_MAX_BATCH)
		return finish(resp, PROTOCOL_MISMATCH, "more UserIDs asked than a call allows");
	if (len > INT_MAX)
		return finish(resp, PROTOCOL_MALFORMED, "response too large");

	tok = json_tokener_new();
	if (tok == NULL)
		return finish(resp, PROTOCOL_NO_MEMORY, NULL);
	/* strict JSON: no comments, no trailing commas; we check what follows */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
	root = json_tokener_parse_ex(tok, body, (int) len);
	if (root == NULL || json_tokener_get_error(tok) != json_tokener_success)
	{
		enum json_tokener_error err = json_tokener_get_error(tok);

		json_object_put(root);
		json_tokener_free(tok);
		return finish(resp, PROTOCOL_MALFORMED,
					  err == json_tokener_continue ?
					  "response JSON is truncated" : "response is not valid JSON");
	}
	/* only whitespace may follow the document */
	for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
	{
		if (body[i] != ' ' && body[i] != '\n' && body[i] != '\r' && body[i] != '\t')
		{
			json_object_put(root);
			json_tokener_free(tok);
			return finish(resp, PROTOCOL_MALFORMED, "response has data after the JSON document");
		}
	}
	json_tokener_free(tok);

	if (!json_object_is_type(root, json_type_object) ||
		!json_object_object_get_ex(root, "ActionStatus", &field) ||
		!json_object_is_type(field, json_type_string) ||
		get_int32(root, "ErrorCode", &resp->error_code) != 0)
	{
		outcome = finish(resp, PROTOCOL_MALFORMED,
						 "response lacks ActionStatus or ErrorCode");
		goto done;
	}
	action = field;

	if (json_object_object_get_ex(root, "ResultItem", &items) &&
		!json_object_is_type(items, json_type_array))
		items = NULL;

	arena.cap = info_bytes(root, items);
	arena.base = malloc(arena.cap);
	if (arena.base == NULL)
	{
		outcome = finish(resp, PROTOCOL_NO_MEMORY, NULL);
		goto done;
	}
	resp->arena = arena.base;
	if (json_object_object_get_ex(root, "ErrorInfo", &field) &&
		json_object_is_type(field, json_type_string))
	{
		at = arena_copy(&arena, json_object_get_string(field),
						(size_t) json_object_get_string_len(field));
		if (at != SIZE_MAX)
			resp->error_info = arena.base + at;
	}

	if (!string_is(action, "OK") || resp->error_code != 0)
	{
		if (string_is(action, "FAIL") && resp->error_code != 0)
			outcome = finish(resp, PROTOCOL_FAIL, NULL);
		else
			outcome = finish(resp, PROTOCOL_MALFORMED,
							 "ActionStatus and ErrorCode disagree");
		goto done;
	}

	if (items == NULL)
	{
		outcome = finish(resp, PROTOCOL_MALFORMED, "response lacks ResultItem");
		goto done;
	}
	if (json_object_array_length(items) != n)
	{
		outcome = finish(resp, PROTOCOL_MISMATCH,
						 json_object_array_length(items) < n ?
						 "response has fewer ResultItems than UserIDs asked" :
						 "response has more ResultItems than UserIDs asked");
		goto done;
	}

	resp->items = calloc(n ? n : 1, sizeof(protocol_item_result));
	if (resp->items == NULL)
	{
		outcome = finish(resp, PROTOCOL_NO_MEMORY, NULL);
		goto done;
	}
	memset(answered, 0, sizeof(answered));
	n_answers = 0;
	for (size_t i = 0; i < n; i++)
	{
		json_object *item = json_object_array_get_idx(items, i);
		json_object *uid;
		protocol_item_result *result;
		long		k;

		if (!json_object_is_type(item, json_type_object) ||
			!json_object_object_get_ex(item, "UserID", &uid) ||
			!json_object_is_type(uid, json_type_string))
		{
			outcome = finish(resp, PROTOCOL_MALFORMED, "a ResultItem lacks a string UserID");
			goto done;
		}
		k = match_asked(json_object_get_string(uid),
						(size_t) json_object_get_string_len(uid), i,
						ids, id_lens, n, answered);
		if (k < 0)
		{
			outcome = finish(resp, PROTOCOL_MISMATCH,
							 "response answers a UserID that was not asked");
			goto done;
		}
		answered[k] = 1;
		n_answers++;
		result = &resp->items[k];
		result->result_info = "";
		if (get_int32(item, "ResultCode", &result->result_code) != 0)
		{
			outcome = finish(resp, PROTOCOL_MALFORMED, "a ResultItem lacks an integer ResultCode");
			goto done;
		}
		if (json_object_object_get_ex(item, "ResultInfo", &field) &&
			json_object_is_type(field, json_type_string))
		{
			result->result_info_len = (size_t) json_object_get_string_len(field);
			at = arena_copy(&arena, json_object_get_string(field),
							result->result_info_len);
			if (at == SIZE_MAX)
			{
				outcome = finish(resp, PROTOCOL_NO_MEMORY, NULL);
				goto done;
			}
			result->result_info = arena.base + at;
		}
		if (result->result_code == 0)
		{
			if (!json_object_object_get_ex(item, "AccountStatus", &field) ||
				!json_object_is_type(field, json_type_string))
			{
				outcome = finish(resp, PROTOCOL_MALFORMED,
								 "a successful ResultItem lacks AccountStatus");
				goto done;
			}
			if (string_is(field, "Imported"))
				result->status = PROTOCOL_STATUS_IMPORTED;
			else if (string_is(field, "NotImported"))
				result->status = PROTOCOL_STATUS_NOT_IMPORTED;
			else
			{
				outcome = finish(resp, PROTOCOL_MALFORMED,
								 "a ResultItem has an unknown AccountStatus");
				goto done;
			}
		}
	}
	/* n items, each matched to a distinct asked ID: every ID answered once */
	resp->n_items = n_answers;
	outcome = finish(resp, PROTOCOL_OK, NULL);

done:
	json_object_put(root);
	return outcome;
}

void
protocol_response_free(protocol_response *resp)
{
	free(resp->items);
	free(resp->arena);
	resp->items = NULL;
	resp->arena = NULL;
	resp->n_items = 0;
}
