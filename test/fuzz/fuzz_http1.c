/*
 * fuzz_http1.c - libFuzzer harness for src/http1.c.
 *
 * 1. The input is the bytes received on a connection: it is parsed with
 *    at_eof false and true, each with a small (64) and a large (1 MiB)
 *    max_body, and every result's invariants are checked, as well as how the
 *    four results relate (EOF only turns "wait" into "cut off" or a
 *    close-delimited body; a larger max_body only turns TOO_LARGE into
 *    something else).  Parsing every split point is too slow, so one prefix
 *    (the first size/2 bytes, at_eof false) is checked against the whole.
 * 2. The input is a body: it is framed as a chunked response (chunk sizes,
 *    hex spelling, extensions, line breaks and trailers taken from the input)
 *    and as a Content-Length and a close-delimited response; each must parse
 *    back to exactly those bytes, and a cut copy must wait or be cut off.
 * 3. The input is cut into a request target, tail and host for
 *    http1_append_post_head; the head must be exactly the expected bytes.
 *
 * Every parse reads an exact-size malloc'd copy, so ASan sees any read past
 * the end.  Any broken invariant calls abort(), which libFuzzer reports as a
 * crash.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "http1.h"

#define SMALL_MAX ((size_t) 64)
#define LARGE_MAX ((size_t) 1 << 20)

/* One parse's result, with the body copied out of the parser's buffers. */
typedef struct parsed
{
	http1_outcome outcome;
	http1_response r;
	char	   *body;			/* malloc'd copy of r.body (COMPLETE) */
} parsed;

static char *
copy_of(const char *s, size_t len)
{
	char	   *p = malloc(len ? len : 1);

	CHECK(p != NULL);
	if (len)
		memcpy(p, s, len);
	return p;
}

/*
 * Parses data[0..len) (which must be an exact-size allocation or a prefix of
 * one) and checks the invariants of a single result.
 */
static parsed
parse(const char *data, size_t len, bool at_eof, size_t max_body)
{
	protocol_buffer decoded = {0};
	parsed		p;

	memset(&p, 0, sizeof(p));
	memset(&p.r, 0x5a, sizeof(p.r));
	/* stale content: a chunked body must reset it */
	CHECK(protocol_buffer_append(&decoded, "stale", 5) == 0);
	p.outcome = http1_parse_response(data, len, at_eof, max_body, &decoded, &p.r);

	switch (p.outcome)
	{
		case HTTP1_COMPLETE:
			CHECK(p.r.body != NULL);
			CHECK(p.r.consumed <= len);
			CHECK(p.r.consumed >= 14);	/* "HTTP/1.1 200\n\n" is the least */
			CHECK(p.r.body_len <= max_body);
			CHECK(p.r.status >= 200 && p.r.status <= 599);
			if (p.r.body >= data && p.r.body <= data + len)
			{
				CHECK(p.r.body <= data + p.r.consumed);
				CHECK(p.r.body_len <= (size_t) (data + p.r.consumed - p.r.body));
			}
			else if (p.r.body == decoded.data)
			{
				CHECK(p.r.body_len == decoded.len);
				CHECK(decoded.data[decoded.len] == '\0');
			}
			else
				CHECK(p.r.body_len == 0);
			/* bytes after the response make the connection unusable */
			if (p.r.keep_alive)
				CHECK(p.r.consumed == len);
			p.body = copy_of(p.r.body, p.r.body_len);
			break;
		case HTTP1_CUT_OFF:
			CHECK(at_eof);
			/* fall through */
		case HTTP1_BAD:
			CHECK(p.r.problem != NULL && p.r.problem[0] != '\0');
			break;
		case HTTP1_INCOMPLETE:
			CHECK(!at_eof);
			break;
		case HTTP1_TOO_LARGE:
			break;
		default:
			CHECK(!"unknown outcome");
	}
	protocol_buffer_free(&decoded);
	return p;
}

static void
parsed_free(parsed *p)
{
	free(p->body);
	p->body = NULL;
}

/* Two COMPLETE results describe the same response. */
static bool
same_response(const parsed *a, const parsed *b)
{
	return a->outcome == HTTP1_COMPLETE && b->outcome == HTTP1_COMPLETE &&
		a->r.status == b->r.status && a->r.consumed == b->r.consumed &&
		a->r.body_len == b->r.body_len &&
		memcmp(a->body, b->body, a->r.body_len) == 0;
}

/* ---- 1. the input as received bytes ------------------------------------- */

static void
parse_as_received(const char *data, size_t len)
{
	parsed		open_small = parse(data, len, false, SMALL_MAX);
	parsed		open_large = parse(data, len, false, LARGE_MAX);
	parsed		eof_small = parse(data, len, true, SMALL_MAX);
	parsed		eof_large = parse(data, len, true, LARGE_MAX);
	const parsed *pairs[2][2] = {{&open_small, &eof_small}, {&open_large, &eof_large}};

	/* what EOF may change: waiting becomes cut off, or a close-delimited body */
	for (int i = 0; i < 2; i++)
	{
		const parsed *o = pairs[i][0];
		const parsed *e = pairs[i][1];

		switch (o->outcome)
		{
			case HTTP1_COMPLETE:
				CHECK(same_response(o, e));
				CHECK(o->r.keep_alive == e->r.keep_alive);
				break;
			case HTTP1_INCOMPLETE:
				CHECK(e->outcome == HTTP1_CUT_OFF ||
					  (e->outcome == HTTP1_COMPLETE && !e->r.keep_alive &&
					   e->r.consumed == len));
				break;
			case HTTP1_BAD:
				CHECK(e->outcome == HTTP1_BAD);
				CHECK(strcmp(o->r.problem, e->r.problem) == 0);
				break;
			case HTTP1_TOO_LARGE:
				CHECK(e->outcome == HTTP1_TOO_LARGE);
				break;
			default:
				CHECK(!"CUT_OFF without EOF");
		}
	}
	/* what a larger max_body may change: only TOO_LARGE */
	for (int j = 0; j < 2; j++)
	{
		const parsed *s = pairs[0][j];
		const parsed *l = pairs[1][j];

		if (s->outcome == HTTP1_TOO_LARGE)
			continue;
		CHECK(s->outcome == l->outcome);
		if (s->outcome == HTTP1_COMPLETE)
		{
			CHECK(same_response(s, l));
			CHECK(s->r.keep_alive == l->r.keep_alive);
		}
		if (s->outcome == HTTP1_BAD || s->outcome == HTTP1_CUT_OFF)
			CHECK(strcmp(s->r.problem, l->r.problem) == 0);
	}
	if (open_large.outcome == HTTP1_TOO_LARGE)
		CHECK(open_small.outcome == HTTP1_TOO_LARGE);

	/*
	 * The first half, more to come: never a response that needs more than
	 * those bytes, and consistent with what the whole input says.
	 */
	{
		size_t		half = len / 2;
		parsed		p = parse(data, half, false, LARGE_MAX);

		CHECK(p.outcome != HTTP1_CUT_OFF);
		if (p.outcome == HTTP1_COMPLETE)
		{
			CHECK(p.r.consumed <= half);
			CHECK(same_response(&p, &open_large));
		}
		switch (open_large.outcome)
		{
			case HTTP1_COMPLETE:
				if (half < open_large.r.consumed)
					CHECK(p.outcome == HTTP1_INCOMPLETE);
				else
					CHECK(same_response(&p, &open_large));
				break;
			case HTTP1_INCOMPLETE:
				CHECK(p.outcome == HTTP1_INCOMPLETE);
				break;
			default:
				CHECK(p.outcome == HTTP1_INCOMPLETE || p.outcome == open_large.outcome);
		}
		parsed_free(&p);
	}

	parsed_free(&open_small);
	parsed_free(&open_large);
	parsed_free(&eof_small);
	parsed_free(&eof_large);
}

/* ---- 2. the input as a body, framed three ways -------------------------- */

static void
append(protocol_buffer *b, const char *s, size_t len)
{
	CHECK(protocol_buffer_append(b, s, len) == 0);
}

static void
append_str(protocol_buffer *b, const char *s)
{
	append(b, s, strlen(s));
}

/* Parses an exact-size copy of b; checks COMPLETE with exactly body. */
static void
check_framed(const protocol_buffer *b, size_t head_len, const char *body, size_t body_len,
			 bool at_eof, size_t max_body, bool keep_alive, bool chunked)
{
	char	   *copy = copy_of(b->data, b->len);
	parsed		p = parse(copy, b->len, at_eof, max_body);

	CHECK(p.outcome == HTTP1_COMPLETE);
	CHECK(p.r.status == 200);
	CHECK(p.r.consumed == b->len);
	CHECK(p.r.keep_alive == keep_alive);
	CHECK(p.r.body_len == body_len);
	CHECK(memcmp(p.body, body, body_len) == 0);
	if (!chunked)
		CHECK(p.r.body == copy + head_len);
	parsed_free(&p);

	/* one byte less than the body */
	if (body_len > 0)
	{
		p = parse(copy, b->len, at_eof, body_len - 1);
		CHECK(p.outcome == HTTP1_TOO_LARGE);
		parsed_free(&p);
	}
	free(copy);
}

/* A cut copy of b (cut bytes, 0 < cut < len) waits, or is cut off at EOF. */
static void
check_cut(const protocol_buffer *b, size_t cut)
{
	char	   *copy = copy_of(b->data, cut);
	parsed		p = parse(copy, cut, false, LARGE_MAX);

	CHECK(p.outcome == HTTP1_INCOMPLETE);
	parsed_free(&p);
	p = parse(copy, cut, true, LARGE_MAX);
	CHECK(p.outcome == HTTP1_CUT_OFF);
	parsed_free(&p);
	free(copy);
}

static void
frame_round_trip(const char *data, size_t len)
{
	protocol_buffer b = {0};
	unsigned	knobs = len ? (unsigned char) data[0] : 0;
	const char *eol = (knobs & 1) ? "\n" : "\r\n";
	size_t		head_len;
	size_t		at = 0;
	size_t		k = 0;
	char		line[64];

	/* chunked, with chunk sizes from the input (1..32 bytes) */
	if (knobs & 4)
	{
		append_str(&b, "HTTP/1.1 100 Continue");	/* an interim response first */
		append_str(&b, eol);
		append_str(&b, eol);
	}
	append_str(&b, "HTTP/1.1 200 OK");
	append_str(&b, eol);
	append_str(&b, (knobs & 2) ? "transfer-encoding:  CHUNKED\t" : "Transfer-Encoding: chunked");
	append_str(&b, eol);
	if (knobs & 4)
	{
		append_str(&b, "Content-Type: application/json");
		append_str(&b, eol);
	}
	append_str(&b, eol);
	head_len = b.len;
	while (at < len)
	{
		size_t		size = (unsigned char) data[k % len] % 32 + 1;

		if (size > len - at)
			size = len - at;
		snprintf(line, sizeof(line), (k & 1) ? "%zX" : "%zx", size);
		if (knobs & 8)
			append_str(&b, "00");	/* leading zeros */
		append_str(&b, line);
		if (knobs & 16)
			append_str(&b, (k & 1) ? ";ext=\"v\"" : " ;e");
		append_str(&b, eol);
		append(&b, data + at, size);
		append_str(&b, (knobs & 32) && (k & 1) ? "\n" : eol);
		at += size;
		k++;
	}
	append_str(&b, "0");
	append_str(&b, eol);
	if (knobs & 64)
	{
		append_str(&b, "X-Trailer: 1");
		append_str(&b, eol);
	}
	append_str(&b, eol);
	check_framed(&b, head_len, data, len, false, len, true, true);
	check_framed(&b, head_len, data, len, true, LARGE_MAX, true, true);
	check_cut(&b, len ? (knobs * 7919u + len) % b.len : b.len / 2);
	check_cut(&b, b.len - 1);

	/* Content-Length */
	protocol_buffer_reset(&b);
	snprintf(line, sizeof(line), "Content-Length: %zu", len);
	append_str(&b, "HTTP/1.1 200 OK");
	append_str(&b, eol);
	append_str(&b, line);
	append_str(&b, eol);
	if (knobs & 128)
	{
		append_str(&b, "Connection: close");
		append_str(&b, eol);
	}
	append_str(&b, eol);
	head_len = b.len;
	append(&b, data, len);
	check_framed(&b, head_len, data, len, false, len, !(knobs & 128), false);
	check_framed(&b, head_len, data, len, true, LARGE_MAX, !(knobs & 128), false);
	check_cut(&b, len ? head_len + knobs % len : head_len - 1);
	/* one more byte: the same response, but the connection is done */
	append_str(&b, "H");
	{
		char	   *copy = copy_of(b.data, b.len);
		parsed		p = parse(copy, b.len, false, LARGE_MAX);

		CHECK(p.outcome == HTTP1_COMPLETE);
		CHECK(p.r.consumed == b.len - 1);
		CHECK(!p.r.keep_alive);
		CHECK(p.r.body_len == len && memcmp(p.body, data, len) == 0);
		parsed_free(&p);
		free(copy);
	}

	/* close-delimited */
	protocol_buffer_reset(&b);
	append_str(&b, "HTTP/1.1 200 OK");
	append_str(&b, eol);
	append_str(&b, eol);
	head_len = b.len;
	append(&b, data, len);
	check_framed(&b, head_len, data, len, true, len, false, false);
	{
		char	   *copy = copy_of(b.data, b.len);
		parsed		p = parse(copy, b.len, false, LARGE_MAX);

		CHECK(p.outcome == HTTP1_INCOMPLETE);
		parsed_free(&p);
		free(copy);
	}
	protocol_buffer_free(&b);
}

/* ---- 3. the request head ------------------------------------------------ */

static void
request_head(const char *data, size_t len)
{
	protocol_buffer b = {0};
	protocol_buffer want = {0};
	size_t		t = len / 3;
	size_t		u = len / 2 - t;
	char		host[64];
	size_t		host_len = 0;
	char		length[32];

	/* host: printable input bytes, NUL-terminated (as a URL's authority is) */
	for (size_t i = len / 2; i < len && host_len < sizeof(host) - 1; i++)
		if (data[i] > ' ' && data[i] < 0x7f)
			host[host_len++] = data[i];
	host[host_len] = '\0';
	snprintf(length, sizeof(length), "%zu", len * 977);

	append_str(&b, "x");		/* appends after what is there */
	CHECK(http1_append_post_head(&b, data, t, data + t, u, host, len * 977) == 0);
	append_str(&want, "xPOST ");
	append(&want, data, t + u);
	append_str(&want, " HTTP/1.1\r\nHost: ");
	append_str(&want, host);
	append_str(&want, "\r\nUser-Agent: imcheck\r\nAccept: application/json\r\n"
			   "Content-Type: application/json\r\nContent-Length: ");
	append_str(&want, length);
	append_str(&want, "\r\n\r\n");
	CHECK(b.len == want.len);
	CHECK(memcmp(b.data, want.data, b.len + 1) == 0);
	protocol_buffer_free(&b);
	protocol_buffer_free(&want);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *copy = fuzz_exact_copy(data, size);

	if (copy == NULL)
		return 0;
	parse_as_received(copy, size);
	frame_round_trip(copy, size);
	request_head(copy, size);
	free(copy);
	return 0;
}
