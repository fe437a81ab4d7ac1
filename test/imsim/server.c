/*
 * server.c - imsim's HTTP side: libmicrohttpd's daemon and callbacks, the
 * state of one request, how a prepared answer is sent (or the connection
 * dropped or reset), and the control endpoints under /_imsim/.  The API
 * calls themselves are apicall.c's (and query.c's).
 */
#include "imsim.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <netinet/tcp.h>

#define CONTROL_MAX_BODY (64 * 1024)

/* ---- per-request state ---- */

static void
req_free(req_ctx *rc)
{
	free(rc->body);
	free(rc->resp);
	free(rc);
}

/*
 * Keeps len more bytes of the body.  Past rc->body_limit the body is
 * dropped and the rest is read but not kept (rc->too_big).  Returns -1
 * only when out of memory.
 */
static int
body_append(req_ctx *rc, const char *data, size_t len)
{
	if (rc->too_big)
		return 0;
	if (len > rc->body_limit - rc->body_len)
	{
		/* keep reading (and discarding) to the end, then answer */
		rc->too_big = 1;
		free(rc->body);
		rc->body = NULL;
		rc->body_len = rc->body_cap = 0;
		return 0;
	}
	if (rc->body_len + len + 1 > rc->body_cap)
	{
		size_t		ncap = rc->body_cap ? rc->body_cap : 4096;
		char	   *nb;

		while (ncap < rc->body_len + len + 1)
			ncap *= 2;
		nb = realloc(rc->body, ncap);
		if (nb == NULL)
			return -1;
		rc->body = nb;
		rc->body_cap = ncap;
	}
	memcpy(rc->body + rc->body_len, data, len);
	rc->body_len += len;
	rc->body[rc->body_len] = '\0';
	return 0;
}

/* ---- answers ---- */

/* {"ActionStatus":"FAIL",...}, the answer of a whole-call failure */
int
build_fail(protocol_buffer *b, int32_t code, const char *info)
{
	char		tmp[96];

	snprintf(tmp, sizeof(tmp),
			 "{\"ActionStatus\":\"FAIL\",\"ErrorCode\":%" PRId32 ",\"ErrorInfo\":", code);
	if (protocol_buffer_append(b, tmp, strlen(tmp)) != 0 ||
		protocol_buffer_append_json_string(b, info, strlen(info)) != 0 ||
		protocol_buffer_append(b, "}", 1) != 0)
		return -1;
	return 0;
}

/* Queues (or drops) the prepared answer. */
enum MHD_Result
deliver(struct MHD_Connection *conn, req_ctx *rc)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	rc->state = RS_DONE;
	/*
	 * The call stops being in flight now, before the client can see the
	 * answer (or the closed connection): a client that got its answer then
	 * reads in_flight without the call.
	 */
	if (rc->ep == EP_API)
		stats_call_end(rc);
	if (rc->aborted || rc->action == ACT_CLOSE)
		return MHD_NO;
	if (rc->action == ACT_RESET)
	{
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

		if (ci != NULL)
		{
			struct linger lg = {1, 0};

			/* closing with linger 0 sends RST instead of FIN */
			setsockopt(ci->connect_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		}
		return MHD_NO;
	}
	if (rc->resp_static != NULL)
		r = MHD_create_response_from_buffer(strlen(rc->resp_static),
											(void *) rc->resp_static,
											MHD_RESPMEM_PERSISTENT);
	else
	{
		r = MHD_create_response_from_buffer(rc->resp_len, rc->resp,
											MHD_RESPMEM_MUST_FREE);
		if (r != NULL)
			rc->resp = NULL;	/* MHD frees it */
	}
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
							rc->content_type ? rc->content_type : "application/json");
	ret = MHD_queue_response(conn, rc->http_status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Sets the prepared answer to a JSON body built in b (takes b's memory). */
void
set_answer(req_ctx *rc, unsigned status, protocol_buffer *b)
{
	rc->action = ACT_RESPOND;
	rc->http_status = status;
	free(rc->resp);
	rc->resp = b->data;
	rc->resp_len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	rc->content_type = "application/json";
}

/* Sets the prepared answer to a whole-call FAIL (HTTP 200). */
void
set_fail(req_ctx *rc, int32_t code, const char *info)
{
	protocol_buffer b = {0};

	if (build_fail(&b, code, info) != 0)
	{
		protocol_buffer_free(&b);
		rc->action = ACT_CLOSE;
		return;
	}
	set_answer(rc, MHD_HTTP_OK, &b);
}

/* ---- control endpoints: /_imsim/... (never delayed, not calls) ---- */

static enum MHD_Result
control_reply(struct MHD_Connection *conn, req_ctx *rc, unsigned status,
			  protocol_buffer *b)
{
	set_answer(rc, status, b);
	return deliver(conn, rc);
}

static enum MHD_Result
control_error(struct MHD_Connection *conn, req_ctx *rc, unsigned status,
			  const char *msg)
{
	protocol_buffer b = {0};

	LIT(&b, "{\"error\":");
	protocol_buffer_append_json_string(&b, msg, strlen(msg));
	LIT(&b, "}");
	if (b.data == NULL)
		return MHD_NO;
	return control_reply(conn, rc, status, &b);
}

/* A request on a control path, once its body is complete. */
static enum MHD_Result
finish_control(struct MHD_Connection *conn, req_ctx *rc)
{
	protocol_buffer b = {0};
	char		err[160];

	if (rc->too_big)
		return control_error(conn, rc, MHD_HTTP_CONTENT_TOO_LARGE, "body too large");
	switch (rc->ep)
	{
		case EP_CONFIG:
			if (rc->is_post)
			{
				if (config_apply(rc->body ? rc->body : "", rc->body_len, err,
								 sizeof(err)) != 0)
					return control_error(conn, rc, MHD_HTTP_BAD_REQUEST, err);
			}
			else if (!rc->is_get)
				return control_error(conn, rc, MHD_HTTP_METHOD_NOT_ALLOWED,
									 "use GET or POST");
			config_json(&b);
			break;
		case EP_STATS:
			if (!rc->is_get)
				return control_error(conn, rc, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
			stats_json(&b);
			break;
		case EP_STATS_RESET:
			if (!rc->is_post)
				return control_error(conn, rc, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST");
			stats_reset();
			stats_json(&b);
			break;
		case EP_ACCOUNTS_RESET:
			{
				char		ans[48];

				if (!rc->is_post)
					return control_error(conn, rc, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST");
				accounts_reset();
				snprintf(ans, sizeof(ans), "{\"imported_by_api\":%zu}",
						 accounts_imported_by_api());
				protocol_buffer_append(&b, ans, strlen(ans));
				break;
			}
		default:
			{
				protocol_buffer nb = {0};

				build_fail(&nb, 60002, "unknown path");
				if (nb.data == NULL)
					return MHD_NO;
				return control_reply(conn, rc, MHD_HTTP_NOT_FOUND, &nb);
			}
	}
	if (b.data == NULL)
		return MHD_NO;
	return control_reply(conn, rc, MHD_HTTP_OK, &b);
}

/* ---- MHD callbacks ---- */

static endpoint
classify(const char *url, api_id *api)
{
	int			a = api_find_path(url);

	if (a >= 0)
	{
		*api = (api_id) a;
		return EP_API;
	}
	if (strcmp(url, "/_imsim/config") == 0)
		return EP_CONFIG;
	if (strcmp(url, "/_imsim/stats") == 0)
		return EP_STATS;
	if (strcmp(url, "/_imsim/stats/reset") == 0)
		return EP_STATS_RESET;
	if (strcmp(url, "/_imsim/accounts/reset") == 0)
		return EP_ACCOUNTS_RESET;
	return EP_NOT_FOUND;
}

/*
 * When the request on conn arrived: when the kernel received its last bytes
 * so far (TCP_INFO, in milliseconds), not when a worker thread got round to
 * it.  The service counts a call against the app's rate when it arrives;
 * on a loaded machine a thread may run tens of milliseconds after that
 * (measured: up to 28 ms with the CPUs busy), and a later stamp would make
 * a client that paces its sends exactly look over the rate.  The kernel's
 * clock has its tick's granularity (4 ms at 250 Hz).
 */
static uint64_t
request_arrival_ns(struct MHD_Connection *conn)
{
	uint64_t	now = mono_ns();
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct tcp_info ti;
	socklen_t	len = sizeof(ti);

	if (ci == NULL ||
		getsockopt(ci->connect_fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
		(uint64_t) ti.tcpi_last_data_recv * NS_PER_MS >= now ||
		ti.tcpi_last_data_recv > 1000)
		return now;
	return now - (uint64_t) ti.tcpi_last_data_recv * NS_PER_MS;
}

/*
 * MHD's access handler, called for each request: first when its headers
 * arrive (the API call's query is checked then), then for each piece of
 * body, then once more at its end (the answer is decided), and once more
 * when a suspended request is resumed (the answer is sent).
 */
static enum MHD_Result
access_handler(void *cls, struct MHD_Connection *conn, const char *url,
			   const char *method, const char *version,
			   const char *upload_data, size_t *upload_data_size,
			   void **con_cls)
{
	req_ctx    *rc = *con_cls;

	(void) cls;
	(void) version;

	if (rc == NULL)
	{
		const char *cl;

		rc = calloc(1, sizeof(req_ctx));
		if (rc == NULL)
			return MHD_NO;
		*con_cls = rc;
		rc->ep = classify(url, &rc->api);
		rc->is_post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
		rc->is_get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;
		rc->body_limit = rc->ep == EP_API ? fixed.max_body : CONTROL_MAX_BODY;
		if (rc->ep != EP_API)
			return MHD_YES;

		stats_call_begin(rc);
		rc->arrived_ns = request_arrival_ns(conn);
		if (!rc->is_post)
		{
			rc->fail_code = 60002;
			rc->fail_info = "HTTP method must be POST";
		}
		else
			check_query(conn, rc);

		/* a declared body over the limit is answered at once */
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
										 MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl != NULL)
		{
			uint64_t	clen;

			if (parse_u64(cl, strlen(cl), &clen) && clen > fixed.max_body)
			{
				rc->too_big = 1;
				return finish_api(conn, rc, 1);
			}
		}
		return MHD_YES;
	}

	if (rc->state == RS_SUSPENDED)
	{
		/* resumed by the timer (or by shutdown) */
		timer_resumed();
		*upload_data_size = 0;
		return deliver(conn, rc);
	}
	if (rc->state == RS_DONE)
	{
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size != 0)
	{
		/* after a query failure the body is read but not kept */
		if (rc->ep == EP_API && rc->fail_code != 0)
			;
		else if (body_append(rc, upload_data, *upload_data_size) != 0)
			return MHD_NO;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (rc->ep == EP_API)
		return finish_api(conn, rc, 0);
	return finish_control(conn, rc);
}

static void
request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
				  enum MHD_RequestTerminationCode toe)
{
	req_ctx    *rc = *con_cls;

	(void) cls;
	(void) conn;
	(void) toe;
	if (rc == NULL)
		return;
	stats_call_end(rc);
	req_free(rc);
	*con_cls = NULL;
}

static void
connection_notify(void *cls, struct MHD_Connection *conn, void **socket_ctx,
				  enum MHD_ConnectionNotificationCode toe)
{
	(void) cls;
	(void) conn;
	(void) socket_ctx;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		stats_connection_opened();
	else
		stats_connection_closed();
}

static void
mhd_logger(void *cls, const char *fm, va_list ap)
{
	(void) cls;
	if (fixed.verbose)
	{
		fputs("imsim: mhd: ", stderr);
		vfprintf(stderr, fm, ap);
	}
}

/* ---- the daemon ---- */

/*
 * Starts the HTTP(S) server on 127.0.0.1:port (0: any free port), with
 * epoll, suspend/resume and a pool of threads workers; tls_cert and
 * tls_key (PEM text, kept by MHD until it stops) turn HTTPS on.  NULL when
 * MHD cannot start.
 */
struct MHD_Daemon *
http_start(uint16_t port, int64_t threads, int64_t conn_timeout,
		   const char *tls_cert, const char *tls_key)
{
	struct MHD_OptionItem mops[16];
	int			nmops = 0;
	unsigned int flags;
	struct sockaddr_in sa;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
		MHD_USE_ERROR_LOG;
	if (tls_cert)
		flags |= MHD_USE_TLS;
	mops[nmops++] = (struct MHD_OptionItem) {MHD_OPTION_SOCK_ADDR, 0, &sa};
	mops[nmops++] = (struct MHD_OptionItem) {MHD_OPTION_CONNECTION_LIMIT, 4096, NULL};
	mops[nmops++] = (struct MHD_OptionItem) {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t) conn_timeout, NULL};
	mops[nmops++] = (struct MHD_OptionItem) {MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, NULL};
	mops[nmops++] = (struct MHD_OptionItem) {MHD_OPTION_CONNECTION_MEMORY_LIMIT, 16 * 1024, NULL};
	mops[nmops++] = (struct MHD_OptionItem) {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t) request_completed, NULL};
	mops[nmops++] = (struct MHD_OptionItem) {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t) connection_notify, NULL};
	mops[nmops++] = (struct MHD_OptionItem) {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t) mhd_logger, NULL};
	if (threads > 1)
		mops[nmops++] = (struct MHD_OptionItem) {MHD_OPTION_THREAD_POOL_SIZE, (intptr_t) threads, NULL};
	if (tls_cert)
	{
		mops[nmops++] = (struct MHD_OptionItem) {MHD_OPTION_HTTPS_MEM_CERT, 0, (void *) tls_cert};
		mops[nmops++] = (struct MHD_OptionItem) {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *) tls_key};
	}
	mops[nmops++] = (struct MHD_OptionItem) {MHD_OPTION_END, 0, NULL};

	return MHD_start_daemon(flags, port, NULL, NULL, access_handler, NULL,
							MHD_OPTION_ARRAY, mops, MHD_OPTION_END);
}
