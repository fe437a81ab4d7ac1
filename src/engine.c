/*
 * engine.c - the loop of one statement: calls an API (cfg->api) for a
 * job's distinct UserIDs.
 *
 * The distinct UserIDs are split into batches of imcheck.batch_size (at
 * most the API's limit), whose requests and answers the API's descriptor
 * (apis.c) writes and reads.  As many calls are in flight as the rate
 * budget needs over the measured round trip (or imcheck.max_concurrency),
 * paced by the API's rate log (ratelimit.c), and retried with exponential
 * backoff and jitter when they fail transiently.  Each call is a libcurl
 * transfer of its own (call.c) on one multi handle that lives as long as
 * the backend (multi.c), so its connection cache keeps connections alive
 * across calls and statements.
 *
 * It waits through PostgreSQL (multi.c), with the rate budget and the
 * retries' backoff as the timeout.  Whatever happens, the PG_FINALLY block
 * removes every call in flight, which closes its connection: no half-read
 * answer is left for the next statement.
 */
#include "postgres.h"

#include <curl/curl.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "engine_int.h"

/* idle connections kept beyond the calls in flight */
#define SPARE_CONNECTIONS 4

/* A batch to send, and how. */
typedef struct batch_ref
{
	imcheck_job *job;
	uint32		batch;
	int			attempt;
	int			failovers;		/* base URLs this attempt could not reach */
	bool		fresh_connection;	/* its kept connection broke: a new one */
} batch_ref;

/* A batch waiting out its backoff before it is sent again. */
typedef struct pending_retry
{
	batch_ref	ref;
	int64		not_before_us;
} pending_retry;

/* The state of one run of imcheck_run_feed. */
typedef struct run_state
{
	imcheck_config *cfg;
	const imcheck_feed *feed;
	imcheck_job *sending;		/* the job whose fresh batches go next */
	bool		feed_ended;		/* the feed has no more jobs */
	int			jobs_open;		/* jobs taken from the feed and not done */
	imcheck_call **calls;		/* the calls in flight: max_in_flight slots */
	int			in_flight;
	pending_retry *retries;		/* fresh batches go on while earlier ones wait
								 * out their backoff, so any number of them
								 * (one per batch at most) may wait: grows */
	int			n_retries;
	int			retries_cap;
	int			max_in_flight;	/* the calls array's size */
	int			usersig_generation;
	int			usersig_renewals;
	int64		rate_wait_us;	/* time spent waiting for the rate budget */
	MemoryContext memory;		/* the statement's: the engine's own */
	MemoryContext caller_memory;	/* the caller's: the config's, the feed's */
	MemoryContext call_memory;	/* a finished call's: reset after it */
} run_state;

/* How long the oldest call in flight has been out, or 0. */
static int64
oldest_call_age(const run_state *rs, int64 now)
{
	int64		age = 0;

	for (int i = 0; i < rs->in_flight; i++)
		age = Max(age, now - rs->calls[i]->started_us);
	return age;
}

static uint32
first_of_batch(const run_state *rs, uint32 batch)
{
	return batch * (uint32) rs->cfg->batch_size;
}

/* Hands a job that is all done back to the feed, in the caller's memory. */
static void
give_back(run_state *rs, imcheck_job *job)
{
	MemoryContext engine_memory = MemoryContextSwitchTo(rs->caller_memory);

	if (rs->feed->job_done)
		rs->feed->job_done(rs->feed->arg, job);
	MemoryContextSwitchTo(engine_memory);
}

/* Counts one more of job's batches done; hands the job back when it is all done. */
static void
batch_done(run_state *rs, imcheck_job *job)
{
	if (++job->batches_done < job->n_batches)
		return;
	rs->jobs_open--;
	if (rs->sending == job)
		rs->sending = NULL;		/* all sent, and about to be freed */
	give_back(rs, job);
}

/*
 * A fresh UserSig from the key; false when none can be made (the key is
 * gone since the statement began), and the 70001 then stands.
 */
static bool
renew_usersig(run_state *rs)
{
	/* the config is the caller's */
	MemoryContext previous = MemoryContextSwitchTo(rs->caller_memory);
	bool		renewed = imcheck_renew_usersig(rs->cfg);

	MemoryContextSwitchTo(previous);
	if (renewed)
	{
		rs->usersig_generation++;
		rs->usersig_renewals++;
	}
	return renewed;
}

/* Takes the call out of the calls in flight and frees it. */
static void
forget_call(run_state *rs, imcheck_call *call)
{
	imcheck_call *last = rs->calls[--rs->in_flight];

	Assert(rs->calls[call->slot] == call);
	rs->calls[call->slot] = last;
	last->slot = call->slot;
	call_free(call);
	pfree(call);
}

/* Counts a call that failed for good (n_ids: the IDs it gives up). */
static void
count_failure(imcheck_job *job, uint32 n_ids, const call_outcome *out)
{
	imcheck_stats_call_finished(n_ids, out->connects);
	imcheck_stats_call_failed(out->code);
	job->has_failed_random = true;
	job->failed_random = out->random;
}

/*
 * Gives up on a batch, counting it as failed: raises, or (raise_on_error
 * false) gives its IDs the call's code.
 */
static void
fail_batch(run_state *rs, imcheck_job *job, uint32 batch, uint32 n_ids, int attempts,
		   const call_outcome *out)
{
	count_failure(job, n_ids, out);
	if (job->raise_on_error)
		outcome_raise_call_failed(out, attempts, rs->cfg,
								  !(job->answered_once[batch / 8] & (1 << (batch % 8))),
								  job->batches_done > job->failed_calls);
	job_fail_ids(job, first_of_batch(rs, batch), n_ids, out);
	job->failed_calls++;
	batch_done(rs, job);
}

/* Queues a batch to go again (as ref says), no sooner than not_before_us. */
static void
queue_retry(run_state *rs, batch_ref ref, int64 not_before_us)
{
	if (rs->n_retries == rs->retries_cap)
	{
		rs->retries_cap *= 2;
		rs->retries = repalloc(rs->retries, sizeof(pending_retry) * rs->retries_cap);
	}
	rs->retries[rs->n_retries].ref = ref;
	rs->retries[rs->n_retries].not_before_us = not_before_us;
	rs->n_retries++;
}

/* Ends a call whose transfer is over (rc: libcurl's code) and acts on it. */
static void
finish_call_in_memory(run_state *rs, imcheck_call *call, CURLcode rc)
{
	call_outcome out = outcome_of_call(rs->cfg, call, rc);
	batch_ref	ref = {call->job, call->batch, call->attempt, call->failovers, false};
	uint32		n_ids = call->n_ids;
	int			endpoint = call->endpoint;
	bool		was_fresh = call->fresh_connection;
	ratelimit_ticket ticket = call->ticket;
	int64		took_us = ratelimit_monotonic_us() - call->started_us;
	int64		not_before_us;
	imcheck_job *job = call->job;

	/*
	 * An expired UserSig (70001) that imcheck generated: renew it once per
	 * job (a statement's, or a slice of a table's) and send the call again
	 * at once.  Calls that were already in flight with the old one come
	 * back with 70001 too, and go again with the new one.
	 */
	if (out.usersig_expired && rs->cfg->usersig_from_key &&
		(call->usersig_generation < rs->usersig_generation ||
		 (rs->usersig_renewals == 0 && renew_usersig(rs))))
	{
		out.verdict = VERDICT_TRANSIENT;
		out.reason = RETRY_USERSIG_RENEWED;
	}
	out.random = call->random;
	forget_call(rs, call);
	out.base_url = rs->cfg->base_urls[endpoint];
	if (!out.unreachable && !out.proxy_failed && out.code != IMCHECK_CODE_CONNECT_FAILED)
		job->answered_once[ref.batch / 8] |= (uint8) (1 << (ref.batch % 8));

	/*
	 * Sent on a kept connection that broke before any answer: the pool's
	 * business, not the call's.  It goes again at once on a new connection
	 * without using a retry, once per attempt (doc/architecture.md, "Kept
	 * connections").
	 */
	if (out.stale_connection && !was_fresh)
	{
		imcheck_stats_call_finished(0, out.connects);
		imcheck_stats_stale_connection();
		ref.fresh_connection = true;
		queue_retry(rs, ref, ratelimit_monotonic_us());
		return;
	}

	/* no way to the API there: the next base URL at once, if one is left */
	if (out.unreachable && ref.failovers + 1 < rs->cfg->n_endpoints)
	{
		failover_unreachable(rs->cfg, endpoint, &out);
		imcheck_stats_call_finished(0, out.connects);
		ref.failovers++;
		queue_retry(rs, ref, ratelimit_monotonic_us());
		return;
	}
	if (out.unreachable)		/* at none of them: say why for each */
		out.info = failover_reason(rs->cfg, endpoint, &out);
	switch (out.verdict)
	{
		case VERDICT_DONE:
			imcheck_stats_call_finished(n_ids, out.connects);
			pacing_answered(took_us);
			batch_done(rs, job);
			return;
		case VERDICT_FATAL:
			count_failure(job, 0, &out);
			outcome_raise_fatal(&out, rs->cfg);
		case VERDICT_CALL_FAILED:
			fail_batch(rs, job, ref.batch, n_ids, ref.attempt + 1, &out);
			return;
		case VERDICT_TRANSIENT:
			break;
	}

	/* the app's quota is spent: other servers use it too, so slow down */
	if (out.reason == RETRY_API_RATE_LIMITED &&
		ratelimit_refused(rs->cfg->api->id, rs->cfg->rate_limit, ticket))
		imcheck_stats_rate_reduction();
	/* a renewed UserSig is not the call's fault: it doesn't use a retry */
	if (out.reason != RETRY_USERSIG_RENEWED && ref.attempt >= rs->cfg->max_retries)
	{
		fail_batch(rs, job, ref.batch, n_ids, ref.attempt + 1, &out);
		return;
	}
	imcheck_stats_call_finished(0, out.connects);
	imcheck_stats_retry(out.reason);
	job->retries++;
	job->retries_by_reason[out.reason]++;
	not_before_us = ratelimit_monotonic_us() + pacing_backoff_us(rs->cfg, &out, ref.attempt);
	ref.failovers = 0;
	if (out.reason != RETRY_USERSIG_RENEWED)
		ref.attempt++;
	queue_retry(rs, ref, not_before_us);
}

/*
 * finish_call_in_memory, in a memory context of its own that is reset
 * after it: what the call leaves (texts of failures, the answer's parse) is
 * gone with it, and what it stores is in the job's memory.
 */
static void
finish_call(run_state *rs, imcheck_call *call, CURLcode rc)
{
	MemoryContext caller = MemoryContextSwitchTo(rs->call_memory);

	finish_call_in_memory(rs, call, rc);
	MemoryContextSwitchTo(caller);
	MemoryContextReset(rs->call_memory);
}

/* Ends every call whose transfer libcurl has finished. */
static void
collect_finished(run_state *rs)
{
	CURLMsg    *msg;
	int			queued;

	while ((msg = curl_multi_info_read(multi_handle(), &queued)) != NULL)
	{
		imcheck_call *call = NULL;
		CURLcode	rc = msg->data.result;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &call);
		finish_call(rs, call, rc);
	}
}

/*
 * Makes the job whose fresh batches go next one that has some, asking the
 * feed for the next job when the last is all sent; false when the feed has
 * no more.  The feed is asked only when a call could start: a feed that
 * reads its jobs from a table reads each only when it is needed.
 */
static bool
next_job_to_send(run_state *rs)
{
	while (rs->sending == NULL || rs->sending->next_fresh == rs->sending->n_batches)
	{
		imcheck_job *job;
		MemoryContext engine_memory;

		if (rs->feed_ended)
			return false;
		rs->sending = NULL;
		engine_memory = MemoryContextSwitchTo(rs->caller_memory);
		job = rs->feed->next_job(rs->feed->arg);
		MemoryContextSwitchTo(engine_memory);
		if (job == NULL)
		{
			rs->feed_ended = true;
			return false;
		}
		job->n_batches = (job->n + (uint32) rs->cfg->batch_size - 1) / (uint32) rs->cfg->batch_size;
		job->next_fresh = 0;
		job->batches_done = 0;
		/* what the calls store goes there (finish_call's memory is reset) */
		if (job->mcxt == NULL)
			job->mcxt = rs->caller_memory;
		job->answered_once = MemoryContextAllocZero(job->mcxt, (job->n_batches + 7) / 8);
		imcheck_stats_check_grew(job->n);
		rs->jobs_open++;
		/* a feed may run for hours: its UserSig may expire more than once */
		rs->usersig_renewals = 0;
		if (job->n_batches == 0)
		{
			rs->jobs_open--;
			give_back(rs, job);
			continue;
		}
		rs->sending = job;
	}
	return true;
}

/*
 * Picks the next batch to send: a retry whose backoff is over first, else a
 * fresh batch.  Returns false when none is ready; *ready_at then says when
 * the earliest retry will be (INT64_MAX if none).  *retry_index is the
 * retry's, or -1.
 */
static bool
next_batch(run_state *rs, int64 now, batch_ref *ref, int *retry_index, int64 *ready_at)
{
	int			best = -1;

	*ready_at = INT64_MAX;
	for (int i = 0; i < rs->n_retries; i++)
	{
		if (rs->retries[i].not_before_us <= now)
		{
			if (best < 0 || rs->retries[i].not_before_us < rs->retries[best].not_before_us)
				best = i;
		}
		else if (rs->retries[i].not_before_us < *ready_at)
			*ready_at = rs->retries[i].not_before_us;
	}
	*retry_index = best;
	if (best >= 0)
	{
		*ref = rs->retries[best].ref;
		return true;
	}
	if (!next_job_to_send(rs))
		return false;
	*ref = (batch_ref) {rs->sending, rs->sending->next_fresh, 0, 0, false};
	return true;
}

/* Starts a call for a batch, recorded in the rate log as ticket. */
static void
start_call(run_state *rs, const batch_ref *ref, ratelimit_ticket ticket)
{
	imcheck_job *job = ref->job;
	uint32		first = first_of_batch(rs, ref->batch);
	uint32		count = Min((uint32) rs->cfg->batch_size, job->n - first);
	imcheck_call *call = palloc0(sizeof(imcheck_call));

	/* in the list first: whatever fails below, PG_FINALLY frees it */
	call->slot = rs->in_flight;
	rs->calls[rs->in_flight++] = call;
	for (uint32 i = 0; i < count; i++)
		call->ids[i] = job_id(job, first + i, &call->id_lens[i]);
	call->n_ids = count;
	call->job = job;
	call->first = first;
	call->batch = ref->batch;
	call->attempt = ref->attempt;
	call->endpoint = failover_current();
	call->failovers = ref->failovers;
	call->usersig_generation = rs->usersig_generation;
	call->ticket = ticket;
	call->rate_log = rs->cfg->api->id;
	call->fresh_connection = ref->fresh_connection;
	if (rs->cfg->api->build_request(call, &call->request) != 0)
		imcheck_out_of_memory();
	call->started_us = ratelimit_monotonic_us();
	job->calls++;
	imcheck_stats_call_started();
	call_start(call, rs->cfg);
}

/*
 * Starts every call that may start now; returns when to look again, and
 * whether it is the rate budget that holds calls back.
 */
static int64
start_calls(run_state *rs, int64 now, bool *rate_blocked)
{
	int64		wake_at = INT64_MAX;
	bool		idle_checked = false;

	/* calls started below are 0 old: the limit holds for the whole round */
	int			limit = Min(pacing_in_flight_limit(rs->cfg, pacing_round_trip_known()
													? 0 : oldest_call_age(rs, now)),
							rs->max_in_flight);

	*rate_blocked = false;
	while (rs->in_flight < limit)
	{
		batch_ref	ref;
		int			retry_index;
		int64		ready_at;
		int64		wait;
		ratelimit_ticket ticket;

		if (!next_batch(rs, now, &ref, &retry_index, &ready_at))
		{
			wake_at = Min(wake_at, ready_at);
			break;
		}
		wait = ratelimit_try_acquire(rs->cfg->api->id, rs->cfg->rate_limit, &ticket);
		if (wait > 0)
		{
			wake_at = Min(wake_at, now + wait);
			*rate_blocked = true;
			break;
		}
		if (retry_index >= 0)
			rs->retries[retry_index] = rs->retries[--rs->n_retries];
		else
			ref.job->next_fresh++;

		/*
		 * No idle connection with a stale answer waiting may carry a call.
		 * Connections only go idle inside libcurl, so one look serves every
		 * call started here.
		 */
		if (!idle_checked)
		{
			multi_drop_unsolicited();
			idle_checked = true;
		}
		start_call(rs, &ref, ticket);
	}
	return wake_at;
}

/* Ends every call in flight; their connections are closed.  Never raises. */
static void
abandon_calls(run_state *rs)
{
	while (rs->in_flight > 0)
	{
		imcheck_call *call = rs->calls[--rs->in_flight];

		call_free(call);
	}
	multi_end_waits();
}

void
imcheck_run_feed(imcheck_config *cfg, const imcheck_feed *feed)
{
	MemoryContext caller = CurrentMemoryContext;

	/* the statement's own memory, freed at its end, ERROR or not */
	MemoryContext memory = AllocSetContextCreate(caller, "imcheck statement",
												 ALLOCSET_DEFAULT_SIZES);

	/*
	 * On the heap: PG_FINALLY reads what the loop changed, which a local
	 * would have to be volatile for (setjmp/longjmp).
	 */
	run_state  *rs = MemoryContextAllocZero(memory, sizeof(run_state));

	MemoryContextSwitchTo(memory);
	rs->cfg = cfg;
	rs->feed = feed;
	rs->memory = memory;
	rs->caller_memory = caller;
	rs->call_memory = AllocSetContextCreate(memory, "imcheck call", ALLOCSET_SMALL_SIZES);
	rs->max_in_flight = cfg->max_concurrency > 0 ? cfg->max_concurrency : PACING_MAX_IN_FLIGHT;
	rs->calls = palloc0(sizeof(imcheck_call *) * rs->max_in_flight);
	rs->retries_cap = 32;
	rs->retries = palloc(sizeof(pending_retry) * rs->retries_cap);
	PG_TRY();
	{
		failover_statement_starts(cfg);
		/* the cache holds the connections the calls in flight opened, no more */
		multi_set_option(curl_multi_setopt(multi_handle(), CURLMOPT_MAXCONNECTS,
										   (long) (rs->max_in_flight + SPARE_CONNECTIONS)),
						 "CURLMOPT_MAXCONNECTS");
		imcheck_stats_check_started(cfg->api->id, 0);
		for (;;)
		{
			int64		now;
			int64		wake_at;
			bool		rate_blocked;

			CHECK_FOR_INTERRUPTS();
			now = ratelimit_monotonic_us();
			wake_at = start_calls(rs, now, &rate_blocked);
			if (rs->feed_ended && rs->jobs_open == 0)
				break;
			multi_wait(wake_at, now,
					   imcheck_wait_event(rs->in_flight > 0 ? IMCHECK_WAIT_CALL
										  : IMCHECK_WAIT_RATE_BUDGET));
			collect_finished(rs);
			if (rate_blocked)
				rs->rate_wait_us += ratelimit_monotonic_us() - now;
		}
	}
	PG_FINALLY();
	{
		abandon_calls(rs);
		imcheck_forget_usersig(cfg);
		imcheck_stats_check_ended();
		imcheck_stats_rate_wait(rs->rate_wait_us);
		MemoryContextSwitchTo(caller);
		MemoryContextDelete(memory);
	}
	PG_END_TRY();
}

/* The feed of imcheck_run_job: its one job, taken once. */
static imcheck_job *
take_job(void *arg)
{
	imcheck_job **job = arg;
	imcheck_job *taken = *job;

	*job = NULL;
	return taken;
}

void
imcheck_run_job(imcheck_config *cfg, imcheck_job *job)
{
	imcheck_feed feed = {take_job, NULL, &job};

	if (job->n == 0)
	{
		imcheck_forget_usersig(cfg);
		return;
	}
	imcheck_run_feed(cfg, &feed);
}
