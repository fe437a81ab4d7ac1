/*
 * util.c - small helpers of imsim: the monotonic clock, the seeded random
 * generators, number parsing and the fatal-error exit.
 */
#include "imsim.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <time.h>

uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * NS_PER_S + (uint64_t) ts.tv_nsec;
}

/* splitmix64: small, fast, fully determined by its 64-bit state */
uint64_t
rng_next(uint64_t *state)
{
	uint64_t	z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* uniform in [0, 1) */
double
rng_unit(uint64_t *state)
{
	return (double) (rng_next(state) >> 11) * 0x1.0p-53;
}

/* uniform integer in [0, n) for n > 0 */
uint64_t
rng_below(uint64_t *state, uint64_t n)
{
	return n ? rng_next(state) % n : 0;
}

/* Parses exactly len ASCII digits into *out; 0 on overflow/empty/non-digit. */
int
parse_u64(const char *s, size_t len, uint64_t *out)
{
	uint64_t	v = 0;

	if (len == 0)
		return 0;
	for (size_t i = 0; i < len; i++)
	{
		unsigned	d;

		if (s[i] < '0' || s[i] > '9')
			return 0;
		d = (unsigned) (s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return 0;
		v = v * 10 + d;
	}
	*out = v;
	return 1;
}

/* Parses a command-line integer: all of s, decimal, in min..max; else 0. */
int
parse_i64_arg(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char	   *end;
	long long	v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return 0;
	*out = v;
	return 1;
}

void
die(const char *fmt,...)
{
	va_list		ap;

	fputs("imsim: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}
