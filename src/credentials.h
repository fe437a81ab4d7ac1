/*
 * credentials.h - the UserSig calls are made with (credentials.c).
 */
#ifndef IMCHECK_CREDENTIALS_H
#define IMCHECK_CREDENTIALS_H

#include "settings.h"

/*
 * Sets cfg's UserSig (generated from the secret key, or the static one,
 * checked), the URL prefix that carries it, and the fingerprint's start.
 * Raises an ERROR naming the setting when no credential is configured or
 * it is unusable.
 */
extern void imcheck_resolve_credentials(imcheck_config *cfg, uint64_t sdkappid);

/*
 * After the service said the UserSig expired (70001): drops the cached
 * UserSig, generates a fresh one and rebuilds cfg->url_query.  Returns
 * false when the UserSig is static and cannot be renewed.
 */
extern bool imcheck_renew_usersig(imcheck_config *cfg);

/*
 * Zeroes and frees the config's copies of the UserSig (the URL query holds
 * one), once its calls are over.
 */
extern void imcheck_forget_usersig(imcheck_config *cfg);

#endif							/* IMCHECK_CREDENTIALS_H */
