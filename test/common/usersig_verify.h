/*
 * usersig_verify.h - UserSig verification as the service does it, for imsim,
 * the unit tests and the fuzzers (the extension only generates and decodes:
 * src/usersig.h).
 */
#ifndef IMCHECK_USERSIG_VERIFY_H
#define IMCHECK_USERSIG_VERIFY_H

#include "../../src/usersig.h"

/*
 * Decodes, checks identifier and sdkappid, rejects when now > time + expire,
 * recomputes the HMAC with key.  If doc is not NULL it receives the decoded
 * document.
 */
usersig_status usersig_verify(const char *usersig, size_t len,
							  const char *key, size_t key_len,
							  const char *identifier, uint64_t sdkappid,
							  int64_t now, usersig_document *doc);

#endif							/* IMCHECK_USERSIG_VERIFY_H */
