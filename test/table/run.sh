#!/usr/bin/env bash
# test/table/run.sh - CALL im_account_check_table() where one session is not
# enough: a 300,000-user table, a backend terminated mid-run and the run
# continued, a server restart mid-run, what another session sees of its
# snapshots and of VACUUM, a second run on the same target, a fatal answer
# mid-run.
#
#   bash test/table/run.sh      (as root; the extension installed)
#
# Starts a throwaway cluster (imcheck preloaded) and an imsim with the rate
# limit lifted in both, then runs test_table.py, which prints "ok - NAME" /
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
imcheck_start_imsim "$tmp/imsim.out" --sdkappid 1400000001 --identifier administrator \
	--secret-key "$key" --rate-limit 0 --no-id-stats || exit 1
imcheck_write_key_file "$tmp/imcheck.key" "$key" || exit 1
imcheck_start_cluster "$tmp" "
$(imcheck_app_conf "$tmp/imcheck.key" "$IMSIM_URL")
imcheck.rate_limit = 0
" || exit 1
psql -X -q -c "CREATE EXTENSION imcheck" || exit 1

TABLE_IMSIM=$IMSIM_URL TABLE_LOG=$tmp/server.log TABLE_DATA=$tmp/data python3 "$here/test_table.py"
