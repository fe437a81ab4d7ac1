/*
 * test_usersig.c - cmocka tests of src/usersig.c (TLSSigAPIv2) and
 * test/common/usersig_verify.c.
 */
#include "test_common.h"

#include <inttypes.h>
#include <stdio.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "usersig.h"
#include "usersig_verify.h"

/* The public test vector (doc/api.md, "UserSig"). */
#define PUB_KEY "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
#define PUB_APPID UINT64_C(1400000000)
#define PUB_ID "0"
#define PUB_TIME INT64_C(1569910200)
#define PUB_EXPIRE INT64_C(15552000)
#define PUB_SIG "CpjuBdQs9ZwnuGAJR8onoOeI9fweX2vIMMY94iOJWJY="
#define PUB_USERSIG \
	"eJyrVgrxCdYrSy1SslIy0jNQ0gHzM1NS80oy0zLBwjDB4pTsxIKCzBQlK0MTAyiAyKRWFGQWpQLF" \
	"TU1NjeCiJZm5YDEzS0tDAyOYaHFmOtBM54KsUqeUwGLLqPK8UndHryCL-Lx8-1RPy7Ty1AijMk9f" \
	"30hLk0x-r3CvSFulWgAPYy*9"

#define KEYLEN(k) strlen(k)

/* ---- helpers ------------------------------------------------------------ */

/* base64 + the UserSig character swaps of arbitrary bytes; malloc'd. */
static char *
encode_bytes(const unsigned char *data, size_t len)
{
	char	   *out = malloc(4 * ((len + 2) / 3) + 1);
	int			n;

	assert_non_null(out);
	n = EVP_EncodeBlock((unsigned char *) out, data, (int) len);
	/* EVP_EncodeBlock writes 4 characters per 3 bytes, and a NUL */
	assert_int_equal(n, 4 * ((len + 2) / 3));
	assert_int_equal(out[n], '\0');
	for (int i = 0; i < n; i++)
	{
		if (out[i] == '+')
			out[i] = '*';
		else if (out[i] == '/')
			out[i] = '-';
		else if (out[i] == '=')
			out[i] = '_';
	}
	return out;
}

/* zlib-compresses text and encodes it as a UserSig; malloc'd. */
static char *
encode_doc(const char *text)
{
	size_t		len = strlen(text);
	uLongf		clen = compressBound((uLong) len);
	unsigned char *c = malloc(clen);
	char	   *out;

	assert_non_null(c);
	assert_int_equal(compress2(c, &clen, (const Bytef *) text, (uLong) len, 9), Z_OK);
	out = encode_bytes(c, clen);
	free(c);
	return out;
}

static usersig_status
decode_str(const char *s, usersig_document *doc)
{
	return usersig_decode(s, strlen(s), doc);
}

static usersig_status
decode_doc(const char *json)
{
	usersig_document doc;
	char	   *sig = encode_doc(json);
	usersig_status st = decode_str(sig, &doc);

	free(sig);
	return st;
}

static usersig_status
verify_str(const char *s, const char *key, const char *id, uint64_t appid,
		   int64_t now)
{
	return usersig_verify(s, strlen(s), key, key ? strlen(key) : 0, id, appid,
						  now, NULL);
}

/* A well-formed document for the public vector with one field replaced. */
static char *
pub_doc_with(const char *ver, const char *id, const char *appid,
			 const char *expire, const char *time, const char *sig)
{
	char		buf[2048];
	int			n;

	n = snprintf(buf, sizeof(buf),
				 "{\"TLS.ver\":%s,\"TLS.identifier\":%s,\"TLS.sdkappid\":%s,"
				 "\"TLS.expire\":%s,\"TLS.time\":%s,\"TLS.sig\":%s}",
				 ver ? ver : "\"2.0\"", id ? id : "\"0\"",
				 appid ? appid : "1400000000", expire ? expire : "15552000",
				 time ? time : "1569910200", sig ? sig : "\"" PUB_SIG "\"");
	assert_true(n > 0 && (size_t) n < sizeof(buf));
	return encode_doc(buf);
}

/* ---- HMAC vectors ------------------------------------------------------- */

static void
test_hmac_public_vector(void **state)
{
	char		out[USERSIG_HMAC_B64_LEN + 1];

	(void) state;
	memset(out, 'x', sizeof(out));
	assert_int_equal(usersig_hmac_base64(PUB_KEY, KEYLEN(PUB_KEY), PUB_ID, PUB_APPID,
										 PUB_TIME, PUB_EXPIRE, out), USERSIG_OK);
	assert_string_equal(out, PUB_SIG);
}

static void
test_hmac_independent_vectors(void **state)
{
	char		out[USERSIG_HMAC_B64_LEN + 1];

	(void) state;

	/*
	 * Computed independently with:
	 *   printf 'TLS.identifier:admin\nTLS.sdkappid:1400012345\nTLS.time:1700000000\nTLS.expire:86400\n' \
	 *     | openssl dgst -sha256 -hmac 'my-secret-key' -binary | base64
	 */
	assert_int_equal(usersig_hmac_base64("my-secret-key", 13, "admin",
										 UINT64_C(1400012345), INT64_C(1700000000),
										 INT64_C(86400), out), USERSIG_OK);
	assert_string_equal(out, "pQ/OBYDVZH7TBVzHR17ix8TO12H1L5R7ZqpKX2ARfFw=");

	/*
	 * Identifier with non-ASCII, a quote and a backslash; computed with:
	 *   python3 -c "import hmac,hashlib,base64; print(base64.b64encode(hmac.new(
	 *     b'my-secret-key', 'TLS.identifier:ユーザー\"\\\\x\nTLS.sdkappid:1400012345\n'
	 *     'TLS.time:1700000000\nTLS.expire:86400\n'.encode(), hashlib.sha256).digest()))"
	 * (identifier bytes: e3 83 a6 e3 83 bc e3 82 b6 e3 83 bc 22 5c 78)
	 */
	assert_int_equal(usersig_hmac_base64("my-secret-key", 13,
										 "\xe3\x83\xa6\xe3\x83\xbc\xe3\x82\xb6\xe3\x83\xbc" "\"\\x",
										 UINT64_C(1400012345), INT64_C(1700000000),
										 INT64_C(86400), out), USERSIG_OK);
	assert_string_equal(out, "RGIpTlm+OwuOzdCPRWf07Pc3RFZO4qF4bCos4BOOH84=");
}

static void
test_hmac_key_is_text_not_hex(void **state)
{
	char		a[USERSIG_HMAC_B64_LEN + 1];
	char		b[USERSIG_HMAC_B64_LEN + 1];

	(void) state;
	/* key_len is honoured: a shorter prefix of the key gives another digest */
	assert_int_equal(usersig_hmac_base64(PUB_KEY, KEYLEN(PUB_KEY), PUB_ID, PUB_APPID,
										 PUB_TIME, PUB_EXPIRE, a), USERSIG_OK);
	assert_int_equal(usersig_hmac_base64(PUB_KEY, KEYLEN(PUB_KEY) - 1, PUB_ID, PUB_APPID,
										 PUB_TIME, PUB_EXPIRE, b), USERSIG_OK);
	assert_string_not_equal(a, b);
}

static void
test_hmac_invalid_arguments(void **state)
{
	char		out[USERSIG_HMAC_B64_LEN + 1];
	char		longid[USERSIG_MAX_IDENTIFIER + 2];

	(void) state;
	assert_int_equal(usersig_hmac_base64(NULL, 0, "a", 1, 1, 1, out),
					 USERSIG_INVALID_ARGUMENT);
	assert_int_equal(usersig_hmac_base64("k", 1, NULL, 1, 1, 1, out),
					 USERSIG_INVALID_ARGUMENT);
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';	/* 257 bytes */
	assert_int_equal(usersig_hmac_base64("k", 1, longid, 1, 1, 1, out),
					 USERSIG_INVALID_ARGUMENT);
	longid[USERSIG_MAX_IDENTIFIER] = '\0';	/* 256 bytes: allowed */
	assert_int_equal(usersig_hmac_base64("k", 1, longid, UINT64_MAX, INT64_MAX,
										 INT64_MIN, out), USERSIG_OK);
	assert_int_equal(strlen(out), USERSIG_HMAC_B64_LEN);
}

/* ---- the public UserSig ------------------------------------------------- */

static void
test_public_usersig_decodes(void **state)
{
	usersig_document doc;

	(void) state;
	assert_int_equal(decode_str(PUB_USERSIG, &doc), USERSIG_OK);
	assert_string_equal(doc.version, "2.0");
	assert_string_equal(doc.identifier, PUB_ID);
	assert_true(doc.sdkappid == PUB_APPID);
	assert_true(doc.time == PUB_TIME);
	assert_true(doc.expire == PUB_EXPIRE);
	assert_string_equal(doc.sig, PUB_SIG);
}

static void
test_public_usersig_verifies_then_expires(void **state)
{
	usersig_document doc;

	(void) state;
	/* inside the validity window */
	assert_int_equal(usersig_verify(PUB_USERSIG, strlen(PUB_USERSIG), PUB_KEY,
									KEYLEN(PUB_KEY), PUB_ID, PUB_APPID,
									PUB_TIME + 3600, &doc), USERSIG_OK);
	assert_string_equal(doc.sig, PUB_SIG);
	assert_int_equal(verify_str(PUB_USERSIG, PUB_KEY, PUB_ID, PUB_APPID, PUB_TIME),
					 USERSIG_OK);
	/* generated "before" time is not rejected: only the end is checked */
	assert_int_equal(verify_str(PUB_USERSIG, PUB_KEY, PUB_ID, PUB_APPID, 0),
					 USERSIG_OK);
	/* boundary: now == time + expire is still valid, one second later is not */
	assert_int_equal(verify_str(PUB_USERSIG, PUB_KEY, PUB_ID, PUB_APPID,
								PUB_TIME + PUB_EXPIRE), USERSIG_OK);
	assert_int_equal(verify_str(PUB_USERSIG, PUB_KEY, PUB_ID, PUB_APPID,
								PUB_TIME + PUB_EXPIRE + 1), USERSIG_EXPIRED);
	assert_int_equal(verify_str(PUB_USERSIG, PUB_KEY, PUB_ID, PUB_APPID,
								INT64_MAX), USERSIG_EXPIRED);
}

static void
test_generate_public_inputs(void **state)
{
	char	   *sig = NULL;
	usersig_document doc;

	(void) state;
	assert_int_equal(usersig_generate(PUB_KEY, KEYLEN(PUB_KEY), PUB_ID, PUB_APPID,
									  PUB_TIME, PUB_EXPIRE, &sig), USERSIG_OK);
	assert_non_null(sig);
	/* only UserSig characters, no standard-base64 specials left */
	assert_int_equal(strspn(sig, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
							"0123456789*-_"), strlen(sig));
	assert_int_equal(decode_str(sig, &doc), USERSIG_OK);
	assert_string_equal(doc.version, "2.0");
	assert_string_equal(doc.identifier, PUB_ID);
	assert_true(doc.sdkappid == PUB_APPID);
	assert_true(doc.time == PUB_TIME);
	assert_true(doc.expire == PUB_EXPIRE);
	assert_string_equal(doc.sig, PUB_SIG);
	free(sig);
}

static void
test_generate_invalid_arguments(void **state)
{
	char	   *sig = (char *) 1;

	(void) state;
	assert_int_equal(usersig_generate("k", 1, "a", 1, 1, 1, NULL),
					 USERSIG_INVALID_ARGUMENT);
	assert_int_equal(usersig_generate(NULL, 0, "a", 1, 1, 1, &sig),
					 USERSIG_INVALID_ARGUMENT);
	assert_null(sig);
	sig = (char *) 1;
	assert_int_equal(usersig_generate("k", 1, NULL, 1, 1, 1, &sig),
					 USERSIG_INVALID_ARGUMENT);
	assert_null(sig);
}

/* ---- round trips -------------------------------------------------------- */

static void
round_trip(const char *key, const char *id, uint64_t appid, int64_t t, int64_t e)
{
	char	   *sig = NULL;
	usersig_document doc;
	char		hmac[USERSIG_HMAC_B64_LEN + 1];

	assert_int_equal(usersig_generate(key, strlen(key), id, appid, t, e, &sig),
					 USERSIG_OK);
	assert_int_equal(usersig_verify(sig, strlen(sig), key, strlen(key), id, appid,
									t + 1, &doc), USERSIG_OK);
	assert_string_equal(doc.identifier, id);
	assert_true(doc.sdkappid == appid);
	assert_true(doc.time == t);
	assert_true(doc.expire == e);
	assert_int_equal(usersig_hmac_base64(key, strlen(key), id, appid, t, e, hmac),
					 USERSIG_OK);
	assert_string_equal(doc.sig, hmac);
	/* and every other check still bites on a generated UserSig */
	assert_int_equal(verify_str(sig, "other-key", id, appid, t), USERSIG_BAD_SIGNATURE);
	assert_int_equal(verify_str(sig, key, "someone-else", appid, t),
					 USERSIG_IDENTIFIER_MISMATCH);
	assert_int_equal(verify_str(sig, key, id, appid + 1, t), USERSIG_SDKAPPID_MISMATCH);
	assert_int_equal(verify_str(sig, key, id, appid, t + e + 1), USERSIG_EXPIRED);
	free(sig);
}

static void
test_round_trip_plain(void **state)
{
	(void) state;
	round_trip(PUB_KEY, "administrator", UINT64_C(1400012345), INT64_C(1700000000), 86400);
	round_trip("k", "a", 1, 0, 0 + 10);
	round_trip("x", "user_1", UINT64_C(20000000), INT64_C(1), INT64_C(180) * 86400);
}

static void
test_round_trip_special_identifiers(void **state)
{
	char		longid[USERSIG_MAX_IDENTIFIER + 1];
	char		ctl[32];

	(void) state;
	round_trip(PUB_KEY, "a\"b", PUB_APPID, PUB_TIME, PUB_EXPIRE);
	round_trip(PUB_KEY, "back\\slash", PUB_APPID, PUB_TIME, PUB_EXPIRE);
	round_trip(PUB_KEY, "\"\\\"\\", PUB_APPID, PUB_TIME, PUB_EXPIRE);
	round_trip(PUB_KEY, "sl/ash", PUB_APPID, PUB_TIME, PUB_EXPIRE);
	round_trip(PUB_KEY, "\xe7\x94\xa8\xe6\x88\xb7\xe4\xb8\x80", PUB_APPID, PUB_TIME,
			   PUB_EXPIRE);	/* 用户一 */
	round_trip(PUB_KEY, "\xf0\x9f\x98\x80 emoji", PUB_APPID, PUB_TIME, PUB_EXPIRE);
	round_trip(PUB_KEY, "tab\there\nnewline\r", PUB_APPID, PUB_TIME, PUB_EXPIRE);
	for (int i = 0; i < 31; i++)
		ctl[i] = (char) (i + 1);
	ctl[31] = '\0';
	round_trip(PUB_KEY, ctl, PUB_APPID, PUB_TIME, PUB_EXPIRE);
	round_trip(PUB_KEY, "", PUB_APPID, PUB_TIME, PUB_EXPIRE);
	memset(longid, '"', USERSIG_MAX_IDENTIFIER);	/* worst case escaping */
	longid[USERSIG_MAX_IDENTIFIER] = '\0';
	round_trip(PUB_KEY, longid, PUB_APPID, PUB_TIME, PUB_EXPIRE);
	memset(longid, '\x01', USERSIG_MAX_IDENTIFIER);
	round_trip(PUB_KEY, longid, PUB_APPID, PUB_TIME, PUB_EXPIRE);
}

/*
 * Regression test, fixed bug: usersig_generate takes a uint64_t sdkappid and any int64_t
 * time/expire, but usersig_decode reads sdkappid through
 * json_object_get_int64 (clamped to INT64_MAX) and rejects negative
 * time/expire, so generate hands out UserSigs that decode/verify refuse or
 * misread.  Either generate should refuse them (USERSIG_INVALID_ARGUMENT) or
 * decode should read them back.
 */
static void
test_generate_output_always_decodes(void **state)
{
	struct
	{
		uint64_t	appid;
		int64_t		t;
		int64_t		e;
	}			cases[] = {
		{UINT64_C(9223372036854775808), PUB_TIME, PUB_EXPIRE},
		{UINT64_MAX, PUB_TIME, PUB_EXPIRE},
		{PUB_APPID, -1, PUB_EXPIRE},
		{PUB_APPID, PUB_TIME, -1},
	};

	int			failures = 0;

	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char	   *sig = NULL;
		usersig_document doc;
		usersig_status st;

		st = usersig_generate(PUB_KEY, KEYLEN(PUB_KEY), PUB_ID, cases[i].appid,
							  cases[i].t, cases[i].e, &sig);
		if (st != USERSIG_OK)
		{
			assert_int_equal(st, USERSIG_INVALID_ARGUMENT);
			continue;
		}
		st = decode_str(sig, &doc);
		free(sig);
		if (st != USERSIG_OK)
		{
			print_error("case %zu (sdkappid %" PRIu64 ", time %" PRId64 ", expire %"
						PRId64 "): generate said ok, decode says \"%s\"\n", i,
						cases[i].appid, cases[i].t, cases[i].e, usersig_status_text(st));
			failures++;
		}
		else if (doc.sdkappid != cases[i].appid || doc.time != cases[i].t ||
				 doc.expire != cases[i].e)
		{
			print_error("case %zu: generated sdkappid %" PRIu64 " decodes as %" PRIu64
						"\n", i, cases[i].appid, doc.sdkappid);
			failures++;
		}
	}
	if (failures)
		fail_msg("%d generated UserSig(s) do not decode to their inputs", failures);
}

/* ---- each failure status ------------------------------------------------ */

static void
test_empty(void **state)
{
	usersig_document doc;

	(void) state;
	assert_int_equal(usersig_decode(NULL, 0, &doc), USERSIG_EMPTY);
	assert_int_equal(usersig_decode("", 0, &doc), USERSIG_EMPTY);
	assert_int_equal(usersig_decode(PUB_USERSIG, 0, &doc), USERSIG_EMPTY);
	assert_int_equal(usersig_decode(NULL, 10, &doc), USERSIG_EMPTY);
	assert_int_equal(usersig_decode("abcd", 4, NULL), USERSIG_INVALID_ARGUMENT);
	assert_int_equal(usersig_verify("", 0, PUB_KEY, KEYLEN(PUB_KEY), PUB_ID, PUB_APPID,
									PUB_TIME, NULL), USERSIG_EMPTY);
}

static void
test_bad_base64_chars(void **state)
{
	static const char *bad[] = {
		"eJy!",
		"eJy rVgrx",
		"eJyrVgrx\n",
		" eJyrVgrx",
		"eJy.",
		"eJy,",
		"eJy~",
		"eJy\x80",
		"eJy\xff",
	};
	usersig_document doc;
	char		buf[USERSIG_MAX_ENCODED];

	(void) state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(decode_str(bad[i], &doc), USERSIG_BAD_ENCODING);
	/* an embedded NUL counts as a bad character, length-based */
	assert_int_equal(usersig_decode("eJy\0rVgr", 8, &doc), USERSIG_BAD_ENCODING);
	/* the public UserSig with one bad character in the middle or at the end */
	strcpy(buf, PUB_USERSIG);
	buf[50] = '#';
	assert_int_equal(decode_str(buf, &doc), USERSIG_BAD_ENCODING);
	strcpy(buf, PUB_USERSIG);
	strcat(buf, "\n");
	assert_int_equal(decode_str(buf, &doc), USERSIG_BAD_ENCODING);
	assert_int_equal(verify_str(buf, PUB_KEY, PUB_ID, PUB_APPID, PUB_TIME),
					 USERSIG_BAD_ENCODING);
}

static void
test_bad_padding(void **state)
{
	static const char *bad[] = {
		"A",					/* 1 mod 4: no byte */
		"AAAAA",
		"_",
		"__",
		"____",
		"=",
		"AA_",					/* 2 data + 1 pad: not a multiple of 4 */
		"AAA__",				/* 3 data + 2 pad */
		"A___",					/* 3 pads */
		"AA__AA",				/* padding in the middle */
		"AA==AA",
		"AA_A",
	};
	usersig_document doc;
	char		buf[USERSIG_MAX_ENCODED];

	(void) state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		usersig_status st = decode_str(bad[i], &doc);

		if (st != USERSIG_BAD_ENCODING)
			fail_msg("\"%s\" decodes to %s", bad[i], usersig_status_text(st));
	}
	/* the public UserSig (no padding needed: 176 chars) plus stray padding */
	strcpy(buf, PUB_USERSIG);
	strcat(buf, "_");
	assert_int_equal(decode_str(buf, &doc), USERSIG_BAD_ENCODING);
	strcpy(buf, PUB_USERSIG);
	strcat(buf, "__");
	assert_int_equal(decode_str(buf, &doc), USERSIG_BAD_ENCODING);
	/* the public UserSig minus one character: 175 = 3 mod 4, still decodes
	 * to bytes, but the zlib stream is cut */
	assert_int_equal(usersig_decode(PUB_USERSIG, strlen(PUB_USERSIG) - 1, &doc),
					 USERSIG_BAD_COMPRESSION);
}

static void
test_padding_forms_accepted(void **state)
{
	/* both '_' (UserSig) and '=' (standard) padding decode, and none */
	char	   *sig = encode_doc("{\"TLS.ver\":\"2.0\",\"TLS.identifier\":\"ab\","
								 "\"TLS.sdkappid\":1,\"TLS.expire\":1,\"TLS.time\":1,"
								 "\"TLS.sig\":\"x\"}");
	size_t		len = strlen(sig);
	size_t		pads = 0;
	usersig_document doc;

	(void) state;
	while (len > 0 && sig[len - 1] == '_')
	{
		len--;
		pads++;
	}
	if (pads == 0)
	{
		/* a document one byte shorter or longer needs padding; try again */
		free(sig);
		sig = encode_doc("{\"TLS.ver\":\"2.0\",\"TLS.identifier\":\"abc\","
						 "\"TLS.sdkappid\":1,\"TLS.expire\":1,\"TLS.time\":1,"
						 "\"TLS.sig\":\"x\"}");
		len = strlen(sig);
		while (len > 0 && sig[len - 1] == '_')
		{
			len--;
			pads++;
		}
	}
	assert_true(pads > 0);
	assert_int_equal(usersig_decode(sig, len + pads, &doc), USERSIG_OK);
	assert_int_equal(usersig_decode(sig, len, &doc), USERSIG_OK);	/* unpadded */
	for (size_t i = len; i < len + pads; i++)
		sig[i] = '=';
	assert_int_equal(usersig_decode(sig, len + pads, &doc), USERSIG_OK);
	assert_true(strcmp(doc.identifier, "ab") == 0 || strcmp(doc.identifier, "abc") == 0);
	free(sig);
}

static void
test_standard_base64_alphabet_accepted(void **state)
{
	char		buf[256];
	usersig_document doc;

	(void) state;
	strcpy(buf, PUB_USERSIG);
	for (char *p = buf; *p; p++)
	{
		if (*p == '*')
			*p = '+';
		else if (*p == '-')
			*p = '/';
	}
	assert_int_equal(decode_str(buf, &doc), USERSIG_OK);
	assert_string_equal(doc.sig, PUB_SIG);
}

static void
test_not_zlib(void **state)
{
	static const unsigned char junk[] = "this is not a zlib stream at all";
	static const unsigned char gz[] = {0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 3};
	unsigned char stored[64];
	char	   *sig;
	usersig_document doc;
	uLongf		clen = sizeof(stored);

	(void) state;
	sig = encode_bytes(junk, sizeof(junk) - 1);
	assert_int_equal(decode_str(sig, &doc), USERSIG_BAD_COMPRESSION);
	free(sig);
	sig = encode_bytes(gz, sizeof(gz));
	assert_int_equal(decode_str(sig, &doc), USERSIG_BAD_COMPRESSION);
	free(sig);
	assert_int_equal(decode_str("AAAA", &doc), USERSIG_BAD_COMPRESSION);
	/* a valid zlib stream cut short */
	assert_int_equal(compress2(stored, &clen, (const Bytef *) "{\"a\":1}", 7, 9), Z_OK);
	sig = encode_bytes(stored, clen - 2);
	assert_int_equal(decode_str(sig, &doc), USERSIG_BAD_COMPRESSION);
	free(sig);
	/* a valid zlib stream with a corrupted Adler-32 */
	stored[clen - 1] ^= 0x55;
	sig = encode_bytes(stored, clen);
	assert_int_equal(decode_str(sig, &doc), USERSIG_BAD_COMPRESSION);
	free(sig);
}

static void
test_inflates_too_large(void **state)
{
	/* a zlib bomb: 1 MiB of spaces around a valid document */
	size_t		n = 1 << 20;
	char	   *text = malloc(n + 200);
	char	   *sig;
	usersig_document doc;

	(void) state;
	assert_non_null(text);
	memset(text, ' ', n);
	strcpy(text + n, "{\"TLS.ver\":\"2.0\",\"TLS.identifier\":\"0\",\"TLS.sdkappid\":1,"
		   "\"TLS.expire\":1,\"TLS.time\":1,\"TLS.sig\":\"x\"}");
	sig = encode_doc(text);
	assert_true(strlen(sig) <= USERSIG_MAX_ENCODED);	/* gets past the length check */
	assert_int_equal(decode_str(sig, &doc), USERSIG_BAD_COMPRESSION);
	free(sig);
	free(text);
}

static void
test_zlib_of_non_json(void **state)
{
	static const char *bad[] = {
		"hello",
		"",
		"{",
		"{\"TLS.ver\":\"2.0\"",
		"[1,2,3]",
		"\"2.0\"",
		"42",
		"null",
		/* a valid document followed by junk */
		"{\"TLS.ver\":\"2.0\",\"TLS.identifier\":\"0\",\"TLS.sdkappid\":1400000000,"
		"\"TLS.expire\":15552000,\"TLS.time\":1569910200,\"TLS.sig\":\"" PUB_SIG "\"}xyz",
		/* two documents */
		"{\"TLS.ver\":\"2.0\",\"TLS.identifier\":\"0\",\"TLS.sdkappid\":1400000000,"
		"\"TLS.expire\":15552000,\"TLS.time\":1569910200,\"TLS.sig\":\"" PUB_SIG "\"}{}",
	};

	(void) state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		usersig_status st = decode_doc(bad[i]);

		if (st != USERSIG_BAD_DOCUMENT)
			fail_msg("document %zu decodes to %s", i, usersig_status_text(st));
	}
}

static void
test_document_with_nul_byte(void **state)
{
	/* the inflated document holds a NUL right after a valid JSON object */
	static const char text[] =
		"{\"TLS.ver\":\"2.0\",\"TLS.identifier\":\"0\",\"TLS.sdkappid\":1400000000,"
		"\"TLS.expire\":15552000,\"TLS.time\":1569910200,\"TLS.sig\":\"" PUB_SIG "\"}\0junk";
	unsigned char c[512];
	uLongf		clen = sizeof(c);
	char	   *sig;
	usersig_document doc;

	(void) state;
	assert_int_equal(compress2(c, &clen, (const Bytef *) text, sizeof(text) - 1, 9), Z_OK);
	sig = encode_bytes(c, clen);
	assert_int_equal(decode_str(sig, &doc), USERSIG_BAD_DOCUMENT);
	free(sig);
}

static void
check_doc(const char *ver, const char *id, const char *appid, const char *expire,
		  const char *time, const char *sig, usersig_status want)
{
	char	   *s = pub_doc_with(ver, id, appid, expire, time, sig);
	usersig_document doc;
	usersig_status st = decode_str(s, &doc);

	free(s);
	if (st != want)
		fail_msg("ver=%s id=%s appid=%s expire=%s time=%s sig=%s: got %s, want %s",
				 ver ? ver : "-", id ? id : "-", appid ? appid : "-",
				 expire ? expire : "-", time ? time : "-", sig ? sig : "-",
				 usersig_status_text(st), usersig_status_text(want));
}

static void
test_document_baseline(void **state)
{
	char	   *s = pub_doc_with(NULL, NULL, NULL, NULL, NULL, NULL);

	(void) state;
	/* the helper's unmodified document is the public one, and verifies */
	assert_int_equal(verify_str(s, PUB_KEY, PUB_ID, PUB_APPID, PUB_TIME), USERSIG_OK);
	free(s);
}

static void
test_document_missing_fields(void **state)
{
	static const char *docs[] = {
		"{\"TLS.identifier\":\"0\",\"TLS.sdkappid\":1400000000,\"TLS.expire\":15552000,"
		"\"TLS.time\":1569910200,\"TLS.sig\":\"" PUB_SIG "\"}",
		"{\"TLS.ver\":\"2.0\",\"TLS.sdkappid\":1400000000,\"TLS.expire\":15552000,"
		"\"TLS.time\":1569910200,\"TLS.sig\":\"" PUB_SIG "\"}",
		"{\"TLS.ver\":\"2.0\",\"TLS.identifier\":\"0\",\"TLS.expire\":15552000,"
		"\"TLS.time\":1569910200,\"TLS.sig\":\"" PUB_SIG "\"}",
		"{\"TLS.ver\":\"2.0\",\"TLS.identifier\":\"0\",\"TLS.sdkappid\":1400000000,"
		"\"TLS.time\":1569910200,\"TLS.sig\":\"" PUB_SIG "\"}",
		"{\"TLS.ver\":\"2.0\",\"TLS.identifier\":\"0\",\"TLS.sdkappid\":1400000000,"
		"\"TLS.expire\":15552000,\"TLS.sig\":\"" PUB_SIG "\"}",
		"{\"TLS.ver\":\"2.0\",\"TLS.identifier\":\"0\",\"TLS.sdkappid\":1400000000,"
		"\"TLS.expire\":15552000,\"TLS.time\":1569910200}",
		"{}",
		/* misspelt / differently cased names are not the fields */
		"{\"TLS.Ver\":\"2.0\",\"TLS.identifier\":\"0\",\"TLS.sdkappid\":1400000000,"
		"\"TLS.expire\":15552000,\"TLS.time\":1569910200,\"TLS.sig\":\"" PUB_SIG "\"}",
		"{\"ver\":\"2.0\",\"identifier\":\"0\",\"sdkappid\":1400000000,"
		"\"expire\":15552000,\"time\":1569910200,\"sig\":\"" PUB_SIG "\"}",
	};

	(void) state;
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
	{
		usersig_status st = decode_doc(docs[i]);

		if (st != USERSIG_BAD_DOCUMENT)
			fail_msg("document %zu decodes to %s", i, usersig_status_text(st));
	}
}

static void
test_document_wrong_types(void **state)
{
	(void) state;
	/* TLS.ver */
	check_doc("2.0", NULL, NULL, NULL, NULL, NULL, USERSIG_BAD_DOCUMENT);
	check_doc("2", NULL, NULL, NULL, NULL, NULL, USERSIG_BAD_DOCUMENT);
	check_doc("null", NULL, NULL, NULL, NULL, NULL, USERSIG_BAD_DOCUMENT);
	check_doc("[\"2.0\"]", NULL, NULL, NULL, NULL, NULL, USERSIG_BAD_DOCUMENT);
	/* TLS.identifier */
	check_doc(NULL, "0", NULL, NULL, NULL, NULL, USERSIG_BAD_DOCUMENT);
	check_doc(NULL, "null", NULL, NULL, NULL, NULL, USERSIG_BAD_DOCUMENT);
	check_doc(NULL, "{\"a\":\"0\"}", NULL, NULL, NULL, NULL, USERSIG_BAD_DOCUMENT);
	check_doc(NULL, "true", NULL, NULL, NULL, NULL, USERSIG_BAD_DOCUMENT);
	/* TLS.sdkappid / expire / time: numbers (decimal strings tolerated) */
	check_doc(NULL, NULL, "true", NULL, NULL, NULL, USERSIG_BAD_DOCUMENT);
	check_doc(NULL, NULL, "1400000000.0", NULL, NULL, NULL, USERSIG_BAD_DOCUMENT);
	check_doc(NULL, NULL, "1.4e9", NULL, NULL, NULL, USERSIG_BAD_DOCUMENT);
	check_doc(NULL, NULL, "null", NULL, NULL, NULL, USERSIG_BAD_DOCUMENT);
	check_doc(NULL, NULL, "[1400000000]", NULL, NULL, NULL, USERSIG_BAD_DOCUMENT);
	check_doc(NULL, NULL, "\"\"", NULL, NULL, NULL, USERSIG_BAD_DOCUMENT);
	check_doc(NULL, NULL, "\"14x\"", NULL, NULL, NULL, USERSIG_BAD_DOCUMENT);
	check_doc(NULL, NULL, "-1", NULL, NULL, NULL, USERSIG_BAD_DOCUMENT);
	check_doc(NULL, NULL, NULL, "{}", NULL, NULL, USERSIG_BAD_DOCUMENT);
	check_doc(NULL, NULL, NULL, "15552000.5", NULL, NULL, USERSIG_BAD_DOCUMENT);
	check_doc(NULL, NULL, NULL, "-15552000", NULL, NULL, USERSIG_BAD_DOCUMENT);
	check_doc(NULL, NULL, NULL, "\"-1\"", NULL, NULL, USERSIG_BAD_DOCUMENT);
	check_doc(NULL, NULL, NULL, NULL, "false", NULL, USERSIG_BAD_DOCUMENT);
	check_doc(NULL, NULL, NULL, NULL, "-1569910200", NULL, USERSIG_BAD_DOCUMENT);
	check_doc(NULL, NULL, NULL, NULL, "\"1569910200 \"", NULL, USERSIG_BAD_DOCUMENT);
	/* TLS.sig */
	check_doc(NULL, NULL, NULL, NULL, NULL, "12345", USERSIG_BAD_DOCUMENT);
	check_doc(NULL, NULL, NULL, NULL, NULL, "null", USERSIG_BAD_DOCUMENT);
	/* decimal strings are tolerated for the integers (usersig.c read_integer) */
	check_doc(NULL, NULL, "\"1400000000\"", "\"15552000\"", "\"1569910200\"", NULL,
			  USERSIG_OK);
}

static void
test_document_wrong_version(void **state)
{
	(void) state;
	check_doc("\"1.0\"", NULL, NULL, NULL, NULL, NULL, USERSIG_BAD_DOCUMENT);
	check_doc("\"2\"", NULL, NULL, NULL, NULL, NULL, USERSIG_BAD_DOCUMENT);
	check_doc("\"2.0 \"", NULL, NULL, NULL, NULL, NULL, USERSIG_BAD_DOCUMENT);
	check_doc("\"2.00\"", NULL, NULL, NULL, NULL, NULL, USERSIG_BAD_DOCUMENT);
	check_doc("\"\"", NULL, NULL, NULL, NULL, NULL, USERSIG_BAD_DOCUMENT);
	check_doc("\"2.0\\u0000\"", NULL, NULL, NULL, NULL, NULL, USERSIG_BAD_DOCUMENT);
	check_doc("\"2.0 is a very long version string\"", NULL, NULL, NULL, NULL, NULL,
			  USERSIG_BAD_DOCUMENT);
	check_doc("\"2.0\"", NULL, NULL, NULL, NULL, NULL, USERSIG_OK);
}

static void
test_document_oversized_strings(void **state)
{
	char		id[USERSIG_MAX_IDENTIFIER + 8];

	(void) state;
	/* 256-byte identifier fits, 257 does not */
	id[0] = '"';
	memset(id + 1, 'a', USERSIG_MAX_IDENTIFIER);
	strcpy(id + 1 + USERSIG_MAX_IDENTIFIER, "\"");
	check_doc(NULL, id, NULL, NULL, NULL, NULL, USERSIG_OK);
	id[0] = '"';
	memset(id + 1, 'a', USERSIG_MAX_IDENTIFIER + 1);
	strcpy(id + 2 + USERSIG_MAX_IDENTIFIER, "\"");
	check_doc(NULL, id, NULL, NULL, NULL, NULL, USERSIG_BAD_DOCUMENT);
	/* same for the sig field */
	check_doc(NULL, NULL, NULL, NULL, NULL, id, USERSIG_BAD_DOCUMENT);
	/* an identifier with an embedded NUL could compare equal to a prefix */
	check_doc(NULL, "\"0\\u0000admin\"", NULL, NULL, NULL, NULL, USERSIG_BAD_DOCUMENT);
}

static void
test_document_extra_fields_and_order(void **state)
{
	char	   *s;

	(void) state;
	/* field order does not matter, unknown fields are ignored */
	s = encode_doc("{\"TLS.sig\":\"" PUB_SIG "\",\"TLS.time\":1569910200,"
				   "\"extra\":[1,{\"x\":null}],\"TLS.expire\":15552000,"
				   "\"TLS.sdkappid\":1400000000,\"TLS.identifier\":\"0\","
				   "\"TLS.ver\":\"2.0\"}");
	assert_int_equal(verify_str(s, PUB_KEY, PUB_ID, PUB_APPID, PUB_TIME), USERSIG_OK);
	free(s);
	/* whitespace around the document is fine */
	s = encode_doc("  \n{\"TLS.ver\":\"2.0\",\"TLS.identifier\":\"0\","
				   "\"TLS.sdkappid\":1400000000,\"TLS.expire\":15552000,"
				   "\"TLS.time\":1569910200,\"TLS.sig\":\"" PUB_SIG "\"}\n ");
	assert_int_equal(verify_str(s, PUB_KEY, PUB_ID, PUB_APPID, PUB_TIME), USERSIG_OK);
	free(s);
}

static void
test_identifier_mismatch(void **state)
{
	(void) state;
	assert_int_equal(verify_str(PUB_USERSIG, PUB_KEY, "1", PUB_APPID, PUB_TIME),
					 USERSIG_IDENTIFIER_MISMATCH);
	assert_int_equal(verify_str(PUB_USERSIG, PUB_KEY, "", PUB_APPID, PUB_TIME),
					 USERSIG_IDENTIFIER_MISMATCH);
	assert_int_equal(verify_str(PUB_USERSIG, PUB_KEY, "00", PUB_APPID, PUB_TIME),
					 USERSIG_IDENTIFIER_MISMATCH);
	assert_int_equal(verify_str(PUB_USERSIG, PUB_KEY, NULL, PUB_APPID, PUB_TIME),
					 USERSIG_IDENTIFIER_MISMATCH);
	assert_int_equal(verify_str(PUB_USERSIG, PUB_KEY, "administrator", PUB_APPID,
								PUB_TIME), USERSIG_IDENTIFIER_MISMATCH);
}

static void
test_sdkappid_mismatch(void **state)
{
	(void) state;
	assert_int_equal(verify_str(PUB_USERSIG, PUB_KEY, PUB_ID, PUB_APPID + 1, PUB_TIME),
					 USERSIG_SDKAPPID_MISMATCH);
	assert_int_equal(verify_str(PUB_USERSIG, PUB_KEY, PUB_ID, 0, PUB_TIME),
					 USERSIG_SDKAPPID_MISMATCH);
	assert_int_equal(verify_str(PUB_USERSIG, PUB_KEY, PUB_ID,
								PUB_APPID + (UINT64_C(1) << 32), PUB_TIME),
					 USERSIG_SDKAPPID_MISMATCH);
}

static void
test_expired_overflow(void **state)
{
	(void) state;
	/* time + expire would overflow int64: treated as expired, not wrapped */
	check_doc(NULL, NULL, NULL, "9223372036854775807", "1", NULL, USERSIG_OK);
	{
		char	   *s = pub_doc_with(NULL, NULL, NULL, "9223372036854775807", "1", NULL);

		assert_int_equal(verify_str(s, PUB_KEY, PUB_ID, PUB_APPID, 0), USERSIG_EXPIRED);
		free(s);
		s = pub_doc_with(NULL, NULL, NULL, "9223372036854775806", "1", NULL);
		/* exactly INT64_MAX: valid time window, but the HMAC is for other values */
		assert_int_equal(verify_str(s, PUB_KEY, PUB_ID, PUB_APPID, INT64_MAX),
						 USERSIG_BAD_SIGNATURE);
		free(s);
	}
}

static void
test_wrong_key(void **state)
{
	(void) state;
	assert_int_equal(verify_str(PUB_USERSIG, "wrong", PUB_ID, PUB_APPID, PUB_TIME),
					 USERSIG_BAD_SIGNATURE);
	assert_int_equal(verify_str(PUB_USERSIG, "", PUB_ID, PUB_APPID, PUB_TIME),
					 USERSIG_BAD_SIGNATURE);
	/* the key is the text, not its hex decoding */
	{
		unsigned char raw[32];

		for (int i = 0; i < 32; i++)
		{
			unsigned int b;

			assert_int_equal(sscanf(&PUB_KEY[2 * i], "%2x", &b), 1);
			raw[i] = (unsigned char) b;
		}
		assert_int_equal(usersig_verify(PUB_USERSIG, strlen(PUB_USERSIG),
										(const char *) raw, sizeof(raw), PUB_ID,
										PUB_APPID, PUB_TIME, NULL),
						 USERSIG_BAD_SIGNATURE);
	}
	/* a key one byte short */
	assert_int_equal(usersig_verify(PUB_USERSIG, strlen(PUB_USERSIG), PUB_KEY,
									KEYLEN(PUB_KEY) - 1, PUB_ID, PUB_APPID,
									PUB_TIME, NULL), USERSIG_BAD_SIGNATURE);
	/* no key at all: an argument error, not a pass */
	assert_int_equal(verify_str(PUB_USERSIG, NULL, PUB_ID, PUB_APPID, PUB_TIME),
					 USERSIG_INVALID_ARGUMENT);
}

static void
test_tampered_sig(void **state)
{
	/* one character of TLS.sig changed */
	static const char *sigs[] = {
		"\"DpjuBdQs9ZwnuGAJR8onoOeI9fweX2vIMMY94iOJWJY=\"",
		"\"CpjuBdQs9ZwnuGAJR8onoOeI9fweX2vIMMY94iOJWJZ=\"",
		"\"CpjuBdQs9ZwnuGAJR8onoOeI9fweX2vIMMY94iOJWJY_\"",
		"\"CpjuBdQs9ZwnuGAJR8onoOeI9fweX2vIMMY94iOJWJY\"",	/* 43 chars */
		"\"CpjuBdQs9ZwnuGAJR8onoOeI9fweX2vIMMY94iOJWJY==\"",	/* 45 chars */
		"\"CpjuBdQs9ZwnuGAJR8onoOeI9fweX2vIMMY94iOJWJY=CpjuBdQs9ZwnuGAJR8onoOeI9fweX2vIMMY94iOJWJY=\"",
		"\"\"",
		"\"cpjubdqs9zwnugajr8onooei9fwex2vimmy94iojwjy=\"",
	};

	(void) state;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
	{
		char	   *s = pub_doc_with(NULL, NULL, NULL, NULL, NULL, sigs[i]);
		usersig_status st = verify_str(s, PUB_KEY, PUB_ID, PUB_APPID, PUB_TIME);

		free(s);
		if (st != USERSIG_BAD_SIGNATURE)
			fail_msg("sig %s: got %s", sigs[i], usersig_status_text(st));
	}
}

static void
test_tampered_fields(void **state)
{
	char	   *s;

	(void) state;
	/* the genuine sig with a longer expire: extends validity, must fail */
	s = pub_doc_with(NULL, NULL, NULL, "999999999", NULL, NULL);
	assert_int_equal(verify_str(s, PUB_KEY, PUB_ID, PUB_APPID, PUB_TIME),
					 USERSIG_BAD_SIGNATURE);
	free(s);
	s = pub_doc_with(NULL, NULL, NULL, NULL, "1569910201", NULL);
	assert_int_equal(verify_str(s, PUB_KEY, PUB_ID, PUB_APPID, PUB_TIME),
					 USERSIG_BAD_SIGNATURE);
	free(s);
	s = pub_doc_with(NULL, "\"admin\"", NULL, NULL, NULL, NULL);
	assert_int_equal(verify_str(s, PUB_KEY, "admin", PUB_APPID, PUB_TIME),
					 USERSIG_BAD_SIGNATURE);
	free(s);
	s = pub_doc_with(NULL, NULL, "1400000001", NULL, NULL, NULL);
	assert_int_equal(verify_str(s, PUB_KEY, PUB_ID, UINT64_C(1400000001), PUB_TIME),
					 USERSIG_BAD_SIGNATURE);
	free(s);
}

static void
test_over_long_input(void **state)
{
	char	   *big = malloc(USERSIG_MAX_ENCODED + 2);
	usersig_document doc;

	(void) state;
	assert_non_null(big);
	memset(big, 'A', USERSIG_MAX_ENCODED + 1);
	big[USERSIG_MAX_ENCODED + 1] = '\0';
	assert_int_equal(usersig_decode(big, USERSIG_MAX_ENCODED + 1, &doc),
					 USERSIG_BAD_ENCODING);
	assert_int_equal(usersig_verify(big, USERSIG_MAX_ENCODED + 1, PUB_KEY,
									KEYLEN(PUB_KEY), PUB_ID, PUB_APPID, PUB_TIME,
									NULL), USERSIG_BAD_ENCODING);
	assert_int_equal(usersig_decode(big, SIZE_MAX, &doc), USERSIG_BAD_ENCODING);
	/* at the limit the length is accepted, and the content is then judged */
	assert_int_equal(usersig_decode(big, USERSIG_MAX_ENCODED, &doc),
					 USERSIG_BAD_COMPRESSION);
	/* the public UserSig followed by enough junk to cross the limit */
	memcpy(big, PUB_USERSIG, strlen(PUB_USERSIG));
	assert_int_equal(usersig_decode(big, USERSIG_MAX_ENCODED + 1, &doc),
					 USERSIG_BAD_ENCODING);
	free(big);
}

static void
test_not_nul_terminated(void **state)
{
	size_t		len = strlen(PUB_USERSIG);
	char	   *exact = exact_copy(PUB_USERSIG, len);
	usersig_document doc;

	(void) state;
	assert_int_equal(usersig_decode(exact, len, &doc), USERSIG_OK);
	assert_int_equal(usersig_verify(exact, len, PUB_KEY, KEYLEN(PUB_KEY), PUB_ID,
									PUB_APPID, PUB_TIME, &doc), USERSIG_OK);
	free(exact);
}

static void
test_decode_clears_document(void **state)
{
	usersig_document doc;

	(void) state;
	memset(&doc, 0x5a, sizeof(doc));
	assert_int_equal(decode_str("!!!!", &doc), USERSIG_BAD_ENCODING);
	assert_string_equal(doc.identifier, "");
	assert_string_equal(doc.sig, "");
	assert_true(doc.sdkappid == 0);
}

static void
test_status_text(void **state)
{
	(void) state;
	for (int s = USERSIG_OK; s <= USERSIG_INVALID_ARGUMENT; s++)
	{
		const char *t = usersig_status_text((usersig_status) s);

		assert_non_null(t);
		assert_true(strlen(t) > 0);
		assert_string_not_equal(t, "unknown status");
		for (int r = USERSIG_OK; r < s; r++)
			assert_string_not_equal(t, usersig_status_text((usersig_status) r));
	}
	assert_string_equal(usersig_status_text((usersig_status) 999), "unknown status");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hmac_public_vector),
		cmocka_unit_test(test_hmac_independent_vectors),
		cmocka_unit_test(test_hmac_key_is_text_not_hex),
		cmocka_unit_test(test_hmac_invalid_arguments),
		cmocka_unit_test(test_public_usersig_decodes),
		cmocka_unit_test(test_public_usersig_verifies_then_expires),
		cmocka_unit_test(test_generate_public_inputs),
		cmocka_unit_test(test_generate_invalid_arguments),
		cmocka_unit_test(test_round_trip_plain),
		cmocka_unit_test(test_round_trip_special_identifiers),
		cmocka_unit_test(test_generate_output_always_decodes),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_bad_base64_chars),
		cmocka_unit_test(test_bad_padding),
		cmocka_unit_test(test_padding_forms_accepted),
		cmocka_unit_test(test_standard_base64_alphabet_accepted),
		cmocka_unit_test(test_not_zlib),
		cmocka_unit_test(test_inflates_too_large),
		cmocka_unit_test(test_zlib_of_non_json),
		cmocka_unit_test(test_document_with_nul_byte),
		cmocka_unit_test(test_document_baseline),
		cmocka_unit_test(test_document_missing_fields),
		cmocka_unit_test(test_document_wrong_types),
		cmocka_unit_test(test_document_wrong_version),
		cmocka_unit_test(test_document_oversized_strings),
		cmocka_unit_test(test_document_extra_fields_and_order),
		cmocka_unit_test(test_identifier_mismatch),
		cmocka_unit_test(test_sdkappid_mismatch),
		cmocka_unit_test(test_expired_overflow),
		cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_tampered_sig),
		cmocka_unit_test(test_tampered_fields),
		cmocka_unit_test(test_over_long_input),
		cmocka_unit_test(test_not_nul_terminated),
		cmocka_unit_test(test_decode_clears_document),
		cmocka_unit_test(test_status_text),
	};

	return cmocka_run_group_tests_name("usersig", tests, NULL, NULL);
}
