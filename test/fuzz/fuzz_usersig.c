/*
 * fuzz_usersig.c - libFuzzer harness for src/usersig.c (and
 * test/common/usersig_verify.c).
 *
 * 1. The input is a UserSig: usersig_decode, then usersig_verify against
 *    the public test vector's key/identifier/sdkappid and against the
 *    decoded document's own identifier/sdkappid.  A decoded document is
 *    re-generated with the public key and must verify.
 * 2. The input (first 256 bytes, up to a NUL) is an identifier: generate a
 *    UserSig for it, which must decode and verify.
 *
 * Any broken invariant calls abort(), which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "usersig.h"
#include "usersig_verify.h"

#define PUB_KEY "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
#define PUB_APPID UINT64_C(1400000000)

static int
status_valid(usersig_status s)
{
	return s >= USERSIG_OK && s <= USERSIG_INVALID_ARGUMENT;
}

static void
check_document(const usersig_document *doc)
{
	CHECK(memchr(doc->version, '\0', sizeof(doc->version)) != NULL);
	CHECK(memchr(doc->identifier, '\0', sizeof(doc->identifier)) != NULL);
	CHECK(memchr(doc->sig, '\0', sizeof(doc->sig)) != NULL);
	CHECK(strcmp(doc->version, "2.0") == 0);
	CHECK(doc->time >= 0 && doc->expire >= 0);
	CHECK(doc->sdkappid <= (uint64_t) INT64_MAX);
}

static void
as_usersig(const char *data, size_t size)
{
	usersig_document doc;
	usersig_document doc2;
	usersig_status st;
	usersig_status vst;
	char	   *regen = NULL;

	st = usersig_decode(data, size, &doc);
	CHECK(status_valid(st));
	CHECK(st != USERSIG_IDENTIFIER_MISMATCH && st != USERSIG_EXPIRED &&
		  st != USERSIG_BAD_SIGNATURE && st != USERSIG_SDKAPPID_MISMATCH);

	vst = usersig_verify(data, size, PUB_KEY, sizeof(PUB_KEY) - 1, "0", PUB_APPID,
						 1569910200, &doc2);
	CHECK(status_valid(vst));
	/* verify fails early exactly where decode fails */
	CHECK(st == USERSIG_OK ? vst != USERSIG_EMPTY && vst != USERSIG_BAD_ENCODING &&
		  vst != USERSIG_BAD_COMPRESSION && vst != USERSIG_BAD_DOCUMENT : vst == st);
	if (st != USERSIG_OK)
		return;
	check_document(&doc);

	/* against its own claims: only expiry and the signature can fail */
	vst = usersig_verify(data, size, PUB_KEY, sizeof(PUB_KEY) - 1, doc.identifier,
						 doc.sdkappid, doc.time, NULL);
	CHECK(vst == USERSIG_OK || vst == USERSIG_BAD_SIGNATURE || vst == USERSIG_EXPIRED);
	if (vst == USERSIG_EXPIRED)
		CHECK(doc.expire > INT64_MAX - doc.time);

	/* the same claims, signed with the key, verify */
	st = usersig_generate(PUB_KEY, sizeof(PUB_KEY) - 1, doc.identifier, doc.sdkappid,
						  doc.time, doc.expire, &regen);
	CHECK(st == USERSIG_OK);
	vst = usersig_verify(regen, strlen(regen), PUB_KEY, sizeof(PUB_KEY) - 1,
						 doc.identifier, doc.sdkappid, doc.time, &doc2);
	if (doc.expire > INT64_MAX - doc.time)
		CHECK(vst == USERSIG_EXPIRED);
	else
	{
		CHECK(vst == USERSIG_OK);
		CHECK(strcmp(doc2.identifier, doc.identifier) == 0);
		CHECK(doc2.sdkappid == doc.sdkappid && doc2.time == doc.time &&
			  doc2.expire == doc.expire);
	}
	free(regen);
}

static void
as_identifier(const char *data, size_t size)
{
	char		id[USERSIG_MAX_IDENTIFIER + 1];
	size_t		n = size < USERSIG_MAX_IDENTIFIER ? size : USERSIG_MAX_IDENTIFIER;
	char	   *sig = NULL;
	usersig_document doc;
	usersig_status st;
	int64_t		t = 1700000000;

	memcpy(id, data, n);
	id[n] = '\0';
	st = usersig_generate(PUB_KEY, sizeof(PUB_KEY) - 1, id, PUB_APPID, t, 86400, &sig);
	CHECK(st == USERSIG_OK);
	CHECK(sig != NULL);
	st = usersig_verify(sig, strlen(sig), PUB_KEY, sizeof(PUB_KEY) - 1, id, PUB_APPID,
						t + 86400, &doc);
	CHECK(st == USERSIG_OK);
	CHECK(strcmp(doc.identifier, id) == 0);
	st = usersig_verify(sig, strlen(sig), PUB_KEY, sizeof(PUB_KEY) - 1, id, PUB_APPID,
						t + 86401, NULL);
	CHECK(st == USERSIG_EXPIRED);
	st = usersig_verify(sig, strlen(sig), "not the key", 11, id, PUB_APPID, t, NULL);
	CHECK(st == USERSIG_BAD_SIGNATURE);
	free(sig);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *copy = fuzz_exact_copy(data, size);

	if (copy == NULL)
		return 0;
	as_usersig(copy, size);
	as_identifier(copy, size);
	free(copy);
	return 0;
}
