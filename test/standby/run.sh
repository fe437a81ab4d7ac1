#!/usr/bin/env bash
# test/standby/run.sh - imcheck on a hot standby, where analysts often query:
# a check there returns the same rows as on the primary, counts in the
# standby's own imcheck_stats and imcheck_progress, raises the same errors,
# logs its line in the standby's log, and needs no write (READ ONLY).
#
#   bash test/standby/run.sh      (as root; the extension installed)
#
# Starts an imsim, a primary (imcheck preloaded, the key in a 0600 file,
# replication allowed) with the extension and a table of UserIDs, then a hot
# standby made with pg_basebackup -R (its own port, socket directory and
# copy of the key file), and runs test_standby.py, which prints "ok - NAME" /
# "not ok - NAME: REASON" lines.  Both clusters and imsim are stopped on exit.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"

standby_data=
# imcheck_cleanup stops only the clusters imcheck_start_cluster started:
# the standby is stopped here, before it (and before its directory goes).
stop_standby() {
	if [ -n "$standby_data" ] && [ -f "$standby_data/postmaster.pid" ]; then
		runuser -u postgres -- pg_ctl -D "$standby_data" -m immediate -w stop >/dev/null 2>&1
	fi
}
trap 'stop_standby; imcheck_cleanup' EXIT

if [ "$(id -u)" -ne 0 ]; then
	echo "not ok - setup: run as root" >&2
	exit 1
fi
if [ ! -f "$(pg_config --pkglibdir)/imcheck.so" ]; then
	echo "not ok - setup: imcheck is not installed (make && make install)"
	exit 1
fi
[ -x "$IMCHECK_ROOT/test/imsim/imsim" ] || make -s -C "$IMCHECK_ROOT/test/imsim" >/dev/null ||
	{ echo "not ok - setup: could not build imsim"; exit 1; }

setup_failed() {
	echo "not ok - setup: $*"
	exit 1
}

# --- imsim and the primary ------------------------------------------------
imcheck_tmpdir || setup_failed "no temporary directory"
ptmp=$IMCHECK_TMP
key=$(openssl rand -hex 32)
imcheck_start_imsim "$ptmp/imsim.out" --sdkappid 1400000001 --identifier administrator \
	--secret-key "$key" --rate-limit 0 || setup_failed "imsim did not start"
imcheck_write_key_file "$ptmp/imcheck.key" "$key" || setup_failed "could not write the key file"
imcheck_start_cluster "$ptmp" "
$(imcheck_app_conf "$ptmp/imcheck.key" "$IMSIM_URL")
wal_level = replica
max_wal_senders = 5
imcheck.max_retries = 1
" || setup_failed "the primary did not start"
primary_host=$PGHOST primary_port=$PGPORT

# initdb's pg_hba.conf has "local replication all trust" (-A trust): add
# the line only when it is not there
if ! grep -Eq '^local[[:space:]]+replication[[:space:]]+(all|postgres)[[:space:]]+trust' \
	"$ptmp/data/pg_hba.conf"; then
	echo "local replication postgres trust" >>"$ptmp/data/pg_hba.conf"
	psql -X -q -c "SELECT pg_reload_conf()" >/dev/null || setup_failed "reload"
fi

psql -X -q -v ON_ERROR_STOP=1 <<'SQL' || setup_failed "CREATE EXTENSION or the table"
CREATE EXTENSION imcheck;
-- the UserIDs analysts check: n gives the order, repeats included
CREATE TABLE app_users (n serial PRIMARY KEY, id text NOT NULL);
INSERT INTO app_users (id) SELECT 'user_' || g FROM generate_series(1, 230) g;
INSERT INTO app_users (id) VALUES ('user_7'), ('user_8'), ('user_8'), ('alice'), ('bob2'),
	('x-3'), ('2a'), ('0'), ('user_000100'), ('alice');
SQL

# --- the hot standby --------------------------------------------------------
imcheck_tmpdir || setup_failed "no temporary directory"
stmp=$IMCHECK_TMP
standby_port=$(imcheck_free_port)
standby_data=$stmp/data
if ! runuser -u postgres -- pg_basebackup -R -D "$standby_data" -h "$primary_host" \
	-p "$primary_port" -U postgres -X stream -c fast --no-sync >"$stmp/basebackup.log" 2>&1; then
	standby_data=
	cat "$stmp/basebackup.log"
	setup_failed "pg_basebackup failed"
fi
# the key file lives outside the data directory, so the copy has none:
# the standby gets its own, as a real one would
imcheck_write_key_file "$stmp/imcheck.key" "$key" || setup_failed "could not write the key file"
# the copied postgresql.conf has the primary's port and socket: later lines win
cat >>"$standby_data/postgresql.conf" <<CONF
# the standby's own
port = $standby_port
unix_socket_directories = '$stmp'
hot_standby = on
imcheck.secret_key_file = '$stmp/imcheck.key'
CONF
[ -f "$standby_data/standby.signal" ] || setup_failed "pg_basebackup -R wrote no standby.signal"
runuser -u postgres -- pg_ctl -D "$standby_data" -l "$stmp/server.log" -w -t 60 start \
	>/dev/null || { cat "$stmp/server.log"; setup_failed "the standby did not start"; }

export STANDBY_IMSIM=$IMSIM_URL
export STANDBY_PRIMARY_HOST=$primary_host STANDBY_PRIMARY_PORT=$primary_port
export STANDBY_PRIMARY_LOG=$ptmp/server.log
export STANDBY_STANDBY_HOST=$stmp STANDBY_STANDBY_PORT=$standby_port
export STANDBY_STANDBY_LOG=$stmp/server.log
export PGUSER=postgres PGDATABASE=postgres
python3 "$here/test_standby.py"
