/*
 * connections.h - the sockets libcurl's connections use, and the one check
 * libcurl does not make for us.
 *
 * libcurl keeps finished calls' connections in its cache and reuses them.
 * Before reusing one it checks that the server has not closed it, but
 * (libcurl 7.88, Debian 12) not that the server has sent nothing on it: a
 * server (or a broken proxy) that sends a second, unsolicited answer on an
 * idle keep-alive connection would have that stale answer read as the next
 * call's.  libcurl opens and closes its sockets through the functions
 * below, so the engine knows every one; before it starts calls, any idle
 * socket with bytes waiting (or at end of file) is drained and shut down.
 * libcurl then sees the connection dead, and a call that still picks it
 * fails before any answer and is sent again on a new connection by libcurl
 * itself.  The race of an unsolicited answer that arrives after a call was
 * sent on the connection remains; no HTTP/1.1 client can tell it apart.
 */
#ifndef IMCHECK_CONNECTIONS_H
#define IMCHECK_CONNECTIONS_H

#include <stdbool.h>

#include <curl/curl.h>

/* CURLOPT_OPENSOCKETFUNCTION and CURLOPT_CLOSESOCKETFUNCTION. */
extern curl_socket_t connections_open_socket(void *clientp, curlsocktype purpose,
											 struct curl_sockaddr *address);
extern int	connections_close_socket(void *clientp, curl_socket_t fd);

/*
 * Shuts down every socket for which in_use(fd) is false (an idle connection
 * in libcurl's cache) that has bytes waiting or is at end of file.  Returns
 * how many it shut down.  Never raises.
 */
extern int	connections_drop_unsolicited(bool (*in_use) (curl_socket_t fd));

#endif							/* IMCHECK_CONNECTIONS_H */
