#!/usr/bin/env bash
# test/apis/run.sh - im_account_import and im_query_online_status given the
# breadth im_account_check has: faults at scale, each API's rate, raise_on_error,
# cancel, leaks, security, input checks and SQL contexts.
#
#   bash test/apis/run.sh [GROUP...]     (as root; the extension installed)
#
# Starts a throwaway cluster with imcheck preloaded (the key in a 0600 file;
# log_min_messages = debug1, log_statement = all, verbose errors, so that the
# log scan at the end sees everything) and four imsims:
#   main      the defaults: rate limits 100 / 100 / 200 a second, no faults
#   fault     faults at scale (seeded, fault_api set per check)
#   slow      200 ms latency (cancel, statement_timeout)
#   wrongkey  another secret key: every call answers 70009
# then runs test_apis.py, which prints one "ok - NAME" / "not ok - NAME:
# REASON" line per check.  Exit status is non-zero when any check failed.
# Everything started here is stopped on exit.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
trap imcheck_cleanup EXIT

if [ "$(id -u)" -ne 0 ]; then
	echo "not ok - setup: run.sh must run as root (the cluster runs as postgres; /proc/PID of backends is read)"
	exit 1
fi
if [ ! -f "$(pg_config --pkglibdir)/imcheck.so" ]; then
	echo "not ok - setup: imcheck is not installed (make && make install)"
	exit 1
fi
[ -x "$IMCHECK_ROOT/test/imsim/imsim" ] || make -C "$IMCHECK_ROOT/test/imsim" -s >/dev/null ||
	{ echo "not ok - setup: could not build imsim"; exit 1; }

imcheck_tmpdir || exit 1
tmp=$IMCHECK_TMP
key=$(openssl rand -hex 32)
other_key=$(openssl rand -hex 32)
app=(--sdkappid 1400000001 --identifier administrator)

imcheck_start_imsim "$tmp/imsim-main.out" "${app[@]}" --secret-key "$key" --seed 11 || exit 1
export APIS_IMSIM_MAIN=$IMSIM_URL
imcheck_start_imsim "$tmp/imsim-fault.out" "${app[@]}" --secret-key "$key" --seed 12 || exit 1
export APIS_IMSIM_FAULT=$IMSIM_URL
imcheck_start_imsim "$tmp/imsim-slow.out" "${app[@]}" --secret-key "$key" --latency-ms 200 \
	--seed 13 || exit 1
export APIS_IMSIM_SLOW=$IMSIM_URL
imcheck_start_imsim "$tmp/imsim-wrongkey.out" "${app[@]}" --secret-key "$other_key" || exit 1
export APIS_IMSIM_WRONGKEY=$IMSIM_URL

imcheck_write_key_file "$tmp/imcheck.key" "$key" || exit 1
imcheck_start_cluster "$tmp" "
$(imcheck_app_conf "$tmp/imcheck.key" "$APIS_IMSIM_MAIN")
max_worker_processes = 8
max_parallel_workers = 4
log_min_messages = debug1
log_error_verbosity = verbose
log_statement = all
" || { echo "not ok - setup: the cluster did not start"; exit 1; }

# the secret passes through the environment only (the log scan looks for it)
export APIS_KEY=$key APIS_TMP=$tmp APIS_SERVER_LOG=$tmp/server.log
timeout 300 python3 "$here/test_apis.py" "$@"
rc=$?
[ $rc -eq 124 ] && echo "not ok - run: test_apis.py took longer than 300 s"
if [ $rc -ne 0 ]; then
	keep=${IMCHECK_ARTIFACTS:-/tmp/imcheck-apis-last}
	rm -rf "$keep" && mkdir -p "$keep" &&
		cp "$tmp"/server.log "$tmp"/imsim-*.out "$keep/" 2>/dev/null
	echo "# logs kept in $keep"
fi
exit $rc
