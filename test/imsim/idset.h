/*
 * idset.h - a hash set of byte strings (UserIDs) for imsim.
 *
 * Keys are arbitrary bytes (NUL included) with an explicit length.  Each
 * entry carries two counters used by imsim's statistics: the id of the last
 * call that contained the key and the number of distinct calls that did.
 * Not thread-safe: the caller locks.
 */
#ifndef IMSIM_IDSET_H
#define IMSIM_IDSET_H

#include <stddef.h>
#include <stdint.h>

typedef struct idset_entry
{
	uint64_t	hash;			/* 0 = empty slot */
	char	   *key;			/* malloc'd copy */
	size_t		len;
	uint64_t	last_call;		/* caller-defined */
	uint64_t	ncalls;			/* caller-defined */
} idset_entry;

typedef struct idset
{
	idset_entry *slots;
	size_t		cap;			/* power of two, or 0 */
	size_t		count;
} idset;

/* Hash of a byte string; never 0. */
uint64_t	idset_hash(const char *key, size_t len);

/* Finds key (hash from idset_hash); NULL if absent. */
idset_entry *idset_find(const idset *set, const char *key, size_t len,
						uint64_t hash);

/*
 * Finds or inserts key; *inserted tells which.  New entries have zero
 * counters.  Returns NULL when out of memory.
 */
idset_entry *idset_upsert(idset *set, const char *key, size_t len,
						  uint64_t hash, int *inserted);

/* Removes every entry (keeps no memory). */
void		idset_clear(idset *set);

#endif							/* IMSIM_IDSET_H */
