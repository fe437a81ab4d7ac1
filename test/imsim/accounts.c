/*
 * accounts.c - imsim's account store: which UserIDs are Imported (the
 * --imported-file list, the built-in even rule, and the accounts that
 * multiaccount_import added; see README.md).
 */
#include "imsim.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/*
 * The accounts multiaccount_import added (ones not Imported by the file or
 * the rule), until POST /_imsim/accounts/reset.  A read-write lock: every
 * account_check reads it, imports are rare.
 */
static struct
{
	pthread_rwlock_t lock;		/* guards set */
	idset		set;
	size_t		count;			/* set.count, also read without the lock */
} by_api = {.lock = PTHREAD_RWLOCK_INITIALIZER};

/*
 * The even rule: take the maximal run of trailing ASCII digits of the
 * UserID; if there is none the ID is NotImported; otherwise take the last
 * 18 digits of that run as a decimal number: Imported iff it is even.
 */
static int
rule_even_imported(const char *id, size_t len)
{
	size_t		start = len;
	uint64_t	v = 0;

	while (start > 0 && id[start - 1] >= '0' && id[start - 1] <= '9')
		start--;
	if (start == len)
		return 0;
	if (len - start > 18)
		start = len - 18;
	for (size_t i = start; i < len; i++)
		v = v * 10 + (uint64_t) (id[i] - '0');
	return v % 2 == 0;
}

/* Imported by --imported-file or the even rule (fixed at start-up). */
static int
imported_fixed(const char *id, size_t len, uint64_t hash)
{
	if (fixed.imported.count > 0 &&
		idset_find(&fixed.imported, id, len, hash) != NULL)
		return 1;
	return fixed.rule_even && rule_even_imported(id, len);
}

/* Imported: by the file, by the even rule when on, or by the API. */
int
is_imported(const char *id, size_t len)
{
	int			found;

	/* as imported_fixed, but hashing only when a set is to be searched */
	if (fixed.imported.count > 0 &&
		idset_find(&fixed.imported, id, len, idset_hash(id, len)) != NULL)
		return 1;
	if (fixed.rule_even && rule_even_imported(id, len))
		return 1;
	/* no lock while the API imported nothing: the benchmarks' case */
	if (__atomic_load_n(&by_api.count, __ATOMIC_ACQUIRE) == 0)
		return 0;
	pthread_rwlock_rdlock(&by_api.lock);
	found = idset_find(&by_api.set, id, len, idset_hash(id, len)) != NULL;
	pthread_rwlock_unlock(&by_api.lock);
	return found;
}

/*
 * Imports n accounts (the ones multiaccount_import lets through): those
 * not Imported yet join the API's set.  All or none: when limit > 0 and
 * the new ones (each counted once) would take the set beyond it, none is
 * added and 1 is returned.  0 when done; -1 when out of memory (some may
 * have been added).
 */
int
accounts_import(const char *const *ids, const size_t *lens, size_t n,
				int64_t limit)
{
	uint64_t	hashes[MAX_ITEMS];
	int			rc = 0;

	for (size_t i = 0; i < n; i++)
		hashes[i] = idset_hash(ids[i], lens[i]);
	pthread_rwlock_wrlock(&by_api.lock);
	if (limit > 0)
	{
		size_t		fresh = 0;

		for (size_t i = 0; i < n; i++)
		{
			int			dup = 0;

			if (imported_fixed(ids[i], lens[i], hashes[i]) ||
				idset_find(&by_api.set, ids[i], lens[i], hashes[i]) != NULL)
				continue;
			for (size_t j = 0; j < i && !dup; j++)
				dup = hashes[j] == hashes[i] && lens[j] == lens[i] &&
					memcmp(ids[j], ids[i], lens[i]) == 0;
			fresh += (size_t) !dup;
		}
		if (by_api.set.count + fresh > (uint64_t) limit)
			rc = 1;
	}
	for (size_t i = 0; i < n && rc == 0; i++)
	{
		int			inserted;

		if (!imported_fixed(ids[i], lens[i], hashes[i]) &&
			idset_upsert(&by_api.set, ids[i], lens[i], hashes[i],
						 &inserted) == NULL)
			rc = -1;
	}
	__atomic_store_n(&by_api.count, by_api.set.count, __ATOMIC_RELEASE);
	pthread_rwlock_unlock(&by_api.lock);
	return rc;
}

/* How many accounts the API added (config's imported_by_api). */
size_t
accounts_imported_by_api(void)
{
	return __atomic_load_n(&by_api.count, __ATOMIC_ACQUIRE);
}

/* POST /_imsim/accounts/reset: forgets what the API added. */
void
accounts_reset(void)
{
	pthread_rwlock_wrlock(&by_api.lock);
	idset_clear(&by_api.set);
	__atomic_store_n(&by_api.count, 0, __ATOMIC_RELEASE);
	pthread_rwlock_unlock(&by_api.lock);
}

/* At exit, after the HTTP server stopped. */
void
accounts_free(void)
{
	idset_clear(&by_api.set);
	idset_clear(&fixed.imported);
}

/* Loads --imported-file into fixed.imported (at start-up; dies on error). */
void
load_imported_file(const char *path)
{
	FILE	   *f = fopen(path, "rb");
	char	   *line = NULL;
	size_t		cap = 0;
	ssize_t		n;

	if (f == NULL)
		die("cannot open imported file \"%s\": %s", path, strerror(errno));
	while ((n = getline(&line, &cap, f)) >= 0)
	{
		size_t		len = (size_t) n;
		int			inserted;

		if (len > 0 && line[len - 1] == '\n')
			len--;
		if (len > 0 && line[len - 1] == '\r')
			len--;
		if (len == 0)
			continue;
		if (idset_upsert(&fixed.imported, line, len, idset_hash(line, len),
						 &inserted) == NULL)
			die("out of memory");
	}
	free(line);
	if (ferror(f))
		die("cannot read imported file \"%s\"", path);
	fclose(f);
}
