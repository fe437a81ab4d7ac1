#!/usr/bin/env python3
"""test/apis/test_apis.py - im_account_import and im_query_online_status
against a real cluster and imsim (run by test/apis/run.sh, which sets the
environment: PGHOST/PGPORT/PGUSER of a cluster with imcheck preloaded,
APIS_IMSIM_{MAIN,FAULT,SLOW,WRONGKEY}, APIS_KEY, APIS_SERVER_LOG).

Every expected value is computed here from imsim's rules (test/imsim/README.md):
the even rule, the fail rule (`reject` prefix, empty, over 32 bytes), the online
rule (last byte), the accounts multiaccount_import added.

Prints one "ok - NAME (figures)" or "not ok - NAME: REASON" line per check;
exit status 1 when any failed.  Optional arguments: groups to run
(faults rate raise cancel leaks input hotpath security); default all.
Python 3 standard library only; the psql sessions, the check harness and
the /proc readers are test/reliability's, the secret scan test/security's.
"""
import ast
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reliability"))
import test_reliability as rel  # noqa: E402
from test_reliability import (  # noqa: E402
    CheckFailed, Session, expect, fd_summary, note, plan_nodes, proc_mem_kb,
    psql_once, report, run_check, sim, sim_config, sim_reset, stats)
from test_reliability import imported as even_rule  # noqa: E402


def _from_module(path, names):
    """Top-level definitions NAMES of the Python file at path, without running
    the rest of it (test_security.py starts servers and reads its own
    environment when imported)."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    keep = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in names:
            keep.append(node)
        elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id in names for t in node.targets):
            keep.append(node)
    ns = {"re": re, "os": os}
    exec(compile(ast.Module(body=keep, type_ignores=[]), path, "exec"), ns)
    missing = [n for n in names if n not in ns]
    if missing:
        raise ImportError(f"{path} has no {missing}")
    return [ns[n] for n in names]


USERSIG_RE, leaks = _from_module(os.path.join(HERE, "..", "security", "test_security.py"),
                                 ["USERSIG_RE", "leaks"])

MAIN = os.environ.get("APIS_IMSIM_MAIN")
FAULT = os.environ.get("APIS_IMSIM_FAULT")
SLOW = os.environ.get("APIS_IMSIM_SLOW")
WRONGKEY = os.environ.get("APIS_IMSIM_WRONGKEY")
KEY = os.environ.get("APIS_KEY")
SERVER_LOG = os.environ.get("APIS_SERVER_LOG")
rel.SERVER_LOG = SERVER_LOG         # crash_lines() reads it

IMPORT = "im_account_import(text[], text[], text[], boolean)"
ONLINE = "im_query_online_status(text[], boolean)"
APIS = ("account_check", "multiaccount_import", "query_online_status")
NOT_IMPORTED_INFO = "the service did not import this account and gave no reason"
INFO_70402 = ("Invalid parameters. Make sure that the required fields are all entered "
              "and the parameter settings meet the protocol requirements.")
DETAIL_ONLINE = '[{"Status": "Online", "Platform": "iPhone"}]'
DETAIL_PUSH = '[{"Status": "PushOnline", "Platform": "Android"}]'
SECRETS = [("the secret key", KEY)]

# imsim's settings as run.sh starts them: what each check goes back to
DEFAULTS = {"faults": {}, "fault_budget": -1, "fault_api": "", "rate_limit": 100,
            "import_rate_limit": 100, "online_rate_limit": 200, "account_limit": 0,
            "latency_ms": 0, "jitter_ms": 0}


# ---------------------------------------------------------------- the rules

def refused(uid):
    """imsim's fail rule: in FailAccounts."""
    b = uid.encode()
    return len(b) == 0 or len(b) > 32 or b.startswith(b"reject")


def online_expect(uid, api_imported=()):
    """(result_code, status, detail) as psql prints them, '<null>' for NULL."""
    b = uid.encode()
    if not (1 <= len(b) <= 32) or not (even_rule(uid) or uid in api_imported):
        return ("70107", "<null>", "<null>")
    last = b[-1:]
    if last in (b"0", b"4", b"8"):
        return ("0", "Online", DETAIL_ONLINE)
    if last in (b"2", b"6"):
        return ("0", "PushOnline", DETAIL_PUSH)
    return ("0", "Offline", "[]")


def import_expect(uid):
    return ("-9", NOT_IMPORTED_INFO) if refused(uid) else ("0", "")


ONLINE_COLS = ("coalesce(status, '<null>'), coalesce(detail::text, '<null>')")
ONLINE_ORD = "AS t(user_id, result_code, status, detail, ord)"
IMPORT_ORD = "AS t(user_id, result_code, result_info, ord)"


# ------------------------------------------------------------------- helpers

def sim_defaults(url, **kw):
    cfg = dict(DEFAULTS)
    cfg.update(kw)
    return sim_config(url, **cfg)


def accounts_reset(url):
    return sim(url, "/_imsim/accounts/reset", {})


def api_stats(url, api):
    return stats(url)["apis"][api]


def imcheck_stats():
    out = {}
    for line in psql_once("SELECT api, name, value FROM imcheck_stats").splitlines():
        api, name, value = line.split("|")
        out[(api, name)] = int(value)
    return out


def reset_imcheck_stats():
    psql_once("SELECT imcheck_reset_stats()")


def lit(s):
    return "'" + s.replace("'", "''") + "'"


def arr(ids):
    return "ARRAY[" + ",".join("NULL" if x is None else lit(x) for x in ids) + "]::text[]"


def ok_rows(r, what):
    expect(not r.eof, f"{what}: the session ended (backend crash?): {r}")
    expect(r.sqlstate == "00000" and not r.errors, f"{what} failed: {r.errors} {r.details[:2]}")
    return r.rows


def detail_of(r):
    """The DETAIL of r's error, the failed call's random (which changes from
    call to call) as N."""
    d = next((d[len("DETAIL:"):].strip() for d in r.details if d.startswith("DETAIL:")), None)
    return re.sub(r" \(random \d+\)$", " (random N)", d) if d is not None else None


def full_text(r):
    return "\n".join(r.rows + r.details + [f"{s}: {c}: {m}" for s, c, m in r.errors])


class UserSession(Session):
    """A reliability Session as another role (psql takes PGUSER from the
    environment it is started in)."""

    def __init__(self, user, settings=None):
        self.user = user
        super().__init__(None, settings)

    def _start(self):
        saved = os.environ.get("PGUSER")
        os.environ["PGUSER"] = self.user
        try:
            super()._start()
        finally:
            os.environ["PGUSER"] = saved


def psql_as(user, sql, options=None):
    """One psql run as user: (rc, stdout, stderr)."""
    env = dict(os.environ, PGUSER=user)
    if options:
        env["PGOPTIONS"] = options
    p = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "VERBOSITY=verbose", "-c", sql],
                       capture_output=True, text=True, timeout=60, env=env)
    return p.returncode, p.stdout, p.stderr


# =============================================== 1. faults at scale, per API

ONLINE_FAULTS = ["http502", "code70500", "code60007", "reset", "malformed", "truncated",
                 "missing_item", "extra_item"]
IMPORT_FAULTS = ["http502", "code70500", "code70169", "code70202", "code60007", "reset",
                 "malformed", "truncated", "missing_item", "extra_item"]
REASON_OF = {"http502": "http_status", "code70500": "api_transient",
             "code70169": "api_transient", "code70202": "api_transient",
             "code60007": "api_rate_limited", "reset": "connection",
             "malformed": "bad_response", "truncated": "bad_response",
             "missing_item": "bad_response", "extra_item": "bad_response"}


def fault_mix(kinds):
    """3 % of each kind; 1 % of 60007, since every rate-limit answer cuts the
    cluster's rate by 10 % for a while (README, "Several servers on one app")."""
    return {k: 0.01 if k == "code60007" else 0.03 for k in kinds}


REASONS = ["api_transient", "api_rate_limited", "usersig_renewed", "http_status",
           "connection", "timeout", "bad_response"]


def online_scale_id(g):
    r = g % 10
    if r <= 5:
        return f"q{g}"
    if r == 6:
        return f"imp{g}k"           # imported through the API first: Offline
    if r == 7:
        return f"q{g}z"             # 70107
    if r == 8:
        return f"q{g - 4}"          # a repeat
    if g % 1000 == 999:
        return ""                   # 70107, repeated every 1000
    if g % 100 == 99:
        return "y" * 33 + str(g)    # over 32 bytes: 70107
    return f"\u00e9{g + 1}"


ONLINE_SCALE_SQL = ("CASE WHEN g % 10 <= 5 THEN 'q' || g WHEN g % 10 = 6 THEN 'imp' || g || 'k' "
                    "WHEN g % 10 = 7 THEN 'q' || g || 'z' WHEN g % 10 = 8 THEN 'q' || (g - 4) "
                    "WHEN g % 1000 = 999 THEN '' WHEN g % 100 = 99 THEN repeat('y', 33) || g "
                    "ELSE U&'\\00e9' || (g + 1) END")


def import_scale_id(g):
    r = g % 10
    if g % 1000 == 0:
        return f"reject{g}t"
    if r <= 6:
        return f"m{g}x"
    if r == 7:
        return f"reject{g}z"
    if r == 8:
        return f"m{g - 2}x"         # a repeat, with another Nick (the first one's is sent)
    if g % 100 == 99:
        return ""
    if g % 1000 == 989:
        return "w" * 33 + str(g)
    return f"Reject{g}q"            # case matters: imported


IMPORT_SCALE_SQL = ("CASE WHEN g % 1000 = 0 THEN 'reject' || g || 't' WHEN g % 10 <= 6 THEN 'm' || g || 'x' WHEN g % 10 = 7 THEN 'reject' || g || 'z' "
                    "WHEN g % 10 = 8 THEN 'm' || (g - 2) || 'x' WHEN g % 100 = 99 THEN '' "
                    "WHEN g % 1000 = 989 THEN repeat('w', 33) || g ELSE 'Reject' || g || 'q' END")
IMPORT_NICK_SQL = ("CASE WHEN g % 10 = 3 THEN NULL WHEN g % 10 = 8 THEN 'second ' || g "
                   "ELSE 'Nick ' || g END")
IMPORT_FACE_SQL = "CASE WHEN g % 10 = 5 THEN NULL ELSE 'https://img.example/' || g || '.png' END"


def check_stats_per_api(api, faults, before_calls, detected):
    """imcheck_stats after a faulted run: the retries of api, by reason, are
    the faults imsim applied (those imcheck can see); no other API moved."""
    st = imcheck_stats()
    sim_api = stats(FAULT)["apis"][api]
    problems = []
    want = {reason: 0 for reason in REASONS}
    for kind, n in faults.items():
        if kind in detected:
            want[REASON_OF[kind]] += n
    # imsim's own refusals (check 21) are rate-limit answers too
    real_60007 = sim_api["calls_by_code"].get("60007", 0) - faults.get("code60007", 0)
    want["api_rate_limited"] += real_60007
    got = {reason: st[(api, "retries_" + reason)] for reason in REASONS}
    # A reset on a reused keep-alive connection is a stale connection: sent
    # again on a new one without a retry (check_reset_counted).  The
    # connection retries and the stale sends are together the resets, and
    # imcheck_stats counts every call imsim got.
    stale = st[(api, "stale_connections")]
    unknown = sim_api["calls"] - before_calls - st[(api, "calls")]
    if {k: v for k, v in got.items() if k != "connection"} != \
            {k: v for k, v in want.items() if k != "connection"}:
        problems.append(f"{api} retries {got}, want {want} (from imsim's faults {faults})")
    if unknown != 0 or got["connection"] + stale != want["connection"]:
        problems.append(f"{faults.get('reset', 0)} resets, {got['connection']} connection retries and "
                        f"{stale} stale connections counted, imsim got {unknown} calls more than "
                        "imcheck_stats says")
    # imcheck paces every call it sends within imsim's window
    if real_60007 != 0:
        problems.append(f"imsim's own rate limit refused {real_60007} calls")
    if st[(api, "failed_calls")] != 0:
        problems.append(f"{st[(api, 'failed_calls')]} failed calls")
    for other in APIS:
        if other == api:
            continue
        moved = {k[1]: v for k, v in st.items() if k[0] == other and v != 0}
        if moved:
            problems.append(f"imcheck_stats of {other} moved: {moved}")
    got["stale_connections"] = stale
    got["refused_by_imsim_rate_limit"] = real_60007
    return problems, got


def check_faults_online():
    n = 20000
    sim_defaults(FAULT)
    accounts_reset(FAULT)
    s = Session(FAULT, {"imcheck.max_retries": 10})
    try:
        pre = [online_scale_id(g) for g in range(1, n + 1) if g % 10 == 6]
        r = s.query("SELECT count(*) FILTER (WHERE result_code = 0), count(*) FROM im_account_import("
                    f"ARRAY(SELECT 'imp' || g || 'k' FROM generate_series(6, {n}, 10) g))")
        expect(ok_rows(r, "the import before") == [f"{len(pre)}|{len(pre)}"],
               f"importing the Offline accounts first gave {r.rows}")
        sim_config(FAULT, faults=fault_mix(ONLINE_FAULTS), fault_budget=-1, seed=21,
                   fault_api="query_online_status")
        sim_reset(FAULT)
        reset_imcheck_stats()
        t0 = time.monotonic()
        r = s.query(f"SET imcheck.batch_size = 50;\nSELECT ord, user_id, result_code, {ONLINE_COLS} "
                    f"FROM im_query_online_status(ARRAY(SELECT {ONLINE_SCALE_SQL} FROM "
                    f"generate_series(1, {n}) g ORDER BY g)) WITH ORDINALITY {ONLINE_ORD}",
                    timeout=120)
        took = time.monotonic() - t0
    finally:
        s.close()
        sim_defaults(FAULT)
    st = stats(FAULT)
    faults = st["faults"]
    rows = ok_rows(r, "the statement")
    imported = set(pre)
    ids = [online_scale_id(g) for g in range(1, n + 1)]
    expect(len(rows) == n, f"{len(rows)} rows instead of {n}")
    wrong = []
    for i, line in enumerate(rows):
        want = "|".join((str(i + 1), ids[i]) + online_expect(ids[i], imported))
        if line != want:
            wrong.append((line, want))
    if wrong:
        raise CheckFailed(f"{len(wrong)} wrong rows, e.g. got {wrong[0][0]!r} want {wrong[0][1]!r}")
    expect(sorted(faults) == sorted(ONLINE_FAULTS), f"not every fault kind was injected: {faults}")
    distinct = len(set(ids))
    api = st["apis"]["query_online_status"]
    expect(api["items"] == distinct and st["distinct_ids"] == distinct and st["repeated_ids"] == 0,
           f"imsim saw items={api['items']} distinct={st['distinct_ids']} repeated={st['repeated_ids']} "
           f"in successful calls (want {distinct}, {distinct}, 0)")
    problems, got = check_stats_per_api("query_online_status", faults, 0, ONLINE_FAULTS)
    expect(not problems, "; ".join(problems))
    total = sum(faults.values())
    counts = {}
    for g in range(1, n + 1):
        k = online_expect(ids[g - 1], imported)[1]
        counts[k] = counts.get(k, 0) + 1
    return (f"{n} rows right in {took:.1f} s ({counts}); {api['calls']} calls, {total} faulted: "
            f"{json.dumps(faults, sort_keys=True)}; retries {got}")


def check_faults_import():
    n = 3000
    sim_defaults(FAULT)
    accounts_reset(FAULT)
    s = Session(FAULT, {"imcheck.max_retries": 10})
    try:
        sim_config(FAULT, faults=fault_mix(IMPORT_FAULTS), fault_budget=-1, seed=22,
                   fault_api="multiaccount_import")
        sim_reset(FAULT)
        reset_imcheck_stats()
        t0 = time.monotonic()
        r = s.query("SET imcheck.batch_size = 10;\nSELECT ord, user_id, result_code, result_info "
                    f"FROM im_account_import(ARRAY(SELECT {IMPORT_SCALE_SQL} FROM generate_series(1, {n}) g ORDER BY g), "
                    f"ARRAY(SELECT {IMPORT_NICK_SQL} FROM generate_series(1, {n}) g ORDER BY g), "
                    f"ARRAY(SELECT {IMPORT_FACE_SQL} FROM generate_series(1, {n}) g ORDER BY g)) "
                    f"WITH ORDINALITY {IMPORT_ORD}", timeout=120)
        took = time.monotonic() - t0
        st = stats(FAULT)
        faults = st["faults"]
        rows = ok_rows(r, "the statement")
        ids = [import_scale_id(g) for g in range(1, n + 1)]
        expect(len(rows) == n, f"{len(rows)} rows instead of {n}")
        # A FailAccounts entry left out (missing_item) cannot be seen: the
        # answer lists only the failures.  Every batch of 10 holds a refused
        # ID, so each such fault makes exactly one refused ID read as imported.
        wrong, unseen = [], set()
        for i, line in enumerate(rows):
            uid = ids[i]
            want = "|".join((str(i + 1), uid) + import_expect(uid))
            if line != want:
                if refused(uid) and line == f"{i + 1}|{uid}|0|":
                    unseen.add(uid)
                else:
                    wrong.append((line, want))
        if wrong:
            raise CheckFailed(f"{len(wrong)} wrong rows, e.g. got {wrong[0][0]!r} want {wrong[0][1]!r}")
        expect(sorted(faults) == sorted(IMPORT_FAULTS), f"not every fault kind was injected: {faults}")
        expect(len(unseen) == faults.get("missing_item", 0),
               f"{len(unseen)} refused IDs read as imported, but imsim left out "
               f"{faults.get('missing_item', 0)} FailAccounts entries")
        # imsim counts the items of successful calls only: not those of the
        # calls whose answer lost an entry (imcheck took them, rightly)
        distinct_ids = list(dict.fromkeys(ids))
        batch_of = {u: k // 10 for k, u in enumerate(distinct_ids)}
        lost = sum(len(distinct_ids[10 * b:10 * b + 10]) for b in {batch_of[u] for u in unseen})
        want_items = len(distinct_ids) - lost
        api = st["apis"]["multiaccount_import"]
        expect(api["items"] == want_items and st["distinct_ids"] == want_items and st["repeated_ids"] == 0,
               f"imsim saw items={api['items']} distinct={st['distinct_ids']} "
               f"repeated={st['repeated_ids']} in successful calls (want {want_items}, {want_items}, 0)")
        detected = [k for k in IMPORT_FAULTS if k != "missing_item"]
        problems, got = check_stats_per_api("multiaccount_import", faults, 0, detected)
        expect(not problems, "; ".join(problems))

        # afterwards account_check (no faults) says Imported exactly for the imported ones
        sim_defaults(FAULT)
        r = s.query("RESET imcheck.batch_size;\nSELECT user_id, result_code, "
                    "coalesce(account_status, '<null>') FROM im_account_check(ARRAY(SELECT DISTINCT "
                    f"{IMPORT_SCALE_SQL} FROM generate_series(1, {n}) g))", timeout=60)
        got_status = {}
        for line in ok_rows(r, "account_check afterwards"):
            uid, code, status = line.split("|")
            got_status[uid] = (code, status)
        bad = []
        for uid in distinct_ids:
            b = uid.encode()
            want = (("70402", "<null>") if len(b) == 0 or len(b) > 32 else
                    ("0", "NotImported") if refused(uid) else ("0", "Imported"))
            if got_status.get(uid) != want:
                bad.append(f"{uid!r}: {got_status.get(uid)} want {want}")
        expect(not bad, f"account_check afterwards: {len(bad)} wrong, e.g. {bad[:3]}")
        n_imported = sum(1 for u in distinct_ids if not refused(u))
        cfg = sim_config(FAULT)
        expect(cfg["imported_by_api"] == n_imported,
               f"imsim's store holds {cfg['imported_by_api']} imported accounts, want {n_imported}")
    finally:
        s.close()
        sim_defaults(FAULT)
    total = sum(faults.values())
    return (f"{n} rows right in {took:.1f} s; {api['calls']} calls, {total} faulted: "
            f"{json.dumps(faults, sort_keys=True)}; retries {got}; {len(unseen)} refused IDs "
            f"read as imported, one per missing_item (undetectable); account_check then says "
            f"Imported for the {n_imported} imported, NotImported for the refused")


def check_reset_counted():
    """A call whose kept connection is reset after the request went out
    (imsim's reset fault: answered by nothing) is a stale connection: sent
    again at once on a new connection, without a retry, so it succeeds even
    at max_retries 0.  The API may have received the first send, which
    counts against the app's rate: imcheck_stats counts both sends as calls
    and the first as a stale connection."""
    s = Session(MAIN, {"imcheck.max_retries": 0})
    problems, figures = [], []
    try:
        for api, warm, sql in (
                ("query_online_status", "SELECT count(*) FROM im_query_online_status(ARRAY['rc0'])",
                 "SELECT user_id, result_code FROM im_query_online_status(ARRAY['rc4', 'rc1'], false)"),
                ("multiaccount_import", "SELECT count(*) FROM im_account_import(ARRAY['rc0x'])",
                 "SELECT user_id, result_code FROM im_account_import(ARRAY['rc4x', 'rc1x'], "
                 "raise_on_error => false)")):
            r = s.query(warm)           # leaves a keep-alive connection to imsim
            expect(ok_rows(r, "the first call") == ["1"], f"{api}: the first call gave {r.rows}")
            sim_reset(MAIN)
            reset_imcheck_stats()
            one_fault(MAIN, "reset")
            r = s.query(sql)
            st, sim_api = imcheck_stats(), api_stats(MAIN, api)
            counted, retries = st[(api, "calls")], st[(api, "retries_connection")]
            stale = st[(api, "stale_connections")]
            line = (f"{api}: imsim got {sim_api['calls']} calls {sim_api['calls_by_code']}, imcheck_stats "
                    f"counts {counted} calls, {stale} stale connections, {retries} connection retries; "
                    f"rows {r.rows or r.errors} (max_retries 0)")
            figures.append(line)
            # the rows are the API's answers (70107 for an account not imported), no -3
            if sim_api["calls"] != 2 or counted != 2 or stale != 1 or retries != 0 or \
                    len(r.rows) != 2 or any(row.split("|")[1].startswith("-") for row in r.rows):
                problems.append(line)
    finally:
        s.close()
        sim_defaults(MAIN)
    expect(not problems, "; ".join(problems))
    return "; ".join(figures)


# ======================================================== 2. rate per API

class Sampler:
    """Polls imsim's per-API call counters every 50 ms in a thread."""

    def __init__(self, url):
        self.url, self.samples, self.stop_ = url, [], False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop_:
            a = stats(self.url)["apis"]
            self.samples.append((time.monotonic(), a["multiaccount_import"]["calls"],
                                 a["query_online_status"]["calls"]))
            time.sleep(0.05)

    def stop(self):
        self.stop_ = True
        self.t.join()

    def max_combined(self, span=1.0):
        """Most calls of both APIs together in any window of about span seconds,
        per second; and the same for each API alone."""
        best = (0.0, 0.0, 0.0)
        s = self.samples
        j = 0
        for i in range(len(s)):
            while j < len(s) and s[j][0] - s[i][0] < span:
                j += 1
            if j >= len(s):
                break
            dt = s[j][0] - s[i][0]
            imp = (s[j][1] - s[i][1]) / dt
            onl = (s[j][2] - s[i][2]) / dt
            if imp + onl > best[0]:
                best = (imp + onl, imp, onl)
        return best


def no_60007(st):
    return {api: st["apis"][api]["calls_by_code"].get("60007", 0) for api in APIS
            if st["apis"][api]["calls_by_code"].get("60007", 0)}


def check_rate_online():
    sim_defaults(MAIN)
    s = Session(MAIN)
    try:
        out = []
        for batch, n_calls, min_s in ((None, 120, 0.0), (100, 600, 2.0)):
            sim_reset(MAIN)
            setb = f"SET imcheck.batch_size = {batch};\n" if batch else "RESET imcheck.batch_size;\n"
            t0 = time.monotonic()
            r = s.query(setb + "SELECT count(*), count(*) FILTER (WHERE result_code || '|' || "
                        "coalesce(status, '<null>') || '|' || coalesce(detail::text, '<null>') = "
                        "apis_online_expect(user_id)) FROM im_query_online_status(ARRAY(SELECT 'rate' || g "
                        "FROM generate_series(1, 60000) g))", timeout=60)
            took = time.monotonic() - t0
            st = stats(MAIN)
            api = st["apis"]["query_online_status"]
            expect(ok_rows(r, "the statement") == ["60000|60000"], f"batch {batch}: rows {r.rows}")
            expect(api["calls"] == n_calls and api["items"] == 60000 and
                   api["calls_by_code"] == {"0": n_calls},
                   f"batch {batch}: imsim got {api['calls']} calls (want {n_calls}), items "
                   f"{api['items']}, {api['calls_by_code']}")
            expect(api["max_calls_per_second"] <= 200,
                   f"batch {batch}: {api['max_calls_per_second']} calls in one second (limit 200)")
            expect(not no_60007(st), f"60007 at the defaults: {no_60007(st)}")
            expect(took >= min_s, f"{n_calls} calls in {took:.2f} s: faster than 200 a second")
            if batch:
                expect(api["max_calls_per_second"] >= 150,
                       f"only {api['max_calls_per_second']} calls a second of the 200 allowed")
            out.append(f"{n_calls} calls of {60000 // n_calls} IDs, max {api['max_calls_per_second']}/s, "
                       f"{took:.2f} s")
        return "; ".join(out)
    finally:
        s.close()


def check_rate_import():
    sim_defaults(MAIN)
    sim_reset(MAIN)
    s = Session(MAIN)
    try:
        t0 = time.monotonic()
        r = s.query("SELECT count(*), count(*) FILTER (WHERE result_code = 0 AND result_info = '') "
                    "FROM im_account_import(ARRAY(SELECT 'ri' || g || 'x' FROM generate_series(1, 5000) g))",
                    timeout=60)
        took = time.monotonic() - t0
    finally:
        s.close()
    st = stats(MAIN)
    api = st["apis"]["multiaccount_import"]
    expect(ok_rows(r, "the statement") == ["5000|5000"], f"rows {r.rows}")
    expect(api["calls"] == 50 and api["items"] == 5000 and api["calls_by_code"] == {"0": 50},
           f"imsim got {api['calls']} calls (want 50), items {api['items']}, {api['calls_by_code']}")
    expect(api["max_calls_per_second"] <= 100, f"{api['max_calls_per_second']} calls in one second")
    expect(not no_60007(st), f"60007 at the defaults: {no_60007(st)}")
    return f"50 calls of 100 IDs, max {api['max_calls_per_second']}/s, {took:.2f} s"


def check_rate_both():
    """An import and an online query at once, from two sessions: each API
    within its own limit, neither waiting for the other's budget."""
    sim_defaults(MAIN)
    sim_reset(MAIN)
    reset_imcheck_stats()
    a, b = Session(MAIN), Session(MAIN, {"imcheck.batch_size": 100})
    sampler = Sampler(MAIN)
    try:
        t0 = time.monotonic()
        a.send("SELECT count(*) FILTER (WHERE result_code = 0) FROM im_account_import("
               "ARRAY(SELECT 'both' || g || 'x' FROM generate_series(1, 25000) g))")
        b.send("SELECT count(*), count(*) FILTER (WHERE result_code || '|' || coalesce(status, '<null>') "
               "|| '|' || coalesce(detail::text, '<null>') = apis_online_expect(user_id)) FROM "
               "im_query_online_status(ARRAY(SELECT 'bothq' || g FROM generate_series(1, 60000) g))")
        ra = a.collect(60)
        ta = time.monotonic() - t0
        rb = b.collect(60)
        tb = time.monotonic() - t0
    finally:
        sampler.stop()
        a.close()
        b.close()
    st = stats(MAIN)
    imp, onl = st["apis"]["multiaccount_import"], st["apis"]["query_online_status"]
    expect(ok_rows(ra, "the import") == ["25000"], f"import rows {ra.rows}")
    expect(ok_rows(rb, "the online query") == ["60000|60000"], f"online rows {rb.rows}")
    expect(imp["calls"] == 250 and imp["calls_by_code"] == {"0": 250},
           f"import: {imp['calls']} calls {imp['calls_by_code']} (want 250, all 0)")
    expect(onl["calls"] == 600 and onl["calls_by_code"] == {"0": 600},
           f"online: {onl['calls']} calls {onl['calls_by_code']} (want 600, all 0)")
    expect(imp["max_calls_per_second"] <= 100 and onl["max_calls_per_second"] <= 200,
           f"over a limit: import {imp['max_calls_per_second']}/s, online {onl['max_calls_per_second']}/s")
    expect(imp["max_calls_per_second"] >= 80 and onl["max_calls_per_second"] >= 160,
           f"an API kept below its own limit by the other: import {imp['max_calls_per_second']}/s "
           f"(of 100), online {onl['max_calls_per_second']}/s (of 200)")
    both, bi, bo = sampler.max_combined()
    expect(both > 200, f"together at most {both:.0f} calls a second (import {bi:.0f}, online {bo:.0f}): "
           "one waits for the other's budget")
    ist = imcheck_stats()
    expect(not no_60007(st), f"60007 at the defaults: {no_60007(st)}")
    return (f"import 250 calls in {ta:.2f} s (max {imp['max_calls_per_second']}/s), online 600 calls "
            f"in {tb:.2f} s (max {onl['max_calls_per_second']}/s); together up to {both:.0f} calls/s "
            f"(import {bi:.0f} + online {bo:.0f}); rate_wait_ms import "
            f"{ist[('multiaccount_import', 'rate_wait_ms')]}, online {ist[('query_online_status', 'rate_wait_ms')]}")


# ===================================================== 3. raise_on_error

def one_fault(url, kind):
    sim_config(url, faults={kind: 1}, fault_budget=1, fault_api="")


def check_raise_online():
    s = Session(MAIN, {"imcheck.batch_size": 2, "imcheck.max_concurrency": 1})
    ids = ["k0", "k2", "k0", "k4", "k1", "k6"]
    try:
        one_fault(MAIN, "code70402")
        r = s.query(f"SELECT user_id, result_code, {ONLINE_COLS} FROM im_query_online_status({arr(ids)}, false)")
        # batches [k0 k2] (fails) [k4 k1] [k6]
        want = ["k0|70402|<null>|<null>", "k2|70402|<null>|<null>", "k0|70402|<null>|<null>",
                f"k4|0|Online|{DETAIL_ONLINE}", "k1|70107|<null>|<null>", f"k6|0|PushOnline|{DETAIL_PUSH}"]
        expect(ok_rows(r, "raise_on_error false") == want, f"raise_on_error false gave {r.rows}, want {want}")
        one_fault(MAIN, "code70402")
        r = s.query(f"SELECT count(*) FROM im_query_online_status({arr(ids)})")
        expect(r.error and r.error[1:] == ("38000", "query_online_status call failed after 1 attempt")
               and detail_of(r) == f"ErrorCode 70402: {INFO_70402} (random N)",
               f"raise_on_error true: {r.errors} {r.details[:1]}")
        for raise_ in ("true", "false"):
            one_fault(MAIN, "code70403")
            r = s.query(f"SELECT count(*) FROM im_query_online_status({arr(ids)}, {raise_})")
            expect(r.error and r.error[1:] == ("42501", "the IM API refused the query_online_status call"),
                   f"70403, raise_on_error {raise_}: {r}")
        r = s.query(f"SELECT count(*) FROM im_query_online_status({arr(ids)})")
        expect(ok_rows(r, "the next statement") == ["6"], f"the next statement gave {r}")
        return "70402: the failed call's rows 70402/NULL/NULL, others right; raised 38000; 70403: 42501 both ways"
    finally:
        s.close()
        sim_defaults(MAIN)


def check_raise_import():
    s = Session(MAIN, {"imcheck.batch_size": 2, "imcheck.max_concurrency": 1})
    try:
        accounts_reset(MAIN)
        one_fault(MAIN, "code70402")
        ids = ["rf1x", "reject9", "rf1x", "rf3x", "reject8"]
        r = s.query(f"SELECT user_id, result_code, result_info FROM im_account_import({arr(ids)}, "
                    "raise_on_error => false)")
        want = [f"rf1x|70402|{INFO_70402}", f"reject9|70402|{INFO_70402}", f"rf1x|70402|{INFO_70402}",
                "rf3x|0|", f"reject8|-9|{NOT_IMPORTED_INFO}"]
        expect(ok_rows(r, "raise_on_error false") == want, f"raise_on_error false gave {r.rows}, want {want}")
        r = s.query("SELECT user_id, account_status FROM im_account_check(ARRAY['rf1x', 'rf3x'])")
        expect(ok_rows(r, "account_check") == ["rf1x|NotImported", "rf3x|Imported"],
               f"the failed call imported something, or the good one nothing: {r.rows}")
        one_fault(MAIN, "code70402")
        r = s.query(f"SELECT count(*) FROM im_account_import({arr(['rt1x', 'rt2x'])})")
        expect(r.error and r.error[1:] == ("38000", "multiaccount_import call failed after 1 attempt")
               and detail_of(r) == f"ErrorCode 70402: {INFO_70402} (random N)",
               f"raise_on_error true: {r.errors} {r.details[:1]}")
        for raise_ in ("true", "false"):
            one_fault(MAIN, "code70403")
            r = s.query(f"SELECT count(*) FROM im_account_import({arr(['ru1x'])}, raise_on_error => {raise_})")
            expect(r.error and r.error[1:] == ("42501", "the IM API refused the multiaccount_import call"),
                   f"70403, raise_on_error {raise_}: {r}")
        return "70402: the failed call's rows carry 70402 and its ErrorInfo, imported nothing; raised 38000; 70403: 42501"
    finally:
        s.close()
        sim_defaults(MAIN)


def check_account_limit():
    """70398 raises 54000 whatever raise_on_error says, is not retried, and
    that call imports nothing (imsim); the call before it did import."""
    s = Session(MAIN, {"imcheck.max_concurrency": 1})
    try:
        out = []
        for k, raise_ in enumerate(("false", "true")):
            accounts_reset(MAIN)
            sim_defaults(MAIN, account_limit=150)
            sim_reset(MAIN)
            prefix = f"al{k}_"
            r = s.query(f"SELECT count(*) FROM im_account_import(ARRAY(SELECT '{prefix}' || g || 'x' "
                        f"FROM generate_series(1, 300) g), raise_on_error => {raise_})")
            api = stats(MAIN)["apis"]["multiaccount_import"]
            expect(r.error and r.error[1:] == ("54000", "the IM API refused the multiaccount_import call")
                   and detail_of(r) == "ErrorCode 70398: The number of accounts exceeds the limit. "
                   "Upgrade the app to create more accounts. (random N)",
                   f"raise_on_error {raise_}: {r.errors} {r.details[:2]}")
            expect(api["calls_by_code"] == {"0": 1, "70398": 1},
                   f"raise_on_error {raise_}: imsim answered {api['calls_by_code']} (want one 0, one 70398, "
                   "no retry, no call after)")
            cfg = sim_config(MAIN, account_limit=0)
            expect(cfg["imported_by_api"] == 100, f"{cfg['imported_by_api']} accounts imported (want 100)")
            r = s.query("SELECT count(*) FILTER (WHERE account_status = 'Imported' AND g <= 100), "
                        "count(*) FILTER (WHERE account_status = 'NotImported' AND g > 100) "
                        f"FROM im_account_check(ARRAY(SELECT '{prefix}' || g || 'x' FROM generate_series(1, 300) g)) "
                        "WITH ORDINALITY AS t(user_id, result_code, account_status, result_info, g)")
            expect(ok_rows(r, "account_check") == ["100|200"],
                   f"account_check after the refused import: {r.rows} (want 100 Imported, 200 not)")
            out.append(f"raise_on_error {raise_}: 54000 after calls {api['calls_by_code']}")
        return "; ".join(out) + "; the first 100 imported, the refused call's 100 and the rest not"
    finally:
        s.close()
        sim_defaults(MAIN)
        accounts_reset(MAIN)


# ============================================================== 4. cancel

CANCEL_STATEMENTS = {
    "query_online_status": ("SELECT count(*) FROM im_query_online_status(ARRAY(SELECT 'c' || g "
                            "FROM generate_series(1, 100000) g))",
                            "SELECT user_id, result_code, coalesce(status, '<null>') FROM "
                            "im_query_online_status(ARRAY['cv4', 'cv1'])", ["cv4|0|Online", "cv1|70107|<null>"]),
    "multiaccount_import": ("SELECT count(*) FROM im_account_import(ARRAY(SELECT 'ci' || g || 'x' "
                            "FROM generate_series(1, 50000) g))",
                            "SELECT user_id, result_code FROM im_account_import(ARRAY['cv1x', 'rejectcv'])",
                            ["cv1x|0", "rejectcv|-9"]),
}


def cancel_one(api, method, a, b):
    long_sql, next_sql, next_want = CANCEL_STATEMENTS[api]
    problems = []
    if method == "statement_timeout":
        ms = 800
        t_send = a.send(f"SET statement_timeout = '{ms}ms';\n{long_sql}")
        time.sleep(0.4)
        seen = b.query(f"SELECT api, calls_in_flight > 0 FROM imcheck_progress WHERE pid = {a.pid}").rows
        r = a.collect(30)
        t0 = t_send + ms / 1000.0
        want = ("57014", "canceling statement due to statement timeout")
    else:
        a.send(long_sql)
        deadline = time.monotonic() + 10
        seen = []
        while time.monotonic() < deadline:
            seen = b.query(f"SELECT api, calls_in_flight > 0 FROM imcheck_progress "
                           f"WHERE pid = {a.pid} AND calls > 10").rows
            if seen:
                break
            time.sleep(0.02)
        t0 = time.monotonic()
        rb = b.query(f"SELECT pg_cancel_backend({a.pid})")
        if rb.rows != ["t"]:
            problems.append(f"pg_cancel_backend gave {rb}")
        r = a.collect(30)
        want = ("57014", "canceling statement due to user request")
    if seen != [f"{api}|t"]:
        problems.append(f"while it ran imcheck_progress showed {seen} (want {api} with calls in flight)")
    if not r.errors or r.error[1:] != want:
        problems.append(f"the statement gave {r}, want {want}")
        lat = float("inf")
    else:
        lat = r.t_err - t0
        if lat >= 1.0:
            problems.append(f"the error came {lat:.3f} s after the {method}")
    left = b.query("SELECT count(*) FROM imcheck_progress").rows
    if left != ["0"]:
        problems.append(f"imcheck_progress has {left} rows left")
    rn = a.query("RESET statement_timeout;\n" + next_sql)
    if rn.sqlstate != "00000" or rn.rows != next_want:
        problems.append(f"the next statement in the session gave {rn.rows} {rn.errors} (want {next_want})")
    return lat, problems


def check_cancel():
    sim_defaults(SLOW, latency_ms=200)
    a = Session(SLOW, {"imcheck.batch_size": 100})
    b = Session()
    try:
        figures, problems = [], []
        for api in CANCEL_STATEMENTS:
            for method in ("pg_cancel_backend", "statement_timeout"):
                lat, p = cancel_one(api, method, a, b)
                figures.append(f"{api} {method}: {lat * 1000:.1f} ms")
                problems += [f"{api} {method}: {x}" for x in p]
        expect(not problems, "; ".join(problems))
        return "; ".join(figures) + "; no imcheck_progress row left; the next statement right"
    finally:
        a.close()
        b.close()


# ============================================================== 5. leaks

LEAK_ROUNDS = 10
LEAK_PER_ROUND = 30     # of each function: 300 statements of each in all


def leak_online(i):
    ids = f"ARRAY['lo{i}4', 'lo{i}1', 'lo{i}6']"
    if i % 10 == 0:
        return ("SELECT count(*) FROM im_query_online_status(" +
                [f"ARRAY['lo{i}', NULL]", f"ARRAY[['lo{i}'], ['x']]", f"ARRAY['lo{i}', repeat('y', 5000)]"][i // 10 % 3]
                + ")")
    if i % 10 == 5:
        return f"SELECT count(*) FROM im_query_online_status({ids}, false)"
    return f"SELECT count(*) FROM im_query_online_status({ids})"


def leak_import(i):
    ids = f"ARRAY['li{i}x', 'reject{i}', 'li{i}y']"
    nicks = f"ARRAY['Nick {i}', NULL, repeat('n', {i % 50 + 1})]"
    if i % 10 == 0:
        return ("SELECT count(*) FROM im_account_import(" +
                [f"{ids}, ARRAY['a']", f"{ids}, {nicks}, ARRAY['f', repeat('g', 5000), 'h']",
                 f"ARRAY['li{i}', NULL]"][i // 10 % 3] + ")")
    if i % 10 == 5:
        return f"SELECT count(*) FROM im_account_import({ids}, {nicks}, NULL, false)"
    return f"SELECT count(*) FROM im_account_import({ids}, {nicks}, ARRAY['https://f/{i}', NULL, NULL])"


def check_leaks():
    sim_defaults(FAULT, faults={"code70402": 0.3, "http502": 0.1}, fault_api="", seed=31,
                 rate_limit=0, import_rate_limit=0, online_rate_limit=0)
    s = Session(FAULT, {"imcheck.max_retries": 0, "imcheck.import_rate_limit": 0,
                        "imcheck.online_status_rate_limit": 0})
    outcomes, marks = {}, {}
    t_start = time.monotonic()
    try:
        for k in range(LEAK_ROUNDS):
            lo, hi = k * LEAK_PER_ROUND + 1, (k + 1) * LEAK_PER_ROUND
            mark = f"__leakmark_{hi}__"
            s.send_raw("".join(leak_online(i) + ";\n" + leak_import(i) + ";\n" for i in range(lo, hi + 1))
                       + f"\\echo {mark}\n")
            r = s.collect(timeout=120, marker=mark)
            expect(not r.eof, f"the session ended (backend crash?): {r.errors[-3:]}")
            outcomes["ok"] = outcomes.get("ok", 0) + sum(1 for x in r.rows if x.isdigit())
            for sev, code, msg in r.errors:
                outcomes[code] = outcomes.get(code, 0) + 1
            ctx = s.query("SELECT sum(total_bytes) FROM pg_backend_memory_contexts", timeout=30)
            marks[hi] = (proc_mem_kb(s.pid), fd_summary(s.pid, FAULT), int(ctx.rows[0]))
    finally:
        s.close()
        sim_defaults(FAULT)
    took = time.monotonic() - t_start
    total_n = 2 * LEAK_ROUNDS * LEAK_PER_ROUND
    a, b = 2 * LEAK_PER_ROUND, LEAK_ROUNDS * LEAK_PER_ROUND
    (m1, k1, c1), (m2, k2, c2) = marks[a], marks[b]
    growth = m2["VmRSS"] - m1["VmRSS"]
    anon = m2["RssAnon"] - m1["RssAnon"]
    early = max(v[1][0] for n, v in marks.items() if n <= a)
    late = max(v[1][0] for n, v in marks.items() if n > a)
    pooled = max(v[1][1] for v in marks.values())
    total = sum(outcomes.values())
    series = ", ".join(str(marks[n][0]["RssAnon"]) for n in sorted(marks))
    detail = (f"{total} statements in {took:.1f} s: {outcomes}; after {a} of each: RSS "
              f"{m1['VmRSS'] / 1024:.1f} MiB (anon {m1['RssAnon'] / 1024:.2f}), other fds {k1[2]}, contexts "
              f"{c1 // 1024} kB; after {b} of each: RSS {m2['VmRSS'] / 1024:.1f} MiB (anon "
              f"{m2['RssAnon'] / 1024:.2f}), other fds {k2[2]}, contexts {c2 // 1024} kB; RssAnon kB "
              f"per round: {series}; imsim connections at most {pooled}")
    expect(total == total_n, f"{total} outcomes for {total_n} statements: {detail}")
    expect(outcomes.get("38000", 0) > 0 and outcomes.get("22004", 0) > 0 and
           outcomes.get("2202E", 0) > 0 and outcomes.get("22001", 0) > 0 and outcomes.get("ok", 0) > total_n // 3,
           f"the statement mix did not come out as meant: {detail}")
    expect(growth < 2048 and anon < 2048, f"RSS grew by {growth} kB (anon {anon} kB): {detail}")
    expect(late <= early, f"descriptors other than relation files and imsim connections grew from "
           f"{early} to {late}: {detail}")
    expect(pooled <= 16 + 4, f"{pooled} connections to imsim between statements: {detail}")
    expect(c2 - c1 < 256 * 1024, f"memory contexts grew by {(c2 - c1) // 1024} kB: {detail}")
    return detail


# ============================================================ 6. security

class EchoServer(http.server.BaseHTTPRequestHandler):
    """A gateway that reflects the request (its URL carries the UserSig), or
    records the request body and answers like the API.  The first path
    segment picks the mode."""
    bodies = []

    def log_message(self, *a):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        mode = self.path[1:].split("/", 1)[0]
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        sig = query.get("usersig", [""])[0]
        echo = "cannot handle POST " + self.path
        req = json.loads(body)
        online = "To_Account" in req
        if mode == "rec":
            EchoServer.bodies.append(req)
        if mode == "echo-404":
            self.send_response(404)
            self.send_header("Content-Length", str(len(echo)))
            self.end_headers()
            self.wfile.write(echo.encode())
            return
        if mode in ("echo-fail", "echo-fatal", "echo-sig"):
            ans = {"ActionStatus": "FAIL", "ErrorCode": 70009 if mode == "echo-fatal" else 70402,
                   "ErrorInfo": echo if mode != "echo-sig" else f"signature {sig} is not valid here"}
        elif online:
            items = []
            for u in req["To_Account"]:
                # detail-nul: valid JSON that jsonb refuses (\u0000)
                platform = (echo if mode == "echo-detail" else
                            "Web\x00" if mode == "detail-nul" else "iPhone")
                items.append({"To_Account": u, "Status": "Online",
                              "Detail": [{"Platform": platform, "Status": "Online"}]})
            ans = {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "", "QueryResult": items}
        else:
            ans = {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "", "FailAccounts": []}
        raw = json.dumps(ans).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass


ECHO = None


def echo_url():
    global ECHO
    if ECHO is None:
        ECHO = _Server(("127.0.0.1", 0), EchoServer)
        threading.Thread(target=ECHO.serve_forever, daemon=True).start()
    return "http://127.0.0.1:%d" % ECHO.server_address[1]


def closed_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def analyst_endpoint(url):
    if url is None:
        psql_once("ALTER ROLE apis_analyst RESET imcheck.endpoint")
    else:
        psql_once(f"ALTER ROLE apis_analyst SET imcheck.endpoint = {lit(url)}")


def check_execute_revoked():
    problems = []
    for fn in (IMPORT, ONLINE):
        v = psql_once(f"SELECT has_function_privilege('public', '{fn}', 'EXECUTE')").strip()
        if v != "f":
            problems.append(f"PUBLIC has EXECUTE on {fn}")
    before = stats(MAIN)["calls"]
    for sql, name in (("SELECT * FROM im_account_import(ARRAY['pf1x'])", "im_account_import"),
                      ("SELECT * FROM im_account_import(ARRAY['pf1x'], ARRAY['n'], NULL, false)", "im_account_import"),
                      ("SELECT im_query_online_status(ARRAY['pf2'])", "im_query_online_status"),
                      ("DO $$BEGIN PERFORM * FROM im_query_online_status(ARRAY['pf2'], false); END$$",
                       "im_query_online_status")):
        rc, out, err = psql_as("apis_fresh", sql)
        if f"ERROR:  42501: permission denied for function {name}" not in err:
            problems.append(f"a fresh role ran {sql!r}: {err.strip() or out.strip()}")
    calls = stats(MAIN)["calls"] - before
    expect(not problems and calls == 0, f"{problems}; {calls} calls made")
    return "PUBLIC has no EXECUTE on either; a fresh role gets 42501 for both, no call made"


def check_analyst_can_call():
    s = UserSession("apis_analyst")
    try:
        r = s.query(f"SELECT user_id, result_code, {ONLINE_COLS} FROM im_query_online_status(ARRAY['an4', 'an1'])")
        expect(ok_rows(r, "online") == [f"an4|0|Online|{DETAIL_ONLINE}", "an1|70107|<null>|<null>"],
               f"online as the analyst: {r.rows}")
        r = s.query("SELECT user_id, result_code, result_info FROM im_account_import(ARRAY['an1x', 'rejectan'])")
        expect(ok_rows(r, "import") == ["an1x|0|", f"rejectan|-9|{NOT_IMPORTED_INFO}"],
               f"import as the analyst: {r.rows}")
        return "both functions answer the granted analyst"
    finally:
        s.close()


def check_rate_settings_locked():
    problems = []
    before = psql_once("SELECT string_agg(name || '=' || setting, ',' ORDER BY name) FROM pg_settings "
                       "WHERE name LIKE 'imcheck.%rate_limit'").strip()
    s = UserSession("apis_analyst")
    try:
        for name in ("imcheck.import_rate_limit", "imcheck.online_status_rate_limit"):
            for sql in (f"SET {name} = 1000", f"BEGIN; SET LOCAL {name} = 1000; COMMIT",
                        f"SELECT set_config('{name}', '1000', false)",
                        f"ALTER ROLE apis_analyst SET {name} = 1000",
                        f"CREATE FUNCTION pg_temp.apis_f() RETURNS int LANGUAGE sql SET {name} = 1000 AS 'SELECT 1'"):
                r = s.query(sql)
                if not r.errors or r.error[1:] != ("42501", f'permission denied to set parameter "{name}"'):
                    problems.append(f"{sql}: {r.errors or 'accepted'}")
                s.query("ROLLBACK")
            rc, out, err = psql_as("apis_analyst", f"SHOW {name}", options=f"-c {name}=1000")
            if rc == 0 or f'FATAL:  permission denied to set parameter "{name}"' not in err:
                problems.append(f"PGOPTIONS -c {name}=1000: {out.strip() or err.strip()}")
            r = s.query(f"SHOW {name}")
            if r.rows != ["100" if "import" in name else "200"]:
                problems.append(f"the analyst sees {name} = {r.rows}")
    finally:
        s.close()
    after = psql_once("SELECT string_agg(name || '=' || setting, ',' ORDER BY name) FROM pg_settings "
                      "WHERE name LIKE 'imcheck.%rate_limit'").strip()
    stored = psql_once("SELECT count(*) FROM pg_db_role_setting s, unnest(s.setconfig) c "
                       "WHERE c LIKE 'imcheck.%'").strip()
    r = psql_once("SET imcheck.import_rate_limit = 50; SET imcheck.online_status_rate_limit = 60; "
                  "SELECT current_setting('imcheck.import_rate_limit') || ',' || "
                  "current_setting('imcheck.online_status_rate_limit')").strip()
    expect(not problems and before == after and stored == "0" and r == "50,60",
           f"{problems}; settings {before} -> {after}; stored {stored}; superuser SET gave {r!r}")
    return f"SET, SET LOCAL, set_config, ALTER ROLE SET, function SET, PGOPTIONS refused (42501); {after}"


def check_key_unreadable():
    problems = []
    s = UserSession("apis_analyst")
    try:
        for sql in ("SHOW imcheck.secret_key", "SHOW imcheck.secret_key_file", "SHOW imcheck.usersig",
                    "SELECT current_setting('imcheck.secret_key_file')",
                    "SELECT current_setting('imcheck.secret_key')",
                    f"SELECT pg_read_file({lit(os.path.join(os.environ['APIS_TMP'], 'imcheck.key'))})"):
            r = s.query(sql)
            if not r.errors or leaks(full_text(r), SECRETS):
                problems.append(f"{sql}: {full_text(r)[:200]}")
        r = s.query("SELECT name FROM pg_settings WHERE name IN ('imcheck.secret_key', "
                    "'imcheck.secret_key_file', 'imcheck.usersig')")
        if r.rows:
            problems.append(f"pg_settings shows the analyst {r.rows}")
    finally:
        s.close()
    expect(not problems, "; ".join(problems))
    return "SHOW, current_setting, pg_read_file refused; pg_settings shows none of the three"


def messages_scenarios():
    """(label, endpoint or None, faults, statement, wanted SQLSTATE or None
    for rows, wanted result_code of rows)."""
    down = f"http://127.0.0.1:{closed_port()}"
    onl = "SELECT user_id, result_code FROM im_query_online_status(ARRAY['ms4', 'ms1']{})"
    imp = "SELECT user_id, result_code, result_info FROM im_account_import(ARRAY['ms1x', 'ms2x']{})"
    sc = []
    for fn, sql, rf in (("online", onl, ", {}"), ("import", imp, ", raise_on_error => {}")):
        sc += [
            (f"{fn} wrong key (70009)", WRONGKEY, {}, sql.format(""), "28000", None),
            (f"{fn} wrong key (70009), raise_on_error false", WRONGKEY, {}, sql.format(rf.format("false")), "28000", None),
            (f"{fn} endpoint down", down, {}, sql.format(""), "08006", None),
            (f"{fn} endpoint down, raise_on_error false", down, {}, sql.format(rf.format("false")), None, "-1"),
            (f"{fn} malformed", FAULT, {"malformed": 1}, sql.format(""), "08P01", None),
            (f"{fn} malformed, raise_on_error false", FAULT, {"malformed": 1}, sql.format(rf.format("false")), None, "-4"),
            (f"{fn} truncated", FAULT, {"truncated": 1}, sql.format(""), "08P01", None),
            (f"{fn} extra_item, raise_on_error false", FAULT, {"extra_item": 1}, sql.format(rf.format("false")), None, "-5"),
            (f"{fn} http502", FAULT, {"http502": 1}, sql.format(""), "08006", None),
            (f"{fn} reset, raise_on_error false", FAULT, {"reset": 1}, sql.format(rf.format("false")), None, "-3"),
            (f"{fn} 70500 after retries", FAULT, {"code70500": 1}, sql.format(""), "38000", None),
            (f"{fn} 70403", FAULT, {"code70403": 1}, sql.format(rf.format("false")), "42501", None),
            (f"{fn} 70402, raise_on_error false", FAULT, {"code70402": 1}, sql.format(rf.format("false")), None, "70402"),
        ]
    sc += [("import 70398", FAULT, {"code70398": 1}, imp.format(", raise_on_error => false"), "54000", None),
           ("import nicks of the wrong length", None, {},
            "SELECT * FROM im_account_import(ARRAY['a'], ARRAY['n', 'm'])", "2202E", None),
           ("online NULL element", None, {}, "SELECT * FROM im_query_online_status(ARRAY['a', NULL])", "22004", None)]
    return sc


def check_messages_hide_secrets():
    """The analyst provokes every error of the two functions it can, with
    client_min_messages = debug1: no message holds the key, a UserSig or
    usersig=."""
    wrong, found, n = [], set(), 0
    try:
        for label, url, faults, sql, want_state, want_code in messages_scenarios():
            analyst_endpoint(url)
            sim_defaults(FAULT, faults=faults)
            s = UserSession("apis_analyst", {"client_min_messages": "debug1", "imcheck.max_retries": 1})
            try:
                r = s.query(sql)
            finally:
                s.close()
            n += 1
            found |= set(leaks(full_text(r), SECRETS))
            if want_state:
                if not r.errors or r.error[1] != want_state:
                    wrong.append(f"{label}: want {want_state}, got {r.errors or r.rows}")
            else:
                codes = {line.split("|")[1] for line in r.rows
                         if not re.match(r"(DEBUG|LOG|INFO):", line)}
                if r.errors or codes != {want_code}:
                    wrong.append(f"{label}: want rows with {want_code}, got {r.errors or r.rows}")
    finally:
        analyst_endpoint(None)
        sim_defaults(FAULT)
    report("security_error_scenarios_as_documented", not wrong, f"{n} scenarios" if not wrong else "; ".join(wrong[:4]))
    expect(not found, f"the analyst was shown {sorted(found)}")
    return f"{n} scenarios, every message scanned: no key, UserSig or usersig="


def check_reflection_redacted():
    """An endpoint that reflects the request URL, or the UserSig alone, in
    an ErrorInfo or a Detail: the analyst never sees the UserSig."""
    base = echo_url()
    problems, shown = [], []
    cases = [
        ("online", "echo-fail", "true", "SELECT * FROM im_query_online_status(ARRAY['rf4'])"),
        ("online", "echo-fatal", "false", "SELECT * FROM im_query_online_status(ARRAY['rf4'], false)"),
        ("online", "echo-sig", "true", "SELECT * FROM im_query_online_status(ARRAY['rf4'])"),
        ("online", "echo-detail", "false", "SELECT user_id, detail FROM im_query_online_status(ARRAY['rf4'], false)"),
        ("online", "echo-404", "true", "SELECT * FROM im_query_online_status(ARRAY['rf4'])"),
        ("import", "echo-fail", "false", "SELECT * FROM im_account_import(ARRAY['rf1x'], raise_on_error => false)"),
        ("import", "echo-fail", "true", "SELECT * FROM im_account_import(ARRAY['rf1x'])"),
        ("import", "echo-fatal", "true", "SELECT * FROM im_account_import(ARRAY['rf1x'])"),
        ("import", "echo-sig", "false", "SELECT * FROM im_account_import(ARRAY['rf1x'], raise_on_error => false)"),
        ("import", "echo-404", "true", "SELECT * FROM im_account_import(ARRAY['rf1x'])"),
    ]
    try:
        for fn, mode, raise_, sql in cases:
            analyst_endpoint(f"{base}/{mode}")
            s = UserSession("apis_analyst", {"imcheck.max_retries": 0})
            try:
                r = s.query(sql)
            finally:
                s.close()
            text = full_text(r)
            found = leaks(text, SECRETS)
            # proof the reflection reached imcheck (an HTTP error's body is never shown)
            ran = ("cannot handle POST" in text or (mode == "echo-sig" and "signature" in text)
                   or (mode == "echo-404" and r.errors and r.error[1] == "08006"))
            if found or not ran:
                problems.append(f"{fn} {mode} raise_on_error {raise_}: "
                                + (f"shown {found}" if found else f"did not run: {text[:200]}"))
            else:
                shown += [ln.strip() for ln in text.splitlines() if "cannot handle POST" in ln][:1]
    finally:
        analyst_endpoint(None)
    expect(not problems, "; ".join(problems))
    return (f"{len(cases)} reflecting answers (ErrorInfo as error and as result_info, the UserSig alone, "
            f"a Detail, a 404); e.g. {shown[0] if shown else ''!r}")


def check_detail_jsonb_refuses():
    """A Detail that is JSON but not jsonb (\u0000): the call is a bad answer
    (-4, retried), never an ERROR after every call was made."""
    base = echo_url()
    s = Session(None, {"imcheck.endpoint": f"{base}/detail-nul", "imcheck.max_retries": 1})
    try:
        r = s.query("SELECT user_id, result_code, status IS NULL, detail IS NULL "
                    "FROM im_query_online_status(ARRAY['dn4', 'dn5'], false)")
        rows = ok_rows(r, "raise_on_error false")
        expect(rows == ["dn4|-4|t|t", "dn5|-4|t|t"], f"rows {rows}")
        r2 = s.query("SELECT count(*) FROM im_query_online_status(ARRAY['dn4'])")
        expect(r2.error and r2.error[1:] == ("08P01", "query_online_status call failed after 2 attempts"),
               f"raise_on_error true: {r2.errors}")
        d = detail_of(r2) or ""
        expect("a Detail is not valid jsonb in this database" in d, f"detail {d!r}")
        r3 = s.query("SELECT 1")
        expect(ok_rows(r3, "the next statement") == ["1"], "the session is usable")
    finally:
        s.close()
    return f"rows {rows}; raised: {r2.error[2]} / {d}"


def check_server_log_clean():
    with open(SERVER_LOG, encoding="utf-8", errors="replace") as f:
        log = f.read()
    found = leaks(log, SECRETS)
    sanity = [s for s in ("imcheck multiaccount_import of", "imcheck query_online_status of",
                          "ErrorCode 70009", "statement: SELECT", "LOCATION:", "DEBUG:",
                          "cannot handle POST")
              if s not in log]
    control = USERSIG_RE.search("x " + "eJw" + "A" * 60 + " y") and leaks("?sdkappid=1&usersig=x", [])
    expect(not sanity, f"the log lacks lines it should have: {sanity}")
    expect(control, "the scan does not find a UserSig by its shape")
    expect(not found, f"the server log holds {found}")
    return f"{len(log) // 1024} kB of log (debug1, statements, verbose): no key, UserSig or usersig="


# =========================================================== 7. input checks

SQLSTATE_DETAIL_4097 = ("It is 4097 bytes long; imcheck sends UserIDs of at most 4096 bytes (the API "
                        "checks UserIDs of at most 32 bytes, and answers longer ones with a per-item error).")

INPUT_ERRORS = [
    # (statement, sqlstate, message, detail)
    ("SELECT * FROM im_query_online_status(NULL)", "22004", "user_ids must not be null", None),
    ("SELECT * FROM im_account_import(NULL)", "22004", "user_ids must not be null", None),
    ("SELECT * FROM im_account_import(NULL, ARRAY['n'])", "22004", "user_ids must not be null", None),
    ("SELECT * FROM im_query_online_status(ARRAY['a', NULL])", "22004",
     "user_ids must not contain null elements", "Element 2 is null."),
    ("SELECT * FROM im_account_import(ARRAY['a', NULL], ARRAY['n', 'm'])", "22004",
     "user_ids must not contain null elements", "Element 2 is null."),
    ("SELECT * FROM im_account_import('[5:6]={a,NULL}'::text[])", "22004",
     "user_ids must not contain null elements", "Element 6 is null."),
    ("SELECT * FROM im_query_online_status(ARRAY[['a'], ['b']])", "2202E",
     "user_ids must be a one-dimensional array", "The array has 2 dimensions."),
    ("SELECT * FROM im_account_import(ARRAY[['a'], ['b']])", "2202E",
     "user_ids must be a one-dimensional array", "The array has 2 dimensions."),
    ("SELECT * FROM im_account_import(ARRAY['a', 'b'], ARRAY[['n'], ['m']])", "2202E",
     "nicks must be a one-dimensional array", "The array has 2 dimensions."),
    ("SELECT * FROM im_account_import(ARRAY['a', 'b'], NULL, ARRAY[[['f']], [['g']]])", "2202E",
     "face_urls must be a one-dimensional array", "The array has 3 dimensions."),
    ("SELECT * FROM im_query_online_status(ARRAY['a', repeat('x', 4097)])", "22001",
     "element 2 of user_ids is too long", SQLSTATE_DETAIL_4097),
    ("SELECT * FROM im_account_import(ARRAY[repeat('x', 4097)])", "22001",
     "element 1 of user_ids is too long", SQLSTATE_DETAIL_4097),
    ("SELECT * FROM im_account_import(ARRAY['a', 'b'], ARRAY['n'])", "2202E",
     "nicks must have as many elements as user_ids", "Their lengths are 2 (user_ids) and 1 (nicks)."),
    ("SELECT * FROM im_account_import(ARRAY['a', 'b', 'a'], NULL, ARRAY['f', 'g'])", "2202E",
     "face_urls must have as many elements as user_ids", "Their lengths are 3 (user_ids) and 2 (face_urls)."),
    ("SELECT * FROM im_account_import(ARRAY[]::text[], ARRAY['n'])", "2202E",
     "nicks must have as many elements as user_ids", "Their lengths are 0 (user_ids) and 1 (nicks)."),
    ("SELECT * FROM im_account_import(ARRAY['a', 'b'], ARRAY['n', repeat('x', 4097)])", "22001",
     "element 2 of nicks is too long", "It is 4097 bytes long; imcheck sends at most 4096 bytes."),
    ("SELECT * FROM im_account_import(ARRAY['a', 'b'], ARRAY['n', repeat(U&'\\00e9', 2049)])", "22001",
     "element 2 of nicks is too long", "It is 4098 bytes long; imcheck sends at most 4096 bytes."),
    ("SELECT * FROM im_account_import(ARRAY['a', 'b'], NULL, ARRAY[repeat('f', 4097), 'g'])", "22001",
     "element 1 of face_urls is too long", "It is 4097 bytes long; imcheck sends at most 4096 bytes."),
    ("SELECT * FROM im_account_import(ARRAY['a', NULL], ARRAY['n'])", "22004",
     "user_ids must not contain null elements", "Element 2 is null."),
    ("SELECT * FROM im_query_online_status(ARRAY['a'], NULL)", "22004", "raise_on_error must not be null", None),
    ("SELECT * FROM im_account_import(ARRAY['a'], NULL, NULL, NULL)", "22004",
     "raise_on_error must not be null", None),
]


def check_input_errors():
    s = Session(MAIN)
    try:
        before = stats(MAIN)["calls"]
        wrong = []
        for sql, state, msg, det in INPUT_ERRORS:
            r = s.query(sql)
            got = (r.error[1], r.error[2], detail_of(r)) if r.errors else ("no error", r.rows, None)
            if got != (state, msg, det):
                wrong.append(f"{sql}: got {got}, want {(state, msg, det)}")
        for sql in ("SELECT count(*) FROM im_query_online_status('{}')",
                    "SELECT count(*) FROM im_account_import('{}', '{}', NULL)"):
            r = s.query(sql)
            if r.errors or r.rows != ["0"]:
                wrong.append(f"{sql}: {r}")
        calls = stats(MAIN)["calls"] - before
        expect(not wrong, f"{len(wrong)} wrong: " + " | ".join(wrong[:4]))
        expect(calls == 0, f"{calls} calls were made for input that is refused before any call")
        # the limits themselves are fine: a 4096-byte Nick, FaceUrl and UserID are sent
        r = s.query("SELECT user_id = repeat('u', 4096), result_code FROM im_account_import("
                    "ARRAY['lim1x', repeat('u', 4096)], ARRAY[repeat('n', 4096), repeat(U&'\\00e9', 2048)], "
                    "ARRAY[repeat('f', 4096), NULL])")
        expect(ok_rows(r, "4096 bytes") == ["f|0", "t|-9"], f"4096-byte values: {r.rows}")
        r = s.query("SELECT result_code FROM im_query_online_status(ARRAY[repeat('8', 4096)])")
        expect(ok_rows(r, "a 4096-byte UserID") == ["70107"], f"a 4096-byte UserID: {r.rows}")
        calls = stats(MAIN)["calls"] - before
        expect(calls == 2, f"{calls} calls for the 4096-byte values (want 2)")
        return f"{len(INPUT_ERRORS)} refused inputs with their exact messages, 0 calls; 4096 bytes accepted"
    finally:
        s.close()


def check_first_nick_wins():
    EchoServer.bodies.clear()
    ids = ["d1", "d2", "d1", "d3", "d3", "d2"]
    nicks = ["first", "n2", "second", None, "later", None]
    faces = [None, "f2", "f1b", "f3", None, "f2b"]
    s = Session(echo_url() + "/rec")
    try:
        r = s.query(f"SELECT user_id, result_code FROM im_account_import({arr(ids)}, {arr(nicks)}, {arr(faces)})")
        expect(ok_rows(r, "import") == [f"{u}|0" for u in ids], f"import through the recorder: {r.rows}")
        r = s.query(f"SELECT user_id, status FROM im_query_online_status({arr(ids)})")
        expect(ok_rows(r, "online") == [f"{u}|Online" for u in ids], f"online through the recorder: {r.rows}")
    finally:
        s.close()
    want_import = {"AccountList": [{"UserID": "d1", "Nick": "first"},
                                   {"UserID": "d2", "Nick": "n2", "FaceUrl": "f2"},
                                   {"UserID": "d3", "FaceUrl": "f3"}]}
    want_online = {"To_Account": ["d1", "d2", "d3"], "IsNeedDetail": 1}
    expect(EchoServer.bodies == [want_import, want_online],
           f"the requests were {EchoServer.bodies}, want {[want_import, want_online]}")
    # and imsim counts each repeated UserID once
    sim_reset(MAIN)
    s = Session(MAIN)
    try:
        r = s.query(f"SELECT count(*) FROM im_account_import({arr(ids)}, {arr(nicks)}, {arr(faces)})")
        expect(ok_rows(r, "import") == ["6"], f"import: {r.rows}")
    finally:
        s.close()
    api = stats(MAIN)["apis"]["multiaccount_import"]
    expect(api["calls"] == 1 and api["items"] == 3, f"imsim: {api['calls']} calls, {api['items']} items (want 1, 3)")
    return "a repeated UserID is sent once with its first element's Nick and FaceUrl (NULL included); imsim items 3 for 6"


# ========================================================== 8. hot path

def check_savepoints():
    s = Session(MAIN)
    try:
        steps = [
            ("BEGIN", None, None),
            ("SAVEPOINT a", None, None),
            ("SELECT user_id, result_code FROM im_account_import(ARRAY['sp1x', 'rejectsp'])",
             ["sp1x|0", "rejectsp|-9"], None),
            ("ROLLBACK TO SAVEPOINT a", None, None),
            ("SAVEPOINT b", None, None),
            ("SELECT * FROM im_query_online_status(ARRAY['sp', NULL])", None, "22004"),
            ("ROLLBACK TO SAVEPOINT b", None, None),
            ("FAULT code70403", None, None),
            ("SAVEPOINT c", None, None),
            ("SELECT * FROM im_account_import(ARRAY['sp2x'])", None, "42501"),
            ("ROLLBACK TO SAVEPOINT c", None, None),
            ("FAULT code70402", None, None),
            ("SAVEPOINT d", None, None),
            ("SELECT * FROM im_query_online_status(ARRAY['sp4'])", None, "38000"),
            ("ROLLBACK TO SAVEPOINT d", None, None),
            # the import in the rolled-back savepoint happened: the API has no transactions
            (f"SELECT user_id, result_code, {ONLINE_COLS} FROM im_query_online_status(ARRAY['sp1x', 'sp4', 'rejectsp'])",
             ["sp1x|0|Offline|[]", f"sp4|0|Online|{DETAIL_ONLINE}", "rejectsp|70107|<null>|<null>"], None),
            ("SELECT count(*) FROM imcheck_progress", ["0"], None),
            ("COMMIT", None, None),
        ]
        for sql, want_rows, want_state in steps:
            if sql.startswith("FAULT "):
                one_fault(MAIN, sql.split()[1])
                continue
            r = s.query(sql)
            if want_state:
                expect(r.errors and r.error[1] == want_state, f"{sql}: {r} (want {want_state})")
            else:
                expect(r.sqlstate == "00000" and not r.errors, f"{sql}: {r}")
                if want_rows is not None:
                    expect(r.rows == want_rows, f"{sql}: {r.rows} (want {want_rows})")
        return "calls, input errors and API errors inside savepoints, rolled back to; the transaction commits"
    finally:
        s.close()
        sim_defaults(MAIN)


PLPGSQL = r"""
CREATE OR REPLACE FUNCTION apis_exception_blocks() RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
    out text := '';
    st text;
    n int;
BEGIN
    BEGIN
        PERFORM * FROM im_account_import(ARRAY['pl1x', NULL]);
    EXCEPTION WHEN others THEN GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE; out := out || st;
    END;
    BEGIN
        PERFORM * FROM im_account_import(ARRAY['pl1x', 'pl2x']);   -- the fault: 70402
    EXCEPTION WHEN external_routine_exception THEN GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE; out := out || ',' || st;
    END;
    SELECT count(*) INTO n FROM im_account_import(ARRAY['pl3x', 'rejectpl']) WHERE result_code = 0;
    out := out || ',' || n;
    BEGIN
        PERFORM * FROM im_query_online_status(ARRAY[['pl']]);
    EXCEPTION WHEN others THEN GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE; out := out || ',' || st;
    END;
    BEGIN
        SELECT count(*) INTO n FROM im_query_online_status(ARRAY['pl3x', 'pl4']) WHERE status IS NOT NULL;
        RAISE EXCEPTION 'rolled back after the call' USING ERRCODE = 'P0001';
    EXCEPTION WHEN raise_exception THEN out := out || ',' || n;
    END;
    SELECT string_agg(status, '/' ORDER BY status) INTO st FROM im_query_online_status(ARRAY['pl3x', 'pl1x', 'pl4']);
    RETURN out || ',' || coalesce(st, '-');
END
$f$"""


def check_plpgsql():
    s = Session(MAIN)
    try:
        r = s.query(PLPGSQL)
        expect(r.sqlstate == "00000", f"CREATE FUNCTION: {r}")
        one_fault(MAIN, "code70402")
        r = s.query("SELECT apis_exception_blocks()")
        # pl1x was never imported (the call failed): 70107, no status
        want = "22004,38000,1,2202E,2,Offline/Online"
        expect(ok_rows(r, "the function") == [want], f"got {r.rows}, want {want}")
        r = s.query("SELECT count(*) FROM imcheck_progress")
        expect(r.rows == ["0"], f"imcheck_progress: {r.rows}")
        return want
    finally:
        s.close()
        sim_defaults(MAIN)


def check_parallel():
    s = Session(MAIN)
    try:
        r = s.query("SELECT string_agg(proname || '=' || proparallel::text, ',' ORDER BY proname) FROM pg_proc "
                    "WHERE proname IN ('im_account_import', 'im_query_online_status')")
        expect(r.rows == ["im_account_import=r,im_query_online_status=r"], f"proparallel: {r.rows}")
        r = s.query("SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;\n"
                    "SET min_parallel_table_scan_size = 0; SET max_parallel_workers_per_gather = 2")
        expect(r.sqlstate == "00000", f"SET: {r}")
        queries = [
            ("query_online_status",
             "SELECT count(*), count(*) FILTER (WHERE c.result_code || '|' || coalesce(c.status, '<null>') || '|' "
             "|| coalesce(c.detail::text, '<null>') = apis_online_expect(c.user_id)) FROM apis_big b JOIN "
             "im_query_online_status(ARRAY(SELECT 'p' || g FROM generate_series(1, 3000) g)) c ON c.user_id = b.id",
             "3000|3000", 6, "im_query_online_status"),
            ("multiaccount_import",
             "SELECT count(*), count(*) FILTER (WHERE c.result_code = 0) FROM apis_big b JOIN "
             "im_account_import(ARRAY(SELECT 'p' || g FROM generate_series(100001, 100300) g)) c ON c.user_id = b.id",
             "300|300", 3, "im_account_import"),
        ]
        out = []
        for api, q, want, want_calls, fn in queries:
            r = s.query("EXPLAIN (VERBOSE, FORMAT JSON) " + q)
            expect(r.sqlstate == "00000", f"EXPLAIN: {r}")
            nodes = plan_nodes(json.loads("\n".join(r.rows))[0]["Plan"])
            fscans = [n for n in nodes if n[0] == "Function Scan" and n[1] == fn]
            expect(any(n[0] in ("Gather", "Gather Merge") for n in nodes),
                   f"{fn}: the plan is not parallel: " + ", ".join(n[0] for n in nodes))
            expect(fscans and not any(n[2] for n in fscans),
                   f"{fn} runs under a Gather (in workers) or not at all: "
                   + ", ".join(f"{n[0]}{'*' if n[2] else ''}" for n in nodes))
            before = api_stats(MAIN, api)["calls"]
            r = s.query(q)
            calls = api_stats(MAIN, api)["calls"] - before
            expect(ok_rows(r, fn) == [want], f"{fn} in the parallel join: {r.rows} (want {want})")
            expect(calls == want_calls, f"{fn}: {calls} calls (want {want_calls}: once, in the leader)")
            shape = " > ".join(n[0] + ("[worker]" if n[2] else "") for n in nodes)
            out.append(f"{fn}: {shape}, {want} right, {calls} calls")
        return "; ".join(out)
    finally:
        s.close()


# ================================================================= main

def setup():
    psql_once(r"""
CREATE EXTENSION IF NOT EXISTS imcheck;
CREATE ROLE apis_analyst LOGIN;
CREATE ROLE apis_fresh LOGIN;
GRANT EXECUTE ON FUNCTION im_account_import(text[], text[], text[], boolean) TO apis_analyst;
GRANT EXECUTE ON FUNCTION im_query_online_status(text[], boolean) TO apis_analyst;
GRANT EXECUTE ON FUNCTION im_account_check(text[], boolean) TO apis_analyst;
-- the online rule with the even rule alone (no account imported through the API)
CREATE FUNCTION apis_online_expect(id text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN octet_length(id) NOT BETWEEN 1 AND 32
                  OR NOT coalesce(substring(id from '([0-9]{1,18})$')::bigint % 2 = 0, false)
                THEN '70107|<null>|<null>'
                WHEN right(id, 1) IN ('0', '4', '8') THEN '0|Online|[{"Status": "Online", "Platform": "iPhone"}]'
                WHEN right(id, 1) IN ('2', '6') THEN '0|PushOnline|[{"Status": "PushOnline", "Platform": "Android"}]'
                ELSE '0|Offline|[]' END
$$;
CREATE TABLE apis_big AS SELECT 'p' || g AS id FROM generate_series(1, 200000) g;
ANALYZE apis_big;
""")


CHECKS = {
    # rate first: the 60007 injected by "faults" cut the cluster's rate for a while
    "rate": [("rate_query_online_status", check_rate_online),
             ("rate_multiaccount_import", check_rate_import),
             ("rate_both_at_once_own_budgets", check_rate_both)],
    "raise": [("raise_on_error_query_online_status", check_raise_online),
              ("raise_on_error_multiaccount_import", check_raise_import),
              ("account_limit_70398_always_raises", check_account_limit)],
    "input": [("input_checked_before_any_call", check_input_errors),
              ("repeated_userid_sent_once_first_nick_wins", check_first_nick_wins)],
    "hotpath": [("savepoints", check_savepoints), ("plpgsql_exception_blocks", check_plpgsql),
                ("parallel_plan_runs_in_leader", check_parallel)],
    "cancel": [("cancel_and_statement_timeout", check_cancel)],
    "leaks": [("no_leaks_300_statements_each", check_leaks)],
    "faults": [("faults_at_scale_query_online_status", check_faults_online),
               ("faults_at_scale_multiaccount_import", check_faults_import),
               ("reset_on_reused_connection_counted", check_reset_counted)],
    "security": [("security_execute_revoked_from_public", check_execute_revoked),
                 ("security_analyst_can_call_after_grant", check_analyst_can_call),
                 ("security_rate_limits_superuser_only", check_rate_settings_locked),
                 ("security_key_unreadable", check_key_unreadable),
                 ("security_messages_hide_secrets", check_messages_hide_secrets),
                 ("security_reflected_usersig_redacted", check_reflection_redacted),
                 ("detail_jsonb_refuses_is_a_bad_answer", check_detail_jsonb_refuses),
                 # last: the log of everything run before
                 ("security_server_log_holds_no_secret", check_server_log_clean)],
}


def main():
    for var in ("APIS_IMSIM_MAIN", "APIS_IMSIM_FAULT", "APIS_IMSIM_SLOW", "APIS_IMSIM_WRONGKEY",
                "APIS_KEY", "APIS_SERVER_LOG"):
        if not os.environ.get(var):
            print(f"{var} is not set: run test/apis/run.sh", file=sys.stderr)
            return 2
    wanted = sys.argv[1:] or list(CHECKS)
    t_all = time.monotonic()
    try:
        setup()
        started = rel.postmaster_start()
    except Exception as e:
        report("setup", False, str(e))
        return 1
    for group in wanted:
        for name, fn in CHECKS[group]:
            t0 = time.monotonic()
            run_check(name, fn)
            note(f"{name}: {time.monotonic() - t0:.1f} s")
    crash = []
    try:
        if rel.postmaster_start() != started:
            crash.append("the postmaster reinitialized (a backend crashed)")
    except Exception as e:
        crash.append(f"the server does not answer: {e}")
    crash += rel.crash_lines()
    report("no_backend_crash", not crash, "; ".join(crash))
    note(f"total {time.monotonic() - t_all:.1f} s")
    return 1 if rel.FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
