"""imcheck on a hot standby (run by test/standby/run.sh, which sets the
environment: a primary and its hot standby, both against one imsim).

Each check prints "ok - NAME" or "not ok - NAME: REASON"; the exit status is
non-zero when any failed.  Python 3 standard library only; PostgreSQL is
driven through psql, imsim through urllib.
"""
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request

IMSIM = os.environ["STANDBY_IMSIM"]
SERVERS = {
    "primary": {"PGHOST": os.environ["STANDBY_PRIMARY_HOST"],
                "PGPORT": os.environ["STANDBY_PRIMARY_PORT"]},
    "standby": {"PGHOST": os.environ["STANDBY_STANDBY_HOST"],
                "PGPORT": os.environ["STANDBY_STANDBY_PORT"]},
}
LOGS = {"primary": os.environ["STANDBY_PRIMARY_LOG"],
        "standby": os.environ["STANDBY_STANDBY_LOG"]}

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reliability"))
from test_reliability import report, run_checks  # noqa: E402


def psql(server, *sql, timeout=120):
    """Runs the statements in one session of server; returns (rc, stdout, stderr)."""
    cmd = ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose"]
    for s in sql:
        cmd += ["-c", s]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, **SERVERS[server]))
    return r.returncode, r.stdout.strip(), r.stderr.strip()


def value(server, sql):
    rc, out, err = psql(server, sql)
    if rc != 0:
        raise RuntimeError(f"{server}: {sql}: {err}")
    return out


def sqlstate(stderr):
    m = re.search(r"^(?:psql:[^:]*:\d+: )?ERROR:\s+([0-9A-Z]{5}):", stderr, re.M)
    return m[1] if m else None


def first_error(stderr):
    return next((line for line in stderr.splitlines() if "ERROR" in line), stderr[:200])


def imsim_stats():
    with urllib.request.urlopen(IMSIM + "/_imsim/stats", timeout=10) as r:
        return json.loads(r.read())


def imsim_config(**kw):
    req = urllib.request.Request(IMSIM + "/_imsim/config", data=json.dumps(kw).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10).read()


def stats(server):
    """imcheck_stats of server as a dict."""
    out = value(server, "SELECT name, value FROM imcheck_stats WHERE api = 'account_check'")
    return {name: int(v) for name, v in (line.split("|") for line in out.splitlines())}


def log_size(server):
    return os.path.getsize(LOGS[server])


def log_since(server, offset):
    with open(LOGS[server], errors="replace") as f:
        f.seek(offset)
        return f.read()


def even_rule(uid):
    """imsim's default rule (test/imsim/README.md), None for per-item errors."""
    if uid == "" or len(uid.encode()) > 32:
        return None
    m = re.search(r"([0-9]{1,18})$", uid, re.ASCII)
    return "Imported" if m and int(m[1]) % 2 == 0 else "NotImported"


USERS = "ARRAY(SELECT id FROM app_users ORDER BY n)"
ROWS = (f"SELECT ord, user_id, result_code, coalesce(account_status, '-') "
        f"FROM im_account_check({USERS}) WITH ORDINALITY AS c(user_id, result_code, "
        f"account_status, result_info, ord) ORDER BY ord")


def parse_rows(out):
    return [tuple(line.split("|")) for line in out.splitlines()]


# ------------------------------------------------------------------ checks

def check_replication():
    """The standby is in recovery, and rows added on the primary after it
    started reach it (so the later checks see what the primary has)."""
    rec_s = value("standby", "SELECT pg_is_in_recovery()")
    rec_p = value("primary", "SELECT pg_is_in_recovery()")
    report("standby: pg_is_in_recovery() is true on the standby, false on the primary",
           rec_s == "t" and rec_p == "f", f"standby {rec_s}, primary {rec_p}")

    value("primary", "INSERT INTO app_users (id) VALUES (''), ('late_1'), ('late_2'), "
                     "('user_42'), (repeat('z', 33) || '4')")
    lsn = value("primary", "SELECT pg_current_wal_lsn()")
    deadline = time.monotonic() + 30
    caught_up = False
    while time.monotonic() < deadline:
        if value("standby", f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'") == "t":
            caught_up = True
            break
        time.sleep(0.1)
    n_p = value("primary", "SELECT count(*) FROM app_users")
    n_s = value("standby", "SELECT count(*) FROM app_users")
    ext_p = value("primary", "SELECT extversion FROM pg_extension WHERE extname = 'imcheck'")
    ext_s = value("standby", "SELECT extversion FROM pg_extension WHERE extname = 'imcheck'")
    report("standby: streams the primary's rows and has the extension",
           caught_up and n_p == n_s and ext_s == ext_p and ext_s != "",
           f"caught up: {caught_up}; rows primary {n_p}, standby {n_s}; "
           f"extension primary {ext_p!r}, standby {ext_s!r}")


def check_rows():
    ids = value("primary", "SELECT id FROM app_users ORDER BY n").split("\n")
    n_rows = len(ids)
    imsim_before = imsim_stats()
    rc, out_s, err = psql("standby", ROWS)
    imsim_after = imsim_stats()
    if rc != 0:
        report("rows: a check of the table on the standby works", False, first_error(err))
        return
    rows_s = parse_rows(out_s)
    want = [(str(i + 1), uid, "0" if even_rule(uid) else "70402", even_rule(uid) or "-")
            for i, uid in enumerate(ids)]
    bad = [(w, g) for w, g in zip(want, rows_s) if w != g]
    report("rows: on the standby, one row per element (repeats included), in order, "
           "as imsim's even rule says",
           len(rows_s) == n_rows and not bad,
           f"{len(rows_s)} rows for {n_rows} elements, {len(set(ids))} distinct"
           + (f"; first differences (want, got): {bad[:3]}" if bad else ""))

    rc, out_p, err = psql("primary", ROWS)
    report("rows: the standby returns exactly what the primary returns",
           rc == 0 and out_p == out_s,
           f"{len(parse_rows(out_p))} rows on the primary" if rc == 0 else first_error(err))

    items = imsim_after["items"] - imsim_before["items"]
    report("rows: the standby sends each distinct UserID once",
           items == len(set(ids)), f"imsim got {items} UserIDs for {len(set(ids))} distinct")

    # the rule in SQL, on the standby itself, over the table
    rc, out, err = psql("standby",
                        "SELECT count(*) FILTER (WHERE account_status IS DISTINCT FROM "
                        "CASE WHEN u.id = '' OR octet_length(u.id) > 32 THEN NULL "
                        "WHEN coalesce(substring(u.id from '([0-9]{1,18})$')::bigint % 2 = 0, "
                        "false) THEN 'Imported' ELSE 'NotImported' END), count(*) "
                        "FROM app_users u JOIN im_account_check(ARRAY(SELECT id FROM "
                        "app_users)) c ON c.user_id = u.id")
    # the join multiplies repeats: every row must still agree with the rule
    wrong, joined = (out.split("|") + ["?"])[:2] if rc == 0 else ("?", "?")
    want_joined = sum(ids.count(u) ** 2 for u in set(ids))
    report("rows: joined to the table on the standby, every status agrees with the rule in SQL",
           rc == 0 and wrong == "0" and joined == str(want_joined),
           f"{wrong} wrong of {joined} joined rows (want {want_joined})" if rc == 0
           else first_error(err))


def check_stats():
    before_s, before_p = stats("standby"), stats("primary")
    imsim_before = imsim_stats()["calls"]
    statements = [
        "SELECT count(*) FROM im_account_check(ARRAY(SELECT 'st_' || g FROM "
        "generate_series(1, 250) g))",					# 3 calls
        "SELECT count(*) FROM im_account_check(ARRAY['st_a1', 'st_a2', 'st_a1'])",
        "SELECT count(*) FROM im_account_check(ARRAY(SELECT 'st_b' || g FROM "
        "generate_series(1, 100) g))",					# 1 call
    ]
    for s in statements:
        rc, _, err = psql("standby", s)
        if rc != 0:
            report("stats: on the standby, imcheck_stats counts the calls imsim saw", False,
                   first_error(err))
            return
    imsim_calls = imsim_stats()["calls"] - imsim_before
    after_s, after_p = stats("standby"), stats("primary")
    d = {k: after_s.get(k, 0) - before_s.get(k, 0) for k in ("checks", "calls", "user_ids")}
    ok = (imsim_calls == 5 and d["calls"] == imsim_calls and
          d["checks"] == len(statements) and d["user_ids"] == 250 + 2 + 100)
    report("stats: on the standby, imcheck_stats counts the calls imsim saw",
           ok, f"imsim saw {imsim_calls} calls (want 5); standby counted {d}")
    dp = {k: after_p.get(k, 0) - before_p.get(k, 0) for k in ("checks", "calls", "user_ids")}
    report("stats: the standby's checks are not in the primary's imcheck_stats "
           "(separate shared memory)", dp == {"checks": 0, "calls": 0, "user_ids": 0},
           f"primary's counters moved by {dp}")

    rc, _, err = psql("standby", "SELECT imcheck_reset_stats()")
    after_reset_s, after_reset_p = stats("standby"), stats("primary")
    report("stats: imcheck_reset_stats() works on the standby and leaves the primary's alone",
           rc == 0 and after_reset_s.get("checks") == 0 and after_reset_s.get("calls") == 0 and
           after_reset_p.get("calls") == after_p.get("calls") and after_p.get("calls", 0) > 0,
           f"standby checks {after_reset_s.get('checks')}, calls {after_reset_s.get('calls')}; "
           f"primary calls {after_p.get('calls')} -> {after_reset_p.get('calls')}"
           if rc == 0 else first_error(err))


def check_progress():
    """A long check on the standby shows in the standby's imcheck_progress
    (not in the primary's), and its row is gone when it ends."""
    rc, out, err = psql("standby", "SELECT count(*) FROM imcheck_progress")
    report("progress: imcheck_progress can be read on the standby", rc == 0 and out == "0",
           f"{out} rows while idle" if rc == 0 else first_error(err))

    imsim_config(latency_ms=100)
    env = dict(os.environ, PGAPPNAME="standby_long", **SERVERS["standby"])
    p = subprocess.Popen(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
                          "-c", "SET imcheck.max_concurrency = 1",
                          "-c", "SELECT count(*) FROM im_account_check(ARRAY(SELECT 'long' || g "
                                "FROM generate_series(1, 3000) g))"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    seen = None
    primary_rows = None
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and p.poll() is None:
            rc, out, _ = psql("standby",
                              "SELECT p.pid, p.user_ids, p.calls FROM imcheck_progress p "
                              "JOIN pg_stat_activity a USING (pid) "
                              "WHERE a.application_name = 'standby_long' AND p.calls > 1")
            if rc == 0 and out:
                seen = out.splitlines()[0].split("|")
                primary_rows = value("primary", "SELECT count(*) FROM imcheck_progress")
                break
            time.sleep(0.05)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
        imsim_config(latency_ms=0)
    report("progress: a running check on the standby is in its imcheck_progress, "
           "not in the primary's",
           seen is not None and seen[1] == "3000" and primary_rows == "0",
           f"standby row pid {seen[0]}, user_ids {seen[1]}, calls {seen[2]}; primary rows "
           f"{primary_rows}" if seen else f"no row seen; check: {out} {err}")
    rc, left, _ = psql("standby", "SELECT count(*) FROM imcheck_progress")
    report("progress: the row is gone when the check ends",
           p.returncode == 0 and out.strip() == "3000" and left == "0",
           f"check rc {p.returncode} ({out.strip()}), rows left {left}")


FAULT_IDS = "ARRAY['f1', 'f2', 'f3']"


def fault_sqlstates(fault, *settings):
    """The SQLSTATE of a failed check on each server, while imsim injects fault."""
    got = {}
    imsim_config(faults={fault: 1}, fault_budget=-1)
    try:
        for server in ("primary", "standby"):
            rc, out, err = psql(server, *settings,
                                f"SELECT count(*) FROM im_account_check({FAULT_IDS}, "
                                f"raise_on_error => true)")
            got[server] = (rc, sqlstate(err), first_error(err) if rc else out)
    finally:
        imsim_config(faults={})
    return got


def check_errors():
    for fault, settings, want in (("code70402", (), "38000"),
                                  ("http502", ("SET imcheck.max_retries = 0",), "08006"),
                                  ("code70403", (), "42501")):
        got = fault_sqlstates(fault, *settings)
        ok = all(rc != 0 and state == want for rc, state, _ in got.values())
        report(f"errors: imsim's {fault} makes a check with raise_on_error => true fail with "
               f"SQLSTATE {want}, on the standby as on the primary", ok,
               f"primary {got['primary'][1]}, standby {got['standby'][1]}: "
               f"{got['standby'][2]}")

    imsim_config(faults={"code70402": 1}, fault_budget=-1)
    try:
        rc, out, err = psql("standby", f"SELECT user_id, result_code FROM "
                                       f"im_account_check({FAULT_IDS}, raise_on_error => false)")
    finally:
        imsim_config(faults={})
    report("errors: with raise_on_error => false the standby returns the failed call's rows",
           rc == 0 and out.splitlines() == ["f1|70402", "f2|70402", "f3|70402"],
           out.replace("\n", " ") if rc == 0 else first_error(err))

    rc, out, err = psql("standby", f"SELECT count(*) FROM im_account_check({FAULT_IDS})")
    report("errors: after the faults, the standby's next check works",
           rc == 0 and out == "3", out if rc == 0 else first_error(err))


def check_log():
    """One line per check in the standby's own log, whatever its end; none
    of them in the primary's."""
    off_s, off_p = log_size("standby"), log_size("primary")
    sizes = (3, 5, 7)
    for n in sizes:
        psql("standby", f"SELECT count(*) FROM im_account_check(ARRAY(SELECT 'log{n}_' || g "
                        f"FROM generate_series(1, {n}) g))")
    imsim_config(faults={"code70402": 1}, fault_budget=-1)
    try:
        psql("standby", "SELECT count(*) FROM im_account_check(ARRAY['logf1', 'logf2'])")
    finally:
        imsim_config(faults={})
    time.sleep(0.3)
    log_s, log_p = log_since("standby", off_s), log_since("primary", off_p)
    done = re.findall(r"LOG:  imcheck checked (\d+) UserIDs \(distinct: \d+, calls: 1,", log_s)
    failed = re.findall(r"LOG:  imcheck check of 2 UserIDs failed with SQLSTATE 38000 "
                        r"\(distinct: 2, calls: 1,", log_s)
    report("log: the standby's server log has one imcheck line per check, done or failed",
           done == [str(n) for n in sizes] and len(failed) == 1,
           f"done lines for {done}, {len(failed)} failed line(s)")
    report("log: the standby's checks are not logged by the primary",
           "imcheck" not in log_p, re.findall(r".*imcheck.*", log_p)[:2])

    rc, _, err = psql("standby", "SET imcheck.log_level = notice",
                      "SELECT count(*) FROM im_account_check(ARRAY['lvl1', 'lvl2'])")
    report("log: imcheck.log_level = notice on the standby sends the line to the client",
           rc == 0 and re.search(r"NOTICE:  (?:00000: )?imcheck checked 2 UserIDs", err),
           err.splitlines()[0] if err else "no NOTICE")


def check_read_only():
    """A check needs no write: it works in a READ ONLY transaction, on the
    standby as on the primary, and gets no transaction ID (so writes no WAL)."""
    for server in ("standby", "primary"):
        rc, out, err = psql(server, "BEGIN TRANSACTION READ ONLY",
                            "SELECT count(*) FROM im_account_check(ARRAY(SELECT id FROM "
                            "app_users))",
                            "SELECT current_setting('transaction_read_only'), "
                            "pg_current_xact_id_if_assigned() IS NULL",
                            "COMMIT")
        n = value(server, "SELECT count(*) FROM app_users")
        report(f"read only: a check in BEGIN TRANSACTION READ ONLY on the {server} works and "
               f"assigns no transaction ID",
               rc == 0 and out.splitlines() == [n, "on|t"],
               out.replace("\n", " ") if rc == 0 else first_error(err))

    # a failed check inside a read-only transaction on the standby: a
    # savepoint takes it back and the transaction goes on
    imsim_config(faults={"code70402": 1}, fault_budget=1)
    try:
        rc, out, err = psql("standby", "BEGIN TRANSACTION READ ONLY", "SAVEPOINT s",
                            "\\set ON_ERROR_STOP 0",
                            f"SELECT count(*) FROM im_account_check({FAULT_IDS})",
                            "\\set ON_ERROR_STOP 1",
                            "ROLLBACK TO SAVEPOINT s",
                            f"SELECT count(*) FROM im_account_check({FAULT_IDS})",
                            "COMMIT")
    finally:
        imsim_config(faults={})
    report("read only: on the standby a failed check rolls back to a savepoint and the "
           "next check in the transaction works",
           rc == 0 and sqlstate(err) == "38000" and out == "3",
           f"first {sqlstate(err)}, then {out}" if rc == 0 else first_error(err))

    # and the standby really refuses writes (so the above proves something)
    rc, _, err = psql("standby", "CREATE TABLE standby_write (x int)")
    report("read only: the standby refuses a write (25006)",
           rc != 0 and sqlstate(err) == "25006", first_error(err))

    # the table procedure writes: refused before anything, saying why
    calls = imsim_stats()["calls"]
    rc, _, err = psql("standby", "CALL im_account_check_table('app_users', 'id', 'standby_status')")
    report("read only: im_account_check_table on the standby is refused (25006) before any call",
           rc != 0 and sqlstate(err) == "25006" and "hot standby" in err
           and imsim_stats()["calls"] == calls, first_error(err))


def check_both_at_once():
    """The primary and the standby checking at the same time each get their
    own rows (two servers, two rate budgets, one imsim)."""
    results = {}

    def run(server):
        results[server] = psql(server, ROWS)

    threads = [threading.Thread(target=run, args=(s,)) for s in SERVERS]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    rc_p, out_p, err_p = results.get("primary", (1, "", "no result"))
    rc_s, out_s, err_s = results.get("standby", (1, "", "no result"))
    ids = value("primary", "SELECT id FROM app_users ORDER BY n").split("\n")
    want = "\n".join(f"{i + 1}|{uid}|{'0' if even_rule(uid) else '70402'}|"
                     f"{even_rule(uid) or '-'}" for i, uid in enumerate(ids))
    report("concurrency: the primary and the standby checking at once both get the right rows",
           rc_p == 0 and rc_s == 0 and out_p == want and out_s == want,
           f"{len(out_p.splitlines())} and {len(out_s.splitlines())} rows" if rc_p == rc_s == 0
           else f"{first_error(err_p)} / {first_error(err_s)}")


def main():
    return run_checks((check_replication, check_rows, check_stats, check_progress, check_errors,
                       check_log, check_read_only, check_both_at_once))


if __name__ == "__main__":
    sys.exit(main())
