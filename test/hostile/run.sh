#!/usr/bin/env bash
# test/hostile/run.sh - im_account_check against a server that misbehaves
# on purpose (hostile_server.py): a drip-fed answer, a stale unsolicited
# answer, oversized answers, repeated members, negative codes, HTTP 204.
#
#   bash test/hostile/run.sh          (as root; the extension installed)
#
# Prints one "ok - NAME" / "not ok - NAME: REASON" line per check; exit
# status non-zero when any failed.  Everything started here stops on exit.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
trap imcheck_cleanup EXIT

imcheck_tmpdir || exit 1
tmp=$IMCHECK_TMP
python3 "$here/hostile_server.py" "$tmp/hostile.port" >"$tmp/hostile.log" 2>&1 &
IMCHECK_PIDS+=($!)
for _ in $(seq 100); do [ -f "$tmp/hostile.port" ] && break; sleep 0.1; done
[ -f "$tmp/hostile.port" ] || { cat "$tmp/hostile.log" >&2; exit 1; }
export HOSTILE_URL=http://127.0.0.1:$(cat "$tmp/hostile.port")

imcheck_write_key_file "$tmp/imcheck.key" "$(openssl rand -hex 32)" || exit 1
imcheck_start_cluster "$tmp" "
$(imcheck_app_conf "$tmp/imcheck.key" "$HOSTILE_URL/ok")
imcheck.rate_limit = 0
" || exit 1

psql -X -q -c "CREATE EXTENSION imcheck" >/dev/null || exit 1
python3 "$here/test_hostile.py" "$@"
rc=$?
cat "$tmp/hostile.log"
exit $rc
