/*
 * settings.c - imcheck's GUCs, and resolving them into the configuration
 * of one statement.
 *
 * Who may set what (doc/architecture.md): the secret key and a static
 * UserSig only in postgresql.conf or with ALTER SYSTEM (PGC_SIGHUP),
 * readable by superusers only; where calls go, as whom, and the shared
 * rate limit only by superusers (PGC_SUSET); how a statement's own calls
 * behave (timeout, retries, concurrency, batch size) by anyone (PGC_USERSET).
 * The credentials themselves are credentials.c's.
 */
#include "postgres.h"

#include <unistd.h>

#include "access/parallel.h"
#include "access/xact.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/guc.h"

#include "engine_int.h"
#include "usersig.h"

char	   *imcheck_sdkappid_setting = NULL;
char	   *imcheck_identifier_setting = NULL;
char	   *imcheck_secret_key_setting = NULL;
char	   *imcheck_secret_key_file_setting = NULL;
char	   *imcheck_usersig_setting = NULL;
int			imcheck_usersig_ttl_setting = 86400;
static char *region_setting = NULL;
static char *endpoint_setting = NULL;
static char *proxy_setting = NULL;
static char *ca_file_setting = NULL;
static int	timeout_setting = 10000;
static int	max_retries_setting = 3;
static int	rate_limit_setting = 100;
static int	import_rate_limit_setting = 100;
static int	online_status_rate_limit_setting = 200;
static int	max_concurrency_setting = 0;
static int	batch_size_setting = 500;
int			imcheck_log_level = LOG;

static const struct config_enum_entry log_level_options[] = {
	{"debug5", DEBUG5, false},
	{"debug4", DEBUG4, false},
	{"debug3", DEBUG3, false},
	{"debug2", DEBUG2, false},
	{"debug1", DEBUG1, false},
	{"debug", DEBUG2, true},
	{"info", INFO, false},
	{"notice", NOTICE, false},
	{"log", LOG, false},
	{NULL, 0, false}
};

static bool
parse_sdkappid(const char *text, uint64_t *value)
{
	uint64_t	v = 0;

	if (text == NULL || *text == '\0' || strlen(text) > 19)
		return false;
	for (const char *p = text; *p; p++)
	{
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (uint64_t) (*p - '0');
	}
	if (v == 0)
		return false;
	*value = v;
	return true;
}

/*
 * Whether a check hook refuses a bad value, or keeps it: only someone
 * typing it (SET, ALTER SYSTEM, or ALTER ROLE/DATABASE ... SET being
 * validated) is told at once.  Refused at server start or at a reload,
 * PostgreSQL would only log it and keep the old value or the default (the
 * china region!) in force; kept, it makes every call raise an error that
 * names it (imcheck_resolve_config).  Configuration mistakes fail closed.
 */
static bool
refuse_now(GucSource source)
{
	if (source >= PGC_S_INTERACTIVE)
		return true;

	/*
	 * ALTER SYSTEM checks its value as PGC_S_FILE too, but inside its
	 * statement's transaction; the file is read outside one.  (A parallel
	 * worker restores the leader's settings inside a transaction, and must
	 * take them as they are.)
	 */
	return source == PGC_S_FILE && IsTransactionState() && !InitializingParallelWorker;
}

static const char *
sdkappid_problem(const char *value)
{
	uint64_t	v;

	return parse_sdkappid(value, &v) ? NULL
		: "The SDKAppID must be a positive decimal number.";
}

static bool
check_sdkappid(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || **newval == '\0' || sdkappid_problem(*newval) == NULL ||
		!refuse_now(source))
		return true;
	GUC_check_errdetail("%s", sdkappid_problem(*newval));
	return false;
}

#define IDENTIFIER_TOO_LONG "The identifier must be at most %d bytes long."

static bool
check_identifier(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || strlen(*newval) <= USERSIG_MAX_IDENTIFIER || !refuse_now(source))
		return true;
	GUC_check_errdetail(IDENTIFIER_TOO_LONG, USERSIG_MAX_IDENTIFIER);
	return false;
}

static bool
check_region(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || endpoints_region_known(*newval) || !refuse_now(source))
		return true;
	GUC_check_errdetail("The regions are " REGION_LIST ".");
	return false;
}

static bool
check_endpoint(char **newval, void **extra, GucSource source)
{
	const char *problem;

	if (*newval == NULL || **newval == '\0' || !refuse_now(source))
		return true;
	problem = endpoints_list_problem(*newval);
	if (problem == NULL)
		return true;
	GUC_check_errdetail("%s", problem);
	return false;
}

static bool
check_proxy(char **newval, void **extra, GucSource source)
{
	const char *problem;

	if (*newval == NULL || **newval == '\0' || !refuse_now(source))
		return true;
	problem = endpoints_proxy_problem(*newval);
	if (problem == NULL)
		return true;
	/* PostgreSQL's own message would quote the value, a password perhaps */
	GUC_check_errmsg("invalid value for parameter \"imcheck.proxy\"");
	GUC_check_errdetail("%s", problem);
	return false;
}

static ProcessUtility_hook_type prev_process_utility = NULL;

/*
 * ALTER ROLE/DATABASE ... SET of a secret setting.  PostgreSQL refuses it
 * (55P02, the secret settings are PGC_SIGHUP) and logs the statement, the
 * secret in it; the same refusal here adds what to do instead.
 */
static void
refuse_secret_in_role_settings(PlannedStmt *pstmt, const char *queryString,
							   bool readOnlyTree, ProcessUtilityContext context,
							   ParamListInfo params, QueryEnvironment *queryEnv,
							   DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	VariableSetStmt *set = NULL;

	if (IsA(parsetree, AlterRoleSetStmt))
		set = ((AlterRoleSetStmt *) parsetree)->setstmt;
	else if (IsA(parsetree, AlterDatabaseSetStmt))
		set = ((AlterDatabaseSetStmt *) parsetree)->setstmt;
	if (set != NULL && set->kind == VAR_SET_VALUE && set->name != NULL &&
		(pg_strcasecmp(set->name, "imcheck.secret_key") == 0 ||
		 pg_strcasecmp(set->name, "imcheck.usersig") == 0))
		ereport(ERROR,
				(errcode(ERRCODE_CANT_CHANGE_RUNTIME_PARAM),
				 errmsg("parameter \"%s\" cannot be changed now", set->name),
				 errhint("Put the key in the file named by \"imcheck.secret_key_file\", or set it in postgresql.conf or with ALTER SYSTEM. The server log holds this statement with its value: replace a real key or UserSig typed into it.")));
	if (prev_process_utility)
		prev_process_utility(pstmt, queryString, readOnlyTree, context, params,
							 queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);
}

void
imcheck_define_settings(void)
{
	DefineCustomStringVariable("imcheck.sdkappid",
							   gettext_noop("SDKAppID of the IM app."),
							   NULL,
							   &imcheck_sdkappid_setting, "",
							   PGC_SUSET, 0,
							   check_sdkappid, NULL, NULL);
	DefineCustomStringVariable("imcheck.identifier",
							   gettext_noop("App admin account used to call the API."),
							   NULL,
							   &imcheck_identifier_setting, "administrator",
							   PGC_SUSET, 0,
							   check_identifier, NULL, NULL);
	DefineCustomStringVariable("imcheck.secret_key",
							   gettext_noop("Secret key of the IM app, used to generate UserSigs."),
							   gettext_noop("Set it in postgresql.conf or with ALTER SYSTEM; only superusers can read it."),
							   &imcheck_secret_key_setting, "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("imcheck.secret_key_file",
							   gettext_noop("File holding the secret key, used when imcheck.secret_key is empty."),
							   gettext_noop("The file must be readable by the server only (mode 0600)."),
							   &imcheck_secret_key_file_setting, "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("imcheck.usersig",
							   gettext_noop("A ready UserSig of the admin account, used when no secret key is set."),
							   gettext_noop("Set it in postgresql.conf or with ALTER SYSTEM; only superusers can read it."),
							   &imcheck_usersig_setting, "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("imcheck.usersig_ttl",
							gettext_noop("Lifetime of generated UserSigs."),
							NULL,
							&imcheck_usersig_ttl_setting, 86400, 300, 180 * 86400,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomStringVariable("imcheck.region",
							   gettext_noop("Region of the IM app; selects the API domain."),
							   gettext_noop("One of " REGION_LIST "."),
							   &region_setting, "china",
							   PGC_SUSET, 0,
							   check_region, NULL, NULL);
	DefineCustomStringVariable("imcheck.endpoint",
							   gettext_noop("Base URLs of the API, separated by commas, overriding imcheck.region."),
							   gettext_noop("A call that cannot connect to one tries the next.  For example https://gateway.example.com or http://127.0.0.1:8080."),
							   &endpoint_setting, "",
							   PGC_SUSET, 0,
							   check_endpoint, NULL, NULL);
	DefineCustomStringVariable("imcheck.proxy",
							   gettext_noop("HTTP proxy that calls go through, as http://[user:password@]host:port; empty means direct."),
							   gettext_noop("Calls go through a CONNECT tunnel.  The server's proxy environment variables are never used.  Only superusers can read it."),
							   &proxy_setting, "",
							   PGC_SUSET, GUC_SUPERUSER_ONLY,
							   check_proxy, NULL, NULL);
	DefineCustomStringVariable("imcheck.ca_file",
							   gettext_noop("File of CA certificates to verify the API's TLS certificate."),
							   gettext_noop("Empty means the system's CA certificates."),
							   &ca_file_setting, "",
							   PGC_SUSET, 0,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("imcheck.timeout",
							gettext_noop("Timeout of one API call."),
							gettext_noop("The service's own timeout is 3 s, so values below 3100 ms may cut off calls it would still answer."),
							&timeout_setting, 10000, 1000, 600000,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("imcheck.max_retries",
							gettext_noop("Retries of a call that failed transiently."),
							NULL,
							&max_retries_setting, 3, 0, 10,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("imcheck.rate_limit",
							gettext_noop("Most account_check calls started in any one second; 0 means no limit."),
							gettext_noop("The API allows 100 calls per second per app."),
							&rate_limit_setting, 100, 0, 100000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("imcheck.import_rate_limit",
							gettext_noop("Most multiaccount_import calls started in any one second; 0 means no limit."),
							gettext_noop("The API allows 100 calls per second per app."),
							&import_rate_limit_setting, 100, 0, 100000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("imcheck.online_status_rate_limit",
							gettext_noop("Most query_online_status calls started in any one second; 0 means no limit."),
							gettext_noop("The API allows 200 calls per second per app."),
							&online_status_rate_limit_setting, 200, 0, 100000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("imcheck.max_concurrency",
							gettext_noop("Most API calls in flight at once; 0 means as many as the rate limit needs over the round trip."),
							gettext_noop("With 0, imcheck measures the round trip and keeps rate_limit x round trip (and a quarter) in flight, from 4 to 256."),
							&max_concurrency_setting, 0, 0, 256,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("imcheck.batch_size",
							gettext_noop("Most UserIDs per API call."),
							gettext_noop("Each API's own limit caps it: 100 for account_check and multiaccount_import, 500 for query_online_status."),
							&batch_size_setting, 500, 1, 500,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomEnumVariable("imcheck.log_level",
							 gettext_noop("Level of the line logged for each statement of imcheck's functions and each run of im_account_check_table."),
							 gettext_noop("The line says how many UserIDs were checked in how many calls, with how many retries, in how long."),
							 &imcheck_log_level, LOG, log_level_options,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);

	MarkGUCPrefixReserved("imcheck");

	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = refuse_secret_in_role_settings;
}

/* Raises an ERROR unless imcheck.sdkappid is set and valid. */
static uint64_t
checked_sdkappid(void)
{
	uint64_t	sdkappid;

	if (imcheck_sdkappid_setting == NULL || *imcheck_sdkappid_setting == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("\"imcheck.sdkappid\" is not set"),
				 errhint("Set \"imcheck.sdkappid\" to the SDKAppID of the IM app in postgresql.conf.")));
	if (!parse_sdkappid(imcheck_sdkappid_setting, &sdkappid))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"imcheck.sdkappid\" is not a valid SDKAppID"),
				 errdetail("%s", sdkappid_problem(imcheck_sdkappid_setting))));
	return sdkappid;
}

/* identifies the settings the connections were made for */
static uint32 last_fingerprint = 0;

/* Mixes text (if any) into cfg's fingerprint. */
static void
add_to_fingerprint(imcheck_config *cfg, const char *text)
{
	if (text != NULL)
		cfg->fingerprint = hash_combine(cfg->fingerprint,
										hash_bytes((const unsigned char *) text,
												   (int) strlen(text)));
}

void
imcheck_resolve_config(imcheck_config *cfg, const imcheck_api *api)
{
	static const int *const rate_settings[IMCHECK_APIS] = {
		[IMCHECK_API_ACCOUNT_CHECK] = &rate_limit_setting,
		[IMCHECK_API_ACCOUNT_IMPORT] = &import_rate_limit_setting,
		[IMCHECK_API_ONLINE_STATUS] = &online_status_rate_limit_setting,
	};

	memset(cfg, 0, sizeof(*cfg));
	cfg->api = api;
	cfg->sdkappid = checked_sdkappid();

	if (imcheck_identifier_setting == NULL || *imcheck_identifier_setting == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("\"imcheck.identifier\" is not set"),
				 errhint("Set \"imcheck.identifier\" to the app admin account.")));
	if (strlen(imcheck_identifier_setting) > USERSIG_MAX_IDENTIFIER)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"imcheck.identifier\" is too long"),
				 errdetail(IDENTIFIER_TOO_LONG, USERSIG_MAX_IDENTIFIER)));

	endpoints_resolve(cfg, endpoint_setting, region_setting, proxy_setting);

	if (ca_file_setting != NULL && *ca_file_setting != '\0')
	{
		if (access(ca_file_setting, R_OK) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read \"imcheck.ca_file\" file \"%s\": %m",
							ca_file_setting)));
		cfg->ca_file = pstrdup(ca_file_setting);
	}

	/* the UserSig, the URL it goes in, and what the fingerprint starts from */
	imcheck_resolve_credentials(cfg);

	/* ... and the app, the admin, the endpoint */
	add_to_fingerprint(cfg, cfg->endpoints_shown);
	add_to_fingerprint(cfg, cfg->proxy);
	add_to_fingerprint(cfg, imcheck_identifier_setting);
	cfg->fingerprint = hash_combine(cfg->fingerprint, (uint32) cfg->sdkappid);
	add_to_fingerprint(cfg, cfg->ca_file);

	cfg->timeout_ms = timeout_setting;
	cfg->max_retries = max_retries_setting;
	cfg->rate_limit = *rate_settings[api->id];
	cfg->max_concurrency = max_concurrency_setting;
	cfg->batch_size = Min(batch_size_setting, api->max_batch);

	/* (the UserSig cache notices a new credential by itself) */
	if (last_fingerprint != 0 && cfg->fingerprint != last_fingerprint)
		multi_reset();
	last_fingerprint = cfg->fingerprint;
}

