/*
 * ratelimit.c - pacing of API calls (see ratelimit.h).
 *
 * The log is a ring of the last RATELIMIT_MAX_RATE call starts.  A session
 * with limit R looks at the R-th most recent start, so sessions with
 * different limits can share one log.  Times are CLOCK_MONOTONIC, which is
 * the same clock in every process of the machine.
 *
 * The rate the log allows adapts to the API's rate-limit answers, as TCP
 * adapts to congestion, because the quota is the app's and this cluster is
 * not its only user (doc/architecture.md, "Several servers on one app"):
 *
 *   - a refusal of a call started since the last cut cuts the allowed rate
 *     to 90% of the calls this cluster started in the window before the
 *     refused one, which is about its share of what the service let
 *     through (of the allowed rate, if that was lower).  When clusters
 *     start together, that is about the calls they sent before the
 *     service's window filled: their logs then hold back new calls until
 *     the window has moved on, as the service's does;
 *   - refusals of calls started before the cut say nothing new: the cut
 *     already answers them (so the rate is cut once per round trip);
 *   - the allowed rate then grows back, by 1% of the limit a second and
 *     faster as time passes without a refusal, up to the limit: several
 *     clusters probe their shares slowly, each refused once every few
 *     seconds, and a lone one is back at the limit within seconds of the
 *     others stopping.
 *
 * Calls start evenly spaced at the allowed rate, after a burst of a quarter
 * of it (a small check needs no wait).  Bursts of a whole budget would be
 * safe for one cluster, but with several they arrive together, fill the
 * service's window and are refused before any cluster hears of it; evenly
 * spaced, the clusters' calls overrun it by about the calls in flight when
 * the first refusal comes back, once, when they start together.
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

#include "miscadmin.h"
#include "utils/memutils.h"
#include "storage/lwlock.h"

#include "ratelimit.h"

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
	uint64_t	count;			/* calls recorded; next slot = count % MAX */
	int64_t		next_start_us;	/* when the even spacing allows the next call */
	/* the adaptive rate: allowed_at_cut at cut_at_us, growing since */
	int64_t		cut_at_us;		/* 0: never cut, the limit applies */
	double		allowed_at_cut; /* calls per window */
	uint64_t	calls_before_cut;	/* calls with a smaller ticket started before it */
	int64_t		starts[RATELIMIT_MAX_RATE];
} call_log;

static call_log *shared_logs = NULL;
static LWLockPadded *shared_locks = NULL;	/* one per shared log */
static call_log *local_logs = NULL;

size_t
ratelimit_shmem_size(void)
{
	return sizeof(call_log) * RATELIMIT_LOGS;
}

void
ratelimit_shmem_attach(void *place, bool initialize, LWLockPadded *locks)
{
	shared_logs = place;
	shared_locks = locks;
	if (initialize)
		memset(shared_logs, 0, sizeof(call_log) * RATELIMIT_LOGS);
}

static call_log *
the_log(int log, bool *shared)
{
	Assert(log >= 0 && log < RATELIMIT_LOGS);
	*shared = shared_logs != NULL;
	if (shared_logs != NULL)
		return &shared_logs[log];
	if (local_logs == NULL)
	{
		/* outlives statements, so back-to-back statements pace together */
		local_logs = MemoryContextAllocZero(TopMemoryContext,
											sizeof(call_log) * RATELIMIT_LOGS);
	}
	return &local_logs[log];
}

int64_t
ratelimit_monotonic_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The calls per window the log allows now, for a limit of rate. */
static int
allowed_rate(const call_log *log, int rate, int64_t now_us)
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

int64_t
ratelimit_try_acquire(int log_index, int rate, ratelimit_ticket *ticket)
{
	call_log   *log;
	bool		shared;
	int64_t		wait = 0;
	int64_t		now_us;

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
	if (log->count >= (uint64_t) rate)
	{
		/* the rate-th most recent start must be a window ago */
		int64_t		oldest = log->starts[(log->count - (uint64_t) rate) % RATELIMIT_MAX_RATE];

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
		int64_t		last = log->starts[(log->count - 1) % RATELIMIT_MAX_RATE];
		int64_t		gap = Min(MAX_START_GAP_US, RATELIMIT_WINDOW_US / rate / 2);

		if (now_us - last < gap)
			wait = last + gap - now_us;
	}
	if (wait == 0)
	{
		int64_t		spacing = RATELIMIT_WINDOW_US / rate;
		int64_t		burst = spacing * Max(BURST_CALLS, rate / 4);

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
ratelimit_refine(int log_index, ratelimit_ticket ticket, int64_t sent_us)
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
	for (uint64_t i = ticket;
		 i < log->count && i + RATELIMIT_MAX_RATE > log->count; i++)
	{
		int64_t    *slot = &log->starts[i % RATELIMIT_MAX_RATE];

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
static uint64_t
calls_in_window_before(const call_log *log, ratelimit_ticket ticket)
{
	int64_t		since = log->starts[ticket % RATELIMIT_MAX_RATE] - RATELIMIT_WINDOW_US;
	uint64_t	low = log->count > RATELIMIT_MAX_RATE ? log->count - RATELIMIT_MAX_RATE : 0;
	uint64_t	high = ticket;

	while (low < high)
	{
		uint64_t	mid = low + (high - low) / 2;

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
		int64_t		now_us = ratelimit_monotonic_us();
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
