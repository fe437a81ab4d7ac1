#!/bin/sh
# run_long.sh - long libFuzzer run of the harnesses.
#
#   RUNS=10000000 test/fuzz/run_long.sh        (default RUNS: 10,000,000)
#   HARNESSES="response" test/fuzz/run_long.sh
#
# The harnesses (default: response usersig import online) run at the same
# time, each for RUNS executions, starting from its seed corpus.  New inputs go to a
# scratch corpus under $WORK (kept for inspection, default a fresh mktemp
# directory), never into test/fuzz/corpus/.  Crash/leak/timeout reproducers
# are written to test/fuzz/.  Prints each harness's executed-unit count and
# exec/s, and exits non-zero if any harness failed.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
RUNS=${RUNS:-10000000}
MAX_LEN=${MAX_LEN:-8192}
HARNESSES=${HARNESSES:-response usersig import online}
WORK=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/imcheck-fuzz.XXXXXX")}

cd "$HERE" || exit 2
for h in $HARNESSES; do
	make -s "fuzz_$h" || exit 2
done

pids=""
for h in $HARNESSES; do
	mkdir -p "$WORK/$h"
	echo "== fuzz_$h: $RUNS runs, scratch corpus $WORK/$h, log $WORK/$h.log"
	./fuzz_$h -max_len="$MAX_LEN" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-dict="$h.dict" -runs="$RUNS" "$WORK/$h" "corpus/$h" \
		>"$WORK/$h.log" 2>&1 &
	pids="$pids $h:$!"
done

rc=0
for entry in $pids; do
	h=${entry%%:*}
	pid=${entry#*:}
	if wait "$pid"; then
		status=ok
	else
		status=FAILED
		rc=1
	fi
	echo "== fuzz_$h: $status"
	grep -E '^(Done|stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added|stat::peak_rss_mb)' \
		"$WORK/$h.log"
	if [ "$status" = FAILED ]; then
		tail -60 "$WORK/$h.log"
	fi
done
exit $rc
