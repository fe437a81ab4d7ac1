#!/usr/bin/env bash
# imsim_bench.sh - throughput of imsim (the account_check simulator) with wrk.
#
# Builds test/imsim, starts imsim with --rate-limit 0 --latency-ms 0 on a free
# port, and posts 100-UserID account_check requests (valid UserSig in the query
# string) over keep-alive connections with wrk, once per connection count.
# Every answer is checked twice: wrk's Lua response hook counts answers that are
# not HTTP 200 with "ActionStatus":"OK", and imsim's own /_imsim/stats must show
# only ErrorCode 0 and exactly 100 items per call.  Prints calls/s and writes
# the imsim section of BENCHMARKS.md (between the imsim markers; the rest of
# the file is left alone).
#
# usage: test/bench/imsim_bench.sh [--duration S] [--conns "16 64"]
#                                  [--threads N] [--wrk-threads N]
#                                  [--no-write] [--strict]
#   --strict   exit 1 when a run is under the target of 20000 calls/s
# Exit status: 0 ok, 1 a check failed (or --strict and under target), 2 setup.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
IMSIM="$ROOT/test/imsim/imsim"
OUT_MD="$ROOT/BENCHMARKS.md"
DURATION=10
CONNS="16 64"
THREADS=2
WRK_THREADS=2
WRITE=1
STRICT=0
TARGET=20000

while [ $# -gt 0 ]; do
	case "$1" in
		--duration) DURATION=$2; shift 2 ;;
		--conns) CONNS=$2; shift 2 ;;
		--threads) THREADS=$2; shift 2 ;;
		--wrk-threads) WRK_THREADS=$2; shift 2 ;;
		--no-write) WRITE=0; shift ;;
		--strict) STRICT=1; shift ;;
		-h|--help) sed -n '2,21p' "$0"; exit 0 ;;
		*) echo "unknown argument: $1" >&2; exit 2 ;;
	esac
done

command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }
command -v curl >/dev/null || { echo "curl is not installed" >&2; exit 2; }

make -s -C "$ROOT/test/imsim" >/dev/null

WORK=$(mktemp -d)
PID=""
cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -TERM "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

IMSIM_CMD=("$IMSIM" --port 0 --rate-limit 0 --latency-ms 0 --threads "$THREADS")
"${IMSIM_CMD[@]}" >"$WORK/imsim.out" 2>"$WORK/imsim.err" &
PID=$!
for _ in $(seq 100); do
	[ -s "$WORK/imsim.out" ] && break
	sleep 0.05
done
PORT=$(sed -n 's|^imsim listening on http://127.0.0.1:\([0-9]*\)$|\1|p' "$WORK/imsim.out")
[ -n "$PORT" ] || { echo "imsim did not start: $(cat "$WORK/imsim.err")" >&2; exit 2; }
BASE="http://127.0.0.1:$PORT"

# a UserSig for the default app/admin/key, made by imsim itself (src/usersig.c)
USERSIG=$("$IMSIM" --print-usersig --usersig-expire 86400)
URL="$BASE/v4/im_open_login_svc/account_check?sdkappid=1400000000&identifier=administrator&usersig=$USERSIG&random=12345&contenttype=json"

cat >"$WORK/post.lua" <<'LUA'
-- 100 UserIDs per call; counts answers that are not 200 + ActionStatus OK
local ids = {}
for i = 1, 100 do ids[#ids + 1] = string.format('{"UserID":"bench_user_%06d"}', i) end
wrk.method = "POST"
wrk.body = '{"CheckItem":[' .. table.concat(ids, ",") .. ']}'
wrk.headers["Content-Type"] = "application/json"

local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) ok = 0; bad = 0 end
function response(status, headers, body)
	if status == 200 and string.find(body, '"ActionStatus":"OK"', 1, true) then
		ok = ok + 1
	else
		bad = bad + 1
	end
end
function done(summary, latency, requests)
	local tok, tbad = 0, 0
	for _, t in ipairs(threads) do tok = tok + t:get("ok"); tbad = tbad + t:get("bad") end
	io.write(string.format("IMSIM_CHECK ok=%d bad=%d errors=%d\n", tok, tbad,
		summary.errors.connect + summary.errors.read + summary.errors.write +
		summary.errors.status + summary.errors.timeout))
end
LUA

# a short warm-up, then stats from zero
wrk -t1 -c4 -d1s -s "$WORK/post.lua" "$URL" >/dev/null

CPU=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //' || true)
NPROC=$(nproc)
FAILED=0
UNDER=0
ROWS=""
for C in $CONNS; do
	curl -fsS -X POST "$BASE/_imsim/stats/reset" >/dev/null
	WRK_CMD=(wrk -t"$WRK_THREADS" -c"$C" -d"${DURATION}s" --latency -s post.lua "<URL>")
	wrk -t"$WRK_THREADS" -c"$C" -d"${DURATION}s" --latency -s "$WORK/post.lua" "$URL" >"$WORK/wrk.$C" 2>&1
	STATS=$(curl -fsS "$BASE/_imsim/stats")
	RPS=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$WORK/wrk.$C")
	P50=$(awk '$1=="50%"{print $2}' "$WORK/wrk.$C")
	P99=$(awk '$1=="99%"{print $2}' "$WORK/wrk.$C")
	CHECK=$(grep '^IMSIM_CHECK' "$WORK/wrk.$C" || echo "IMSIM_CHECK missing")
	OK=$(sed -n 's/.*ok=\([0-9]*\).*/\1/p' <<<"$CHECK")
	BAD=$(sed -n 's/.*bad=\([0-9]*\).*/\1/p' <<<"$CHECK")
	ERRS=$(sed -n 's/.*errors=\([0-9]*\).*/\1/p' <<<"$CHECK")
	# server side: only ErrorCode 0, 100 items per call
	SCHECK=$(python3 -c '
import json, sys
s = json.loads(sys.argv[1])
codes = s["calls_by_code"]
ok = set(codes) <= {"0"} and s["items"] == 100 * codes.get("0", 0) and s["calls"] > 0
print("ok" if ok else "bad %s" % sys.argv[1])' "$STATS")
	CALLS=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["calls"])' "$STATS")
	STATUS="ok"
	if [ -z "$RPS" ] || [ -z "$OK" ] || [ "$BAD" != "0" ] || [ "$ERRS" != "0" ] || [ "$SCHECK" != "ok" ]; then
		STATUS="FAILED"
		FAILED=1
	fi
	IDS=$(awk -v r="$RPS" 'BEGIN{printf "%.0f", r*100}')
	MEETS=$(awk -v r="$RPS" -v t="$TARGET" 'BEGIN{print (r>=t) ? "yes" : "no"}')
	[ "$MEETS" = yes ] || UNDER=1
	printf '%4d connections: %10.0f calls/s (%s UserIDs/s), p50 %s, p99 %s, answers ok=%s bad=%s socket-errors=%s, server calls=%s, check: %s%s\n' \
		"$C" "$RPS" "$IDS" "$P50" "$P99" "$OK" "$BAD" "$ERRS" "$CALLS" "$STATUS" \
		"$([ "$SCHECK" = ok ] || echo " ($SCHECK)")"
	ROWS+="| $C | $(printf '%.0f' "$RPS") | $IDS | $P50 | $P99 | $OK | $BAD | $STATUS |"$'\n'
done

if [ "$WRITE" = 1 ]; then
	SECTION=$(cat <<MD
<!-- imsim:begin (written by test/bench/imsim_bench.sh; edit outside the markers) -->
## imsim: account_check simulator throughput

What: calls/s that \`imsim\` (test/imsim) answers for \`account_check\` requests of
100 UserIDs each (3.1 kB body, 9.3 kB answer), keep-alive, with a valid UserSig in
the query string, rate limit and latency off. Every answer is checked: wrk's Lua
\`response\` hook counts answers that are not HTTP 200 with \`"ActionStatus":"OK"\`
(column *bad*), and imsim's \`/_imsim/stats\` must show only ErrorCode 0 and
exactly 100 items per call (column *check*). wrk runs on the same machine and
shares its cores. Target: ≥ $TARGET calls/s.

Command: \`test/bench/imsim_bench.sh --duration $DURATION --conns "$CONNS" --threads $THREADS --wrk-threads $WRK_THREADS\`,
i.e. \`imsim --port 0 --rate-limit 0 --latency-ms 0 --threads $THREADS\` and, per row,
\`wrk -t$WRK_THREADS -c<connections> -d${DURATION}s --latency -s post.lua <url>\`.

Machine: $NPROC cores, ${CPU:-unknown CPU}; $(date -u +%Y-%m-%d).

| connections | calls/s | UserIDs/s | p50 | p99 | ok answers | bad | check |
|---:|---:|---:|---:|---:|---:|---:|---|
${ROWS%$'\n'}

Notes: the run-to-run spread on this shared 2-core VM is large (±30 %); the
figures above are one run.  Profile (perf) before the optimisation: json-c
parsing of the 100-item body and its ~500 mallocs per call took over half the
CPU and capped imsim near 7,000 calls/s; the request body is now parsed by
test/imsim/checkbody.c (strict JSON, no allocation, UserIDs decoded in place),
and a verified UserSig is cached (expiry still checked on every call).
<!-- imsim:end -->
MD
)
	python3 - "$OUT_MD" "$SECTION" <<'PY'
import os, re, sys
path, section = sys.argv[1], sys.argv[2]
text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
pat = re.compile(r"<!-- imsim:begin.*?<!-- imsim:end -->", re.S)
if pat.search(text):
    text = pat.sub(lambda m: section, text, count=1)
else:
    text = text.rstrip("\n") + "\n\n" + section + "\n"
open(path, "w").write(text)
PY
	echo "wrote the imsim section of $OUT_MD"
fi

if [ "$FAILED" = 1 ]; then
	echo "FAILED: some answers were not OK (see above)" >&2
	exit 1
fi
if [ "$UNDER" = 1 ]; then
	echo "note: under the target of $TARGET calls/s in at least one run"
	[ "$STRICT" = 1 ] && exit 1
fi
exit 0
