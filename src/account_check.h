/*
 * account_check.h - the answer reader of account_check: what a finished
 * call's answer says, and the job's results it fills.
 *
 * The engine (engine.c) and a call's transfer (call.c) know nothing of any
 * API's answer; each API the engine carries has a reader like this one and
 * a request builder in protocol.c.
 */
#ifndef IMCHECK_ACCOUNT_CHECK_H
#define IMCHECK_ACCOUNT_CHECK_H

#include "call.h"
#include "engine.h"

/*
 * What the finished call (its IDs are the job's distinct IDs from first
 * on) means; on VERDICT_DONE its results are stored in the job.
 */
extern call_outcome account_check_read_answer(const imcheck_config *cfg, imcheck_job *job,
											  uint32 first, const imcheck_call *call,
											  const call_result *res);

/* Gives the n IDs from first on the code and text of a failed call. */
extern void account_check_fail_ids(imcheck_job *job, uint32 first, uint32 n,
								   const call_outcome *out);

#endif							/* IMCHECK_ACCOUNT_CHECK_H */
