/*
 * engine.h - the engine: calls an API (cfg->api) for a job's distinct
 * UserIDs (batches, calls in flight, pacing, retries, waits, cancel), on
 * one libcurl multi handle per backend.
 */
#ifndef IMCHECK_ENGINE_H
#define IMCHECK_ENGINE_H

#include "postgres.h"

#include "job.h"
#include "settings.h"


/*
 * Runs the job: returns when every distinct ID has a result, or raises an
 * ERROR (fatal API error, retries exhausted with raise_on_error, cancel).
 * Allocations are made in CurrentMemoryContext.
 */
extern void imcheck_run_job(imcheck_config *cfg, imcheck_job *job);

/* Closes the backend's connections (after the settings they were made for changed). */
extern void imcheck_engine_reset(void);

#endif							/* IMCHECK_ENGINE_H */
