/*
 * usersig.h - TLSSigAPIv2 UserSig generation and decoding (verification,
 * which only imsim and the tests need, is under test/common/).
 *
 * Plain C (OpenSSL, zlib, json-c); no PostgreSQL headers, so the extension,
 * imsim, the unit tests and the fuzzers all share this one implementation.
 *
 * A UserSig is: JSON document -> zlib deflate -> standard base64 -> the
 * characters '+', '/', '=' replaced by '*', '-', '_'.  The document carries
 * TLS.sig, the standard base64 of HMAC-SHA256(key text bytes, content) where
 * content is
 *   "TLS.identifier:" id "\n" "TLS.sdkappid:" appid "\n"
 *   "TLS.time:" t "\n" "TLS.expire:" e "\n"
 */
#ifndef IMCHECK_USERSIG_H
#define IMCHECK_USERSIG_H

#include <stddef.h>
#include <stdint.h>

/* base64 of a 32-byte digest is 44 characters, plus NUL */
#define USERSIG_HMAC_B64_LEN 44

/* Longest identifier we accept; the real service allows 32 bytes. */
#define USERSIG_MAX_IDENTIFIER 256

/* Longest encoded UserSig we try to decode (real ones are ~200 bytes). */
#define USERSIG_MAX_ENCODED 8192

typedef enum usersig_status
{
	USERSIG_OK = 0,
	USERSIG_EMPTY,				/* no UserSig at all */
	USERSIG_BAD_ENCODING,		/* not valid url-safe base64 / too long */
	USERSIG_BAD_COMPRESSION,	/* zlib inflate failed */
	USERSIG_BAD_DOCUMENT,		/* not JSON, or fields missing / wrong type */
	USERSIG_IDENTIFIER_MISMATCH,
	USERSIG_SDKAPPID_MISMATCH,
	USERSIG_EXPIRED,
	USERSIG_BAD_SIGNATURE,		/* HMAC does not match: wrong key */
	USERSIG_NO_MEMORY,
	USERSIG_INVALID_ARGUMENT
} usersig_status;

/* The decoded document of a UserSig. */
typedef struct usersig_document
{
	char		version[16];
	char		identifier[USERSIG_MAX_IDENTIFIER + 1];
	uint64_t	sdkappid;
	int64_t		time;			/* seconds since epoch when generated */
	int64_t		expire;			/* lifetime in seconds */
	char		sig[USERSIG_MAX_IDENTIFIER + 1];	/* TLS.sig as found */
} usersig_document;

/* A short English description of a status, for logs and test output. */
const char *usersig_status_text(usersig_status status);

/*
 * Computes TLS.sig: base64(HMAC-SHA256(key, content)) into out
 * (USERSIG_HMAC_B64_LEN + 1 bytes).  Returns USERSIG_OK or an error.
 */
usersig_status usersig_hmac_base64(const char *key, size_t key_len,
								   const char *identifier, uint64_t sdkappid,
								   int64_t time, int64_t expire,
								   char out[USERSIG_HMAC_B64_LEN + 1]);

/*
 * Generates a UserSig.  On success *out is a malloc'd NUL-terminated string
 * the caller frees with free().
 */
usersig_status usersig_generate(const char *key, size_t key_len,
								const char *identifier, uint64_t sdkappid,
								int64_t time, int64_t expire, char **out);

/* Decodes a UserSig into its document without checking the signature. */
usersig_status usersig_decode(const char *usersig, size_t len,
							  usersig_document *doc);

#endif							/* IMCHECK_USERSIG_H */
