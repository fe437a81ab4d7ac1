/*
 * protocol_scan.h - what the answer readers of the three APIs share
 * (protocol.c, protocol_import.c, protocol_online.c): the member names we
 * read, strict member readers, one parse driver for the answer's envelope,
 * and one matcher of answered UserIDs to asked ones.  Internal to the
 * protocol files.
 */
#ifndef IMCHECK_PROTOCOL_SCAN_H
#define IMCHECK_PROTOCOL_SCAN_H

#include "jsonscan.h"
#include "protocol.h"

/* what the scanners return for a member we read appearing twice */
#define DUPLICATE_MEMBER (-2)

/* what a protocol_member_reader returns for a member it does not read */
#define MEMBER_NOT_READ 1

#define KEY_IS(k, lit) jsonscan_string_equals(&(k), lit, sizeof(lit) - 1)

/* The members we read, at the top level and in a list's items. */
typedef enum member_name
{
	MEMBER_OTHER,
	MEMBER_ACTION_STATUS,
	MEMBER_ERROR_CODE,
	MEMBER_ERROR_INFO,
	MEMBER_RESULT_ITEM,
	MEMBER_USER_ID,
	MEMBER_RESULT_CODE,
	MEMBER_RESULT_INFO,
	MEMBER_ACCOUNT_STATUS,
	MEMBER_FAIL_ACCOUNTS,
	MEMBER_QUERY_RESULT,
	MEMBER_ERROR_LIST,
	MEMBER_TO_ACCOUNT,
	MEMBER_STATUS,
	MEMBER_DETAIL
} member_name;

/*
 * Each member we read may appear once: a lenient reader would let the last
 * copy win ("ResultCode":0 after "ResultCode":70107 passing for success).
 * So the readers below return DUPLICATE_MEMBER for a member already read.
 */
typedef struct string_member
{
	int			seen;
	int			is_string;
	jsonscan_string s;
} string_member;

typedef struct int32_member
{
	int			state;			/* 0 absent, 1 an int32 (in value), 2 another value */
	int32_t		value;
} int32_member;

extern int	protocol_read_int32_member(jsonscan_cursor *c, int32_member *m);
extern int	protocol_read_string_member(jsonscan_cursor *c, string_member *m);

/*
 * Reads a member (name) at c into state, consuming it: returns 0, -1 for
 * invalid JSON, DUPLICATE_MEMBER, or MEMBER_NOT_READ (c untouched: the
 * member is skipped).
 */
typedef int (*protocol_member_reader) (jsonscan_cursor *c, member_name name, void *state);

/*
 * Scans the value at c, at nesting level depth.  When it is an object,
 * *is_object = 1 and each member we name goes to reader.  Returns 0, -1 for
 * invalid JSON, or DUPLICATE_MEMBER.
 */
extern int	protocol_scan_object(jsonscan_cursor *c, int depth, int *is_object,
								 protocol_member_reader reader, void *state);

/*
 * Reads one element of a list at c (it must consume it): the index-th kept.
 * Returns 0, -1 for invalid JSON or DUPLICATE_MEMBER.
 */
typedef int (*protocol_element_reader) (jsonscan_cursor *c, size_t index, void *arg);

/*
 * Scans a list member's value at c: *list_state becomes 1 for an array, 2
 * for another value (a member already read returns DUPLICATE_MEMBER).
 * Each element goes to element(c, *n, arg) while *n < max; past that the
 * elements are only validated; *n counts them all.
 */
extern int	protocol_scan_list(jsonscan_cursor *c, int *list_state, size_t *n, size_t max,
							   protocol_element_reader element, void *arg);

/*
 * Decoded strings (ErrorInfo, ResultInfo, Detail) go into one arena,
 * NUL-terminated.  A decoded string is never longer than its JSON form, so
 * the body's length plus a terminator for each string is always enough.
 */
typedef struct arena_builder
{
	char	   *base;
	size_t		used;
	size_t		cap;
} arena_builder;

extern const char *protocol_arena_decode(arena_builder *arena, const jsonscan_string *s,
										 size_t *len);

/* Copies len raw bytes into the arena, NUL-terminated. */
extern const char *protocol_arena_copy(arena_builder *arena, const char *s, size_t len);

/* Sets resp's outcome, and its problem when not NULL; returns the outcome. */
extern protocol_outcome protocol_finish(protocol_response *resp, protocol_outcome outcome,
										const char *problem);

/* An answer with an OK envelope, as an API's reader gets it. */
typedef struct protocol_answer
{
	const char *const *ids;		/* the n UserIDs asked */
	const size_t *id_lens;
	size_t		n;
	unsigned char answered[PROTOCOL_MAX_ANY_BATCH];
	arena_builder arena;
	protocol_response *resp;	/* items[0..n-1] zeroed, result_info "" */
} protocol_answer;

/*
 * Which asked ID an answered UserID (uid, as scanned) is: the first equal
 * one not yet answered, searching from *next and wrapping around (a list is
 * in request order, so *next is just past its previous match).  Marks it
 * answered and moves *next past it.  Returns its index; -1 if uid was not
 * asked, -2 if every copy of it is already answered.
 */
extern long protocol_match_asked(protocol_answer *a, const jsonscan_string *uid, size_t *next);

/* One API's answer, for protocol_parse_answer. */
typedef struct protocol_api
{
	size_t		max_batch;		/* UserIDs a call may ask */
	size_t		fields_size;	/* its scan state, zeroed before the scan */
	protocol_member_reader member;	/* its own top-level members */
	/* fills a->resp->items; PROTOCOL_OK, or the answer's (protocol_finish) */
	protocol_outcome (*read) (const void *fields, protocol_answer *a);
} protocol_api;

/*
 * The parse driver of the three protocol_parse_*response functions:
 * validates the whole document, reading ActionStatus, ErrorCode and
 * ErrorInfo itself and the API's members into its fields; on an OK
 * envelope, api->read reads the items.
 */
extern protocol_outcome protocol_parse_answer(const protocol_api *api,
											  const char *body, size_t len,
											  const char *const *ids,
											  const size_t *id_lens, size_t n,
											  protocol_response *resp);

#endif							/* IMCHECK_PROTOCOL_SCAN_H */
