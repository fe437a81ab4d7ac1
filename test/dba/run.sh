#!/usr/bin/env bash
# test/dba/run.sh - what a DBA meets: configuration mistakes in
# postgresql.conf fail closed, messages name the cause, every check is
# logged whatever its end, and a terminated backend leaves no progress row.
#
#   bash test/dba/run.sh      (as root; the extension installed)
#
# Starts a throwaway cluster (imcheck preloaded, the key in a 0600 file)
# and an imsim, then runs test_dba.py, which prints "ok - NAME" /
# "not ok - NAME: REASON" lines.  Everything started here is stopped on exit.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
trap imcheck_cleanup EXIT

[ "$(id -u)" -eq 0 ] || { echo "run.sh must run as root" >&2; exit 1; }
[ -x "$IMCHECK_ROOT/test/imsim/imsim" ] || make -s -C "$IMCHECK_ROOT/test/imsim" >/dev/null ||
	{ echo "could not build imsim" >&2; exit 1; }

imcheck_tmpdir || exit 1
tmp=$IMCHECK_TMP
key=$(openssl rand -hex 32)
# 50 ms a call: a check of a few thousand IDs runs long enough to watch
imcheck_start_imsim "$tmp/imsim.out" --sdkappid 1400000001 --identifier administrator \
	--secret-key "$key" --rate-limit 0 --latency-ms 50 || exit 1
imcheck_write_key_file "$tmp/imcheck.key" "$key" || exit 1
# the file a check writes its mistakes into, read after postgresql.conf
touch "$tmp/mistake.conf" && chown postgres:postgres "$tmp/mistake.conf"
imcheck_start_cluster "$tmp" "
$(imcheck_app_conf "$tmp/imcheck.key" "$IMSIM_URL")
imcheck.max_retries = 1
include_if_exists = '$tmp/mistake.conf'
" || exit 1
psql -X -q -c "CREATE EXTENSION imcheck" || exit 1
main_host=$PGHOST main_port=$PGPORT

# a second cluster that does not preload imcheck, the key written inline
imcheck_tmpdir || exit 1
tmp2=$IMCHECK_TMP
touch "$tmp2/key.conf" && chown postgres:postgres "$tmp2/key.conf"
printf "imcheck.secret_key = '%s'\n" "$key" >"$tmp2/key.conf"
imcheck_start_cluster "$tmp2" "
imcheck.sdkappid = '1400000001'
imcheck.identifier = 'administrator'
imcheck.endpoint = '$IMSIM_URL'
include_if_exists = '$tmp2/key.conf'
" || exit 1
psql -X -q -c "CREATE EXTENSION imcheck" || exit 1
export DBA_LAZY_HOST=$PGHOST DBA_LAZY_PORT=$PGPORT DBA_LAZY_KEYCONF=$tmp2/key.conf
export PGHOST=$main_host PGPORT=$main_port

DBA_IMSIM=$IMSIM_URL DBA_TMP=$tmp DBA_KEY=$key DBA_DATA=$tmp/data \
	python3 "$here/test_dba.py"
