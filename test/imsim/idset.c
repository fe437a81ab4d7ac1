/*
 * idset.c - open-addressing (linear probing) hash set of byte strings.
 */
#include "idset.h"

#include <stdlib.h>
#include <string.h>

uint64_t
idset_hash(const char *key, size_t len)
{
	/* FNV-1a 64 followed by a murmur-style finaliser */
	uint64_t	h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++)
	{
		h ^= (unsigned char) key[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h ? h : 1;
}

idset_entry *
idset_find(const idset *set, const char *key, size_t len, uint64_t hash)
{
	if (set->cap == 0)
		return NULL;
	for (size_t i = hash & (set->cap - 1);; i = (i + 1) & (set->cap - 1))
	{
		idset_entry *e = &set->slots[i];

		if (e->hash == 0)
			return NULL;
		if (e->hash == hash && e->len == len &&
			(len == 0 || memcmp(e->key, key, len) == 0))
			return e;
	}
}

static int
idset_grow(idset *set)
{
	size_t		ncap = set->cap ? set->cap * 2 : 64;
	idset_entry *ns = calloc(ncap, sizeof(idset_entry));

	if (ns == NULL)
		return -1;
	for (size_t j = 0; j < set->cap; j++)
	{
		idset_entry *e = &set->slots[j];

		if (e->hash == 0)
			continue;
		for (size_t i = e->hash & (ncap - 1);; i = (i + 1) & (ncap - 1))
		{
			if (ns[i].hash == 0)
			{
				ns[i] = *e;
				break;
			}
		}
	}
	free(set->slots);
	set->slots = ns;
	set->cap = ncap;
	return 0;
}

idset_entry *
idset_upsert(idset *set, const char *key, size_t len, uint64_t hash,
			 int *inserted)
{
	idset_entry *e;

	*inserted = 0;
	e = idset_find(set, key, len, hash);
	if (e != NULL)
		return e;
	/* keep the load factor at most 1/2 */
	if ((set->count + 1) * 2 > set->cap && idset_grow(set) != 0)
		return NULL;
	for (size_t i = hash & (set->cap - 1);; i = (i + 1) & (set->cap - 1))
	{
		e = &set->slots[i];
		if (e->hash != 0)
			continue;
		e->key = malloc(len ? len : 1);
		if (e->key == NULL)
			return NULL;
		if (len)
			memcpy(e->key, key, len);
		e->len = len;
		e->hash = hash;
		e->last_call = 0;
		e->ncalls = 0;
		set->count++;
		*inserted = 1;
		return e;
	}
}

void
idset_clear(idset *set)
{
	for (size_t j = 0; j < set->cap; j++)
		if (set->slots[j].hash != 0)
			free(set->slots[j].key);
	free(set->slots);
	set->slots = NULL;
	set->cap = 0;
	set->count = 0;
}
