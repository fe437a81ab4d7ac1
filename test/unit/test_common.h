/*
 * test_common.h - small helpers shared by the cmocka unit tests.
 */
#ifndef IMCHECK_TEST_COMMON_H
#define IMCHECK_TEST_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* A malloc'd copy of len bytes with no terminator after them. */
static inline char *
exact_copy(const char *s, size_t len)
{
	char	   *p = malloc(len ? len : 1);

	assert_non_null(p);
	if (len)
		memcpy(p, s, len);
	return p;
}

#endif							/* IMCHECK_TEST_COMMON_H */
