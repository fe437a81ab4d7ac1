/*
 * settings.c - imcheck's GUCs, and resolving them into the configuration
 * of one statement (including the cached, generated UserSig).
 *
 * Who may set what follows the contract in DESIGN.md: the secret key and a
 * static UserSig only in postgresql.conf / ALTER SYSTEM (PGC_SIGHUP), and
 * readable only by superusers; everything that decides where requests go,
 * or how fast, only by superusers (PGC_SUSET).
 */
#include "postgres.h"

#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "lib/stringinfo.h"
#include "utils/guc.h"

#include "settings.h"
#include "usersig.h"

#define ACCOUNT_CHECK_PATH "/v4/im_open_login_svc/account_check"

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

static char *sdkappid_setting = NULL;
static char *identifier_setting = NULL;
static char *secret_key_setting = NULL;
static char *secret_key_file_setting = NULL;
static char *usersig_setting = NULL;
static int	usersig_ttl_setting = 86400;
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

/*
 * The UserSig generated from the secret key, kept per backend.  It is
 * malloc'd (not palloc'd) because it outlives statements; the inputs it was
 * made from are kept to notice a changed setting after a reload.
 */
static struct
{
	char	   *usersig;
	char	   *key;
	char	   *identifier;
	uint64_t	sdkappid;
	int			ttl;
	int64_t		generated_at;
} usersig_cache;

static void
clear_usersig_cache(void)
{
	if (usersig_cache.key)
	{
		/* don't leave the key or the UserSig lying around in freed memory */
		explicit_bzero(usersig_cache.key, strlen(usersig_cache.key));
		free(usersig_cache.key);
	}
	if (usersig_cache.usersig)
	{
		explicit_bzero(usersig_cache.usersig, strlen(usersig_cache.usersig));
		free(usersig_cache.usersig);
	}
	free(usersig_cache.identifier);
	memset(&usersig_cache, 0, sizeof(usersig_cache));
}

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
		return "out of memory";
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
							   "SDKAppID of the IM app.",
							   NULL,
							   &sdkappid_setting, "",
							   PGC_SUSET, 0,
							   check_sdkappid, NULL, NULL);
	DefineCustomStringVariable("imcheck.identifier",
							   "App admin account used to call the API.",
							   NULL,
							   &identifier_setting, "administrator",
							   PGC_SUSET, 0,
							   check_identifier, NULL, NULL);
	DefineCustomStringVariable("imcheck.secret_key",
							   "Secret key of the IM app, used to generate UserSigs.",
							   "Set it in postgresql.conf or with ALTER SYSTEM; only superusers can read it.",
							   &secret_key_setting, "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("imcheck.secret_key_file",
							   "File holding the secret key, used when imcheck.secret_key is empty.",
							   "The file must be readable by the server only (mode 0600).",
							   &secret_key_file_setting, "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("imcheck.usersig",
							   "A ready UserSig of the admin account, used when no secret key is set.",
							   "Set it in postgresql.conf or with ALTER SYSTEM; only superusers can read it.",
							   &usersig_setting, "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("imcheck.usersig_ttl",
							"Lifetime of generated UserSigs.",
							NULL,
							&usersig_ttl_setting, 86400, 300, 180 * 86400,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomEnumVariable("imcheck.region",
							 "Region of the IM app; selects the API domain.",
							 NULL,
							 &region_setting, REGION_CHINA, region_options,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
	DefineCustomStringVariable("imcheck.endpoint",
							   "Base URL of the API, overriding imcheck.region.",
							   "For example https://proxy.example.com or http://127.0.0.1:8080.",
							   &endpoint_setting, "",
							   PGC_SUSET, 0,
							   check_endpoint, NULL, NULL);
	DefineCustomStringVariable("imcheck.ca_file",
							   "File of CA certificates to verify the API's TLS certificate.",
							   "Empty means the system's CA certificates.",
							   &ca_file_setting, "",
							   PGC_SUSET, 0,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("imcheck.timeout",
							"Timeout of one API call.",
							"The service's own timeout is 3 s, so values below 3100 ms may cut off calls it would still answer.",
							&timeout_setting, 10000, 1000, 600000,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("imcheck.max_retries",
							"Retries of a call that failed transiently.",
							NULL,
							&max_retries_setting, 3, 0, 10,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("imcheck.rate_limit",
							"Most API calls started in any one second; 0 means no limit.",
							"The API allows 100 calls per second per app.",
							&rate_limit_setting, 100, 0, 100000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("imcheck.max_concurrency",
							"Most API calls in flight at once.",
							NULL,
							&max_concurrency_setting, 16, 1, 256,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("imcheck.batch_size",
							"UserIDs per API call.",
							"The API accepts at most 100.",
							&batch_size_setting, 100, 1, 100,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomEnumVariable("imcheck.log_level",
							 "Level of the line logged for each im_account_check statement.",
							 "The line says how many UserIDs were checked in how many calls, with how many retries, in how long.",
							 &imcheck_log_level, LOG, log_level_options,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);

	MarkGUCPrefixReserved("imcheck");
}

static int64_t
now_seconds(void)
{
	return (int64_t) time(NULL);
}

/* Returns the UserSig generated from the secret key, renewing as needed. */
static const char *
generated_usersig(const char *key, uint64_t sdkappid, bool force_renew)
{
	int64_t		now = now_seconds();
	usersig_status status;
	char	   *fresh = NULL;

	if (!force_renew && usersig_cache.usersig != NULL &&
		strcmp(usersig_cache.key, key) == 0 &&
		strcmp(usersig_cache.identifier, identifier_setting) == 0 &&
		usersig_cache.sdkappid == sdkappid &&
		usersig_cache.ttl == usersig_ttl_setting &&
	/* renew at half its lifetime, well before the service would refuse it */
		now >= usersig_cache.generated_at &&
		now < usersig_cache.generated_at + usersig_ttl_setting / 2)
		return usersig_cache.usersig;

	clear_usersig_cache();
	status = usersig_generate(key, strlen(key),
							  identifier_setting, sdkappid, now,
							  usersig_ttl_setting, &fresh);
	if (status != USERSIG_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a UserSig from \"imcheck.secret_key\""),
				 errdetail("%s.", usersig_status_text(status))));
	usersig_cache.usersig = fresh;
	usersig_cache.key = strdup(key);
	usersig_cache.identifier = strdup(identifier_setting);
	usersig_cache.sdkappid = sdkappid;
	usersig_cache.ttl = usersig_ttl_setting;
	usersig_cache.generated_at = now;
	if (usersig_cache.key == NULL || usersig_cache.identifier == NULL)
	{
		clear_usersig_cache();
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	}
	return usersig_cache.usersig;
}

/*
 * Reads the key from imcheck.secret_key_file.  The file must be a regular
 * file that only its owner can read, like a TLS private key.  Returns a
 * palloc'd string; its content is never part of a message.
 */
static char *
read_secret_key_file(const char *path)
{
	struct stat st;
	FILE	   *f;
	char	   *key;
	size_t		len;

	if (stat(path, &st) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not access \"imcheck.secret_key_file\" file \"%s\": %m", path)));
	if (!S_ISREG(st.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("\"imcheck.secret_key_file\" file \"%s\" is not a regular file", path)));
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("\"imcheck.secret_key_file\" file \"%s\" has group or world access", path),
				 errdetail("The file must be readable by the database server's user only."),
				 errhint("Run chmod 600 on the file.")));
	if (st.st_size > 4096)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("\"imcheck.secret_key_file\" file \"%s\" is too large", path)));
	f = AllocateFile(path, "r");
	if (f == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open \"imcheck.secret_key_file\" file \"%s\": %m", path)));
	key = palloc0(4097);
	len = fread(key, 1, 4096, f);
	FreeFile(f);
	/* the key is the first line, without its line end or trailing blanks */
	key[strcspn(key, "\r\n")] = '\0';
	len = strlen(key);
	while (len > 0 && (key[len - 1] == ' ' || key[len - 1] == '\t'))
		key[--len] = '\0';
	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("\"imcheck.secret_key_file\" file \"%s\" is empty", path)));
	return key;
}

/* The secret key from the settings, or NULL when none is configured. */
static char *
configured_secret_key(void)
{
	if (secret_key_setting != NULL && *secret_key_setting != '\0')
		return pstrdup(secret_key_setting);
	if (secret_key_file_setting != NULL && *secret_key_file_setting != '\0')
		return read_secret_key_file(secret_key_file_setting);
	return NULL;
}

/* Checks a static UserSig before any call, so a bad one fails clearly. */
static void
check_static_usersig(uint64_t sdkappid)
{
	usersig_document doc;
	usersig_status status;

	status = usersig_decode(usersig_setting, strlen(usersig_setting), &doc);
	if (status != USERSIG_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"imcheck.usersig\" is not a valid UserSig"),
				 errdetail("%s.", usersig_status_text(status))));
	if (strcmp(doc.identifier, identifier_setting) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"imcheck.usersig\" was not issued for \"imcheck.identifier\""),
				 errdetail("The UserSig names identifier \"%s\", the setting is \"%s\".",
						   doc.identifier, identifier_setting)));
	if (doc.sdkappid != sdkappid)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"imcheck.usersig\" was not issued for \"imcheck.sdkappid\""),
				 errdetail("The UserSig names SDKAppID %llu, the setting is %s.",
						   (unsigned long long) doc.sdkappid, sdkappid_setting)));
	if (now_seconds() > doc.time + doc.expire)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"imcheck.usersig\" has expired"),
				 errhint("Generate a new UserSig, or set \"imcheck.secret_key\" so that imcheck generates them.")));
}

static char *
escaped(const char *s)
{
	char	   *e = curl_easy_escape(NULL, s, (int) strlen(s));
	char	   *result;

	if (e == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	result = pstrdup(e);
	curl_free(e);
	return result;
}

static void
build_url_prefix(imcheck_config *cfg, const char *usersig)
{
	cfg->usersig = pstrdup(usersig);
	cfg->usersig_escaped = escaped(usersig);
	cfg->url_prefix = psprintf("%s" ACCOUNT_CHECK_PATH "?sdkappid=%s&identifier=%s&usersig=%s&contenttype=json&random=",
							   cfg->base_url, sdkappid_setting,
							   escaped(identifier_setting), cfg->usersig_escaped);
}

static uint64_t
checked_sdkappid(void)
{
	uint64_t	sdkappid;

	if (sdkappid_setting == NULL || *sdkappid_setting == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("\"imcheck.sdkappid\" is not set"),
				 errhint("Set \"imcheck.sdkappid\" to the SDKAppID of the IM app in postgresql.conf.")));
	if (!parse_sdkappid(sdkappid_setting, &sdkappid))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"imcheck.sdkappid\" is not a valid SDKAppID")));
	return sdkappid;
}

void
imcheck_resolve_config(imcheck_config *cfg)
{
	uint64_t	sdkappid = checked_sdkappid();
	const char *usersig;
	char	   *key;

	memset(cfg, 0, sizeof(*cfg));

	if (identifier_setting == NULL || *identifier_setting == '\0')
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

	key = configured_secret_key();
	if (key != NULL)
	{
		usersig = generated_usersig(key, sdkappid, false);
		cfg->usersig_from_key = true;
		cfg->fingerprint = hash_bytes((const unsigned char *) key, (int) strlen(key));
		explicit_bzero(key, strlen(key));
		pfree(key);
	}
	else if (usersig_setting != NULL && *usersig_setting != '\0')
	{
		check_static_usersig(sdkappid);
		usersig = usersig_setting;
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("none of \"imcheck.secret_key\", \"imcheck.secret_key_file\" and \"imcheck.usersig\" is set"),
				 errhint("Set \"imcheck.secret_key_file\" (or \"imcheck.secret_key\") in postgresql.conf.")));
	build_url_prefix(cfg, usersig);

	/* the key (above) or static UserSig, the app, the admin, the endpoint */
	if (!cfg->usersig_from_key)
		cfg->fingerprint = hash_bytes((const unsigned char *) usersig, (int) strlen(usersig));
	cfg->fingerprint = hash_combine(cfg->fingerprint,
									hash_bytes((const unsigned char *) cfg->base_url,
											   (int) strlen(cfg->base_url)));
	cfg->fingerprint = hash_combine(cfg->fingerprint,
									hash_bytes((const unsigned char *) identifier_setting,
											   (int) strlen(identifier_setting)));
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

bool
imcheck_renew_usersig(imcheck_config *cfg)
{
	char	   *key;

	if (!cfg->usersig_from_key)
		return false;
	key = configured_secret_key();
	if (key == NULL)
		return false;
	build_url_prefix(cfg, generated_usersig(key, checked_sdkappid(), true));
	explicit_bzero(key, strlen(key));
	pfree(key);
	return true;
}

/* Replaces every occurrence of secret (if not empty) in buf. */
static void
redact_all(StringInfo out, const char *text, const char *secret)
{
	size_t		len = strlen(secret);
	const char *p = text;
	const char *hit;

	if (len == 0)
	{
		appendStringInfoString(out, text);
		return;
	}
	while ((hit = strstr(p, secret)) != NULL)
	{
		appendBinaryStringInfo(out, p, (int) (hit - p));
		appendStringInfoString(out, "(redacted)");
		p = hit + len;
	}
	appendStringInfoString(out, p);
}

/* Where a URL's query string, or a parameter, ends in running text. */
static const char *
query_end(const char *p)
{
	while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '"' &&
		   *p != '\'' && *p != '<' && *p != '>' && *p != '\\')
		p++;
	return p;
}

static bool
segment_has(const char *start, const char *end, const char *needle)
{
	size_t		len = strlen(needle);

	for (const char *p = start; p + len <= end; p++)
		if (pg_strncasecmp(p, needle, len) == 0)
			return true;
	return false;
}

char *
imcheck_redact(const imcheck_config *cfg, const char *text)
{
	StringInfoData a;
	StringInfoData b;
	const char *p;

	/* the UserSig itself, wherever and however it appears */
	initStringInfo(&a);
	redact_all(&a, text, cfg->usersig ? cfg->usersig : "");
	initStringInfo(&b);
	redact_all(&b, a.data, cfg->usersig_escaped ? cfg->usersig_escaped : "");

	/*
	 * A request's query string (it names the app, the admin and a UserSig,
	 * perhaps an older one), and any usersig= parameter left elsewhere.
	 */
	resetStringInfo(&a);
	p = b.data;
	while (*p)
	{
		if (*p == '?' || *p == '&' || pg_strncasecmp(p, "usersig=", 8) == 0)
		{
			const char *end = query_end(p + 1);

			if (pg_strncasecmp(p, "usersig=", 8) == 0 ||
				segment_has(p, end, "sdkappid=") ||
				segment_has(p, end, "usersig=") ||
				segment_has(p, end, "identifier="))
			{
				appendStringInfoString(&a, *p == '?' ? "?(query redacted)" : "(redacted)");
				p = end;
				continue;
			}
		}
		appendStringInfoChar(&a, *p);
		p++;
	}
	pfree(b.data);
	return a.data;
}
