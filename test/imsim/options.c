/*
 * options.c - imsim's command line: --help's text and the parsing of the
 * flags (README.md's table).  The flags set the settings fixed at start-up
 * (fixed, defined here), the first values of the run-time ones (runtime)
 * and what main needs to start (start_options).
 */
#include "imsim.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_SDKAPPID 1400000000ULL
#define DEFAULT_IDENTIFIER "administrator"
/* the public TLSSigAPIv2 test key (see doc/api.md); never a real secret */
#define DEFAULT_SECRET_KEY "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"

fixed_settings fixed;

static void
usage(FILE *out)
{
	fputs(
		  "usage: imsim [options]\n"
		  "A simulator of the Tencent Cloud Chat REST APIs (see README.md):\n"
		  "POST /v4/im_open_login_svc/account_check,\n"
		  "POST /v4/im_open_login_svc/multiaccount_import,\n"
		  "POST /v4/openim/query_online_status.\n"
		  "\n"
		  "  --port N             port on 127.0.0.1 (0 = any free port; default 0)\n"
		  "  --sdkappid ID        the app's SDKAppID (default 1400000000)\n"
		  "  --identifier ADMIN   the App admin account (default administrator)\n"
		  "  --secret-key KEY     key UserSigs are checked with (default: the public\n"
		  "                       TLSSigAPIv2 test key 5bd2850f...bb93b5e)\n"
		  "  --imported-file F    UserIDs that are Imported, one per line\n"
		  "  --rule even|none     built-in rule (default even; none with --imported-file)\n"
		  "  --rate-limit N       accepted account_check calls per sliding second\n"
		  "                       (default 100, 0 = off)\n"
		  "  --import-rate-limit N  the same for multiaccount_import (default 100)\n"
		  "  --online-rate-limit N  the same for query_online_status (default 200)\n"
		  "  --account-limit N    most accounts multiaccount_import may add (0 = none,\n"
		  "                       default); beyond it a call fails with 70398\n"
		  "  --latency-ms N       delay of every API answer (default 0)\n"
		  "  --jitter-ms N        uniform +-jitter added to the latency (default 0)\n"
		  "  --fault KIND=P       inject a fault with probability P (repeatable); KIND is\n"
		  "                       http502, codeN, reset, stall, malformed, truncated,\n"
		  "                       missing_item or extra_item\n"
		  "  --fault-budget N     fault at most N calls (-1 = unlimited, default)\n"
		  "  --fault-api NAME     only NAME's calls draw faults: account_check,\n"
		  "                       multiaccount_import or query_online_status\n"
		  "                       (default \"\": every API's)\n"
		  "  --seed N             seed of the fault/jitter generators (default 1)\n"
		  "  --stall-ms N         how long a stall holds the call (default 60000)\n"
		  "  --max-body BYTES     largest request body (default 1048576)\n"
		  "  --threads N          HTTP worker threads (default 2)\n"
		  "  --conn-timeout S     idle connection timeout, seconds (default 30)\n"
		  "  --tls-cert FILE      serve HTTPS with this PEM certificate...\n"
		  "  --tls-key FILE       ...and this PEM private key\n"
		  "  --print-usersig      print a UserSig for --identifier made with --secret-key\n"
		  "                       and --sdkappid (time now, --usersig-expire), then exit\n"
		  "  --usersig-expire S   lifetime for --print-usersig (default 86400)\n"
		  "  --no-id-stats        don't keep the set of UserIDs seen (distinct_ids and\n"
		  "                       repeated_ids are null); for throughput runs\n"
		  "  --verbose            log libmicrohttpd's messages to stderr\n"
		  "  --help               this text\n", out);
}

enum
{
	OPT_PORT = 1000, OPT_SDKAPPID, OPT_IDENTIFIER, OPT_SECRET_KEY,
	OPT_IMPORTED, OPT_RULE, OPT_RATE, OPT_LATENCY, OPT_JITTER, OPT_FAULT,
	OPT_BUDGET, OPT_SEED, OPT_STALL, OPT_MAX_BODY, OPT_THREADS,
	OPT_CONN_TIMEOUT, OPT_TLS_CERT, OPT_TLS_KEY, OPT_PRINT_USERSIG,
	OPT_USERSIG_EXPIRE, OPT_VERBOSE, OPT_NO_ID_STATS, OPT_HELP,
	OPT_IMPORT_RATE, OPT_ONLINE_RATE, OPT_ACCOUNT_LIMIT, OPT_FAULT_API
};

/* The --*-rate-limit flags: each API's own window. */
static const struct
{
	int			opt;
	api_id		api;
	const char *flag;
}			rate_flags[] = {
	{OPT_RATE, API_ACCOUNT_CHECK, "--rate-limit"},
	{OPT_IMPORT_RATE, API_IMPORT, "--import-rate-limit"},
	{OPT_ONLINE_RATE, API_ONLINE, "--online-rate-limit"},
};

/*
 * Sets the defaults, then parses the command line into fixed, runtime and
 * *opts; a bad flag dies with status 2.  Returns -1 when imsim goes on,
 * else the status to exit with at once (--help: 0; an unknown flag: 2).
 */
int
options_parse(int argc, char **argv, start_options *opts)
{
	static const struct option longopts[] = {
		{"port", required_argument, NULL, OPT_PORT},
		{"sdkappid", required_argument, NULL, OPT_SDKAPPID},
		{"identifier", required_argument, NULL, OPT_IDENTIFIER},
		{"secret-key", required_argument, NULL, OPT_SECRET_KEY},
		{"imported-file", required_argument, NULL, OPT_IMPORTED},
		{"rule", required_argument, NULL, OPT_RULE},
		{"rate-limit", required_argument, NULL, OPT_RATE},
		{"import-rate-limit", required_argument, NULL, OPT_IMPORT_RATE},
		{"online-rate-limit", required_argument, NULL, OPT_ONLINE_RATE},
		{"account-limit", required_argument, NULL, OPT_ACCOUNT_LIMIT},
		{"fault-api", required_argument, NULL, OPT_FAULT_API},
		{"latency-ms", required_argument, NULL, OPT_LATENCY},
		{"jitter-ms", required_argument, NULL, OPT_JITTER},
		{"fault", required_argument, NULL, OPT_FAULT},
		{"fault-budget", required_argument, NULL, OPT_BUDGET},
		{"seed", required_argument, NULL, OPT_SEED},
		{"stall-ms", required_argument, NULL, OPT_STALL},
		{"max-body", required_argument, NULL, OPT_MAX_BODY},
		{"threads", required_argument, NULL, OPT_THREADS},
		{"conn-timeout", required_argument, NULL, OPT_CONN_TIMEOUT},
		{"tls-cert", required_argument, NULL, OPT_TLS_CERT},
		{"tls-key", required_argument, NULL, OPT_TLS_KEY},
		{"print-usersig", no_argument, NULL, OPT_PRINT_USERSIG},
		{"usersig-expire", required_argument, NULL, OPT_USERSIG_EXPIRE},
		{"verbose", no_argument, NULL, OPT_VERBOSE},
		{"no-id-stats", no_argument, NULL, OPT_NO_ID_STATS},
		{"help", no_argument, NULL, OPT_HELP},
		{NULL, 0, NULL, 0}
	};
	int64_t		v;
	int			opt;

	memset(opts, 0, sizeof(*opts));
	opts->port = 0;
	opts->threads = 2;
	opts->conn_timeout = 30;
	opts->usersig_expire = 86400;
	fixed.sdkappid = DEFAULT_SDKAPPID;
	fixed.identifier = strdup(DEFAULT_IDENTIFIER);
	fixed.key = strdup(DEFAULT_SECRET_KEY);
	fixed.max_body = 1024 * 1024;
	runtime.fault_budget = -1;
	runtime.fault_api = -1;
	runtime.rate_limit[API_ACCOUNT_CHECK] = 100;
	runtime.rate_limit[API_IMPORT] = 100;
	runtime.rate_limit[API_ONLINE] = 200;
	runtime.stall_ms = 60000;
	reseed(1);

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1)
	{
		switch (opt)
		{
			case OPT_PORT:
				if (!parse_i64_arg(optarg, 0, 65535, &opts->port))
					die("--port must be in 0..65535");
				break;
			case OPT_SDKAPPID:
				if (!parse_u64(optarg, strlen(optarg), &fixed.sdkappid))
					die("--sdkappid must be decimal digits");
				break;
			case OPT_IDENTIFIER:
				if (optarg[0] == '\0' || strlen(optarg) > USERSIG_MAX_IDENTIFIER)
					die("--identifier must be 1..%d bytes", USERSIG_MAX_IDENTIFIER);
				free(fixed.identifier);
				fixed.identifier = strdup(optarg);
				break;
			case OPT_SECRET_KEY:
				if (optarg[0] == '\0')
					die("--secret-key must not be empty");
				free(fixed.key);
				fixed.key = strdup(optarg);
				break;
			case OPT_IMPORTED:
				opts->imported_file = optarg;
				break;
			case OPT_RULE:
				if (strcmp(optarg, "even") != 0 && strcmp(optarg, "none") != 0)
					die("--rule must be even or none");
				opts->rule = optarg;
				break;
			case OPT_RATE:
			case OPT_IMPORT_RATE:
			case OPT_ONLINE_RATE:
				for (size_t i = 0; i < sizeof(rate_flags) / sizeof(rate_flags[0]); i++)
					if (rate_flags[i].opt == opt &&
						!parse_i64_arg(optarg, 0, MAX_RATE_LIMIT,
									   &runtime.rate_limit[rate_flags[i].api]))
						die("%s must be in 0..%d", rate_flags[i].flag,
							MAX_RATE_LIMIT);
				break;
			case OPT_ACCOUNT_LIMIT:
				if (!parse_i64_arg(optarg, 0, MAX_ACCOUNT_LIMIT,
								   &runtime.account_limit))
					die("--account-limit must be in 0..%d", MAX_ACCOUNT_LIMIT);
				break;
			case OPT_FAULT_API:
				runtime.fault_api = optarg[0] ? api_find_name(optarg) : -1;
				if (optarg[0] && runtime.fault_api < 0)
					die("--fault-api must be account_check, multiaccount_import or query_online_status");
				break;
			case OPT_LATENCY:
				if (!parse_i64_arg(optarg, 0, MAX_DELAY_MS,
								   &runtime.latency_ms))
					die("--latency-ms must be in 0..%d", MAX_DELAY_MS);
				break;
			case OPT_JITTER:
				if (!parse_i64_arg(optarg, 0, MAX_DELAY_MS,
								   &runtime.jitter_ms))
					die("--jitter-ms must be in 0..%d", MAX_DELAY_MS);
				break;
			case OPT_FAULT:
				{
					char	   *eq = strchr(optarg, '=');
					char	   *end;
					fault		f;
					double		p;

					if (eq == NULL)
						die("--fault wants KIND=PROBABILITY");
					*eq = '\0';
					if (fault_parse_name(optarg, &f) != 0)
						die("unknown fault kind \"%s\"", optarg);
					errno = 0;
					p = strtod(eq + 1, &end);
					if (errno != 0 || end == eq + 1 || *end != '\0' ||
						!(p >= 0.0 && p <= 1.0))
						die("fault probability must be a number in 0..1");
					f.prob = p;
					if (fault_set(runtime.faults, &runtime.nfaults, &f) != 0)
						die("too many --fault kinds");
					break;
				}
			case OPT_BUDGET:
				if (!parse_i64_arg(optarg, -1, INT64_MAX,
								   &runtime.fault_budget))
					die("--fault-budget must be an integer >= -1");
				break;
			case OPT_SEED:
				if (!parse_i64_arg(optarg, 0, INT64_MAX, &v))
					die("--seed must be a non-negative integer");
				reseed((uint64_t) v);
				break;
			case OPT_STALL:
				if (!parse_i64_arg(optarg, 0, MAX_DELAY_MS,
								   &runtime.stall_ms))
					die("--stall-ms must be in 0..%d", MAX_DELAY_MS);
				break;
			case OPT_MAX_BODY:
				if (!parse_i64_arg(optarg, 1, INT_MAX - 1, &v))
					die("--max-body must be in 1..%d", INT_MAX - 1);
				fixed.max_body = (size_t) v;
				break;
			case OPT_THREADS:
				if (!parse_i64_arg(optarg, 1, 256, &opts->threads))
					die("--threads must be in 1..256");
				break;
			case OPT_CONN_TIMEOUT:
				if (!parse_i64_arg(optarg, 1, 86400, &opts->conn_timeout))
					die("--conn-timeout must be in 1..86400");
				break;
			case OPT_TLS_CERT:
				opts->tls_cert_path = optarg;
				break;
			case OPT_TLS_KEY:
				opts->tls_key_path = optarg;
				break;
			case OPT_PRINT_USERSIG:
				opts->print_usersig = 1;
				break;
			case OPT_USERSIG_EXPIRE:
				if (!parse_i64_arg(optarg, 0, INT32_MAX, &opts->usersig_expire))
					die("--usersig-expire must be in 0..%d", INT32_MAX);
				break;
			case OPT_NO_ID_STATS:
				fixed.no_id_stats = 1;
				break;
			case OPT_VERBOSE:
				fixed.verbose = 1;
				break;
			case OPT_HELP:
			case 'h':
				usage(stdout);
				return 0;
			default:
				usage(stderr);
				return 2;
		}
	}
	if (optind < argc)
		die("unexpected argument \"%s\" (see --help)", argv[optind]);
	fixed.identifier_len = strlen(fixed.identifier);
	fixed.key_len = strlen(fixed.key);
	return -1;
}
