#!/usr/bin/env python3
"""Reliability checks of im_account_check (issue 5), run by run.sh.

Needs the environment run.sh sets up: PGHOST/PGPORT/PGUSER of a cluster with
imcheck preloaded, RELIAB_IMSIM_{FAULT,CANCEL,LEAK,CLEAN} (imsim base URLs),
RELIAB_IMSIM_BIN and RELIAB_IMSIM_KEY (to start the imsim that is killed),
RELIAB_SERVER_LOG.  Python 3 standard library only; PostgreSQL is driven
through psql sessions fed on stdin, imsim through urllib.

Prints one "ok - NAME (figures)" or "not ok - NAME: REASON" line per check;
exit status 1 when any check failed.  Optional arguments: names of checks
to run (faults_at_scale cancel leaks contexts big backlog); default all.
"""
import ctypes
import json
import os
import queue
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import traceback
import urllib.request

FAULT = os.environ.get("RELIAB_IMSIM_FAULT")
CANCEL = os.environ.get("RELIAB_IMSIM_CANCEL")
LEAK = os.environ.get("RELIAB_IMSIM_LEAK")
CLEAN = os.environ.get("RELIAB_IMSIM_CLEAN")
IMSIM_BIN = os.environ.get("RELIAB_IMSIM_BIN")
IMSIM_KEY = os.environ.get("RELIAB_IMSIM_KEY")
SERVER_LOG = os.environ.get("RELIAB_SERVER_LOG")

os.environ["PGCLIENTENCODING"] = "UTF8"
os.environ.setdefault("PGDATABASE", "postgres")

FAILURES = []


def report(name, ok, detail=""):
    if ok:
        print(f"ok - {name}" + (f" ({detail})" if detail else ""), flush=True)
    else:
        FAILURES.append(name)
        print(f"not ok - {name}: {detail}", flush=True)


def run_checks(checks):
    """Runs checks that report for themselves (test/dba, test/network,
    test/standby); one that raises fails under its own name.  Returns the
    exit status."""
    for fn in checks:
        try:
            fn()
        except Exception as e:      # a broken harness is a failure too
            report(fn.__name__, False, f"{type(e).__name__}: {e}")
    return 1 if FAILURES else 0


def note(text):
    """Diagnostics: never start with "ok " / "not ok "."""
    print(f"# {text}", flush=True)


# --------------------------------------------------------------------- imsim

def sim(url, path, body=None, timeout=10):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data,
                                 method="GET" if body is None else "POST")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def stats(url):
    return sim(url, "/_imsim/stats")


def sim_reset(url):
    return sim(url, "/_imsim/stats/reset", {})


def sim_config(url, **kw):
    return sim(url, "/_imsim/config", kw)


def wait_in_flight_zero(url, limit_s):
    deadline = time.monotonic() + limit_s
    while True:
        st = stats(url)
        if st["in_flight"] == 0 or time.monotonic() > deadline:
            return st
        time.sleep(0.02)


def imported(uid):
    m = re.search(r"([0-9]{1,18})$", uid, re.ASCII)
    return bool(m) and int(m[1]) % 2 == 0


def status_of(uid):
    return "Imported" if imported(uid) else "NotImported"


# ------------------------------------------------------------------- backends

def proc_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def proc_mem_kb(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                out[k] = int(v.split()[0])
    return out


def postmaster_start(wait_s=20):
    """The postmaster's start time; waits while the server recovers."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return psql_once("SELECT pg_postmaster_start_time()").strip()
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def crash_lines(limit=3):
    """Server log lines that tell of a crashed backend."""
    if not (SERVER_LOG and os.path.exists(SERVER_LOG)):
        return []
    with open(SERVER_LOG, errors="replace") as f:
        return [line.strip() for line in f
                if re.search(r"terminated by signal|PANIC:|TRAP:|^malloc|^free\(|corrupt", line)][:limit]


# ----------------------------------------------------------------------- psql

ERR_RE = re.compile(r"^(?:psql:[^:]*:\d+: )?(ERROR|FATAL|PANIC):\s+([0-9A-Z]{5}): (.*)$")


class Result:
    def __init__(self):
        self.sqlstate = None     # from the marker; None if the session ended
        self.rows = []           # lines that are not error reports
        self.errors = []         # (severity, sqlstate, message)
        self.details = []        # DETAIL/HINT/... lines
        self.t_err = None        # when the first ERROR/FATAL line arrived
        self.eof = False

    @property
    def error(self):
        return self.errors[0] if self.errors else None

    def __repr__(self):
        return (f"Result(sqlstate={self.sqlstate}, errors={self.errors}, "
                f"details={self.details[:3]}, rows={self.rows[:3]}, eof={self.eof})")


def _pdeathsig():
    # the child dies when this script does (PR_SET_PDEATHSIG = 1)
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    except Exception:
        pass


class Session:
    """A long-lived psql fed through stdin; a reader thread timestamps lines."""
    seq = 0

    def __init__(self, endpoint=None, settings=None, connect_wait=15):
        deadline = time.monotonic() + connect_wait
        while True:
            self._start()
            setup = []
            if endpoint:
                setup.append(f"SET imcheck.endpoint = '{endpoint}'")
            for k, v in (settings or {}).items():
                setup.append(f"SET {k} = '{v}'")
            setup.append("SELECT pg_backend_pid()")
            r = self.query(";\n".join(setup), timeout=30)
            if r.sqlstate == "00000" and r.rows:
                self.pid = int(r.rows[-1])
                return
            self.close()
            if time.monotonic() > deadline:
                raise RuntimeError(f"could not start a session: {r}")
            time.sleep(0.5)     # e.g. the server is restarting after a crash

    def _start(self):
        self.proc = subprocess.Popen(
            ["psql", "-X", "-q", "-A", "-t", "-v", "VERBOSITY=verbose",
             "-v", "SHOW_CONTEXT=never"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, bufsize=0, preexec_fn=_pdeathsig)
        self.lines = queue.Queue()
        self.pending = None
        t = threading.Thread(target=self._read, daemon=True)
        t.start()

    def _read(self):
        for raw in self.proc.stdout:
            self.lines.put((time.monotonic(), raw.decode("utf-8", "replace").rstrip("\n")))
        self.lines.put((time.monotonic(), None))

    def send(self, sql):
        """Sends SQL (one or more statements) and a marker; returns the time."""
        Session.seq += 1
        self.pending = f"__done_{Session.seq}__"
        data = sql.rstrip().rstrip(";") + ";\n" + f"\\echo {self.pending} :SQLSTATE\n"
        t = time.monotonic()
        try:
            self.proc.stdin.write(data.encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass
        return t

    def send_raw(self, text):
        try:
            self.proc.stdin.write(text.encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def collect(self, timeout=120, marker=None):
        marker = marker or self.pending
        r = Result()
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no answer within {timeout} s (so far {r})")
            try:
                t, line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                r.eof = True
                return r
            if line.startswith(marker):
                parts = line.split()
                r.sqlstate = parts[1] if len(parts) > 1 else ""
                return r
            m = ERR_RE.match(line)
            if m:
                if r.t_err is None:
                    r.t_err = t
                r.errors.append((m[1], m[2], m[3]))
            elif re.match(r"^(DETAIL|HINT|LOCATION|CONTEXT|WARNING|NOTICE):", line) or \
                    line.startswith(("server closed the connection", "\tThis probably",
                                     "\tbefore or while", "connection to server was lost")):
                r.details.append(line)
            else:
                r.rows.append(line)

    def query(self, sql, timeout=120):
        self.send(sql)
        return self.collect(timeout)

    def alive(self):
        return self.proc.poll() is None

    def close(self):
        try:
            self.proc.stdin.close()
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def psql_once(sql):
    p = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise RuntimeError(f"psql failed: {p.stderr.strip()}")
    return p.stdout


def fmt_ms(x):
    return f"{x * 1000:.1f} ms"


# ------------------------------------------------------------ check helpers

class CheckFailed(Exception):
    pass


def expect(cond, reason):
    if not cond:
        raise CheckFailed(reason)


def run_check(name, fn):
    try:
        detail = fn()
        report(name, True, detail or "")
    except CheckFailed as e:
        report(name, False, str(e))
    except Exception as e:      # a broken harness is a failure too
        report(name, False, f"{type(e).__name__}: {e}")
        for line in traceback.format_exc().splitlines():
            note(line)


RIGHT = "count(*) FILTER (WHERE result_code = 0 AND account_status = expected_status(user_id))"


# ===================================================== 1. faults at scale

FAULT_KINDS = ["http502", "code70169", "code70202", "code70500", "code60007", "reset",
               "stall", "malformed", "truncated", "missing_item", "extra_item"]


def scale_id(g):
    r = g % 4
    if r == 0:
        return f"f{g}"
    if r == 1:
        return f"f{g}z"
    if r == 2:
        return "n" + str(g).rjust(24, "0")
    return f"\u00e9{g}"


SCALE_SQL_ID = ("CASE g % 4 WHEN 0 THEN 'f' || g WHEN 1 THEN 'f' || g || 'z' "
                "WHEN 2 THEN 'n' || lpad(g::text, 24, '0') ELSE U&'\\00e9' || g END")


def check_faults_at_scale():
    n = 100000
    p = 0.10 / len(FAULT_KINDS)
    sim_config(FAULT, faults={k: p for k in FAULT_KINDS}, fault_budget=-1, seed=5,
               stall_ms=1500, rate_limit=0, latency_ms=0)
    sim_reset(FAULT)
    s = Session(FAULT, {"imcheck.timeout": 1000, "imcheck.max_retries": 10,
                        "imcheck.rate_limit": 0})
    try:
        t0 = time.monotonic()
        r = s.query(
            "SELECT ord, user_id, result_code, coalesce(account_status, '<null>'), result_info "
            f"FROM im_account_check(ARRAY(SELECT {SCALE_SQL_ID} FROM generate_series(1, {n}) g ORDER BY g)) "
            "WITH ORDINALITY AS t(user_id, result_code, account_status, result_info, ord)",
            timeout=150)
        took = time.monotonic() - t0
    finally:
        s.close()
    st = stats(FAULT)
    faults = st["faults"]
    expect(not r.eof, f"the session ended (backend crash?): {r}")
    expect(r.sqlstate == "00000" and not r.errors,
           f"the statement failed: {r.errors} {r.details[:2]} (faults: {faults})")
    rows = [line.split("|") for line in r.rows]
    expect(len(rows) == n, f"{len(rows)} rows instead of {n}")
    wrong = []
    seen = set()
    for i, row in enumerate(rows):
        uid = scale_id(i + 1)
        want = [str(i + 1), uid, "0", status_of(uid), ""]
        if row != want:
            wrong.append((row, want))
        seen.add(row[1] if len(row) > 1 else None)
    if wrong:
        raise CheckFailed(f"{len(wrong)} wrong rows, e.g. got {wrong[0][0]} want {wrong[0][1]}")
    expect(len(seen) == n, f"{n - len(seen)} duplicate user_ids")
    expect(sorted(faults) == sorted(FAULT_KINDS),
           f"not every fault kind was injected: {faults}")
    expect(st["items"] == n and st["distinct_ids"] == n and st["repeated_ids"] == 0,
           f"imsim saw items={st['items']} distinct={st['distinct_ids']} "
           f"repeated={st['repeated_ids']} in successful calls (want {n}, {n}, 0)")
    total = sum(faults.values())
    return (f"{n} rows right in {took:.1f} s; {st['calls']} calls, {total} faulted "
            f"({100.0 * total / st['calls']:.1f}%); faults: {json.dumps(faults, sort_keys=True)}")


def check_retry_backlog():
    """Retries pile up: while earlier calls wait out their backoff, fresh
    batches keep failing, so more calls wait for a retry than
    imcheck.max_concurrency (here 1).  Every row must still be right, and
    the failed calls' rows must carry imsim's ErrorInfo."""
    s = Session(FAULT, {"imcheck.timeout": 1000, "imcheck.max_retries": 4,
                        "imcheck.rate_limit": 0, "imcheck.max_concurrency": 1,
                        "imcheck.batch_size": 1})
    try:
        infos = {}
        for code in ("70402", "70500"):
            sim_config(FAULT, faults={f"code{code}": 1}, fault_budget=-1)
            r = s.query("SET imcheck.max_retries = 0; SELECT result_code, result_info "
                        "FROM im_account_check(ARRAY['one'], false); RESET imcheck.max_retries")
            expect(len(r.rows) == 1 and r.rows[0].startswith(code + "|"),
                   f"a call faulted with {code} gave {r}")
            infos[code] = r.rows[0].split("|", 1)[1]
        sim_config(FAULT, faults={"code70402": 0.2, "code70500": 0.4}, fault_budget=-1, seed=3)
        sim_reset(FAULT)
        n = 600
        r = s.query("SELECT ord, user_id, result_code, coalesce(account_status, '<null>'), result_info "
                    f"FROM im_account_check(ARRAY(SELECT 'r' || g FROM generate_series(1, {n}) g), false) "
                    "WITH ORDINALITY AS t(user_id, result_code, account_status, result_info, ord)",
                    timeout=60)
        faults = stats(FAULT)["faults"]
        expect(not r.eof, f"the backend died during the statement: {r.details[:1]}; "
               f"server log: {crash_lines()}")
        expect(r.sqlstate == "00000", f"the statement failed: {r}")
        bad, codes = [], {}
        for i, line in enumerate(r.rows):
            row = line.split("|", 4)
            uid = f"r{i + 1}"
            code = row[2] if len(row) == 5 else "?"
            codes[code] = codes.get(code, 0) + 1
            if code == "0":
                want = [str(i + 1), uid, "0", status_of(uid), ""]
            else:
                want = [str(i + 1), uid, code, "<null>", infos.get(code, "?")]
            if row != want:
                bad.append(row)
        expect(len(r.rows) == n, f"{len(r.rows)} rows (want {n}); faults {faults}")
        if bad:
            raise CheckFailed(f"{len(bad)} of {n} rows wrong, e.g. {[repr(b) for b in bad[:3]]} "
                              f"(codes {codes}; faults {faults})")
        return f"{n} rows right; codes {codes}; faults {faults}"
    finally:
        s.close()
        sim_config(FAULT, faults={})


# ============================================================== 2. cancel

CANCEL_TRIES = int(os.environ.get("RELIAB_CANCEL_TRIES", "50"))
CANCEL_LIMIT_S = 0.100
SITUATIONS = {
    # fault, the statement, the fault's key in imsim's stats
    "stall": ({"stall": 1}, "SELECT count(*) FROM im_account_check("
              "ARRAY(SELECT 'c' || g FROM generate_series(1, 300) g))", "stall"),
    "backoff": ({"code70500": 1}, "SELECT count(*) FROM im_account_check(ARRAY['b1', 'b2'])",
                "code70500"),
}
# statement_timeout per situation: stalls hold the calls far longer; in the
# backoff case the first retry comes 50..100 ms after the first failure
TIMEOUT_MS = {"stall": 50, "backoff": 40}
VERIFY = (f"SELECT {RIGHT} FROM im_account_check(ARRAY['v1', 'v2', 'v3'])")
CANCEL_SETTINGS = {"imcheck.timeout": 1000, "imcheck.max_retries": 10,
                   "imcheck.rate_limit": 0}


def wait_fault(url, key, before, limit=3.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if stats(url)["faults"].get(key, 0) > before:
            return True
        time.sleep(0.003)
    return False


def cancel_try(method, situation, a, b):
    """One try; returns (latency_s, problem or None)."""
    faults, sql, key = SITUATIONS[situation]
    sim_config(CANCEL, faults=faults, fault_budget=-1)
    before = stats(CANCEL)["faults"].get(key, 0)
    problem = None
    if method == "statement_timeout":
        ms = TIMEOUT_MS[situation]
        t_send = a.send(f"SET statement_timeout = '{ms}ms';\n{sql}")
        r = a.collect(30)
        t0 = t_send + ms / 1000.0
        want = ("57014", "canceling statement due to statement timeout")
    else:
        fn = "pg_cancel_backend" if method == "pg_cancel_backend" else "pg_terminate_backend"
        a.send(sql)
        if not wait_fault(CANCEL, key, before):
            problem = "the fault was never hit"
        time.sleep(0.02 if situation == "stall" else 0.01)
        # where the backend is just before the cancel: waiting through
        # PostgreSQL, with a wait event, both in a backoff sleep and while
        # calls are in flight ("Extension" before 17; named from 17 on).
        # Read until seen (a read can land on the moment between two waits).
        want_where = {"Extension",
                      "ImcheckRateBudget" if situation == "backoff" else "ImcheckCall"}
        seen = []
        for _ in range(5):
            rw = b.query(f"SELECT coalesce(wait_event, '-') FROM pg_stat_activity "
                         f"WHERE pid = {a.pid}", timeout=30)
            seen.append(rw.rows[0] if rw.rows else repr(rw))
            if seen[-1] in want_where:
                break
        if seen[-1] not in want_where and problem is None:
            problem = f"before the cancel the backend was at {seen}, not one of {sorted(want_where)}"
        t0 = time.monotonic()
        rb = b.query(f"SELECT {fn}(pid) FROM pg_stat_activity WHERE pid = {a.pid}", timeout=30)
        r = a.collect(30)
        want = (("57014", "canceling statement due to user request")
                if method == "pg_cancel_backend" else
                ("57P01", "terminating connection due to administrator command"))
        if rb.rows != ["t"] and problem is None:
            problem = f"{fn} gave {rb.rows}"
    after = stats(CANCEL)["faults"].get(key, 0)
    if after <= before and problem is None:
        problem = f"no {key} fault was hit by the statement"
    if not r.errors and problem is None:
        problem = f"no error: {r}"
    elif r.errors:
        sev, code, msg = r.error
        if (code, msg) != want and problem is None:
            problem = f"error {code} {msg!r}, want {want[0]} {want[1]!r}"
    lat = (r.t_err - t0) if r.t_err is not None else float("inf")
    return lat, problem


def check_cancel():
    lines = []
    a = Session(CANCEL, CANCEL_SETTINGS)
    b = Session()
    try:
        fds, conns = [], []
        results = {}
        for method in ("statement_timeout", "pg_cancel_backend"):
            for situation in ("stall", "backoff"):
                lats, problems = [], []
                for i in range(CANCEL_TRIES):
                    lat, problem = cancel_try(method, situation, a, b)
                    lats.append(lat)
                    if problem:
                        problems.append(f"try {i + 1}: {problem}")
                    sim_config(CANCEL, faults={})
                    v = a.query("RESET statement_timeout;\n" + VERIFY, timeout=30)
                    if v.rows != ["3"] and len(problems) < 5:
                        problems.append(f"try {i + 1}: the next call in the session gave {v}")
                    other, pooled, _ = fd_summary(a.pid, CANCEL)
                    fds.append(other)
                    conns.append(pooled)
                results[(method, situation)] = (lats, problems)
        # pg_terminate_backend: a new session each time; the next try's
        # session checks that a new session works
        for situation in ("stall", "backoff"):
            lats, problems = [], []
            t = None
            for i in range(CANCEL_TRIES):
                sim_config(CANCEL, faults={})
                t = Session(CANCEL, CANCEL_SETTINGS)
                v = t.query(VERIFY, timeout=30)
                if v.rows != ["3"]:
                    problems.append(f"try {i + 1}: a new session's call gave {v}")
                lat, problem = cancel_try("pg_terminate_backend", situation, t, b)
                lats.append(lat)
                if problem:
                    problems.append(f"try {i + 1}: {problem}")
                t.close()
                if t.proc.returncode == 0:
                    problems.append(f"try {i + 1}: psql still connected after terminate")
            sim_config(CANCEL, faults={})
            t = Session(CANCEL, CANCEL_SETTINGS)
            v = t.query(VERIFY, timeout=30)
            if v.rows != ["3"]:
                problems.append(f"after the last try a new session's call gave {v}")
            t.close()
            results[("pg_terminate_backend", situation)] = (lats, problems)

        for (method, situation), (lats, problems) in results.items():
            worst = max(lats)
            med = statistics.median(lats)
            name = f"cancel_{method}_{situation}"
            figures = f"n={len(lats)}, worst {fmt_ms(worst)}, median {fmt_ms(med)}"
            if problems:
                report(name, False, f"{figures}; {len(problems)} problems: " + "; ".join(problems[:3]))
            elif worst >= CANCEL_LIMIT_S:
                slow = sum(1 for x in lats if x >= CANCEL_LIMIT_S)
                report(name, False, f"{figures}: {slow} tries took >= 100 ms")
            else:
                report(name, True, figures)

        # the abandoned calls: in_flight back to 0 once the stalls end, and
        # the backend's descriptors did not grow over the tries
        st = wait_in_flight_zero(CANCEL, 3.0)
        head, tail = fds[:10], fds[-10:]
        ok = st["in_flight"] == 0 and max(tail) <= max(head) and max(conns) <= 16 + 4
        detail = (f"imsim in_flight {st['in_flight']}, connections_open {st['connections_open']}, "
                  f"{st['connections']} connections for {st['calls']} calls; backend fds (other than relation files and imsim connections) "
                  f"{fds[0]} after the first try, {fds[-1]} after the last "
                  f"(min {min(fds)}, max {max(fds)} over {len(fds)} tries); backend connections "
                  f"to imsim after a try: at most {max(conns)} (libcurl's cache: <= 20)")
        report("cancel_cleanup", ok, detail)
    finally:
        a.close()
        b.close()
        sim_config(CANCEL, faults={})


def proc_cpu_ticks(pid):
    """User + system CPU time of a process, in clock ticks (1/100 s)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


WAIT_SAMPLE_S = 1.0
WAIT_SAMPLES = 5
WAIT_CPU_LIMIT_TICKS = 10     # 0.1 s of CPU over 10 s of waiting: 1 %


def check_waits_idle():
    """A backend that waits, in a retry's backoff or on calls in flight,
    sleeps in PostgreSQL's wait: it burns no CPU.  (A libcurl timer that
    stays armed once it has fired turns every wait into a busy loop.)"""
    a = Session(CANCEL, CANCEL_SETTINGS)
    b = Session()
    problems, used = [], {}
    try:
        for situation in ("backoff", "stall"):
            faults, sql, key = SITUATIONS[situation]
            total = 0
            for i in range(WAIT_SAMPLES):
                sim_config(CANCEL, faults=faults, fault_budget=-1)
                before = stats(CANCEL)["faults"].get(key, 0)
                a.send(sql)
                if not wait_fault(CANCEL, key, before):
                    problems.append(f"{situation} try {i + 1}: the fault was never hit")
                t0 = proc_cpu_ticks(a.pid)
                time.sleep(WAIT_SAMPLE_S)
                total += proc_cpu_ticks(a.pid) - t0
                b.query(f"SELECT pg_cancel_backend({a.pid})", timeout=30)
                r = a.collect(30)
                if not r.errors or r.error[1] != "57014":
                    problems.append(f"{situation} try {i + 1}: the statement was not "
                                    f"canceled but gave {r}")
                sim_config(CANCEL, faults={})
            used[situation] = total
            if total > WAIT_CPU_LIMIT_TICKS:
                problems.append(f"{situation}: {total / 100:.2f} s of CPU in "
                                f"{WAIT_SAMPLES * WAIT_SAMPLE_S:.0f} s of waiting")
    finally:
        a.close()
        b.close()
        sim_config(CANCEL, faults={})
    if problems:
        raise CheckFailed("; ".join(problems))
    return ", ".join(f"{k}: {v / 100:.2f} s of CPU in {WAIT_SAMPLES * WAIT_SAMPLE_S:.0f} s"
                     for k, v in used.items())


# the cancel imsim's own stall (test/reliability/run.sh), and this check's
CANCEL_STALL_MS = 300
WAIT_NAMES_STALL_MS = 3000


def check_wait_event_names():
    """While it waits, a backend shows what for in pg_stat_activity: from 17
    on under imcheck's own wait event names (which pg_wait_events lists),
    before 17 under the generic "Extension"."""
    a = Session(CANCEL, CANCEL_SETTINGS)
    b = Session()
    problems, seen_in = [], {}
    try:
        version = int(b.query("SHOW server_version_num", timeout=30).rows[0])
        named = version >= 170000
        want = ({"stall": "Extension:ImcheckCall", "backoff": "Extension:ImcheckRateBudget"}
                if named else {"stall": "Extension:Extension", "backoff": "Extension:Extension"})
        # the name a backend of this major must never show while it waits
        wrong = "Extension:Extension" if named else "Extension:Imcheck"
        for situation in ("stall", "backoff"):
            faults, sql, key = SITUATIONS[situation]
            # stalls long enough that a loaded machine still looks in time
            # (the statement is cancelled once seen)
            sim_config(CANCEL, faults=faults, fault_budget=-1, stall_ms=WAIT_NAMES_STALL_MS)
            before = stats(CANCEL)["faults"].get(key, 0)
            a.send(sql)
            if not wait_fault(CANCEL, key, before):
                problems.append(f"{situation}: the fault was never hit")
            seen = []
            for _ in range(40):
                r = b.query("SELECT coalesce(wait_event_type || ':' || wait_event, '-') "
                            f"FROM pg_stat_activity WHERE pid = {a.pid}", timeout=30)
                seen.append(r.rows[0] if r.rows else repr(r))
                if seen[-1] == want[situation]:
                    break
                time.sleep(0.02)
            seen_in[situation] = seen[-1]
            if seen[-1] != want[situation]:
                problems.append(f"{situation}: never {want[situation]} in {len(seen)} looks: "
                                f"{sorted(set(seen))}")
            if any(w.startswith(wrong) for w in seen):
                problems.append(f"{situation}: PostgreSQL {version // 10000} showed {wrong}...")
            b.query(f"SELECT pg_cancel_backend({a.pid})", timeout=30)
            a.collect(30)
            sim_config(CANCEL, faults={})
        if named:
            r = b.query("SELECT type || ':' || name FROM pg_wait_events "
                        "WHERE name LIKE 'Imcheck%' ORDER BY name", timeout=30)
            if r.rows != ["Extension:ImcheckCall", "Extension:ImcheckRateBudget"]:
                problems.append(f"pg_wait_events lists {r.rows}")
    finally:
        a.close()
        b.close()
        sim_config(CANCEL, faults={}, stall_ms=CANCEL_STALL_MS)
    if problems:
        raise CheckFailed("; ".join(problems))
    return f"PostgreSQL {version // 10000}: " + ", ".join(f"{k}: {v}" for k, v in seen_in.items())


# ============================================================== 3. leaks

LEAK_N = int(os.environ.get("RELIAB_LEAK_N", "10000"))


def leak_statement(i):
    if i % 10 == 0:
        bad = i // 10 % 3
        if bad == 0:
            return f"SELECT count(*) FROM im_account_check(ARRAY['x{i}', NULL])"
        if bad == 1:
            return f"SELECT count(*) FROM im_account_check(ARRAY[['x{i}'], ['y{i}']])"
        return f"SELECT count(*) FROM im_account_check(ARRAY['x{i}', repeat('y', 5000)])"
    if i % 10 == 5:
        return f"SELECT count(*) FROM im_account_check(ARRAY['l{i}', 'm{i}', 'n{i}'], false)"
    return f"SELECT count(*) FROM im_account_check(ARRAY['l{i}', 'm{i}', 'n{i}'])"


def tcp_inodes_to(port):
    """Socket inodes of TCP connections to 127.0.0.1:port."""
    inodes = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if int(parts[2].rsplit(":", 1)[1], 16) == port:
                        inodes.add(parts[9])
        except OSError:
            pass
    return inodes


def fd_summary(pid, imsim_url):
    """(descriptors that are neither relation files nor connections to
    imsim, connections to imsim, {kind: count}).  PostgreSQL's file cache
    opens relation files as it likes; libcurl keeps up to
    imcheck.max_concurrency + 4 idle connections by design."""
    conns = tcp_inodes_to(int(imsim_url.rsplit(":", 1)[1]))
    kinds = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if re.search(r"/(base|global|pg_wal|pg_xact)/", target):
            continue
        m = re.match(r"socket:\[(\d+)\]", target)
        if m and m[1] in conns:
            kind = "imsim"
        else:
            kind = target.split(":")[0] if ":" in target else "file"
        kinds[kind] = kinds.get(kind, 0) + 1
    imsim = kinds.get("imsim", 0)
    return sum(kinds.values()) - imsim, imsim, kinds


def check_leaks():
    sim_config(LEAK, faults={"code70402": 0.45, "stall": 0.06}, fault_budget=-1, seed=7,
               stall_ms=100, latency_ms=0, rate_limit=0)
    sim_reset(LEAK)
    s = Session(LEAK, {"imcheck.timeout": 1000, "imcheck.max_retries": 0,
                       "imcheck.rate_limit": 0, "statement_timeout": "20ms"})
    outcomes = {}
    marks = {}      # statements run -> (memory, all fds, fds that are not relation files, contexts)
    step = LEAK_N // 10
    t_start = time.monotonic()
    try:
        for k in range(10):
            lo, hi = k * step + 1, (k + 1) * step
            mark = f"__mark_{hi}__"
            s.send_raw("".join(leak_statement(i) + ";\n" for i in range(lo, hi + 1))
                       + f"\\echo {mark}\n")
            r = s.collect(timeout=200, marker=mark)
            expect(not r.eof, f"the session ended (backend crash?): {r.errors[-3:]}")
            outcomes["ok"] = outcomes.get("ok", 0) + sum(1 for x in r.rows if x.isdigit())
            for sev, code, msg in r.errors:
                outcomes[code] = outcomes.get(code, 0) + 1
            mem = proc_mem_kb(s.pid)
            fds = proc_fds(s.pid)
            kinds = fd_summary(s.pid, LEAK)
            ctx = s.query("SELECT sum(total_bytes) FROM pg_backend_memory_contexts", timeout=30)
            marks[hi] = (mem, fds, kinds, int(ctx.rows[0]) if ctx.rows else -1)
    finally:
        s.close()
    took = time.monotonic() - t_start
    a, b = LEAK_N // 5, LEAK_N
    (m1, f1, k1, c1), (m2, f2, k2, c2) = marks[a], marks[b]
    failed = sum(v for kk, v in outcomes.items() if kk != "ok")
    total = sum(outcomes.values())
    growth = m2["VmRSS"] - m1["VmRSS"]
    anon = m2["RssAnon"] - m1["RssAnon"]
    other = {n: v[2][0] for n, v in marks.items()}
    early = max(other[n] for n in marks if n <= a)
    late = max(other[n] for n in marks if n > a)
    pooled = max(v[2][1] for v in marks.values())
    series = ", ".join(f"{marks[n][0]['RssAnon']}" for n in sorted(marks))
    detail = (f"{total} statements in {took:.1f} s: {outcomes}; after {a}: RSS "
              f"{m1['VmRSS'] / 1024:.1f} MiB (anon {m1['RssAnon'] / 1024:.2f}), {f1} fds "
              f"({k1[0]} neither relation files nor imsim connections: {k1[2]}), contexts {c1 / 1024:.0f} kB; "
              f"after {b}: RSS {m2['VmRSS'] / 1024:.1f} MiB (anon {m2['RssAnon'] / 1024:.2f}), "
              f"{f2} fds ({k2[0]} neither relation files nor imsim connections: {k2[2]}), contexts {c2 / 1024:.0f} kB; "
              f"RssAnon kB every {step}: {series}")
    expect(total == LEAK_N, f"{total} outcomes counted for {LEAK_N} statements; {detail}")
    expect(failed * 2 >= LEAK_N * 0.9 and outcomes.get("57014", 0) > 0 and
           outcomes.get("38000", 0) > 0,
           f"not enough failing/cancelled statements: {detail}")
    expect(growth < 2048 and anon < 2048, f"RSS grew by {growth} kB (anon {anon} kB): {detail}")
    expect(late <= early, f"descriptors other than relation files and imsim connections grew "
           f"from at most {early} (first {a} statements) to {late}: {detail}")
    expect(pooled <= 16 + 4, f"{pooled} connections to imsim open between statements "
           f"(libcurl's cache holds at most max_concurrency + 4 = 20): {detail}")
    expect(c2 - c1 < 256 * 1024, f"memory contexts grew by {(c2 - c1) // 1024} kB: {detail}")
    return detail


# ======================================================== 4. SQL contexts

def check_prepared():
    s = Session(CLEAN, {"imcheck.max_retries": 3})
    try:
        r = s.query("PREPARE p(text[]) AS SELECT ord, user_id, result_code, "
                    "coalesce(account_status, '<null>') FROM im_account_check($1) "
                    "WITH ORDINALITY AS t(user_id, result_code, account_status, result_info, ord)")
        expect(r.sqlstate == "00000", f"PREPARE failed: {r}")
        for k in range(8):     # past the 5 custom plans: a generic plan too
            ids = [f"pp{k}_{j}" for j in range(1, 40 + 17 * k)] + [f"pp{k}_1"]
            arr = "ARRAY[" + ",".join(f"'{x}'" for x in ids) + "]"
            r = s.query(f"EXECUTE p({arr})")
            want = [f"{j + 1}|{x}|0|{status_of(x)}" for j, x in enumerate(ids)]
            expect(r.sqlstate == "00000" and r.rows == want,
                   f"EXECUTE {k + 1} gave {r.rows[:3]}... {r.errors} (want {want[:3]}...)")
        r = s.query("EXECUTE p(ARRAY[NULL::text])")
        expect(r.error and r.error[1] == "22004", f"EXECUTE with a NULL element: {r}")
        r = s.query("EXECUTE p('{}')")
        expect(r.sqlstate == "00000" and r.rows == [], f"EXECUTE with an empty array: {r}")
        return "8 EXECUTEs (custom and generic plans) right"
    finally:
        s.close()


def check_copy():
    s = Session(CLEAN)
    try:
        ids = [f"cp{j}" for j in range(1, 251)] + ["", "x" * 33, "tab\tq", "cp1"]
        arr = "ARRAY[" + ",".join("E'" + x.replace("\t", "\\t") + "'" for x in ids) + "]"
        r = s.query(f"COPY (SELECT * FROM im_account_check({arr})) TO STDOUT")
        want = []
        for x in ids:
            esc = x.replace("\t", "\\t")
            if x == "":
                want.append("\t70402\t\\N\tinvalid UserID: empty")
            elif len(x) > 32:
                want.append(f"{esc}\t70402\t\\N\tinvalid UserID: longer than 32 bytes")
            else:
                want.append(f"{esc}\t0\t{status_of(x)}\t")
        expect(r.sqlstate == "00000", f"COPY failed: {r}")
        bad = [(g, w) for g, w in zip(r.rows, want) if g != w]
        expect(len(r.rows) == len(want) and not bad,
               f"{len(r.rows)} rows (want {len(want)}); first difference {bad[:1]}")
        return f"{len(want)} rows right"
    finally:
        s.close()


def plan_nodes(node, under_gather=False, out=None):
    out = [] if out is None else out
    kind = node.get("Node Type")
    out.append((kind, node.get("Function Name"), under_gather, node))
    g = under_gather or kind in ("Gather", "Gather Merge")
    for child in node.get("Plans", []):
        plan_nodes(child, g, out)
    return out


def check_parallel():
    s = Session(CLEAN)
    try:
        r = s.query("SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;\n"
                    "SET min_parallel_table_scan_size = 0; SET max_parallel_workers_per_gather = 2;\n"
                    "SET parallel_leader_participation = on")
        expect(r.sqlstate == "00000", f"SET failed: {r}")
        q = (f"SELECT count(*), {RIGHT.replace('user_id', 'c.user_id')} "
             "FROM reliab_big b JOIN im_account_check(ARRAY(SELECT 'p' || g FROM "
             "generate_series(1, 3000) g)) c ON c.user_id = b.id")
        r = s.query("EXPLAIN (VERBOSE, FORMAT JSON) " + q)
        expect(r.sqlstate == "00000", f"EXPLAIN failed: {r}")
        plan = json.loads("\n".join(r.rows))[0]["Plan"]
        nodes = plan_nodes(plan)
        gathers = [n for n in nodes if n[0] in ("Gather", "Gather Merge")]
        fscans = [n for n in nodes if n[0] == "Function Scan" and n[1] == "im_account_check"]
        expect(gathers, "the plan is not parallel: " + ", ".join(n[0] for n in nodes))
        expect(fscans, "no Function Scan of im_account_check in the plan")
        expect(not any(n[2] for n in fscans),
               "im_account_check runs under a Gather (in workers): "
               + ", ".join(f"{n[0]}{'*' if n[2] else ''}" for n in nodes))
        before = stats(CLEAN)["calls"]
        r = s.query("EXPLAIN (ANALYZE, FORMAT JSON, TIMING OFF) " + q)
        expect(r.sqlstate == "00000", f"EXPLAIN ANALYZE failed: {r}")
        calls = stats(CLEAN)["calls"] - before
        aplan = json.loads("\n".join(r.rows))[0]["Plan"]
        launched = [n[3].get("Workers Launched") for n in plan_nodes(aplan)
                    if n[0] in ("Gather", "Gather Merge")]
        expect(calls == 30, f"{calls} imsim calls for 3000 IDs (want 30: run once, in the leader)")
        before = stats(CLEAN)["calls"]
        r = s.query(q)
        calls2 = stats(CLEAN)["calls"] - before
        expect(r.sqlstate == "00000" and r.rows == ["3000|3000"],
               f"the join gave {r.rows} {r.errors} (want 3000|3000)")
        expect(calls2 == 30, f"{calls2} imsim calls for the query (want 30)")
        shape = " > ".join(n[0] + (f"({n[1]})" if n[1] else "") + ("[worker]" if n[2] else "")
                           for n in nodes)
        return f"plan {shape}; workers launched {launched}; 3000/3000 rows right; 30 calls"
    finally:
        s.close()


class KillableImsim:
    def __init__(self, extra):
        self.extra = extra
        self.proc = None
        self.port = 0

    def start(self, port=0):
        args = [IMSIM_BIN, "--port", str(port), "--sdkappid", "1400000001",
                "--identifier", "administrator", "--secret-key", IMSIM_KEY] + self.extra
        for attempt in range(50):
            self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                         preexec_fn=_pdeathsig)
            line = self.proc.stdout.readline().decode().strip()
            if line.startswith("imsim listening on "):
                self.url = line[len("imsim listening on "):]
                self.port = int(self.url.rsplit(":", 1)[1])
                return
            self.proc.wait()
            time.sleep(0.05)    # the port may still be busy
        raise RuntimeError(f"imsim did not start on port {port}: {line}")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def check_imsim_killed():
    k = KillableImsim(["--rate-limit", "0", "--latency-ms", "100"])
    k.start()
    s = None
    try:
        s = Session(k.url, {"imcheck.max_retries": 0, "imcheck.timeout": 5000,
                            "imcheck.rate_limit": 0})
        pid = s.pid
        t_send = s.send("SELECT count(*) FROM im_account_check("
                        "ARRAY(SELECT 'k' || g FROM generate_series(1, 20000) g))")
        deadline = time.monotonic() + 10
        while stats(k.url)["calls"] < 40 and time.monotonic() < deadline:
            time.sleep(0.01)
        in_flight = stats(k.url)["in_flight"]
        k.kill()
        t_kill = time.monotonic()
        k.start(k.port)        # same port, at once
        r = s.collect(60)
        expect(not r.eof, f"the session ended (backend crash?): {r}")
        expect(r.errors, f"the statement did not fail: {r}")
        sev, code, msg = r.error
        # broken in flight, or refused while imsim restarts
        expect(sev == "ERROR" and code == "08006" and
               ("account_check call failed" in msg or "could not connect to the IM API" in msg),
               f"error {sev} {code} {msg!r} {r.details[:1]}")
        detail = next((d for d in r.details if d.startswith("DETAIL:")), "")
        expect("imcheck code -" in detail, f"the DETAIL does not say what broke: {detail!r}")
        r2 = s.query(f"RESET imcheck.max_retries;\nSELECT pg_backend_pid(), {RIGHT} FROM "
                     "im_account_check(ARRAY(SELECT 'k' || g FROM generate_series(1, 2000) g))")
        expect(r2.rows == [f"{pid}|2000"],
               f"the next statement in the session gave {r2.rows} {r2.errors} (want {pid}|2000)")
        return (f"killed with {in_flight} calls in flight; {sev} {code}: {msg} / {detail[8:].strip()} "
                f"({fmt_ms(r.t_err - t_kill)} after the kill); same backend {pid}, next statement right")
    finally:
        if s:
            s.close()
        k.stop()


def check_idle_connections_closed():
    """The server closes idle keep-alive connections between statements (and,
    racing, just as a call goes out on one): no call may fail, even with
    max_retries = 0, and the closed connections are replaced."""
    k = KillableImsim(["--rate-limit", "0", "--latency-ms", "0", "--conn-timeout", "1"])
    k.start()
    s = None
    try:
        s = Session(k.url, {"imcheck.max_retries": 0, "imcheck.rate_limit": 0})
        rounds = 4
        for i in range(rounds):
            r = s.query(f"SELECT count(*), {RIGHT} FROM im_account_check("
                        f"ARRAY(SELECT 'idle{i}_' || g FROM generate_series(1, 1600) g))")
            expect(r.sqlstate == "00000" and r.rows == ["1600|1600"],
                   f"statement {i + 1} after idle connections were closed: {r.rows} {r.errors}")
            time.sleep(1.6)     # imsim closes connections idle for 1 s
        st = stats(k.url)
        expect(st["calls_by_code"] == {"0": 16 * rounds},
               f"imsim answered {st['calls_by_code']} (want 64 calls, all 0)")
        expect(st["connections"] >= 16 * rounds,
               f"only {st['connections']} connections for {rounds} statements 1.6 s apart: "
               "were the closed ones replaced, or did imsim not close them?")
        return (f"{rounds} statements x 16 calls, 1.6 s apart, max_retries 0: all rows right, "
                f"{st['connections']} connections accepted by imsim")
    finally:
        if s:
            s.close()
        k.stop()


# ========================================================== 5. big inputs

def check_million():
    n = 1000000
    s = Session(CLEAN, {"imcheck.rate_limit": 0})
    try:
        before = stats(CLEAN)["calls"]
        spots = [1, 2, 3, 499999, 500000, 999999, 1000000]
        t0 = time.monotonic()
        r = s.query(
            f"SELECT count(*), {RIGHT}, bool_and(user_id = 'b' || ord), "
            "string_agg(CASE WHEN ord IN (" + ",".join(map(str, spots)) + ") THEN "
            "ord || ':' || user_id || ':' || result_code || ':' || account_status END, ',' ORDER BY ord) "
            f"FROM im_account_check(ARRAY(SELECT 'b' || g FROM generate_series(1, {n}) g)) "
            "WITH ORDINALITY AS t(user_id, result_code, account_status, result_info, ord)",
            timeout=200)
        took = time.monotonic() - t0
        calls = stats(CLEAN)["calls"] - before
        expect(r.sqlstate == "00000", f"failed: {r}")
        want_spots = ",".join(f"{o}:b{o}:0:{status_of('b' + str(o))}" for o in spots)
        want = f"{n}|{n}|t|{want_spots}"
        expect(r.rows == [want], f"got {r.rows} want {[want]}")
        expect(calls == n // 100, f"{calls} calls for {n} distinct IDs (want {n // 100})")
        return f"{n} rows right, in input order, {calls} calls, {took:.1f} s"
    finally:
        s.close()


def check_long_userid():
    s = Session(CLEAN)
    try:
        before = stats(CLEAN)["calls"]
        r = s.query("SELECT count(*) FROM im_account_check(ARRAY['ok1', repeat('x', 1048576), 'ok3'])")
        calls = stats(CLEAN)["calls"] - before
        expect(r.errors, f"no error: {r}")
        sev, code, msg = r.error
        detail = next((d for d in r.details if d.startswith("DETAIL:")), "")
        expect(code == "22001" and msg == "element 2 of user_ids is too long" and "1048576 bytes" in detail,
               f"error {code} {msg!r} {detail!r}")
        expect(calls == 0, f"{calls} calls were made")
        r = s.query(VERIFY)
        expect(r.rows == ["3"], f"the next call gave {r}")
        return f"{code} {msg} / {detail[8:].strip()}; 0 calls"
    finally:
        s.close()


def check_too_many():
    s = Session(CLEAN)
    try:
        before = stats(CLEAN)["calls"]
        t0 = time.monotonic()
        r = s.query("SELECT count(*) FROM im_account_check(array_fill('u'::text, ARRAY[20000001]))",
                    timeout=120)
        took = time.monotonic() - t0
        calls = stats(CLEAN)["calls"] - before
        expect(r.errors, f"no error: {r}")
        sev, code, msg = r.error
        expect(code == "54000" and msg == "too many UserIDs in one call: 20000001",
               f"error {code} {msg!r}")
        expect(calls == 0, f"{calls} calls were made")
        return f"{code} {msg}; 0 calls; {took:.1f} s"
    finally:
        s.close()


# ================================================================= main

def setup():
    psql_once("""
CREATE EXTENSION IF NOT EXISTS imcheck;
CREATE OR REPLACE FUNCTION expected_status(id text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN coalesce(substring(id from '([0-9]{1,18})$')::bigint % 2 = 0, false)
                THEN 'Imported' ELSE 'NotImported' END
$$;
DROP TABLE IF EXISTS reliab_big;
CREATE TABLE reliab_big AS SELECT 'p' || g AS id FROM generate_series(1, 200000) g;
ANALYZE reliab_big;
""")


CHECKS = {
    "faults_at_scale": [("faults_at_scale", check_faults_at_scale)],
    "cancel": [("cancel", check_cancel), ("waits_use_no_cpu", check_waits_idle),
               ("wait_event_names", check_wait_event_names)],
    "leaks": [("no_leaks", check_leaks)],
    "contexts": [("prepared_statement", check_prepared), ("copy_to_stdout", check_copy),
                 ("parallel_plan", check_parallel), ("imsim_killed_mid_run", check_imsim_killed),
                 ("idle_connections_closed", check_idle_connections_closed)],
    "big": [("million_ids", check_million), ("userid_1mb", check_long_userid),
            ("too_many_ids", check_too_many)],
    # last: when it finds memory corruption, the backend may crash the cluster
    "backlog": [("retry_backlog", check_retry_backlog)],
}


def main():
    for var in ("RELIAB_IMSIM_FAULT", "RELIAB_IMSIM_CANCEL", "RELIAB_IMSIM_LEAK",
                "RELIAB_IMSIM_CLEAN", "RELIAB_IMSIM_BIN", "RELIAB_IMSIM_KEY"):
        if not os.environ.get(var):
            print(f"{var} is not set: run test/reliability/run.sh", file=sys.stderr)
            return 2
    wanted = sys.argv[1:] or list(CHECKS)
    t_all = time.monotonic()
    try:
        setup()
        started = postmaster_start()
    except Exception as e:
        report("setup", False, str(e))
        return 1
    for group in wanted:
        for name, fn in CHECKS[group]:
            t0 = time.monotonic()
            if name == "cancel":
                run_check_quiet(fn)
            else:
                run_check(name, fn)
            note(f"{name}: {time.monotonic() - t0:.1f} s")
    # no check may have crashed a backend: the postmaster would have
    # restarted everything (and logged it)
    crash = []
    try:
        if postmaster_start() != started:
            crash.append("the postmaster reinitialized (a backend crashed)")
    except Exception as e:
        crash.append(f"the server does not answer: {e}")
    crash += crash_lines()
    report("no_backend_crash", not crash, "; ".join(crash))
    note(f"total {time.monotonic() - t_all:.1f} s")
    return 1 if FAILURES else 0


def run_check_quiet(fn):
    """For checks that report their own lines."""
    try:
        fn()
    except CheckFailed as e:
        report("cancel", False, str(e))
    except Exception as e:
        report("cancel", False, f"{type(e).__name__}: {e}")
        for line in traceback.format_exc().splitlines():
            note(line)


if __name__ == "__main__":
    sys.exit(main())
