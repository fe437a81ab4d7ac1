/*
 * credentials.c - the UserSig calls are made with, and the request URL
 * that carries it.
 *
 * The UserSig is generated from the secret key (imcheck.secret_key, or
 * imcheck.secret_key_file) and cached per backend until half its lifetime
 * has passed, or it is the static imcheck.usersig, checked before any call.
 * The key, a UserSig and the URL are never part of a message, and text
 * that comes back from the network is shown only once they are taken out of
 * it (imcheck_server_text).
 */
#include "postgres.h"

#include <sys/stat.h>
#include <time.h>

#include <curl/curl.h>

#include "common/hashfn.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "storage/fd.h"

#include "imcheck_int.h"
#include "usersig.h"


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

static int64_t
now_seconds(void)
{
	return (int64_t) time(NULL);
}

/* Out of memory in the UserSig code is its own error, not a bad UserSig. */
static void
raise_if_no_memory(usersig_status status, const char *doing)
{
	if (status == USERSIG_NO_MEMORY)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Failed while %s.", doing)));
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
		strcmp(usersig_cache.identifier, imcheck_identifier_setting) == 0 &&
		usersig_cache.sdkappid == sdkappid &&
		usersig_cache.ttl == imcheck_usersig_ttl_setting &&
	/* renew at half its lifetime, well before the service would refuse it */
		now >= usersig_cache.generated_at &&
		now < usersig_cache.generated_at + imcheck_usersig_ttl_setting / 2)
		return usersig_cache.usersig;

	clear_usersig_cache();
	status = usersig_generate(key, strlen(key),
							  imcheck_identifier_setting, sdkappid, now,
							  imcheck_usersig_ttl_setting, &fresh);
	raise_if_no_memory(status, "generating a UserSig");
	if (status != USERSIG_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a UserSig from \"imcheck.secret_key\""),
				 errdetail_internal("%s.", usersig_status_text(status))));
	usersig_cache.usersig = fresh;
	usersig_cache.key = strdup(key);
	usersig_cache.identifier = strdup(imcheck_identifier_setting);
	usersig_cache.sdkappid = sdkappid;
	usersig_cache.ttl = imcheck_usersig_ttl_setting;
	usersig_cache.generated_at = now;
	if (usersig_cache.key == NULL || usersig_cache.identifier == NULL)
	{
		clear_usersig_cache();
		imcheck_out_of_memory();
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
	if (fread(key, 1, 4096, f) == 0 && ferror(f))
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read \"imcheck.secret_key_file\" file \"%s\": %m", path)));
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
/*
 * A secret written in postgresql.conf is readable by every role until the
 * library is loaded in a session, so without preloading it may already
 * have leaked: refuse to use it (the key file is safe either way).
 */
static void
refuse_inline_secret_unless_preloaded(const char *setting)
{
	if (!imcheck_preloaded)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("imcheck refuses to use \"%s\" because imcheck is not preloaded", setting),
				 errdetail("Until imcheck is loaded in a session, any role can read the value written in postgresql.conf."),
				 errhint("Add imcheck to \"shared_preload_libraries\" and restart the server, or put the key in the file named by \"imcheck.secret_key_file\" and replace it.")));
}

static char *
configured_secret_key(void)
{
	if (imcheck_secret_key_setting != NULL && *imcheck_secret_key_setting != '\0')
	{
		refuse_inline_secret_unless_preloaded("imcheck.secret_key");
		return pstrdup(imcheck_secret_key_setting);
	}
	if (imcheck_secret_key_file_setting != NULL && *imcheck_secret_key_file_setting != '\0')
		return read_secret_key_file(imcheck_secret_key_file_setting);
	return NULL;
}

/* Checks a static UserSig before any call, so a bad one fails clearly. */
static void
check_static_usersig(uint64_t sdkappid)
{
	usersig_document doc;
	usersig_status status;

	status = usersig_decode(imcheck_usersig_setting, strlen(imcheck_usersig_setting), &doc);
	raise_if_no_memory(status, "reading \"imcheck.usersig\"");
	if (status != USERSIG_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"imcheck.usersig\" is not a valid UserSig"),
				 errdetail_internal("%s.", usersig_status_text(status))));
	if (strcmp(doc.identifier, imcheck_identifier_setting) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"imcheck.usersig\" was not issued for \"imcheck.identifier\""),
				 errdetail("The UserSig names identifier \"%s\", the setting is \"%s\".",
						   doc.identifier, imcheck_identifier_setting)));
	if (doc.sdkappid != sdkappid)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"imcheck.usersig\" was not issued for \"imcheck.sdkappid\""),
				 errdetail("The UserSig names SDKAppID %llu, the setting is %s.",
						   (unsigned long long) doc.sdkappid, imcheck_sdkappid_setting)));
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
		imcheck_out_of_memory();
	result = pstrdup(e);
	explicit_bzero(e, strlen(e));	/* it may be the UserSig */
	curl_free(e);
	return result;
}

static void
forget_copy(char **copy)
{
	if (*copy != NULL)
	{
		explicit_bzero(*copy, strlen(*copy));
		pfree(*copy);
		*copy = NULL;
	}
}

void
imcheck_forget_usersig(imcheck_config *cfg)
{
	forget_copy(&cfg->usersig);
	forget_copy(&cfg->usersig_escaped);
	forget_copy(&cfg->url_query);
}

/* Sets cfg's copies of the UserSig; on an ERROR, none is left unzeroed. */
static void
build_url_query(imcheck_config *cfg, const char *usersig)
{
	imcheck_forget_usersig(cfg);
	PG_TRY();
	{
		cfg->usersig = pstrdup(usersig);
		cfg->usersig_escaped = escaped(usersig);
		cfg->url_query = psprintf("?sdkappid=%s&identifier=%s&usersig=%s&contenttype=json&random=",
								  imcheck_sdkappid_setting,
								  escaped(imcheck_identifier_setting), cfg->usersig_escaped);
	}
	PG_CATCH();
	{
		imcheck_forget_usersig(cfg);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/* The UserSig generated from key, which is zeroed and freed whatever happens. */
static const char *
usersig_of_key(char *key, uint64_t sdkappid, bool force_renew)
{
	const char *volatile usersig = NULL;

	PG_TRY();
	{
		usersig = generated_usersig(key, sdkappid, force_renew);
	}
	PG_CATCH();
	{
		explicit_bzero(key, strlen(key));
		PG_RE_THROW();
	}
	PG_END_TRY();
	explicit_bzero(key, strlen(key));
	pfree(key);
	return usersig;
}

void
imcheck_resolve_credentials(imcheck_config *cfg)
{
	uint64_t	sdkappid = cfg->sdkappid;
	char	   *key = configured_secret_key();
	const char *usersig;

	if (key != NULL)
	{
		cfg->fingerprint = hash_bytes((const unsigned char *) key, (int) strlen(key));
		usersig = usersig_of_key(key, sdkappid, false);
		cfg->usersig_from_key = true;
		cfg->credential_source = imcheck_secret_key_setting && *imcheck_secret_key_setting
			? "\"imcheck.secret_key\""
			: psprintf("\"imcheck.secret_key_file\" (file \"%s\")", imcheck_secret_key_file_setting);
	}
	else if (imcheck_usersig_setting != NULL && *imcheck_usersig_setting != '\0')
	{
		refuse_inline_secret_unless_preloaded("imcheck.usersig");
		check_static_usersig(sdkappid);
		usersig = imcheck_usersig_setting;
		cfg->credential_source = "\"imcheck.usersig\"";
		cfg->fingerprint = hash_bytes((const unsigned char *) usersig, (int) strlen(usersig));
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("none of \"imcheck.secret_key\", \"imcheck.secret_key_file\" and \"imcheck.usersig\" is set"),
				 errhint("Set \"imcheck.secret_key_file\" (or \"imcheck.secret_key\") in postgresql.conf.")));
	build_url_query(cfg, usersig);
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
	build_url_query(cfg, usersig_of_key(key, cfg->sdkappid, true));
	return true;
}

/* Text from the network, made safe to show (see imcheck_int.h). */

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

static char *
redact(const imcheck_config *cfg, const char *text)
{
	StringInfoData a;
	StringInfoData b;
	const char *p;

	/* the UserSig itself, wherever and however it appears */
	initStringInfo(&a);
	redact_all(&a, text, cfg->usersig ? cfg->usersig : "");
	initStringInfo(&b);
	redact_all(&b, a.data, cfg->usersig_escaped ? cfg->usersig_escaped : "");
	/* the proxy's password */
	if (cfg->proxy_password && *cfg->proxy_password)
	{
		resetStringInfo(&a);
		redact_all(&a, b.data, cfg->proxy_password);
		resetStringInfo(&b);
		redact_all(&b, a.data, cfg->proxy_password_decoded ? cfg->proxy_password_decoded : "");
	}

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

char *
imcheck_server_text(const imcheck_config *cfg, const char *s, size_t len)
{
	char	   *copy;
	char	   *redacted;
	char	   *safe;

	if (len == 0)
		return NULL;
	len = strnlen(s, len);
	if (!pg_verify_mbstr(GetDatabaseEncoding(), s, (int) len, true))
		return pstrdup("(text from the API is not valid in the database encoding)");
	copy = pnstrdup(s, len);
	redacted = redact(cfg, copy);
	/* stored per ID: its own size, not the StringInfo's kilobyte */
	safe = pstrdup(redacted);
	pfree(redacted);
	pfree(copy);
	return safe;
}
