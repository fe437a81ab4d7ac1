/*
 * timer.c - the timer thread of imsim: API answers that must wait (latency,
 * jitter, stall) are prepared at once, their connection is suspended, and
 * this thread resumes it when the deadline comes, so that a waiting call
 * holds no worker thread.  A binary min-heap on the deadline, under
 * timer.lock; the thread sleeps on a CLOCK_MONOTONIC condition variable.
 */
#include "imsim.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef struct timer_item
{
	uint64_t	deadline;
	struct MHD_Connection *conn;
	req_ctx    *rc;
} timer_item;

static struct
{
	pthread_mutex_t lock;
	pthread_cond_t cond;
	timer_item *heap;
	size_t		len;
	size_t		cap;
	int			shutting_down;
	size_t		suspended;		/* suspended and not yet seen resumed */
	pthread_t	thread;
} timer = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void
heap_push(timer_item it)
{
	size_t		i = timer.len++;

	while (i > 0)
	{
		size_t		p = (i - 1) / 2;

		if (timer.heap[p].deadline <= it.deadline)
			break;
		timer.heap[i] = timer.heap[p];
		i = p;
	}
	timer.heap[i] = it;
}

static timer_item
heap_pop(void)
{
	timer_item	top = timer.heap[0];
	timer_item	last = timer.heap[--timer.len];
	size_t		i = 0;

	for (;;)
	{
		size_t		c = 2 * i + 1;

		if (c >= timer.len)
			break;
		if (c + 1 < timer.len && timer.heap[c + 1].deadline < timer.heap[c].deadline)
			c++;
		if (last.deadline <= timer.heap[c].deadline)
			break;
		timer.heap[i] = timer.heap[c];
		i = c;
	}
	if (timer.len > 0)
		timer.heap[i] = last;
	return top;
}

/*
 * Suspends conn until now + delay_ns.  Must be called from the access
 * handler.  Returns -1 when shutting down (or out of memory): the caller
 * then drops the connection.
 */
int
timer_schedule(struct MHD_Connection *conn, req_ctx *rc, uint64_t delay_ns)
{
	timer_item	it = {mono_ns() + delay_ns, conn, rc};

	pthread_mutex_lock(&timer.lock);
	if (timer.shutting_down)
	{
		pthread_mutex_unlock(&timer.lock);
		return -1;
	}
	if (timer.len == timer.cap)
	{
		size_t		ncap = timer.cap ? timer.cap * 2 : 256;
		timer_item *nh = realloc(timer.heap, ncap * sizeof(timer_item));

		if (nh == NULL)
		{
			pthread_mutex_unlock(&timer.lock);
			return -1;
		}
		timer.heap = nh;
		timer.cap = ncap;
	}
	MHD_suspend_connection(conn);
	rc->state = RS_SUSPENDED;
	timer.suspended++;
	heap_push(it);
	if (timer.heap[0].rc == rc)
		pthread_cond_signal(&timer.cond);
	pthread_mutex_unlock(&timer.lock);
	return 0;
}

static void *
timer_main(void *arg)
{
	timer_item	due[256];

	(void) arg;
	pthread_mutex_lock(&timer.lock);
	for (;;)
	{
		size_t		n = 0;
		uint64_t	now = mono_ns();

		if (timer.shutting_down)
		{
			/* resume everything; the handler drops the aborted ones */
			while (timer.len > 0)
			{
				timer_item	it = heap_pop();

				it.rc->aborted = 1;
				MHD_resume_connection(it.conn);
			}
			break;
		}
		while (timer.len > 0 && timer.heap[0].deadline <= now &&
			   n < sizeof(due) / sizeof(due[0]))
			due[n++] = heap_pop();
		if (n > 0)
		{
			pthread_mutex_unlock(&timer.lock);
			for (size_t i = 0; i < n; i++)
				MHD_resume_connection(due[i].conn);
			pthread_mutex_lock(&timer.lock);
			continue;
		}
		if (timer.len == 0)
			pthread_cond_wait(&timer.cond, &timer.lock);
		else
		{
			uint64_t	d = timer.heap[0].deadline;
			struct timespec ts = {(time_t) (d / NS_PER_S), (long) (d % NS_PER_S)};

			pthread_cond_timedwait(&timer.cond, &timer.lock, &ts);
		}
	}
	pthread_mutex_unlock(&timer.lock);
	return NULL;
}

/*
 * Starts the timer thread.  Call it with SIGTERM and SIGINT blocked: the
 * thread inherits the mask, and main must be the one that takes them.
 */
void
timer_start(void)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&timer.cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&timer.thread, NULL, timer_main, NULL) != 0)
		die("cannot start the timer thread");
}

/* The access handler saw a suspended connection come back. */
void
timer_resumed(void)
{
	pthread_mutex_lock(&timer.lock);
	timer.suspended--;
	pthread_mutex_unlock(&timer.lock);
}

/*
 * Resumes every suspended connection (the handler drops them), stops the
 * thread, and waits up to 2 s for the handler to have seen them all, so
 * that MHD_stop_daemon does not meet suspended connections.
 */
void
timer_stop(void)
{
	pthread_mutex_lock(&timer.lock);
	timer.shutting_down = 1;
	pthread_cond_signal(&timer.cond);
	pthread_mutex_unlock(&timer.lock);
	pthread_join(timer.thread, NULL);
	for (int i = 0; i < 200; i++)
	{
		size_t		left;

		pthread_mutex_lock(&timer.lock);
		left = timer.suspended;
		pthread_mutex_unlock(&timer.lock);
		if (left == 0)
			break;
		usleep(10000);
	}
}

/* After MHD_stop_daemon: nothing can schedule any more. */
void
timer_free(void)
{
	free(timer.heap);
	pthread_cond_destroy(&timer.cond);
}
