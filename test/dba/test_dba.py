"""What a DBA meets (run by test/dba/run.sh, which sets the environment).

Each check prints "ok - NAME" or "not ok - NAME: REASON"; the exit status is
non-zero when any failed.  Python 3 standard library only; PostgreSQL is
driven through psql (PGHOST/PGPORT/PGUSER come from run.sh).
"""
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reliability"))
from test_reliability import report, run_checks  # noqa: E402

IMSIM = os.environ["DBA_IMSIM"]
TMP = os.environ["DBA_TMP"]
KEY = os.environ["DBA_KEY"]
DATA = os.environ["DBA_DATA"]
MISTAKE = os.path.join(TMP, "mistake.conf")
KEY_FILE = os.path.join(TMP, "imcheck.key")
SERVER_LOG = os.path.join(TMP, "server.log")


def psql(*sql, env=None, timeout=120):
    """Runs the statements in one session; returns (rc, stdout, stderr)."""
    cmd = ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose"]
    for s in sql:
        cmd += ["-c", s]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, **(env or {})))
    return r.returncode, r.stdout.strip(), r.stderr.strip()


def sqlstate(stderr):
    m = re.search(r"^(?:psql:[^:]*:\d+: )?ERROR:\s+([0-9A-Z]{5}):", stderr, re.M)
    return m[1] if m else None


def imsim_calls():
    with urllib.request.urlopen(IMSIM + "/_imsim/stats", timeout=10) as r:
        return json.loads(r.read())["calls"]


def imsim_config(**kw):
    req = urllib.request.Request(IMSIM + "/_imsim/config", data=json.dumps(kw).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10).read()


def log_size():
    return os.path.getsize(SERVER_LOG)


def log_since(offset):
    with open(SERVER_LOG, errors="replace") as f:
        f.seek(offset)
        return f.read()


def write_mistake(text):
    with open(MISTAKE, "w") as f:
        f.write(text)


def reload_and_wait(setting, want):
    """Reloads, and waits until a new session sees setting = want."""
    psql("SELECT pg_reload_conf()")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rc, out, _ = psql(f"SHOW {setting}")
        if rc == 0 and out == want:
            return True
        time.sleep(0.1)
    return False


CHECK = "SELECT count(*) FROM im_account_check(ARRAY['dba1', 'dba2'])"


def good_call_works():
    rc, out, err = psql(CHECK)
    return rc == 0 and out == "2", f"{out} {err}"


# ------------------------------------------------- configuration fails closed

MISTAKES = [
    # name, lines for postgresql.conf, the setting whose value took effect
    # (and its value), what the error must name, the SQLSTATE
    ("an endpoint with a misspelt scheme", "imcheck.endpoint = 'htp://127.0.0.1:1'\n",
     ("imcheck.endpoint", "htp://127.0.0.1:1"), "imcheck.endpoint", "22023"),
    ("an endpoint without a scheme", "imcheck.endpoint = '127.0.0.1:18080'\n",
     ("imcheck.endpoint", "127.0.0.1:18080"), "imcheck.endpoint", "22023"),
    ("an endpoint with a query string", "imcheck.endpoint = 'http://127.0.0.1:1/?x=1'\n",
     ("imcheck.endpoint", "http://127.0.0.1:1/?x=1"), "imcheck.endpoint", "22023"),
    ("a misspelt region", "imcheck.endpoint = ''\nimcheck.region = 'singpore'\n",
     ("imcheck.region", "singpore"), "imcheck.region", "22023"),
    ("an SDKAppID that is not a number", "imcheck.sdkappid = '14000x'\n",
     ("imcheck.sdkappid", "14000x"), "imcheck.sdkappid\" is not a valid SDKAppID", "22023"),
    ("a CA file that does not exist", "imcheck.ca_file = '/nonexistent/ca.pem'\n",
     ("imcheck.ca_file", "/nonexistent/ca.pem"), "imcheck.ca_file", "58P01"),
]


def check_mistake(name, lines, shown, want_text, want_state):
    write_mistake(lines)
    if not reload_and_wait(*shown):
        return False, f"after the reload {shown[0]} is not {shown[1]!r}: the value was dropped"
    before = imsim_calls()
    rc, out, err = psql(CHECK)
    after = imsim_calls()
    problems = []
    if rc == 0:
        problems.append(f"the call succeeded ({out})")
    if want_text not in err:
        problems.append(f"the error does not name {want_text!r}")
    if sqlstate(err) != want_state:
        problems.append(f"SQLSTATE {sqlstate(err)}, want {want_state}")
    if after != before:
        problems.append(f"{after - before} calls reached imsim")
    first = err.splitlines()[0] if err else ""
    return not problems, "; ".join(problems) + f" [{first}]" if problems else first


def check_config_mistakes():
    for name, lines, shown, want_text, want_state in MISTAKES:
        ok, detail = check_mistake(name, lines, shown, want_text, want_state)
        report(f"config: {name} in postgresql.conf, reloaded, makes the call raise and "
               f"sends nothing", ok, detail)
        write_mistake("")
        psql("SELECT pg_reload_conf()")
        time.sleep(0.3)
    ok, detail = good_call_works()
    report("config: with the mistakes taken out again, the call works", ok, detail)


def check_mistake_at_start():
    write_mistake("imcheck.endpoint = 'htp://127.0.0.1:1'\n")
    r = subprocess.run(["runuser", "-u", "postgres", "--", "pg_ctl", "-D", DATA, "-w",
                        "-t", "60", "-l", SERVER_LOG, "restart"], capture_output=True, text=True)
    if r.returncode != 0:
        report("config: a bad endpoint read at server start makes the call raise", False,
               f"restart failed: {r.stderr}")
        return
    before = imsim_calls()
    rc, out, err = psql(CHECK)
    ok = rc != 0 and "imcheck.endpoint" in err and imsim_calls() == before
    report("config: a bad endpoint read at server start makes the call raise", ok,
           (err.splitlines() or [""])[0] if ok else f"rc {rc}, {out} {err}")
    write_mistake("")
    psql("SELECT pg_reload_conf()")
    time.sleep(0.3)


def check_parallel_query_with_a_kept_mistake():
    """A parallel worker takes the leader's settings as they are: a bad value
    kept from postgresql.conf must not break parallel queries."""
    write_mistake("imcheck.endpoint = 'htp://127.0.0.1:1'\n")
    try:
        if not reload_and_wait("imcheck.endpoint", "htp://127.0.0.1:1"):
            report("config: parallel queries work while a bad value is kept", False,
                   "the value was not taken")
            return
        psql("CREATE TABLE IF NOT EXISTS dba_par AS SELECT g FROM generate_series(1, 200000) g")
        rc, out, err = psql("SET parallel_setup_cost = 0", "SET parallel_tuple_cost = 0",
                            "SET min_parallel_table_scan_size = 0",
                            "SET max_parallel_workers_per_gather = 2",
                            "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) SELECT count(*) FROM dba_par")
        m = re.search(r"Workers Launched: (\d+)", out)
        report("config: parallel queries work while a bad value is kept",
               rc == 0 and m is not None and int(m[1]) > 0,
               m[0] if rc == 0 and m else f"rc {rc}: {err or out}")
    finally:
        write_mistake("")
        psql("SELECT pg_reload_conf()")
        time.sleep(0.3)


def check_set_refused_at_once():
    """Typed by someone, a bad value is refused when it is set."""
    rc, _, err = psql("SET imcheck.endpoint = 'htp://x'")
    ok = rc != 0 and sqlstate(err) == "22023" and "imcheck.endpoint" in err
    rc2, _, err2 = psql("SET imcheck.region = 'singpore'")
    ok = ok and rc2 != 0 and "regions are" in err2
    rc3, _, err3 = psql("ALTER SYSTEM SET imcheck.endpoint = 'htp://x'")
    ok = ok and rc3 != 0 and "imcheck.endpoint" in err3
    report("config: SET or ALTER SYSTEM of a bad endpoint or region is refused at once", ok,
           f"{err} / {err2} / {err3}" if not ok else "")


# ------------------------------------------------------------- the messages

def check_key_file_hint():
    with open(KEY_FILE, "w") as f:
        f.write("0" * 64 + "\n")		# not the app's key: the service says 70009
    try:
        rc, _, err = psql(CHECK)
    finally:
        with open(KEY_FILE, "w") as f:
            f.write(KEY + "\n")
    want = f'"imcheck.secret_key_file" (file "{KEY_FILE}")'
    hint = next((line for line in err.splitlines() if line.startswith("HINT:")), "")
    report("messages: a wrong key's hint names the key file it came from",
           rc != 0 and "70009" in err and want in hint, hint or err)
    ok, detail = good_call_works()
    report("messages: with the right key back in the file, the call works at once", ok, detail)


def check_transport_hints():
    port = IMSIM.rsplit(":", 1)[1]
    rc, _, err = psql("SET imcheck.max_retries = 3",
                      f"SET imcheck.endpoint = 'https://127.0.0.1:{port}'", CHECK)
    hint = next((line for line in err.splitlines() if line.startswith("HINT:")), "")
    ok = (rc != 0 and "could not call the IM API" in err and
          f'Check "imcheck.endpoint" (calls go to https://127.0.0.1:{port})' in hint)
    report("messages: https:// to a plain HTTP server raises at once, naming the setting "
           "and the URL", ok, hint if ok else err)
    rc, _, err = psql("SET imcheck.max_retries = 1", "SET imcheck.endpoint = 'http://127.0.0.1:9'",
                      CHECK)
    hint = next((line for line in err.splitlines() if line.startswith("HINT:")), "")
    ok = (rc != 0 and "could not connect to the IM API in 2 attempts" in err and
          "http://127.0.0.1:9 refuses connections" in hint and '"imcheck.endpoint"' in hint)
    report("messages: a refused connection says so, naming the setting and the URL",
           ok, hint if ok else err)


# ------------------------------------------ a secret everyone could have read

def check_inline_key_without_preload():
    """Not preloaded, an inline key was readable by every role: refused; the
    key file works."""
    lazy = {"PGHOST": os.environ["DBA_LAZY_HOST"], "PGPORT": os.environ["DBA_LAZY_PORT"]}
    before = imsim_calls()
    rc, _, err = psql(CHECK, env=lazy)
    ok = (rc != 0 and sqlstate(err) == "42501" and
          'refuses to use "imcheck.secret_key" because imcheck is not preloaded' in err and
          "imcheck.secret_key_file" in err and imsim_calls() == before)
    report("secrets: without preloading, an inline key is refused and nothing is sent", ok,
           (err.splitlines() or [""])[0] if ok else err)
    with open(os.environ["DBA_LAZY_KEYCONF"], "w") as f:
        f.write(f"imcheck.secret_key_file = '{KEY_FILE}'\n")
    psql("SELECT pg_reload_conf()", env=lazy)
    time.sleep(0.5)
    rc, out, err = psql(CHECK, env=lazy)
    report("secrets: without preloading, the key file works (with the preload WARNING)",
           rc == 0 and out == "2" and "is not loaded through" in err, f"{out} {err}")


# --------------------------------------------------------- every check logged

LONG = ("SELECT count(*) FROM im_account_check("
        "ARRAY(SELECT 'long' || g FROM generate_series(1, 20000) g))")


def start_long(app):
    """A check of 20,000 IDs one call at a time (about 10 s)."""
    env = dict(os.environ, PGAPPNAME=app)
    p = subprocess.Popen(["psql", "-X", "-q", "-At", "-v", "VERBOSITY=verbose",
                          "-c", "SET imcheck.max_concurrency = 1", "-c", LONG],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rc, out, _ = psql(f"SELECT p.pid FROM imcheck_progress() p JOIN pg_stat_activity a "
                          f"USING (pid) WHERE a.application_name = '{app}' AND p.calls > 2")
        if rc == 0 and out:
            return p, int(out.splitlines()[0])
        time.sleep(0.05)
    return p, None


def check_cancelled_is_logged():
    offset = log_size()
    p, pid = start_long("dba_cancel")
    if pid is None:
        p.kill()
        report("logs: a cancelled check is logged with its SQLSTATE and the calls spent",
               False, "the check did not start")
        return
    psql(f"SELECT pg_cancel_backend({pid})")
    _, err = p.communicate(timeout=60)
    time.sleep(0.3)
    log = log_since(offset)
    m = re.search(r"imcheck check of 20000 UserIDs failed with SQLSTATE 57014 "
                  r"\(distinct: 20000, calls: (\d+),", log)
    report("logs: a cancelled check is logged with its SQLSTATE and the calls spent",
           "57014" in err and m is not None and int(m[1]) > 0,
           m[0] if m else f"log: {log[-500:]!r}")


def check_failed_is_logged():
    offset = log_size()
    imsim_config(faults={"code70402": 1}, fault_budget=-1)
    try:
        rc, _, err = psql(CHECK)
    finally:
        imsim_config(faults={})
    time.sleep(0.3)
    log = log_since(offset)
    # with the failed call's random, as in the error's DETAIL
    m = re.search(r"imcheck check of 2 UserIDs failed with SQLSTATE 38000 \(distinct: 2, calls: 1,"
                  r".*\(random of the last failed call: (\d+)\)", log)
    ok = rc != 0 and sqlstate(err) == "38000" and m and f"(random {m[1]})" in err
    report("logs: a failed check is logged with its SQLSTATE and its failed call's random", bool(ok),
           "" if ok else f"{err} / log: {log[-400:]!r}")


def check_terminated_backend():
    offset = log_size()
    p, pid = start_long("dba_terminate")
    if pid is None:
        p.kill()
        report("progress: a terminated backend's row is gone", False, "the check did not start")
        return
    psql(f"SELECT pg_terminate_backend({pid})")
    t0 = time.monotonic()
    gone = None
    while time.monotonic() - t0 < 5:
        rc, out, _ = psql(f"SELECT count(*) FROM imcheck_progress() WHERE pid = {pid}")
        if rc == 0 and out == "0":
            gone = time.monotonic() - t0
            break
        time.sleep(0.02)
    p.communicate(timeout=60)
    report("progress: a terminated backend's row is gone", gone is not None,
           f"gone {gone * 1000:.0f} ms after pg_terminate_backend" if gone is not None
           else "still there 5 s after pg_terminate_backend")
    time.sleep(0.3)
    log = log_since(offset)
    m = re.search(r"imcheck check of 20000 UserIDs ended with the backend's exit "
                  r"\(done: \d+, calls: (\d+)\) after \d+ ms", log)
    report("logs: a terminated check is logged with the calls spent",
           m is not None and int(m[1]) > 0, m[0] if m else f"log: {log[-500:]!r}")


def main():
    return run_checks((check_config_mistakes, check_mistake_at_start,
                       check_parallel_query_with_a_kept_mistake, check_set_refused_at_once,
                       check_key_file_hint, check_transport_hints, check_inline_key_without_preload,
                       check_cancelled_is_logged, check_failed_is_logged, check_terminated_backend))


if __name__ == "__main__":
    sys.exit(main())
