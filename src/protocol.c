/*
 * protocol.c - the request buffer, the answer scanning, parse driver and
 * asked-ID matcher the three APIs share, and the account_check wire format
 * (see protocol.h, protocol_scan.h).
 */
#include "protocol.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "protocol_scan.h"

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

/*
 * Writes s as a JSON string at p, which has room for len * 6 + 2 bytes
 * (every byte as \u00XX, and the quotes); returns the end.
 */
static char *
write_json_string(char *p, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";

	*p++ = '"';
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (!jsonscan_must_escape(c))
			*p++ = (char) c;	/* UTF-8 passes through as is */
		else if (c == '"' || c == '\\')
		{
			*p++ = '\\';
			*p++ = (char) c;
		}
		else if (c == '\n' || c == '\t' || c == '\r')
		{
			*p++ = '\\';
			*p++ = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
		}
		else
		{
			*p++ = '\\';
			*p++ = 'u';
			*p++ = '0';
			*p++ = '0';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 0xf];
		}
	}
	*p++ = '"';
	return p;
}

int
protocol_buffer_append_json_string(protocol_buffer *buf,
								   const char *s, size_t len)
{
	char	   *p;

	if (len > (SIZE_MAX - 2) / 6 || protocol_buffer_reserve(buf, len * 6 + 2) != 0)
		return -1;
	p = write_json_string(buf->data + buf->len, s, len);
	*p = '\0';
	buf->len = (size_t) (p - buf->data);
	return 0;
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
		if ((i > 0 && protocol_buffer_append(out, ",", 1) != 0) ||
			protocol_buffer_append(out, item, sizeof(item) - 1) != 0 ||
			protocol_buffer_append_json_string(out, ids[i], id_lens[i]) != 0 ||
			protocol_buffer_append(out, "}", 1) != 0)
			return -1;
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
		case PROTOCOL_STATUS_ONLINE:
			return "Online";
		case PROTOCOL_STATUS_PUSH_ONLINE:
			return "PushOnline";
		case PROTOCOL_STATUS_OFFLINE:
			return "Offline";
		case PROTOCOL_STATUS_NONE:
			break;
	}
	return NULL;
}

/* ---- what the three answer readers share (see protocol_scan.h) ---- */

static const struct
{
	const char *text;
	size_t		len;
	member_name name;
}			member_names[] =
{
	{"ActionStatus", 12, MEMBER_ACTION_STATUS},
	{"ErrorCode", 9, MEMBER_ERROR_CODE},
	{"ErrorInfo", 9, MEMBER_ERROR_INFO},
	{"ResultItem", 10, MEMBER_RESULT_ITEM},
	{"UserID", 6, MEMBER_USER_ID},
	{"ResultCode", 10, MEMBER_RESULT_CODE},
	{"ResultInfo", 10, MEMBER_RESULT_INFO},
	{"AccountStatus", 13, MEMBER_ACCOUNT_STATUS},
	{"FailAccounts", 12, MEMBER_FAIL_ACCOUNTS},
	{"QueryResult", 11, MEMBER_QUERY_RESULT},
	{"ErrorList", 9, MEMBER_ERROR_LIST},
	{"To_Account", 10, MEMBER_TO_ACCOUNT},
	{"Status", 6, MEMBER_STATUS},
	{"Detail", 6, MEMBER_DETAIL},
};

/* Which member a key names (a key written with escapes is decoded first). */
static member_name
member_of(const jsonscan_string *key)
{
	char		decoded[16];
	const char *text = key->start + 1;
	size_t		len = (size_t) (key->end - key->start - 2);

	if (key->escaped)
	{
		len = jsonscan_string_decode(key, decoded, sizeof(decoded));
		if (len > sizeof(decoded))
			return MEMBER_OTHER;	/* longer than any we read */
		text = decoded;
	}
	for (size_t i = 0; i < sizeof(member_names) / sizeof(member_names[0]); i++)
		if (member_names[i].len == len && memcmp(member_names[i].text, text, len) == 0)
			return member_names[i].name;
	return MEMBER_OTHER;
}

int
protocol_read_int32_member(jsonscan_cursor *c, int32_member *m)
{
	int64_t		v;
	int			rc;

	if (m->state != 0)
		return DUPLICATE_MEMBER;
	rc = jsonscan_integer(c, INT32_MIN, INT32_MAX, &v);
	if (rc < 0)
		return -1;
	m->state = rc == 0 ? 1 : 2;
	if (rc == 0)
		m->value = (int32_t) v;
	return 0;
}

int
protocol_read_string_member(jsonscan_cursor *c, string_member *m)
{
	if (m->seen)
		return DUPLICATE_MEMBER;
	m->seen = 1;
	if (c->p < c->end && *c->p == '"')
	{
		m->is_string = 1;
		return jsonscan_string_scan(c, &m->s);
	}
	return jsonscan_value(c, 2);
}

int
protocol_scan_object(jsonscan_cursor *c, int depth, int *is_object,
					 protocol_member_reader reader, void *state)
{
	int			object_state = 0;
	int			more;
	jsonscan_string key;

	if (c->p >= c->end || *c->p != '{')
		return jsonscan_value(c, depth);
	*is_object = 1;
	while ((more = jsonscan_object_next(c, &object_state, &key)) > 0)
	{
		member_name name = member_of(&key);
		int			rc = name == MEMBER_OTHER ? MEMBER_NOT_READ : reader(c, name, state);

		if (rc == MEMBER_NOT_READ)
			rc = jsonscan_value(c, depth + 1);
		if (rc != 0)
			return rc;
	}
	return more;
}

int
protocol_scan_list(jsonscan_cursor *c, int *list_state, size_t *n, size_t max,
				   protocol_element_reader element, void *arg)
{
	int			array_state = 0;
	int			more;

	if (*list_state != 0)
		return DUPLICATE_MEMBER;
	if (c->p >= c->end || *c->p != '[')
	{
		*list_state = 2;
		return jsonscan_value(c, 1);
	}
	*list_state = 1;
	while ((more = jsonscan_array_next(c, &array_state)) > 0)
	{
		/* past the most a call can ask: only validated, and counted */
		int			rc = *n >= max ? jsonscan_value(c, 2) : element(c, *n, arg);

		if (rc != 0)
			return rc;
		(*n)++;
	}
	return more;
}

const char *
protocol_arena_decode(arena_builder *arena, const jsonscan_string *s, size_t *len)
{
	char	   *at = arena->base + arena->used;
	size_t		n = jsonscan_string_decode(s, at, arena->cap - arena->used);

	at[n] = '\0';
	arena->used += n + 1;
	if (len)
		*len = n;
	return at;
}

const char *
protocol_arena_copy(arena_builder *arena, const char *s, size_t len)
{
	char	   *at = arena->base + arena->used;

	memcpy(at, s, len);
	at[len] = '\0';
	arena->used += len + 1;
	return at;
}

protocol_outcome
protocol_finish(protocol_response *resp, protocol_outcome outcome, const char *problem)
{
	resp->outcome = outcome;
	if (problem)
		resp->problem = problem;
	return outcome;
}

long
protocol_match_asked(protocol_answer *a, const jsonscan_string *uid, size_t *next)
{
	const char *s = uid->start + 1;
	size_t		len = (size_t) (uid->end - uid->start - 2);
	long		found = -1;

	if (uid->escaped)
	{
		/* decoded into the arena's free space, not kept */
		char	   *at = a->arena.base + a->arena.used;

		len = jsonscan_string_decode(uid, at, a->arena.cap - a->arena.used);
		s = at;
	}
	for (size_t j = 0; j < a->n; j++)
	{
		size_t		k = (*next + j) % a->n;

		if (a->id_lens[k] != len || memcmp(a->ids[k], s, len) != 0)
			continue;
		if (!a->answered[k])
		{
			a->answered[k] = 1;
			*next = k + 1;
			return (long) k;
		}
		found = -2;
	}
	return found;
}

/* The top level: the envelope's members, and the API's own in its fields. */
typedef struct envelope
{
	int			is_object;
	string_member action;
	int32_member code;
	string_member info;
	protocol_member_reader api_member;
	void	   *api_fields;
} envelope;

static int
read_envelope_member(jsonscan_cursor *c, member_name name, void *state)
{
	envelope   *env = state;

	switch (name)
	{
		case MEMBER_ACTION_STATUS:
			return protocol_read_string_member(c, &env->action);
		case MEMBER_ERROR_CODE:
			return protocol_read_int32_member(c, &env->code);
		case MEMBER_ERROR_INFO:
			return protocol_read_string_member(c, &env->info);
		default:
			return env->api_member(c, name, env->api_fields);
	}
}

/* Validates the whole document: 0, -1 when it is not JSON, or DUPLICATE_MEMBER. */
static int
scan_document(const char *body, size_t len, envelope *env)
{
	jsonscan_cursor c;
	int			rc;

	if (body == NULL)
		return -1;				/* no body at all is not JSON */
	c.p = body;
	c.end = body + len;
	jsonscan_skip_ws(&c);
	rc = protocol_scan_object(&c, 0, &env->is_object, read_envelope_member, env);
	if (rc != 0)
		return rc;
	jsonscan_skip_ws(&c);
	return c.p == c.end ? 0 : -1;
}

/*
 * Checks the envelope of a scanned answer, and sets up the arena (held by
 * resp) and resp->items.  PROTOCOL_OK when the items are to be read.
 */
static protocol_outcome
open_answer(int scan_rc, const envelope *env, size_t body_len, protocol_answer *a)
{
	protocol_response *resp = a->resp;

	if (scan_rc == DUPLICATE_MEMBER)
		return protocol_finish(resp, PROTOCOL_MALFORMED, "response repeats a member");
	if (scan_rc != 0)
		return protocol_finish(resp, PROTOCOL_MALFORMED, "response is not valid JSON");
	if (!env->is_object || !env->action.is_string || env->code.state != 1)
		return protocol_finish(resp, PROTOCOL_MALFORMED,
							   "response lacks ActionStatus or ErrorCode");
	if (env->code.value < 0)
		return protocol_finish(resp, PROTOCOL_MALFORMED, "response has a negative ErrorCode");
	resp->error_code = env->code.value;

	/* room for every string decoded, each with its terminator */
	a->arena.cap = body_len + a->n + 2;
	a->arena.base = malloc(a->arena.cap);
	if (a->arena.base == NULL)
		return protocol_finish(resp, PROTOCOL_NO_MEMORY, NULL);
	resp->arena = a->arena.base;
	if (env->info.is_string)
		resp->error_info = protocol_arena_decode(&a->arena, &env->info.s, NULL);

	if (!KEY_IS(env->action.s, "OK") || resp->error_code != 0)
	{
		if (KEY_IS(env->action.s, "FAIL") && resp->error_code != 0)
			return protocol_finish(resp, PROTOCOL_FAIL, NULL);
		return protocol_finish(resp, PROTOCOL_MALFORMED, "ActionStatus and ErrorCode disagree");
	}
	if ((resp->items = calloc(a->n ? a->n : 1, sizeof(protocol_item_result))) == NULL)
		return protocol_finish(resp, PROTOCOL_NO_MEMORY, NULL);
	for (size_t i = 0; i < a->n; i++)
		resp->items[i].result_info = "";
	return PROTOCOL_OK;
}

protocol_outcome
protocol_parse_answer(const protocol_api *api, const char *body, size_t len,
					  const char *const *ids, const size_t *id_lens, size_t n,
					  protocol_response *resp)
{
	envelope	env = {.api_member = api->member};
	protocol_answer a = {.ids = ids, .id_lens = id_lens, .n = n, .resp = resp};
	protocol_outcome outcome;

	memset(resp, 0, sizeof(*resp));
	resp->error_info = "";
	if (n > api->max_batch)
		return protocol_finish(resp, PROTOCOL_MISMATCH, "more UserIDs asked than a call allows");
	if ((env.api_fields = calloc(1, api->fields_size)) == NULL)
		return protocol_finish(resp, PROTOCOL_NO_MEMORY, NULL);
	outcome = open_answer(scan_document(body, len, &env), &env, len, &a);
	if (outcome == PROTOCOL_OK)
		outcome = api->read(env.api_fields, &a);
	if (outcome == PROTOCOL_OK)
	{
		resp->n_items = n;
		outcome = protocol_finish(resp, PROTOCOL_OK, NULL);
	}
	free(env.api_fields);
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

/* ---- account_check's answer ---- */

/* A ResultItem's members we read. */
typedef struct item_fields
{
	int			is_object;
	string_member uid;
	int32_member code;
	string_member info;
	string_member status;
} item_fields;

/* account_check's own top-level member: ResultItem. */
typedef struct response_fields
{
	int			items_state;	/* 0 absent, 1 an array, 2 present but not one */
	size_t		n_items;		/* elements, counted past the ones kept */
	item_fields items[PROTOCOL_MAX_BATCH];
} response_fields;

static int
read_item_member(jsonscan_cursor *c, member_name name, void *state)
{
	item_fields *f = state;

	switch (name)
	{
		case MEMBER_USER_ID:
			return protocol_read_string_member(c, &f->uid);
		case MEMBER_RESULT_CODE:
			return protocol_read_int32_member(c, &f->code);
		case MEMBER_RESULT_INFO:
			return protocol_read_string_member(c, &f->info);
		case MEMBER_ACCOUNT_STATUS:
			return protocol_read_string_member(c, &f->status);
		default:
			return MEMBER_NOT_READ;
	}
}

static int
scan_result_item(jsonscan_cursor *c, size_t index, void *arg)
{
	item_fields *f = &((response_fields *) arg)->items[index];

	return protocol_scan_object(c, 2, &f->is_object, read_item_member, f);
}

static int
read_response_member(jsonscan_cursor *c, member_name name, void *state)
{
	response_fields *r = state;

	if (name != MEMBER_RESULT_ITEM)
		return MEMBER_NOT_READ;
	return protocol_scan_list(c, &r->items_state, &r->n_items, PROTOCOL_MAX_BATCH,
							  scan_result_item, r);
}

static protocol_outcome
read_result_items(const void *fields, protocol_answer *a)
{
	const response_fields *r = fields;
	protocol_response *resp = a->resp;
	size_t		next = 0;

	if (r->items_state != 1)
		return protocol_finish(resp, PROTOCOL_MALFORMED, "response lacks ResultItem");
	if (r->n_items != a->n)
		return protocol_finish(resp, PROTOCOL_MISMATCH, r->n_items < a->n ?
							   "response has fewer ResultItems than UserIDs asked" :
							   "response has more ResultItems than UserIDs asked");
	for (size_t i = 0; i < a->n; i++)
	{
		const item_fields *f = &r->items[i];
		protocol_item_result *result;
		long		k;

		if (!f->is_object || !f->uid.is_string)
			return protocol_finish(resp, PROTOCOL_MALFORMED, "a ResultItem lacks a string UserID");
		if ((k = protocol_match_asked(a, &f->uid.s, &next)) < 0)
			return protocol_finish(resp, PROTOCOL_MISMATCH,
								   "response answers a UserID that was not asked");
		result = &resp->items[k];
		if (f->code.state != 1)
			return protocol_finish(resp, PROTOCOL_MALFORMED,
								   "a ResultItem lacks an integer ResultCode");
		if (f->code.value < 0)
			return protocol_finish(resp, PROTOCOL_MALFORMED,
								   "a ResultItem has a negative ResultCode");
		result->result_code = f->code.value;
		if (f->info.is_string)
			result->result_info = protocol_arena_decode(&a->arena, &f->info.s,
														&result->result_info_len);
		if (result->result_code == 0)
		{
			if (!f->status.is_string)
				return protocol_finish(resp, PROTOCOL_MALFORMED,
									   "a successful ResultItem lacks AccountStatus");
			if (KEY_IS(f->status.s, "Imported"))
				result->status = PROTOCOL_STATUS_IMPORTED;
			else if (KEY_IS(f->status.s, "NotImported"))
				result->status = PROTOCOL_STATUS_NOT_IMPORTED;
			else
				return protocol_finish(resp, PROTOCOL_MALFORMED,
									   "a ResultItem has an unknown AccountStatus");
		}
	}
	return PROTOCOL_OK;
}

static const protocol_api account_check = {
	PROTOCOL_MAX_BATCH, sizeof(response_fields), read_response_member, read_result_items
};

protocol_outcome
protocol_parse_response(const char *body, size_t len,
						const char *const *ids, const size_t *id_lens,
						size_t n, protocol_response *resp)
{
	return protocol_parse_answer(&account_check, body, len, ids, id_lens, n, resp);
}
