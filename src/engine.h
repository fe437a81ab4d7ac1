/*
 * engine.h - the engine: calls an API (cfg->api) for a job's distinct
 * UserIDs (batches, calls in flight, pacing, retries, waits, cancel), on
 * one libcurl multi handle per backend.
 */
#ifndef IMCHECK_ENGINE_H
#define IMCHECK_ENGINE_H

#include "job.h"
#include "settings.h"

/*
 * Runs the job: returns when every distinct ID has a result, or raises an
 * ERROR (fatal API error, retries exhausted with raise_on_error, cancel).
 * Allocations are made in CurrentMemoryContext.
 */
extern void imcheck_run_job(imcheck_config *cfg, imcheck_job *job);

/*
 * Work handed to the engine a job at a time, so that a table of any size
 * goes through one pipeline of calls (table_check.c).  next_job gives the
 * next job, or NULL when there is no more; it is called only when a call
 * could start, after the jobs before it have had all their batches sent.
 * job_done gets each job back once every ID of it has its result (jobs may
 * end out of order: a batch retried); the engine does not touch it after.
 * Both may run SQL and commit: the engine keeps nothing in a transaction's
 * memory or resources.
 */
typedef struct imcheck_feed
{
	imcheck_job *(*next_job) (void *arg);
	void		(*job_done) (void *arg, imcheck_job *job);
	void	   *arg;
} imcheck_feed;

/*
 * Runs the feed's jobs through one pipeline of calls: returns when the
 * feed has no more and every job is done, or raises an ERROR as
 * imcheck_run_job does.  The engine's own allocations are made in
 * CurrentMemoryContext, which must outlive the feed's commits.
 */
extern void imcheck_run_feed(imcheck_config *cfg, const imcheck_feed *feed);

/*
 * The settings a statement's calls to api go with (settings.c); closes the
 * connections made for other ones.
 */
extern void imcheck_engine_config(imcheck_config *cfg, const struct imcheck_api *api);

/* Closes the backend's connections (after the settings they were made for changed). */
extern void imcheck_engine_reset(void);

#endif							/* IMCHECK_ENGINE_H */
