#!/usr/bin/env bash
# test/bench/ab_cpu.sh [REV] - backend CPU per call of the library built from
# git revision REV (default HEAD) beside the checkout's working tree, side
# by side in one run: rounds that alternate the two builds, each in a fresh
# cluster with the library preloaded (the shared rate log and its lock in
# use), each statement 2,000 calls of 100 IDs read from a table against an
# imsim without latency or rate limit.  Prints each round's figures and
# the medians, and the ratio working tree / REV.  Runs as root; installs
# each build in turn, and the working tree's at the end.
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

per_call_us() {	# per_call_us BUILD: one round's backend CPU per call, in microseconds
	local dir=$tmp/c$RANDOM out
	mkdir -p "$dir" && chown postgres:postgres "$dir"
	install -m 755 "$work/$1/imcheck.so" "$pkglibdir/imcheck.so"
	imcheck_start_cluster "$dir" "$(imcheck_app_conf "$tmp/imcheck.key" "$IMSIM_URL")
imcheck.rate_limit = 0" >/dev/null || return 1
	read_cpu="split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint"
	out=$(psql -X -q -A -t -v ON_ERROR_STOP=1 <<SQL
CREATE EXTENSION imcheck;
CREATE TABLE ids AS SELECT 'u' || g AS id FROM generate_series(1, 200000) g;
SELECT count(*) FROM im_account_check(ARRAY['warm']);
SELECT $read_cpu AS before \gset
SELECT count(*) FROM im_account_check(ARRAY(SELECT id FROM ids));
SELECT round(($read_cpu - :before)::numeric / 2000 / 1000, 1);
SQL
	) || return 1
	runuser -u postgres -- pg_ctl -D "$dir/data" -m fast stop >/dev/null
	echo "$out" | tail -n 1
}

a=() b=()
for i in $(seq "$rounds"); do
	a+=("$(per_call_us a)") || exit 1
	b+=("$(per_call_us b)") || exit 1
	echo "round $i: $rev ${a[-1]} us a call, working tree ${b[-1]} us a call"
done
make -s install >/dev/null
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ma=$(median "${a[@]}") mb=$(median "${b[@]}")
echo "median: $rev $ma us a call, working tree $mb us a call; working tree / $rev = $(awk -v a="$ma" -v b="$mb" 'BEGIN { printf "%.2f", b / a }')"
