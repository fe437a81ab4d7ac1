"""CALL im_account_check_table() with more than one session (run by
test/table/run.sh, which sets the environment).

Each check prints "ok - NAME" or "not ok - NAME: REASON"; the exit status is
non-zero when any failed.  Python 3 standard library only; PostgreSQL is
driven through psql (PGHOST/PGPORT/PGUSER come from run.sh).  Nothing here
depends on how fast the machine is: runs that must be caught in the middle
are slowed by imsim's latency and imcheck.max_concurrency, and each step
waits for what it needs to see (a commit, a new chunk) rather than for a
time.
"""
import contextlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reliability"))
from test_reliability import note, report, run_checks  # noqa: E402

IMSIM = os.environ["TABLE_IMSIM"]
DATA = os.environ["TABLE_DATA"]
LOG = os.environ["TABLE_LOG"]


def psql(*sql, options="", timeout=600):
    """Runs the statements in one session; returns (rc, stdout, stderr)."""
    cmd = ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"]
    for s in sql:
        cmd += ["-c", s]
    env = dict(os.environ, PGOPTIONS=options)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    return r.returncode, r.stdout.strip(), r.stderr.strip()


def value(sql):
    rc, out, err = psql(sql)
    if rc != 0:
        raise RuntimeError(f"{sql}: {err}")
    return out


def start_call(call, options=""):
    """A CALL in a session of its own, in the background."""
    return subprocess.Popen(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", call],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PGOPTIONS=options))


def imsim(path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(IMSIM + path, data=data, method="GET" if body is None else "POST")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def imsim_calls():
    return imsim("/_imsim/stats")["calls"]


def wait_for(what, fn, timeout=300):
    """Polls fn until it returns something true; raises after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise TimeoutError(f"waited {timeout} s for {what}")


def run_row(target, cols):
    return value(f"SELECT {cols} FROM imcheck_table_runs WHERE target = 'public.{target}' "
                 "ORDER BY run_id DESC LIMIT 1")


def make_users(table, n, prefix):
    value(f"DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id text PRIMARY KEY, name text); "
          f"INSERT INTO {table} SELECT '{prefix}' || g, 'user ' || g FROM generate_series(1, {n}) g; "
          f"ANALYZE {table}; SELECT 1")


def differing(users, target):
    """Rows of the target that differ from what im_account_check gives."""
    return int(value(f"""
        SELECT count(*) FROM {target} s
          FULL JOIN im_account_check(ARRAY(SELECT id FROM {users})) c USING (user_id)
         WHERE s.user_id IS NULL OR c.user_id IS NULL OR s.result_code <> c.result_code
            OR s.account_status IS DISTINCT FROM c.account_status
            OR s.result_info <> c.result_info"""))


# slow enough to be caught in the middle, whatever the machine: each call
# takes 20 ms at least, one or two at a time
SLOW = "-c imcheck.max_concurrency=2"


def slow_imsim(on):
    imsim("/_imsim/config", {"latency_ms": 20 if on else 0})


@contextlib.contextmanager
def slow_run(users, target, chunk):
    """A CALL into target running in the background, slowed to be caught in
    the middle; afterwards imsim is fast again, and a run still going is
    cancelled."""
    slow_imsim(True)
    p = start_call(f"CALL im_account_check_table('{users}', 'id', '{target}', "
                   f"chunk_size => {chunk})", SLOW)
    try:
        yield p
    finally:
        slow_imsim(False)
        if p.poll() is None:
            psql(f"SELECT pg_cancel_backend(pid) FROM imcheck_table_runs "
                 f"WHERE target = 'public.{target}' AND state = 'running'")
            p.wait(timeout=60)


def continue_and_compare(label, users, target, n, chunk):
    """A stopped run called again: it goes on from where it stopped and
    finishes, and every target row is what im_account_check gives; then the
    two tables go."""
    rc, _, err = psql(f"CALL im_account_check_table('{users}', 'id', '{target}', "
                      f"chunk_size => {chunk})")
    row = run_row(target, "state || ' ' || resumed || ' ' || ids_done")
    report(f"{label}: called again, the run goes on and finishes",
           rc == 0 and row == f"finished 1 {n}", f"{row} {err}")
    diff = differing(users, target)
    report(f"{label}: every target row is what im_account_check gives", diff == 0,
           f"{diff} rows differ")
    value(f"DROP TABLE {users}, {target}; SELECT 1")


def check_300k():
    n = 300000
    make_users("users_300k", n, "big")
    imsim("/_imsim/stats/reset", {})
    rc, _, err = psql("CALL im_account_check_table('users_300k', 'id', 'status_300k', "
                      "chunk_size => 50000)")
    report("300,000 users: the CALL succeeds", rc == 0, err)
    calls = imsim_calls()
    report("300,000 users: one call per 100 IDs", calls == n // 100, f"{calls} calls")
    diff = differing("users_300k", "status_300k")
    report("300,000 users: every target row is what im_account_check gives", diff == 0,
           f"{diff} rows differ")
    row = run_row("status_300k", "state || ' ' || ids_done || ' ' || calls || ' ' || last_key")
    report("300,000 users: the run is finished, with its counts and last key",
           row == f"finished {n} {n // 100} big99999", row)
    value("DROP TABLE users_300k, status_300k; SELECT 1")


def check_terminate_and_continue():
    n, chunk = 40000, 2000
    make_users("users_stop", n, "stop")
    imsim("/_imsim/stats/reset", {})
    with slow_run("users_stop", "status_stop", chunk) as p:
        # a chunk committed, and more under way
        wait_for("a first commit", lambda: run_row("status_stop", "last_key IS NOT NULL") == "t")
        pid = run_row("status_stop", "pid")
        stopped_at = value(f"SELECT ids_done FROM imcheck_table_runs WHERE pid = {pid}")
        value(f"SELECT pg_terminate_backend({pid})")
        p.wait(timeout=60)
        state = wait_for("the view to see the stop",
                         lambda: run_row("status_stop", "state") == "stopped" and "stopped")
        report("terminated mid-run: the view says the run stopped", state == "stopped",
               f"state {state}")
        committed = int(value("SELECT count(*) FROM status_stop"))
        report("terminated mid-run: the chunks committed before stay",
               0 < committed < n, f"{committed} rows (ids_done {stopped_at} when terminated)")
        calls_before = imsim_calls()
        rc, _, err = psql("CALL im_account_check_table('users_stop', 'id', 'status_stop', "
                          f"chunk_size => {chunk})", options=SLOW)
        report("terminated mid-run: called again, it finishes", rc == 0, err)
    row = run_row("status_stop", "state || ' ' || resumed || ' ' || ids_done")
    report("terminated mid-run: the same run went on (resumed once, every ID stored once)",
           row == f"finished 1 {n}", row)
    total = imsim_calls()
    # what an unstopped run costs, plus at most one chunk's calls and the
    # calls in flight when it stopped (imcheck.max_concurrency = 2)
    bound = n // 100 + chunk // 100 + 2
    report("terminated mid-run: API calls at most an unstopped run's plus one chunk's",
           n // 100 <= total <= bound,
           f"{total} calls ({calls_before} before the second CALL), bound {bound}")
    diff = differing("users_stop", "status_stop")
    report("terminated mid-run: every target row is what im_account_check gives", diff == 0,
           f"{diff} rows differ")
    value("DROP TABLE users_stop, status_stop; SELECT 1")


def check_server_restart():
    n, chunk = 40000, 1000
    make_users("users_restart", n, "restart")
    with slow_run("users_restart", "status_restart", chunk) as p:
        wait_for("a first commit", lambda: run_row("status_restart", "last_key IS NOT NULL") == "t")
        r = subprocess.run(["runuser", "-u", "postgres", "--", "pg_ctl", "-D", DATA, "-l", LOG,
                            "-m", "immediate", "-w", "-t", "120", "restart"],
                           capture_output=True, text=True, timeout=180)
        if r.returncode != 0:
            raise RuntimeError(f"pg_ctl restart: {r.stderr}")
        p.wait(timeout=60)
    wait_for("the server after the restart", lambda: psql("SELECT 1")[0] == 0)
    state = run_row("status_restart", "state")
    report("a server restart mid-run: the view says the run stopped", state == "stopped", state)
    continue_and_compare("a server restart mid-run", "users_restart", "status_restart", n, chunk)


def vacuum_removed(table):
    """VACUUM VERBOSE's (removed, dead but not yet removable) for table."""
    rc, out, err = psql(f"VACUUM (VERBOSE) {table}")
    m = re.search(r"tuples: (\d+) removed, \d+ remain, (\d+) are dead but not yet removable", err)
    if not m:
        raise RuntimeError(f"no tuple counts in VACUUM VERBOSE: {err}")
    return int(m[1]), int(m[2])


def check_snapshots_and_vacuum():
    n, chunk = 40000, 2000
    make_users("users_vac", n, "vac")
    value("DROP TABLE IF EXISTS junk; CREATE TABLE junk AS SELECT g FROM generate_series(1, 1000) g;"
          " ALTER TABLE junk SET (autovacuum_enabled = off); SELECT 1")
    with slow_run("users_vac", "status_vac", chunk):
        pid = wait_for("the run", lambda: run_row("status_vac", "pid"))

        def horizon():
            # what the backend holds back: its snapshot's xmin, else its xid
            return value(f"SELECT coalesce(least(backend_xmin::text::bigint, backend_xid::text::bigint)::text, '')"
                         f" FROM pg_stat_activity WHERE pid = {pid}")
        first = wait_for("the run's first xid", horizon)
        seen = [first]

        def moved():
            h = horizon()
            if h and h != seen[-1]:
                seen.append(h)
            return len(seen) >= 3

        wait_for("two new chunks", moved)
        value("DELETE FROM junk; SELECT 1")
        deleted_in = seen[-1]
        wait_for("a chunk begun after the delete", lambda: (h := horizon()) and h != deleted_in)
        removed, kept = vacuum_removed("junk")
        still = run_row("status_vac", "state")
        report("during a run: its horizon moves from chunk to chunk", len(seen) >= 3,
               f"xmin/xid seen: {' '.join(seen)}")
        report("during a run: VACUUM removes the rows deleted before the current chunk began",
               removed == 1000 and kept == 0 and still == "running",
               f"removed {removed}, dead but not yet removable {kept}, run {still}")
    value("DROP TABLE users_vac, status_vac, junk; SELECT 1")


def check_second_run_refused():
    n, chunk = 40000, 1000
    make_users("users_two", n, "two")
    with slow_run("users_two", "status_two", chunk) as p:
        wait_for("the first run", lambda: run_row("status_two", "state") == "running")
        rc, _, err = psql("CALL im_account_check_table('users_two', 'id', 'status_two')",
                          options="-c lock_timeout=0 -c statement_timeout=0")
        first = run_row("status_two", "state")
        report("two runs on one target: the second is refused at once, the first goes on",
               rc != 0 and "is already running" in err and first == "running",
               f"rc {rc}, first run {first}, stderr: {err}")
        note(err.splitlines()[0] if err else "no error")
        # and from another source too: the lock is the target's
        make_users("users_other", 100, "other")
        rc, _, err = psql("CALL im_account_check_table('users_other', 'id', 'status_two')")
        report("two runs on one target: refused from another source too",
               rc != 0 and "is already running" in err, f"rc {rc}, stderr: {err}")
        p.wait(timeout=300)
    report("two runs on one target: the first one finishes", p.returncode == 0, p.stderr.read())
    value("DROP TABLE users_two, users_other, status_two; SELECT 1")


def check_fatal_answer():
    n, chunk = 20000, 1000
    make_users("users_fatal", n, "fatal")
    try:
        with slow_run("users_fatal", "status_fatal", chunk) as p:
            wait_for("a first commit",
                     lambda: run_row("status_fatal", "last_key IS NOT NULL") == "t")
            imsim("/_imsim/config", {"faults": {"code70403": 1}})
            p.wait(timeout=120)
    finally:
        imsim("/_imsim/config", {"faults": {}})
    err = p.stderr.read()
    report("a fatal answer mid-run: the CALL fails with the API's error",
           p.returncode != 0 and "70403" in err, f"rc {p.returncode}, stderr: {err}")
    row = run_row("status_fatal", "state || ' | ' || coalesce(error, '')")
    report("a fatal answer mid-run: the run is failed, with the error", row.startswith("failed | ")
           and "70403" in row, row)
    kept = int(value("SELECT count(*) FROM status_fatal"))
    last = run_row("status_fatal", "last_key")
    below = int(value(f"SELECT count(*) FROM users_fatal WHERE id <= '{last}'"))
    report("a fatal answer mid-run: the chunks before it stay committed",
           kept >= below > 0, f"{kept} rows kept, {below} IDs up to the last key {last}")
    continue_and_compare("a fatal answer mid-run", "users_fatal", "status_fatal", n, chunk)


if __name__ == "__main__":
    sys.exit(run_checks([check_300k, check_terminate_and_continue, check_server_restart,
                         check_snapshots_and_vacuum, check_second_run_refused,
                         check_fatal_answer]))
