/*
 * redact.c - text from the network made safe to show (see redact.h).
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "redact.h"

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
