/*
 * protocol.c - the account_check wire format (see protocol.h).
 */
#include "protocol.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "jsonscan.h"

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

/* the fast paths' helpers are small and called in a row: inline them all */
#if defined(__GNUC__)
#define FAST_INLINE inline __attribute__((always_inline))
#else
#define FAST_INLINE inline
#endif

/* Must the byte be escaped in a JSON string (a control byte, '"' or '\\')? */
static FAST_INLINE int
json_special_byte(char ch)
{
	return (unsigned char) ch < 0x20 || ch == '"' || ch == '\\';
}

/*
 * Are the n bytes at a those at b, with none that must be escaped in a JSON
 * string?  One pass, eight bytes at a time: the answer parser's fast paths
 * compare strings with what they probably are this way.
 */
static FAST_INLINE int
plain_and_equal(const char *a, const char *b, size_t n)
{
	uint64_t	x;
	uint64_t	y;

	if (n < 8)
	{
		for (size_t i = 0; i < n; i++)
			if (a[i] != b[i] || json_special_byte(a[i]))
				return 0;
		return 1;
	}
	for (size_t i = 0; i + 8 < n; i += 8)
	{
		memcpy(&x, a + i, 8);
		memcpy(&y, b + i, 8);
		if (x != y || jsonscan_special_mask8(x) != 0)
			return 0;
	}
	/* the last eight, overlapping the ones before if need be */
	memcpy(&x, a + n - 8, 8);
	memcpy(&y, b + n - 8, 8);
	return x == y && jsonscan_special_mask8(x) == 0;
}

/* Does s (len bytes) need no escaping in a JSON string? */
static FAST_INLINE int
json_plain(const char *s, size_t len)
{
	return plain_and_equal(s, s, len);
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
	if (json_plain(s, len))
	{
		/* nearly every UserID: one check, one copy */
		memcpy(p, s, len);
		p += len;
		*p++ = '"';
		return p;
	}
	for (size_t i = 0; i < len; i++)
	{
		/* copy the plain part in one go */
		size_t		plain = (size_t) (jsonscan_skip_plain(s + i, s + len) - (s + i));
		unsigned char c;

		if (plain > 0)
		{
			memcpy(p, s + i, plain);
			p += plain;
			i += plain;
			if (i == len)
				break;
		}
		c = (unsigned char) s[i];

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
	size_t		room = sizeof(head) + 2;
	char	   *p;

	/* one reservation for the worst case, then plain writes (it showed in profiles) */
	for (size_t i = 0; i < n; i++)
	{
		size_t		one;

		if (id_lens[i] > (SIZE_MAX - sizeof(item) - 4) / 6)
			return -1;
		one = sizeof(item) + 2 + id_lens[i] * 6 + 2;
		if (room > SIZE_MAX - one)
			return -1;
		room += one;
	}
	if (protocol_buffer_reserve(out, room) != 0)
		return -1;
	p = out->data + out->len;
	memcpy(p, head, sizeof(head) - 1);
	p += sizeof(head) - 1;
	for (size_t i = 0; i < n; i++)
	{
		if (i > 0)
			*p++ = ',';
		memcpy(p, item, sizeof(item) - 1);
		p += sizeof(item) - 1;
		p = write_json_string(p, ids[i], id_lens[i]);
		*p++ = '}';
	}
	*p++ = ']';
	*p++ = '}';
	*p = '\0';
	out->len = (size_t) (p - out->data);
	return 0;
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

/* What a ResultItem element held (the last of each member, as JSON readers do). */
typedef struct item_fields
{
	int			is_object;
	int			has_uid;
	jsonscan_string uid;
	int			code_state;		/* 0 absent, 1 int32, 2 present but not one */
	int32_t		code;
	int			has_info;
	jsonscan_string info;
	int			has_status;
	jsonscan_string status;
} item_fields;

/* The top-level members we read. */
typedef struct response_fields
{
	int			is_object;
	int			has_action;
	jsonscan_string action;
	int			code_state;
	int32_t		code;
	int			has_info;
	jsonscan_string info;
	int			items_state;	/* 0 absent or not an array, 1 array */
	size_t		n_items;		/* elements, counted past the ones kept */
	int			try_fast;		/* try scan_item_fast() on each element */
	const char *const *asked;	/* the UserIDs asked, in order: its hints */
	const size_t *asked_lens;
	size_t		n_asked;
	size_t		n_fast;			/* elements scan_item_fast() read */
	item_fields items[PROTOCOL_MAX_BATCH];
} response_fields;

/* The member names we read; keys are matched by length first. */
typedef enum member_key
{
	KEY_OTHER,
	KEY_ACTION_STATUS,
	KEY_ERROR_CODE,
	KEY_ERROR_INFO,
	KEY_RESULT_ITEM,
	KEY_USER_ID,
	KEY_RESULT_CODE,
	KEY_RESULT_INFO,
	KEY_ACCOUNT_STATUS
} member_key;

#define KEY_IS(k, lit) jsonscan_string_equals(&(k), lit, sizeof(lit) - 1)

/* Names a member.  Keys with escapes are rare; they take the slow path. */
static member_key
classify_key(const jsonscan_string *key)
{
	const char *k = key->start + 1;

	if (key->escaped)
	{
		if (KEY_IS(*key, "ActionStatus"))
			return KEY_ACTION_STATUS;
		if (KEY_IS(*key, "ErrorCode"))
			return KEY_ERROR_CODE;
		if (KEY_IS(*key, "ErrorInfo"))
			return KEY_ERROR_INFO;
		if (KEY_IS(*key, "ResultItem"))
			return KEY_RESULT_ITEM;
		if (KEY_IS(*key, "UserID"))
			return KEY_USER_ID;
		if (KEY_IS(*key, "ResultCode"))
			return KEY_RESULT_CODE;
		if (KEY_IS(*key, "ResultInfo"))
			return KEY_RESULT_INFO;
		if (KEY_IS(*key, "AccountStatus"))
			return KEY_ACCOUNT_STATUS;
		return KEY_OTHER;
	}
	switch (key->end - key->start - 2)
	{
		case 6:
			return memcmp(k, "UserID", 6) == 0 ? KEY_USER_ID : KEY_OTHER;
		case 9:
			if (memcmp(k, "ErrorCode", 9) == 0)
				return KEY_ERROR_CODE;
			return memcmp(k, "ErrorInfo", 9) == 0 ? KEY_ERROR_INFO : KEY_OTHER;
		case 10:
			if (memcmp(k, "ResultCode", 10) == 0)
				return KEY_RESULT_CODE;
			if (memcmp(k, "ResultInfo", 10) == 0)
				return KEY_RESULT_INFO;
			return memcmp(k, "ResultItem", 10) == 0 ? KEY_RESULT_ITEM : KEY_OTHER;
		case 12:
			return memcmp(k, "ActionStatus", 12) == 0 ? KEY_ACTION_STATUS : KEY_OTHER;
		case 13:
			return memcmp(k, "AccountStatus", 13) == 0 ? KEY_ACCOUNT_STATUS : KEY_OTHER;
	}
	return KEY_OTHER;
}

/* Reads an integer member: *state 1 = an int32 (in *value), 2 = another value. */
static int
read_int32_member(jsonscan_cursor *c, int *state, int32_t *value)
{
	int64_t		v;
	int			rc = jsonscan_integer(c, INT32_MIN, INT32_MAX, &v);

	if (rc < 0)
		return -1;
	*state = rc == 0 ? 1 : 2;
	if (rc == 0)
		*value = (int32_t) v;
	return 0;
}

/* Reads a member that should be a string; *has says whether it was one. */
static int
read_string_member(jsonscan_cursor *c, int *has, jsonscan_string *s)
{
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

	/* the flags say which other fields hold something (no memset: it showed in profiles) */
	f->is_object = 0;
	f->has_uid = 0;
	f->code_state = 0;
	f->has_info = 0;
	f->has_status = 0;
	if (c->p >= c->end || *c->p != '{')
		return jsonscan_value(c, 2);
	f->is_object = 1;
	while ((more = jsonscan_object_next(c, &state, &key)) > 0)
	{
		int			rc;

		switch (classify_key(&key))
		{
			case KEY_USER_ID:
				rc = read_string_member(c, &f->has_uid, &f->uid);
				break;
			case KEY_RESULT_CODE:
				rc = read_int32_member(c, &f->code_state, &f->code);
				break;
			case KEY_RESULT_INFO:
				rc = read_string_member(c, &f->has_info, &f->info);
				break;
			case KEY_ACCOUNT_STATUS:
				rc = read_string_member(c, &f->has_status, &f->status);
				break;
			default:
				rc = jsonscan_value(c, 3);
				break;
		}
		if (rc != 0)
			return -1;
	}
	return more;
}

/*
 * The fast item scanner.  Nearly every ResultItem has the documented
 * members in the documented order,
 *
 *   {"UserID":"u1","ResultCode":0,"ResultInfo":"","AccountStatus":"Imported"}
 *
 * (AccountStatus absent when the item failed), with plain strings.  Matching
 * that shape token by token (whitespace allowed between tokens, as the
 * generic scanner allows it) costs a fraction of the generic walk, which
 * for every member steps through the object, scans and classifies the key
 * and scans the value: reading the answer was the largest cost per call
 * left in the backend.  An element of any other shape (another order or
 * set of members, an escape, a ResultCode that is no int32) is left to
 * scan_item(), from its start.  Where the fast scanner succeeds it fills
 * item_fields exactly as scan_item() would from the same bytes; the unit
 * tests and fuzz_response parse every input both ways and compare.  (Its
 * strings are first compared with what they probably are: the UserID asked
 * at that place, "", "Imported", "NotImported"; scanned only if not.)  An
 * answer in the service's compact layout does not even get here:
 * parse_compact() takes it whole, at half the cost again.
 */

static FAST_INLINE int
is_json_ws(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

static FAST_INLINE const char *
skip_ws(const char *p, const char *end)
{
	/* compact JSON: almost always no whitespace at all */
	if (p < end && (unsigned char) *p > ' ')
		return p;
	while (p < end && is_json_ws(*p))
		p++;
	return p;
}

/*
 * Are the n bytes at a and b equal?  Eight at a time: libc's memcmp is a
 * call per comparison, and the scanner makes several per item.
 */
static FAST_INLINE int
bytes_equal(const char *a, const char *b, size_t n)
{
	if (n >= 8)
	{
		uint64_t	x;
		uint64_t	y;

		for (size_t i = 0; i + 8 < n; i += 8)
		{
			memcpy(&x, a + i, 8);
			memcpy(&y, b + i, 8);
			if (x != y)
				return 0;
		}
		/* the last eight, overlapping the ones before if need be */
		memcpy(&x, a + n - 8, 8);
		memcpy(&y, b + n - 8, 8);
		return x == y;
	}
	if (n >= 4)
	{
		uint32_t	x1,
					y1,
					x2,
					y2;

		memcpy(&x1, a, 4);
		memcpy(&y1, b, 4);
		memcpy(&x2, a + n - 4, 4);
		memcpy(&y2, b + n - 4, 4);
		return x1 == y1 && x2 == y2;
	}
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return 0;
	return 1;
}

/* Is the validated string s exactly want[0..len)?  (Inline jsonscan_string_equals.) */
static FAST_INLINE int
string_is(const jsonscan_string *s, const char *want, size_t len)
{
	if (s->escaped)
		return jsonscan_string_equals(s, want, len);
	return (size_t) (s->end - s->start - 2) == len && bytes_equal(s->start + 1, want, len);
}

/*
 * Reads, at *p, an int32 written as JSON integers usually are (optional
 * minus, no leading zero, at most ten digits) and moves *p past it.  0 for
 * anything else, which jsonscan_integer() then reads as the generic
 * scanner would: a fraction or exponent, more digits, a leading zero.
 */
static FAST_INLINE int
fast_int32(const char **p, const char *end, int32_t *value)
{
	const char *q = *p;
	int			negative = 0;
	int64_t		v = 0;
	int			digits = 0;

	if (q < end && *q == '-')
	{
		negative = 1;
		q++;
	}
	while (q < end && *q >= '0' && *q <= '9' && digits < 11)
	{
		v = v * 10 + (*q - '0');
		q++;
		digits++;
	}
	if (digits == 0 || digits > 10 || (digits > 1 && q[-digits] == '0'))
		return 0;
	if (q < end && (*q == '.' || *q == 'e' || *q == 'E'))
		return 0;
	if (negative)
		v = -v;
	if (v < INT32_MIN || v > INT32_MAX)
		return 0;
	*value = (int32_t) v;
	*p = q;
	return 1;
}

/*
 * Reads, at *p, the member name lit (with its quotes, e.g. "\"UserID\"")
 * and the colon after it, and moves *p to the value.  0 if it is not there.
 */
#define FAST_KEY(p, end, lit) fast_key((p), (end), (lit), sizeof(lit) - 1)

static FAST_INLINE int
fast_key(const char **p, const char *end, const char *lit, size_t len)
{
	const char *q = *p;

	if ((size_t) (end - q) < len + 1 || !bytes_equal(q, lit, len))
		return 0;
	q = skip_ws(q + len, end);
	if (q >= end || *q != ':')
		return 0;
	*p = skip_ws(q + 1, end);
	return 1;
}

/*
 * Reads, at *p, a string without escapes or control characters into *s and
 * moves *p past it.  0 if there is none such.
 */
static FAST_INLINE int
fast_plain_string(const char **p, const char *end, jsonscan_string *s)
{
	const char *q = *p;

	if (q >= end || *q != '"')
		return 0;
	q = jsonscan_skip_plain(q + 1, end);
	while (q < end && !json_special_byte(*q))
		q++;
	if (q >= end || *q != '"')
		return 0;
	s->start = *p;
	s->end = q + 1;
	s->escaped = 0;
	*p = q + 1;
	return 1;
}

/*
 * fast_plain_string() for a string that is probably want (len bytes): a
 * comparison instead of a scan.  0 if it is not exactly that, plain.
 */
static FAST_INLINE int
fast_string_is(const char **p, const char *end, const char *want, size_t len,
			   jsonscan_string *s)
{
	const char *q = *p;

	if ((size_t) (end - q) < len + 2 || q[0] != '"' || q[len + 1] != '"' ||
		!plain_and_equal(q + 1, want, len))
		return 0;
	s->start = q;
	s->end = q + len + 2;
	s->escaped = 0;
	*p = q + len + 2;
	return 1;
}

/* Reads, at *p, the byte ch after optional whitespace, and whitespace after it. */
static FAST_INLINE int
fast_punct(const char **p, const char *end, char ch)
{
	const char *q = skip_ws(*p, end);

	if (q >= end || *q != ch)
		return 0;
	*p = skip_ws(q + 1, end);
	return 1;
}

/*
 * Reads the element at c->p if it has the documented shape, and the
 * separator after it as jsonscan_array_next() would (*more: 1 another
 * element follows, 0 the array ended, -1 neither): returns 1 with f filled
 * and the cursor past the separator, else 0 with the cursor where it was.
 * uid (uid_len bytes, or NULL) is the UserID this element probably
 * answers, the one asked at its place: its strings are first compared with
 * what they probably are, and scanned only if that fails.
 */
static int
scan_item_fast(jsonscan_cursor *c, item_fields *f, int *more,
			   const char *uid, size_t uid_len)
{
	const char *p = c->p;
	const char *end = c->end;
	int32_t		code;

	if (!fast_punct(&p, end, '{') ||
		!FAST_KEY(&p, end, "\"UserID\"") ||
		!((uid != NULL && fast_string_is(&p, end, uid, uid_len, &f->uid)) ||
		  fast_plain_string(&p, end, &f->uid)) ||
		!fast_punct(&p, end, ',') ||
		!FAST_KEY(&p, end, "\"ResultCode\"") ||
		!fast_int32(&p, end, &code) ||
		!fast_punct(&p, end, ',') ||
		!FAST_KEY(&p, end, "\"ResultInfo\"") ||
		!(fast_string_is(&p, end, "", 0, &f->info) ||
		  fast_plain_string(&p, end, &f->info)))
		return 0;
	f->has_status = 0;
	p = skip_ws(p, end);
	if (p < end && *p == ',')
	{
		p = skip_ws(p + 1, end);
		if (!FAST_KEY(&p, end, "\"AccountStatus\"") ||
			!(fast_string_is(&p, end, "Imported", 8, &f->status) ||
			  fast_string_is(&p, end, "NotImported", 11, &f->status) ||
			  fast_plain_string(&p, end, &f->status)))
			return 0;
		f->has_status = 1;
		p = skip_ws(p, end);
	}
	if (p >= end || *p != '}')
		return 0;
	f->is_object = 1;
	f->has_uid = 1;
	f->code_state = 1;
	f->code = code;
	f->has_info = 1;
	p = skip_ws(p + 1, end);
	if (p < end && *p == ',')
	{
		p = skip_ws(p + 1, end);
		*more = 1;
	}
	else if (p < end && *p == ']')
	{
		p++;
		*more = 0;
	}
	else
		*more = -1;
	c->p = p;
	return 1;
}

static int
scan_items(jsonscan_cursor *c, response_fields *r)
{
	int			state = 0;
	int			more;

	r->n_items = 0;
	if (c->p >= c->end || *c->p != '[')
	{
		r->items_state = 0;		/* not an array: as if absent */
		return jsonscan_value(c, 1);
	}
	r->items_state = 1;
	more = jsonscan_array_next(c, &state);
	while (more > 0)
	{
		int			rc;

		if (r->n_items < PROTOCOL_MAX_BATCH && r->try_fast &&
			scan_item_fast(c, &r->items[r->n_items], &more,
						   r->n_items < r->n_asked ? r->asked[r->n_items] : NULL,
						   r->n_items < r->n_asked ? r->asked_lens[r->n_items] : 0))
		{
			/* it read the separator too */
			r->n_fast++;
			r->n_items++;
			continue;
		}
		if (r->n_items >= PROTOCOL_MAX_BATCH)
			rc = jsonscan_value(c, 2);
		else
			rc = scan_item(c, &r->items[r->n_items]);
		if (rc != 0)
			return -1;
		r->n_items++;
		more = jsonscan_array_next(c, &state);
	}
	return more;
}

/* Validates the whole document and picks out the members we use. */
static int
scan_response(const char *body, size_t len, response_fields *r)
{
	jsonscan_cursor c;
	int			state = 0;
	int			more = 0;
	jsonscan_string key;

	if (body == NULL)
		return -1;				/* no body at all is not JSON */
	c.p = body;
	c.end = body + len;
	jsonscan_skip_ws(&c);
	if (c.p < c.end && *c.p == '{')
	{
		r->is_object = 1;
		while ((more = jsonscan_object_next(&c, &state, &key)) > 0)
		{
			int			rc;

			switch (classify_key(&key))
			{
				case KEY_ACTION_STATUS:
					rc = read_string_member(&c, &r->has_action, &r->action);
					break;
				case KEY_ERROR_CODE:
					rc = read_int32_member(&c, &r->code_state, &r->code);
					break;
				case KEY_ERROR_INFO:
					rc = read_string_member(&c, &r->has_info, &r->info);
					break;
				case KEY_RESULT_ITEM:
					rc = scan_items(&c, r);
					break;
				default:
					rc = jsonscan_value(&c, 1);
					break;
			}
			if (rc != 0)
				return -1;
		}
		if (more < 0)
			return -1;
	}
	else if (jsonscan_value(&c, 0) != 0)
		return -1;
	jsonscan_skip_ws(&c);
	return c.p == c.end ? 0 : -1;
}

/*
 * Decoded strings (ErrorInfo, ResultInfo) go into one arena, NUL-terminated.
 * A decoded string is never longer than its JSON form, so len bytes plus a
 * terminator for each string is always enough.
 */
typedef struct arena_builder
{
	char	   *base;
	size_t		used;
	size_t		cap;
} arena_builder;

/* An arena for the strings of an answer of len bytes; base NULL if out of memory. */
static void
arena_open(arena_builder *arena, size_t len)
{
	/* room for every string decoded, each with its terminator */
	arena->cap = len + PROTOCOL_MAX_BATCH + 2;
	arena->used = 0;
	arena->base = malloc(arena->cap);
}

static const char *
arena_decode(arena_builder *arena, const jsonscan_string *s, size_t *len)
{
	char	   *at = arena->base + arena->used;
	size_t		n;

	/* most strings are empty or plain: no decoder call for them */
	if (!s->escaped)
	{
		n = (size_t) (s->end - s->start - 2);
		if (n == 0)
		{
			if (len)
				*len = 0;
			return "";
		}
		memcpy(at, s->start + 1, n);
	}
	else
		n = jsonscan_string_decode(s, at, arena->cap - arena->used);

	at[n] = '\0';
	arena->used += n + 1;
	if (len)
		*len = n;
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
		bytes_equal(ids[position], uid, uid_len))
		return (long) position;
	for (size_t i = 0; i < n; i++)
		if (!answered[i] && id_lens[i] == uid_len &&
			memcmp(ids[i], uid, uid_len) == 0)
			return (long) i;
	return -1;
}

/*
 * The compact answer.  The service (like imsim) answers a successful call
 * with no whitespace, the members in the documented order and the items in
 * the order asked:
 *
 *   {"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","ResultItem":[
 *    {"UserID":"u1","ResultCode":0,"ResultInfo":"","AccountStatus":"Imported"},...]}
 *
 * Such an answer is matched byte for byte, long literals eight bytes at a
 * time, each UserID compared with the one asked at its place, and the
 * results written directly: half the cost again of the fast item scanner,
 * which a backend at tens of thousands of calls per second notices (the
 * general parse's bookkeeping per item, the 10 kB of item fields, is what
 * it saves).  Anything else (whitespace, another order, an escape, a failed
 * item, items out of order, FAIL) is "not matched" and parse_response()
 * decides.  A document this accepts is valid JSON, and parse_response()
 * reads the same values from it; tests and fuzz_response compare them.
 */

/* Does *p start with the literal lit?  Moves *p past it if so. */
#define COMPACT_LIT(p, end, lit) compact_lit((p), (end), (lit), sizeof(lit) - 1)

static FAST_INLINE int
compact_lit(const char **p, const char *end, const char *lit, size_t len)
{
	if ((size_t) (end - *p) < len || !bytes_equal(*p, lit, len))
		return 0;
	*p += len;
	return 1;
}

/*
 * Matches a compact answer to ids[0..n-1]: returns 1 with resp complete
 * (PROTOCOL_OK, or PROTOCOL_NO_MEMORY), 0 with resp untouched if body is
 * not one.
 */
static int
parse_compact(const char *body, size_t len, const char *const *ids,
			  const size_t *id_lens, size_t n, protocol_response *resp)
{
	jsonscan_string error_info;
	jsonscan_string infos[PROTOCOL_MAX_BATCH];
	unsigned char statuses[PROTOCOL_MAX_BATCH];
	const char *end;
	const char *p;
	arena_builder arena;

	if (body == NULL || n == 0 || n > PROTOCOL_MAX_BATCH)
		return 0;
	end = body + len;
	p = skip_ws(body, end);
	if (!COMPACT_LIT(&p, end, "{\"ActionStatus\":\"OK\",\"ErrorCode\":0,\"ErrorInfo\":") ||
		!fast_plain_string(&p, end, &error_info) ||
		!COMPACT_LIT(&p, end, ",\"ResultItem\":["))
		return 0;
	for (size_t i = 0; i < n; i++)
	{
		jsonscan_string scratch;

		if ((i > 0 && !COMPACT_LIT(&p, end, ",")) ||
			!COMPACT_LIT(&p, end, "{\"UserID\":") ||
			!fast_string_is(&p, end, ids[i], id_lens[i], &scratch) ||
			!COMPACT_LIT(&p, end, ",\"ResultCode\":0,\"ResultInfo\":") ||
			!(fast_string_is(&p, end, "", 0, &infos[i]) ||
			  fast_plain_string(&p, end, &infos[i])) ||
			!COMPACT_LIT(&p, end, ",\"AccountStatus\":"))
			return 0;
		if (fast_string_is(&p, end, "Imported", 8, &scratch))
			statuses[i] = PROTOCOL_STATUS_IMPORTED;
		else if (fast_string_is(&p, end, "NotImported", 11, &scratch))
			statuses[i] = PROTOCOL_STATUS_NOT_IMPORTED;
		else
			return 0;
		if (!COMPACT_LIT(&p, end, "}"))
			return 0;
	}
	if (!COMPACT_LIT(&p, end, "]}") || skip_ws(p, end) != end)
		return 0;

	arena_open(&arena, len);
	resp->items = calloc(n, sizeof(protocol_item_result));
	if (arena.base == NULL || resp->items == NULL)
	{
		free(arena.base);
		free(resp->items);
		resp->items = NULL;
		finish(resp, PROTOCOL_NO_MEMORY, NULL);
		return 1;
	}
	resp->arena = arena.base;
	resp->error_info = arena_decode(&arena, &error_info, NULL);
	for (size_t i = 0; i < n; i++)
	{
		protocol_item_result *result = &resp->items[i];

		result->status = statuses[i];
		result->result_info = arena_decode(&arena, &infos[i], &result->result_info_len);
	}
	resp->n_items = n;
	resp->n_fast_items = n;
	resp->compact = 1;
	finish(resp, PROTOCOL_OK, NULL);
	return 1;
}

/* The parse, with the fast paths in paths (PROTOCOL_PATH_*). */
static protocol_outcome
parse_response(const char *body, size_t len, const char *const *ids,
			   const size_t *id_lens, size_t n, protocol_response *resp,
			   int paths)
{
	response_fields *r;
	arena_builder arena;
	unsigned char answered[PROTOCOL_MAX_BATCH];
	protocol_outcome outcome;

	memset(resp, 0, sizeof(*resp));
	resp->error_info = "";
	if (n > PROTOCOL_MAX_BATCH)
		return finish(resp, PROTOCOL_MISMATCH, "more UserIDs asked than a call allows");
	if ((paths & PROTOCOL_PATH_COMPACT) &&
		parse_compact(body, len, ids, id_lens, n, resp))
		return resp->outcome;

	/* not calloc: zeroing the 100 item slots (~10 kB) per answer showed in profiles */
	r = malloc(sizeof(response_fields));
	if (r == NULL)
		return finish(resp, PROTOCOL_NO_MEMORY, NULL);
	r->is_object = 0;
	r->has_action = 0;
	r->code_state = 0;
	r->has_info = 0;
	r->items_state = 0;
	r->n_items = 0;
	r->try_fast = (paths & PROTOCOL_PATH_FAST_ITEMS) != 0;
	r->asked = ids;
	r->asked_lens = id_lens;
	r->n_asked = n;
	r->n_fast = 0;
	if (scan_response(body, len, r) != 0)
	{
		free(r);
		return finish(resp, PROTOCOL_MALFORMED, "response is not valid JSON");
	}
	if (!r->is_object || !r->has_action || r->code_state != 1)
	{
		free(r);
		return finish(resp, PROTOCOL_MALFORMED,
					  "response lacks ActionStatus or ErrorCode");
	}
	resp->error_code = r->code;

	arena_open(&arena, len);
	if (arena.base == NULL)
	{
		free(r);
		return finish(resp, PROTOCOL_NO_MEMORY, NULL);
	}
	resp->arena = arena.base;
	if (r->has_info)
		resp->error_info = arena_decode(&arena, &r->info, NULL);

	if (!jsonscan_string_equals(&r->action, "OK", 2) || resp->error_code != 0)
	{
		if (jsonscan_string_equals(&r->action, "FAIL", 4) && resp->error_code != 0)
			outcome = finish(resp, PROTOCOL_FAIL, NULL);
		else
			outcome = finish(resp, PROTOCOL_MALFORMED,
							 "ActionStatus and ErrorCode disagree");
		goto done;
	}
	if (r->items_state != 1)
	{
		outcome = finish(resp, PROTOCOL_MALFORMED, "response lacks ResultItem");
		goto done;
	}
	if (r->n_items != n)
	{
		outcome = finish(resp, PROTOCOL_MISMATCH,
						 r->n_items < n ?
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
	for (size_t i = 0; i < n; i++)
	{
		item_fields *f = &r->items[i];
		protocol_item_result *result;
		const char *uid;
		size_t		uid_len;
		char	   *scratch;
		long		k;

		if (!f->is_object || !f->has_uid)
		{
			outcome = finish(resp, PROTOCOL_MALFORMED, "a ResultItem lacks a string UserID");
			goto done;
		}
		if (f->uid.escaped)
		{
			/* decoded into the arena's free space, not kept */
			scratch = arena.base + arena.used;
			uid_len = jsonscan_string_decode(&f->uid, scratch, arena.cap - arena.used);
			uid = scratch;
		}
		else
		{
			uid = f->uid.start + 1;
			uid_len = (size_t) (f->uid.end - f->uid.start - 2);
		}
		k = match_asked(uid, uid_len, i, ids, id_lens, n, answered);
		if (k < 0)
		{
			outcome = finish(resp, PROTOCOL_MISMATCH,
							 "response answers a UserID that was not asked");
			goto done;
		}
		answered[k] = 1;
		result = &resp->items[k];
		result->result_info = "";
		if (f->code_state != 1)
		{
			outcome = finish(resp, PROTOCOL_MALFORMED, "a ResultItem lacks an integer ResultCode");
			goto done;
		}
		result->result_code = f->code;
		if (f->has_info)
			result->result_info = arena_decode(&arena, &f->info, &result->result_info_len);
		if (result->result_code == 0)
		{
			if (!f->has_status)
			{
				outcome = finish(resp, PROTOCOL_MALFORMED,
								 "a successful ResultItem lacks AccountStatus");
				goto done;
			}
			if (string_is(&f->status, "Imported", 8))
				result->status = PROTOCOL_STATUS_IMPORTED;
			else if (string_is(&f->status, "NotImported", 11))
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
	resp->n_items = n;
	resp->n_fast_items = r->n_fast;
	outcome = finish(resp, PROTOCOL_OK, NULL);

done:
	free(r);
	return outcome;
}

protocol_outcome
protocol_parse_response(const char *body, size_t len,
						const char *const *ids, const size_t *id_lens,
						size_t n, protocol_response *resp)
{
	return parse_response(body, len, ids, id_lens, n, resp, PROTOCOL_PATHS_ALL);
}

protocol_outcome
protocol_parse_response_paths(const char *body, size_t len,
							  const char *const *ids, const size_t *id_lens,
							  size_t n, protocol_response *resp, int paths)
{
	return parse_response(body, len, ids, id_lens, n, resp, paths);
}

void
protocol_response_free(protocol_response *resp)
{
	free(resp->items);
	free(resp->arena);
	resp->items = NULL;
	resp->arena = NULL;
	resp->n_items = 0;
	resp->n_fast_items = 0;
	resp->compact = 0;
}
