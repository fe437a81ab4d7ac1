/*
 * protocol.c - the account_check wire format, the request buffer, and the
 * answer scanning the three APIs share (see protocol.h, protocol_scan.h).
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
		else if (c == '\n')
		{
			*p++ = '\\';
			*p++ = 'n';
		}
		else if (c == '\t')
		{
			*p++ = '\\';
			*p++ = 't';
		}
		else if (c == '\r')
		{
			*p++ = '\\';
			*p++ = 'r';
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
			return "the response is not a valid answer of the API";
		case PROTOCOL_MISMATCH:
			return "the response does not answer exactly the UserIDs asked";
		case PROTOCOL_NO_MEMORY:
			return "out of memory";
	}
	return "unknown outcome";
}

/* The members of a ResultItem we read, each at most once. */
typedef struct item_fields
{
	int			is_object;
	int			seen_uid;
	int			has_uid;		/* seen, and a string */
	jsonscan_string uid;
	int			code_state;		/* 0 absent, 1 int32, 2 present but not one */
	int32_t		code;
	int			seen_info;
	int			has_info;
	jsonscan_string info;
	int			seen_status;
	int			has_status;
	jsonscan_string status;
} item_fields;

/* account_check's own top-level member: ResultItem. */
typedef struct response_fields
{
	int			items_state;	/* 0 absent, 1 an array, 2 present but not one */
	size_t		n_items;		/* elements, counted past the ones kept */
	item_fields items[PROTOCOL_MAX_BATCH];
} response_fields;

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

member_name
protocol_member_of(const jsonscan_string *key)
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
protocol_read_int32_member(jsonscan_cursor *c, int *state, int32_t *value)
{
	int64_t		v;
	int			rc;

	if (*state != 0)
		return DUPLICATE_MEMBER;
	rc = jsonscan_integer(c, INT32_MIN, INT32_MAX, &v);
	if (rc < 0)
		return -1;
	*state = rc == 0 ? 1 : 2;
	if (rc == 0)
		*value = (int32_t) v;
	return 0;
}

int
protocol_read_string_member(jsonscan_cursor *c, int *seen, int *has, jsonscan_string *s)
{
	if (*seen)
		return DUPLICATE_MEMBER;
	*seen = 1;
	if (c->p < c->end && *c->p == '"')
	{
		*has = 1;
		return jsonscan_string_scan(c, s);
	}
	*has = 0;
	return jsonscan_value(c, 2);
}

static int
scan_item(jsonscan_cursor *c, item_fields *f)
{
	int			state = 0;
	int			more;
	jsonscan_string key;

	memset(f, 0, sizeof(*f));
	if (c->p >= c->end || *c->p != '{')
		return jsonscan_value(c, 2);
	f->is_object = 1;
	while ((more = jsonscan_object_next(c, &state, &key)) > 0)
	{
		int			rc;

		switch (protocol_member_of(&key))
		{
			case MEMBER_USER_ID:
				rc = protocol_read_string_member(c, &f->seen_uid, &f->has_uid, &f->uid);
				break;
			case MEMBER_RESULT_CODE:
				rc = protocol_read_int32_member(c, &f->code_state, &f->code);
				break;
			case MEMBER_RESULT_INFO:
				rc = protocol_read_string_member(c, &f->seen_info, &f->has_info, &f->info);
				break;
			case MEMBER_ACCOUNT_STATUS:
				rc = protocol_read_string_member(c, &f->seen_status, &f->has_status, &f->status);
				break;
			default:
				rc = jsonscan_value(c, 3);
				break;
		}
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

static int
scan_result_item(jsonscan_cursor *c, size_t index, void *arg)
{
	return scan_item(c, &((response_fields *) arg)->items[index]);
}

/* protocol_member_reader of account_check: ResultItem */
static int
scan_items(jsonscan_cursor *c, member_name name, void *state)
{
	response_fields *r = state;

	if (name != MEMBER_RESULT_ITEM)
		return jsonscan_value(c, 1);
	return protocol_scan_list(c, &r->items_state, &r->n_items, PROTOCOL_MAX_BATCH,
							  scan_result_item, r);
}

int
protocol_scan_document(const char *body, size_t len, envelope_fields *env,
					   protocol_member_reader reader, void *state)
{
	jsonscan_cursor c;
	int			object_state = 0;
	int			more = 0;
	jsonscan_string key;

	memset(env, 0, sizeof(*env));
	if (body == NULL)
		return -1;				/* no body at all is not JSON */
	c.p = body;
	c.end = body + len;
	jsonscan_skip_ws(&c);
	if (c.p < c.end && *c.p == '{')
	{
		env->is_object = 1;
		while ((more = jsonscan_object_next(&c, &object_state, &key)) > 0)
		{
			int			rc;
			member_name name = protocol_member_of(&key);

			switch (name)
			{
				case MEMBER_ACTION_STATUS:
					rc = protocol_read_string_member(&c, &env->seen_action,
													 &env->has_action, &env->action);
					break;
				case MEMBER_ERROR_CODE:
					rc = protocol_read_int32_member(&c, &env->code_state, &env->code);
					break;
				case MEMBER_ERROR_INFO:
					rc = protocol_read_string_member(&c, &env->seen_info,
													 &env->has_info, &env->info);
					break;
				case MEMBER_OTHER:
					rc = jsonscan_value(&c, 1);
					break;
				default:
					rc = reader(&c, name, state);
					break;
			}
			if (rc != 0)
				return rc;
		}
		if (more < 0)
			return -1;
	}
	else if (jsonscan_value(&c, 0) != 0)
		return -1;
	jsonscan_skip_ws(&c);
	return c.p == c.end ? 0 : -1;
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

const char *
protocol_peek_string(arena_builder *arena, const jsonscan_string *s, size_t *len)
{
	if (!s->escaped)
	{
		*len = (size_t) (s->end - s->start - 2);
		return s->start + 1;
	}
	*len = jsonscan_string_decode(s, arena->base + arena->used, arena->cap - arena->used);
	return arena->base + arena->used;
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
protocol_match_asked(const char *uid, size_t uid_len, size_t position,
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
protocol_open_answer(int scan_rc, const envelope_fields *env, size_t body_len,
					 size_t n, arena_builder *arena, protocol_response *resp)
{
	if (scan_rc == DUPLICATE_MEMBER)
		return protocol_finish(resp, PROTOCOL_MALFORMED, "response repeats a member");
	if (scan_rc != 0)
		return protocol_finish(resp, PROTOCOL_MALFORMED, "response is not valid JSON");
	if (!env->is_object || !env->has_action || env->code_state != 1)
		return protocol_finish(resp, PROTOCOL_MALFORMED,
							   "response lacks ActionStatus or ErrorCode");
	if (env->code < 0)
		return protocol_finish(resp, PROTOCOL_MALFORMED, "response has a negative ErrorCode");
	resp->error_code = env->code;

	/* room for every string decoded, each with its terminator */
	arena->cap = body_len + n + 2;
	arena->used = 0;
	arena->base = malloc(arena->cap);
	if (arena->base == NULL)
		return protocol_finish(resp, PROTOCOL_NO_MEMORY, NULL);
	resp->arena = arena->base;
	if (env->has_info)
		resp->error_info = protocol_arena_decode(arena, &env->info, NULL);

	if (!KEY_IS(env->action, "OK") || resp->error_code != 0)
	{
		if (KEY_IS(env->action, "FAIL") && resp->error_code != 0)
			return protocol_finish(resp, PROTOCOL_FAIL, NULL);
		return protocol_finish(resp, PROTOCOL_MALFORMED, "ActionStatus and ErrorCode disagree");
	}
	if ((resp->items = calloc(n ? n : 1, sizeof(protocol_item_result))) == NULL)
		return protocol_finish(resp, PROTOCOL_NO_MEMORY, NULL);
	for (size_t i = 0; i < n; i++)
		resp->items[i].result_info = "";
	return PROTOCOL_OK;
}

/* Reads the n items of a successful answer into resp->items. */
static protocol_outcome
read_items(const response_fields *r, const char *const *ids,
		   const size_t *id_lens, size_t n, arena_builder *arena,
		   protocol_response *resp)
{
	unsigned char answered[PROTOCOL_MAX_BATCH] = {0};

	for (size_t i = 0; i < n; i++)
	{
		const item_fields *f = &r->items[i];
		protocol_item_result *result;
		const char *uid;
		size_t		uid_len;
		long		k;

		if (!f->is_object || !f->has_uid)
			return protocol_finish(resp, PROTOCOL_MALFORMED, "a ResultItem lacks a string UserID");
		uid = protocol_peek_string(arena, &f->uid, &uid_len);
		k = protocol_match_asked(uid, uid_len, i, ids, id_lens, n, answered);
		if (k < 0)
			return protocol_finish(resp, PROTOCOL_MISMATCH,
								   "response answers a UserID that was not asked");
		answered[k] = 1;
		result = &resp->items[k];
		if (f->code_state != 1)
			return protocol_finish(resp, PROTOCOL_MALFORMED,
								   "a ResultItem lacks an integer ResultCode");
		if (f->code < 0)
			return protocol_finish(resp, PROTOCOL_MALFORMED,
								   "a ResultItem has a negative ResultCode");
		result->result_code = f->code;
		if (f->has_info)
			result->result_info = protocol_arena_decode(arena, &f->info, &result->result_info_len);
		if (result->result_code == 0)
		{
			if (!f->has_status)
				return protocol_finish(resp, PROTOCOL_MALFORMED,
									   "a successful ResultItem lacks AccountStatus");
			if (KEY_IS(f->status, "Imported"))
				result->status = PROTOCOL_STATUS_IMPORTED;
			else if (KEY_IS(f->status, "NotImported"))
				result->status = PROTOCOL_STATUS_NOT_IMPORTED;
			else
				return protocol_finish(resp, PROTOCOL_MALFORMED,
									   "a ResultItem has an unknown AccountStatus");
		}
	}
	/* n items, each matched to a distinct asked ID: every ID answered once */
	resp->n_items = n;
	return protocol_finish(resp, PROTOCOL_OK, NULL);
}

protocol_outcome
protocol_parse_response(const char *body, size_t len,
						const char *const *ids, const size_t *id_lens,
						size_t n, protocol_response *resp)
{
	response_fields *r;
	envelope_fields env;
	arena_builder arena;
	protocol_outcome outcome;
	int			scan_rc;

	memset(resp, 0, sizeof(*resp));
	resp->error_info = "";
	if (n > PROTOCOL_MAX_BATCH)
		return protocol_finish(resp, PROTOCOL_MISMATCH, "more UserIDs asked than a call allows");

	r = calloc(1, sizeof(response_fields));
	if (r == NULL)
		return protocol_finish(resp, PROTOCOL_NO_MEMORY, NULL);
	scan_rc = protocol_scan_document(body, len, &env, scan_items, r);
	outcome = protocol_open_answer(scan_rc, &env, len, n, &arena, resp);
	if (outcome == PROTOCOL_OK && r->items_state != 1)
		outcome = protocol_finish(resp, PROTOCOL_MALFORMED, "response lacks ResultItem");
	else if (outcome == PROTOCOL_OK && r->n_items != n)
		outcome = protocol_finish(resp, PROTOCOL_MISMATCH,
								  r->n_items < n ?
								  "response has fewer ResultItems than UserIDs asked" :
								  "response has more ResultItems than UserIDs asked");
	else if (outcome == PROTOCOL_OK)
		outcome = read_items(r, ids, id_lens, n, &arena, resp);
	free(r);
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
