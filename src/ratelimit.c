/*
 * ratelimit.c - sliding-window pacing of API calls (see ratelimit.h).
 *
 * The log is a ring of the last RATELIMIT_MAX_RATE call starts.  A session
 * with limit R looks at the R-th most recent start, so sessions with
 * different limits can share one log.  Times are CLOCK_MONOTONIC, which is
 * the same clock in every process of the machine.
 */
#include "postgres.h"

#include <time.h>

#include "miscadmin.h"
#include "utils/memutils.h"
#include "storage/spin.h"

#include "ratelimit.h"

/* the gap kept between two call starts, when the rate allows it */
#define MAX_START_GAP_US 2000

typedef struct call_log
{
	slock_t		mutex;			/* used only when shared */
	uint64_t	count;			/* calls recorded; next slot = count % MAX */
	int64_t		starts[RATELIMIT_MAX_RATE];
} call_log;

static call_log *shared_log = NULL;
static call_log *local_log = NULL;

size_t
ratelimit_shmem_size(void)
{
	return sizeof(call_log);
}

void
ratelimit_shmem_attach(void *place, bool initialize)
{
	shared_log = place;
	if (initialize)
	{
		memset(shared_log, 0, sizeof(call_log));
		SpinLockInit(&shared_log->mutex);
	}
}

static call_log *
the_log(void)
{
	if (shared_log != NULL)
		return shared_log;
	if (local_log == NULL)
	{
		/* outlives statements, so back-to-back statements pace together */
		local_log = MemoryContextAllocZero(TopMemoryContext, sizeof(call_log));
	}
	return local_log;
}

int64_t
ratelimit_monotonic_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
ratelimit_try_acquire(int rate, int64_t *start_us, ratelimit_ticket *ticket)
{
	call_log   *log;
	int64_t		wait = 0;
	int64_t		now_us;

	*ticket = UINT64_MAX;
	if (rate <= 0)
	{
		*start_us = ratelimit_monotonic_us();
		return 0;
	}
	if (rate > RATELIMIT_MAX_RATE)
		rate = RATELIMIT_MAX_RATE;
	log = the_log();
	if (log == shared_log)
		SpinLockAcquire(&log->mutex);

	/*
	 * Read the clock under the lock: sessions then record their starts in
	 * the order they happen, and a session that was not running for a while
	 * does not record a time from before its pause.
	 */
	now_us = ratelimit_monotonic_us();
	*start_us = now_us;
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
		 * Keep a small gap between starts.  The window lets a whole
		 * budget go at once, and the log then repeats that pattern a window
		 * later; calls that start together also arrive together, and the
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
		log->starts[log->count % RATELIMIT_MAX_RATE] = now_us;
		*ticket = log->count++;
	}
	if (log == shared_log)
		SpinLockRelease(&log->mutex);
	return wait;
}

void
ratelimit_refine(ratelimit_ticket ticket, int64_t sent_us)
{
	call_log   *log;

	if (ticket == UINT64_MAX)
		return;
	log = the_log();
	if (log == shared_log)
		SpinLockAcquire(&log->mutex);

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
	if (log == shared_log)
		SpinLockRelease(&log->mutex);
}
