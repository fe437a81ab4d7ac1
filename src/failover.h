/*
 * failover.h - which of the base URLs in "imcheck.endpoint" (or the
 * region's list) new calls go to.
 *
 * Calls go to the first base URL.  A call that cannot reach the API at the
 * one in use (DNS, TCP, TLS, the proxy's tunnel) moves new calls to the
 * next, and goes there itself at once; an answer of the API, even an error,
 * moves nothing.  A statement that starts five minutes after the last
 * failover goes back to the first.  The choice is per backend.
 */
#ifndef IMCHECK_FAILOVER_H
#define IMCHECK_FAILOVER_H

#include "outcome.h"
#include "settings.h"

/* At the start of a statement: the first base URL again, if it is time. */
extern void failover_statement_starts(const imcheck_config *cfg);

/* The base URL new calls go to (an index into cfg->base_urls). */
extern int	failover_current(void);

/*
 * A call could not reach the API at base URL from (out says why): new calls
 * go to the next one, if from is still the one in use, which is counted and
 * logged.  Remembers why, for failover_reason.
 */
extern void failover_unreachable(const imcheck_config *cfg, int from,
								 const call_outcome *out);

/*
 * When no base URL could be reached: out's text, with why the others could
 * not be reached in this statement (palloc'd), so the error shows the
 * first base URL's failure too, not only the last one's.
 */
extern char *failover_reason(const imcheck_config *cfg, int at,
							 const call_outcome *out);

/* Forgets everything (a new libcurl multi handle, new settings). */
extern void failover_reset(void);

#endif							/* IMCHECK_FAILOVER_H */
