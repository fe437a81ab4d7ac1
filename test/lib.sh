# test/lib.sh - shared by test/run, test/demo and test/bench: packages,
# building, a throwaway PostgreSQL cluster and imsim.  Source it; it defines
# functions only.  Every process it starts is stopped by imcheck_cleanup,
# which callers put in an EXIT trap.

IMCHECK_ROOT=${IMCHECK_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
export PATH="$PG_BIN:$PATH"

# Where the clusters run.  By default on the host, from PG_BIN.  With
# IMCHECK_PG_ROOT set to a chroot made by test/pg/root, inside it (its
# PostgreSQL needs a newer glibc than the host's), from IMCHECK_SERVER_BIN
# there; clients (psql, the Python suites) stay on the host and reach the
# server through its socket under /tmp, or on 127.0.0.1.
IMCHECK_PG_ROOT=${IMCHECK_PG_ROOT:-}
IMCHECK_SERVER_BIN=${IMCHECK_SERVER_BIN:-$PG_BIN}

# imcheck_as_server [--hosts FILE] COMMAND... : runs COMMAND as postgres,
# where the servers run.  In a chroot, the host's /tmp is bound over the
# chroot's, so that every path under /tmp (data directories, sockets, key
# files, logs) is the same inside and out; with --hosts, FILE is bound over
# /etc/hosts.  Those binds live in a mount namespace of COMMAND's own (and
# of the processes it leaves, such as the postmaster): nothing is left
# mounted when they end, whatever ends them.
imcheck_as_server() {
	local hosts=
	if [ "${1:-}" = --hosts ]; then
		hosts=$2
		shift 2
	fi
	if [ -z "$IMCHECK_PG_ROOT" ] && [ -z "$hosts" ]; then
		runuser -u postgres -- "$@"
		return
	fi
	unshare -m --propagation private -- sh -c '
		root=$1 hosts=$2
		shift 2
		[ -z "$root" ] || mount --bind /tmp "$root/tmp" || exit 1
		[ -z "$hosts" ] || mount --bind "$hosts" "$root/etc/hosts" || exit 1
		if [ -n "$root" ]; then
			exec chroot "$root" runuser -u postgres -- "$@"
		fi
		exec runuser -u postgres -- "$@"' sh "$IMCHECK_PG_ROOT" "$hosts" "$@"
}

IMCHECK_PACKAGES="build-essential pkg-config postgresql-15 postgresql-server-dev-15
 libcurl4-openssl-dev libjson-c-dev libmicrohttpd-dev libssl-dev zlib1g-dev
 libcmocka-dev postgresql-15-cron postgresql-15-pgtap valgrind clang
 libclang-rt-14-dev wrk hyperfine curl openssl python3 procps
 postgresql-plpython3-15 tinyproxy nginx-light
 debhelper dpkg-dev postgresql-server-dev-all debootstrap"

# Installs whatever package is missing: apt-get update once, then install.
imcheck_ensure_packages() {
	local missing=() p
	for p in $IMCHECK_PACKAGES; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "installing: ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -q >/dev/null &&
			apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
			{ echo "could not install packages: ${missing[*]}" >&2; return 1; }
	fi
	# Debian's postgresql package may start a cluster of its own: ours don't need it.
	return 0
}

# Builds and installs the extension and builds imsim.
imcheck_build() {
	make -C "$IMCHECK_ROOT" -s >/dev/null &&
		make -C "$IMCHECK_ROOT" -s install >/dev/null &&
		make -C "$IMCHECK_ROOT/test/imsim" -s >/dev/null
}

IMCHECK_PIDS=()
IMCHECK_CLUSTERS=()
IMCHECK_TMPDIRS=()

imcheck_cleanup() {
	local d p
	for d in "${IMCHECK_CLUSTERS[@]}"; do
		[ -f "$d/postmaster.pid" ] &&
			imcheck_as_server "$IMCHECK_SERVER_BIN/pg_ctl" -D "$d" -m immediate stop >/dev/null 2>&1
	done
	for p in "${IMCHECK_PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${IMCHECK_PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	for d in "${IMCHECK_TMPDIRS[@]}"; do
		rm -rf "$d"
	done
	IMCHECK_PIDS=() IMCHECK_CLUSTERS=() IMCHECK_TMPDIRS=()
}

# Makes a temporary directory the postgres user can use, in IMCHECK_TMP;
# removed by cleanup.  (Not echoed: a $(...) subshell would lose the record.)
imcheck_tmpdir() {
	IMCHECK_TMP=$(mktemp -d /tmp/imcheck.XXXXXX) || return 1
	chmod 755 "$IMCHECK_TMP"
	chown postgres:postgres "$IMCHECK_TMP"
	IMCHECK_TMPDIRS+=("$IMCHECK_TMP")
}

# imcheck_write_key_file PATH KEY: the key in a file only the server's user
# can read, as README recommends (imcheck.secret_key_file).
imcheck_write_key_file() {
	printf '%s\n' "$2" >"$1" &&
		chown postgres:postgres "$1" &&
		chmod 600 "$1"
}

# imcheck_app_conf KEY_FILE ENDPOINT: the postgresql.conf lines that point
# a preloaded imcheck at the test app (the imsims here run SDKAppID
# 1400000001, admin "administrator").
imcheck_app_conf() {
	cat <<CONF
shared_preload_libraries = 'imcheck'
imcheck.sdkappid = '1400000001'
imcheck.identifier = 'administrator'
imcheck.secret_key_file = '$1'
imcheck.endpoint = '$2'
CONF
}

# imcheck_make_certs DIR SAN: a CA of our own (DIR/ca.crt, ca.key) and a
# server certificate it signed for SAN, e.g. "DNS:localhost,IP:127.0.0.1"
# (DIR/server.crt, server.key), readable by the servers that use them.
imcheck_make_certs() {
	local dir=$1 san=$2
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=imcheck test CA" \
		-keyout "$dir/ca.key" -out "$dir/ca.crt" >/dev/null 2>&1 &&
		openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
			-keyout "$dir/server.key" -out "$dir/server.csr" >/dev/null 2>&1 &&
		printf 'subjectAltName=%s\n' "$san" >"$dir/san.ext" &&
		openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
			-CAcreateserial -days 2 -extfile "$dir/san.ext" -out "$dir/server.crt" \
			>/dev/null 2>&1 &&
		chmod 644 "$dir/ca.crt" "$dir/server.crt" "$dir/server.key"
}

# imcheck_start_imsim OUTFILE ARGS... : starts imsim on a free port, waits
# for its first line and sets IMSIM_URL and IMSIM_PID.
imcheck_start_imsim() {
	local out=$1 i line
	shift
	"$IMCHECK_ROOT/test/imsim/imsim" --port 0 "$@" >"$out" 2>&1 &
	IMSIM_PID=$!
	IMCHECK_PIDS+=("$IMSIM_PID")
	for i in $(seq 1 100); do
		line=$(head -n 1 "$out" 2>/dev/null)
		case "$line" in
			"imsim listening on "*)
				IMSIM_URL=${line#imsim listening on }
				return 0 ;;
		esac
		kill -0 "$IMSIM_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "imsim did not start:" >&2
	cat "$out" >&2
	return 1
}

# imcheck_start_regress_imsims DIR KEY: the two imsims the regress suite's
# expected output is made against: an HTTPS one with a certificate for
# "localhost" from a CA of our own (DIR/ca.crt), its port in
# IMSIM_HTTPS_PORT; then the plain one, in IMSIM_URL.
imcheck_start_regress_imsims() {
	local dir=$1 key=$2
	imcheck_make_certs "$dir" "DNS:localhost" ||
		{ echo "could not make test certificates" >&2; return 1; }
	imcheck_start_imsim "$dir/imsim-tls.out" --sdkappid 1400000001 \
		--identifier administrator --secret-key "$key" --rate-limit 100 \
		--tls-cert "$dir/server.crt" --tls-key "$dir/server.key" || return 1
	IMSIM_HTTPS_PORT=${IMSIM_URL##*:}
	imcheck_start_imsim "$dir/imsim.out" --sdkappid 1400000001 \
		--identifier administrator --secret-key "$key" --rate-limit 100 \
		--stall-ms 3000 --seed 42
}

# imcheck_regress_conf KEY_FILE CA_FILE: the postgresql.conf lines of the
# regress suite, for the imsims imcheck_start_regress_imsims started.
imcheck_regress_conf() {
	imcheck_app_conf "$1" "$IMSIM_URL"
	cat <<CONF
imcheck.rate_limit = 100
imcheck_test.https_port = '$IMSIM_HTTPS_PORT'
imcheck_test.ca_file = '$2'
CONF
}

# A free TCP port on loopback.
imcheck_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# imcheck_init_cluster DIR PORT LOG_LINE_PREFIX EXTRA_CONF_LINES : initdb as
# postgres into DIR/data, with the lines every test cluster has: PORT, the
# socket in DIR (and loopback TCP when the server is in a chroot).
imcheck_init_cluster() {
	local dir=$1 port=$2 prefix=$3 extra=$4 listen=
	[ -z "$IMCHECK_PG_ROOT" ] || listen=127.0.0.1
	imcheck_as_server "$IMCHECK_SERVER_BIN/initdb" -D "$dir/data" -A trust -E UTF8 \
		--locale=C --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; return 1; }
	IMCHECK_CLUSTERS+=("$dir/data")
	cat >>"$dir/data/postgresql.conf" <<CONF
port = $port
listen_addresses = '$listen'
unix_socket_directories = '$dir'
max_connections = 40
fsync = off
log_line_prefix = '$prefix'
$extra
CONF
}

# imcheck_start_cluster DIR [EXTRA_CONF_LINES] : initdb + start as postgres,
# socket in DIR, port in PGPORT; exports PGHOST PGPORT PGUSER.
imcheck_start_cluster() {
	local dir=$1 extra=${2:-}
	PGPORT=$(imcheck_free_port)
	imcheck_init_cluster "$dir" "$PGPORT" '%m [%p] ' "$extra" || return 1
	imcheck_as_server "$IMCHECK_SERVER_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" \
		-w -t 60 start >/dev/null || { cat "$dir/server.log" >&2; return 1; }
	export PGHOST=$dir PGPORT PGUSER=postgres PGDATABASE=postgres
}
