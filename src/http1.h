/*
 * http1.h - HTTP/1.1 framing for account_check calls.
 *
 * Plain C, no PostgreSQL headers: shared by the extension, the unit tests
 * and the fuzzers.  libcurl makes the connections (TCP, TLS, certificate
 * checks) and carries the bytes; this module writes a POST request's head
 * and finds, in the bytes received so far, where the response ends, so that
 * a keep-alive connection can carry the next call.  It trusts nothing it
 * reads: every length is checked against the buffer and the caps below.
 */
#ifndef IMCHECK_HTTP1_H
#define IMCHECK_HTTP1_H

#include <stdbool.h>
#include <stddef.h>

#include "protocol.h"

/* The most bytes of status line and header fields (all 1xx heads included). */
#define HTTP1_MAX_HEAD_BYTES (64 * 1024)

/*
 * Appends "POST <target><tail> HTTP/1.1" and the header fields for a JSON
 * body of body_len bytes.  target and tail make the request target (path
 * and query; tail is e.g. the query's last value) and host is the URL's
 * authority (host[:port]).  Returns 0, or -1 when out of memory.
 */
int			http1_append_post_head(protocol_buffer *out, const char *target,
								   size_t target_len, const char *tail,
								   size_t tail_len, const char *host,
								   size_t body_len);

typedef enum http1_outcome
{
	HTTP1_INCOMPLETE,			/* the response is not complete yet */
	HTTP1_COMPLETE,				/* a whole response: see http1_response */
	HTTP1_CUT_OFF,				/* the connection closed inside the response */
	HTTP1_BAD,					/* not an HTTP/1.x response we accept */
	HTTP1_TOO_LARGE				/* the body exceeds max_body */
} http1_outcome;

typedef struct http1_response
{
	int			status;			/* e.g. 200 */
	bool		keep_alive;		/* the connection may carry another request */
	const char *body;			/* the body: in data, or in *decoded */
	size_t		body_len;
	size_t		consumed;		/* bytes of data the response took */
	const char *problem;		/* static English text for CUT_OFF and BAD */
} http1_response;

/*
 * Looks at the first len bytes received on a connection for one response
 * (at_eof: the peer has closed, no more will come).  Interim 1xx responses
 * are skipped.  On HTTP1_COMPLETE, *out describes the response; a chunked
 * body is decoded into *decoded (reset first), any other body points into
 * data.  Bytes after the response make keep_alive false.  Never reads past
 * data + len; data need not be NUL-terminated.  May return HTTP1_BAD with
 * problem "out of memory" if decoded cannot grow.
 */
http1_outcome http1_parse_response(const char *data, size_t len, bool at_eof,
								   size_t max_body, protocol_buffer *decoded,
								   http1_response *out);

#endif							/* IMCHECK_HTTP1_H */
