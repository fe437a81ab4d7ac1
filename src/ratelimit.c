/*
 * ratelimit.c - how fast calls go: no one-second window may hold more than
 * the API's rate limit of call starts; how many calls are in flight; how
 * long a failed call waits before it goes again.
 *
 * A sliding-window log per API: a ring of the last RATELIMIT_MAX_RATE call
 * starts (CLOCK_MONOTONIC, the same clock in every process); a call may
 * start once the limit-th most recent start is more than a window ago, so
 * sessions with different limits can share one log, and unlike a token
 * bucket two bursts never meet inside one second.  The window is slightly
 * longer than a second: the service counts calls when they arrive.  Calls
 * start evenly spaced at the allowed rate, after a burst of a quarter of it
 * (a small check needs no wait).
 *
 * The allowed rate is cut on the API's rate-limit answer and grows back
 * over time, as TCP adapts to congestion, because the quota is the app's
 * and this cluster is not its only user: doc/architecture.md, "Several
 * servers on one app", says how much and why (ratelimit_refused,
 * allowed_rate).
 *
 * A shared log is guarded by an LWLock of its own (the tranche
 * "imcheck_rate_log"), not a spinlock: asking for a start reads the
 * adaptive rate (floating point), a refusal counts the window's calls with
 * a binary search over the ring, and an answer's time is written back along
 * the calls in flight, more than the few instructions a spinlock may guard;
 * a session that waits for the lock sleeps instead of spinning.
 */
#include "postgres.h"

#include <time.h>

#include "common/pg_prng.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "storage/lwlock.h"

#include "engine_int.h"

/* the gap kept between two call starts, when the rate allows it */
#define MAX_START_GAP_US 2000

/*
 * Calls that may start at once before the even spacing applies: a quarter
 * of the rate, and at least this many.
 */
#define BURST_CALLS 10

/* a cut keeps this much of the cluster's recent calls */
#define CUT_KEEP 0.9

/*
 * The allowed rate grows by this fraction of the limit each second, and
 * faster the longer no refusal came: 1% a second probes slowly near the
 * rate that was refused, and the square term brings a lone cluster back
 * from half the limit within ten seconds after the others stopped.
 */
#define GROWTH_PER_SECOND 0.01
#define GROWTH_PER_SECOND_SQUARED 0.005

typedef struct call_log
{
	uint64	count;			/* calls recorded; next slot = count % MAX */
	int64		next_start_us;	/* when the even spacing allows the next call */
	/* the adaptive rate: allowed_at_cut at cut_at_us, growing since */
	int64		cut_at_us;		/* 0: never cut, the limit applies */
	double		allowed_at_cut; /* calls per window */
	uint64	calls_before_cut;	/* calls with a smaller ticket started before it */
	int64		starts[RATELIMIT_MAX_RATE];
} call_log;

static call_log *shared_logs = NULL;
static LWLockPadded *shared_locks = NULL;	/* one per shared log */
static call_log *local_logs = NULL;

size_t
ratelimit_shmem_size(void)
{
	return sizeof(call_log) * IMCHECK_APIS;
}

void
ratelimit_shmem_attach(void *place, bool initialize, LWLockPadded *locks)
{
	shared_logs = place;
	shared_locks = locks;
	if (initialize)
		memset(shared_logs, 0, sizeof(call_log) * IMCHECK_APIS);
}

static call_log *
the_log(int log, bool *shared)
{
	Assert(log >= 0 && log < IMCHECK_APIS);
	*shared = shared_logs != NULL;
	if (shared_logs != NULL)
		return &shared_logs[log];
	if (local_logs == NULL)
	{
		/* outlives statements, so back-to-back statements pace together */
		local_logs = MemoryContextAllocZero(TopMemoryContext,
											sizeof(call_log) * IMCHECK_APIS);
	}
	return &local_logs[log];
}

int64
ratelimit_monotonic_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The calls per window the log allows now, for a limit of rate. */
static int
allowed_rate(const call_log *log, int rate, int64 now_us)
{
	double		since;
	double		allowed;

	if (log->cut_at_us == 0)
		return rate;
	since = (double) (now_us - log->cut_at_us) / 1000000.0;
	allowed = log->allowed_at_cut +
		rate * (GROWTH_PER_SECOND * since + GROWTH_PER_SECOND_SQUARED * since * since);
	return allowed >= rate ? rate : Max(1, (int) allowed);
}

int64
ratelimit_try_acquire(int log_index, int rate, ratelimit_ticket *ticket)
{
	call_log   *log;
	bool		shared;
	int64		wait = 0;
	int64		now_us;

	*ticket = UINT64_MAX;
	if (rate <= 0)
		return 0;
	if (rate > RATELIMIT_MAX_RATE)
		rate = RATELIMIT_MAX_RATE;
	log = the_log(log_index, &shared);
	if (shared)
		LWLockAcquire(&shared_locks[log_index].lock, LW_EXCLUSIVE);

	/*
	 * Read the clock under the lock: sessions then record their starts in
	 * the order they happen, and a session that was not running for a while
	 * does not record a time from before its pause.
	 */
	now_us = ratelimit_monotonic_us();
	rate = allowed_rate(log, rate, now_us);
	if (log->count >= (uint64) rate)
	{
		/* the rate-th most recent start must be a window ago */
		int64		oldest = log->starts[(log->count - (uint64) rate) % RATELIMIT_MAX_RATE];

		if (now_us - oldest < RATELIMIT_WINDOW_US)
			wait = oldest + RATELIMIT_WINDOW_US - now_us;
	}
	if (wait == 0 && log->count > 0)
	{
		/*
		 * Keep a small gap between starts, in a burst too.  Calls that
		 * start together also arrive together, and the
		 * service takes them one after another, so the last of a group can
		 * land a little late, inside the next second.  A gap of a few
		 * milliseconds (at most half the average spacing) costs nothing at
		 * the limit and keeps every call distinct.
		 */
		int64		last = log->starts[(log->count - 1) % RATELIMIT_MAX_RATE];
		int64		gap = Min(MAX_START_GAP_US, RATELIMIT_WINDOW_US / rate / 2);

		if (now_us - last < gap)
			wait = last + gap - now_us;
	}
	if (wait == 0)
	{
		int64		spacing = RATELIMIT_WINDOW_US / rate;
		int64		burst = spacing * Max(BURST_CALLS, rate / 4);

		if (now_us < log->next_start_us - burst)
			wait = log->next_start_us - burst - now_us;
		else
			log->next_start_us = Max(log->next_start_us, now_us) + spacing;
	}
	if (wait == 0)
	{
		log->starts[log->count % RATELIMIT_MAX_RATE] = now_us;
		*ticket = log->count++;
	}
	if (shared)
		LWLockRelease(&shared_locks[log_index].lock);
	return wait;
}

void
ratelimit_refine(int log_index, ratelimit_ticket ticket, int64 sent_us)
{
	call_log   *log;
	bool		shared;

	if (ticket == UINT64_MAX)
		return;
	log = the_log(log_index, &shared);
	if (shared)
		LWLockAcquire(&shared_locks[log_index].lock, LW_EXCLUSIVE);

	/*
	 * Move the call's time later, and every call recorded after it that is
	 * now earlier: the check in ratelimit_try_acquire pairs calls by their
	 * place in the log, which is sound only while times never decrease
	 * along it.  Later calls were recorded while this one was in flight,
	 * so this touches at most the calls in flight since it started.
	 */
	for (uint64 i = ticket;
		 i < log->count && i + RATELIMIT_MAX_RATE > log->count; i++)
	{
		int64    *slot = &log->starts[i % RATELIMIT_MAX_RATE];

		if (*slot >= sent_us)
			break;
		*slot = sent_us;
	}
	if (shared)
		LWLockRelease(&shared_locks[log_index].lock);
}

/*
 * How many calls of the log started in the window up to the start of the
 * call with the given ticket (still in the log): starts never decrease
 * along the log, so a binary search finds the first one inside it.
 */
static uint64
calls_in_window_before(const call_log *log, ratelimit_ticket ticket)
{
	int64		since = log->starts[ticket % RATELIMIT_MAX_RATE] - RATELIMIT_WINDOW_US;
	uint64	low = log->count > RATELIMIT_MAX_RATE ? log->count - RATELIMIT_MAX_RATE : 0;
	uint64	high = ticket;

	while (low < high)
	{
		uint64	mid = low + (high - low) / 2;

		if (log->starts[mid % RATELIMIT_MAX_RATE] > since)
			high = mid;
		else
			low = mid + 1;
	}
	return ticket + 1 - low;
}

bool
ratelimit_refused(int log_index, int rate, ratelimit_ticket ticket)
{
	call_log   *log;
	bool		shared;
	bool		cut = false;

	if (ticket == UINT64_MAX || rate <= 0)
		return false;
	if (rate > RATELIMIT_MAX_RATE)
		rate = RATELIMIT_MAX_RATE;
	log = the_log(log_index, &shared);
	if (shared)
		LWLockAcquire(&shared_locks[log_index].lock, LW_EXCLUSIVE);
	/* a call started before the last cut: the cut already answers it */
	if (ticket >= log->calls_before_cut && ticket < log->count &&
		ticket + RATELIMIT_MAX_RATE > log->count)
	{
		int64		now_us = ratelimit_monotonic_us();
		double		recent = (double) calls_in_window_before(log, ticket);
		double		allowed = allowed_rate(log, rate, now_us);

		log->allowed_at_cut = Max(1.0, Min(recent, allowed) * CUT_KEEP);
		log->cut_at_us = now_us;
		log->calls_before_cut = log->count;
		cut = true;
	}
	if (shared)
		LWLockRelease(&shared_locks[log_index].lock);
	return cut;
}

/*
 * Calls in flight.  100 calls a second over a 300 ms round trip need 30
 * calls in flight (Little's law), so a fixed number would cap the rate far
 * from the app's region.  With imcheck.max_concurrency = 0 the engine keeps
 * rate x round trip in flight, a quarter more for jitter and two spare.
 * The round trip is a moving average of answered calls' times, an eighth
 * per call as TCP averages its RTT, kept per backend: the next statement
 * starts from it.
 */

/* before any answer, and without a rate limit */
#define FIRST_IN_FLIGHT 16
#define MIN_IN_FLIGHT 4

#define BACKOFF_BASE_MS 100
#define BACKOFF_RATE_LIMITED_MS 1000
#define BACKOFF_CAP_MS 10000

/* the moving average of answered calls' times; 0: none answered yet */
static int64 round_trip_us = 0;

int
pacing_in_flight_limit(const imcheck_config *cfg, int64 oldest_age_us)
{
	int64		round_trip = round_trip_us;
	int64		need;

	if (cfg->max_concurrency > 0)
		return cfg->max_concurrency;
	if (cfg->rate_limit <= 0)
		return FIRST_IN_FLIGHT;

	/*
	 * Before the first answer, the round trip is at least the age of the
	 * oldest call in flight: the limit then grows as fast as the rate
	 * budget lets calls start, as in TCP's slow start.
	 */
	if (round_trip == 0)
		round_trip = oldest_age_us;
	need = ((int64) cfg->rate_limit * round_trip * 5 / 4 + 999999) / 1000000 + 2;
	if (round_trip_us == 0)
		need = Max(need, FIRST_IN_FLIGHT);
	return (int) Max(MIN_IN_FLIGHT, Min(need, PACING_MAX_IN_FLIGHT));
}

bool
pacing_round_trip_known(void)
{
	return round_trip_us != 0;
}

void
pacing_answered(int64 took_us)
{
	round_trip_us = round_trip_us == 0 ? took_us
		: round_trip_us + (took_us - round_trip_us) / 8;
}

void
pacing_forget_round_trip(void)
{
	round_trip_us = 0;
}

int64
pacing_backoff_us(const imcheck_config *cfg, const call_outcome *out, int attempt)
{
	int64		base_ms;
	int64		ms;

	if (out->reason == RETRY_USERSIG_RENEWED)
		return 0;

	/*
	 * A rate-limit answer under imcheck.rate_limit has cut the rate the
	 * calls start at (ratelimit.c), which spaces them out: the retry needs
	 * no long wait of its own.  Without a limit, the wait is all there is.
	 */
	base_ms = out->reason == RETRY_API_RATE_LIMITED && cfg->rate_limit <= 0
		? BACKOFF_RATE_LIMITED_MS : BACKOFF_BASE_MS;
	ms = base_ms << Min(attempt, 10);
	ms = Min(ms, BACKOFF_CAP_MS);
	/* jitter between half and all of it, so retries don't come in waves */
	return (int64) (ms * 1000 * (0.5 + 0.5 * pg_prng_double(&pg_global_prng_state)));
}
