/*
 * stats.c - imsim's statistics: what GET /_imsim/stats answers (README.md
 * lists the fields) and POST /_imsim/stats/reset zeroes.  The top-level
 * figures are totals over the APIs (so that they read as before for a
 * client of account_check alone); "apis" has each API's own.
 */
#include "imsim.h"

#include <inttypes.h>
#include <string.h>

/* one entry of calls_by_code or faults */
typedef struct counter
{
	char		key[24];
	uint64_t	n;
} counter;

#define MAX_COUNTERS 128

/* one API's share of the figures */
typedef struct api_stats
{
	uint64_t	calls;
	counter		by_code[MAX_COUNTERS];
	int			n_by_code;
	uint64_t	items;
} api_stats;

/* stats.lock guards everything here */
static struct
{
	pthread_mutex_t lock;
	uint64_t	calls;
	counter		by_code[MAX_COUNTERS];
	int			n_by_code;
	counter		faults[MAX_COUNTERS];
	int			n_faults;
	uint64_t	items;
	idset		ids;
	uint64_t	repeated_ids;
	uint64_t	call_seq;
	uint64_t	in_flight;
	uint64_t	max_in_flight;
	uint64_t	connections;
	uint64_t	connections_open;
	api_stats	api[NAPIS];
} stats = {.lock = PTHREAD_MUTEX_INITIALIZER};

/*
 * Counts one more under key.  When the table is full, new keys count under
 * "other" (which takes the last free slot if it has none).
 */
static void
counter_add(counter *arr, int *n, const char *key)
{
	for (int i = 0; i < *n; i++)
		if (strcmp(arr[i].key, key) == 0)
		{
			arr[i].n++;
			return;
		}
	if (*n >= MAX_COUNTERS)
		key = "other";
	for (int i = 0; i < *n; i++)
		if (strcmp(arr[i].key, key) == 0)
		{
			arr[i].n++;
			return;
		}
	if (*n >= MAX_COUNTERS)
		return;
	snprintf(arr[*n].key, sizeof(arr[*n].key), "%s", key);
	arr[*n].n = 1;
	(*n)++;
}

/*
 * An API call's headers arrived: it counts as a call, and is in flight
 * until stats_call_end (deliver or request_completed, whichever is first).
 */
void
stats_call_begin(req_ctx *rc)
{
	pthread_mutex_lock(&stats.lock);
	stats.calls++;
	stats.api[rc->api].calls++;
	stats.in_flight++;
	if (stats.in_flight > stats.max_in_flight)
		stats.max_in_flight = stats.in_flight;
	pthread_mutex_unlock(&stats.lock);
	rc->in_flight = 1;
}

void
stats_call_end(req_ctx *rc)
{
	if (!rc->in_flight)
		return;
	pthread_mutex_lock(&stats.lock);
	stats.in_flight--;
	pthread_mutex_unlock(&stats.lock);
	rc->in_flight = 0;
}

/*
 * Records the answer of one call of api.  code_key is the ErrorCode
 * answered or a fault name; ids are the UserIDs of a successful call (else
 * n = 0).
 */
void
stats_record(api_id api, const char *code_key, const char *fault_name,
			 const char *const *ids, const size_t *lens, size_t n)
{
	uint64_t	hashes[MAX_ITEMS];
	api_stats  *as = &stats.api[api];

	for (size_t i = 0; i < n; i++)
		hashes[i] = idset_hash(ids[i], lens[i]);
	pthread_mutex_lock(&stats.lock);
	counter_add(stats.by_code, &stats.n_by_code, code_key);
	counter_add(as->by_code, &as->n_by_code, code_key);
	if (fault_name)
		counter_add(stats.faults, &stats.n_faults, fault_name);
	if (n > 0)
	{
		uint64_t	call = ++stats.call_seq;

		stats.items += n;
		as->items += n;
		for (size_t i = 0; i < n && !fixed.no_id_stats; i++)
		{
			int			inserted;
			idset_entry *e = idset_upsert(&stats.ids, ids[i], lens[i],
										  hashes[i], &inserted);

			if (e == NULL)
				break;			/* out of memory: statistics only */
			if (e->last_call != call)
			{
				e->last_call = call;
				if (++e->ncalls == 2)
					stats.repeated_ids++;
			}
		}
	}
	pthread_mutex_unlock(&stats.lock);
}

static void
append_counters(protocol_buffer *b, const counter *arr, int n)
{
	char		num[32];

	protocol_buffer_append(b, "{", 1);
	for (int i = 0; i < n; i++)
	{
		if (i)
			protocol_buffer_append(b, ",", 1);
		protocol_buffer_append_json_string(b, arr[i].key, strlen(arr[i].key));
		snprintf(num, sizeof(num), ":%" PRIu64, arr[i].n);
		protocol_buffer_append(b, num, strlen(num));
	}
	protocol_buffer_append(b, "}", 1);
}

void
stats_json(protocol_buffer *b)
{
	char		tmp[512];
	char		distinct[32];
	char		repeated[32];
	uint64_t	max_cps = 0;
	uint64_t	api_max_cps[NAPIS];

	/* the top-level figure: the busiest API's */
	pthread_mutex_lock(&runtime.lock);
	for (int a = 0; a < NAPIS; a++)
	{
		api_max_cps[a] = runtime.win[a].max_cps;
		if (api_max_cps[a] > max_cps)
			max_cps = api_max_cps[a];
	}
	pthread_mutex_unlock(&runtime.lock);

	pthread_mutex_lock(&stats.lock);
	snprintf(tmp, sizeof(tmp), "{\"calls\":%" PRIu64 ",\"calls_by_code\":", stats.calls);
	protocol_buffer_append(b, tmp, strlen(tmp));
	append_counters(b, stats.by_code, stats.n_by_code);
	protocol_buffer_append(b, ",\"faults\":", 10);
	append_counters(b, stats.faults, stats.n_faults);
	/* without the distinct-ID set (--no-id-stats) its figures are null */
	if (fixed.no_id_stats)
		snprintf(distinct, sizeof(distinct), "null");
	else
		snprintf(distinct, sizeof(distinct), "%zu", stats.ids.count);
	if (fixed.no_id_stats)
		snprintf(repeated, sizeof(repeated), "null");
	else
		snprintf(repeated, sizeof(repeated), "%" PRIu64, stats.repeated_ids);
	snprintf(tmp, sizeof(tmp),
			 ",\"items\":%" PRIu64 ",\"distinct_ids\":%s,\"repeated_ids\":%s"
			 ",\"max_calls_per_second\":%" PRIu64 ",\"max_in_flight\":%" PRIu64
			 ",\"in_flight\":%" PRIu64 ",\"connections\":%" PRIu64
			 ",\"connections_open\":%" PRIu64 ",\"apis\":{",
			 stats.items, distinct, repeated, max_cps,
			 stats.max_in_flight, stats.in_flight, stats.connections,
			 stats.connections_open);
	protocol_buffer_append(b, tmp, strlen(tmp));
	for (int a = 0; a < NAPIS; a++)
	{
		const api_stats *as = &stats.api[a];

		snprintf(tmp, sizeof(tmp), "%s\"%s\":{\"calls\":%" PRIu64 ",\"calls_by_code\":",
				 a ? "," : "", api_name(a), as->calls);
		protocol_buffer_append(b, tmp, strlen(tmp));
		append_counters(b, as->by_code, as->n_by_code);
		snprintf(tmp, sizeof(tmp),
				 ",\"items\":%" PRIu64 ",\"max_calls_per_second\":%" PRIu64 "}",
				 as->items, api_max_cps[a]);
		protocol_buffer_append(b, tmp, strlen(tmp));
	}
	protocol_buffer_append(b, "}}", 2);
	pthread_mutex_unlock(&stats.lock);
}

void
stats_reset(void)
{
	pthread_mutex_lock(&runtime.lock);
	for (int a = 0; a < NAPIS; a++)
	{
		runtime.win[a].max_cps = 0;
		runtime.win[a].pushed_at_reset = runtime.win[a].pushed;
	}
	pthread_mutex_unlock(&runtime.lock);

	pthread_mutex_lock(&stats.lock);
	stats.calls = 0;
	stats.n_by_code = 0;
	stats.n_faults = 0;
	stats.items = 0;
	idset_clear(&stats.ids);
	stats.repeated_ids = 0;
	stats.max_in_flight = stats.in_flight;
	stats.connections = 0;
	for (int a = 0; a < NAPIS; a++)
	{
		stats.api[a].calls = 0;
		stats.api[a].n_by_code = 0;
		stats.api[a].items = 0;
	}
	pthread_mutex_unlock(&stats.lock);
}

/* A TCP connection was accepted (MHD's connection notification). */
void
stats_connection_opened(void)
{
	pthread_mutex_lock(&stats.lock);
	stats.connections++;
	stats.connections_open++;
	pthread_mutex_unlock(&stats.lock);
}

void
stats_connection_closed(void)
{
	pthread_mutex_lock(&stats.lock);
	if (stats.connections_open > 0)
		stats.connections_open--;
	pthread_mutex_unlock(&stats.lock);
}

/* At exit, after the HTTP server stopped. */
void
stats_free(void)
{
	idset_clear(&stats.ids);
}
