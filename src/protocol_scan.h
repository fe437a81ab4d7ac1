/*
 * protocol_scan.h - what the answer readers of the three APIs share
 * (protocol.c, protocol_import.c, protocol_online.c): the member names we
 * read, strict member readers, the answer's envelope, and the arena that
 * holds decoded strings.  Internal to the protocol files.
 */
#ifndef IMCHECK_PROTOCOL_SCAN_H
#define IMCHECK_PROTOCOL_SCAN_H

#include "jsonscan.h"
#include "protocol.h"

/* what the scanners return for a member we read appearing twice */
#define DUPLICATE_MEMBER (-2)

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

/* Which member a key names (a key written with escapes is decoded first). */
extern member_name protocol_member_of(const jsonscan_string *key);

/*
 * Read a member's value.  A member already read returns DUPLICATE_MEMBER:
 * each member we read may appear once, as a lenient reader would let the
 * last copy win ("ResultCode":0 after "ResultCode":70107 passing for
 * success).  int32: *state 1 = an int32 (in *value), 2 = another value.
 * string: *has says whether it was a string.
 */
extern int	protocol_read_int32_member(jsonscan_cursor *c, int *state, int32_t *value);
extern int	protocol_read_string_member(jsonscan_cursor *c, int *seen, int *has,
										jsonscan_string *s);

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

/* The top-level members every answer has. */
typedef struct envelope_fields
{
	int			is_object;
	int			seen_action;
	int			has_action;
	jsonscan_string action;
	int			code_state;
	int32_t		code;
	int			seen_info;
	int			has_info;
	jsonscan_string info;
} envelope_fields;

/*
 * Reads an API's own top-level member (name) at c, which it must consume;
 * returns 0, -1 for invalid JSON or DUPLICATE_MEMBER.
 */
typedef int (*protocol_member_reader) (jsonscan_cursor *c, member_name name, void *state);

/*
 * Validates the whole document, reading the envelope into env and passing
 * every other member we read to reader (others are skipped).  Returns 0,
 * -1 when it is not JSON, or DUPLICATE_MEMBER.
 */
extern int	protocol_scan_document(const char *body, size_t len, envelope_fields *env,
								   protocol_member_reader reader, void *state);

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

/* The bytes of a validated string, decoded into the arena's free space (not kept). */
extern const char *protocol_peek_string(arena_builder *arena, const jsonscan_string *s,
										size_t *len);

extern protocol_outcome protocol_finish(protocol_response *resp, protocol_outcome outcome,
										const char *problem);

/*
 * After protocol_scan_document returned scan_rc for an answer to n IDs:
 * checks the envelope, and sets up the arena (held by resp) and resp->items.
 * Returns PROTOCOL_OK when the caller goes on to read the items; any other
 * outcome is the answer's.
 */
extern protocol_outcome protocol_open_answer(int scan_rc, const envelope_fields *env,
											 size_t body_len, size_t n, arena_builder *arena,
											 protocol_response *resp);

/*
 * Which asked index an answered UserID is: position first (the service
 * answers in request order), else a linear search among those not yet
 * answered.  -1 if not asked (or every copy already answered).
 */
extern long protocol_match_asked(const char *uid, size_t uid_len, size_t position,
								 const char *const *ids, const size_t *id_lens, size_t n,
								 const unsigned char *answered);

#endif							/* IMCHECK_PROTOCOL_SCAN_H */
