/*
 * protocol.h - the wire formats of account_check (protocol.c),
 * multiaccount_import (protocol_import.c) and query_online_status
 * (protocol_online.c).
 *
 * Plain C (with jsonscan.c), no PostgreSQL headers: shared by the extension, imsim,
 * the unit tests and the fuzzers.  Builds the request body for one batch of
 * UserIDs and turns a response body into per-ID results, checking that the
 * response answers exactly the UserIDs that were asked.
 */
#ifndef IMCHECK_PROTOCOL_H
#define IMCHECK_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

/* The APIs' documented limits of UserIDs per call. */
#define PROTOCOL_MAX_BATCH 100	/* account_check */
#define PROTOCOL_MAX_IMPORT_BATCH 100
#define PROTOCOL_MAX_ONLINE_BATCH 500
#define PROTOCOL_MAX_ANY_BATCH 500	/* the largest of them */

/* The service's limit on one UserID, in bytes. */
#define PROTOCOL_MAX_USERID_BYTES 32

/* A growable byte buffer (malloc based). */
typedef struct protocol_buffer
{
	char	   *data;
	size_t		len;
	size_t		cap;
} protocol_buffer;

/* All return 0 on success, -1 when out of memory. data stays NUL-terminated. */
int			protocol_buffer_reserve(protocol_buffer *buf, size_t extra);
int			protocol_buffer_append(protocol_buffer *buf, const char *s, size_t len);
/* Appends s as a JSON string literal: quoted, with ", \ and controls escaped. */
int			protocol_buffer_append_json_string(protocol_buffer *buf,
											   const char *s, size_t len);
void		protocol_buffer_free(protocol_buffer *buf);

/*
 * Writes {"CheckItem":[{"UserID":"..."},...]} for n UserIDs into out
 * (appended after out->len).  Returns 0, or -1 when out of memory (out
 * then holds a partial request).
 */
int			protocol_build_request(const char *const *ids, const size_t *id_lens,
								   size_t n, protocol_buffer *out);

/*
 * An ID's status in an answer.  account_check: Imported or NotImported.
 * multiaccount_import: Imported, or NotImported when it is in FailAccounts.
 * query_online_status: its Status, or NONE when it is in ErrorList.
 */
typedef enum protocol_account_status
{
	PROTOCOL_STATUS_NONE = 0,	/* no AccountStatus: the item failed */
	PROTOCOL_STATUS_IMPORTED,
	PROTOCOL_STATUS_NOT_IMPORTED,
	PROTOCOL_STATUS_ONLINE,
	PROTOCOL_STATUS_PUSH_ONLINE,
	PROTOCOL_STATUS_OFFLINE
} protocol_account_status;

/* "Imported", "NotImported", "Online", "PushOnline", "Offline" or NULL */
const char *protocol_account_status_text(protocol_account_status status);

typedef struct protocol_item_result
{
	int32_t		result_code;	/* ResultCode; 0 = checked */
	protocol_account_status status; /* NONE unless result_code == 0 */
	const char *result_info;	/* ResultInfo, NUL-terminated; "" if absent */
	size_t		result_info_len;
	const char *detail;			/* query_online_status: the Detail array as
								 * sent (valid JSON), NUL-terminated; NULL if
								 * absent */
	size_t		detail_len;
} protocol_item_result;

typedef enum protocol_outcome
{
	PROTOCOL_OK = 0,			/* ActionStatus OK, every asked ID answered once */
	PROTOCOL_FAIL,				/* ActionStatus FAIL: see error_code/error_info */
	PROTOCOL_MALFORMED,			/* not JSON, truncated, or not the documented shape */
	PROTOCOL_MISMATCH,			/* items missing, unexpected, or answered twice */
	PROTOCOL_NO_MEMORY
} protocol_outcome;

typedef struct protocol_response
{
	protocol_outcome outcome;
	int32_t		error_code;		/* ErrorCode (FAIL) */
	const char *error_info;		/* ErrorInfo (FAIL), NUL-terminated, "" if absent */
	const char *problem;		/* static English text for MALFORMED / MISMATCH */
	size_t		n_items;		/* == n asked when outcome is PROTOCOL_OK */
	protocol_item_result *items;	/* in the order the IDs were asked */
	char	   *arena;			/* owns the strings above; internal */
} protocol_response;

/*
 * Parses a response to a request for ids[0..n-1] (the same order as sent).
 * On PROTOCOL_OK, items[i] is the answer for ids[i].  The parse is strict:
 * a member we read that appears twice in its object, or a negative
 * ErrorCode or ResultCode (negative codes are imcheck's own), makes the
 * answer PROTOCOL_MALFORMED.  Any outcome may leave
 * memory in resp: always call protocol_response_free().  Never reads past
 * body + len; body need not be NUL-terminated.
 */
protocol_outcome protocol_parse_response(const char *body, size_t len,
										 const char *const *ids,
										 const size_t *id_lens, size_t n,
										 protocol_response *resp);

void		protocol_response_free(protocol_response *resp);

/*
 * multiaccount_import: writes {"AccountList":[{"UserID":"...","Nick":"...",
 * "FaceUrl":"..."},...]}; nicks and faces may be NULL, and so may any of
 * their elements (that member is then left out).
 */
int			protocol_build_import_request(const char *const *ids, const size_t *id_lens,
										  const char *const *nicks, const size_t *nick_lens,
										  const char *const *faces, const size_t *face_lens,
										  size_t n, protocol_buffer *out);

/*
 * Parses a multiaccount_import answer, as protocol_parse_response does:
 * on PROTOCOL_OK items[i].status is NOT_IMPORTED when ids[i] is in
 * FailAccounts, IMPORTED otherwise.  FailAccounts must list only asked IDs;
 * when absent, none failed.
 */
protocol_outcome protocol_parse_import_response(const char *body, size_t len,
												const char *const *ids,
												const size_t *id_lens, size_t n,
												protocol_response *resp);

/* query_online_status: writes {"To_Account":["...",...],"IsNeedDetail":1}. */
int			protocol_build_online_request(const char *const *ids, const size_t *id_lens,
										  size_t n, protocol_buffer *out);

/*
 * Parses a query_online_status answer: every asked ID must be in exactly
 * one of QueryResult (items[i].status and .detail) and ErrorList
 * (items[i].result_code, its ErrorCode).
 */
protocol_outcome protocol_parse_online_response(const char *body, size_t len,
												const char *const *ids,
												const size_t *id_lens, size_t n,
												protocol_response *resp);

#endif							/* IMCHECK_PROTOCOL_H */
