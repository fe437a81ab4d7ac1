#!/usr/bin/env bash
# test/reliability/run.sh - reliability suite (issue 5): faults at scale,
# cancel/terminate latency, leaks over 10,000 statements, SQL contexts
# (PREPARE, COPY, parallel plans, imsim killed mid-run) and big inputs.
#
#   bash test/reliability/run.sh          (as root; the extension installed)
#
# Starts a throwaway cluster with imcheck preloaded and four imsims (faults,
# cancel, leak, clean), then runs test_reliability.py, which prints one
# "ok - NAME" / "not ok - NAME: REASON" line per check.  Exit status is
# non-zero when any check failed.  Everything started here is stopped on exit.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
trap imcheck_cleanup EXIT

if [ "$(id -u)" -ne 0 ]; then
	echo "run.sh must run as root (the cluster runs as postgres; /proc/PID of backends is read)" >&2
	exit 1
fi
[ -x "$IMCHECK_ROOT/test/imsim/imsim" ] || make -C "$IMCHECK_ROOT/test/imsim" -s >/dev/null ||
	{ echo "could not build imsim" >&2; exit 1; }

imcheck_tmpdir || exit 1
tmp=$IMCHECK_TMP
key=$(openssl rand -hex 32)
sim=(--sdkappid 1400000001 --identifier administrator --secret-key "$key" --rate-limit 0)

# 1. faults at scale: stalls outlast imcheck.timeout (1000 ms)
imcheck_start_imsim "$tmp/imsim-fault.out" "${sim[@]}" --stall-ms 1500 --seed 5 || exit 1
export RELIAB_IMSIM_FAULT=$IMSIM_URL
# 2. cancel: short stalls, so in_flight comes back to 0 soon
imcheck_start_imsim "$tmp/imsim-cancel.out" "${sim[@]}" --stall-ms 300 --seed 6 || exit 1
export RELIAB_IMSIM_CANCEL=$IMSIM_URL
# 3. leaks: no latency, short stalls
imcheck_start_imsim "$tmp/imsim-leak.out" "${sim[@]}" --stall-ms 100 --seed 7 || exit 1
export RELIAB_IMSIM_LEAK=$IMSIM_URL
# 4./5. SQL contexts and big inputs: no faults
imcheck_start_imsim "$tmp/imsim-clean.out" "${sim[@]}" --seed 8 || exit 1
export RELIAB_IMSIM_CLEAN=$IMSIM_URL
# the imsim that check 4 kills and restarts is started by the Python script
# (it dies with the script: PR_SET_PDEATHSIG)
export RELIAB_IMSIM_BIN=$IMCHECK_ROOT/test/imsim/imsim
export RELIAB_IMSIM_KEY=$key
export RELIAB_TMP=$tmp

imcheck_write_key_file "$tmp/imcheck.key" "$key" || exit 1
imcheck_start_cluster "$tmp" "
$(imcheck_app_conf "$tmp/imcheck.key" "$RELIAB_IMSIM_CLEAN")
imcheck.rate_limit = 0
max_worker_processes = 8
max_parallel_workers = 4
" || exit 1
export RELIAB_SERVER_LOG=$tmp/server.log

python3 "$here/test_reliability.py" "$@"
rc=$?
if [ $rc -ne 0 ]; then
	keep=${IMCHECK_ARTIFACTS:-/tmp/imcheck-reliability-last}
	rm -rf "$keep" && mkdir -p "$keep" &&
		cp "$tmp"/server.log "$tmp"/imsim-*.out "$keep/" 2>/dev/null
	echo "# logs kept in $keep"
fi
exit $rc
