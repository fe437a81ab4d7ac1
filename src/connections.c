/*
 * connections.c - the sockets of libcurl's connections (see connections.h).
 *
 * The callbacks run inside libcurl, so nothing here raises an ERROR: the
 * table is malloc'd, and a socket that cannot be recorded is refused.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "connections.h"

static curl_socket_t *open_sockets = NULL;
static int	n_open = 0;
static int	open_cap = 0;

curl_socket_t
connections_open_socket(void *clientp, curlsocktype purpose,
						struct curl_sockaddr *address)
{
	curl_socket_t fd;

	if (n_open == open_cap)
	{
		int			cap = open_cap ? open_cap * 2 : 16;
		curl_socket_t *grown = realloc(open_sockets, sizeof(curl_socket_t) * cap);

		if (grown == NULL)
			return CURL_SOCKET_BAD;
		open_sockets = grown;
		open_cap = cap;
	}
	fd = socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
	if (fd != CURL_SOCKET_BAD)
		open_sockets[n_open++] = fd;
	return fd;
}

int
connections_close_socket(void *clientp, curl_socket_t fd)
{
	for (int i = 0; i < n_open; i++)
	{
		if (open_sockets[i] == fd)
		{
			open_sockets[i] = open_sockets[--n_open];
			break;
		}
	}
	return close(fd);
}

/* Has the peer sent something, or closed? (An idle socket should have neither.) */
static bool
has_unsolicited_input(curl_socket_t fd)
{
	char		byte;
	ssize_t		n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);

	if (n < 0)
		return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
	return true;				/* data, or end of file */
}

int
connections_drop_unsolicited(bool (*in_use) (curl_socket_t fd))
{
	int			dropped = 0;

	for (int i = 0; i < n_open; i++)
	{
		curl_socket_t fd = open_sockets[i];
		char		sink[4096];

		if (in_use(fd) || !has_unsolicited_input(fd))
			continue;
		/* read the stale bytes out (a few reads: the peer may go on sending) */
		for (int reads = 0; reads < 16; reads++)
			if (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) <= 0)
				break;
		(void) shutdown(fd, SHUT_RDWR);
		dropped++;
	}
	return dropped;
}
