#!/usr/bin/env python3
"""Measurements for test/bench/run (which starts the cluster and the imsims).

Prints a Markdown section: what was measured, how, the figures and whether
each meets its target.  Exits 1 when a measurement could not be made (a
missed target is a finding, reported in the table, not a failure).
"""
import json
import re
import os
import subprocess
import tempfile
import threading
import time
import urllib.request

LIMIT = os.environ["BENCH_IMSIM_LIMIT"]
FAST = os.environ["BENCH_IMSIM_FAST"]
IDLE = os.environ["BENCH_IMSIM_IDLE"]
FAR = {10: os.environ["BENCH_IMSIM_RTT10"], 300: os.environ["BENCH_IMSIM_RTT300"],
       1000: os.environ["BENCH_IMSIM_RTT1000"]}
SHARED = os.environ["BENCH_IMSIM_SHARED"]
OTHER_CLUSTERS = os.environ["BENCH_CLUSTERS"].split()
PROXY = os.environ["BENCH_PROXY"]
USERSIG = os.environ["BENCH_USERSIG"]
TMP = os.environ["BENCH_TMP"]


def imsim(url, path, body=None):
    req = urllib.request.Request(url + path, data=None if body is None else body.encode(),
                                 method="GET" if body is None else "POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def reset(url):
    imsim(url, "/_imsim/stats/reset", "{}")


def ids_sql(n, prefix="bench_user_"):
    # UserIDs of 18 bytes: bench_user_0000001
    return f"ARRAY(SELECT '{prefix}' || lpad(g::text, 7, '0') FROM generate_series(1, {n}) g)"


def psql(sql, settings=(), endpoint=None, cluster=None):
    """Runs statements in one session (of cluster, "host:port", if given);
    returns (seconds of the last, output)."""
    script = []
    if endpoint:
        script.append(f"SET imcheck.endpoint = '{endpoint}';")
    script += [f"SET {s};" for s in settings]
    script.append("\\timing on")
    script += sql if isinstance(sql, list) else [sql]
    env = dict(os.environ)
    if cluster:
        env["PGHOST"], env["PGPORT"] = cluster.rsplit(":", 1)
    done = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"],
                          input="\n".join(script) + "\n", capture_output=True,
                          text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"psql failed: {done.stderr.strip()}")
    out = done.stdout
    times = [float(l.split()[1]) / 1000 for l in out.splitlines() if l.startswith("Time: ")]
    return times[-1], out + done.stderr


def check_count(n):
    return f"SELECT count(*) FROM im_account_check({ids_sql(n)});"


rows = []


def row(what, figure, target, ok):
    rows.append((what, figure, target, "yes" if ok else "**no**"))


def at_the_limit():
    n = 100_000
    reset(LIMIT)
    secs, _ = psql(check_count(n), endpoint=LIMIT)
    s = imsim(LIMIT, "/_imsim/stats")
    rl = s["calls_by_code"].get("60007", 0)
    rate = n / secs
    row("1. 100,000 IDs at the limit (100 ms +- 20 ms, 100 calls/s), defaults",
        f"{rate:,.0f} IDs/s ({secs:.2f} s, {rate / 100:.1f}% of 10,000/s); "
        f"60007 answers: {rl}; busiest second: {s['max_calls_per_second']} calls",
        ">= 9,700 IDs/s, no 60007", rate >= 9700 and rl == 0)
    time.sleep(1.1)
    reset(LIMIT)
    secs1, _ = psql(check_count(n), ["imcheck.max_concurrency = 1"], endpoint=LIMIT)
    row("1. same, max_concurrency = 1 (a simple one-call-at-a-time client)",
        f"{n / secs1:,.0f} IDs/s ({secs1:.1f} s); imcheck at defaults is "
        f"{secs1 / secs:.1f}x faster", "baseline", True)


def round_trips():
    """Defaults at long round trips: the calls in flight follow the round trip.
    A statement cannot end before its last call's round trip, so the rate is
    also given net of one round trip (the target applies to that)."""
    n = 100_000
    for rtt, url in FAR.items():
        reset(url)
        # a fresh session: it measures the round trip as it goes
        secs, _ = psql(check_count(n), endpoint=url)
        st = imsim(url, "/_imsim/stats")
        rl = st["calls_by_code"].get("60007", 0)
        net = n / (secs - rtt / 1000.0)
        row(f"1. 100,000 IDs at a {rtt} ms round trip (+-20%), 100 calls/s, defaults",
            f"{n / secs:,.0f} IDs/s ({secs:.2f} s); net of one round trip {net:,.0f} IDs/s "
            f"({net / 100:.1f}%); most in flight {st['max_in_flight']}; connections "
            f"{st['connections']}; 60007 answers: {rl}",
            ">= 9,700 IDs/s net, no 60007", net >= 9700 and rl == 0)
        time.sleep(1.1)
    # side by side: the former fixed default of 16 calls in flight
    n16 = 20_000
    reset(FAR[1000])
    secs16, _ = psql(check_count(n16), ["imcheck.max_concurrency = 16"], endpoint=FAR[1000])
    row("1. same at 1000 ms, max_concurrency = 16 (the former default), 20,000 IDs",
        f"{n16 / secs16:,.0f} IDs/s ({secs16:.2f} s); net of one round trip "
        f"{n16 / (secs16 - 1.0):,.0f} IDs/s", "baseline", True)


PLPYTHON_CLIENT = """
CREATE OR REPLACE FUNCTION py_account_check(user_ids text[], url text)
RETURNS TABLE (user_id text, result_code integer, account_status text)
LANGUAGE plpython3u AS $$
# The simple way without imcheck: one call at a time, 100 IDs each.
import json, random, urllib.request
for first in range(0, len(user_ids), 100):
    batch = user_ids[first:first + 100]
    body = json.dumps({"CheckItem": [{"UserID": u} for u in batch]}).encode()
    req = urllib.request.Request(url + str(random.getrandbits(32)), data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        answer = json.loads(r.read())
    if answer["ActionStatus"] != "OK":
        plpy.error("account_check failed: %s" % answer.get("ErrorInfo"))
    for item in answer["ResultItem"]:
        yield item["UserID"], item["ResultCode"], item.get("AccountStatus")
$$;
"""


def imcheck_cpu_us(ids, url, rate_limit, warmup="ARRAY['warm']"):
    """The backend CPU of one im_account_check statement over ids against
    imsim url (its statistics reset first), after one over warmup in the
    same session, and imsim's statistics after both."""
    reset(url)
    us = statement_cpu_us(f"SELECT count(*) FROM im_account_check({ids});",
                          f"SELECT count(*) FROM im_account_check({warmup});",
                          [f"imcheck.rate_limit = {rate_limit}"], endpoint=url)
    return us, imsim(url, "/_imsim/stats")


def account_check_url(base):
    """account_check's URL at imsim base, for a client of our own; the
    random goes at the end."""
    return (f"{base}/v4/im_open_login_svc/account_check?sdkappid=1400000001"
            f"&identifier=administrator&usersig={USERSIG}&contenttype=json&random=")


def statement_cpu_us(statement, warmup, settings=(), endpoint=None):
    """The backend's CPU time for one statement, from /proc/self/schedstat
    (its first field: nanoseconds on a CPU), read by the backend itself."""
    read = "split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint"
    # (the warm-up loads what a first call loads: libcurl, Python)
    _, out = psql([warmup, f"SELECT {read} AS cpu_before \\gset", statement,
                   f"SELECT {read} - :cpu_before;"], settings, endpoint)
    lines = [l for l in out.splitlines() if re.fullmatch(r"-?\d+", l)]
    return int(lines[-1]) / 1000


def backend_cpu():
    """Backend CPU per call over whole statements of 100-ID calls, rate
    limit off, side by side with a one-call-at-a-time PL/Python client
    against the same imsim; the median of three rounds of each."""
    calls = 2000
    # the IDs come from a table, as a user's do (ARRAY(SELECT id FROM users))
    psql(["DROP TABLE IF EXISTS bench_cpu_ids;",
          f"CREATE TABLE bench_cpu_ids AS SELECT unnest({ids_sql(calls * 100)}) AS id;",
          "VACUUM ANALYZE bench_cpu_ids;"])
    ids = "ARRAY(SELECT id FROM bench_cpu_ids)"
    url = account_check_url(FAST)
    psql(["CREATE EXTENSION IF NOT EXISTS plpython3u;", PLPYTHON_CLIENT])
    ours, theirs = [], []
    for _ in range(3):
        us, s = imcheck_cpu_us(ids, FAST, 0)
        assert s["calls_by_code"] == {"0": calls + 1}, s   # and the warm-up
        ours.append(us / calls)
        reset(FAST)
        us = statement_cpu_us(f"SELECT count(*) FROM py_account_check({ids}, '{url}');",
                              f"SELECT count(*) FROM py_account_check(ARRAY['warm'], '{url}');")
        s = imsim(FAST, "/_imsim/stats")
        assert s["calls_by_code"] == {"0": calls + 1}, s   # and the warm-up
        theirs.append(us / calls)
    med = lambda xs: sorted(xs)[len(xs) // 2]
    row("2. backend CPU per call: whole statements of 2,000 calls of 100 IDs read from a "
        "table, rate limit off (/proc/PID/schedstat; median of 3 rounds, side by side)",
        f"imcheck {med(ours):.0f} us a call ({100 * med(ours) * 100 / 1e6:.2f}% of one core "
        f"at 100 calls/s; rounds {', '.join(f'{x:.0f}' for x in ours)}); a one-call-at-a-time "
        f"PL/Python client (urllib, json) {med(theirs):.0f} us a call (rounds "
        f"{', '.join(f'{x:.0f}' for x in theirs)}): {med(theirs) / med(ours):.1f}x imcheck's",
        "<= 150 us a call", med(ours) <= 150)


PLPYTHON_KEEPALIVE_CLIENT = """
CREATE OR REPLACE FUNCTION py_account_check_kept(user_ids text[], url text, rate integer)
RETURNS TABLE (user_id text, result_code integer, account_status text)
LANGUAGE plpython3u AS $$
# One call at a time, 100 IDs each, over one keep-alive connection, at most
# rate calls a second (evenly spaced, as the API's limit asks).
import http.client, json, random, time, urllib.parse
u = urllib.parse.urlsplit(url)
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
start = time.monotonic()
try:
    for first in range(0, len(user_ids), 100):
        time.sleep(max(0.0, start + first / 100 / rate - time.monotonic()))
        batch = user_ids[first:first + 100]
        body = json.dumps({"CheckItem": [{"UserID": x} for x in batch]})
        conn.request("POST", u.path + "?" + u.query + str(random.getrandbits(32)), body,
                     {"Content-Type": "application/json"})
        answer = json.loads(conn.getresponse().read())
        if answer["ActionStatus"] != "OK":
            plpy.error("account_check failed: %s" % answer.get("ErrorInfo"))
        for item in answer["ResultItem"]:
            yield item["UserID"], item["ResultCode"], item.get("AccountStatus")
finally:
    conn.close()
$$;
"""


def cpu_by_round_trip():
    """Backend CPU per call at the API's rate (100 calls/s) at 0, 100 and
    1,000 ms round trips, where imcheck keeps about 3, 19 and 126
    connections, beside a PL/Python client making the same 100-ID calls one
    at a time over one keep-alive connection, at most 100 a second too
    (fewer calls at the longer round trips, where it waits a round trip per
    call: 10 and 1 a second); medians of 3 rounds.  Paced calls cost more
    than back-to-back ones (row 2): the backend sleeps between them, and
    each wake-up finds its caches cold.  imcheck is measured in a new
    session, whose statement opens its connections, and in a session's
    second statement, which finds them kept (a pooled session's case)."""
    psql(["CREATE EXTENSION IF NOT EXISTS plpython3u;", PLPYTHON_KEEPALIVE_CLIENT])
    med = lambda xs: sorted(xs)[len(xs) // 2]
    figures = {}
    for rtt, url, peer_calls in ((0, FAST, 400), (100, LIMIT, 40), (1000, FAR[1000], 6)):
        ids = ids_sql(40_000, f"rtt{rtt}_")
        api = account_check_url(url)
        ours, kept, theirs, conns = [], [], [], []
        for _ in range(3):
            us, st = imcheck_cpu_us(ids, url, 100)
            assert st["calls_by_code"].get("0", 0) >= 401, st
            ours.append(us / (st["calls"] - 1))
            conns.append(st["connections"])
            us, st = imcheck_cpu_us(ids, url, 100, warmup=ids_sql(40_000, f"warm{rtt}_"))
            assert st["calls_by_code"].get("0", 0) >= 800, st
            kept.append(us / 400)
            peer_ids = ids_sql(peer_calls * 100, f"peer{rtt}_")
            us = statement_cpu_us(f"SELECT count(*) FROM py_account_check_kept({peer_ids}, '{api}', 100);",
                                  f"SELECT count(*) FROM py_account_check_kept(ARRAY['warm'], '{api}', 100);")
            theirs.append(us / peer_calls)
        figures[rtt] = (med(ours), med(kept), med(theirs), med(conns))
    worst_ratio = max(o / t for o, _, t, _ in figures.values())
    growth = figures[1000][0] / figures[0][0]
    growth_kept = figures[1000][1] / figures[0][1]
    text = "; ".join(f"{rtt} ms: imcheck {o:.0f} us a call opening {c} connections, {k:.0f} us with "
                     f"them kept, PL/Python {t:.0f} us ({o / t:.2f}x)"
                     for rtt, (o, k, t, c) in figures.items())
    row("9. backend CPU per call by round trip: 400 calls of 100 IDs at 100 calls/s "
        "(/proc/PID/schedstat; medians of 3 rounds, side by side with a keep-alive PL/Python client "
        "paced the same way)",
        f"{text}; 1,000 ms / 0 ms = {growth:.2f} ({growth_kept:.2f} with the connections kept)",
        "1,000 ms <= 1.3x 0 ms; each <= 0.25x PL/Python",
        growth <= 1.3 and worst_ratio <= 0.25)


def one_budget():
    n = 50_000
    time.sleep(1.1)
    reset(LIMIT)
    results = [None] * 4

    def session(i):
        t = time.time()
        psql(f"SELECT count(*) FROM im_account_check({ids_sql(n, f'bench_s{i}_')});",
             endpoint=LIMIT)
        results[i] = time.time() - t

    start = time.time()
    threads = [threading.Thread(target=session, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.time() - start
    s = imsim(LIMIT, "/_imsim/stats")
    rl = s["calls_by_code"].get("60007", 0)
    rate = 4 * n / wall
    row("3. four sessions x 50,000 IDs at once, library preloaded",
        f"{rate:,.0f} IDs/s together ({wall:.1f} s); busiest second: "
        f"{s['max_calls_per_second']} calls; 60007 answers: {rl}",
        "busiest second <= 100, >= 9,500 IDs/s",
        s["max_calls_per_second"] <= 100 and rate >= 9500)


def backend_rss(pid):
    vals = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, v = line.split(":", 1)
            if k in ("VmHWM", "VmRSS"):
                vals[k] = int(v.split()[0])
    return vals["VmHWM"], vals["VmRSS"]


class Session:
    """One psql session we can feed statements to, and look at from /proc."""

    def __init__(self):
        self.proc = subprocess.Popen(["psql", "-X", "-q", "-At"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.pid = int(self.ask("SELECT pg_backend_pid();")[0])

    def ask(self, sql):
        self.proc.stdin.write(sql + "\n\\echo __done__\n")
        self.proc.stdin.flush()
        lines = []
        while True:
            l = self.proc.stdout.readline()
            if l.strip() == "__done__" or l == "":
                return lines
            lines.append(l.strip())

    def peak_growth(self, sql):
        before, _ = backend_rss(self.pid)
        self.ask(sql)
        after, _ = backend_rss(self.pid)
        return (after - before) * 1024

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def memory():
    n = 1_000_000
    # the input array is stored in a table, so that the peak measures what
    # im_account_check adds, not what building an array in a query costs
    array_bytes = int(subprocess.run(
        ["psql", "-X", "-At", "-c",
         f"CREATE TABLE IF NOT EXISTS bench_input AS SELECT {ids_sql(n)} AS ids; "
         # the size the function gets: the array detoasted, not as stored
         "SELECT pg_column_size(ids || ARRAY[]::text[]) FROM bench_input"],
        capture_output=True, text=True, check=True).stdout.split()[-1])
    setup = f"SET imcheck.endpoint = '{FAST}'; SET imcheck.rate_limit = 0; " \
        "SELECT count(*) FROM im_account_check(ARRAY['warm1', 'warm2']);"
    # what PostgreSQL needs just to hand the array to a function
    base = Session()
    base.ask(setup)
    baseline = base.peak_growth("SELECT count(*) FROM bench_input, unnest(ids);")
    base.close()
    sess = Session()
    sess.ask(setup)
    growth = sess.peak_growth("SELECT count(*) FROM bench_input, im_account_check(ids);")
    row("4. peak RSS growth for 1,000,000 IDs (input read from a table)",
        f"{growth / 2**20:.1f} MiB for a {array_bytes / 2**20:.1f} MiB array "
        f"({growth / array_bytes:.2f}x); of which reading the array alone "
        f"(unnest) takes {baseline / 2**20:.1f} MiB, im_account_check adds "
        f"{(growth - baseline) / 2**20:.1f} MiB ({(growth - baseline) / array_bytes:.2f}x)",
        "<= 2x the array", growth <= 2 * array_bytes)

    pid = sess.pid
    ask = sess.ask
    small = "SELECT count(*) FROM im_account_check(ARRAY['s1', 's2', 's3']);"
    for _ in range(1000):
        ask(small)
    _, rss_a = backend_rss(pid)
    fds_a = len(os.listdir(f"/proc/{pid}/fd"))
    for _ in range(9000):
        ask(small)
    _, rss_b = backend_rss(pid)
    fds_b = len(os.listdir(f"/proc/{pid}/fd"))
    sess.close()
    row("4. 10,000 small statements in one session",
        f"RSS {rss_a / 1024:.1f} MiB after 1,000, {rss_b / 1024:.1f} MiB after 10,000; "
        f"open files {fds_a} -> {fds_b}",
        "flat (growth < 1 MiB)", rss_b - rss_a < 1024 and fds_b <= fds_a)


def connections():
    reset(FAST)
    psql([check_count(50_000)] * 5, ["imcheck.rate_limit = 0"], endpoint=FAST)
    s = imsim(FAST, "/_imsim/stats")
    row("5. keep-alive: 5 statements x 500 calls in one session (16 in flight)",
        f"{s['calls']} calls over {s['connections']} connections",
        "connections <= 16 + a few", s["connections"] <= 20)
    reset(IDLE)
    # imsim C closes a connection after 1 s idle: the second statement finds
    # every cached connection closed by the server
    psql([check_count(20_000), "SELECT pg_sleep(1.5);", check_count(20_000)],
         ["imcheck.rate_limit = 0", "imcheck.max_retries = 0"], endpoint=IDLE)
    s = imsim(IDLE, "/_imsim/stats")
    row("5. server closes idle connections between statements (max_retries = 0)",
        f"{s['calls']} calls, all answered ({s['calls_by_code']}), no error; "
        f"{s['connections']} connections",
        "no failed call", s["calls_by_code"] == {"0": 400})


def clusters():
    """Independent clusters (each with its own shared memory) checking at once
    on one app: they share its quota only through the API's 60007 answers."""
    main_cluster = f"{os.environ['PGHOST']}:{os.environ['PGPORT']}"
    for n_clusters, n in ((2, 50_000), (3, 50_000), (2, 20_000), (3, 20_000)):
        # the last run's cut rates have grown back to the limit
        time.sleep(12)
        reset(SHARED)
        members = [main_cluster] + OTHER_CLUSTERS[:n_clusters - 1]
        ends = [None] * n_clusters

        def run(i):
            psql(f"SELECT count(*) FROM im_account_check({ids_sql(n, f'bench_c{i}_')});",
                 endpoint=SHARED if i == 0 else None, cluster=members[i])
            ends[i] = time.time()

        start = time.time()
        threads = [threading.Thread(target=run, args=(i,)) for i in range(n_clusters)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = max(ends) - start
        s = imsim(SHARED, "/_imsim/stats")
        refused = s["calls_by_code"].get("60007", 0)
        rate = n_clusters * n / wall
        row(f"6. {n_clusters} clusters x {n:,} IDs at once on one app (100 ms +- 20 ms)",
            f"{rate:,.0f} IDs/s together ({wall:.1f} s, {rate / 100:.1f}% of the bound); "
            f"60007 on {refused} of {s['calls']} calls ({100 * refused / s['calls']:.1f}%); "
            f"first and last cluster done {min(ends) - start:.1f} s and {wall:.1f} s",
            ">= 90% of the bound, 60007 on <= 5% of calls",
            rate >= 9000 and refused <= 0.05 * s["calls"])


def proxy_cost():
    """The same statements direct and through tinyproxy (CONNECT), side by side."""
    for label, url, n, settings in (
            ("at the limit (100 ms, 100 calls/s), 50,000 IDs", LIMIT, 50_000, []),
            ("rate limit off, imsim without latency, 20,000 IDs", FAST, 20_000,
             ["imcheck.rate_limit = 0"])):
        figures = {}
        for how, extra in (("direct", []), ("proxy", [f"imcheck.proxy = '{PROXY}'"])):
            time.sleep(1.1)
            reset(url)
            secs, _ = psql(["SELECT imcheck_reset_stats();", check_count(n)],
                           settings + extra, endpoint=url)
            _, out = psql("SELECT value FROM imcheck_stats WHERE api = 'account_check' AND name = 'connections_opened';")
            figures[how] = (n / secs, int(out.split()[0]))
        d, p = figures["direct"], figures["proxy"]
        row(f"7. through tinyproxy vs direct: {label}",
            f"proxy {p[0]:,.0f} IDs/s, {p[1]} connections; direct {d[0]:,.0f} IDs/s, "
            f"{d[1]} connections; proxy/direct {p[0] / d[0]:.2f}",
            "at the limit: the same rate" if url == LIMIT else "the proxy's own cost",
            p[0] >= 0.97 * d[0] if url == LIMIT else True)


def main():
    started = time.time()
    # clusters last: it cuts this cluster's adaptive rate, which is per
    # cluster whatever the endpoint, and it takes seconds to grow back
    import sys
    import apis_bench
    this = sys.modules[__name__]
    at_their_limits = lambda: apis_bench.at_their_limits(this)
    at_their_limits.__name__ = "at_their_limits"
    online_cpu = lambda: apis_bench.online_cpu(this)
    online_cpu.__name__ = "online_cpu"
    steps = [at_the_limit, round_trips, backend_cpu, cpu_by_round_trip, one_budget, memory,
             connections, proxy_cost, at_their_limits, online_cpu, clusters]
    only = os.environ.get("BENCH_ONLY")
    for step in steps:
        if not only or step.__name__ in only.split(","):
            step()
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'"],
                         capture_output=True, text=True).stdout.strip()
    print("## imcheck engine benchmarks\n")
    print("Command: `bash test/bench/run` (cluster and three imsims on this machine; "
          f"{os.cpu_count()} cores, {cpu}; {time.strftime('%Y-%m-%d')}; "
          f"run took {time.time() - started:.0f} s).  One run; the machine is shared and "
          "noisy, so figures move by several percent between runs.\n")
    print("| measurement | figure | target | met |")
    print("|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
