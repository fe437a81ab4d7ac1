/*
 * sigcache.c - UserSig verification for imsim's query checks: usersig_verify()
 * (test/common/usersig_verify.c) behind a small cache of the UserSigs that
 * verified, since every call brings the same one.
 */
#include "imsim.h"

#include <string.h>

/*
 * Verifying a UserSig inflates and parses it and computes an HMAC; the same
 * UserSig comes with every call, so remember the ones that verified.  Only
 * verified (USERSIG_OK) results are cached, with the document's time and
 * expire so that expiry is still checked against the clock on every call,
 * in the same order as usersig_verify does (identifier, sdkappid, expiry,
 * signature: a cached entry already passed the first two and the last).
 */
#define SIGCACHE_SIZE 8
#define SIGCACHE_MAX_SIG 1024

typedef struct sigcache_entry
{
	char		sig[SIGCACHE_MAX_SIG];
	size_t		sig_len;
	char		ident[USERSIG_MAX_IDENTIFIER + 1];
	size_t		ident_len;
	uint64_t	sdkappid;
	int64_t		time;
	int64_t		expire;
	int			used;
} sigcache_entry;

static struct
{
	pthread_mutex_t lock;
	sigcache_entry e[SIGCACHE_SIZE];
	int			next;
} sigcache = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* usersig_verify() of the query's usersig and identifier, with --secret-key */
usersig_status
verify_usersig(const char *sig, size_t sig_len, const char *ident,
			   size_t ident_len, uint64_t sdkappid, int64_t now)
{
	usersig_document doc;
	usersig_status status;
	int			cacheable = sig_len <= SIGCACHE_MAX_SIG &&
		ident_len <= USERSIG_MAX_IDENTIFIER && memchr(ident, 0, ident_len) == NULL;

	if (cacheable)
	{
		pthread_mutex_lock(&sigcache.lock);
		for (int i = 0; i < SIGCACHE_SIZE; i++)
		{
			sigcache_entry *e = &sigcache.e[i];

			if (e->used && e->sig_len == sig_len && e->ident_len == ident_len &&
				e->sdkappid == sdkappid &&
				memcmp(e->sig, sig, sig_len) == 0 &&
				memcmp(e->ident, ident, ident_len) == 0)
			{
				int			expired = e->expire > INT64_MAX - e->time ||
					now > e->time + e->expire;

				pthread_mutex_unlock(&sigcache.lock);
				return expired ? USERSIG_EXPIRED : USERSIG_OK;
			}
		}
		pthread_mutex_unlock(&sigcache.lock);
	}

	status = usersig_verify(sig, sig_len, fixed.key, fixed.key_len, ident,
							sdkappid, now, &doc);
	/*
	 * usersig_verify compares the identifier as a C string: one with an
	 * embedded NUL (from %00 in the URL) can never match.
	 */
	if (memchr(ident, 0, ident_len) != NULL &&
		(status == USERSIG_OK || status == USERSIG_SDKAPPID_MISMATCH ||
		 status == USERSIG_EXPIRED || status == USERSIG_BAD_SIGNATURE))
		return USERSIG_IDENTIFIER_MISMATCH;

	if (status == USERSIG_OK && cacheable)
	{
		sigcache_entry *e;

		pthread_mutex_lock(&sigcache.lock);
		e = &sigcache.e[sigcache.next];
		sigcache.next = (sigcache.next + 1) % SIGCACHE_SIZE;
		memcpy(e->sig, sig, sig_len);
		e->sig_len = sig_len;
		memcpy(e->ident, ident, ident_len);
		e->ident[ident_len] = '\0';
		e->ident_len = ident_len;
		e->sdkappid = sdkappid;
		e->time = doc.time;
		e->expire = doc.expire;
		e->used = 1;
		pthread_mutex_unlock(&sigcache.lock);
	}
	return status;
}
