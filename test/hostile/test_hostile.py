#!/usr/bin/env python3
"""Checks of im_account_check against hostile_server.py, run by run.sh.

Needs PGHOST/PGPORT/PGUSER of a cluster with imcheck preloaded and
HOSTILE_URL, the hostile server's base URL (each mode is a path under it).
Prints one "ok - NAME (figures)" / "not ok - NAME: REASON" line per check.
"""
import json
import os
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reliability"))
from test_reliability import (FAILURES, CheckFailed, Session, expect, fmt_ms,  # noqa: E402
                              note, psql_once, run_check)

URL = os.environ["HOSTILE_URL"]


def server_stats():
    with urllib.request.urlopen(URL + "/_stats", timeout=10) as r:
        return json.loads(r.read())


def server_reset():
    with urllib.request.urlopen(URL + "/_reset", timeout=10) as r:
        r.read()


def imcheck_counter(s, name):
    r = s.query(f"SELECT value FROM imcheck_stats WHERE api = 'account_check' AND name = '{name}'")
    expect(r.sqlstate == "00000" and len(r.rows) == 1, f"imcheck_stats: {r}")
    return int(r.rows[0])


def status_of(uid):
    return "Imported" if uid[-1:] in "13579" else "NotImported"


def ids_array(ids):
    return "ARRAY[" + ",".join(f"'{i}'" for i in ids) + "]"


def rows_of(result):
    """user_id|result_code|account_status|result_info lines, as tuples."""
    return [tuple(line.split("|", 3)) for line in result.rows if line.count("|") >= 3]


def vm_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def session(mode, **settings):
    s = {"imcheck.max_retries": "0"}
    s.update(settings)
    return Session(endpoint=f"{URL}/{mode}", settings=s)


# ------------------------------------------------------------------ checks

def check_drip_bounded_by_timeout():
    """A drip-fed answer ends at imcheck.timeout, as a timeout (-2)."""
    s = session("drip", **{"imcheck.timeout": "2000"})
    try:
        t0 = time.monotonic()
        r = s.query("SELECT * FROM im_account_check(ARRAY['d1', 'd2'], false)", timeout=60)
        took = time.monotonic() - t0
        rows = rows_of(r)
        expect(r.sqlstate == "00000", f"statement failed: {r.errors}")
        expect([x[1] for x in rows] == ["-2", "-2"], f"rows {rows}")
        expect(rows[0][3] == "no answer within 2000 ms", f"result_info {rows[0][3]!r}")
        # the server drips for 30 s: ending near 2 s shows the bound holds
        expect(took < 10, f"took {took:.1f} s for imcheck.timeout = 2000 ms")
        return f"ended after {took:.2f} s"
    finally:
        s.close()


def interrupt_during_drip(how, tries):
    """Worst time from pg_cancel/terminate_backend to the error, over tries."""
    worst = 0.0
    for _ in range(tries):
        s = session("drip", **{"imcheck.timeout": "20000"})
        try:
            s.send("SELECT * FROM im_account_check(ARRAY['d1'])")
            time.sleep(0.5)     # well into the drip
            # between the drip's bytes the backend waits, with a wait event
            # (each psql sees a new snapshot of pg_stat_activity)
            seen = [psql_once("SELECT coalesce(wait_event_type || ':' || wait_event, '-') "
                              f"FROM pg_stat_activity WHERE pid = {s.pid}").strip()
                    for _ in range(5)]
            expect(any(w in ("Extension:Extension", "Extension:ImcheckCall") for w in seen),
                   f"the backend never reported a wait event while it waited: {seen}")
            t_sent = time.monotonic()
            psql_once(f"SELECT pg_{how}_backend({s.pid})")
            r = s.collect(timeout=30)
            expect(r.t_err is not None, f"no error after pg_{how}_backend: {r.rows[:3]}")
            want = "57014" if how == "cancel" else "57P01"
            expect(r.errors[0][1] == want, f"error {r.errors[0]}")
            worst = max(worst, r.t_err - t_sent)
        finally:
            s.close()
    expect(worst < 0.1, f"worst {fmt_ms(worst)} after pg_{how}_backend")
    return worst


def check_drip_cancel_and_terminate():
    """Cancel and terminate act at once while a drip-fed answer comes in."""
    cancel = interrupt_during_drip("cancel", 10)
    terminate = interrupt_during_drip("terminate", 10)
    return f"worst cancel {fmt_ms(cancel)}, terminate {fmt_ms(terminate)} over 10 tries each"


def check_stale_answer_never_read():
    """A second, unsolicited answer sent after the real one is never read."""
    ids = [f"s{i}" for i in range(10)]
    before = server_stats()["stale_sent"]
    s = session("stale", **{"imcheck.max_concurrency": "1"})
    try:
        wrong = 0
        for _ in range(6):
            r = s.query(f"SELECT * FROM im_account_check({ids_array(ids)})")
            expect(r.sqlstate == "00000", f"statement failed: {r.errors} {r.details}")
            rows = rows_of(r)
            expect(len(rows) == len(ids), f"{len(rows)} rows")
            wrong += sum(1 for uid, code, status, _ in rows
                         if code != "0" or status != status_of(uid))
            time.sleep(0.2)     # the stale answer (60 ms) is waiting in the socket
        sent = server_stats()["stale_sent"] - before
        # libcurl sometimes closes a connection before its stale answer is
        # sent (the server then sees a broken pipe); half of them is plenty
        expect(sent >= 3, f"the server sent only {sent} stale answers: the check proved nothing")
        expect(wrong == 0, f"{wrong} rows took their status from a stale answer")
        return f"{sent} stale answers sent, none read"
    finally:
        s.close()


def check_memory_after_oversized():
    """After a statement of 256 oversized answers the backend's memory is back."""
    s = session("oversized", **{"imcheck.max_concurrency": "256", "imcheck.batch_size": "1"})
    try:
        warm = s.query("SELECT count(*) FROM im_account_check(ARRAY['w1', 'w2'], false)")
        expect(warm.sqlstate == "00000", f"warm-up failed: {warm.errors}")
        start = vm_rss_kb(s.pid)
        r = s.query("SELECT result_code, left(result_info, 40), count(*) FROM "
                    "im_account_check(ARRAY(SELECT 'o' || g FROM generate_series(1, 256) g), false) "
                    "GROUP BY 1, 2", timeout=120)
        expect(r.sqlstate == "00000", f"statement failed: {r.errors}")
        expect(r.rows == ["-6|the answer's body exceeds 1048576 bytes|256"], f"rows {r.rows}")
        after = vm_rss_kb(s.pid)
        grown = after - start
        expect(grown < 32 * 1024, f"VmRSS grew by {grown} kB ({start} -> {after} kB)")
        return f"VmRSS {start} -> {after} kB"
    finally:
        s.close()


def failed_rows(mode, want_code, want_info):
    s = session(mode)
    try:
        r = s.query("SELECT * FROM im_account_check(ARRAY['a1', 'a2'], false)")
        expect(r.sqlstate == "00000", f"{mode}: statement failed: {r.errors}")
        rows = rows_of(r)
        expect([(x[1], x[2], x[3]) for x in rows] == [(want_code, "", want_info)] * 2,
               f"{mode}: rows {rows}")
    finally:
        s.close()


def check_duplicate_members_refused():
    """ActionStatus or AccountStatus given twice makes the answer malformed (-4)."""
    failed_rows("dup_action", "-4", "response repeats a member")
    failed_rows("dup_status", "-4", "response repeats a member")


def check_negative_codes_refused():
    """Negative ErrorCode or ResultCode from the server: malformed (-4), not passed on."""
    failed_rows("neg_error", "-4", "response has a negative ErrorCode")
    failed_rows("neg_result", "-4", "a ResultItem has a negative ResultCode")


def check_http204_is_a_failed_call():
    """HTTP 204 fails the call: rows with -204, or the usual error; never fatal."""
    failed_rows("http204", "-204", "HTTP status 204")
    s = session("http204")
    try:
        r = s.query("SELECT * FROM im_account_check(ARRAY['a1'])")
        # an answer came but has nothing to read: a protocol violation
        expect(r.errors and r.errors[0][1] == "08P01" and
               r.errors[0][2] == "account_check call failed after 1 attempt",
               f"error {r.errors}")
        # the DETAIL names the call by the random it was sent with, as
        # Tencent's support finds calls
        random = server_stats()["last_random"]
        detail = next((d for d in r.details if d.startswith("DETAIL:")), "")
        expect(random and detail == f"DETAIL:  imcheck code -204: HTTP status 204 (random {random})",
               f"DETAIL {detail!r}, the server got random {random!r}")
    finally:
        s.close()


def right_rows(s, prefix, n, what):
    """Checks n IDs in one statement: every row code 0 with the rule's status."""
    r = s.query(f"SELECT * FROM im_account_check(ARRAY(SELECT '{prefix}' || g "
                f"FROM generate_series(1, {n}) g))", timeout=120)
    expect(r.sqlstate == "00000", f"{what}: statement failed: {r.errors} {r.details}")
    rows = rows_of(r)
    expect(len(rows) == n, f"{what}: {len(rows)} rows of {n}")
    wrong = [x for x in rows if x[1] != "0" or x[2] != status_of(x[0])]
    expect(not wrong, f"{what}: {len(wrong)} rows wrong, e.g. {wrong[:3]}")


def stale_rounds(mode, prefix, max_retries):
    """Two statements of 1,000 IDs in one session, for each of max_retries,
    against a server that closes every kept connection when the next request
    comes on it: every row right, each stale send counted and none a retry."""
    out = []
    for retries in max_retries:
        server_reset()
        s = session(mode, **{"imcheck.max_retries": retries})
        try:
            stale0 = imcheck_counter(s, "stale_connections")
            retries0 = imcheck_counter(s, "retries_connection")
            for statement in (1, 2):
                right_rows(s, f"{prefix}{retries}x{statement}x", 1000,
                           f"max_retries {retries}, statement {statement}")
            stale = imcheck_counter(s, "stale_connections") - stale0
            conn_retries = imcheck_counter(s, "retries_connection") - retries0
            st = server_stats()
            expect(st["kept_closed"] > 0, f"the server closed no kept connection: {st}")
            expect(stale == st["kept_closed"],
                   f"imcheck counted {stale} stale connections, the server closed {st['kept_closed']}")
            out.append(f"max_retries {retries}: {stale} stale sends, {conn_retries} connection retries, "
                       f"{st['refused_first']} first attempts refused")
        finally:
            s.close()
    return out, conn_retries


def check_stale_kept_connections_cost_nothing():
    """Kept connections the server closes as the next request comes cost a
    new connection each, never a retry nor a row."""
    out, conn_retries = stale_rounds("closekept", "k", ("0", "1"))
    expect(conn_retries == 0, f"{conn_retries} connection retries spent on stale connections")
    return "; ".join(out)


def check_stale_and_refused_first_attempts():
    """The same, with each batch's first attempt on a new connection refused
    (reset, cut short, 503, 70500): its one retry still makes every row right."""
    out, _ = stale_rounds("closekept_refusefirst", "r", ("1",))
    return "; ".join(out)


def check_reset_everything_ends():
    """A server that resets every connection, new or kept: every row -3, and
    the statement ends within (max_retries + 1) x timeout plus a margin."""
    s = session("resetall", **{"imcheck.max_retries": "2", "imcheck.timeout": "2000"})
    try:
        # a kept connection to reset too: warm the cache against a good answer
        s.query(f"SET imcheck.endpoint = '{URL}/ok'; SELECT count(*) FROM im_account_check(ARRAY['w1'])")
        s.query(f"SET imcheck.endpoint = '{URL}/resetall'")
        t0 = time.monotonic()
        r = s.query("SELECT result_code, count(*) FROM im_account_check(ARRAY(SELECT 'z' || g "
                    "FROM generate_series(1, 300) g), false) GROUP BY 1", timeout=120)
        took = time.monotonic() - t0
        expect(r.sqlstate == "00000", f"statement failed: {r.errors}")
        expect(r.rows == ["-3|300"], f"rows {r.rows}")
        bound = 3 * 2.0 + 10
        expect(took < bound, f"took {took:.1f} s, more than {bound:.0f} s")
        r = s.query("SELECT * FROM im_account_check(ARRAY['z1'])")
        expect(r.errors and r.errors[0][1] == "08006", f"raise_on_error: {r.errors}")
        return f"300 rows -3 in {took:.2f} s; raised {r.errors[0][1]}: {r.errors[0][2]}"
    finally:
        s.close()


def check_oversized_headers_are_bad_answers():
    """A 1 MiB header line, 10,000 header lines and an endless header: rows
    -4 under raise_on_error => false, 08P01 under true, never out of memory;
    the endless one ends within imcheck.timeout with memory flat."""
    out = []
    for mode, info in (("bighdr", "a line of the answer's header is longer than libcurl accepts"),
                       ("manyhdr", "the answer's header has more than 100 lines or 65536 bytes"),
                       ("hdrdrip", "the answer's header has more than 100 lines or 65536 bytes")):
        s = session(mode, **{"imcheck.timeout": "5000"})
        try:
            failed_rows(mode, "-4", info)
            r = s.query("SELECT * FROM im_account_check(ARRAY['h1'])")
            expect(r.errors and r.errors[0][1] == "08P01",
                   f"{mode}: raise_on_error gave {r.errors}, want 08P01")
            if mode == "hdrdrip":
                start = vm_rss_kb(s.pid)
                t0 = time.monotonic()
                r = s.query("SELECT result_code, count(*) FROM im_account_check(ARRAY(SELECT 'h' || g "
                            "FROM generate_series(1, 2000) g), false) GROUP BY 1", timeout=120)
                took = time.monotonic() - t0
                expect(r.rows == ["-4|2000"], f"{mode}: rows {r.rows}")
                grown = vm_rss_kb(s.pid) - start
                expect(grown < 8 * 1024, f"{mode}: VmRSS grew by {grown} kB")
                out.append(f"{mode}: 20 calls in {took:.2f} s, VmRSS +{grown} kB")
        finally:
            s.close()
    return "; ".join(out) or "ok"


CHECKS = [
    ("drip_bounded_by_timeout", check_drip_bounded_by_timeout),
    ("drip_cancel_and_terminate", check_drip_cancel_and_terminate),
    ("stale_answer_never_read", check_stale_answer_never_read),
    ("memory_after_oversized", check_memory_after_oversized),
    ("duplicate_members_refused", check_duplicate_members_refused),
    ("negative_codes_refused", check_negative_codes_refused),
    ("http204_is_a_failed_call", check_http204_is_a_failed_call),
    ("stale_kept_connections_cost_nothing", check_stale_kept_connections_cost_nothing),
    ("stale_and_refused_first_attempts", check_stale_and_refused_first_attempts),
    ("reset_everything_ends", check_reset_everything_ends),
    ("oversized_headers_are_bad_answers", check_oversized_headers_are_bad_answers),
]


def main():
    wanted = set(sys.argv[1:])
    for name, fn in CHECKS:
        if not wanted or name in wanted:
            run_check(name, fn)
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
