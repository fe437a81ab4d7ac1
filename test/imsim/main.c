/*
 * main.c - imsim's main: parse the command line, load the account store,
 * start the timer thread and the HTTP server, print the listening line,
 * then wait for SIGTERM/SIGINT and stop everything (calls still waiting
 * are dropped).  --print-usersig instead prints a UserSig and exits.
 */
#include "imsim.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* Reads a whole file (a TLS certificate or key) into a C string. */
static char *
read_file(const char *path)
{
	FILE	   *f = fopen(path, "rb");
	char	   *buf = NULL;
	size_t		len = 0,
				cap = 0,
				n;

	if (f == NULL)
		die("cannot open \"%s\": %s", path, strerror(errno));
	do
	{
		if (cap - len < 4096)
		{
			cap = cap ? cap * 2 : 8192;
			buf = realloc(buf, cap);
			if (buf == NULL)
				die("out of memory");
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
	} while (n > 0);
	if (ferror(f))
		die("cannot read \"%s\"", path);
	fclose(f);
	buf[len] = '\0';
	return buf;
}

int
main(int argc, char **argv)
{
	start_options opts;
	int			status;
	char	   *tls_cert = NULL,
			   *tls_key = NULL;
	struct MHD_Daemon *d;
	const union MHD_DaemonInfo *di;
	sigset_t	sigs;
	int			sig;

	status = options_parse(argc, argv, &opts);
	if (status >= 0)
		return status;

	if (opts.print_usersig)
	{
		char	   *usersig = NULL;
		usersig_status s = usersig_generate(fixed.key, fixed.key_len,
											fixed.identifier, fixed.sdkappid,
											(int64_t) time(NULL),
											opts.usersig_expire, &usersig);

		if (s != USERSIG_OK)
			die("cannot generate a UserSig: %s", usersig_status_text(s));
		printf("%s\n", usersig);
		free(usersig);
		free(fixed.identifier);
		free(fixed.key);
		return 0;
	}

	if ((opts.tls_cert_path == NULL) != (opts.tls_key_path == NULL))
		die("--tls-cert and --tls-key go together");
	if (opts.imported_file)
		load_imported_file(opts.imported_file);
	fixed.rule_even = opts.rule ? strcmp(opts.rule, "even") == 0 :
		opts.imported_file == NULL;
	if (opts.tls_cert_path)
	{
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
			die("this libmicrohttpd has no TLS support");
		tls_cert = read_file(opts.tls_cert_path);
		tls_key = read_file(opts.tls_key_path);
	}

	/* many connections: raise the descriptor limit to the hard limit */
	{
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
		{
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}

	/*
	 * signals: SIGPIPE ignored; SIGTERM/SIGINT blocked before any thread
	 * starts (threads inherit the mask), so that sigwait below takes them
	 */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	timer_start();
	d = http_start((uint16_t) opts.port, opts.threads, opts.conn_timeout,
				   tls_cert, tls_key);
	if (d == NULL)
		die("cannot start the HTTP server on 127.0.0.1:%d (port in use? bad TLS files?)",
			(int) opts.port);
	di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	printf("imsim listening on %s://127.0.0.1:%u\n", tls_cert ? "https" : "http",
		   di ? (unsigned) di->port : (unsigned) opts.port);
	fflush(stdout);

	for (;;)
	{
		if (sigwait(&sigs, &sig) == 0 && (sig == SIGTERM || sig == SIGINT))
			break;
	}

	/* stop: resume every suspended connection (dropping it), then MHD */
	timer_stop();
	MHD_stop_daemon(d);

	accounts_free();
	stats_free();
	ratelimit_free();
	timer_free();
	free(tls_cert);
	free(tls_key);
	free(fixed.identifier);
	free(fixed.key);
	return 0;
}
