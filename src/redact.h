/*
 * redact.h - text from the network made safe to show (redact.c).
 */
#ifndef IMCHECK_REDACT_H
#define IMCHECK_REDACT_H

#include "settings.h"

/*
 * Text that came from the network, made safe to show: an endpoint that
 * echoes the request (a gateway's error page, a broken deployment) would
 * otherwise hand the admin UserSig to whoever reads an error or a row.
 * Replaces the UserSig (raw or URL-escaped) and the value of any usersig=
 * parameter with "(redacted)".  Returns a palloc'd string.
 */
extern char *imcheck_redact(const imcheck_config *cfg, const char *text);

#endif							/* IMCHECK_REDACT_H */
