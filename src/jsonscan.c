/*
 * jsonscan.c - strict, allocation-free JSON scanning (see jsonscan.h).
 */
#include "jsonscan.h"

#include <string.h>

void
jsonscan_skip_ws(jsonscan_cursor *c)
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


int
jsonscan_string_scan(jsonscan_cursor *c, jsonscan_string *s)
{
	const char *p = c->p + 1;
	int			escaped = 0;

	if (c->p >= c->end || *c->p != '"')
		return -1;
	while (p < c->end)
	{
		unsigned char ch;

		while (p < c->end && !jsonscan_must_escape((unsigned char) *p))
			p++;
		if (p >= c->end)
			break;
		ch = (unsigned char) *p;
		if (ch == '"')
		{
			if (s)
			{
				s->start = c->p;
				s->end = p + 1;
				s->escaped = escaped;
			}
			c->p = p + 1;
			return 0;
		}
		if (ch < 0x20)
			return -1;
		/* a backslash */
		escaped = 1;
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

size_t
jsonscan_string_decode(const jsonscan_string *s, char *out, size_t cap)
{
	const char *p = s->start + 1;
	const char *end = s->end - 1;	/* the closing quote */
	size_t		n = 0;

	if (!s->escaped)
	{
		n = (size_t) (end - p);
		if (out != p)
			memmove(out, p, n < cap ? n : cap);
		return n;
	}

#define PUT(ch) do { if (n < cap) out[n] = (char) (ch); n++; } while (0)
	while (p < end)
	{
		unsigned char ch = (unsigned char) *p;

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
						if (end - p >= 6 && p[0] == '\\' && p[1] == 'u')
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

int
jsonscan_string_equals(const jsonscan_string *s, const char *want, size_t len)
{
	char		buf[64];
	size_t		n;

	if (!s->escaped)
		return (size_t) (s->end - s->start - 2) == len &&
			memcmp(s->start + 1, want, len) == 0;
	if (len > sizeof(buf))
		return 0;				/* callers only compare short names */
	n = jsonscan_string_decode(s, buf, sizeof(buf));
	return n == len && memcmp(buf, want, len) == 0;
}

/* Skips a number; *integral tells whether it had no fraction or exponent. */
static int
scan_number(jsonscan_cursor *c, int *integral)
{
	const char *p = c->p;
	const char *e = c->end;

	*integral = 1;
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
		*integral = 0;
		p++;
		if (p >= e || *p < '0' || *p > '9')
			return -1;
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < e && (*p == 'e' || *p == 'E'))
	{
		*integral = 0;
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
scan_literal(jsonscan_cursor *c, const char *lit)
{
	size_t		l = strlen(lit);

	if ((size_t) (c->end - c->p) < l || memcmp(c->p, lit, l) != 0)
		return -1;
	c->p += l;
	return 0;
}

/* Iteration state: 0 before the opening bracket, 1 inside. */
static int
next_in(jsonscan_cursor *c, int *state, char close)
{
	if (*state == 0)
	{
		c->p++;					/* '{' or '[' */
		*state = 1;
		jsonscan_skip_ws(c);
		if (c->p < c->end && *c->p == close)
		{
			c->p++;
			return 0;
		}
		return 1;
	}
	jsonscan_skip_ws(c);
	if (c->p < c->end && *c->p == ',')
	{
		c->p++;
		jsonscan_skip_ws(c);
		return 1;
	}
	if (c->p < c->end && *c->p == close)
	{
		c->p++;
		return 0;
	}
	return -1;
}

int
jsonscan_object_next(jsonscan_cursor *c, int *state, jsonscan_string *key)
{
	int			more;

	if (*state == 0 && (c->p >= c->end || *c->p != '{'))
		return -1;
	more = next_in(c, state, '}');
	if (more <= 0)
		return more;
	if (jsonscan_string_scan(c, key) != 0)
		return -1;
	jsonscan_skip_ws(c);
	if (c->p >= c->end || *c->p != ':')
		return -1;
	c->p++;
	jsonscan_skip_ws(c);
	return 1;
}

int
jsonscan_array_next(jsonscan_cursor *c, int *state)
{
	if (*state == 0 && (c->p >= c->end || *c->p != '['))
		return -1;
	return next_in(c, state, ']');
}

int
jsonscan_value(jsonscan_cursor *c, int depth)
{
	int			state = 0;
	int			more;
	int			integral;
	jsonscan_string key;

	if (c->p >= c->end)
		return -1;
	switch (*c->p)
	{
		case '{':
			if (depth >= JSONSCAN_MAX_DEPTH)
				return -1;
			while ((more = jsonscan_object_next(c, &state, &key)) > 0)
				if (jsonscan_value(c, depth + 1) != 0)
					return -1;
			return more;
		case '[':
			if (depth >= JSONSCAN_MAX_DEPTH)
				return -1;
			while ((more = jsonscan_array_next(c, &state)) > 0)
				if (jsonscan_value(c, depth + 1) != 0)
					return -1;
			return more;
		case '"':
			return jsonscan_string_scan(c, NULL);
		case 't':
			return scan_literal(c, "true");
		case 'f':
			return scan_literal(c, "false");
		case 'n':
			return scan_literal(c, "null");
		default:
			return scan_number(c, &integral);
	}
}

int
jsonscan_integer(jsonscan_cursor *c, int64_t min, int64_t max, int64_t *value)
{
	const char *start = c->p;
	int			integral;
	int			negative;
	uint64_t	magnitude = 0;
	const char *p;

	if (c->p >= c->end || !(*c->p == '-' || (*c->p >= '0' && *c->p <= '9')))
		return jsonscan_value(c, 1) == 0 ? 1 : -1;
	if (scan_number(c, &integral) != 0)
		return -1;
	if (!integral)
		return 1;
	negative = *start == '-';
	for (p = start + negative; p < c->p; p++)
	{
		if (magnitude > (UINT64_MAX - 9) / 10)
			return 1;			/* far out of any range we read */
		magnitude = magnitude * 10 + (uint64_t) (*p - '0');
	}
	if (negative)
	{
		if (magnitude > (uint64_t) INT64_MAX + 1)
			return 1;
		*value = magnitude == (uint64_t) INT64_MAX + 1 ? INT64_MIN : -(int64_t) magnitude;
	}
	else
	{
		if (magnitude > (uint64_t) INT64_MAX)
			return 1;
		*value = (int64_t) magnitude;
	}
	return (*value < min || *value > max) ? 1 : 0;
}
