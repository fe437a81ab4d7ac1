"""Real networks between imcheck and the API (run by test/network/run.sh).

Each check prints "ok - NAME" or "not ok - NAME: REASON"; the exit status is
non-zero when any failed.  Python 3 standard library only; PostgreSQL is
driven through psql.
"""
import json
import os
import re
import ssl
import http.client
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reliability"))
from test_reliability import report, run_checks  # noqa: E402

IMSIM = os.environ["NET_IMSIM"]
IMSIM_PORT = os.environ["NET_IMSIM_PORT"]
PROXY_PORT = os.environ["NET_PROXY_PORT"]
PROXY_PASSWORD = os.environ["NET_PROXY_PASSWORD"]
NGINX_PORT = os.environ["NET_NGINX_PORT"]
DEAD_PORT = os.environ["NET_DEAD_PORT"]
TMP = os.environ["NET_TMP"]
SERVER_LOG = os.path.join(TMP, "server.log")
PROXY_LOG = os.path.join(TMP, "tinyproxy.log")
NGINX_LOG = os.path.join(TMP, "nginx", "access.log")
QUOTA_IMSIM = os.environ["NET_QUOTA_IMSIM"]
QUOTA_USERSIG = os.environ["NET_QUOTA_USERSIG"]
TLS = ssl.create_default_context(cafile=os.environ["NET_CA"])

PROXY = f"http://imcheck:{PROXY_PASSWORD}@127.0.0.1:{PROXY_PORT}"
DIRECT = f"https://localhost:{IMSIM_PORT}"
VIA_NGINX = f"https://localhost:{NGINX_PORT}"


def psql(*sql, user=None, timeout=180):
    """Runs the statements in one session; returns (rc, stdout, stderr)."""
    cmd = ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose"]
    if user:
        cmd += ["-U", user]
    for s in sql:
        cmd += ["-c", s]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout.strip(), r.stderr.strip()


def sqlstate(stderr):
    m = re.search(r"^(?:psql:[^:]*:\d+: )?ERROR:\s+([0-9A-Z]{5}):", stderr, re.M)
    return m[1] if m else None


def imsim(path, body=None):
    req = urllib.request.Request(IMSIM + path, method="POST" if body is not None else "GET",
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10, context=TLS) as r:
        return json.loads(r.read() or b"{}")


def imsim_stats():
    return imsim("/_imsim/stats")


def imsim_reset():
    imsim("/_imsim/stats/reset", {})


def read(path):
    with open(path, errors="replace") as f:
        return f.read()


def expected_status(uid):
    return "Imported" if uid[-1] in "02468" else "NotImported"


def check_rows(settings, n, prefix):
    """Checks n IDs (each twice) under settings; returns (ok, detail, stderr)."""
    ids = [f"{prefix}{i}" for i in range(n)]
    arr = "ARRAY[" + ",".join(f"'{u}'" for u in ids + ids) + "]"
    rc, out, err = psql(*settings, f"SELECT user_id || ' ' || account_status FROM im_account_check({arr})")
    if rc != 0:
        return False, err.splitlines()[0] if err else f"rc {rc}", err
    rows = out.splitlines()
    want = [f"{u} {expected_status(u)}" for u in ids + ids]
    if rows != want:
        return False, f"{len(rows)} rows, want {len(want)}; first wrong: " + \
            next((f"{a!r} != {b!r}" for a, b in zip(rows, want) if a != b), "(count)"), err
    return True, f"{len(rows)} rows", err


def check_proxy_rows_right():
    before = read(PROXY_LOG).count(f"CONNECT localhost:{IMSIM_PORT}")
    imsim_reset()
    ok, detail, _ = check_rows([f"SET imcheck.proxy = '{PROXY}'"], 1000, "px")
    tunnels = read(PROXY_LOG).count(f"CONNECT localhost:{IMSIM_PORT}") - before
    calls = imsim_stats()["calls"]
    report("proxy: rows right through tinyproxy's CONNECT tunnel to imsim over HTTPS, "
           "with a password", ok and tunnels >= 1 and calls == 10,
           f"{detail}; {tunnels} tunnels, imsim saw {calls} calls (want 10)")


def check_proxy_password_never_shown():
    """A wrong password: the proxy answers 407.  Neither the error nor the log has it."""
    wrong = f"http://imcheck:wrong-{PROXY_PASSWORD}@127.0.0.1:{PROXY_PORT}"
    log_at = len(read(SERVER_LOG))
    rc, _, err = psql(f"SET imcheck.proxy = '{wrong}'", "SET imcheck.max_retries = 0",
                      "SELECT * FROM im_account_check(ARRAY['pw1'])")
    log = read(SERVER_LOG)[log_at:]
    leaked = [w for w in (PROXY_PASSWORD, "wrong-") if w in err or w in log]
    report("proxy: a refused password gives 08006 naming the proxy's status, and neither "
           "the error nor the server log shows the password",
           rc != 0 and sqlstate(err) == "08006" and "are missing or wrong" in err and
           f"127.0.0.1:{PROXY_PORT}" in err and not leaked,
           f"state {sqlstate(err)}, leaked {leaked}: {err[:300]}")


def check_proxy_refuses_connect():
    """tinyproxy allows CONNECT only to imsim's port: nginx's port gets 403."""
    t0 = time.monotonic()
    rc, _, err = psql(f"SET imcheck.proxy = '{PROXY}'", f"SET imcheck.endpoint = '{VIA_NGINX}'",
                      "SET imcheck.timeout = '60s'",
                      "SELECT * FROM im_account_check(ARRAY['pr1'])")
    took = time.monotonic() - t0
    report("proxy: a CONNECT the proxy refuses gives 08006 after the retries, without "
           "waiting for imcheck.timeout",
           rc != 0 and sqlstate(err) == "08006" and "through the proxy in 3 attempts" in err
           and "HTTP status 403" in err and "imcheck.proxy" in err and took < 30,
           f"{took:.1f} s, state {sqlstate(err)}: {err[:300]}")


def check_proxy_down():
    t0 = time.monotonic()
    rc, _, err = psql(f"SET imcheck.proxy = 'http://u:secret-down@127.0.0.1:{DEAD_PORT}'",
                      "SET imcheck.timeout = '60s'",
                      "SELECT * FROM im_account_check(ARRAY['pd1'])")
    took = time.monotonic() - t0
    report("proxy: a proxy that is down gives 08006 after the retries, naming imcheck.proxy",
           rc != 0 and sqlstate(err) == "08006" and "could not reach the IM API through the proxy" in err
           and "Check \"imcheck.proxy\"" in err and "secret-down" not in err and took < 30,
           f"{took:.1f} s, state {sqlstate(err)}: {err[:300]}")


def check_proxy_for_superusers_only():
    rc1, _, err1 = psql(f"SET imcheck.proxy = '{PROXY}'", user="net_analyst")
    rc2, out2, err2 = psql("SELECT count(*) FROM pg_settings WHERE name = 'imcheck.proxy'",
                           user="net_analyst")
    rc3, _, err3 = psql("SHOW imcheck.proxy", user="net_analyst")
    report("proxy: non-superusers can neither set nor read imcheck.proxy",
           rc1 != 0 and "permission denied" in err1 and rc2 == 0 and out2 == "0" and
           rc3 != 0 and PROXY_PASSWORD not in err1 + err3,
           f"{err1[:100]} | {out2} | {err3[:100]}")


def check_environment_proxy_ignored():
    """The postmaster runs with https_proxy etc. naming a dead port."""
    env = read(f"/proc/{postmaster_pid()}/environ")
    imsim_reset()
    ok, detail, _ = check_rows([], 200, "env")
    report("proxy: with imcheck.proxy empty, the postmaster's proxy environment is ignored",
           f"https_proxy=http://127.0.0.1:{DEAD_PORT}" in env and ok and imsim_stats()["calls"] == 2,
           detail)


def postmaster_pid():
    with open(os.path.join(TMP, "data", "postmaster.pid")) as f:
        return int(f.readline())


def check_failover_to_backup():
    """The first base URL refuses connections; the second is imsim."""
    imsim_reset()
    settings = [f"SET imcheck.endpoint = 'https://127.0.0.1:{DEAD_PORT}, {DIRECT}'",
                "SET imcheck.max_retries = 0", "SELECT imcheck_reset_stats()"]
    log_at = len(read(SERVER_LOG))
    ids = ",".join(f"'fo{i}'" for i in range(500))
    rc, out, err = psql(*settings, f"SELECT count(*) FROM im_account_check(ARRAY[{ids}])",
                        "SELECT value FROM imcheck_stats WHERE api = 'account_check' AND name = 'failovers'",
                        "SELECT value FROM imcheck_stats WHERE api = 'account_check' AND name = 'failed_calls'")
    lines = out.splitlines()
    log = read(SERVER_LOG)[log_at:]
    report("failover: a first base URL that refuses connections fails over to the next, "
           "with no retry spent, counted and logged",
           rc == 0 and lines[-3:] == ["500", "1", "0"] and imsim_stats()["calls"] == 5 and
           f"imcheck fails over from https://127.0.0.1:{DEAD_PORT} to {DIRECT}" in log,
           f"rc {rc}, out {lines[-3:]}, {err[:200]}")


def check_failover_all_down():
    rc, _, err = psql(f"SET imcheck.endpoint = 'https://127.0.0.1:{DEAD_PORT}, http://127.0.0.1:{DEAD_PORT}'",
                      "SET imcheck.max_retries = 1", "SELECT * FROM im_account_check(ARRAY['ad1'])")
    report("failover: every base URL down gives 08006 naming them all",
           rc != 0 and sqlstate(err) == "08006" and "could not connect to the IM API in 2 attempts" in err
           and f"https://127.0.0.1:{DEAD_PORT}, http://127.0.0.1:{DEAD_PORT}" in err,
           err[:300])


def nginx_lines():
    return read(NGINX_LOG).splitlines()


def check_http2_through_nginx():
    before = len(nginx_lines())
    ok, detail, _ = check_rows([f"SET imcheck.endpoint = '{VIA_NGINX}'", "SELECT imcheck_reset_stats()"],
                               5000, "h2")
    lines = nginx_lines()[before:]
    protocols = {ln.split()[0] for ln in lines}
    connections = {ln.split()[1] for ln in lines}
    report("http2: through nginx with http2, the 50 calls are HTTP/2 and share at most "
           "3 connections", ok and len(lines) == 50 and protocols == {"HTTP/2.0"} and
           len(connections) <= 3,
           f"{detail}; {len(lines)} requests, protocols {protocols}, {len(connections)} connections")


def check_http1_keeps_alive():
    """imsim itself speaks HTTP/1.1 only: connections are reused across statements."""
    psql(f"SET imcheck.endpoint = '{DIRECT}'")
    rc, out, err = psql("SELECT imcheck_reset_stats()",
                        "SELECT count(*) FROM im_account_check(ARRAY(SELECT 'ka' || g FROM generate_series(1, 2000) g))",
                        "SELECT count(*) FROM im_account_check(ARRAY(SELECT 'kb' || g FROM generate_series(1, 2000) g))",
                        "SELECT value FROM imcheck_stats WHERE api = 'account_check' AND name = 'connections_opened'")
    lines = out.splitlines()
    opened = int(lines[-1]) if rc == 0 else -1
    report("http1: with a server without HTTP/2, 40 calls in two statements keep their "
           "connections alive", rc == 0 and lines[-3:-1] == ["2000", "2000"] and 1 <= opened <= 20,
           f"{opened} connections opened: {err[:200]}")


class AppBackend(threading.Thread):
    """The app's own server, spending part of the quota: one account_check
    call of one UserID every 1/rate seconds, until stopped."""

    def __init__(self, rate):
        super().__init__(daemon=True)
        self.rate, self.codes, self.stop = rate, {}, threading.Event()

    def run(self):
        host, port = QUOTA_IMSIM.split("//")[1].split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        path = ("/v4/im_open_login_svc/account_check?sdkappid=1400000001&identifier=administrator"
                f"&usersig={QUOTA_USERSIG}&contenttype=json&random=")
        at = time.monotonic()
        n = 0
        while not self.stop.is_set():
            n += 1
            conn.request("POST", path + str(n), body=json.dumps({"CheckItem": [{"UserID": f"be{n}"}]}),
                         headers={"Content-Type": "application/json"})
            code = json.loads(conn.getresponse().read()).get("ErrorCode")
            self.codes[code] = self.codes.get(code, 0) + 1
            at += 1 / self.rate
            time.sleep(max(0.0, at - time.monotonic()))


def check_shared_quota():
    """While the app's backend spends 40 of the 100 calls a second, imcheck
    slows to what is left instead of taking its full rate: few of its calls
    and few of the backend's are refused, and no row is lost."""
    backend = AppBackend(40)
    backend.start()
    time.sleep(1.5)     # the backend is already running when the check starts
    n = 30000
    rc, out, err = psql(f"SET imcheck.endpoint = '{QUOTA_IMSIM}'", "SELECT imcheck_reset_stats()",
                        "SELECT count(*), count(*) FILTER (WHERE account_status = "
                        "CASE WHEN right(user_id, 1) IN ('0','2','4','6','8') THEN 'Imported' "
                        "ELSE 'NotImported' END) FROM im_account_check(ARRAY(SELECT 'sq' || g "
                        f"FROM generate_series(1, {n}) g))",
                        "SELECT name, value FROM imcheck_stats WHERE api = 'account_check' AND name IN ('calls', "
                        "'retries_api_rate_limited', 'rate_reductions', 'failed_calls') ORDER BY name")
    backend.stop.set()
    backend.join(timeout=10)
    if rc != 0:
        report("shared quota: imcheck slows to what another client leaves of the app's quota",
               False, err[:300])
        return
    lines = out.splitlines()
    stats = dict(line.split("|") for line in lines[-4:])
    calls, refused = int(stats["calls"]), int(stats["retries_api_rate_limited"])
    be_calls = sum(backend.codes.values())
    be_refused = backend.codes.get(60007, 0)
    # at its full rate imcheck would have a third of its calls refused, and
    # the backend as many of its own
    report("shared quota: while the app's backend spends 40 calls a second, imcheck slows to "
           "what is left: at most 8% of its calls and of the backend's are refused (60007), "
           "the rate was cut, and every row is right",
           lines[-5] == f"{n}|{n}" and int(stats["rate_reductions"]) >= 1 and
           stats["failed_calls"] == "0" and refused <= 0.08 * calls and
           be_refused <= 0.08 * be_calls and be_calls >= 100,
           f"rows {lines[-5]}; imcheck: {calls} calls, {refused} refused, "
           f"{stats['rate_reductions']} rate reductions; backend: {be_calls} calls, "
           f"{be_refused} refused")


def main():
    return run_checks((check_proxy_rows_right, check_proxy_password_never_shown,
                       check_proxy_refuses_connect, check_proxy_down, check_proxy_for_superusers_only,
                       check_environment_proxy_ignored, check_failover_to_backup, check_failover_all_down,
                       check_http2_through_nginx, check_http1_keeps_alive, check_shared_quota))


if __name__ == "__main__":
    sys.exit(main())
