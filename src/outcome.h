/*
 * outcome.h - what the end of a call means: its code, whether and why it
 * is retried, and how a failure is raised.
 *
 * The API's ErrorCodes fall into a few classes (transient, rate limited,
 * credential, admin rights, the app's configuration, or a problem of this
 * call alone); one table in outcome.c maps each code to its class, and each
 * class to what the engine does and to the SQLSTATE and hint of its error.
 */
#ifndef IMCHECK_OUTCOME_H
#define IMCHECK_OUTCOME_H

#include "compat.h"
#include "settings.h"

/* Result codes imcheck reports for calls that got no answer from the API. */
#define IMCHECK_CODE_CONNECT_FAILED		(-1)	/* could not connect / resolve */
#define IMCHECK_CODE_TIMEOUT			(-2)	/* no answer within imcheck.timeout */
#define IMCHECK_CODE_CONNECTION_BROKEN	(-3)	/* reset, empty or cut-off reply */
#define IMCHECK_CODE_MALFORMED			(-4)	/* answer is not the API's valid JSON */
#define IMCHECK_CODE_MISMATCH			(-5)	/* answer does not match the UserIDs asked */
#define IMCHECK_CODE_TOO_LARGE			(-6)	/* answer larger than the cap */
#define IMCHECK_CODE_TRANSPORT			(-7)	/* any other transport failure */
#define IMCHECK_CODE_PROXY_REFUSED		(-8)	/* the proxy refused the tunnel */
/* A result code of one account, not of a call: */
#define IMCHECK_CODE_NOT_IMPORTED		(-9)	/* in multiaccount_import's FailAccounts */
/* HTTP status other than 200: -status, e.g. -502 */

/* Why a call was repeated, for statistics. */
typedef enum imcheck_retry_reason
{
	RETRY_API_TRANSIENT,		/* 70169, 70202, 70500, 60008, 60014 */
	RETRY_API_RATE_LIMITED,		/* 60007, 60011, 60018, 60019 */
	RETRY_USERSIG_RENEWED,		/* 70001 answered, UserSig regenerated */
	RETRY_HTTP_STATUS,			/* HTTP 5xx, 408, 429 */
	RETRY_CONNECTION,			/* connect failure, reset, cut-off reply */
	RETRY_TIMEOUT,
	RETRY_BAD_RESPONSE,			/* malformed, mismatched or oversized answer */
	IMCHECK_RETRY_REASONS
} imcheck_retry_reason;

extern const char *const imcheck_retry_reason_names[IMCHECK_RETRY_REASONS];

/* What the engine does with a finished call. */
typedef enum call_verdict
{
	VERDICT_DONE,				/* results stored */
	VERDICT_TRANSIENT,			/* retry if attempts remain */
	VERDICT_CALL_FAILED,		/* this call's IDs failed; others may go on */
	VERDICT_FATAL				/* no call can succeed: raise at once */
} call_verdict;

typedef struct call_outcome
{
	call_verdict verdict;
	imcheck_retry_reason reason;	/* when VERDICT_TRANSIENT */
	int32		code;			/* API ErrorCode, or an IMCHECK_CODE / -HTTP status */
	char	   *info;			/* palloc'd text for result_info / errdetail */
	bool		from_api;		/* code is the API's ErrorCode */
	bool		usersig_expired;	/* 70001: the engine may renew the UserSig */
	int			sqlstate;		/* what raising it says happened */
	bool		unreachable;	/* no way to the API at this base URL (DNS,
								 * TCP, TLS, the proxy's tunnel): another
								 * base URL may do */
	bool		proxy_failed;	/* the proxy could not be reached */
	bool		stale_connection;	/* sent on a kept connection that broke
									 * before any answer: a new one may do */
	const char *base_url;		/* where the call went, for hints */
	uint32		random;			/* the call's, which support traces it by */
} call_outcome;

/* A call the API answered with ActionStatus FAIL (info: safe to show). */
extern call_outcome outcome_api_error(int32 code, const char *info);

/* A call answered with an HTTP status other than 200. */
extern call_outcome outcome_http_status(long status);

/* A call that got no usable answer (code: an IMCHECK_CODE). */
extern call_outcome outcome_no_answer(int32 code, imcheck_retry_reason reason,
									  char *info);

/* Raises "out of memory" (53200) for an allocation outside palloc's. */
pg_noreturn extern void imcheck_out_of_memory(void);

/* Raises the error of a VERDICT_FATAL outcome. */
pg_noreturn extern void outcome_raise_fatal(const call_outcome *out, const imcheck_config *cfg);

/* Raises the error of a call given up after attempts tries. */
/*
 * never_connected: no attempt of the call got past connecting;
 * others_answered: other calls of the statement were answered.
 */
pg_noreturn extern void outcome_raise_call_failed(const call_outcome *out, int attempts,
									  const imcheck_config *cfg, bool never_connected,
									  bool others_answered);

#endif							/* IMCHECK_OUTCOME_H */
