/*
 * settings.h - imcheck's GUCs and the resolved configuration of one call.
 */
#ifndef IMCHECK_SETTINGS_H
#define IMCHECK_SETTINGS_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Everything the engine needs for one statement, resolved and checked from
 * the settings before any call is made.  Strings are palloc'd in the
 * caller's memory context.
 */
/* the most base URLs imcheck.endpoint may list */
#define IMCHECK_MAX_ENDPOINTS 8

struct imcheck_api;

typedef struct imcheck_config
{
	const struct imcheck_api *api;	/* what the calls ask */
	/* scheme://host[:port][/prefix], no slash at the end; tried in order */
	char	   *base_urls[IMCHECK_MAX_ENDPOINTS];
	int			n_endpoints;
	char	   *endpoints_shown;	/* the base URLs, for messages */
	const char *base_url_setting;	/* the setting they came from, quoted */
	char	   *url_query;		/* the query, up to and including "random=" */
	char	   *proxy;			/* NULL: direct; may hold a password: never shown */
	char	   *proxy_shown;	/* http://host:port of the proxy */
	char	   *proxy_password; /* as written in imcheck.proxy, or NULL */
	char	   *proxy_password_decoded;
	char	   *usersig;		/* the UserSig in use, and URL-escaped: never */
	char	   *usersig_escaped;	/* to be shown (see imcheck_redact) */
	bool		usersig_from_key;	/* generated from imcheck.secret_key */
	const char *credential_source;	/* the setting (and file) it came from, quoted */
	char	   *ca_file;		/* NULL: system CAs */
	int			timeout_ms;
	int			max_retries;
	int			rate_limit;		/* the API's calls per second, 0 = unlimited */
	int			max_concurrency;	/* 0: follow the round trip */
	int			batch_size;		/* imcheck.batch_size, at most the API's limit */
	uint32_t	fingerprint;	/* changes when where or as whom calls go changes */
} imcheck_config;

/* Loaded through shared_preload_libraries (set by _PG_init). */
extern bool imcheck_preloaded;

/* imcheck.log_level: the level of the one line logged per statement. */
extern int	imcheck_log_level;

extern void imcheck_define_settings(void);

/*
 * Fills cfg for calls to api from the current settings; raises an ERROR
 * naming the setting when one is missing or malformed.
 */
extern void imcheck_resolve_config(imcheck_config *cfg, const struct imcheck_api *api);

/* Raises an ERROR unless imcheck.sdkappid is set and valid. */
extern uint64_t imcheck_checked_sdkappid(void);

/*
 * The credential settings, which credentials.c reads.  Declared here so
 * that one file defines every GUC.
 */
extern char *imcheck_sdkappid_setting;
extern char *imcheck_identifier_setting;
extern char *imcheck_secret_key_setting;
extern char *imcheck_secret_key_file_setting;
extern char *imcheck_usersig_setting;
extern int	imcheck_usersig_ttl_setting;

#endif							/* IMCHECK_SETTINGS_H */
