/*
 * test_http1.c - cmocka tests of src/http1.c (HTTP/1.1 request head and
 * response framing).
 *
 * Every response is parsed from a malloc'd buffer of exactly its length with
 * no NUL after it, so valgrind / ASan catch any read past data + len.  The
 * decoded buffer handed to the parser always holds stale bytes first, so a
 * missing reset shows.
 *
 * The test_regression_* tests are bugs found in http1.c as first committed
 * (7cc2e97); each says what the input was, what came out and what should.
 */
#include "test_common.h"

#include <stdbool.h>
#include <stdio.h>

#include "http1.h"

/* ---- helpers ------------------------------------------------------------ */

/* a max_body that never limits the tests' small bodies */
#define BIG ((size_t) 1 << 20)

static const char *
outcome_name(http1_outcome o)
{
	switch (o)
	{
		case HTTP1_INCOMPLETE:
			return "INCOMPLETE";
		case HTTP1_COMPLETE:
			return "COMPLETE";
		case HTTP1_CUT_OFF:
			return "CUT_OFF";
		case HTTP1_BAD:
			return "BAD";
		case HTTP1_TOO_LARGE:
			return "TOO_LARGE";
	}
	return "?";
}

/* What one parse said, copied out of the parser's buffers. */
typedef struct result
{
	http1_outcome outcome;
	int			status;
	bool		keep_alive;
	size_t		consumed;
	const char *problem;		/* static text, NULL when not set */
	char	   *body;			/* malloc'd copy, NUL-terminated (COMPLETE) */
	size_t		body_len;
	long		body_offset;	/* where body pointed in the input; -1 if not */
	bool		body_decoded;	/* body pointed at the decoded buffer */
} result;

static void
result_free(result *r)
{
	free(r->body);
	r->body = NULL;
}

/*
 * Parses len bytes of data (an exact-size copy) and checks the invariants
 * that hold for every input: on COMPLETE the body is inside the input or the
 * decoded buffer, consumed <= len, body_len <= max_body, a final status; on
 * CUT_OFF and BAD a non-empty problem text.
 */
static result
parse_ex(const char *data, size_t len, bool at_eof, size_t max_body)
{
	char	   *copy = exact_copy(data, len);
	protocol_buffer decoded = {0};
	http1_response out;
	result		r;

	memset(&r, 0, sizeof(r));
	r.body_offset = -1;
	assert_int_equal(protocol_buffer_append(&decoded, "stale bytes", 11), 0);
	memset(&out, 0x5a, sizeof(out));	/* parse must initialise everything */

	r.outcome = http1_parse_response(copy, len, at_eof, max_body, &decoded, &out);
	r.status = out.status;
	r.keep_alive = out.keep_alive;
	r.consumed = out.consumed;
	r.problem = out.problem;

	switch (r.outcome)
	{
		case HTTP1_COMPLETE:
			assert_non_null(out.body);
			assert_true(out.consumed <= len);
			assert_true(out.body_len <= max_body);
			assert_in_range(out.status, 200, 599);
			if (out.body >= copy && out.body <= copy + len)
			{
				assert_true(out.body_len <= (size_t) (copy + len - out.body));
				assert_true(out.body + out.body_len <= copy + out.consumed);
				r.body_offset = (long) (out.body - copy);
			}
			else if (decoded.data != NULL && out.body == decoded.data)
			{
				assert_int_equal(out.body_len, decoded.len);
				r.body_decoded = true;
			}
			else
				assert_int_equal(out.body_len, 0);	/* a static "" */
			r.body = malloc(out.body_len + 1);
			assert_non_null(r.body);
			memcpy(r.body, out.body, out.body_len);
			r.body[out.body_len] = '\0';
			r.body_len = out.body_len;
			break;
		case HTTP1_CUT_OFF:
		case HTTP1_BAD:
			assert_non_null(out.problem);
			assert_true(strlen(out.problem) > 0);
			break;
		case HTTP1_INCOMPLETE:
		case HTTP1_TOO_LARGE:
			break;
		default:
			fail_msg("unknown outcome %d", (int) r.outcome);
	}
	free(copy);
	protocol_buffer_free(&decoded);
	return r;
}

static http1_outcome
outcome_of_len(const char *data, size_t len, bool at_eof, size_t max_body)
{
	result		r = parse_ex(data, len, at_eof, max_body);

	result_free(&r);
	return r.outcome;
}

#define assert_outcome_len(text, len, at_eof, max_body, want) \
	do { \
		http1_outcome got_ = outcome_of_len((text), (len), (at_eof), (max_body)); \
		if (got_ != (want)) \
			fail_msg("%s\n  (at_eof %d, max_body %zu)\n  got %s, want %s", (text), \
					 (int) (at_eof), (size_t) (max_body), outcome_name(got_), \
					 outcome_name(want)); \
	} while (0)

#define assert_outcome(text, at_eof, max_body, want) \
	assert_outcome_len((text), strlen(text), (at_eof), (max_body), (want))

/*
 * Checks a COMPLETE parse: status, keep_alive, body bytes and consumed
 * ((size_t) -1: all of the input).  Returns the result for more checks
 * (the caller frees it).
 */
static result
check_complete_at(int line, const char *text, size_t len, bool at_eof,
				  size_t max_body, int status, bool keep_alive,
				  const char *body, size_t body_len, size_t consumed)
{
	result		r = parse_ex(text, len, at_eof, max_body);

	if (consumed == (size_t) -1)
		consumed = len;
	if (r.outcome != HTTP1_COMPLETE)
		fail_msg("line %d: %s\n  got %s (%s), want COMPLETE", line, text,
				 outcome_name(r.outcome), r.problem ? r.problem : "-");
	if (r.status != status || r.keep_alive != keep_alive || r.consumed != consumed ||
		r.body_len != body_len || memcmp(r.body, body, body_len) != 0)
		fail_msg("line %d: %s\n  got status %d keep_alive %d consumed %zu body [%s] (%zu)"
				 "\n  want status %d keep_alive %d consumed %zu body [%.*s] (%zu)",
				 line, text, r.status, (int) r.keep_alive, r.consumed, r.body,
				 r.body_len, status, (int) keep_alive, consumed, (int) body_len, body,
				 body_len);
	return r;
}

#define assert_complete(text, at_eof, status, keep_alive, body) \
	do { \
		result r_ = check_complete_at(__LINE__, (text), strlen(text), (at_eof), BIG, \
									  (status), (keep_alive), (body), strlen(body), \
									  (size_t) -1); \
		result_free(&r_); \
	} while (0)

/*
 * Feeds every proper prefix of a response: with at_eof false each must be
 * INCOMPLETE, with at_eof true CUT_OFF (the connection closed inside it);
 * the whole text must be COMPLETE either way.  For a close-delimited body
 * the prefixes at EOF that include the whole head are complete responses
 * of their own, so only the head prefixes are checked at EOF.
 */
static void
check_every_prefix_at(int line, const char *text, size_t len, size_t max_body,
					  int status, bool keep_alive, const char *body, size_t body_len,
					  bool close_delimited)
{
	size_t		head_end = 0;

	for (size_t i = 3; i < len; i++)
		if (memcmp(text + i - 3, "\r\n\r\n", 4) == 0 ||
			memcmp(text + i - 1, "\n\n", 2) == 0)
			head_end = i + 1;	/* the last head's end */

	for (size_t k = 0; k < len; k++)
	{
		http1_outcome o = outcome_of_len(text, k, false, max_body);

		if (o != HTTP1_INCOMPLETE)
			fail_msg("line %d: prefix of %zu of %zu bytes: got %s, want INCOMPLETE\n%.*s",
					 line, k, len, outcome_name(o), (int) k, text);
		if (close_delimited && k >= head_end)
			continue;
		o = outcome_of_len(text, k, true, max_body);
		if (o != HTTP1_CUT_OFF)
			fail_msg("line %d: prefix of %zu of %zu bytes at EOF: got %s, want CUT_OFF\n%.*s",
					 line, k, len, outcome_name(o), (int) k, text);
	}
	if (!close_delimited)
	{
		result		r = check_complete_at(line, text, len, false, max_body, status,
										  keep_alive, body, body_len, len);

		result_free(&r);
	}
	{
		result		r = check_complete_at(line, text, len, true, max_body, status,
										  close_delimited ? false : keep_alive,
										  body, body_len, len);

		result_free(&r);
	}
}

#define check_every_prefix(text, status, keep_alive, body) \
	check_every_prefix_at(__LINE__, (text), strlen(text), BIG, (status), (keep_alive), \
						  (body), strlen(body), false)

#define CL_OK(body_len_text) \
	"HTTP/1.1 200 OK\r\nContent-Length: " body_len_text "\r\n\r\n"
#define CHUNKED_HEAD "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"

/* A malloc'd string: prefix, n copies of fill, suffix. */
static char *
make_padded(const char *prefix, char fill, size_t n, const char *suffix)
{
	size_t		a = strlen(prefix);
	size_t		c = strlen(suffix);
	char	   *s = malloc(a + n + c + 1);

	assert_non_null(s);
	memcpy(s, prefix, a);
	memset(s + a, fill, n);
	memcpy(s + a + n, suffix, c + 1);
	return s;
}

/* ---- request head ------------------------------------------------------- */

static void
test_post_head_exact(void **state)
{
	protocol_buffer b = {0};
	static const char target[] =
		"/v4/im_open_login_svc/account_check?sdkappid=1400000000&identifier=admin"
		"&usersig=eJyrVgrx&random=";
	static const char want[] =
		"POST /v4/im_open_login_svc/account_check?sdkappid=1400000000&identifier=admin"
		"&usersig=eJyrVgrx&random=123456789&contenttype=json HTTP/1.1\r\n"
		"Host: console.tim.qq.com\r\n"
		"User-Agent: imcheck\r\n"
		"Accept: application/json\r\n"
		"Content-Type: application/json\r\n"
		"Content-Length: 42\r\n"
		"\r\n";

	(void) state;
	assert_int_equal(http1_append_post_head(&b, target, strlen(target),
											"123456789&contenttype=json", 26,
											"console.tim.qq.com", 42), 0);
	assert_int_equal(b.len, sizeof(want) - 1);
	assert_memory_equal(b.data, want, sizeof(want));	/* and the NUL after */
	protocol_buffer_free(&b);
}

static void
test_post_head_lengths_and_append(void **state)
{
	protocol_buffer b = {0};
	/* target and tail are taken by length: the bytes after them are not sent */
	static const char target[] = "/path?x=1XXXX";
	static const char tail[] = "7YYYY";
	static const char want1[] =
		"previous"
		"POST /path?x=17 HTTP/1.1\r\n"
		"Host: localhost:8443\r\n"
		"User-Agent: imcheck\r\n"
		"Accept: application/json\r\n"
		"Content-Type: application/json\r\n"
		"Content-Length: 0\r\n"
		"\r\n";
	static const char want2[] =
		"POST / HTTP/1.1\r\n"
		"Host: h\r\n"
		"User-Agent: imcheck\r\n"
		"Accept: application/json\r\n"
		"Content-Type: application/json\r\n"
		"Content-Length: 18446744073709551615\r\n"
		"\r\n";

	(void) state;
	assert_int_equal(protocol_buffer_append(&b, "previous", 8), 0);
	assert_int_equal(http1_append_post_head(&b, target, 9, tail, 1, "localhost:8443", 0), 0);
	assert_int_equal(b.len, sizeof(want1) - 1);
	assert_memory_equal(b.data, want1, sizeof(want1));

	/* an empty tail, the largest body length */
	protocol_buffer_reset(&b);
	assert_int_equal(http1_append_post_head(&b, "/", 1, "", 0, "h", SIZE_MAX), 0);
#if SIZE_MAX == UINT64_MAX
	assert_int_equal(b.len, sizeof(want2) - 1);
	assert_memory_equal(b.data, want2, sizeof(want2));
#endif
	protocol_buffer_free(&b);
}

static void
test_post_head_is_parsable_shape(void **state)
{
	protocol_buffer b = {0};
	size_t		lines = 0;

	(void) state;
	assert_int_equal(http1_append_post_head(&b, "/a", 2, "b", 1, "example.com", 123), 0);
	/* every line ends in CRLF, no bare CR or LF, one empty line at the end */
	for (size_t i = 0; i < b.len; i++)
	{
		if (b.data[i] == '\n')
		{
			assert_true(i > 0 && b.data[i - 1] == '\r');
			lines++;
		}
		if (b.data[i] == '\r')
			assert_true(i + 1 < b.len && b.data[i + 1] == '\n');
	}
	assert_int_equal(lines, 7);
	assert_memory_equal(b.data + b.len - 4, "\r\n\r\n", 4);
	for (size_t i = 0; i + 4 < b.len; i++)
		assert_false(memcmp(b.data + i, "\r\n\r\n", 4) == 0);	/* no early end */
	assert_non_null(strstr(b.data, "\r\nContent-Length: 123\r\n"));
	protocol_buffer_free(&b);
}

/* ---- Content-Length ----------------------------------------------------- */

static void
test_content_length_complete(void **state)
{
	static const char text[] = CL_OK("5") "hello";
	result		r;

	(void) state;
	r = check_complete_at(__LINE__, text, strlen(text), false, BIG, 200, true,
						  "hello", 5, (size_t) -1);
	/* the body is the input's own bytes, right after the head */
	assert_int_equal(r.body_offset, (long) strlen(CL_OK("5")));
	assert_false(r.body_decoded);
	result_free(&r);

	assert_complete(CL_OK("5") "hello", true, 200, true, "hello");
	assert_complete(CL_OK("0"), false, 200, true, "");
	assert_complete(CL_OK("0"), true, 200, true, "");
	assert_complete(CL_OK("007") "leading", false, 200, true, "leading");
	assert_complete("HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
					"content-length:   2  \r\n\r\n{}", false, 404, true, "{}");
	assert_complete("HTTP/1.1 500 Internal Server Error\r\nCONTENT-LENGTH:3\r\n\r\nerr",
					false, 500, true, "err");
	/* a body with CR, LF, NUL and a blank line in it is just bytes */
	{
		static const char nul_body[] = CL_OK("9") "a\r\n\r\nb\0c\n";
		result		r2 = check_complete_at(__LINE__, nul_body, sizeof(nul_body) - 1,
										   false, BIG, 200, true, "a\r\n\r\nb\0c\n", 9,
										   (size_t) -1);

		result_free(&r2);
	}
}

static void
test_content_length_incomplete_and_cut_off(void **state)
{
	(void) state;
	check_every_prefix(CL_OK("5") "hello", 200, true, "hello");
	check_every_prefix("HTTP/1.1 201 Created\r\nServer: x\r\nContent-Length: 13\r\n"
					   "Connection: keep-alive\r\n\r\n{\"a\":[1,2,3]}", 201, true,
					   "{\"a\":[1,2,3]}");

	/* specific problems */
	{
		result		r = parse_ex(CL_OK("5") "hel", strlen(CL_OK("5") "hel"), true, BIG);

		assert_int_equal(r.outcome, HTTP1_CUT_OFF);
		assert_string_equal(r.problem, "the connection closed inside the response body");
		result_free(&r);
		r = parse_ex("HTTP/1.1 200 OK\r\nContent-Le", 27, true, BIG);
		assert_int_equal(r.outcome, HTTP1_CUT_OFF);
		assert_string_equal(r.problem, "the connection closed inside the response header");
		result_free(&r);
	}
}

static void
test_content_length_too_large(void **state)
{
	char		text[200];

	(void) state;
	/* exactly max_body is fine, one more is not */
	{
		result		r = check_complete_at(__LINE__, CL_OK("10") "0123456789",
										  strlen(CL_OK("10") "0123456789"), false, 10,
										  200, true, "0123456789", 10, (size_t) -1);

		result_free(&r);
	}
	assert_outcome(CL_OK("11") "0123456789A", false, 10, HTTP1_TOO_LARGE);
	assert_outcome(CL_OK("11") "0123456789A", true, 10, HTTP1_TOO_LARGE);
	/* known from the head alone: no need to wait for the body */
	assert_outcome(CL_OK("11"), false, 10, HTTP1_TOO_LARGE);
	assert_outcome(CL_OK("1") "x", false, 0, HTTP1_TOO_LARGE);
	assert_outcome(CL_OK("0"), false, 0, HTTP1_COMPLETE);

	/* huge values saturate instead of wrapping around */
	assert_outcome(CL_OK("18446744073709551616") "x", false, BIG, HTTP1_TOO_LARGE);	/* 2^64 */
	assert_outcome(CL_OK("18446744073709551617") "x", true, BIG, HTTP1_TOO_LARGE);	/* 2^64+1 */
	assert_outcome(CL_OK("36893488147419103233") "x", true, BIG, HTTP1_TOO_LARGE);	/* 2^65+1 */
	assert_outcome(CL_OK("99999999999999999999999999999999999999999999999999") "x",
				   false, BIG, HTTP1_TOO_LARGE);
	assert_outcome(CL_OK("18446744073709551615") "x", false, SIZE_MAX - 1, HTTP1_TOO_LARGE);
	assert_outcome(CL_OK("99999999999999999999999999999999") "x", false, SIZE_MAX - 1,
				   HTTP1_TOO_LARGE);
	/* the largest max_body: no overflow, just waiting for the body */
	assert_outcome(CL_OK("99999999999999999999999999999999") "x", false, SIZE_MAX,
				   HTTP1_INCOMPLETE);
	assert_outcome(CL_OK("99999999999999999999999999999999") "x", true, SIZE_MAX,
				   HTTP1_CUT_OFF);

	/* every length around a max_body */
	for (size_t n = 0; n <= 40; n++)
	{
		snprintf(text, sizeof(text), CL_OK("%zu") "%.*s", n, (int) n,
				 "0123456789012345678901234567890123456789");
		assert_outcome(text, false, 20, n <= 20 ? HTTP1_COMPLETE : HTTP1_TOO_LARGE);
	}
}

static void
test_content_length_lists(void **state)
{
	(void) state;
	assert_complete("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello",
					false, 200, true, "hello");
	assert_complete("HTTP/1.1 200 OK\r\nContent-Length: 5,5,5\r\n\r\nhello",
					false, 200, true, "hello");
	assert_complete("HTTP/1.1 200 OK\r\nContent-Length: 5 ,\t5\r\n\r\nhello",
					false, 200, true, "hello");
	/* the same value in two fields */
	assert_complete("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
					false, 200, true, "hello");
	assert_complete("HTTP/1.1 200 OK\r\nContent-Length: 05\r\nContent-Length: 5\r\n\r\nhello",
					false, 200, true, "hello");

	/* conflicting values */
	assert_outcome("HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello!", false, BIG,
				   HTTP1_BAD);
	assert_outcome("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
				   false, BIG, HTTP1_BAD);
	assert_outcome("HTTP/1.1 200 OK\r\nContent-Length: 6\r\nContent-Length: 5, 6\r\n\r\nhello!",
				   false, BIG, HTTP1_BAD);
	/* a huge value (saturated internally) still differs from a small one */
	assert_outcome("HTTP/1.1 200 OK\r\nContent-Length: 5, 18446744073709551621\r\n\r\nhello",
				   false, BIG, HTTP1_BAD);

	/* not digits */
	assert_outcome(CL_OK("") "hello", false, BIG, HTTP1_BAD);
	assert_outcome(CL_OK("   ") "hello", false, BIG, HTTP1_BAD);
	assert_outcome(CL_OK("-5") "hello", false, BIG, HTTP1_BAD);
	assert_outcome(CL_OK("+5") "hello", false, BIG, HTTP1_BAD);
	assert_outcome(CL_OK("0x5") "hello", false, BIG, HTTP1_BAD);
	assert_outcome(CL_OK("5 5") "hello", false, BIG, HTTP1_BAD);
	assert_outcome(CL_OK("5a") "hello", false, BIG, HTTP1_BAD);
	assert_outcome(CL_OK("five") "hello", false, BIG, HTTP1_BAD);
	assert_outcome(CL_OK("5;") "hello", false, BIG, HTTP1_BAD);
	assert_outcome(CL_OK("5.0") "hello", false, BIG, HTTP1_BAD);
	/* invalid even when chunked framing is used */
	assert_outcome("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: x\r\n\r\n"
				   "0\r\n\r\n", false, BIG, HTTP1_BAD);
	{
		result		r = parse_ex(CL_OK("x") "hello", strlen(CL_OK("x") "hello"), false, BIG);

		assert_int_equal(r.outcome, HTTP1_BAD);
		assert_string_equal(r.problem, "the response has an invalid Content-Length");
		result_free(&r);
	}
}

/* ---- chunked ------------------------------------------------------------ */

static void
test_chunked_single(void **state)
{
	static const char text[] = CHUNKED_HEAD "5\r\nhello\r\n0\r\n\r\n";
	result		r;

	(void) state;
	r = check_complete_at(__LINE__, text, strlen(text), false, BIG, 200, true,
						  "hello", 5, (size_t) -1);
	assert_true(r.body_decoded);	/* decoded into the buffer, which was reset */
	result_free(&r);

	/* only the last chunk: an empty body */
	assert_complete(CHUNKED_HEAD "0\r\n\r\n", false, 200, true, "");
	assert_complete(CHUNKED_HEAD "000\r\n\r\n", false, 200, true, "");
	/* case-insensitive name and value, optional whitespace */
	assert_complete("HTTP/1.1 200 OK\r\ntransfer-encoding:Chunked \r\n\r\n2\r\nok\r\n0\r\n\r\n",
					false, 200, true, "ok");
	assert_complete("HTTP/1.1 200 OK\r\nTRANSFER-ENCODING: \tCHUNKED\r\n\r\n2\r\nok\r\n0\r\n\r\n",
					false, 200, true, "ok");
}

static void
test_chunked_several(void **state)
{
	(void) state;
	assert_complete(CHUNKED_HEAD "1\r\na\r\n2\r\nbc\r\n3\r\ndef\r\n0\r\n\r\n",
					false, 200, true, "abcdef");
	/* hex sizes, both cases, leading zeros */
	assert_complete(CHUNKED_HEAD "a\r\n0123456789\r\nA\r\nabcdefghij\r\n"
					"10\r\n0123456789abcdef\r\n00000000000000000000000000001\r\n!\r\n0\r\n\r\n",
					false, 200, true,
					"0123456789abcdefghij0123456789abcdef!");
	/* chunk data may hold CRLF, "0\r\n\r\n" and NUL bytes */
	{
		static const char text[] = CHUNKED_HEAD "7\r\n0\r\n\r\n\0x\r\n0\r\n\r\n";
		result		r = check_complete_at(__LINE__, text, sizeof(text) - 1, false, BIG,
										  200, true, "0\r\n\r\n\0x", 7, (size_t) -1);

		result_free(&r);
	}
	/* a larger body over many chunks */
	{
		protocol_buffer in = {0};
		protocol_buffer want = {0};
		result		r;

		assert_int_equal(protocol_buffer_append(&in, CHUNKED_HEAD, strlen(CHUNKED_HEAD)), 0);
		for (size_t i = 1; i <= 300; i++)
		{
			char		line[32];
			int			n = snprintf(line, sizeof(line), "%zx\r\n", i);

			assert_int_equal(protocol_buffer_append(&in, line, (size_t) n), 0);
			for (size_t j = 0; j < i; j++)
			{
				char		c = (char) ('a' + (i + j) % 26);

				assert_int_equal(protocol_buffer_append(&in, &c, 1), 0);
				assert_int_equal(protocol_buffer_append(&want, &c, 1), 0);
			}
			assert_int_equal(protocol_buffer_append(&in, "\r\n", 2), 0);
		}
		assert_int_equal(protocol_buffer_append(&in, "0\r\n\r\n", 5), 0);
		r = check_complete_at(__LINE__, in.data, in.len, false, BIG, 200, true,
							  want.data, want.len, (size_t) -1);
		result_free(&r);
		/* max_body is the decoded size, not the wire size */
		r = check_complete_at(__LINE__, in.data, in.len, false, want.len, 200, true,
							  want.data, want.len, (size_t) -1);
		result_free(&r);
		assert_outcome_len(in.data, in.len, false, want.len - 1, HTTP1_TOO_LARGE);
		protocol_buffer_free(&in);
		protocol_buffer_free(&want);
	}
}

static void
test_chunked_extensions(void **state)
{
	(void) state;
	assert_complete(CHUNKED_HEAD "5;name=value\r\nhello\r\n0\r\n\r\n", false, 200, true, "hello");
	assert_complete(CHUNKED_HEAD "5;a;b=\"q;uoted\"\r\nhello\r\n0;last\r\n\r\n",
					false, 200, true, "hello");
	/* whitespace before ';' (BWS) and after the size */
	assert_complete(CHUNKED_HEAD "5 ;x\r\nhello\r\n3\t\r\nabc\r\n0 \r\n\r\n",
					false, 200, true, "helloabc");
	assert_complete(CHUNKED_HEAD "5\t ;\r\nhello\r\n0;\r\n\r\n", false, 200, true, "hello");
	check_every_prefix(CHUNKED_HEAD "5;name=value\r\nhello\r\n0;x\r\n\r\n", 200, true, "hello");
}

static void
test_chunked_trailers(void **state)
{
	(void) state;
	assert_complete(CHUNKED_HEAD "5\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n", false, 200, true,
					"hello");
	assert_complete(CHUNKED_HEAD "5\r\nhello\r\n0\r\nX-A: 1\r\nX-B: two\r\nServer-Timing: x\r\n\r\n",
					false, 200, true, "hello");
	/* a trailer that looks like framing is only a trailer */
	assert_complete(CHUNKED_HEAD "5\r\nhello\r\n0\r\nContent-Length: 99\r\n\r\n",
					false, 200, true, "hello");
	check_every_prefix(CHUNKED_HEAD "5\r\nhello\r\n0\r\nX-A: 1\r\nX-B: 2\r\n\r\n",
					   200, true, "hello");

	/* trailer section over the head cap */
	{
		char	   *text = make_padded(CHUNKED_HEAD "0\r\nX: ", 'a', HTTP1_MAX_HEAD_BYTES, "\r\n\r\n");
		size_t		len = strlen(text);

		assert_outcome_len(text, len, false, BIG, HTTP1_BAD);
		assert_outcome_len(text, len - 4, false, BIG, HTTP1_BAD);
		free(text);
	}
}

static void
test_chunked_every_split(void **state)
{
	(void) state;
	check_every_prefix(CHUNKED_HEAD "5\r\nhello\r\n0\r\n\r\n", 200, true, "hello");
	check_every_prefix(CHUNKED_HEAD "1\r\na\r\n2\r\nbc\r\n3\r\ndef\r\n0\r\n\r\n",
					   200, true, "abcdef");
	check_every_prefix("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
					   "Transfer-Encoding: chunked\r\nDate: Sat, 01 Jan 2000 00:00:00 GMT\r\n\r\n"
					   "a;ext=1\r\n{\"Action\":\r\n"
					   "1A\r\n\"OK\",\"ResultItem\":[1,2,3]}\r\n"
					   "0\r\nX-Checksum: abc\r\n\r\n",
					   200, true, "{\"Action\":\"OK\",\"ResultItem\":[1,2,3]}");
	check_every_prefix(CHUNKED_HEAD "0\r\n\r\n", 200, true, "");
	/* with a 100 Continue in front and bare LFs */
	check_every_prefix("HTTP/1.1 100 Continue\r\n\r\n" CHUNKED_HEAD "3\nabc\n0\n\n",
					   200, true, "abc");
}

static void
test_chunked_cut_off(void **state)
{
	result		r;

	(void) state;
	assert_outcome(CHUNKED_HEAD, true, BIG, HTTP1_CUT_OFF);
	assert_outcome(CHUNKED_HEAD "5", true, BIG, HTTP1_CUT_OFF);
	assert_outcome(CHUNKED_HEAD "5\r\nhel", true, BIG, HTTP1_CUT_OFF);
	assert_outcome(CHUNKED_HEAD "5\r\nhello", true, BIG, HTTP1_CUT_OFF);
	assert_outcome(CHUNKED_HEAD "5\r\nhello\r", true, BIG, HTTP1_CUT_OFF);
	assert_outcome(CHUNKED_HEAD "5\r\nhello\r\n", true, BIG, HTTP1_CUT_OFF);
	assert_outcome(CHUNKED_HEAD "5\r\nhello\r\n0\r\n", true, BIG, HTTP1_CUT_OFF);
	assert_outcome(CHUNKED_HEAD "5\r\nhello\r\n0\r\nX: 1\r\n", true, BIG, HTTP1_CUT_OFF);
	assert_outcome(CHUNKED_HEAD "5\r\nhello\r\n0\r\n\r", true, BIG, HTTP1_CUT_OFF);
	r = parse_ex(CHUNKED_HEAD "5\r\nhel", strlen(CHUNKED_HEAD "5\r\nhel"), true, BIG);
	assert_int_equal(r.outcome, HTTP1_CUT_OFF);
	assert_string_equal(r.problem, "the connection closed inside the response body");
	result_free(&r);
}

static void
test_chunked_malformed_size(void **state)
{
	static const char *const bad[] = {
		"x\r\nhello\r\n0\r\n\r\n",
		"\r\nhello\r\n0\r\n\r\n",	/* empty size line */
		" 5\r\nhello\r\n0\r\n\r\n", /* whitespace before the size */
		"5x\r\nhello\r\n0\r\n\r\n",
		"-5\r\nhello\r\n0\r\n\r\n",
		"+5\r\nhello\r\n0\r\n\r\n",
		"0x5\r\nhello\r\n0\r\n\r\n",
		"5 5\r\nhello\r\n0\r\n\r\n",
		"5=\r\nhello\r\n0\r\n\r\n",
		"g\r\nhello\r\n0\r\n\r\n",
		"5\r\r\nhello\r\n0\r\n\r\n",	/* a CR that is not a line break */
		"5\r\nhello\r\nz\r\n\r\n", /* a malformed later size */
		"5\r\nhello\r\n0x\r\n\r\n",
		";ext\r\nhello\r\n0\r\n\r\n",	/* extension without a size */
	};

	(void) state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		char		text[256];
		result		r;

		snprintf(text, sizeof(text), CHUNKED_HEAD "%s", bad[i]);
		assert_outcome(text, false, BIG, HTTP1_BAD);
		assert_outcome(text, true, BIG, HTTP1_BAD);
		r = parse_ex(text, strlen(text), false, BIG);
		assert_int_equal(r.outcome, HTTP1_BAD);
		assert_string_equal(r.problem, "the response has a malformed chunk size");
		result_free(&r);
	}

	/* the size line (with extensions) is capped at 4096 bytes, line break included */
	{
		char	   *ok = make_padded(CHUNKED_HEAD "5;", 'e', 4096 - 4, "\r\nhello\r\n0\r\n\r\n");
		char	   *long_line = make_padded(CHUNKED_HEAD "5;", 'e', 4096 - 3,
											"\r\nhello\r\n0\r\n\r\n");
		char	   *no_end = make_padded(CHUNKED_HEAD "5;", 'e', 4096 - 2, "");
		char	   *no_end_short = make_padded(CHUNKED_HEAD "5;", 'e', 4096 - 3, "");

		assert_outcome(ok, false, BIG, HTTP1_COMPLETE);
		assert_outcome(long_line, false, BIG, HTTP1_BAD);
		/* 4096 bytes without a line break: no need to wait for more */
		assert_outcome(no_end, false, BIG, HTTP1_BAD);
		assert_outcome(no_end_short, false, BIG, HTTP1_INCOMPLETE);
		assert_outcome(no_end_short, true, BIG, HTTP1_CUT_OFF);
		free(ok);
		free(long_line);
		free(no_end);
		free(no_end_short);
	}
}

static void
test_chunked_data_without_line_break(void **state)
{
	result		r;

	(void) state;
	assert_outcome(CHUNKED_HEAD "5\r\nhelloX\r\n0\r\n\r\n", false, BIG, HTTP1_BAD);
	assert_outcome(CHUNKED_HEAD "5\r\nhello\rX\r\n0\r\n\r\n", false, BIG, HTTP1_BAD);
	assert_outcome(CHUNKED_HEAD "5\r\nhello0\r\n\r\n", false, BIG, HTTP1_BAD);
	/* the chunk is shorter than its size said: the next line is read as data */
	assert_outcome(CHUNKED_HEAD "7\r\nhello\r\n0\r\n\r\n", false, BIG, HTTP1_BAD);
	assert_outcome(CHUNKED_HEAD "4\r\nhello\r\n0\r\n\r\n", false, BIG, HTTP1_BAD);
	r = parse_ex(CHUNKED_HEAD "5\r\nhelloX", strlen(CHUNKED_HEAD "5\r\nhelloX"), false, BIG);
	assert_int_equal(r.outcome, HTTP1_BAD);
	assert_string_equal(r.problem, "the response has a chunk not followed by a line break");
	result_free(&r);
	/* as soon as the wrong byte is there, whether or not more may come */
	assert_outcome(CHUNKED_HEAD "5\r\nhelloX", true, BIG, HTTP1_BAD);
	assert_outcome(CHUNKED_HEAD "5\r\nhello\rX", false, BIG, HTTP1_BAD);
	/* a CR alone after the data may be followed by its LF */
	assert_outcome(CHUNKED_HEAD "5\r\nhello\r", false, BIG, HTTP1_INCOMPLETE);
	/* a bare LF after the data is accepted */
	assert_complete(CHUNKED_HEAD "5\r\nhello\n0\r\n\r\n", false, 200, true, "hello");
}

static void
test_chunked_too_large(void **state)
{
	(void) state;
	/* max_body bounds the total over all chunks */
	assert_outcome(CHUNKED_HEAD "6\r\nabcdef\r\n6\r\nghijkl\r\n0\r\n\r\n", false, 10,
				   HTTP1_TOO_LARGE);
	assert_outcome(CHUNKED_HEAD "6\r\nabcdef\r\n6\r\nghijkl\r\n0\r\n\r\n", false, 12,
				   HTTP1_COMPLETE);
	assert_outcome(CHUNKED_HEAD "5\r\nabcde\r\n5\r\nfghij\r\n0\r\n\r\n", false, 10,
				   HTTP1_COMPLETE);
	assert_outcome(CHUNKED_HEAD "b\r\nabcdefghijk\r\n0\r\n\r\n", false, 10, HTTP1_TOO_LARGE);
	/* known from the size line alone, before the data arrives */
	assert_outcome(CHUNKED_HEAD "b\r\n", false, 10, HTTP1_TOO_LARGE);
	assert_outcome(CHUNKED_HEAD "6\r\nabcdef\r\n5\r\n", false, 10, HTTP1_TOO_LARGE);
	assert_outcome(CHUNKED_HEAD "6\r\nabcdef\r\n4\r\n", false, 10, HTTP1_INCOMPLETE);
	assert_outcome(CHUNKED_HEAD "1\r\nx\r\n0\r\n\r\n", false, 0, HTTP1_TOO_LARGE);
	assert_outcome(CHUNKED_HEAD "0\r\n\r\n", false, 0, HTTP1_COMPLETE);
	assert_outcome(CHUNKED_HEAD "00000\r\n\r\n", false, 0, HTTP1_COMPLETE);
}

static void
test_chunked_hex_overflow(void **state)
{
	(void) state;
	/* 2^64 would wrap to 0, the last chunk, if it were not checked */
	assert_outcome(CHUNKED_HEAD "10000000000000000\r\n\r\n", false, SIZE_MAX, HTTP1_TOO_LARGE);
	assert_outcome(CHUNKED_HEAD "10000000000000005\r\nhello\r\n0\r\n\r\n", false, SIZE_MAX,
				   HTTP1_TOO_LARGE);
	assert_outcome(CHUNKED_HEAD "ffffffffffffffffffffffffffffffff\r\n", false, SIZE_MAX,
				   HTTP1_TOO_LARGE);
	assert_outcome(CHUNKED_HEAD "ffffffffffffffffffffffffffffffff\r\n", true, BIG,
				   HTTP1_TOO_LARGE);
	/* SIZE_MAX itself is a size, just one whose data never arrives */
#if SIZE_MAX == UINT64_MAX
	assert_outcome(CHUNKED_HEAD "ffffffffffffffff\r\nabc", false, SIZE_MAX, HTTP1_INCOMPLETE);
	assert_outcome(CHUNKED_HEAD "ffffffffffffffff\r\nabc", true, SIZE_MAX, HTTP1_CUT_OFF);
	/* a total that would wrap */
	assert_outcome(CHUNKED_HEAD "1\r\na\r\nffffffffffffffff\r\n", false, SIZE_MAX,
				   HTTP1_TOO_LARGE);
#endif
	/* leading zeros are not digits that count */
	assert_complete(CHUNKED_HEAD "000000000000000000000000000000000005\r\nhello\r\n0\r\n\r\n",
					false, 200, true, "hello");
}

/* ---- other framings ----------------------------------------------------- */

static void
test_close_delimited(void **state)
{
	static const char text[] =
		"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"ok\":true}";
	result		r;

	(void) state;
	check_every_prefix_at(__LINE__, text, strlen(text), BIG, 200, false,
						  "{\"ok\":true}", 11, true);
	r = check_complete_at(__LINE__, text, strlen(text), true, BIG, 200, false,
						  "{\"ok\":true}", 11, (size_t) -1);
	assert_int_equal(r.body_offset, (long) (strlen(text) - 11));
	result_free(&r);
	assert_outcome(text, false, BIG, HTTP1_INCOMPLETE);
	/* an empty body */
	assert_complete("HTTP/1.1 200 OK\r\n\r\n", true, 200, false, "");
	assert_outcome("HTTP/1.1 200 OK\r\n\r\n", false, BIG, HTTP1_INCOMPLETE);
	/* a body that looks like another response is still this body */
	assert_complete("HTTP/1.1 200 OK\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
					true, 200, false, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	/* max_body, before and at EOF */
	assert_outcome("HTTP/1.1 200 OK\r\n\r\n0123456789", true, 10, HTTP1_COMPLETE);
	assert_outcome("HTTP/1.1 200 OK\r\n\r\n0123456789", false, 10, HTTP1_INCOMPLETE);
	assert_outcome("HTTP/1.1 200 OK\r\n\r\n0123456789A", false, 10, HTTP1_TOO_LARGE);
	assert_outcome("HTTP/1.1 200 OK\r\n\r\n0123456789A", true, 10, HTTP1_TOO_LARGE);
	/* keep_alive false even when the server asks for it */
	assert_complete("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\nabc", true, 200, false,
					"abc");
}

static void
test_interim_responses(void **state)
{
	(void) state;
	assert_complete("HTTP/1.1 100 Continue\r\n\r\n" CL_OK("2") "ok", false, 200, true, "ok");
	/* several, with header fields, and a 1xx Content-Length means nothing */
	assert_complete("HTTP/1.1 100 Continue\r\n\r\n"
					"HTTP/1.1 102 Processing\r\nContent-Length: 10\r\n\r\n"
					"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
					CL_OK("2") "ok", false, 200, true, "ok");
	assert_complete("HTTP/1.1 100 Continue\n\nHTTP/1.1 200 OK\nContent-Length: 2\n\nok",
					false, 200, true, "ok");
	check_every_prefix("HTTP/1.1 100 Continue\r\n\r\n" CL_OK("2") "ok", 200, true, "ok");
	/* only an interim response so far */
	assert_outcome("HTTP/1.1 100 Continue\r\n\r\n", false, BIG, HTTP1_INCOMPLETE);
	assert_outcome("HTTP/1.1 100 Continue\r\n\r\n", true, BIG, HTTP1_CUT_OFF);
	assert_outcome("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200", true, BIG, HTTP1_CUT_OFF);
	/* a bad final head after a good interim one */
	assert_outcome("HTTP/1.1 100 Continue\r\n\r\nnot http\r\n\r\n", false, BIG, HTTP1_BAD);
	assert_outcome("HTTP/1.1 100 Continue\r\nbad field\r\n\r\n" CL_OK("2") "ok", false, BIG,
				   HTTP1_BAD);

	/* 101 Switching Protocols is not something we asked for */
	{
		result		r = parse_ex("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
								 strlen("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n"),
								 false, BIG);

		assert_int_equal(r.outcome, HTTP1_BAD);
		assert_string_equal(r.problem, "the server switched protocols");
		result_free(&r);
	}
	assert_outcome("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 101 Switching\r\n\r\n" CL_OK("0"),
				   false, BIG, HTTP1_BAD);
}

static void
test_no_body_statuses(void **state)
{
	result		r;

	(void) state;
	assert_complete("HTTP/1.1 204 No Content\r\n\r\n", false, 204, true, "");
	assert_complete("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", false, 304, true, "");
	/* no body whatever the framing fields say */
	assert_complete("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", false, 204, true, "");
	assert_complete("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
					false, 304, true, "");
	check_every_prefix("HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n", 204, true, "");
	/* bytes after it are not its body: they make the connection unusable */
	r = check_complete_at(__LINE__, "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello",
						  strlen("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello"),
						  false, BIG, 204, false, "", 0,
						  strlen("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"));
	result_free(&r);
	/* other statuses without framing are close-delimited */
	assert_outcome("HTTP/1.1 205 Reset Content\r\n\r\n", false, BIG, HTTP1_INCOMPLETE);
	assert_complete("HTTP/1.1 205 Reset Content\r\n\r\n", true, 205, false, "");
}

static void
test_http10(void **state)
{
	(void) state;
	assert_complete("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false, 200, false, "ok");
	assert_complete("HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok",
					false, 200, true, "ok");
	assert_complete("HTTP/1.0 200 OK\r\nconnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok",
					false, 200, true, "ok");
	assert_complete("HTTP/1.0 200 OK\r\nConnection: x, keep-alive ,y\r\nContent-Length: 2\r\n\r\nok",
					false, 200, true, "ok");
	assert_complete("HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 2\r\n\r\nok",
					false, 200, false, "ok");
	assert_complete("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nConnection: close\r\n"
					"Content-Length: 2\r\n\r\nok", false, 200, false, "ok");
	assert_complete("HTTP/1.0 200 OK\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nok",
					false, 200, false, "ok");
	assert_complete("HTTP/1.0 200 OK\r\nConnection: keep-alives\r\nContent-Length: 2\r\n\r\nok",
					false, 200, false, "ok");
	/* close-delimited */
	assert_outcome("HTTP/1.0 200 OK\r\n\r\nbody", false, BIG, HTTP1_INCOMPLETE);
	assert_complete("HTTP/1.0 200 OK\r\n\r\nbody", true, 200, false, "body");
	assert_complete("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\nbody", true, 200, false,
					"body");
	/* other minor versions count as HTTP/1.1 */
	assert_complete("HTTP/1.2 200 OK\r\nContent-Length: 2\r\n\r\nok", false, 200, true, "ok");
}

static void
test_connection_close(void **state)
{
	(void) state;
	assert_complete(CL_OK("2") "ok", false, 200, true, "ok");
	assert_complete("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
					false, 200, false, "ok");
	assert_complete("HTTP/1.1 200 OK\r\nConnection: CLOSE\r\nContent-Length: 2\r\n\r\nok",
					false, 200, false, "ok");
	assert_complete("HTTP/1.1 200 OK\r\nConnection: upgrade, close\r\nContent-Length: 2\r\n\r\nok",
					false, 200, false, "ok");
	assert_complete("HTTP/1.1 200 OK\r\nconnection:\tclose\t\r\nContent-Length: 2\r\n\r\nok",
					false, 200, false, "ok");
	assert_complete(CHUNKED_HEAD "0\r\n\r\n", false, 200, true, "");
	assert_complete("HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
					"2\r\nok\r\n0\r\n\r\n", false, 200, false, "ok");
	/* other options do not close */
	assert_complete("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
					false, 200, true, "ok");
	assert_complete("HTTP/1.1 200 OK\r\nConnection: closed\r\nContent-Length: 2\r\n\r\nok",
					false, 200, true, "ok");
	assert_complete("HTTP/1.1 200 OK\r\nConnection:\r\nContent-Length: 2\r\n\r\nok",
					false, 200, true, "ok");
	assert_complete("HTTP/1.1 200 OK\r\nX-Connection: close\r\nContent-Length: 2\r\n\r\nok",
					false, 200, true, "ok");
	/* a close in an interim response says nothing about the final one */
	assert_complete("HTTP/1.1 100 Continue\r\nConnection: close\r\n\r\n" CL_OK("2") "ok",
					false, 200, true, "ok");
}

static void
test_transfer_encodings(void **state)
{
	static const char *const bad[] = {
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
		"0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunk\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunkedx\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: \"chunked\"\r\n\r\n",
		"HTTP/1.1 204 No Content\r\nTransfer-Encoding: gzip\r\n\r\n",
		"HTTP/1.1 100 Continue\r\nTransfer-Encoding: br\r\n\r\n" CL_OK("0"),
	};
	result		r;

	(void) state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		assert_outcome(bad[i], false, BIG, HTTP1_BAD);
		assert_outcome(bad[i], true, BIG, HTTP1_BAD);
	}
	r = parse_ex(bad[0], strlen(bad[0]), false, BIG);
	assert_string_equal(r.problem, "the response uses a transfer coding other than chunked");
	result_free(&r);

	/* chunked and Content-Length: chunked frames it, the connection is not reused */
	r = check_complete_at(__LINE__,
						  "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
						  "2\r\nok\r\n0\r\n\r\n",
						  strlen("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n"
								 "Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"),
						  false, BIG, 200, false, "ok", 2, (size_t) -1);
	assert_true(r.body_decoded);
	result_free(&r);
	assert_complete("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n"
					"2\r\nok\r\n0\r\n\r\n", false, 200, false, "ok");
}

/* ---- head syntax -------------------------------------------------------- */

#define NUL_IN_VALUE "HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 2\r\n\r\nok"

static void
test_header_syntax(void **state)
{
	static const struct
	{
		const char *text;
		size_t		len;		/* 0: strlen */
		const char *problem;
	}			bad[] = {
		{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n folded\r\n\r\nok", 0,
		"the response header uses obsolete line folding"},
		{"HTTP/1.1 200 OK\r\nX-A: 1\r\n\tfolded\r\nContent-Length: 2\r\n\r\nok", 0,
		"the response header uses obsolete line folding"},
		/* whitespace between the status line and the first field */
		{"HTTP/1.1 200 OK\r\n Content-Length: 2\r\n\r\nok", 0,
		"the response header uses obsolete line folding"},
		{"HTTP/1.1 200 OK\r\nno colon here\r\nContent-Length: 2\r\n\r\nok", 0,
		"the response header has a malformed field"},
		{"HTTP/1.1 200 OK\r\n: empty name\r\nContent-Length: 2\r\n\r\nok", 0,
		"the response header has a malformed field"},
		{"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok", 0,
		"the response header has a malformed field"},
		{"HTTP/1.1 200 OK\r\nX(A): 1\r\nContent-Length: 2\r\n\r\nok", 0,
		"the response header has a malformed field"},
		{"HTTP/1.1 200 OK\r\nX\x80: 1\r\nContent-Length: 2\r\n\r\nok", 0,
		"the response header has a malformed field"},
		{"HTTP/1.1 200 OK\r\nX\rA: 1\r\nContent-Length: 2\r\n\r\nok", 0,
		"the response header has a malformed field"},
		{"HTTP/1.1 200 OK\r\nX-A: 1\x01\r\nContent-Length: 2\r\n\r\nok", 0,
		"the response header has a control character in a field"},
		{"HTTP/1.1 200 OK\r\nX-A: 1\x7f\r\nContent-Length: 2\r\n\r\nok", 0,
		"the response header has a control character in a field"},
		{"HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 2\r\n\r\nok", 0,
		"the response header has a control character in a field"},
		{"HTTP/1.1 200 OK\r\nX-A: a\r\r\nContent-Length: 2\r\n\r\nok", 0,
		"the response header has a control character in a field"},
		{"HTTP/1.1 200 OK\r\nContent-Length: 2\x1b\r\n\r\nok", 0,
		"the response header has a control character in a field"},
		{NUL_IN_VALUE, sizeof(NUL_IN_VALUE) - 1,
		"the response header has a control character in a field"},
		/* a lone CR line is not the end of the head */
		{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\r\n\r\nok", 0,
		"the response header has a malformed field"},
	};

	(void) state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		size_t		len = bad[i].len ? bad[i].len : strlen(bad[i].text);
		result		r = parse_ex(bad[i].text, len, false, BIG);

		if (r.outcome != HTTP1_BAD)
			fail_msg("case %zu: %s\n  got %s, want BAD", i, bad[i].text,
					 outcome_name(r.outcome));
		assert_string_equal(r.problem, bad[i].problem);
		result_free(&r);
		assert_outcome_len(bad[i].text, len, true, BIG, HTTP1_BAD);
	}

	/* accepted: tabs and obs-text in values, empty values, odd but valid names */
	assert_complete("HTTP/1.1 200 OK\r\nX-A:\tvalue\twith\ttabs\t\r\nContent-Length: 2\r\n\r\nok",
					false, 200, true, "ok");
	assert_complete("HTTP/1.1 200 OK\r\nX-A: caf\xc3\xa9 \xff\r\nContent-Length: 2\r\n\r\nok",
					false, 200, true, "ok");
	assert_complete("HTTP/1.1 200 OK\r\nX-Empty:\r\nX-Spaces:   \r\nContent-Length: 2\r\n\r\nok",
					false, 200, true, "ok");
	assert_complete("HTTP/1.1 200 OK\r\n!#$%&'*+-.^_`|~09azAZ: x\r\nContent-Length: 2\r\n\r\nok",
					false, 200, true, "ok");
	assert_complete("HTTP/1.1 200 OK\r\nX-A: a:b:c\r\nContent-Length: 2\r\n\r\nok",
					false, 200, true, "ok");
}

static void
test_bare_lf(void **state)
{
	(void) state;
	assert_complete("HTTP/1.1 200 OK\nContent-Length: 5\n\nhello", false, 200, true, "hello");
	assert_complete("HTTP/1.1 200 OK\r\nContent-Length: 5\n\r\nhello", false, 200, true, "hello");
	assert_complete("HTTP/1.1 200 OK\nContent-Length: 5\r\n\nhello", false, 200, true, "hello");
	assert_complete("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n5\nhello\n0\n\n",
					false, 200, true, "hello");
	assert_complete("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n5;x\nhello\r\n0\nT: 1\n\n",
					false, 200, true, "hello");
	check_every_prefix("HTTP/1.1 200 OK\nContent-Length: 5\n\nhello", 200, true, "hello");
	check_every_prefix("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n5\nhello\n0\n\n",
					   200, true, "hello");
	/* "\n\r\n" ends the head too, "\r\n\n" likewise; the body starts after it */
	assert_complete("HTTP/1.1 200 OK\nContent-Length: 1\n\r\nx", false, 200, true, "x");
}

static void
test_head_size_cap(void **state)
{
	/* "X-Fill: " (8) + fill + CRLF (2) + the final CRLF (2) */
	const size_t fixed = strlen(CL_OK("2")) + 8 + 2;
	char	   *at_cap;
	char	   *over;

	(void) state;
	/* a head of exactly HTTP1_MAX_HEAD_BYTES is accepted, one byte more is not */
	at_cap = make_padded("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Fill: ", 'a',
						 HTTP1_MAX_HEAD_BYTES - fixed, "\r\n\r\nok");
	assert_int_equal(strlen(at_cap), HTTP1_MAX_HEAD_BYTES + 2);
	assert_outcome(at_cap, false, BIG, HTTP1_COMPLETE);
	over = make_padded("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Fill: ", 'a',
					   HTTP1_MAX_HEAD_BYTES - fixed + 1, "\r\n\r\nok");
	assert_outcome(over, false, BIG, HTTP1_BAD);
	assert_outcome(over, true, BIG, HTTP1_BAD);
	{
		result		r = parse_ex(over, strlen(over), false, BIG);

		assert_string_equal(r.problem, "the response header is too large");
		result_free(&r);
	}
	/* no need to wait for the end once the cap is reached */
	assert_outcome_len(over, HTTP1_MAX_HEAD_BYTES, false, BIG, HTTP1_BAD);
	assert_outcome_len(over, HTTP1_MAX_HEAD_BYTES - 1, false, BIG, HTTP1_INCOMPLETE);
	assert_outcome_len(over, HTTP1_MAX_HEAD_BYTES - 1, true, BIG, HTTP1_CUT_OFF);
	free(at_cap);
	free(over);

	/* interim heads count towards the cap */
	{
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		char	   *prefix = make_padded(cont, 'x', 0, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Fill: ");

		at_cap = make_padded(prefix, 'a', HTTP1_MAX_HEAD_BYTES - fixed - strlen(cont),
							 "\r\n\r\nok");
		over = make_padded(prefix, 'a', HTTP1_MAX_HEAD_BYTES - fixed - strlen(cont) + 1,
						   "\r\n\r\nok");
		assert_outcome(at_cap, false, BIG, HTTP1_COMPLETE);
		assert_outcome(over, false, BIG, HTTP1_BAD);
		free(prefix);
		free(at_cap);
		free(over);
	}
	/* many fields rather than one long one */
	{
		protocol_buffer b = {0};

		assert_int_equal(protocol_buffer_append(&b, "HTTP/1.1 200 OK\r\n", 17), 0);
		while (b.len < HTTP1_MAX_HEAD_BYTES)
			assert_int_equal(protocol_buffer_append(&b, "X-Many: 0123456789\r\n", 20), 0);
		assert_int_equal(protocol_buffer_append(&b, "Content-Length: 0\r\n\r\n", 21), 0);
		assert_outcome_len(b.data, b.len, false, BIG, HTTP1_BAD);
		protocol_buffer_free(&b);
	}
}

static void
test_empty_and_garbage(void **state)
{
	result		r;

	(void) state;
	assert_outcome_len("", 0, false, BIG, HTTP1_INCOMPLETE);
	r = parse_ex("", 0, true, BIG);
	assert_int_equal(r.outcome, HTTP1_CUT_OFF);
	assert_string_equal(r.problem, "the server closed the connection without answering");
	result_free(&r);
	/* not HTTP, but nothing to judge until a head's end (or the cap) */
	assert_outcome("<html>", false, BIG, HTTP1_INCOMPLETE);
	assert_outcome("<html>", true, BIG, HTTP1_CUT_OFF);
	assert_outcome("\r\n", true, BIG, HTTP1_CUT_OFF);
	assert_outcome("<html>\r\n\r\n", false, BIG, HTTP1_BAD);
	assert_outcome("\r\n\r\n", false, BIG, HTTP1_BAD);
	assert_outcome("\n\n", false, BIG, HTTP1_BAD);
	/* a leading empty line is not allowed before the status line */
	assert_outcome("\r\n" CL_OK("2") "ok", false, BIG, HTTP1_BAD);
	/* a NUL byte inside the status line */
	assert_outcome_len("HTTP/1.1\0" "200 OK\r\n\r\n", 19, false, BIG, HTTP1_BAD);
}

static void
test_bytes_after_response(void **state)
{
	static const char two[] = CL_OK("2") "ok" CL_OK("3") "abc";
	const size_t first = strlen(CL_OK("2") "ok");
	result		r;

	(void) state;
	r = check_complete_at(__LINE__, two, strlen(two), false, BIG, 200, false, "ok", 2, first);
	result_free(&r);
	/* the rest is a response of its own */
	r = check_complete_at(__LINE__, two + first, strlen(two) - first, false, BIG, 200, true,
						  "abc", 3, (size_t) -1);
	result_free(&r);
	/* one stray byte is enough, at EOF or not */
	r = check_complete_at(__LINE__, CL_OK("2") "ok\n", first + 1, true, BIG, 200, false,
						  "ok", 2, first);
	result_free(&r);
	r = check_complete_at(__LINE__, CL_OK("2") "okX", first + 1, false, BIG, 200, false,
						  "ok", 2, first);
	result_free(&r);
	/* after a chunked body: the bytes after the trailer section */
	{
		static const char text[] = CHUNKED_HEAD "2\r\nok\r\n0\r\n\r\nHTTP/1.1";
		const size_t end = strlen(CHUNKED_HEAD "2\r\nok\r\n0\r\n\r\n");

		r = check_complete_at(__LINE__, text, strlen(text), false, BIG, 200, false,
							  "ok", 2, end);
		result_free(&r);
		r = check_complete_at(__LINE__, text, end, false, BIG, 200, true, "ok", 2, end);
		result_free(&r);
	}
	/* an HTTP/1.0 keep-alive response with more after it */
	r = check_complete_at(__LINE__,
						  "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nab",
						  strlen("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n"
								 "Content-Length: 1\r\n\r\nab"),
						  false, BIG, 200, false, "a", 1,
						  strlen("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n"
								 "Content-Length: 1\r\n\r\na"));
	result_free(&r);
}

static void
test_status_line(void **state)
{
	static const char *const good[] = {
		"HTTP/1.1 200 OK\r\n",
		"HTTP/1.1 200\r\n",		/* no reason phrase */
		"HTTP/1.1 200 \r\n",		/* an empty one */
		"HTTP/1.1 200 Very Fine Indeed\r\n",
		"HTTP/1.0 200 OK\r\n",
		"HTTP/1.9 200 OK\r\n",
	};
	static const struct
	{
		const char *line;
		int			status;
	}			statuses[] = {
		{"HTTP/1.1 201 Created\r\n", 201},
		{"HTTP/1.1 299 X\r\n", 299},
		{"HTTP/1.1 301 Moved\r\n", 301},
		{"HTTP/1.1 400 Bad Request\r\n", 400},
		{"HTTP/1.1 429 Too Many Requests\r\n", 429},
		{"HTTP/1.1 503 Service Unavailable\r\n", 503},
		{"HTTP/1.1 599 X\r\n", 599},
	};
	static const char *const bad[] = {
		"HTTP/2 200 OK\r\n",
		"HTTP/2.0 200 OK\r\n",
		"HTTP/1.10 200 OK\r\n",
		"HTTP/1.x 200 OK\r\n",
		"HTTP/1. 200 OK\r\n",
		"HTTP/0.9 200 OK\r\n",
		"http/1.1 200 OK\r\n",
		"HTTPS/1.1 200 OK\r\n",
		"ICY 200 OK\r\n",
		" HTTP/1.1 200 OK\r\n",
		"HTTP/1.1  200 OK\r\n",
		"HTTP/1.1\t200 OK\r\n",
		"HTTP/1.1 20 OK\r\n",
		"HTTP/1.1 20\r\n",
		"HTTP/1.1 2000 OK\r\n",
		"HTTP/1.1 200OK\r\n",
		"HTTP/1.1 2x0 OK\r\n",
		"HTTP/1.1 20x OK\r\n",
		"HTTP/1.1 x00 OK\r\n",
		"HTTP/1.1 -20 OK\r\n",
		"HTTP/1.1 +20 OK\r\n",
		"HTTP/1.1 600 X\r\n",
		"HTTP/1.1 999 X\r\n",
		"HTTP/1.1 099 X\r\n",
		"HTTP/1.1 000 X\r\n",
		"HTTP/1.1 \xd9\xa2\x30\x30 X\r\n",	/* a non-ASCII digit */
		"HTTP/1.1\r\n",
		"HTTP/1.1 \r\n",
		"HTTP/1.1 200\t OK\r\n",
	};

	(void) state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
	{
		char		text[128];

		snprintf(text, sizeof(text), "%sContent-Length: 2\r\n\r\nok", good[i]);
		assert_outcome(text, false, BIG, HTTP1_COMPLETE);
	}
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
	{
		char		text[128];
		result		r;

		snprintf(text, sizeof(text), "%sContent-Length: 2\r\n\r\nok", statuses[i].line);
		r = check_complete_at(__LINE__, text, strlen(text), false, BIG, statuses[i].status,
							  true, "ok", 2, (size_t) -1);
		result_free(&r);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		char		text[128];
		result		r;

		snprintf(text, sizeof(text), "%sContent-Length: 2\r\n\r\nok", bad[i]);
		r = parse_ex(text, strlen(text), false, BIG);
		if (r.outcome != HTTP1_BAD)
			fail_msg("%s\n  got %s, want BAD", text, outcome_name(r.outcome));
		assert_string_equal(r.problem,
							"the answer does not begin with an HTTP/1.x status line");
		result_free(&r);
	}
}

static void
test_decoded_buffer_reuse(void **state)
{
	protocol_buffer decoded = {0};
	http1_response out;
	static const char chunked[] = CHUNKED_HEAD "3\r\nabc\r\n0\r\n\r\n";
	static const char empty[] = CHUNKED_HEAD "0\r\n\r\n";
	static const char cl[] = CL_OK("2") "ok";
	char	   *copy;

	(void) state;
	/* a never-used buffer and an empty body: body is "" */
	copy = exact_copy(empty, strlen(empty));
	assert_int_equal(http1_parse_response(copy, strlen(empty), false, BIG, &decoded, &out),
					 HTTP1_COMPLETE);
	assert_non_null(out.body);
	assert_int_equal(out.body_len, 0);
	free(copy);

	/* the same buffer across responses: reset each time, never appended to */
	for (int round = 0; round < 3; round++)
	{
		copy = exact_copy(chunked, strlen(chunked));
		assert_int_equal(http1_parse_response(copy, strlen(chunked), false, BIG, &decoded, &out),
						 HTTP1_COMPLETE);
		assert_ptr_equal(out.body, decoded.data);
		assert_int_equal(out.body_len, 3);
		assert_int_equal(decoded.len, 3);
		assert_memory_equal(out.body, "abc", 3);
		assert_int_equal(decoded.data[3], '\0');
		free(copy);
	}
	/* after a non-empty one, an empty chunked body */
	copy = exact_copy(empty, strlen(empty));
	assert_int_equal(http1_parse_response(copy, strlen(empty), false, BIG, &decoded, &out),
					 HTTP1_COMPLETE);
	assert_int_equal(out.body_len, 0);
	assert_int_equal(decoded.len, 0);
	free(copy);

	/* a Content-Length body points into the input */
	copy = exact_copy(cl, strlen(cl));
	assert_int_equal(http1_parse_response(copy, strlen(cl), false, BIG, &decoded, &out),
					 HTTP1_COMPLETE);
	assert_ptr_equal(out.body, copy + strlen(CL_OK("2")));
	assert_int_equal(out.body_len, 2);
	free(copy);

	/* an incomplete chunked body claims no body */
	copy = exact_copy(chunked, 10);
	memset(&out, 0x5a, sizeof(out));
	assert_int_equal(http1_parse_response(copy, 10, false, BIG, &decoded, &out),
					 HTTP1_INCOMPLETE);
	assert_int_equal(out.body_len, 0);
	assert_int_equal(out.consumed, 0);
	free(copy);
	protocol_buffer_free(&decoded);
}

static void
test_max_body_zero(void **state)
{
	(void) state;
	assert_outcome(CL_OK("0"), false, 0, HTTP1_COMPLETE);
	assert_outcome(CL_OK("1") "x", false, 0, HTTP1_TOO_LARGE);
	assert_outcome(CHUNKED_HEAD "0\r\n\r\n", false, 0, HTTP1_COMPLETE);
	assert_outcome(CHUNKED_HEAD "1\r\nx\r\n0\r\n\r\n", false, 0, HTTP1_TOO_LARGE);
	assert_outcome("HTTP/1.1 200 OK\r\n\r\n", true, 0, HTTP1_COMPLETE);
	assert_outcome("HTTP/1.1 200 OK\r\n\r\nx", true, 0, HTTP1_TOO_LARGE);
	assert_outcome("HTTP/1.1 204 No Content\r\n\r\n", false, 0, HTTP1_COMPLETE);
}

/* ---- regressions: bugs found in http1.c as of 7cc2e97 -------------------- */

/*
 * REGRESSION (bug in 7cc2e97): a chunk-size line of only whitespace (or
 * whitespace and an extension) was taken as the last chunk, "0".
 * chunk-size is 1*HEXDIG (RFC 9112 7.1); walk_chunks tested "i == 0" after
 * skipping the whitespace, so the missing digits went unnoticed and the
 * response below came out COMPLETE with an empty body and keep_alive true.
 * It must be BAD ("the response has a malformed chunk size").
 */
static void
test_regression_chunk_size_only_whitespace(void **state)
{
	(void) state;
	assert_outcome(CHUNKED_HEAD " \r\n\r\n", false, BIG, HTTP1_BAD);
	assert_outcome(CHUNKED_HEAD "\t\r\n\r\n", false, BIG, HTTP1_BAD);
	assert_outcome(CHUNKED_HEAD " ;ext\r\n\r\n", false, BIG, HTTP1_BAD);
	/* and in the middle of a body: the rest must not be dropped silently */
	assert_outcome(CHUNKED_HEAD "5\r\nhello\r\n \r\n\r\n", false, BIG, HTTP1_BAD);
}

/*
 * REGRESSION (bug in 7cc2e97): a Content-Length whose value is only commas
 * ("," or ", ,") has no value at all, yet it was taken as if the field were
 * absent: the response was read as close-delimited (COMPLETE at EOF with
 * keep_alive false) instead of being rejected.  RFC 9110 8.6 / RFC 9112
 * 6.3 (5): an invalid Content-Length without Transfer-Encoding is an
 * unrecoverable framing error.  Must be BAD ("the response has an invalid
 * Content-Length"), as for an empty value.
 */
static void
test_regression_content_length_only_commas(void **state)
{
	(void) state;
	assert_outcome("HTTP/1.1 200 OK\r\nContent-Length: ,\r\n\r\nabc", true, BIG, HTTP1_BAD);
	assert_outcome("HTTP/1.1 200 OK\r\nContent-Length: , ,\r\n\r\nabc", true, BIG, HTTP1_BAD);
	assert_outcome("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: ,\r\n\r\nhello",
				   false, BIG, HTTP1_BAD);
	/* empty elements next to a value are fine */
	assert_complete("HTTP/1.1 200 OK\r\nContent-Length: ,5,\r\n\r\nhello", false, 200, true,
					"hello");
}

/*
 * REGRESSION (bug in 7cc2e97): an HTTP/1.0 response with Transfer-Encoding
 * must be treated as having faulty framing and the connection closed after
 * it (RFC 9112 6.1), even with "Connection: keep-alive"; http1.c reported
 * keep_alive true.
 */
static void
test_regression_http10_chunked_keep_alive(void **state)
{
	static const char text[] =
		"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"
		"2\r\nok\r\n0\r\n\r\n";
	result		r = parse_ex(text, strlen(text), false, BIG);
	http1_outcome o = r.outcome;
	bool		keep_alive = r.keep_alive;

	(void) state;
	result_free(&r);
	/* processing the body is fine; reusing the connection is not */
	if (o == HTTP1_COMPLETE)
		assert_false(keep_alive);
	else
		assert_int_equal(o, HTTP1_BAD);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_post_head_exact),
		cmocka_unit_test(test_post_head_lengths_and_append),
		cmocka_unit_test(test_post_head_is_parsable_shape),
		cmocka_unit_test(test_content_length_complete),
		cmocka_unit_test(test_content_length_incomplete_and_cut_off),
		cmocka_unit_test(test_content_length_too_large),
		cmocka_unit_test(test_content_length_lists),
		cmocka_unit_test(test_chunked_single),
		cmocka_unit_test(test_chunked_several),
		cmocka_unit_test(test_chunked_extensions),
		cmocka_unit_test(test_chunked_trailers),
		cmocka_unit_test(test_chunked_every_split),
		cmocka_unit_test(test_chunked_cut_off),
		cmocka_unit_test(test_chunked_malformed_size),
		cmocka_unit_test(test_chunked_data_without_line_break),
		cmocka_unit_test(test_chunked_too_large),
		cmocka_unit_test(test_chunked_hex_overflow),
		cmocka_unit_test(test_close_delimited),
		cmocka_unit_test(test_interim_responses),
		cmocka_unit_test(test_no_body_statuses),
		cmocka_unit_test(test_http10),
		cmocka_unit_test(test_connection_close),
		cmocka_unit_test(test_transfer_encodings),
		cmocka_unit_test(test_header_syntax),
		cmocka_unit_test(test_bare_lf),
		cmocka_unit_test(test_head_size_cap),
		cmocka_unit_test(test_empty_and_garbage),
		cmocka_unit_test(test_bytes_after_response),
		cmocka_unit_test(test_status_line),
		cmocka_unit_test(test_decoded_buffer_reuse),
		cmocka_unit_test(test_max_body_zero),
		cmocka_unit_test(test_regression_chunk_size_only_whitespace),
		cmocka_unit_test(test_regression_content_length_only_commas),
		cmocka_unit_test(test_regression_http10_chunked_keep_alive),
	};

	return cmocka_run_group_tests_name("http1", tests, NULL, NULL);
}
