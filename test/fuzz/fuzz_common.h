/*
 * fuzz_common.h - what the libFuzzer harnesses share.
 */
#ifndef IMCHECK_FUZZ_COMMON_H
#define IMCHECK_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A broken invariant aborts, which libFuzzer reports as a crash. */
#define CHECK(cond) \
	do { \
		if (!(cond)) \
		{ \
			fprintf(stderr, "invariant failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
			abort(); \
		} \
	} while (0)

/*
 * An exact-size malloc'd copy of the input (libFuzzer's buffer may be
 * larger), so ASan sees any read past its end.  NULL if out of memory.
 */
static inline char *
fuzz_exact_copy(const uint8_t *data, size_t size)
{
	char	   *copy = malloc(size ? size : 1);

	if (copy != NULL && size > 0)
		memcpy(copy, data, size);
	return copy;
}

#endif							/* IMCHECK_FUZZ_COMMON_H */
