/*
 * failover.c - which base URL new calls go to (see failover.h).
 *
 * The state is the backend's: each backend finds out for itself that a
 * base URL cannot be reached, at the cost of one call's connect failure.
 * Sharing it across the cluster would save little (a failover is rare) and
 * would let one backend's bad proxy setting move everyone else's calls.
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "failover.h"
#include "ratelimit.h"
#include "stats.h"

/* after failing over, statements go back to the first base URL this late */
#define FAILBACK_AFTER_US (300 * INT64CONST(1000000))

/* Long enough for libcurl's error texts, which are short. */
#define REASON_SIZE 256

static struct
{
	int			current;
	int64		failed_over_at_us;
	/* why each base URL could not be reached in this statement ("": it was) */
	char		reasons[IMCHECK_MAX_ENDPOINTS][REASON_SIZE];
}			failover;

void
failover_statement_starts(const imcheck_config *cfg)
{
	if (failover.current >= cfg->n_endpoints ||
		(failover.current != 0 &&
		 ratelimit_monotonic_us() - failover.failed_over_at_us > FAILBACK_AFTER_US))
		failover.current = 0;
	for (int i = 0; i < IMCHECK_MAX_ENDPOINTS; i++)
		failover.reasons[i][0] = '\0';
}

int
failover_current(void)
{
	return failover.current;
}

void
failover_unreachable(const imcheck_config *cfg, int from, const call_outcome *out)
{
	snprintf(failover.reasons[from], REASON_SIZE, "%s", out->info ? out->info : "");
	/* calls in flight to the same base URL come back the same way: they follow */
	if (cfg->n_endpoints < 2 || failover.current != from)
		return;
	failover.current = (from + 1) % cfg->n_endpoints;
	failover.failed_over_at_us = ratelimit_monotonic_us();
	imcheck_stats_failover();
	ereport(imcheck_log_level,
			(errmsg("imcheck fails over from %s to %s",
					cfg->base_urls[from], cfg->base_urls[failover.current]),
			 errdetail_internal("imcheck code %d: %s", out->code, out->info),
			 errhidestmt(true)));
}

char *
failover_reason(const imcheck_config *cfg, int at, const call_outcome *out)
{
	StringInfoData text;

	if (cfg->n_endpoints < 2)
		return out->info;
	initStringInfo(&text);
	appendStringInfo(&text, "at %s: %s", cfg->base_urls[at], out->info);
	for (int i = 0; i < cfg->n_endpoints; i++)
		if (i != at && failover.reasons[i][0] != '\0')
			appendStringInfo(&text, "; at %s: %s", cfg->base_urls[i], failover.reasons[i]);
	return text.data;
}

void
failover_reset(void)
{
	failover.current = 0;
	failover.failed_over_at_us = 0;
}
