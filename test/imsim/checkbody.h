/*
 * checkbody.h - the request body parser of imsim's APIs.
 *
 * A strict RFC 8259 JSON parser (src/jsonscan.c) for bodies that carry one
 * list of UserIDs in a top-level member: {"CheckItem":[{"UserID":"..."}]},
 * {"AccountList":[{"UserID":"...","Nick":"..."}]}, {"Accounts":["..."]},
 * {"To_Account":["..."],"IsNeedDetail":1}.  A checkbody_spec says which
 * members an API wants.  The parser validates the whole document,
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
 *    wins (as json-c does); other members are ignored.
 */
#ifndef IMSIM_CHECKBODY_H
#define IMSIM_CHECKBODY_H

#include <stddef.h>
#include <stdint.h>

#define CHECKBODY_MAX_LISTS 2
#define CHECKBODY_MAX_OPT_KEYS 2

typedef enum checkbody_list_kind
{
	CHECKBODY_OBJECTS,			/* [{"<id_key>":"...",...},...] */
	CHECKBODY_STRINGS			/* ["...",...] */
} checkbody_list_kind;

/* A top-level member that may hold the list of UserIDs. */
typedef struct checkbody_list
{
	const char *name;			/* e.g. "CheckItem"; NULL ends spec.lists */
	checkbody_list_kind kind;
	const char *id_key;			/* OBJECTS: the string member taken */
	/* OBJECTS: members that must be strings when present (NULL: unused) */
	const char *opt_keys[CHECKBODY_MAX_OPT_KEYS];
} checkbody_list;

typedef struct checkbody_spec
{
	/* alternatives: the first one (in this order) present in the body wins */
	checkbody_list lists[CHECKBODY_MAX_LISTS];
	size_t		max_items;
	const char *int_key;		/* an optional integer member, or NULL */
	int64_t		int_min;
	int64_t		int_max;
} checkbody_spec;

typedef enum checkbody_result
{
	CHECKBODY_OK = 0,
	CHECKBODY_NOT_JSON,			/* -> 60003 */
	CHECKBODY_NO_LIST,			/* -> 70402: not an object / no list member */
	CHECKBODY_NOT_ARRAY,		/* -> 70402 */
	CHECKBODY_EMPTY,			/* -> 70402 */
	CHECKBODY_TOO_MANY,			/* -> 70402 */
	CHECKBODY_BAD_ITEM,			/* -> 70402: out->bad tells which */
	CHECKBODY_BAD_INT			/* -> 70402: int_key not an integer in range */
} checkbody_result;

typedef struct checkbody_out
{
	const char **ids;			/* in: room for spec->max_items each */
	size_t	   *lens;
	size_t		n;				/* on CHECKBODY_OK: the UserIDs, in order */
	int			list;			/* the member found: an index of spec->lists */
	size_t		bad;			/* CHECKBODY_BAD_ITEM: the element's index */
	int			int_present;	/* on CHECKBODY_OK: int_key given ... */
	int64_t		int_value;		/* ... with this value */
} checkbody_out;

/*
 * Parses body[0..len) (modified in place) as spec says.  On CHECKBODY_OK,
 * out->ids[i] and out->lens[i] (i < out->n) point into body at the decoded
 * UserIDs, in order.
 */
checkbody_result checkbody_parse(char *body, size_t len,
								 const checkbody_spec *spec,
								 checkbody_out *out);

#endif							/* IMSIM_CHECKBODY_H */
