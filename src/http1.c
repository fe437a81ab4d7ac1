/*
 * http1.c - HTTP/1.1 framing for account_check calls.
 *
 * Why not libcurl's own HTTP transfers: per call, its transfer machinery
 * (URL parsing, request assembly through its printf, header callbacks, the
 * multi state machine) cost more CPU than everything else the backend does
 * for a call, which capped one backend at about half of what the service
 * answers (BENCHMARKS.md).  libcurl still makes every connection, with its
 * TLS and certificate checks, and carries the bytes (curl_easy_send/recv).
 *
 * The parser is stateless: it looks at all bytes received so far each time
 * more arrive.  A response is one head (and skipped 1xx heads) plus a body
 * framed by Content-Length, chunked coding, or the connection's close.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http1.h"

/* the longest chunk-size line (with extensions) we read */
#define MAX_CHUNK_LINE 4096

#define MIN_SIZE(a, b) ((a) < (b) ? (a) : (b))

static int
append_text(protocol_buffer *out, const char *s)
{
	return protocol_buffer_append(out, s, strlen(s));
}

int
http1_append_post_head(protocol_buffer *out, const char *target,
					   size_t target_len, const char *tail, size_t tail_len,
					   const char *host, size_t body_len)
{
	char		length[32];
	int			n = snprintf(length, sizeof(length), "%zu", body_len);

	if (append_text(out, "POST ") != 0 ||
		protocol_buffer_append(out, target, target_len) != 0 ||
		protocol_buffer_append(out, tail, tail_len) != 0 ||
		append_text(out, " HTTP/1.1\r\nHost: ") != 0 ||
		append_text(out, host) != 0 ||
		append_text(out, "\r\nUser-Agent: imcheck\r\n"
					"Accept: application/json\r\n"
					"Content-Type: application/json\r\n"
					"Content-Length: ") != 0 ||
		protocol_buffer_append(out, length, (size_t) n) != 0 ||
		append_text(out, "\r\n\r\n") != 0)
		return -1;
	return 0;
}

/* One line: text [start, start + len) without its line break; next: after it. */
typedef struct line
{
	const char *start;
	size_t		len;
	size_t		next;
} line;

/* The line at pos, if its '\n' comes before limit.  (A bare LF ends a line too.) */
static bool
line_at(const char *data, size_t limit, size_t pos, line *l)
{
	const char *nl;
	size_t		end;

	if (pos >= limit)
		return false;
	nl = memchr(data + pos, '\n', limit - pos);
	if (nl == NULL)
		return false;
	end = (size_t) (nl - data);
	l->start = data + pos;
	l->next = end + 1;
	if (end > pos && data[end - 1] == '\r')
		end--;
	l->len = end - pos;
	return true;
}

static bool
is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* Whether [s, s + len) equals word, ignoring ASCII case. */
static bool
equals_word(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && strncasecmp(s, word, len) == 0;
}

/* What one head (status line and header fields) says. */
typedef struct head
{
	int			status;
	int			minor;			/* HTTP/1.<minor> */
	bool		chunked;
	bool		has_length;
	size_t		length;			/* Content-Length, saturated at SIZE_MAX */
	int			length_values;	/* values seen in Content-Length fields */
	bool		close;			/* Connection: close */
	bool		keep_alive;		/* Connection: keep-alive */
	size_t		end;			/* offset just after the empty line */
} head;

/* Calls fn for each comma-separated element of a header value (trimmed). */
typedef bool (*element_fn) (const char *s, size_t len, head *h);

static bool
for_each_element(const char *value, size_t len, element_fn fn, head *h)
{
	size_t		i = 0;

	while (i <= len)
	{
		size_t		start = i;
		size_t		end;

		while (i < len && value[i] != ',')
			i++;
		end = i;
		while (start < end && is_ows(value[start]))
			start++;
		while (end > start && is_ows(value[end - 1]))
			end--;
		if (end > start && !fn(value + start, end - start, h))
			return false;
		i++;					/* past the comma (or the end) */
	}
	return true;
}

static bool
connection_option(const char *s, size_t len, head *h)
{
	if (equals_word(s, len, "close"))
		h->close = true;
	else if (equals_word(s, len, "keep-alive"))
		h->keep_alive = true;
	return true;
}

/* Content-Length: digits; a list of equal values is allowed (RFC 9110 8.6). */
static bool
content_length(const char *s, size_t len, head *h)
{
	size_t		value = 0;

	h->length_values++;

	for (size_t i = 0; i < len; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return false;
		if (value > (SIZE_MAX - 9) / 10)
			value = SIZE_MAX;	/* far too large either way */
		else
			value = value * 10 + (size_t) (s[i] - '0');
	}
	if (h->has_length && h->length != value)
		return false;
	h->has_length = true;
	h->length = value;
	return true;
}

/*
 * Parses the head starting at pos.  Returns HTTP1_COMPLETE (with *h) or the
 * outcome to report, with *problem set for CUT_OFF and BAD.
 */
static http1_outcome
parse_head(const char *data, size_t len, size_t pos, bool at_eof, head *h,
		   const char **problem)
{
	size_t		limit = MIN_SIZE(len, (size_t) HTTP1_MAX_HEAD_BYTES);
	line		l;
	bool		seen_te = false;
	const char *s;

	memset(h, 0, sizeof(*h));

	/* the whole head must be there before any of it is believed */
	{
		size_t		at = pos;
		bool		ended = false;

		while (line_at(data, limit, at, &l))
		{
			at = l.next;
			if (l.len == 0 && l.start != data + pos)
			{
				ended = true;
				break;
			}
		}
		if (!ended)
		{
			if (len >= HTTP1_MAX_HEAD_BYTES)
			{
				*problem = "the response header is too large";
				return HTTP1_BAD;
			}
			if (!at_eof)
				return HTTP1_INCOMPLETE;
			*problem = len == 0 ? "the server closed the connection without answering"
				: "the connection closed inside the response header";
			return HTTP1_CUT_OFF;
		}
		h->end = at;
	}

	/* status line: HTTP/1.x SP 3DIGIT [SP reason] */
	line_at(data, limit, pos, &l);
	s = l.start;
	if (l.len < 12 || memcmp(s, "HTTP/1.", 7) != 0 ||
		s[7] < '0' || s[7] > '9' || s[8] != ' ' ||
		s[9] < '1' || s[9] > '5' || s[10] < '0' || s[10] > '9' ||
		s[11] < '0' || s[11] > '9' || (l.len > 12 && s[12] != ' '))
	{
		*problem = "the answer does not begin with an HTTP/1.x status line";
		return HTTP1_BAD;
	}
	h->minor = s[7] - '0';
	h->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');

	/* header fields, up to the empty line */
	for (size_t at = l.next; line_at(data, limit, at, &l) && l.len > 0; at = l.next)
	{
		const char *colon = memchr(l.start, ':', l.len);
		size_t		name_len;
		const char *value;
		size_t		value_len;

		if (is_ows(l.start[0]))
		{
			*problem = "the response header uses obsolete line folding";
			return HTTP1_BAD;
		}
		if (colon == NULL || colon == l.start)
		{
			*problem = "the response header has a malformed field";
			return HTTP1_BAD;
		}
		name_len = (size_t) (colon - l.start);
		for (size_t i = 0; i < name_len; i++)
			if (!is_tchar((unsigned char) l.start[i]))
			{
				*problem = "the response header has a malformed field";
				return HTTP1_BAD;
			}
		value = colon + 1;
		value_len = l.len - name_len - 1;
		for (size_t i = 0; i < value_len; i++)
		{
			unsigned char c = (unsigned char) value[i];

			if ((c < 0x20 && c != '\t') || c == 0x7f)
			{
				*problem = "the response header has a control character in a field";
				return HTTP1_BAD;
			}
		}
		while (value_len > 0 && is_ows(value[0]))
			value++, value_len--;
		while (value_len > 0 && is_ows(value[value_len - 1]))
			value_len--;

		if (equals_word(l.start, name_len, "Content-Length"))
		{
			int			values_before = h->length_values;

			if (!for_each_element(value, value_len, content_length, h) ||
				h->length_values == values_before)
			{
				*problem = "the response has an invalid Content-Length";
				return HTTP1_BAD;
			}
		}
		else if (equals_word(l.start, name_len, "Transfer-Encoding"))
		{
			/* we ask for no coding; only chunked framing can come back */
			if (seen_te || !equals_word(value, value_len, "chunked"))
			{
				*problem = "the response uses a transfer coding other than chunked";
				return HTTP1_BAD;
			}
			seen_te = true;
			h->chunked = true;
		}
		else if (equals_word(l.start, name_len, "Connection"))
			for_each_element(value, value_len, connection_option, h);
	}
	return HTTP1_COMPLETE;
}

/*
 * Walks a chunked body from pos.  With decoded NULL it only checks and
 * measures; otherwise it appends the chunks' data to decoded.  On
 * HTTP1_COMPLETE, *end is the offset after the trailer section.
 */
static http1_outcome
walk_chunks(const char *data, size_t len, size_t pos, bool at_eof,
			size_t max_body, protocol_buffer *decoded, size_t *end,
			const char **problem)
{
	size_t		total = 0;
	line		l;

	for (;;)
	{
		size_t		size = 0;
		size_t		i = 0;
		size_t		digits;

		if (!line_at(data, MIN_SIZE(len, pos + MAX_CHUNK_LINE), pos, &l))
		{
			if (len - pos >= MAX_CHUNK_LINE)
			{
				*problem = "the response has a malformed chunk size";
				return HTTP1_BAD;
			}
			goto cut_off;
		}
		for (; i < l.len; i++)
		{
			char		c = l.start[i];
			int			digit;

			if (c >= '0' && c <= '9')
				digit = c - '0';
			else if (c >= 'a' && c <= 'f')
				digit = c - 'a' + 10;
			else if (c >= 'A' && c <= 'F')
				digit = c - 'A' + 10;
			else
				break;
			if (size > max_body / 16)
				return HTTP1_TOO_LARGE;
			size = size * 16 + (size_t) digit;
			if (size > max_body)
				return HTTP1_TOO_LARGE;
		}
		digits = i;
		while (i < l.len && is_ows(l.start[i]))
			i++;
		if (digits == 0 || (i < l.len && l.start[i] != ';'))
		{
			*problem = "the response has a malformed chunk size";
			return HTTP1_BAD;
		}
		pos = l.next;

		if (size == 0)
		{
			/* the trailer section, up to an empty line; its fields are ignored */
			for (;;)
			{
				if (!line_at(data, MIN_SIZE(len, pos + HTTP1_MAX_HEAD_BYTES), pos, &l))
				{
					if (len - pos >= HTTP1_MAX_HEAD_BYTES)
					{
						*problem = "the response's trailer section is too large";
						return HTTP1_BAD;
					}
					goto cut_off;
				}
				pos = l.next;
				if (l.len == 0)
				{
					*end = pos;
					return HTTP1_COMPLETE;
				}
			}
		}
		if (size > max_body - total)
			return HTTP1_TOO_LARGE;
		total += size;
		if (len - pos <= size)	/* the data and at least one byte after it */
			goto cut_off;
		if (decoded != NULL && protocol_buffer_append(decoded, data + pos, size) != 0)
		{
			*problem = "out of memory";
			return HTTP1_BAD;
		}
		pos += size;
		if (data[pos] == '\n')
			pos++;
		else if (data[pos] == '\r')
		{
			if (len - pos < 2)
				goto cut_off;
			if (data[pos + 1] != '\n')
			{
				*problem = "the response has a chunk not followed by a line break";
				return HTTP1_BAD;
			}
			pos += 2;
		}
		else
		{
			*problem = "the response has a chunk not followed by a line break";
			return HTTP1_BAD;
		}
	}

cut_off:
	if (!at_eof)
		return HTTP1_INCOMPLETE;
	*problem = "the connection closed inside the response body";
	return HTTP1_CUT_OFF;
}

http1_outcome
http1_parse_response(const char *data, size_t len, bool at_eof,
					 size_t max_body, protocol_buffer *decoded,
					 http1_response *out)
{
	size_t		pos = 0;
	head		h;
	http1_outcome outcome;

	memset(out, 0, sizeof(*out));
	out->body = "";

	/* interim 1xx responses come before the final one */
	for (;;)
	{
		outcome = parse_head(data, len, pos, at_eof, &h, &out->problem);
		if (outcome != HTTP1_COMPLETE)
			return outcome;
		if (h.status >= 200)
			break;
		if (h.status == 101)
		{
			out->problem = "the server switched protocols";
			return HTTP1_BAD;
		}
		pos = h.end;
	}
	out->status = h.status;
	out->keep_alive = h.minor >= 1 ? !h.close : (h.keep_alive && !h.close);

	if (h.status == 204 || h.status == 304)
		out->consumed = h.end;
	else if (h.chunked)
	{
		size_t		end = 0;

		outcome = walk_chunks(data, len, h.end, at_eof, max_body, NULL, &end,
							  &out->problem);
		if (outcome != HTTP1_COMPLETE)
			return outcome;
		protocol_buffer_reset(decoded);
		outcome = walk_chunks(data, len, h.end, at_eof, max_body, decoded, &end,
							  &out->problem);
		if (outcome != HTTP1_COMPLETE)
			return outcome;
		out->body = decoded->data ? decoded->data : "";
		out->body_len = decoded->len;
		out->consumed = end;
		/*
		 * Both framings given, or chunked from an HTTP/1.0 server (which
		 * can't send it): the connection's framing can't be trusted after
		 * this response (RFC 9112 6.1).
		 */
		if (h.has_length || h.minor == 0)
			out->keep_alive = false;
	}
	else if (h.has_length)
	{
		if (h.length > max_body)
			return HTTP1_TOO_LARGE;
		if (len - h.end < h.length)
		{
			if (!at_eof)
				return HTTP1_INCOMPLETE;
			out->problem = "the connection closed inside the response body";
			return HTTP1_CUT_OFF;
		}
		out->body = data + h.end;
		out->body_len = h.length;
		out->consumed = h.end + h.length;
	}
	else
	{
		/* no framing: the body ends when the server closes the connection */
		out->keep_alive = false;
		if (len - h.end > max_body)
			return HTTP1_TOO_LARGE;
		if (!at_eof)
			return HTTP1_INCOMPLETE;
		out->body = data + h.end;
		out->body_len = len - h.end;
		out->consumed = len;
	}
	if (out->consumed < len)
		out->keep_alive = false;	/* unasked bytes: don't read the next answer after them */
	return HTTP1_COMPLETE;
}
