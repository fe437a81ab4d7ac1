/*
 * jsonscan.h - a strict RFC 8259 JSON scanner that allocates nothing.
 *
 * Plain C, shared by the response parser (protocol.c), imsim's request
 * parser and the fuzzers, so all three read JSON by the same rules.  It
 * exists for what a general-purpose parser (json-c) hides: a member that
 * appears twice (an answer must be refused, not read by whichever copy the
 * parser kept), strings compared byte for byte as sent (escapes decoded
 * only where asked), and no allocation at all while an answer is read.  The
 * scanner walks a document in place; callers pick out the members they
 * need and skip the rest with jsonscan_value().
 *
 * Rules: whitespace is space, tab, CR, LF; strings must not hold raw
 * control characters (< 0x20); escapes are \" \\ \/ \b \f \n \r \t \uXXXX;
 * a surrogate pair decodes to one UTF-8 sequence, a lone surrogate to
 * U+FFFD; other bytes (including invalid UTF-8) are taken as they are;
 * nesting deeper than JSONSCAN_MAX_DEPTH is invalid.
 */
#ifndef IMCHECK_JSONSCAN_H
#define IMCHECK_JSONSCAN_H

#include <stddef.h>
#include <stdint.h>

#define JSONSCAN_MAX_DEPTH 64

typedef struct jsonscan_cursor
{
	const char *p;				/* next byte */
	const char *end;			/* one past the last byte */
} jsonscan_cursor;

/* A validated string: from its opening quote to one past its closing one. */
typedef struct jsonscan_string
{
	const char *start;
	const char *end;
	int			escaped;		/* holds escapes: decode before use */
} jsonscan_string;

void		jsonscan_skip_ws(jsonscan_cursor *c);

/* Validates the string at c->p (a '"') and moves past it.  0 or -1. */
int			jsonscan_string_scan(jsonscan_cursor *c, jsonscan_string *s);

/*
 * Decodes a validated string into out, writing at most cap bytes but
 * returning the full decoded length (never more than its escaped length).
 * out may be s->start itself.
 */
size_t		jsonscan_string_decode(const jsonscan_string *s, char *out, size_t cap);

/* Is the validated string exactly the bytes want[0..len)? */
int			jsonscan_string_equals(const jsonscan_string *s, const char *want,
								   size_t len);

/* Validates and skips one value at c->p (depth: its nesting level). */
int			jsonscan_value(jsonscan_cursor *c, int depth);

/*
 * Reads an integer value (JSON number without fraction or exponent) in
 * [min, max].  Returns 0; -1 for invalid JSON; 1 for a valid number that is
 * not such an integer (the cursor is then past it).
 */
int			jsonscan_integer(jsonscan_cursor *c, int64_t min, int64_t max,
							 int64_t *value);

/*
 * Iterates over the members of the object at c->p (a '{'): set *state to 0
 * before the first call.  Returns 1 with *key set and the cursor at the
 * member's value (which the caller must consume), 0 after the closing '}',
 * -1 on invalid JSON.
 */
int			jsonscan_object_next(jsonscan_cursor *c, int *state,
								 jsonscan_string *key);

/*
 * Iterates over the elements of the array at c->p (a '['), like
 * jsonscan_object_next: 1 with the cursor at an element, 0 after ']'.
 */
int			jsonscan_array_next(jsonscan_cursor *c, int *state);

/*
 * Must the byte be escaped inside a JSON string: a control byte, '"' or
 * '\\'?  The one definition, used by the scanner and the request writer.
 */
static inline int
jsonscan_must_escape(unsigned char ch)
{
	return ch < 0x20 || ch == '"' || ch == '\\';
}

#endif							/* IMCHECK_JSONSCAN_H */
