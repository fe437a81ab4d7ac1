/*
 * parse_bench.c - CPU cost of reading one account_check answer of 100 items
 * (src/protocol.c), the largest per-call cost in the backend.
 *
 * Times, side by side in alternating rounds on the same answer (imsim's:
 * compact, the documented members in the documented order):
 *   fast     protocol_parse_response(): matched as a compact answer
 *   items    only the fast item scanner (PROTOCOL_PATH_FAST_ITEMS), as for
 *            an answer with whitespace or another member order
 *   general  the generic scanner alone
 *   build    protocol_build_request() for the same 100 IDs
 * and prints the median round of each in microseconds per operation.
 *
 *   cc -O2 -Isrc -o parse_bench test/bench/parse_bench.c src/protocol.c src/jsonscan.c
 *   ./parse_bench [rounds] [operations per round]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "protocol.h"

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

typedef protocol_outcome (*parse_fn) (const char *, size_t, const char *const *,
									  const size_t *, size_t, protocol_response *);

static const char *ids[PROTOCOL_MAX_BATCH];
static size_t id_lens[PROTOCOL_MAX_BATCH];

static protocol_outcome
parse_items_only(const char *body, size_t len, const char *const *i,
				 const size_t *l, size_t n, protocol_response *r)
{
	return protocol_parse_response_paths(body, len, i, l, n, r, PROTOCOL_PATH_FAST_ITEMS);
}

static protocol_outcome
parse_generic(const char *body, size_t len, const char *const *i,
			  const size_t *l, size_t n, protocol_response *r)
{
	return protocol_parse_response_paths(body, len, i, l, n, r, 0);
}

static double
time_parse(parse_fn parse, const protocol_buffer *body, int ops)
{
	double		t0 = now_us();

	for (int i = 0; i < ops; i++)
	{
		protocol_response r;

		if (parse(body->data, body->len, ids, id_lens, PROTOCOL_MAX_BATCH, &r) != PROTOCOL_OK ||
			r.compact != (parse == protocol_parse_response) ||
			r.n_fast_items != (parse == parse_generic ? 0 : PROTOCOL_MAX_BATCH))
		{
			fprintf(stderr, "parse_bench: the answer did not parse as expected\n");
			exit(1);
		}
		protocol_response_free(&r);
	}
	return (now_us() - t0) / ops;
}

static double
time_build(int ops)
{
	protocol_buffer req = {0};
	double		t0 = now_us();

	for (int i = 0; i < ops; i++)
	{
		protocol_buffer_reset(&req);
		if (protocol_build_request(ids, id_lens, PROTOCOL_MAX_BATCH, &req) != 0)
			exit(1);
	}
	t0 = (now_us() - t0) / ops;
	protocol_buffer_free(&req);
	return t0;
}

int
main(int argc, char **argv)
{
	int			rounds = argc > 1 ? atoi(argv[1]) : 15;
	int			ops = argc > 2 ? atoi(argv[2]) : 2000;
	static char storage[PROTOCOL_MAX_BATCH][24];
	protocol_buffer body = {0};
	double	   *fast,
			   *items,
			   *general,
			   *build;

	if (rounds < 1 || ops < 1)
		return 2;
	fast = calloc(rounds, sizeof(double));
	items = calloc(rounds, sizeof(double));
	general = calloc(rounds, sizeof(double));
	build = calloc(rounds, sizeof(double));

	/* the benchmark's IDs (bench_user_0000001) and imsim's answer to them */
	protocol_buffer_append(&body, "{\"ActionStatus\":\"OK\",\"ErrorCode\":0,"
						   "\"ErrorInfo\":\"\",\"ResultItem\":[", 64);
	for (int i = 0; i < PROTOCOL_MAX_BATCH; i++)
	{
		char		item[160];
		int			n;

		id_lens[i] = (size_t) snprintf(storage[i], sizeof(storage[i]),
									   "bench_user_%07d", i + 1);
		ids[i] = storage[i];
		n = snprintf(item, sizeof(item),
					 "%s{\"UserID\":\"%s\",\"ResultCode\":0,\"ResultInfo\":\"\","
					 "\"AccountStatus\":\"%s\"}", i ? "," : "", storage[i],
					 i % 3 ? "Imported" : "NotImported");
		protocol_buffer_append(&body, item, (size_t) n);
	}
	protocol_buffer_append(&body, "]}", 2);

	for (int r = 0; r < rounds; r++)
	{
		fast[r] = time_parse(protocol_parse_response, &body, ops);
		items[r] = time_parse(parse_items_only, &body, ops);
		general[r] = time_parse(parse_generic, &body, ops);
		build[r] = time_build(ops);
	}
	qsort(fast, rounds, sizeof(double), cmp_double);
	qsort(items, rounds, sizeof(double), cmp_double);
	qsort(general, rounds, sizeof(double), cmp_double);
	qsort(build, rounds, sizeof(double), cmp_double);
	printf("answer of %zu bytes, 100 items; median of %d rounds x %d\n",
		   body.len, rounds, ops);
	printf("parse_fast_us %.2f\nparse_items_us %.2f\nparse_general_us %.2f\nbuild_us %.2f\n",
		   fast[rounds / 2], items[rounds / 2], general[rounds / 2], build[rounds / 2]);
	protocol_buffer_free(&body);
	free(fast);
	free(items);
	free(general);
	free(build);
	return 0;
}
