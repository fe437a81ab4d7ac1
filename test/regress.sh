#!/usr/bin/env bash
# test/regress.sh - runs the pg_regress suite (sql/, expected/) in a
# throwaway cluster against a throwaway imsim.  Called by test/run after
# the build, and by test/pg/check for the majors in chroots (lib.sh's
# IMCHECK_PG_ROOT); prints pg_regress's own report.
set -u
source "$(dirname "$0")/lib.sh"
trap imcheck_cleanup EXIT

imcheck_tmpdir || exit 1
tmp=$IMCHECK_TMP
key=$(openssl rand -hex 32)
imcheck_start_regress_imsims "$tmp" "$key" || exit 1

# the key lives in a file only the server can read, as README recommends
imcheck_write_key_file "$tmp/imcheck.key" "$key" || exit 1
imcheck_start_cluster "$tmp" "
$(imcheck_regress_conf "$tmp/imcheck.key" "$tmp/ca.crt")
" || exit 1

mkdir -p "$tmp/results"
chown postgres:postgres "$tmp/results"
if [ -z "$IMCHECK_PG_ROOT" ]; then
	make -C "$IMCHECK_ROOT" -s installcheck IMCHECK_RESULTS_DIR="$tmp/results"
	rc=$?
else
	# in a chroot: that major's own pg_regress, run there, on a copy of the
	# suite under /tmp (which it sees as the host does)
	cp -r "$IMCHECK_ROOT/sql" "$IMCHECK_ROOT/expected" "$tmp/"
	# shellcheck disable=SC2046
	imcheck_as_server "$IMCHECK_SERVER_BIN/../lib/pgxs/src/test/regress/pg_regress" \
		--inputdir="$tmp" --outputdir="$tmp/results" --bindir="$IMCHECK_SERVER_BIN" \
		--host="$tmp" --port="$PGPORT" $(sed -n 's/^REGRESS = //p' "$IMCHECK_ROOT/Makefile")
	rc=$?
fi
if [ $rc -ne 0 ] && [ -f "$tmp/results/regression.diffs" ]; then
	cat "$tmp/results/regression.diffs"
fi
# the server log must never hold the key or a UserSig query string
if grep -q -e "$key" -e "usersig=" "$tmp/server.log"; then
	echo "not ok - server log contains the secret key or a UserSig"
	rc=1
fi
# keep what a failure needs for diagnosis; the rest goes with the tmp dir
keep=${IMCHECK_ARTIFACTS:-/tmp/imcheck-regress-last}
rm -rf "$keep" && mkdir -p "$keep" &&
	cp -r "$tmp/results" "$tmp/server.log" "$tmp/imsim.out" "$keep/" 2>/dev/null
exit $rc
