#!/usr/bin/env bash
# test/network/run.sh - real networks between imcheck and the API: an HTTP
# proxy (tinyproxy, CONNECT, with a password), HTTP/2 (nginx in front of
# imsim), backup base URLs, the server's proxy environment ignored, and
# pacing that adapts when another client spends part of the app's quota.
#
#   bash test/network/run.sh      (as root; the extension installed)
#
# Starts imsim over HTTPS, tinyproxy, nginx and a throwaway cluster whose
# postmaster has https_proxy/http_proxy/all_proxy pointing at a dead port,
# then runs test_network.py ("ok - NAME" / "not ok - NAME: REASON" lines).
# Everything started here is stopped on exit.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
trap imcheck_cleanup EXIT

[ "$(id -u)" -eq 0 ] || { echo "run.sh must run as root" >&2; exit 1; }
for tool in tinyproxy nginx openssl; do
	command -v "$tool" >/dev/null || { echo "$tool is not installed (imcheck_ensure_packages)" >&2; exit 1; }
done
[ -x "$IMCHECK_ROOT/test/imsim/imsim" ] || make -s -C "$IMCHECK_ROOT/test/imsim" >/dev/null ||
	{ echo "could not build imsim" >&2; exit 1; }

imcheck_tmpdir || exit 1
tmp=$IMCHECK_TMP

# a CA and a certificate for localhost, for imsim and nginx
imcheck_make_certs "$tmp" "DNS:localhost,IP:127.0.0.1" ||
	{ echo "could not make certificates" >&2; exit 1; }

key=$(openssl rand -hex 32)
imcheck_start_imsim "$tmp/imsim.out" --sdkappid 1400000001 --identifier administrator \
	--secret-key "$key" --latency-ms 20 --threads 4 \
	--tls-cert "$tmp/server.crt" --tls-key "$tmp/server.key" || exit 1
imsim_url=$IMSIM_URL
imsim_port=${imsim_url##*:}

# tinyproxy: CONNECT only to imsim's port, with a user and password
proxy_port=$(imcheck_free_port)
proxy_password="pr0xy-$(openssl rand -hex 8)"
touch "$tmp/tinyproxy.log" && chown nobody "$tmp/tinyproxy.log"
cat >"$tmp/tinyproxy.conf" <<CONF
User nobody
Group nogroup
Port $proxy_port
Listen 127.0.0.1
Timeout 60
LogFile "$tmp/tinyproxy.log"
LogLevel Info
MaxClients 512
ConnectPort $imsim_port
BasicAuth imcheck $proxy_password
CONF
tinyproxy -d -c "$tmp/tinyproxy.conf" >"$tmp/tinyproxy.out" 2>&1 &
IMCHECK_PIDS+=("$!")

# nginx: HTTPS with HTTP/2 in front of imsim, one log line per request
nginx_port=$(imcheck_free_port)
mkdir -p "$tmp/nginx"
cat >"$tmp/nginx/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $tmp/nginx/body;
	proxy_temp_path $tmp/nginx/proxy;
	log_format calls '\$server_protocol \$connection \$status';
	upstream imsim { server 127.0.0.1:$imsim_port; keepalive 64; }
	server {
		listen 127.0.0.1:$nginx_port ssl http2;
		ssl_certificate $tmp/server.crt;
		ssl_certificate_key $tmp/server.key;
		access_log $tmp/nginx/access.log calls;
		location / {
			proxy_pass https://imsim;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_ssl_verify off;
		}
	}
}
CONF
nginx -c "$tmp/nginx/nginx.conf" >"$tmp/nginx/out" 2>&1 &
IMCHECK_PIDS+=("$!")

for port in "$proxy_port" "$nginx_port"; do
	for i in $(seq 1 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
		sleep 0.05
	done
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null ||
		{ echo "proxy or nginx did not start" >&2; cat "$tmp"/tinyproxy.out "$tmp"/nginx/out >&2; exit 1; }
done

# Q: an app's quota another client spends too (plain HTTP, the API's limit)
imcheck_start_imsim "$tmp/imsim-quota.out" --sdkappid 1400000001 --identifier administrator \
	--secret-key "$key" --latency-ms 40 --jitter-ms 8 --rate-limit 100 --seed 5 || exit 1
quota_url=$IMSIM_URL
quota_usersig=$("$IMCHECK_ROOT/test/imsim/imsim" --sdkappid 1400000001 --identifier administrator \
	--secret-key "$key" --print-usersig --usersig-expire 86400) || exit 1

imcheck_write_key_file "$tmp/imcheck.key" "$key" || exit 1
dead_port=$(imcheck_free_port)
# the postmaster's environment names a proxy that does not exist: unused
export https_proxy=http://127.0.0.1:$dead_port HTTPS_PROXY=http://127.0.0.1:$dead_port \
	http_proxy=http://127.0.0.1:$dead_port all_proxy=http://127.0.0.1:$dead_port ALL_PROXY=http://127.0.0.1:$dead_port
imcheck_start_cluster "$tmp" "
$(imcheck_app_conf "$tmp/imcheck.key" "https://localhost:$imsim_port")
imcheck.ca_file = '$tmp/ca.crt'
imcheck.max_retries = 2
log_min_messages = info
" || exit 1
unset https_proxy HTTPS_PROXY http_proxy all_proxy ALL_PROXY
psql -X -q -c "CREATE EXTENSION imcheck" -c "CREATE ROLE net_analyst LOGIN" \
	-c "GRANT EXECUTE ON FUNCTION im_account_check(text[], boolean) TO net_analyst" || exit 1

NET_QUOTA_IMSIM=$quota_url NET_QUOTA_USERSIG=$quota_usersig \
	NET_IMSIM=$imsim_url NET_IMSIM_PORT=$imsim_port NET_PROXY_PORT=$proxy_port \
	NET_PROXY_PASSWORD=$proxy_password NET_NGINX_PORT=$nginx_port NET_DEAD_PORT=$dead_port \
	NET_TMP=$tmp NET_CA=$tmp/ca.crt python3 "$here/test_network.py"
