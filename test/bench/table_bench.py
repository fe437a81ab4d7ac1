"""Benchmarks of CALL im_account_check_table() (run by table_bench.sh, which
sets the environment); prints a Markdown table."""
import os
import subprocess
import sys
import threading
import time

LIMIT = os.environ["BENCH_IMSIM_LIMIT"]
FAST = os.environ["BENCH_IMSIM_FAST"]


def psql(sql, options=""):
    r = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
                       capture_output=True, text=True, env=dict(os.environ, PGOPTIONS=options))
    if r.returncode != 0:
        raise RuntimeError(f"{sql}: {r.stderr}")
    return r.stdout.strip()


def make_users(n):
    psql(f"DROP TABLE IF EXISTS users; CREATE TABLE users (id text PRIMARY KEY); "
         f"INSERT INTO users SELECT 'bench' || g FROM generate_series(1, {n}) g")
    psql("VACUUM ANALYZE users")
    psql("CHECKPOINT")


def drop_status():
    psql("DROP TABLE IF EXISTS status")
    psql("TRUNCATE imcheck_table_run")


ONE_STATEMENT = """CREATE TABLE status (user_id text PRIMARY KEY, result_code integer NOT NULL,
  account_status text, result_info text, checked_at timestamptz NOT NULL);
INSERT INTO status AS s
SELECT user_id, result_code, account_status, result_info, now()
  FROM im_account_check(ARRAY(SELECT id FROM users))
ON CONFLICT (user_id) DO UPDATE
   SET result_code = EXCLUDED.result_code, account_status = EXCLUDED.account_status,
       result_info = EXCLUDED.result_info, checked_at = EXCLUDED.checked_at"""


def procedure(chunk=None):
    arg = f", chunk_size => {chunk}" if chunk else ""
    return f"CALL im_account_check_table('users', 'id', 'status'{arg})"


def timed(sql, options):
    """Runs sql in a session of its own; returns (seconds, peak RssAnon kB)."""
    p = subprocess.Popen(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
                          "-c", "SELECT pg_backend_pid()", "-c", sql],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, PGOPTIONS=options))
    pid = p.stdout.readline().strip()
    t0 = time.monotonic()
    peak = [0]

    def sample():
        while p.poll() is None:
            try:
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if line.startswith("RssAnon:"):
                            peak[0] = max(peak[0], int(line.split()[1]))
            except OSError:
                pass
            time.sleep(0.02)

    t = threading.Thread(target=sample)
    t.start()
    _, err = p.communicate()
    elapsed = time.monotonic() - t0
    t.join()
    if p.returncode != 0:
        raise RuntimeError(f"{sql}: {err}")
    return elapsed, peak[0]


def main():
    rows = []
    at_limit = f"-c imcheck.endpoint={LIMIT}"
    fast = f"-c imcheck.endpoint={FAST} -c imcheck.rate_limit=0"

    # 1. the whole table at the API's limit
    n = 300000
    make_users(n)
    results = {}
    for name, sql in (("procedure, default chunk (100,000)", procedure()),
                      ("procedure, 10,000-ID chunks", procedure(10000)),
                      ("one statement", ONE_STATEMENT)):
        drop_status()
        secs, _ = timed(sql, at_limit)
        got = int(psql("SELECT count(*) FROM status"))
        assert got == n, f"{name}: {got} rows"
        results[name] = n / secs
    one = results["one statement"]
    figure = "; ".join(f"{k} {v:,.0f} IDs/s ({v / 10000:.3f} of 10,000/s)"
                       for k, v in results.items())
    worst = min(results["procedure, default chunk (100,000)"],
                results["procedure, 10,000-ID chunks"])
    rows.append(("1. 300,000 users at the API's limit (100 ms +- 20 ms, 100 calls/s): IDs/s over the whole run, from the CALL's start to its end",
                 figure + f"; procedure / one statement {worst / one:.2f} (the worse chunk size)",
                 ">= 0.95 of 10,000/s", "yes" if worst >= 9500 else "**no**"))

    # 2. memory does not grow with the table
    peaks = {}
    for n in (1000000, 5000000):
        make_users(n)
        drop_status()
        secs, peak = timed(procedure(), fast)
        peaks[n] = (peak, secs)
    make_users(1000000)
    drop_status()
    _, one_peak = timed(ONE_STATEMENT, fast)
    ratio = peaks[5000000][0] / peaks[1000000][0]
    rows.append(("2. peak private memory (RssAnon, sampled every 20 ms) of the backend, rate limit lifted",
                 f"procedure: 1,000,000 users {peaks[1000000][0] / 1024:.1f} MiB ({peaks[1000000][1]:.0f} s), "
                 f"5,000,000 users {peaks[5000000][0] / 1024:.1f} MiB ({peaks[5000000][1]:.0f} s): "
                 f"5M / 1M = {ratio:.2f}; the one-statement recipe for 1,000,000: {one_peak / 1024:.1f} MiB",
                 "5M <= 1.2x 1M", "yes" if ratio <= 1.2 else "**no**"))

    print("## im_account_check_table benchmarks\n")
    print("Command: `bash test/bench/table_bench.sh` (one cluster, two imsims on this machine; "
          f"2 cores; {time.strftime('%Y-%m-%d')}; run took @SECONDS@ s).  One run, side by side; "
          "the machine is shared and noisy.\n")
    print("| measurement | figure | target | met |")
    print("|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    sys.exit(main())
