#!/usr/bin/env bash
# test/security/run.sh - the security checks (SECURITY.md): starts two
# throwaway clusters and their imsims, runs test_security.py, prints one
# "ok - NAME" / "not ok - NAME: REASON" line per check, exits non-zero if
# any check failed.  Run as root (PostgreSQL runs as postgres; one imsim
# serves HTTPS on 127.0.0.1:443 as the default region's API domains).
#
#   cluster "a" (privileges, settings, input and answers, transport,
#     secrets): imcheck.secret_key, a key file and a static imcheck.usersig
#     in postgresql.conf; started in a private mount namespace whose
#     /etc/hosts maps the region domains (console.tim.qq.com, ...) to
#     127.0.0.1, and with proxy variables in its environment that point at a
#     listener which must never be contacted.
#   cluster "l" (no secret in the logs): log_min_messages = debug1,
#     log_statement = all, log_error_verbosity = verbose; the key only in
#     imcheck.secret_key_file.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
trap imcheck_cleanup EXIT

if [ "$(id -u)" -ne 0 ]; then
	echo "not ok - setup: run as root" >&2
	exit 1
fi
if [ -z "$IMCHECK_PG_ROOT" ] && [ ! -f "$(pg_config --pkglibdir)/imcheck.so" ]; then
	echo "not ok - setup: imcheck is not installed (make && make install)"
	exit 1
fi
if [ ! -x "$IMCHECK_ROOT/test/imsim/imsim" ]; then
	make -C "$IMCHECK_ROOT/test/imsim" -s >/dev/null ||
		{ echo "not ok - setup: could not build imsim"; exit 1; }
fi
IMSIM=$IMCHECK_ROOT/test/imsim/imsim

imcheck_tmpdir || exit 1
tmp=$IMCHECK_TMP
sdkappid=1400000042

# --- keys and UserSigs (generated per run; never printed) ---------------
key_a=$(openssl rand -hex 32)		# cluster a: imcheck.secret_key + key file
key_l=$(openssl rand -hex 32)		# cluster l: key file only
key_other=$(openssl rand -hex 32)	# imsims that must answer 70009
usersig_a=$("$IMSIM" --secret-key "$key_a" --sdkappid $sdkappid \
	--identifier administrator --print-usersig)
# expired by the time it is used (TLS.expire = 1 s)
usersig_l_expired=$("$IMSIM" --secret-key "$key_l" --sdkappid $sdkappid \
	--identifier administrator --print-usersig --usersig-expire 1)
[ -n "$usersig_a" ] && [ -n "$usersig_l_expired" ] ||
	{ echo "not ok - setup: imsim --print-usersig failed"; exit 1; }
for k in a l; do
	eval "printf '%s\n' \"\$key_$k\"" >"$tmp/$k.key"
	chown postgres:postgres "$tmp/$k.key"
	chmod 600 "$tmp/$k.key"
done

# --- certificates --------------------------------------------------------
# self-signed, for localhost and the region domains (not for 127.0.0.1)
region_domains="console.tim.qq.com adminapisgp.im.qcloud.com adminapikr.im.qcloud.com
 adminapiger.im.qcloud.com adminapiind.im.qcloud.com adminapiusa.im.qcloud.com
 adminapiidn.im.qcloud.com adminapijpn.im.qcloud.com"
san="DNS:localhost"
for d in $region_domains; do san="$san,DNS:$d"; done
mkcert() {	# mkcert NAME SUBJECT_ALT_NAME
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-days 2 -subj "/CN=imcheck security test $1" -addext "subjectAltName=$2" \
		-keyout "$tmp/$1.key.pem" -out "$tmp/$1.crt" >/dev/null 2>&1 &&
		chmod 644 "$tmp/$1.crt"
}
mkcert self "$san" && mkcert other "DNS:localhost" ||
	{ echo "not ok - setup: could not make test certificates"; exit 1; }

# --- imsims ----------------------------------------------------------------
# the untrusted UserIDs that are Imported (written by the Python script)
python3 "$here/test_security.py" --write-imported-file "$tmp/imported.txt" || exit 1
common=(--sdkappid $sdkappid --identifier administrator --rate-limit 100)
imcheck_start_imsim "$tmp/imsim-a.out" "${common[@]}" --secret-key "$key_a" \
	--imported-file "$tmp/imported.txt" --rule even || exit 1
export SEC_IMSIM_A=$IMSIM_URL
imcheck_start_imsim "$tmp/imsim-a-wrongkey.out" "${common[@]}" --secret-key "$key_other" || exit 1
export SEC_IMSIM_A_WRONGKEY=$IMSIM_URL
imcheck_start_imsim "$tmp/imsim-tls.out" "${common[@]}" --secret-key "$key_a" \
	--tls-cert "$tmp/self.crt" --tls-key "$tmp/self.key.pem" || exit 1
export SEC_TLS_PORT=${IMSIM_URL##*:}
# the default region's API domain, https on port 443 (root may bind it)
export SEC_REGION_URL=""
if imcheck_start_imsim "$tmp/imsim-443.out" "${common[@]}" --secret-key "$key_a" \
	--tls-cert "$tmp/self.crt" --tls-key "$tmp/self.key.pem" --port 443 2>/dev/null; then
	SEC_REGION_URL=$IMSIM_URL
fi
imcheck_start_imsim "$tmp/imsim-l.out" "${common[@]}" --secret-key "$key_l" \
	--stall-ms 3000 || exit 1
export SEC_IMSIM_L=$IMSIM_URL
imcheck_start_imsim "$tmp/imsim-l-wrongkey.out" "${common[@]}" --secret-key "$key_other" || exit 1
export SEC_IMSIM_L_WRONGKEY=$IMSIM_URL

# --- clusters --------------------------------------------------------------
# sec_start_cluster NAME HOSTS_FILE ENV CONF: like imcheck_start_cluster
# (lib.sh), but two at once, optionally with our own /etc/hosts (bound in
# the postmaster's own mount namespace) and extra environment for it.
sec_start_cluster() {
	local name=$1 hosts=$2 envs=$3 conf=$4 dir=$tmp/$1 port
	mkdir -p "$dir" && chown postgres:postgres "$dir"
	port=$(imcheck_free_port)
	imcheck_init_cluster "$dir" "$port" '%m [%p] %u ' "$conf" || return 1
	if [ -n "$hosts" ] && ! imcheck_as_server --hosts "$hosts" true 2>/dev/null; then
		export SEC_NO_HOSTS=1	# the region check reports it
		hosts=""
	fi
	# shellcheck disable=SC2086
	imcheck_as_server ${hosts:+--hosts "$hosts"} env $envs "$IMCHECK_SERVER_BIN/pg_ctl" \
		-D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null ||
		{ cat "$dir/server.log" >&2; return 1; }
	eval "export SEC_${name^^}_HOST=$dir SEC_${name^^}_PORT=$port SEC_${name^^}_DATA=$dir/data SEC_${name^^}_LOG=$dir/server.log"
}

{
	echo "127.0.0.1 localhost"
	for d in $region_domains; do echo "127.0.0.1 $d"; done
} >"$tmp/hosts"
chmod 644 "$tmp/hosts"
export SEC_PROXY_PORT=$(imcheck_free_port)
proxy=http://127.0.0.1:$SEC_PROXY_PORT
sec_start_cluster a "$tmp/hosts" \
	"http_proxy=$proxy https_proxy=$proxy HTTPS_PROXY=$proxy ALL_PROXY=$proxy all_proxy=$proxy" "
shared_preload_libraries = 'imcheck'
imcheck.sdkappid = '$sdkappid'
imcheck.identifier = 'administrator'
imcheck.secret_key = '$key_a'
imcheck.secret_key_file = '$tmp/a.key'
imcheck.usersig = '$usersig_a'
imcheck.endpoint = '$SEC_IMSIM_A'
imcheck.rate_limit = 100
" || { echo "not ok - setup: cluster a did not start"; exit 1; }
sec_start_cluster l "" "" "
shared_preload_libraries = 'imcheck'
imcheck.sdkappid = '$sdkappid'
imcheck.identifier = 'administrator'
imcheck.secret_key_file = '$tmp/l.key'
imcheck.usersig = '$usersig_l_expired'
imcheck.endpoint = '$SEC_IMSIM_L'
imcheck.rate_limit = 100
log_min_messages = debug1
log_error_verbosity = verbose
log_statement = all
log_connections = on
log_disconnections = on
" || { echo "not ok - setup: cluster l did not start"; exit 1; }

# what the checks need to know; secrets pass through the environment only
export SEC_TMP=$tmp SEC_SDKAPPID=$sdkappid SEC_KEY_A=$key_a SEC_KEY_L=$key_l \
	SEC_USERSIG_A=$usersig_a SEC_USERSIG_L_EXPIRED=$usersig_l_expired \
	SEC_CERT_SELF=$tmp/self.crt SEC_CERT_OTHER=$tmp/other.crt \
	SEC_PSQL=$PG_BIN/psql
timeout 170 python3 "$here/test_security.py"
rc=$?
[ $rc -eq 124 ] && echo "not ok - run: test_security.py took longer than 170 s"
# keep the logs for diagnosis (they hold no secret: the "logs:" checks say so)
keep=${IMCHECK_SECURITY_ARTIFACTS:-/tmp/imcheck-security-last}
rm -rf "$keep" && mkdir -p "$keep" &&
	cp "$tmp/a/server.log" "$keep/a-server.log" 2>/dev/null
cp "$tmp/l/server.log" "$keep/l-server.log" 2>/dev/null
exit $rc
