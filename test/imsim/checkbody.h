/*
 * checkbody.h - the account_check request body parser of imsim.
 *
 * A strict RFC 8259 JSON parser (src/jsonscan.c) specialised for
 * {"CheckItem":[{"UserID":"..."},...]}: it validates the whole document,
 * allocates nothing, and decodes the UserID strings in place (a decoded
 * JSON string is never longer than its escaped form).  json-c spent most
 * of imsim's time on this; see README.md ("Performance").
 *
 * Semantics (the README documents them as imsim's behaviour):
 *  - whitespace is space, tab, CR, LF; nothing but whitespace may follow
 *    the document; nesting deeper than JSONSCAN_MAX_DEPTH is invalid;
 *  - strings must not contain raw control characters (< 0x20); escapes are
 *    \" \\ \/ \b \f \n \r \t \uXXXX; a surrogate pair becomes one UTF-8
 *    sequence, a lone surrogate becomes U+FFFD; other bytes (including
 *    invalid UTF-8) are taken as they are;
 *  - keys are compared after unescaping; when a key repeats, the last one
 *    wins (as json-c does).
 */
#ifndef IMSIM_CHECKBODY_H
#define IMSIM_CHECKBODY_H

#include <stddef.h>
#include <stdint.h>

#define CHECKBODY_MAX_ITEMS 100

typedef enum checkbody_result
{
	CHECKBODY_OK = 0,
	CHECKBODY_NOT_JSON,			/* -> 60003 */
	CHECKBODY_NO_CHECKITEM,		/* -> 70402: not an object / no CheckItem */
	CHECKBODY_NOT_ARRAY,		/* -> 70402 */
	CHECKBODY_EMPTY,			/* -> 70402 */
	CHECKBODY_TOO_MANY,			/* -> 70402 */
	CHECKBODY_BAD_ITEM			/* -> 70402: *bad_index tells which */
} checkbody_result;

/*
 * Parses body[0..len) (modified in place).  On CHECKBODY_OK, ids[i] and
 * lens[i] (i < *n) point into body at the decoded UserIDs, in order.
 */
checkbody_result checkbody_parse(char *body, size_t len,
								 const char *ids[CHECKBODY_MAX_ITEMS],
								 size_t lens[CHECKBODY_MAX_ITEMS],
								 size_t *n, size_t *bad_index);

#endif							/* IMSIM_CHECKBODY_H */
