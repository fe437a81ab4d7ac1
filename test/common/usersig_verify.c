/*
 * usersig_verify.c - UserSig verification (see usersig_verify.h), on
 * src/usersig.c's decoder and HMAC.
 */
#include "usersig_verify.h"

#include <string.h>

usersig_status
usersig_verify(const char *usersig, size_t len,
			   const char *key, size_t key_len,
			   const char *identifier, uint64_t sdkappid,
			   int64_t now, usersig_document *doc)
{
	usersig_document local;
	usersig_document *d = doc ? doc : &local;
	char		expected[USERSIG_HMAC_B64_LEN + 1];
	usersig_status status;
	unsigned char diff = 0;
	size_t		sig_len;

	status = usersig_decode(usersig, len, d);
	if (status != USERSIG_OK)
		return status;
	if (identifier == NULL || strcmp(d->identifier, identifier) != 0)
		return USERSIG_IDENTIFIER_MISMATCH;
	if (d->sdkappid != sdkappid)
		return USERSIG_SDKAPPID_MISMATCH;
	/* time + expire cannot overflow: both were checked non-negative */
	if (d->expire > INT64_MAX - d->time || now > d->time + d->expire)
		return USERSIG_EXPIRED;

	status = usersig_hmac_base64(key, key_len, d->identifier, d->sdkappid,
								 d->time, d->expire, expected);
	if (status != USERSIG_OK)
		return status;
	sig_len = strlen(d->sig);
	if (sig_len != USERSIG_HMAC_B64_LEN)
		return USERSIG_BAD_SIGNATURE;
	/* constant time, so the comparison leaks nothing about the key */
	for (size_t i = 0; i < USERSIG_HMAC_B64_LEN; i++)
		diff |= (unsigned char) (expected[i] ^ d->sig[i]);
	return diff == 0 ? USERSIG_OK : USERSIG_BAD_SIGNATURE;
}
