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

#include <curl/curl.h>

#include "common/hashfn.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "settings.h"
#include "credentials.h"
#include "usersig.h"

typedef enum imcheck_region
{
	REGION_CHINA,
	REGION_SINGAPORE,
	REGION_SEOUL,
	REGION_FRANKFURT,
	REGION_MUMBAI,
	REGION_SILICON_VALLEY,
	REGION_JAKARTA,
	REGION_TOKYO
} imcheck_region;

static const struct config_enum_entry region_options[] = {
	{"china", REGION_CHINA, false},
	{"singapore", REGION_SINGAPORE, false},
	{"seoul", REGION_SEOUL, false},
	{"frankfurt", REGION_FRANKFURT, false},
	{"mumbai", REGION_MUMBAI, false},
	{"silicon_valley", REGION_SILICON_VALLEY, false},
	{"jakarta", REGION_JAKARTA, false},
	{"tokyo", REGION_TOKYO, false},
	{NULL, 0, false}
};

/* indexed by imcheck_region */
static const char *const region_domains[] = {
	"console.tim.qq.com",
	"adminapisgp.im.qcloud.com",
	"adminapikr.im.qcloud.com",
	"adminapiger.im.qcloud.com",
	"adminapiind.im.qcloud.com",
	"adminapiusa.im.qcloud.com",
	"adminapiidn.im.qcloud.com",
	"adminapijpn.im.qcloud.com"
};

char	   *imcheck_sdkappid_setting = NULL;
char	   *imcheck_identifier_setting = NULL;
char	   *imcheck_secret_key_setting = NULL;
char	   *imcheck_secret_key_file_setting = NULL;
char	   *imcheck_usersig_setting = NULL;
int			imcheck_usersig_ttl_setting = 86400;
static int	region_setting = REGION_CHINA;
static char *endpoint_setting = NULL;
static char *ca_file_setting = NULL;
static int	timeout_setting = 10000;
static int	max_retries_setting = 3;
static int	rate_limit_setting = 100;
static int	max_concurrency_setting = 16;
static int	batch_size_setting = 100;
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

static bool
check_sdkappid(char **newval, void **extra, GucSource source)
{
	uint64_t	v;

	if (*newval == NULL || **newval == '\0' || parse_sdkappid(*newval, &v))
		return true;
	GUC_check_errdetail("The SDKAppID must be a positive decimal number.");
	return false;
}

static bool
check_identifier(char **newval, void **extra, GucSource source)
{
	if (*newval != NULL && strlen(*newval) > USERSIG_MAX_IDENTIFIER)
	{
		GUC_check_errdetail("The identifier must be at most %d bytes long.",
							USERSIG_MAX_IDENTIFIER);
		return false;
	}
	return true;
}

/* Whether the parsed URL has the part; frees what curl allocated for it. */
static bool
url_has_part(CURLU *h, CURLUPart which)
{
	char	   *part = NULL;
	bool		has = curl_url_get(h, which, &part, 0) == CURLUE_OK && part != NULL;

	curl_free(part);
	return has;
}

/* Whether the parsed URL's scheme is http or https. */
static bool
url_is_http(CURLU *h)
{
	char	   *scheme = NULL;
	bool		ok = curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
		scheme != NULL &&
		(strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0);

	curl_free(scheme);
	return ok;
}

/*
 * Checks that an endpoint is an http(s) base URL without credentials,
 * query or fragment.  On failure returns a message (not including the URL).
 * Runs for every statement: nothing may be left allocated.
 */
static const char *
endpoint_problem(const char *url)
{
	CURLU	   *h = curl_url();
	const char *problem = NULL;

	if (h == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	if (curl_url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK)
		problem = "It is not a valid URL.";
	else if (!url_is_http(h) ||
			 (strncasecmp(url, "http://", 7) != 0 &&
			  strncasecmp(url, "https://", 8) != 0))
		problem = "Only http:// and https:// URLs are allowed.";
	else if (url_has_part(h, CURLUPART_USER) || url_has_part(h, CURLUPART_PASSWORD))
		problem = "The URL must not contain a user name or password.";
	else if (url_has_part(h, CURLUPART_QUERY))
		problem = "The URL must not contain a query string.";
	else if (url_has_part(h, CURLUPART_FRAGMENT))
		problem = "The URL must not contain a fragment.";
	curl_url_cleanup(h);
	return problem;
}

static bool
check_endpoint(char **newval, void **extra, GucSource source)
{
	const char *problem;

	if (*newval == NULL || **newval == '\0')
		return true;
	problem = endpoint_problem(*newval);
	if (problem == NULL)
		return true;
	GUC_check_errdetail("%s", problem);
	return false;
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
	DefineCustomEnumVariable("imcheck.region",
							 gettext_noop("Region of the IM app; selects the API domain."),
							 NULL,
							 &region_setting, REGION_CHINA, region_options,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
	DefineCustomStringVariable("imcheck.endpoint",
							   gettext_noop("Base URL of the API, overriding imcheck.region."),
							   gettext_noop("For example https://proxy.example.com or http://127.0.0.1:8080."),
							   &endpoint_setting, "",
							   PGC_SUSET, 0,
							   check_endpoint, NULL, NULL);
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
							gettext_noop("Most API calls started in any one second; 0 means no limit."),
							gettext_noop("The API allows 100 calls per second per app."),
							&rate_limit_setting, 100, 0, 100000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("imcheck.max_concurrency",
							gettext_noop("Most API calls in flight at once."),
							NULL,
							&max_concurrency_setting, 16, 1, 256,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("imcheck.batch_size",
							gettext_noop("UserIDs per API call."),
							gettext_noop("The API accepts at most 100."),
							&batch_size_setting, 100, 1, 100,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomEnumVariable("imcheck.log_level",
							 gettext_noop("Level of the line logged for each im_account_check statement."),
							 gettext_noop("The line says how many UserIDs were checked in how many calls, with how many retries, in how long."),
							 &imcheck_log_level, LOG, log_level_options,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);

	MarkGUCPrefixReserved("imcheck");
}

uint64_t
imcheck_checked_sdkappid(void)
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
				 errmsg("\"imcheck.sdkappid\" is not a valid SDKAppID")));
	return sdkappid;
}

void
imcheck_resolve_config(imcheck_config *cfg)
{
	uint64_t	sdkappid = imcheck_checked_sdkappid();

	memset(cfg, 0, sizeof(*cfg));

	if (imcheck_identifier_setting == NULL || *imcheck_identifier_setting == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("\"imcheck.identifier\" is not set"),
				 errhint("Set \"imcheck.identifier\" to the app admin account.")));

	if (endpoint_setting != NULL && *endpoint_setting != '\0')
	{
		const char *problem = endpoint_problem(endpoint_setting);
		size_t		len;

		if (problem != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"imcheck.endpoint\" is not a valid base URL"),
					 errdetail("%s", problem)));
		cfg->base_url = pstrdup(endpoint_setting);
		len = strlen(cfg->base_url);
		while (len > 0 && cfg->base_url[len - 1] == '/')
			cfg->base_url[--len] = '\0';
		cfg->plain_http = strncasecmp(cfg->base_url, "http://", 7) == 0;
	}
	else
		cfg->base_url = psprintf("https://%s", region_domains[region_setting]);

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
	imcheck_resolve_credentials(cfg, sdkappid);

	/* ... and the app, the admin, the endpoint */
	cfg->fingerprint = hash_combine(cfg->fingerprint,
									hash_bytes((const unsigned char *) cfg->base_url,
											   (int) strlen(cfg->base_url)));
	cfg->fingerprint = hash_combine(cfg->fingerprint,
									hash_bytes((const unsigned char *) imcheck_identifier_setting,
											   (int) strlen(imcheck_identifier_setting)));
	cfg->fingerprint = hash_combine(cfg->fingerprint, (uint32) sdkappid);
	if (cfg->ca_file)
		cfg->fingerprint = hash_combine(cfg->fingerprint,
										hash_bytes((const unsigned char *) cfg->ca_file,
												   (int) strlen(cfg->ca_file)));

	cfg->timeout_ms = timeout_setting;
	cfg->max_retries = max_retries_setting;
	cfg->rate_limit = rate_limit_setting;
	cfg->max_concurrency = max_concurrency_setting;
	cfg->batch_size = batch_size_setting;
}

