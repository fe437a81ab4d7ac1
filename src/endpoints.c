/*
 * endpoints.c - where calls go: the API's domains per region with their
 * backups, a list of base URLs in imcheck.endpoint, an HTTP proxy
 * (imcheck.proxy), and failover between the base URLs.
 *
 * Each region has a primary domain and a backup domain under another name,
 * for when DNS for the first is down or hijacked (doc/api.md).  A call that
 * cannot connect to one base URL tries the next (engine.c); an answer of
 * the API, even an error, does not.
 *
 * A proxy carries every call through a CONNECT tunnel, plain HTTP
 * endpoints included, so the proxy never sees a request, whose URL holds
 * the UserSig.  Its URL may hold a user name and password: the value is
 * never part of a message (the texts here never quote it, and
 * imcheck_server_text removes the password from text that comes back from
 * the network).
 */
#include "postgres.h"

#include <curl/curl.h>

#include "lib/stringinfo.h"

#include "engine_int.h"

/* The API's domains in each region, primary first (doc/api.md). */
static const struct
{
	const char *name;
	const char *domains;
}			regions[] =
{
	{"china", "https://console.tim.qq.com,https://adminapi.my-imcloud.com"},
	{"singapore", "https://adminapisgp.im.qcloud.com,https://adminapisgp.my-imcloud.com"},
	{"seoul", "https://adminapikr.im.qcloud.com,https://adminapikr.my-imcloud.com"},
	{"frankfurt", "https://adminapiger.im.qcloud.com,https://adminapiger.my-imcloud.com"},
	{"mumbai", "https://adminapiind.im.qcloud.com,https://adminapiind.my-imcloud.com"},
	{"silicon_valley", "https://adminapiusa.im.qcloud.com,https://adminapiusa.my-imcloud.com"},
	{"jakarta", "https://adminapiidn.im.qcloud.com,https://adminapiidn.my-imcloud.com"},
	{"tokyo", "https://adminapijpn.im.qcloud.com,https://adminapijpn.my-imcloud.com"},
};

/* Problems that name their place in a list are formatted here. */
static char problem_text[256];

static const char *
region_domains(const char *name)
{
	for (int i = 0; i < lengthof(regions); i++)
		if (pg_strcasecmp(regions[i].name, name) == 0)
			return regions[i].domains;
	return NULL;
}

bool
endpoints_region_known(const char *name)
{
	return region_domains(name) != NULL;
}

static CURLU *
new_url_handle(void)
{
	CURLU	   *h = curl_url();

	if (h == NULL)
		imcheck_out_of_memory();
	return h;
}

/* A part of the parsed URL, palloc'd, or NULL if it has none. */
static char *
url_part(CURLU *h, CURLUPart which, unsigned int flags)
{
	char	   *part = NULL;
	char	   *copy = NULL;

	if (curl_url_get(h, which, &part, flags) == CURLUE_OK && part != NULL)
		copy = pstrdup(part);
	curl_free(part);
	return copy;
}

static bool
url_has_part(CURLU *h, CURLUPart which)
{
	char	   *part = NULL;
	bool		has = curl_url_get(h, which, &part, 0) == CURLUE_OK && part != NULL;

	curl_free(part);
	return has;
}

/*
 * What is wrong with one base URL (an http(s) URL without credentials,
 * query or fragment), or NULL.  Runs for every statement: nothing may be
 * left allocated.
 */
static const char *
base_url_problem(const char *url)
{
	CURLU	   *h = new_url_handle();
	const char *problem = NULL;

	if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
		problem = "Only http:// and https:// URLs are allowed.";
	else if (curl_url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK)
		problem = "It is not a valid URL.";
	else if (url_has_part(h, CURLUPART_USER) || url_has_part(h, CURLUPART_PASSWORD))
		problem = "The URL must not contain a user name or password.";
	else if (url_has_part(h, CURLUPART_QUERY))
		problem = "The URL must not contain a query string.";
	else if (url_has_part(h, CURLUPART_FRAGMENT))
		problem = "The URL must not contain a fragment.";
	curl_url_cleanup(h);
	return problem;
}

/*
 * Splits a list of base URLs at its commas, with the spaces around them
 * trimmed, into urls (palloc'd, of IMCHECK_MAX_ENDPOINTS); returns how
 * many, or -1 with *problem set.
 */
static int
split_list(const char *list, char **urls, const char **problem)
{
	int			n = 0;
	const char *p = list;

	for (;;)
	{
		const char *end = strchr(p, ',');
		const char *stop = end ? end : p + strlen(p);
		const char *url_problem;
		char	   *url;

		while (p < stop && (*p == ' ' || *p == '\t'))
			p++;
		while (stop > p && (stop[-1] == ' ' || stop[-1] == '\t'))
			stop--;
		if (stop == p)
		{
			*problem = "The list has an empty base URL.";
			return -1;
		}
		if (n == IMCHECK_MAX_ENDPOINTS)
		{
			snprintf(problem_text, sizeof(problem_text),
					 "At most %d base URLs are allowed.", IMCHECK_MAX_ENDPOINTS);
			*problem = problem_text;
			return -1;
		}
		url = pnstrdup(p, stop - p);
		url_problem = base_url_problem(url);
		if (url_problem != NULL)
		{
			pfree(url);
			if (n == 0 && end == NULL)
				*problem = url_problem;
			else
			{
				snprintf(problem_text, sizeof(problem_text),
						 "Base URL %d of the list is not usable. %s", n + 1, url_problem);
				*problem = problem_text;
			}
			return -1;
		}
		/* the paths are appended to it */
		while (strlen(url) > 0 && url[strlen(url) - 1] == '/')
			url[strlen(url) - 1] = '\0';
		urls[n++] = url;
		if (end == NULL)
			return n;
		p = end + 1;
	}
}

const char *
endpoints_list_problem(const char *list)
{
	char	   *urls[IMCHECK_MAX_ENDPOINTS];
	const char *problem = NULL;
	size_t		len = strlen(list);
	int			n;

	/* spaces may follow or precede a comma, but a URL has none of its own */
	if (len > 0 && (isspace((unsigned char) list[0]) ||
					isspace((unsigned char) list[len - 1])))
		return "A URL must not begin or end with a space.";
	n = split_list(list, urls, &problem);

	for (int i = 0; i < n; i++)
		pfree(urls[i]);
	return problem;
}

const char *
endpoints_proxy_problem(const char *url)
{
	CURLU	   *h = new_url_handle();
	const char *problem = NULL;
	char	   *path = NULL;

	if (strncasecmp(url, "http://", 7) != 0)
		problem = "Only http:// proxies are supported.";
	else if (curl_url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK)
		problem = "It is not a valid URL.";
	else if (!url_has_part(h, CURLUPART_PORT))
		problem = "The proxy's URL must give its port, as in http://proxy.example.com:3128.";
	else if (url_has_part(h, CURLUPART_QUERY) || url_has_part(h, CURLUPART_FRAGMENT) ||
			 ((path = url_part(h, CURLUPART_PATH, 0)) != NULL && strcmp(path, "/") != 0))
		problem = "The proxy's URL must not have a path, a query string or a fragment.";
	if (path)
		pfree(path);
	curl_url_cleanup(h);
	return problem;
}

static void
resolve_proxy(imcheck_config *cfg, const char *proxy)
{
	const char *problem = endpoints_proxy_problem(proxy);
	CURLU	   *h;
	char	   *host;
	char	   *port;

	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"imcheck.proxy\" is not a valid proxy URL"),
				 errdetail("%s", problem)));
	h = new_url_handle();
	(void) curl_url_set(h, CURLUPART_URL, proxy, 0);
	host = url_part(h, CURLUPART_HOST, 0);
	port = url_part(h, CURLUPART_PORT, 0);
	cfg->proxy = pstrdup(proxy);
	cfg->proxy_shown = psprintf("http://%s:%s", host, port);
	/* the password as written and as sent, to take out of any text shown */
	cfg->proxy_password = url_part(h, CURLUPART_PASSWORD, 0);
	cfg->proxy_password_decoded = url_part(h, CURLUPART_PASSWORD, CURLU_URLDECODE);
	curl_url_cleanup(h);
}

void
endpoints_resolve(imcheck_config *cfg, const char *endpoint_list,
				  const char *region, const char *proxy)
{
	const char *problem = NULL;
	const char *list = endpoint_list;
	StringInfoData shown;

	cfg->base_url_setting = "\"imcheck.endpoint\"";
	if (list == NULL || *list == '\0')
	{
		list = region_domains(region ? region : "");
		if (list == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"imcheck.region\" is not a region of the API: \"%s\"",
							region ? region : ""),
					 errdetail("The regions are " REGION_LIST ".")));
		cfg->base_url_setting = "\"imcheck.region\"";
	}
	cfg->n_endpoints = split_list(list, cfg->base_urls, &problem);
	if (cfg->n_endpoints < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"imcheck.endpoint\" is not a valid list of base URLs"),
				 errdetail("%s", problem)));
	initStringInfo(&shown);
	for (int i = 0; i < cfg->n_endpoints; i++)
		appendStringInfo(&shown, "%s%s", i > 0 ? ", " : "", cfg->base_urls[i]);
	cfg->endpoints_shown = shown.data;

	if (proxy != NULL && *proxy != '\0')
		resolve_proxy(cfg, proxy);
}

/*
 * Failover.  Calls go to the first base URL.  A call that cannot reach the
 * API at the one in use (DNS, TCP, TLS, the proxy's tunnel) moves new calls
 * to the next, and goes there itself at once; an answer of the API, even an
 * error, moves nothing.  A statement that starts five minutes after the
 * last failover goes back to the first.
 *
 * The state is the backend's: each backend finds out for itself that a
 * base URL cannot be reached, at the cost of one call's connect failure.
 * Sharing it across the cluster would save little (a failover is rare) and
 * would let one backend's bad proxy setting move everyone else's calls.
 */

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
