#!/usr/bin/env bash
# test/bench/table_bench.sh - CALL im_account_check_table() benchmarks
# (issue "Check a whole table of any size"), side by side in one run:
#
#   1. a 300,000-user table at the API's limit (imsim 100 ms +- 20 ms, 100
#      calls/s): IDs/s over the whole run, with the default chunk and with
#      10,000-ID chunks, beside today's one-statement recipe
#      (INSERT ... SELECT ... FROM im_account_check(ARRAY(SELECT id ...)))
#   2. peak private memory (RssAnon) of the backend for 1,000,000 and
#      5,000,000 users, rate limit lifted, beside the one-statement recipe
#      for 1,000,000
#
# Prints a table and writes it to BENCHMARKS.md between the table markers
# (unless --no-write).  Runs as root; takes about 6 minutes.
set -u
cd "$(dirname "$0")/../.." || exit 1
source test/lib.sh
trap imcheck_cleanup EXIT

write=1
[ "${1:-}" = "--no-write" ] && write=0

imcheck_ensure_packages || exit 1
imcheck_build || { echo "build failed" >&2; exit 1; }

imcheck_tmpdir || exit 1
tmp=$IMCHECK_TMP
key=$(openssl rand -hex 32)
imcheck_write_key_file "$tmp/imcheck.key" "$key" || exit 1
common=(--sdkappid 1400000001 --identifier administrator --secret-key "$key" --no-id-stats)
imcheck_start_imsim "$tmp/imsim-limit.out" "${common[@]}" --latency-ms 100 \
	--jitter-ms 20 --rate-limit 100 --seed 21 || exit 1
export BENCH_IMSIM_LIMIT=$IMSIM_URL
imcheck_start_imsim "$tmp/imsim-fast.out" "${common[@]}" --rate-limit 0 || exit 1
export BENCH_IMSIM_FAST=$IMSIM_URL
imcheck_start_cluster "$tmp" "
$(imcheck_app_conf "$tmp/imcheck.key" "$BENCH_IMSIM_LIMIT")
shared_buffers = 256MB
max_wal_size = 4GB
" || exit 1
psql -X -q -c "CREATE EXTENSION imcheck" || exit 1

started=$(date +%s)
python3 test/bench/table_bench.py >"$tmp/table.md"
rc=$?
sed -i "s/@SECONDS@/$(( $(date +%s) - started ))/" "$tmp/table.md"
cat "$tmp/table.md"
if [ $rc -eq 0 ] && [ $write -eq 1 ]; then
	python3 - "$tmp/table.md" <<'PY'
import re, sys
table = open(sys.argv[1]).read()
path = "BENCHMARKS.md"
text = open(path).read()
begin = "<!-- table:begin (written by test/bench/table_bench.sh; edit outside the markers) -->"
end = "<!-- table:end -->"
block = begin + "\n" + table.rstrip() + "\n" + end
if begin in text:
    text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda m: block, text, flags=re.S)
else:
    k = text.index("<!-- engine:end -->") + len("<!-- engine:end -->")
    text = text[:k] + "\n\n" + block + text[k:]
open(path, "w").write(text)
PY
	echo "written to BENCHMARKS.md"
fi
exit $rc
