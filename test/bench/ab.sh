#!/usr/bin/env bash
# test/bench/ab.sh [REV] - the library built from git revision REV (default
# HEAD) beside the checkout's working tree, side by side in one run: rounds
# that alternate the two builds, each in a fresh cluster with the library
# preloaded (the shared rate log and its lock in use), against an imsim
# without latency or rate limit.  Each round measures
#   - backend CPU per call: one statement of 2,000 calls of 100 IDs read
#     from a table (from /proc/self/schedstat);
#   - memory: how much one statement raises the backend's peak resident
#     memory (VmHWM), in MiB: 100,000 IDs that the API answers each with an
#     error and its ResultInfo (IDs over 32 bytes: 70402); and 50,000 IDs
#     against an imsim that fails half the calls (70500, retried ten
#     times; raise_on_error false, so a batch that fails them all is rows).
# Prints each round's figures and the medians, and the ratios working tree
# / REV.  Runs as root; installs each build in turn, and the working tree's
# at the end.
set -u
cd "$(dirname "$0")/../.." || exit 1
source test/lib.sh
trap 'imcheck_cleanup; rm -rf "$work"' EXIT
rev=${1:-HEAD}
rounds=${AB_ROUNDS:-5}
work=$(mktemp -d /tmp/imcheck-ab.XXXXXX)

# the two builds, each in a tree of its own
mkdir -p "$work/a" "$work/b"
git archive "$rev" Makefile imcheck.control src sql | tar -x -C "$work/a"
cp -r Makefile imcheck.control src sql "$work/b/"
rm -f "$work"/b/src/*.o "$work"/b/src/*.bc
for t in a b; do
	make -s -C "$work/$t" >/dev/null 2>&1 || { echo "build $t failed" >&2; exit 1; }
done
make -s -C test/imsim >/dev/null || exit 1
pkglibdir=$(pg_config --pkglibdir)

imcheck_tmpdir || exit 1
tmp=$IMCHECK_TMP
key=$(openssl rand -hex 32)
imcheck_start_imsim "$tmp/imsim.out" --sdkappid 1400000001 --identifier administrator \
	--secret-key "$key" --rate-limit 0 || exit 1
imcheck_write_key_file "$tmp/imcheck.key" "$key" || exit 1
ok_url=$IMSIM_URL
imcheck_start_imsim "$tmp/imsim-fault.out" --sdkappid 1400000001 --identifier administrator \
	--secret-key "$key" --rate-limit 0 --fault code70500=0.5 --seed 3 || exit 1
fault_url=$IMSIM_URL

one_round() {	# one_round BUILD: "CPU_US_PER_CALL PEAK_MIB_ERRORS PEAK_MIB_RETRIES" of one round
	local dir=$tmp/c$RANDOM out
	mkdir -p "$dir" && chown postgres:postgres "$dir"
	install -m 755 "$work/$1/imcheck.so" "$pkglibdir/imcheck.so"
	imcheck_start_cluster "$dir" "$(imcheck_app_conf "$tmp/imcheck.key" "$ok_url")
imcheck.rate_limit = 0" >/dev/null || return 1
	read_cpu="split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint"
	read_peak="(regexp_match(pg_read_file('/proc/self/status'), 'VmHWM:\s+(\d+)'))[1]::bigint"
	out=$(psql -X -q -A -t -v ON_ERROR_STOP=1 <<SQL
CREATE EXTENSION imcheck;
CREATE TABLE ids AS SELECT 'u' || g AS id FROM generate_series(1, 200000) g;
CREATE TABLE long_ids AS SELECT repeat('x', 40) || g AS id FROM generate_series(1, 100000) g;
SELECT count(*) FROM im_account_check(ARRAY['warm']);
SELECT $read_cpu AS before \gset
SELECT count(*) FROM im_account_check(ARRAY(SELECT id FROM ids));
SELECT round(($read_cpu - :before)::numeric / 2000 / 1000, 1) AS cpu \gset
\c
SELECT count(*) FROM im_account_check(ARRAY['warm']);
SELECT $read_peak AS before \gset
SELECT count(*) FROM im_account_check(ARRAY(SELECT id FROM long_ids));
SELECT round(($read_peak - :before) / 1024.0, 1) AS errors \gset
\c
SET imcheck.endpoint = '$fault_url';
SET imcheck.max_retries = 10;
SELECT count(*) FROM im_account_check(ARRAY['warm']);
SELECT $read_peak AS before \gset
SELECT count(*) FROM im_account_check(ARRAY(SELECT id FROM ids LIMIT 50000), false);
SELECT :cpu || ' ' || :errors || ' ' || round(($read_peak - :before) / 1024.0, 1);
SQL
	) || return 1
	runuser -u postgres -- pg_ctl -D "$dir/data" -m fast stop >/dev/null
	echo "$out" | tail -n 1
}

a_cpu=() a_mem=() a_ret=() b_cpu=() b_mem=() b_ret=()
for i in $(seq "$rounds"); do
	read -r c m r <<<"$(one_round a)" && [ -n "$r" ] || exit 1
	a_cpu+=("$c") a_mem+=("$m") a_ret+=("$r")
	read -r c m r <<<"$(one_round b)" && [ -n "$r" ] || exit 1
	b_cpu+=("$c") b_mem+=("$m") b_ret+=("$r")
	echo "round $i: $rev ${a_cpu[-1]} us a call, +${a_mem[-1]} MiB, +${a_ret[-1]} MiB; working tree ${b_cpu[-1]} us a call, +${b_mem[-1]} MiB, +${b_ret[-1]} MiB"
done
make -s install >/dev/null
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; }
ca=$(median "${a_cpu[@]}") cb=$(median "${b_cpu[@]}")
ma=$(median "${a_mem[@]}") mb=$(median "${b_mem[@]}")
echo "median CPU: $rev $ca us a call, working tree $cb us a call; working tree / $rev = $(ratio "$ca" "$cb")"
ra=$(median "${a_ret[@]}") rb=$(median "${b_ret[@]}")
echo "median peak growth, 100,000 answered with errors: $rev $ma MiB, working tree $mb MiB; working tree / $rev = $(ratio "$ma" "$mb")"
echo "median peak growth, 50,000 with half the calls failing: $rev $ra MiB, working tree $rb MiB; working tree / $rev = $(ratio "$ra" "$rb")"
