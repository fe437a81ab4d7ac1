/*
 * outcome.c - what the end of a call means (see outcome.h).
 */
#include "postgres.h"

#include "outcome.h"

const char *const imcheck_retry_reason_names[IMCHECK_RETRY_REASONS] = {
	"api_transient",
	"api_rate_limited",
	"usersig_renewed",
	"http_status",
	"connection",
	"timeout",
	"bad_response"
};

/* The classes of the API's ErrorCodes. */
typedef enum code_class
{
	CLASS_CALL_FAILED,			/* a problem of this call alone, e.g. 70402 */
	CLASS_TRANSIENT,			/* try again later */
	CLASS_RATE_LIMITED,			/* over the app's call rate */
	CLASS_CREDENTIAL,			/* UserSig, key, identifier */
	CLASS_ADMIN,				/* the identifier is not an App admin */
	CLASS_APP					/* SDKAppID, region, plan, request format */
} code_class;

#define CREDENTIAL_HINT "Check \"imcheck.secret_key\" (or \"imcheck.usersig\"), \"imcheck.identifier\" and \"imcheck.sdkappid\"."
#define ADMIN_HINT "\"imcheck.identifier\" must name an App admin account of the app."
#define APP_ID_HINT "Check \"imcheck.sdkappid\", and that \"imcheck.region\" is the app's region."

/* Every ErrorCode imcheck treats other than as a failure of one call. */
static const struct
{
	int32		code;
	code_class	class;
	const char *hint;			/* for CLASS_CREDENTIAL/ADMIN/APP */
}			api_codes[] =
{
	{70169, CLASS_TRANSIENT},
	{70202, CLASS_TRANSIENT},
	{70500, CLASS_TRANSIENT},
	{60008, CLASS_TRANSIENT},
	{60014, CLASS_TRANSIENT},
	{60007, CLASS_RATE_LIMITED},
	{60011, CLASS_RATE_LIMITED},
	{60018, CLASS_RATE_LIMITED},
	{60019, CLASS_RATE_LIMITED},
	{70001, CLASS_CREDENTIAL},	/* expired: see outcome_raise_fatal */
	{70002, CLASS_CREDENTIAL, CREDENTIAL_HINT},
	{70003, CLASS_CREDENTIAL, CREDENTIAL_HINT},
	{70005, CLASS_CREDENTIAL, CREDENTIAL_HINT},
	{70009, CLASS_CREDENTIAL, CREDENTIAL_HINT},
	{70013, CLASS_CREDENTIAL, CREDENTIAL_HINT},
	{70014, CLASS_CREDENTIAL, CREDENTIAL_HINT},
	{70016, CLASS_CREDENTIAL, CREDENTIAL_HINT},
	{70050, CLASS_CREDENTIAL, CREDENTIAL_HINT},
	{70052, CLASS_CREDENTIAL, CREDENTIAL_HINT},
	{60004, CLASS_CREDENTIAL, CREDENTIAL_HINT},
	{60005, CLASS_CREDENTIAL, CREDENTIAL_HINT},
	{70403, CLASS_ADMIN, ADMIN_HINT},
	{60010, CLASS_ADMIN, ADMIN_HINT},
	{60006, CLASS_APP, APP_ID_HINT},
	{70020, CLASS_APP, APP_ID_HINT},
	{60012, CLASS_APP},
	{60016, CLASS_APP},
	{60020, CLASS_APP},
	{60021, CLASS_APP},
	{60002, CLASS_APP},
	{60003, CLASS_APP},
};

/* The table's row for code, or -1. */
static int
find_code(int32 code)
{
	for (int i = 0; i < lengthof(api_codes); i++)
		if (api_codes[i].code == code)
			return i;
	return -1;
}

call_outcome
outcome_api_error(int32 code, const char *info)
{
	call_outcome out = {0};
	int			row = find_code(code);

	out.code = code;
	out.info = pstrdup(info && *info ? info : "(no ErrorInfo)");
	out.from_api = true;
	out.usersig_expired = code == 70001;
	switch (row < 0 ? CLASS_CALL_FAILED : api_codes[row].class)
	{
		case CLASS_CALL_FAILED:
			out.verdict = VERDICT_CALL_FAILED;
			break;
		case CLASS_TRANSIENT:
			out.verdict = VERDICT_TRANSIENT;
			out.reason = RETRY_API_TRANSIENT;
			break;
		case CLASS_RATE_LIMITED:
			out.verdict = VERDICT_TRANSIENT;
			out.reason = RETRY_API_RATE_LIMITED;
			break;
		case CLASS_CREDENTIAL:
		case CLASS_ADMIN:
		case CLASS_APP:
			out.verdict = VERDICT_FATAL;
			break;
	}
	return out;
}

call_outcome
outcome_http_status(long status)
{
	call_outcome out = {0};

	out.code = (int32) -status;
	out.reason = RETRY_HTTP_STATUS;
	if (status >= 500 || status == 408 || status == 429)
	{
		/* the service or a gateway in front of it, busy or failing */
		out.verdict = VERDICT_TRANSIENT;
		out.info = psprintf("HTTP status %ld", status);
	}
	else if (status >= 200 && status < 300)
	{
		/* a success status with no answer to read: this call failed */
		out.verdict = VERDICT_TRANSIENT;
		out.reason = RETRY_BAD_RESPONSE;
		out.info = psprintf("HTTP status %ld", status);
	}
	else
	{
		/* anything else is our setup (a wrong endpoint, a proxy's refusal) */
		out.verdict = VERDICT_FATAL;
		if (status >= 300 && status < 400)
			out.info = psprintf("HTTP status %ld (redirects are not followed)", status);
		else
			out.info = psprintf("HTTP status %ld", status);
	}
	return out;
}

call_outcome
outcome_no_answer(int32 code, imcheck_retry_reason reason, char *info)
{
	call_outcome out = {0};

	out.verdict = VERDICT_TRANSIENT;
	out.code = code;
	out.reason = reason;
	out.info = info;
	return out;
}

static const char *
fatal_hint(int32 code, bool usersig_from_key)
{
	int			row = find_code(code);

	if (code == 70001 && usersig_from_key)
		return "imcheck generated a new UserSig and the service still says it has expired: check the database server's clock.";
	if (code == 70001)
		return "The UserSig has expired: replace \"imcheck.usersig\", or set \"imcheck.secret_key_file\" so that imcheck generates and renews UserSigs.";
	return row < 0 ? NULL : api_codes[row].hint;
}

static int
fatal_errcode(int32 code)
{
	int			row = find_code(code);

	if (row >= 0 && api_codes[row].class == CLASS_CREDENTIAL)
		return ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION;
	if (row >= 0 && api_codes[row].class == CLASS_ADMIN)
		return ERRCODE_INSUFFICIENT_PRIVILEGE;
	return ERRCODE_INVALID_PARAMETER_VALUE;
}

void
outcome_raise_fatal(const call_outcome *out, bool usersig_from_key)
{
	const char *hint;

	if (!out->from_api)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not call the IM API"),
				 errdetail("%s (imcheck code %d).", out->info, out->code),
				 errhint("Check \"imcheck.endpoint\", \"imcheck.region\" and \"imcheck.ca_file\".")));
	hint = fatal_hint(out->code, usersig_from_key);
	ereport(ERROR,
			(errcode(fatal_errcode(out->code)),
			 errmsg("the IM API refused the account_check call"),
			 errdetail("ErrorCode %d: %s", out->code, out->info),
			 hint ? errhint("%s", hint) : 0));
	pg_unreachable();
}

void
outcome_raise_call_failed(const call_outcome *out, int attempts)
{
	if (out->from_api)
		ereport(ERROR,
				(errcode(out->verdict == VERDICT_TRANSIENT ?
						 ERRCODE_CONNECTION_FAILURE :
						 ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("account_check call failed after %d %s", attempts,
						attempts == 1 ? "attempt" : "attempts"),
				 errdetail("ErrorCode %d: %s", out->code, out->info),
				 errhint("Call im_account_check with raise_on_error => false to get the other results and this call's UserIDs as rows with its error.")));
	ereport(ERROR,
			(errcode(ERRCODE_CONNECTION_FAILURE),
			 errmsg("account_check call failed after %d %s", attempts,
					attempts == 1 ? "attempt" : "attempts"),
			 errdetail("%s (imcheck code %d).", out->info, out->code),
			 errhint("Call im_account_check with raise_on_error => false to get the other results and this call's UserIDs as rows with its error.")));
	pg_unreachable();
}
