/*
 * checkbody.c - strict, allocation-free parser of account_check request
 * bodies (see checkbody.h for the rules).
 *
 * One pass: the whole document is validated; the value of a top-level
 * "CheckItem" member is walked as it is met (a later CheckItem member
 * replaces the findings of an earlier one), and each item's last "UserID"
 * string is taken as is when it has no escapes, else decoded in place.
 */
#include "checkbody.h"

#include <string.h>

typedef struct cursor
{
	const char *p;
	const char *end;
} cursor;

static void
skip_ws(cursor *c)
{
	while (c->p < c->end &&
		   (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static int
hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* bytes that end the fast path of scan_string: controls, '"', '\\' */
static const unsigned char special[256] = {
	[0x00] = 1, [0x01] = 1, [0x02] = 1, [0x03] = 1, [0x04] = 1, [0x05] = 1,
	[0x06] = 1, [0x07] = 1, [0x08] = 1, [0x09] = 1, [0x0a] = 1, [0x0b] = 1,
	[0x0c] = 1, [0x0d] = 1, [0x0e] = 1, [0x0f] = 1, [0x10] = 1, [0x11] = 1,
	[0x12] = 1, [0x13] = 1, [0x14] = 1, [0x15] = 1, [0x16] = 1, [0x17] = 1,
	[0x18] = 1, [0x19] = 1, [0x1a] = 1, [0x1b] = 1, [0x1c] = 1, [0x1d] = 1,
	[0x1e] = 1, [0x1f] = 1, ['"'] = 1, ['\\'] = 1,
};

/*
 * Validates a string at c->p (a '"'); moves past its closing quote.  *esc
 * (if not NULL) tells whether it has escapes.
 */
static int
scan_string(cursor *c, int *esc)
{
	const char *p = c->p + 1;

	if (esc)
		*esc = 0;

	while (p < c->end)
	{
		unsigned char ch;

		/* fast path over ordinary bytes */
		while (p < c->end && !special[(unsigned char) *p])
			p++;
		if (p >= c->end)
			break;
		ch = (unsigned char) *p;
		if (ch == '"')
		{
			c->p = p + 1;
			return 0;
		}
		if (ch < 0x20)
			return -1;
		if (ch != '\\')
		{
			p++;
			continue;
		}
		if (esc)
			*esc = 1;
		if (++p >= c->end)
			return -1;
		switch (*p)
		{
			case '"':
			case '\\':
			case '/':
			case 'b':
			case 'f':
			case 'n':
			case 'r':
			case 't':
				p++;
				break;
			case 'u':
				if (c->end - p < 5)
					return -1;
				for (int i = 1; i <= 4; i++)
					if (hexval(p[i]) < 0)
						return -1;
				p += 5;
				break;
			default:
				return -1;
		}
	}
	return -1;
}

static unsigned
read_hex4(const char *p)
{
	return (unsigned) ((hexval(p[0]) << 12) | (hexval(p[1]) << 8) |
					   (hexval(p[2]) << 4) | hexval(p[3]));
}

/*
 * Decodes the (already validated) string at s (a '"') into out, writing at
 * most cap bytes but returning the full decoded length.  out may be s
 * itself: the output never overtakes the input.
 */
static size_t
decode_string(const char *s, char *out, size_t cap)
{
	const char *p = s + 1;
	size_t		n = 0;

#define PUT(ch) do { if (n < cap) out[n] = (char) (ch); n++; } while (0)
	for (;;)
	{
		unsigned char ch = (unsigned char) *p;

		if (ch == '"')
			break;
		if (ch != '\\')
		{
			PUT(ch);
			p++;
			continue;
		}
		p++;
		switch (*p)
		{
			case 'b':
				PUT('\b');
				p++;
				break;
			case 'f':
				PUT('\f');
				p++;
				break;
			case 'n':
				PUT('\n');
				p++;
				break;
			case 'r':
				PUT('\r');
				p++;
				break;
			case 't':
				PUT('\t');
				p++;
				break;
			case 'u':
				{
					unsigned	cp = read_hex4(p + 1);

					p += 5;
					if (cp >= 0xD800 && cp <= 0xDBFF)
					{
						if (p[0] == '\\' && p[1] == 'u')
						{
							unsigned	lo = read_hex4(p + 2);

							if (lo >= 0xDC00 && lo <= 0xDFFF)
							{
								cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
								p += 6;
							}
							else
								cp = 0xFFFD;
						}
						else
							cp = 0xFFFD;
					}
					else if (cp >= 0xDC00 && cp <= 0xDFFF)
						cp = 0xFFFD;
					if (cp < 0x80)
						PUT(cp);
					else if (cp < 0x800)
					{
						PUT(0xC0 | (cp >> 6));
						PUT(0x80 | (cp & 0x3F));
					}
					else if (cp < 0x10000)
					{
						PUT(0xE0 | (cp >> 12));
						PUT(0x80 | ((cp >> 6) & 0x3F));
						PUT(0x80 | (cp & 0x3F));
					}
					else
					{
						PUT(0xF0 | (cp >> 18));
						PUT(0x80 | ((cp >> 12) & 0x3F));
						PUT(0x80 | ((cp >> 6) & 0x3F));
						PUT(0x80 | (cp & 0x3F));
					}
					break;
				}
			default:			/* " \ / */
				PUT(*p);
				p++;
				break;
		}
	}
#undef PUT
	return n;
}

/*
 * Is the validated string s..e (quotes included; esc: has escapes) exactly
 * the ASCII text want (of length wl)?
 */
static int
string_equals(const char *s, const char *e, int esc, const char *want, size_t wl)
{
	char		buf[16];
	size_t		n;

	if (!esc)
		return (size_t) (e - s - 2) == wl && memcmp(s + 1, want, wl) == 0;
	n = decode_string(s, buf, sizeof(buf));
	return n == wl && memcmp(buf, want, wl) == 0;
}

static int
scan_number(cursor *c)
{
	const char *p = c->p;
	const char *e = c->end;

	if (p < e && *p == '-')
		p++;
	if (p >= e)
		return -1;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	else
		return -1;
	if (p < e && *p == '.')
	{
		p++;
		if (p >= e || *p < '0' || *p > '9')
			return -1;
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < e && (*p == 'e' || *p == 'E'))
	{
		p++;
		if (p < e && (*p == '+' || *p == '-'))
			p++;
		if (p >= e || *p < '0' || *p > '9')
			return -1;
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	}
	c->p = p;
	return 0;
}

static int
scan_literal(cursor *c, const char *lit)
{
	size_t		l = strlen(lit);

	if ((size_t) (c->end - c->p) < l || memcmp(c->p, lit, l) != 0)
		return -1;
	c->p += l;
	return 0;
}

/* Validates one value at c->p and moves past it. */
static int
scan_value(cursor *c, int depth)
{
	if (c->p >= c->end)
		return -1;
	switch (*c->p)
	{
		case '{':
			if (depth >= CHECKBODY_MAX_DEPTH)
				return -1;
			c->p++;
			skip_ws(c);
			if (c->p < c->end && *c->p == '}')
			{
				c->p++;
				return 0;
			}
			for (;;)
			{
				skip_ws(c);
				if (c->p >= c->end || *c->p != '"' || scan_string(c, NULL) != 0)
					return -1;
				skip_ws(c);
				if (c->p >= c->end || *c->p != ':')
					return -1;
				c->p++;
				skip_ws(c);
				if (scan_value(c, depth + 1) != 0)
					return -1;
				skip_ws(c);
				if (c->p < c->end && *c->p == ',')
				{
					c->p++;
					continue;
				}
				if (c->p < c->end && *c->p == '}')
				{
					c->p++;
					return 0;
				}
				return -1;
			}
		case '[':
			if (depth >= CHECKBODY_MAX_DEPTH)
				return -1;
			c->p++;
			skip_ws(c);
			if (c->p < c->end && *c->p == ']')
			{
				c->p++;
				return 0;
			}
			for (;;)
			{
				skip_ws(c);
				if (scan_value(c, depth + 1) != 0)
					return -1;
				skip_ws(c);
				if (c->p < c->end && *c->p == ',')
				{
					c->p++;
					continue;
				}
				if (c->p < c->end && *c->p == ']')
				{
					c->p++;
					return 0;
				}
				return -1;
			}
		case '"':
			return scan_string(c, NULL);
		case 't':
			return scan_literal(c, "true");
		case 'f':
			return scan_literal(c, "false");
		case 'n':
			return scan_literal(c, "null");
		default:
			return scan_number(c);
	}
}

/* What the (last) CheckItem member held. */
typedef struct checkitem
{
	int			present;
	int			is_array;
	size_t		count;			/* elements */
	size_t		bad;			/* first bad element among the first 100 */
	const char **ids;
	size_t	   *lens;
} checkitem;

/*
 * One element of CheckItem, an object: validates it and finds its (last)
 * UserID member.  Returns -1 on invalid JSON; *uid is the UserID value
 * (NULL if none), *uid_end its end, *uid_esc whether it has escapes.
 */
static int
scan_item(cursor *c, const char **uid, const char **uid_end, int *uid_esc)
{
	*uid = NULL;
	c->p++;						/* '{' */
	skip_ws(c);
	if (c->p < c->end && *c->p == '}')
	{
		c->p++;
		return 0;
	}
	for (;;)
	{
		const char *k;
		int			esc;
		int			match;

		skip_ws(c);
		if (c->p >= c->end || *c->p != '"')
			return -1;
		k = c->p;
		if (scan_string(c, &esc) != 0)
			return -1;
		match = string_equals(k, c->p, esc, "UserID", 6);
		skip_ws(c);
		if (c->p >= c->end || *c->p != ':')
			return -1;
		c->p++;
		skip_ws(c);
		if (match)
		{
			*uid = c->p;
			if (c->p < c->end && *c->p == '"')
			{
				if (scan_string(c, uid_esc) != 0)
					return -1;
				*uid_end = c->p;
			}
			else if (scan_value(c, 2) != 0)
				return -1;
		}
		else if (scan_value(c, 2) != 0)
			return -1;
		skip_ws(c);
		if (c->p < c->end && *c->p == ',')
		{
			c->p++;
			continue;
		}
		if (c->p < c->end && *c->p == '}')
		{
			c->p++;
			return 0;
		}
		return -1;
	}
}

/* The value of a top-level CheckItem member. */
static int
scan_checkitem(cursor *c, checkitem *ci)
{
	ci->present = 1;
	ci->count = 0;
	ci->bad = SIZE_MAX;
	ci->is_array = c->p < c->end && *c->p == '[';
	if (!ci->is_array)
		return scan_value(c, 1);
	c->p++;
	skip_ws(c);
	if (c->p < c->end && *c->p == ']')
	{
		c->p++;
		return 0;
	}
	for (;;)
	{
		skip_ws(c);
		if (c->p >= c->end)
			return -1;
		if (ci->count < CHECKBODY_MAX_ITEMS && ci->bad == SIZE_MAX &&
			*c->p == '{')
		{
			const char *uid,
					   *uid_end = NULL;
			int			esc = 0;

			if (scan_item(c, &uid, &uid_end, &esc) != 0)
				return -1;
			if (uid == NULL || *uid != '"')
				ci->bad = ci->count;
			else if (!esc)
			{
				ci->ids[ci->count] = uid + 1;
				ci->lens[ci->count] = (size_t) (uid_end - uid - 2);
			}
			else
			{
				/* in place: the object is behind us now */
				ci->ids[ci->count] = uid;
				ci->lens[ci->count] = decode_string(uid, (char *) uid, SIZE_MAX);
			}
		}
		else
		{
			if (ci->count < CHECKBODY_MAX_ITEMS && ci->bad == SIZE_MAX)
				ci->bad = ci->count;	/* not an object */
			if (scan_value(c, 2) != 0)
				return -1;
		}
		ci->count++;
		skip_ws(c);
		if (c->p < c->end && *c->p == ',')
		{
			c->p++;
			continue;
		}
		if (c->p < c->end && *c->p == ']')
		{
			c->p++;
			return 0;
		}
		return -1;
	}
}

checkbody_result
checkbody_parse(char *body, size_t len,
				const char *ids[CHECKBODY_MAX_ITEMS],
				size_t lens[CHECKBODY_MAX_ITEMS],
				size_t *n, size_t *bad_index)
{
	cursor		c = {body, body + len};
	checkitem	ci = {0, 0, 0, SIZE_MAX, ids, lens};
	int			is_object;

	*n = 0;
	*bad_index = 0;

	skip_ws(&c);
	if (c.p >= c.end)
		return CHECKBODY_NOT_JSON;
	is_object = *c.p == '{';
	if (!is_object)
	{
		if (scan_value(&c, 0) != 0)
			return CHECKBODY_NOT_JSON;
	}
	else
	{
		/* the top-level object: CheckItem is handled on the fly */
		c.p++;
		skip_ws(&c);
		if (c.p < c.end && *c.p == '}')
			c.p++;
		else
			for (;;)
			{
				const char *k;
				int			esc;
				int			match;

				skip_ws(&c);
				if (c.p >= c.end || *c.p != '"')
					return CHECKBODY_NOT_JSON;
				k = c.p;
				if (scan_string(&c, &esc) != 0)
					return CHECKBODY_NOT_JSON;
				match = string_equals(k, c.p, esc, "CheckItem", 9);
				skip_ws(&c);
				if (c.p >= c.end || *c.p != ':')
					return CHECKBODY_NOT_JSON;
				c.p++;
				skip_ws(&c);
				if ((match ? scan_checkitem(&c, &ci) : scan_value(&c, 1)) != 0)
					return CHECKBODY_NOT_JSON;
				skip_ws(&c);
				if (c.p < c.end && *c.p == ',')
				{
					c.p++;
					continue;
				}
				if (c.p < c.end && *c.p == '}')
				{
					c.p++;
					break;
				}
				return CHECKBODY_NOT_JSON;
			}
	}
	skip_ws(&c);
	if (c.p != c.end)
		return CHECKBODY_NOT_JSON;

	if (!ci.present)
		return CHECKBODY_NO_CHECKITEM;
	if (!ci.is_array)
		return CHECKBODY_NOT_ARRAY;
	if (ci.count == 0)
		return CHECKBODY_EMPTY;
	if (ci.count > CHECKBODY_MAX_ITEMS)
		return CHECKBODY_TOO_MANY;
	if (ci.bad != SIZE_MAX)
	{
		*bad_index = ci.bad;
		return CHECKBODY_BAD_ITEM;
	}
	*n = ci.count;
	return CHECKBODY_OK;
}
