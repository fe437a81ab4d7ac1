/*
 * endpoints.h - where calls go (endpoints.c): the API's domains per
 * region with their backups, a list of base URLs in imcheck.endpoint, and
 * an HTTP proxy (imcheck.proxy).
 */
#ifndef IMCHECK_ENDPOINTS_H
#define IMCHECK_ENDPOINTS_H

#include "settings.h"

#define REGION_LIST "china, singapore, seoul, frankfurt, mumbai, silicon_valley, jakarta, tokyo"

/* Whether name is a region of the API (case does not matter). */
extern bool endpoints_region_known(const char *name);

/*
 * What is wrong with a value of imcheck.endpoint (base URLs separated by
 * commas), or with one of imcheck.proxy: NULL when nothing is.  The text
 * never holds the value: a proxy URL may hold a password.
 */
extern const char *endpoints_list_problem(const char *list);
extern const char *endpoints_proxy_problem(const char *url);

/*
 * Fills cfg's endpoints (from the list, or else the region's primary and
 * backup domain) and its proxy.  Raises an ERROR naming the setting when
 * one is malformed.
 */
extern void endpoints_resolve(imcheck_config *cfg, const char *endpoint_list,
							  const char *region, const char *proxy);

#endif							/* IMCHECK_ENDPOINTS_H */
