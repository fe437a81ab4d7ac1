#!/usr/bin/env python3
"""test/security/test_security.py - imcheck's security checks (SECURITY.md).

Started by test/security/run.sh, which starts the clusters and imsims and
passes everything through SEC_* environment variables.  Prints one line per
check, "ok - NAME" or "not ok - NAME: REASON"; exits 1 if any check failed.
Python 3 standard library only; SQL goes through psql subprocesses, as the
superuser "postgres" or as the plain LOGIN role "analyst".

Check names start with a topic:
  privileges  calling the API needs an explicit GRANT; PUBLIC has no EXECUTE
  settings    only superusers change where calls go, with what, how fast
  input       untrusted UserIDs go out and come back matched, byte for byte
  answers     a hostile or broken answer cannot create wrong rows
  tls, redirects, endpoint, region, proxy
              the UserSig in the request URL reaches only the configured,
              verified endpoint
  secrets     non-superusers cannot read or store the credential
  messages    no message shown to a client holds a secret
  reflection  an endpoint echoing the signed URL cannot hand it to analysts
  logs        no secret in the server log, even at debug1 and verbose
  setup       the clusters, and the configuration changes between checks
  known limit a documented limit, shown to hold

  python3 test_security.py --write-imported-file PATH   (used by run.sh)
"""
import http.server
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request

FAILURES = []


def report(name, ok, reason=""):
    if ok:
        print(f"ok - {name}", flush=True)
    else:
        FAILURES.append(name)
        # even the per-run test secrets are not printed
        reason = re.sub(r"(?i)(usersig=)[^&\s'\"]*", r"\1<UserSig>", str(reason))
        reason = USERSIG_RE.sub("<UserSig>", reason)
        for k in ("SEC_KEY_A", "SEC_KEY_L"):
            if os.environ.get(k):
                reason = reason.replace(os.environ[k], "<key>")
        reason = " ".join(reason.split())[:600]
        print(f"not ok - {name}: {reason}", flush=True)


# ----------------------------------------------------------------------------
# the untrusted UserIDs sent to the API (also needed by run.sh for imsim's
# --imported-file)

def even_rule(uid):
    m = re.search(r"([0-9]{1,18})$", uid, re.ASCII)
    return bool(m) and int(m[1]) % 2 == 0


def untrusted_userids():
    """Returns (ids, imported): the UserIDs to check, in order, and the ones
    listed in imsim's imported file.  Every byte 0x01..0x7F appears, and
    UTF-8 sequences of 2, 3 and 4 bytes covering every lead byte and every
    continuation byte value."""
    ids, imported = [], []

    def pair(ch):
        # "x<ch>y" is Imported only if imsim decoded exactly these bytes
        imported.append("x" + ch + "y")
        ids.append("x" + ch + "y")
        ids.append("x" + ch + "z")

    for b in range(0x01, 0x80):
        ch = chr(b)
        if ch == "\n":			# can't be a line of the file: the rule decides
            ids.extend(["x\n2", "x\n1", "\n4"])
        else:
            pair(ch)
        ids.append(ch)
    for cp in range(0x80, 0x800):		# every 2-byte sequence
        pair(chr(cp))
    three = [0x800, 0x83F, 0xFFF, 0xD7FF, 0xE000, 0xFFFD, 0xFFFE, 0xFFFF,
             0x2028, 0x2029, 0xFEFF, 0x200B, 0x202E, 0x4E2D]
    for lead in range(0xE0, 0xF0):
        lo = max((lead - 0xE0) << 12, 0x800)
        hi = ((lead - 0xE0) << 12) | 0xFFF
        if lead == 0xED:
            hi = 0xD7FF
        three += [lo, hi, (lo + hi) // 2, lo + 0x3F]
    four = [0x10000, 0x1F600, 0x1F4A9, 0x10FFFF]
    for lead in range(0xF0, 0xF5):
        lo = max((lead - 0xF0) << 18, 0x10000)
        hi = min(((lead - 0xF0) << 18) | 0x3FFFF, 0x10FFFF)
        four += [lo, hi, (lo + hi) // 2]
    for cp in sorted(set(three + four)):
        ch = chr(cp)
        pair(ch)
        ids.extend([ch, ch + "4"])
    for s in ['\\u0041', '"', '\\"', '"}]}', "</script>", "'", "%00", "%22",
              '{"UserID":"a"}', "\\", "/", "x"]:
        imported.append(s + "y")
        ids.extend([s + "y", s + "z"])
    # 32 bytes is fine, 33 is the API's per-item error, like ''
    ids += ["\U0001F600" * 8, "é" * 16, "é" * 16 + "a", "", "a" * 33,
            '"' * 32, "\\" * 32]
    ids += ids[:50]			# repeats come back on every row
    return ids, imported


def expected_answer(uid, imported_set):
    if len(uid.encode()) == 0 or len(uid.encode()) > 32:
        return 70402, None
    return 0, ("Imported" if uid in imported_set or even_rule(uid) else "NotImported")


if len(sys.argv) == 3 and sys.argv[1] == "--write-imported-file":
    _, lines = untrusted_userids()
    with open(sys.argv[2], "wb") as f:
        f.write(b"".join(line.encode() + b"\n" for line in lines))
    os.chmod(sys.argv[2], 0o644)
    sys.exit(0)

# ----------------------------------------------------------------------------
# environment

E = os.environ
PSQL = E["SEC_PSQL"]
TMP = E["SEC_TMP"]
KEY_A, KEY_L = E["SEC_KEY_A"], E["SEC_KEY_L"]
USERSIG_A, USERSIG_L_EXPIRED = E["SEC_USERSIG_A"], E["SEC_USERSIG_L_EXPIRED"]
IMSIM_A, IMSIM_A_WRONGKEY = E["SEC_IMSIM_A"], E["SEC_IMSIM_A_WRONGKEY"]
IMSIM_L, IMSIM_L_WRONGKEY = E["SEC_IMSIM_L"], E["SEC_IMSIM_L_WRONGKEY"]
TLS_PORT = E["SEC_TLS_PORT"]
REGION_URL = E.get("SEC_REGION_URL", "")
CERT_SELF, CERT_OTHER = E["SEC_CERT_SELF"], E["SEC_CERT_OTHER"]
PROXY_PORT = int(E["SEC_PROXY_PORT"])

# what psql runs with: none of the secrets
CHILD_ENV = {k: v for k, v in E.items() if not k.startswith("SEC_")}
CHILD_ENV["PGCONNECT_TIMEOUT"] = "10"
for k in ("PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGOPTIONS"):
    CHILD_ENV.pop(k, None)

# a UserSig: zlib (0x78 + 0x01/0x5e/0x9c/0xda) in TLSSigAPIv2's base64url
USERSIG_RE = re.compile(r"e[AFJN][A-Za-z0-9*_+/=-]{40,}")


def leaks(text, secrets):
    """What in text looks like a secret: a known value, a UserSig, a signed URL."""
    found = []
    for label, value in secrets:
        if value and value in text:
            found.append(label)
    if re.search(r"usersig=", text, re.I):
        found.append("a usersig query parameter")
    if re.search(r"[?&]sdkappid=", text, re.I):
        found.append("a URL with '?sdkappid='")
    m = USERSIG_RE.search(text)
    if m:
        found.append("something like a UserSig (%s...)" % m[0][:6])
    return found


class Result:
    def __init__(self, out, err, rc):
        self.out, self.err, self.rc = out, err, rc
        self.errors = re.findall(r"(?:ERROR|FATAL):\s+([0-9A-Z]{5}):\s*(.*)", err)

    @property
    def ok(self):
        return self.rc == 0 and not self.errors and "ERROR" not in self.err

    @property
    def rows(self):
        return [line.split("|") for line in self.out.splitlines() if line != ""]

    def sqlstate(self):
        return self.errors[0][0] if self.errors else None

    def text(self):
        return self.out + self.err

    def brief(self):
        return (self.err.strip() or self.out.strip())[:300]


class Cluster:
    def __init__(self, name):
        n = name.upper()
        self.name = name
        self.host, self.port = E[f"SEC_{n}_HOST"], E[f"SEC_{n}_PORT"]
        self.data, self.log = E[f"SEC_{n}_DATA"], E[f"SEC_{n}_LOG"]
        self.messages = []		# everything psql printed, for the scans

    def psql(self, sql, user="postgres", db="postgres", timeout=60, options=None,
             client_debug=False):
        env = dict(CHILD_ENV)
        if options:
            env["PGOPTIONS"] = options
        script = "\\set VERBOSITY verbose\n"
        if client_debug:
            script += "SET client_min_messages = debug1;\n"
        script += sql + "\n"
        cmd = [PSQL, "-X", "-q", "-A", "-t", "-F", "|", "-v", "ON_ERROR_STOP=0",
               "-h", self.host, "-p", self.port, "-U", user, "-d", db]
        try:
            p = subprocess.run(cmd, input=script.encode(), capture_output=True,
                               timeout=timeout, env=env)
            r = Result(p.stdout.decode("utf-8", "replace"),
                       p.stderr.decode("utf-8", "replace"), p.returncode)
        except subprocess.TimeoutExpired as e:
            r = Result("", "psql timed out: %s" % e, -1)
        self.messages.append(r.text())
        return r

    def value(self, sql, **kw):
        r = self.psql(sql, **kw)
        return r.out.strip() if r.ok else None

    def set_conf_line(self, name, value):
        """Removes (value None) or sets NAME in postgresql.conf, then reloads."""
        path = os.path.join(self.data, "postgresql.conf")
        with open(path) as f:
            lines = [ln for ln in f if not re.match(r"\s*%s\s*=" % re.escape(name), ln)]
        if value is not None:
            lines.append("%s = '%s'\n" % (name, value))
        with open(path, "w") as f:
            f.writelines(lines)
        self.psql("SELECT pg_reload_conf()")
        want = value or ""
        for _ in range(100):
            if self.value(f"SHOW {name}") == want:
                return True
            time.sleep(0.05)
        return False


A = Cluster("a")
L = Cluster("l")


def lit(s):
    return "'" + s.replace("'", "''") + "'"


# ----------------------------------------------------------------------------
# imsim's control API, and small servers of our own

_NOVERIFY = ssl.create_default_context()
_NOVERIFY.check_hostname = False
_NOVERIFY.verify_mode = ssl.CERT_NONE


def imsim(url, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data,
                                 method="GET" if body is None else "POST")
    with urllib.request.urlopen(req, timeout=10, context=_NOVERIFY) as r:
        return json.loads(r.read())


def faults(url, f, budget=-1):
    imsim(url, "/_imsim/config", {"faults": f, "fault_budget": budget, "seed": 1})


def reset_stats(url):
    imsim(url, "/_imsim/stats/reset", {})


def calls(url):
    return imsim(url, "/_imsim/stats")["calls"]


class TestServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass			# a client that hangs up early (the 2 MiB answer) is expected


class Hostile(http.server.BaseHTTPRequestHandler):
    """The first path segment picks what it answers:
    /rNNN-a, /rNNN-l: redirect NNN to imsim a / l, same path and query;
    /swap /dup /foreign /huge /badinfo /escaped: crafted account_check answers."""
    hits = []
    lock = threading.Lock()

    def log_message(self, *a):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        mode, _, rest = self.path[1:].partition("/")
        with Hostile.lock:
            Hostile.hits.append(mode)
        if mode.startswith("r"):
            code, target = mode[1:].split("-")
            base = IMSIM_A if target == "a" else IMSIM_L
            self.send_response(int(code))
            self.send_header("Location", base + "/" + rest)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        ids = [item["UserID"] for item in json.loads(body)["CheckItem"]]

        def item(uid, code=0, info="", status=None):
            d = {"UserID": uid, "ResultCode": code, "ResultInfo": info}
            if code == 0:
                d["AccountStatus"] = status or ("Imported" if even_rule(uid) else "NotImported")
            return d

        items = [item(u) for u in ids]
        raw = None
        if mode == "swap":
            items.reverse()
        elif mode == "dup" and len(ids) > 1:
            items[1] = item(ids[0])
        elif mode == "foreign":
            items[-1] = item("intruder")
        elif mode == "huge":
            raw = ('{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"%s","ResultItem":[]}'
                   % ("x" * (2 << 20))).encode()
        elif mode == "badinfo":
            raw = ('{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","ResultItem":['
                   + ",".join('{"UserID":%s,"ResultCode":70402,"ResultInfo":"bad \xff\xfe"}'
                              % json.dumps(u) for u in ids) + "]}").encode("latin-1")
        elif mode == "escaped":
            raw = ('{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","ResultItem":['
                   + ",".join('{"UserID":"%s","ResultCode":0,"ResultInfo":"","AccountStatus":"%s"}'
                              % (json_u_escaped(u),
                                 "Imported" if even_rule(u) else "NotImported")
                              for u in ids) + "]}").encode()
        elif mode == "nulinfo":
            raw = ('{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","ResultItem":['
                   + ",".join('{"UserID":%s,"ResultCode":70402,"ResultInfo":"a\\u0000b"}'
                              % json.dumps(u) for u in ids) + "]}").encode()
        elif mode.startswith("echo"):
            # a broken gateway that reflects the request (URL with the UserSig)
            echo = "cannot handle POST " + self.path
            if mode == "echo-fail":
                raw = json.dumps({"ActionStatus": "FAIL", "ErrorCode": 70402,
                                  "ErrorInfo": echo}).encode()
            elif mode == "echo-fatal":
                raw = json.dumps({"ActionStatus": "FAIL", "ErrorCode": 70009,
                                  "ErrorInfo": echo}).encode()
            elif mode == "echo-info":
                raw = json.dumps({"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "",
                                  "ResultItem": [item(u, 70402, echo) for u in ids]}).encode()
            else:
                self.send_response(int(mode.split("-")[1]))
                self.send_header("Content-Length", str(len(echo)))
                self.end_headers()
                self.wfile.write(echo.encode())
                return
        if raw is None:
            raw = json.dumps({"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "",
                              "ResultItem": items}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


def json_u_escaped(s):
    """Every character as a \\u escape (surrogate pairs above U+FFFF)."""
    units = s.encode("utf-16-be")
    return "".join("\\u%02x%02x" % (units[i], units[i + 1]) for i in range(0, len(units), 2))


def start_server(handler, port=0):
    srv = TestServer(("127.0.0.1", port), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


class Listener:
    """Counts TCP connections to 127.0.0.1:port and closes them."""

    def __init__(self, port):
        self.count = 0
        self.error = None
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind(("127.0.0.1", port))
            self.sock.listen(16)
            threading.Thread(target=self._run, daemon=True).start()
        except OSError as e:
            self.error = str(e)

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.count += 1
            c.close()


HOSTILE = start_server(Hostile)
HOSTILE_URL = "http://127.0.0.1:%d" % HOSTILE.server_address[1]
PROXY = Listener(PROXY_PORT)	# the proxy in cluster a's environment
PORT80 = Listener(80)		# plain HTTP to the region domains


def _closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


CLOSED_PORT = _closed_port()

SECRETS_A = [("the secret key", KEY_A), ("the static UserSig", USERSIG_A)]
SECRETS_L = [("the secret key", KEY_L), ("the static UserSig", USERSIG_L_EXPIRED)]
CHECK = "im_account_check(text[], boolean)"


# ----------------------------------------------------------------------------
# setup

def setup_cluster(c):
    r = c.psql(f"""
CREATE EXTENSION imcheck;
CREATE ROLE analyst LOGIN;
CREATE DATABASE analyst_db OWNER analyst;
""")
    if not r.ok:
        report(f"setup: cluster {c.name}", False, r.brief())
        sys.exit(1)


# ----------------------------------------------------------------------------
# privileges: every call spends the admin credential, so calling the API needs
# an explicit GRANT; PUBLIC has no EXECUTE

def check_execute_privileges():
    v = A.value(f"SELECT has_function_privilege('public', '{CHECK}', 'EXECUTE')")
    report("privileges: PUBLIC has no EXECUTE on im_account_check", v == "f", f"got {v!r}")
    v = A.value("""
SELECT coalesce(string_agg(p.oid::regprocedure::text, ', '), '')
  FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
 WHERE d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'imcheck')
   AND has_function_privilege('public', p.oid, 'EXECUTE')""")
    # only what shows nothing of other sessions may be public; the
    # statistics and progress are pg_read_all_stats's, like PostgreSQL's own
    public_ok = {"im_account_check_support(internal)", "imcheck_version()"}
    extra = sorted(set(filter(None, (v or "").split(", "))) - public_ok)
    report("privileges: only the version and the planner support function are executable by PUBLIC",
           v is not None and not extra, f"also executable by PUBLIC: {extra}")
    r = A.psql("SELECT imcheck_reset_stats()", user="analyst")
    report("privileges: analyst is refused imcheck_reset_stats()", r.sqlstate() == "42501", r.brief())

    reset_stats(IMSIM_A)
    refused = []
    for sql in ["SELECT * FROM im_account_check(ARRAY['a2'])",
                "SELECT * FROM im_account_check(ARRAY['a2'], false)",
                "SELECT im_account_check(ARRAY['a2'])",
                "DO $$BEGIN PERFORM im_account_check(ARRAY['a2']); END$$"]:
        r = A.psql(sql, user="analyst")
        if r.sqlstate() != "42501" or "permission denied for function im_account_check" not in r.err:
            refused.append(f"{sql}: {r.brief()}")
    n = calls(IMSIM_A)
    report("privileges: analyst is refused EXECUTE before GRANT, and no call is made",
           not refused and n == 0, f"{refused} calls={n}")

    A.psql(f"GRANT EXECUTE ON FUNCTION {CHECK} TO analyst")
    r = A.psql("SELECT user_id, result_code, account_status FROM im_account_check(ARRAY['a2', 'a3'])",
               user="analyst")
    report("privileges: analyst can check after GRANT EXECUTE",
           r.ok and r.rows == [["a2", "0", "Imported"], ["a3", "0", "NotImported"]], r.brief())
    A.psql(f"REVOKE EXECUTE ON FUNCTION {CHECK} FROM analyst")
    r = A.psql("SELECT * FROM im_account_check(ARRAY['a2'])", user="analyst")
    report("privileges: analyst is refused again after REVOKE", r.sqlstate() == "42501", r.brief())
    A.psql(f"GRANT EXECUTE ON FUNCTION {CHECK} TO analyst")


# ----------------------------------------------------------------------------
# settings: an analyst who could change where requests go, with which app,
# admin or credential, or how fast, could send the UserSig elsewhere or spend
# the rate budget; only superusers change those

SUPERUSER_SETTINGS = {
    "imcheck.sdkappid": "1",
    "imcheck.identifier": "x",
    "imcheck.region": "tokyo",
    "imcheck.endpoint": "http://127.0.0.1:1",
    "imcheck.ca_file": "/tmp/x",
    "imcheck.rate_limit": "1000",
    "imcheck.secret_key_file": "/tmp/x",
    "imcheck.usersig_ttl": "300",
    "imcheck.secret_key": "x",
    "imcheck.usersig": "x",
    "imcheck.log_level": "notice",
}


def check_settings_locked_for_analysts():
    before = A.value("SELECT string_agg(name || '=' || setting, ',' ORDER BY name) "
                     "FROM pg_settings WHERE name LIKE 'imcheck.%'")
    for name, val in SUPERUSER_SETTINGS.items():
        attempts = {
            "SET": (f"SET {name} = {lit(val)}", "analyst_db"),
            "SET LOCAL": (f"BEGIN; SET LOCAL {name} = {lit(val)}; COMMIT;", "analyst_db"),
            "set_config": (f"SELECT set_config({lit(name)}, {lit(val)}, false)", "analyst_db"),
            "set_config local": (f"BEGIN; SELECT set_config({lit(name)}, {lit(val)}, true); COMMIT;", "analyst_db"),
            "ALTER ROLE SET": (f"ALTER ROLE analyst SET {name} = {lit(val)}", "analyst_db"),
            "ALTER ROLE IN DATABASE SET": (f"ALTER ROLE analyst IN DATABASE analyst_db SET {name} = {lit(val)}", "analyst_db"),
            "ALTER DATABASE SET": (f"ALTER DATABASE analyst_db SET {name} = {lit(val)}", "analyst_db"),
            "CREATE FUNCTION SET": (f"CREATE FUNCTION f_{name.split('.')[1]}() RETURNS int LANGUAGE sql "
                                    f"SET {name} = {lit(val)} AS 'SELECT 1'", "analyst_db"),
        }
        accepted = []
        for how, (sql, db) in attempts.items():
            r = A.psql(sql, user="analyst", db=db)
            if not r.errors:
                accepted.append(f"{how} ({r.brief() or 'no error'})")
        # at connection: PGOPTIONS
        r = A.psql(f"SHOW {name}", user="analyst", options=f"-c {name}={val}")
        if not r.errors and r.out.strip() == val:
            accepted.append(f"PGOPTIONS (now {r.out.strip()!r})")
        report(f"settings: analyst cannot change {name} (SET, SET LOCAL, set_config, ALTER ROLE, "
               "ALTER ROLE IN DATABASE, ALTER DATABASE, CREATE FUNCTION ... SET, PGOPTIONS)",
               not accepted, "accepted: " + "; ".join(accepted))
    after = A.value("SELECT string_agg(name || '=' || setting, ',' ORDER BY name) "
                    "FROM pg_settings WHERE name LIKE 'imcheck.%'")
    report("settings: the settings are unchanged after the analyst's attempts",
           before is not None and before == after, f"{before!r} -> {after!r}")
    v = A.value("SELECT count(*) FROM pg_db_role_setting s, unnest(s.setconfig) c "
                "WHERE c LIKE 'imcheck.%'")
    report("settings: pg_db_role_setting holds no imcheck setting", v == "0", f"count={v}")
    v = A.value("SELECT count(*) FROM pg_proc, unnest(proconfig) c WHERE c LIKE 'imcheck.%'")
    report("settings: no function carries an imcheck setting", v == "0", f"count={v}")
    v = A.value("SELECT count(*) FROM pg_parameter_acl WHERE parname LIKE 'imcheck.%'")
    report("settings: no SET privilege is granted on imcheck settings (pg_parameter_acl)", v == "0", f"count={v}")
    r = A.psql("SET imcheck.bogus = 'x'", user="analyst")
    report("settings: the imcheck. prefix is reserved: no placeholder can be made",
           r.sqlstate() == "42602" or "invalid configuration parameter name" in r.err, r.brief())
    # the per-statement knobs stay the analyst's
    r = A.psql("SET imcheck.batch_size = 50; SET imcheck.max_concurrency = 4; "
               "SET imcheck.timeout = '5s'; SET imcheck.max_retries = 1; SELECT 1", user="analyst")
    report("settings: analyst may still set batch_size, max_concurrency, timeout, max_retries", r.ok, r.brief())


# ----------------------------------------------------------------------------
# input and answers: the UserIDs are untrusted bytes, and the endpoint may
# answer anything (UserIDs not asked, missing, repeated, escaped, huge or
# invalid texts); no answer may produce a wrong row or one for a UserID not asked

def check_untrusted_input_and_answers():
    ids, imported = untrusted_userids()
    imported_set = set(imported)
    values = ",".join("(%d,'%s')" % (i + 1, u.encode().hex()) for i, u in enumerate(ids))
    sql = f"""
SET imcheck.max_retries = 0;
CREATE TEMP TABLE input AS
  SELECT n, convert_from(decode(h, 'hex'), 'UTF8') AS id FROM (VALUES {values}) v(n, h);
SELECT coalesce(i.n, c.n), coalesce('=' || encode(convert_to(c.user_id, 'UTF8'), 'hex'), 'NULL'),
       c.result_code, coalesce(c.account_status, 'NULL'), c.result_info <> ''
  FROM im_account_check((SELECT array_agg(id ORDER BY n) FROM input))
       WITH ORDINALITY AS c(user_id, result_code, account_status, result_info, n)
  FULL JOIN input i ON i.n = c.n
 ORDER BY 1;"""
    reset_stats(IMSIM_A)
    r = A.psql(sql, user="analyst", db="postgres", timeout=90)
    problems = []
    if not r.ok:
        problems.append(r.brief())
    rows = r.rows
    if len(rows) != len(ids):
        problems.append(f"{len(rows)} rows for {len(ids)} UserIDs")
    for row in rows:
        if len(problems) > 5:
            break
        try:
            n = int(row[0])
            uid = ids[n - 1]
        except (ValueError, IndexError):
            problems.append(f"bad row {row!r}")
            continue
        code, status = expected_answer(uid, imported_set)
        got_uid = bytes.fromhex(row[1][1:]).decode() if row[1].startswith("=") else None
        if got_uid != uid:
            problems.append(f"row {n}: user_id {got_uid!r}, asked {uid!r}")
        elif row[2] != str(code) or row[3] != (status or "NULL"):
            problems.append(f"row {n} ({uid!r}): {row[2]} {row[3]}, expected {code} {status}")
        elif code != 0 and row[4] != "t":
            problems.append(f"row {n} ({uid!r}): empty result_info for code {code}")
    report(f"input: {len(ids)} UserIDs with every byte 0x01-0x7F and 2/3/4-byte UTF-8 "
           "go out and come back matched by ordinality", not problems, problems)
    st = imsim(IMSIM_A, "/_imsim/stats")
    distinct = len(set(ids))
    report("input: imsim received each distinct UserID exactly once",
           st["distinct_ids"] == distinct and st["repeated_ids"] == 0 and st["items"] == distinct,
           f"distinct_ids={st['distinct_ids']} items={st['items']} repeated={st['repeated_ids']} "
           f"(expected {distinct})")

    asked = ["e1", "e2", "e3", "e4", "e5", "e6", "e7"]
    arr = "ARRAY[" + ",".join(lit(u) for u in asked) + "]"
    q = (f"SET imcheck.max_retries = 0; SET imcheck.batch_size = 3; "
         f"SELECT n, user_id, result_code, coalesce(account_status, 'NULL') "
         f"FROM im_account_check({arr}, false) WITH ORDINALITY "
         f"AS c(user_id, result_code, account_status, result_info, n)")
    for kind in ("extra_item", "missing_item"):
        faults(IMSIM_A, {kind: 1})
        reset_stats(IMSIM_A)
        r = A.psql(q, user="analyst")
        n_calls = calls(IMSIM_A)
        faults(IMSIM_A, {})
        want = [[str(i + 1), u] for i, u in enumerate(asked)]
        ok = (r.ok and [row[:2] for row in r.rows] == want
              and all(int(row[2]) < 0 and row[3] == "NULL" for row in r.rows)
              and "imsim-extra" not in r.out and n_calls == 3)
        report(f"answers: an answer with {'an unasked' if kind == 'extra_item' else 'a missing'} "
               "UserID (imsim fault " + kind + ") gives exactly the asked rows, negative result_code",
               ok, f"rows={r.rows} calls={n_calls} {r.brief() if not r.ok else ''}")
    faults(IMSIM_A, {"extra_item": 1})
    r = A.psql(f"SET imcheck.max_retries = 0; SELECT * FROM im_account_check({arr})", user="analyst")
    faults(IMSIM_A, {})
    report("answers: with raise_on_error true an unasked UserID in the answer is an error",
           r.errors and "imsim-extra" not in r.out, r.brief())

    # a hostile endpoint (the superuser points imcheck at it)
    def hostile(mode, ids_, extra=""):
        arr_ = "ARRAY[" + ",".join(lit(u) for u in ids_) + "]"
        return A.psql(f"SET imcheck.endpoint = '{HOSTILE_URL}/{mode}'; SET imcheck.max_retries = 0; {extra}"
                      f"SELECT n, user_id, result_code, coalesce(account_status, 'NULL'), result_info "
                      f"FROM im_account_check({arr_}, false) WITH ORDINALITY "
                      f"AS c(user_id, result_code, account_status, result_info, n)")
    two = ["h2", "h3", "h4"]
    r = hostile("swap", two)
    report("answers: an answer in another order is matched by UserID, not position",
           r.ok and [row[:4] for row in r.rows] == [["1", "h2", "0", "Imported"], ["2", "h3", "0", "NotImported"],
                                                   ["3", "h4", "0", "Imported"]], r.rows or r.brief())
    r = hostile("escaped", ["h2", "é3", "\U0001F6004"])
    report("answers: an answer with \\u-escaped UserIDs is matched after unescaping",
           r.ok and [row[2:4] for row in r.rows] == [["0", "Imported"], ["0", "NotImported"], ["0", "Imported"]],
           r.rows or r.brief())
    for mode, what in (("dup", "one UserID twice instead of another"),
                       ("foreign", "a UserID not asked in place of one asked")):
        r = hostile(mode, two)
        report(f"answers: an answer naming {what} gives the asked rows with a negative result_code",
               r.ok and [row[1] for row in r.rows] == two
               and all(int(row[2]) < 0 and row[3] == "NULL" for row in r.rows)
               and "intruder" not in r.out, r.rows or r.brief())
    r = hostile("nulinfo", two)
    report("answers: a ResultInfo with a \\u0000 is cut there, not an error",
           r.ok and [row[2] + row[4] for row in r.rows] == ["70402a"] * 3, r.rows or r.brief())
    r = hostile("huge", two)
    report("answers: an answer over 1 MiB is refused (-6), not buffered",
           r.ok and all(row[2] == "-6" for row in r.rows) and len(r.rows) == 3, r.rows or r.brief())
    r = hostile("badinfo", two)
    report("answers: a ResultInfo that is not valid UTF-8 is not stored as text",
           r.ok and len(r.rows) == 3 and all("\ufffd" not in row[4] and (
               (row[2] == "70402" and "not valid in the database encoding" in row[4])
               or int(row[2]) < 0) for row in r.rows), r.rows or r.brief())


# ----------------------------------------------------------------------------
# transport: the UserSig travels in the request URL, so it must reach only the
# configured endpoint: verified TLS, no redirects, http(s) only, no plain HTTP
# fallback, no proxy from the environment

def check_transport_security():
    https_local = f"https://localhost:{TLS_PORT}"
    tls_ctl = f"https://127.0.0.1:{TLS_PORT}"
    base = "SET imcheck.max_retries = 0; "
    reset_stats(tls_ctl)
    r = A.psql(base + f"SET imcheck.endpoint = '{https_local}'; SELECT * FROM im_account_check(ARRAY['t2'])")
    r2 = A.psql(base + f"SET imcheck.endpoint = '{https_local}'; SELECT * FROM im_account_check(ARRAY['t2'], false)")
    n = calls(tls_ctl)
    report("tls: a self-signed certificate is refused by default with a clear error (also with raise_on_error false)",
           r.sqlstate() == "08006" and "could not call the IM API" in r.err and "self-signed certificate" in r.err.replace("self signed", "self-signed")
           and r2.sqlstate() == "08006" and n == 0, f"{r.brief()} / {r2.brief()} calls={n}")
    r = A.psql(base + f"SET imcheck.endpoint = '{https_local}'; SET imcheck.ca_file = '{CERT_SELF}'; "
               "SELECT user_id, result_code, account_status FROM im_account_check(ARRAY['t2', 't3'])")
    report("tls: the certificate is accepted with imcheck.ca_file",
           r.ok and r.rows == [["t2", "0", "Imported"], ["t3", "0", "NotImported"]], r.brief() or r.rows)
    r = A.psql(base + f"SET imcheck.endpoint = '{https_local}'; SET imcheck.ca_file = '{CERT_OTHER}'; "
               "SELECT * FROM im_account_check(ARRAY['t2'])")
    report("tls: a certificate not issued by imcheck.ca_file's CA is refused",
           r.sqlstate() == "08006" and "certificate" in r.err, r.brief())
    r = A.psql(base + f"SET imcheck.endpoint = 'https://127.0.0.1:{TLS_PORT}'; SET imcheck.ca_file = '{CERT_SELF}'; "
               "SELECT * FROM im_account_check(ARRAY['t2'], false)")
    report("tls: a certificate that doesn't match the host is refused",
           r.sqlstate() == "08006" and re.search(r"subject name|does not match|doesn't match", r.err), r.brief())

    # redirects: the target (imsim a, answering correctly) must see no call
    for code in (301, 302, 303, 307, 308):
        reset_stats(IMSIM_A)
        r = A.psql(base + f"SET imcheck.endpoint = '{HOSTILE_URL}/r{code}-a'; "
                   "SELECT * FROM im_account_check(ARRAY['d2'], false)")
        n = calls(IMSIM_A)
        report(f"redirects: a {code} redirect to the real API is not followed: error, and the target saw no call",
               r.sqlstate() == "08006" and "redirects are not followed" in r.err and n == 0,
               f"{r.brief()} calls at target={n}")

    # only http and https
    bad = ["ftp://127.0.0.1/", "file:///etc/passwd", "FILE:///etc/passwd", "file://localhost/etc/passwd",
           "gopher://127.0.0.1/", "dict://127.0.0.1:11211/", "ldap://127.0.0.1/", "scp://127.0.0.1/x",
           "sftp://127.0.0.1/x", "smb://127.0.0.1/x", "telnet://127.0.0.1/", "tftp://127.0.0.1/x",
           "ws://127.0.0.1/", "wss://127.0.0.1/", "imap://127.0.0.1/", "smtp://127.0.0.1/",
           "pop3://127.0.0.1/", "rtsp://127.0.0.1/", "mqtt://127.0.0.1/", "httpx://127.0.0.1/",
           "127.0.0.1:8080", "//127.0.0.1/", "http:/127.0.0.1/", " http://127.0.0.1/",
           "http://user:pw@127.0.0.1/", "http://127.0.0.1/?x=1", "http://127.0.0.1/#x"]
    accepted = []
    for url in bad:
        for sql in (f"SET imcheck.endpoint = {lit(url)}",
                    f"SELECT set_config('imcheck.endpoint', {lit(url)}, false)",
                    f"ALTER SYSTEM SET imcheck.endpoint = {lit(url)}",
                    f"ALTER ROLE analyst SET imcheck.endpoint = {lit(url)}"):
            r = A.psql(sql)
            if r.sqlstate() != "22023":
                accepted.append(f"{sql}: {r.brief() or 'accepted'}")
    A.psql("ALTER SYSTEM RESET imcheck.endpoint; ALTER ROLE analyst RESET imcheck.endpoint")
    report(f"endpoint: endpoints other than http:// and https:// base URLs are refused ({len(bad)} URLs; "
           "SET, set_config, ALTER SYSTEM, ALTER ROLE)", not accepted, accepted[:5])
    r = A.psql("SET imcheck.endpoint = 'HTTP://127.0.0.1:1'; SET imcheck.endpoint = 'https://example.com/base/'")
    report("endpoint: http:// and https:// endpoints are accepted", r.ok, r.brief())

    # the region domains: always https, on 443, never plain HTTP
    if not REGION_URL or E.get("SEC_NO_HOSTS"):
        report("region: every region's API domain is called over https on port 443 (domains mapped to 127.0.0.1)",
               False, "could not map the region domains to 127.0.0.1 (unshare -m)" if E.get("SEC_NO_HOSTS")
               else "could not serve HTTPS on 127.0.0.1:443")
    else:
        reset_stats(REGION_URL)
        failed = []
        regions = ["china", "singapore", "seoul", "frankfurt", "mumbai", "silicon_valley", "jakarta", "tokyo"]
        for region in regions:
            r = A.psql(base + f"SET imcheck.endpoint = ''; SET imcheck.ca_file = '{CERT_SELF}'; "
                       f"SET imcheck.region = '{region}'; "
                       "SELECT user_id, result_code, account_status FROM im_account_check(ARRAY['g2'])")
            if not (r.ok and r.rows == [["g2", "0", "Imported"]]):
                failed.append(f"{region}: {r.brief()}")
        n = calls(REGION_URL)
        report("region: every region's API domain is called over https on port 443 (domains mapped to 127.0.0.1)",
               not failed and n == len(regions), f"{failed} calls on 443={n}")
        r = A.psql(base + "SET imcheck.endpoint = ''; RESET imcheck.ca_file; "
                   "SELECT * FROM im_account_check(ARRAY['g2'])")
        report("region: the region's domain certificate is verified against the system CAs by default",
               r.sqlstate() == "08006" and "certificate" in r.err, r.brief())
    report("region: plain HTTP (port 80) is never tried for a region domain",
           PORT80.error is None and PORT80.count == 0,
           PORT80.error or f"{PORT80.count} connections on port 80")
    http_port = IMSIM_A.rsplit(":", 1)[1]
    reset_stats(IMSIM_A)
    r = A.psql(base + f"SET imcheck.endpoint = 'https://localhost:{http_port}'; "
               "SELECT result_code FROM im_account_check(ARRAY['p2'], false)")
    n = calls(IMSIM_A)
    report("tls: an https:// endpoint never falls back to plain HTTP",
           n == 0 and (r.errors or all(int(row[0]) < 0 for row in r.rows)), f"{r.brief()} calls={n}")
    # the postmaster has proxy variables; none may be used (the UserSig is in the URL)
    pid = open(os.path.join(A.data, "postmaster.pid")).readline().strip()
    environ = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
    has_proxy = any(v.startswith(b"https_proxy=") for v in environ)
    report("proxy: proxies from the server's environment are not used",
           has_proxy and PROXY.error is None and PROXY.count == 0,
           f"proxy env set={has_proxy} listener={PROXY.error} connections={PROXY.count}")


# ----------------------------------------------------------------------------
# secrets: the key, the key file and the UserSig can't be read by
# non-superusers, neither directly nor through any message they can provoke

def check_credential_unreadable():
    # (label, SQL, must fail)
    reads = [
        ("SHOW imcheck.secret_key", "SHOW imcheck.secret_key", True),
        ("SHOW imcheck.usersig", "SHOW imcheck.usersig", True),
        ("SHOW imcheck.secret_key_file", "SHOW imcheck.secret_key_file", True),
        ("current_setting('imcheck.secret_key')", "SELECT current_setting('imcheck.secret_key')", True),
        ("current_setting('imcheck.usersig', true)", "SELECT current_setting('imcheck.usersig', true)", True),
        ("current_setting('imcheck.secret_key_file')", "SELECT current_setting('imcheck.secret_key_file')", True),
        ("pg_settings", "SELECT * FROM pg_settings", False),
        ("SHOW ALL", "SHOW ALL", False),
        ("pg_show_all_settings()", "SELECT * FROM pg_show_all_settings()", False),
        ("pg_roles.rolconfig", "SELECT rolname, rolconfig FROM pg_roles", False),
        ("pg_db_role_setting", "SELECT * FROM pg_db_role_setting", False),
        ("imcheck_stats, imcheck_progress, imcheck_version()",
         "SELECT * FROM imcheck_stats; SELECT * FROM imcheck_progress; SELECT imcheck_version()", False),
        ("pg_file_settings", "SELECT * FROM pg_file_settings", True),
        ("pg_read_file(postgresql.conf)", "SELECT pg_read_file('postgresql.conf')", True),
        ("pg_read_file(key file)", f"SELECT pg_read_file('{TMP}/a.key')", True),
        ("pg_read_binary_file(key file)", f"SELECT pg_read_binary_file('{TMP}/a.key')", True),
        ("COPY FROM key file", f"CREATE TEMP TABLE k(t text); COPY k FROM '{TMP}/a.key'; SELECT * FROM k", True),
        ("lo_import(key file)", f"SELECT lo_get(lo_import('{TMP}/a.key'))", True),
    ]
    for label, sql, must_fail in reads:
        r = A.psql(sql, user="analyst")
        found = leaks(r.text(), SECRETS_A)
        failed_ok = (not must_fail) or bool(r.errors)
        report(f"secrets: analyst cannot read the credential through {label}", failed_ok and not found,
               f"leaks {found}" if found else f"not refused: {r.brief()}")
    v = A.value("SELECT string_agg(name, ',') FROM pg_settings WHERE name IN "
                "('imcheck.secret_key', 'imcheck.usersig', 'imcheck.secret_key_file')", user="analyst")
    report("secrets: pg_settings shows the analyst no row for secret_key, usersig, secret_key_file",
           v == "", f"rows: {v!r}")

    # the credential can't be stored where everyone reads it, even by a superuser
    accepted = []
    for name in ("imcheck.secret_key", "imcheck.secret_key_file", "imcheck.usersig"):
        for sql in (f"ALTER ROLE analyst SET {name} = 'x'",
                    f"ALTER ROLE analyst IN DATABASE postgres SET {name} = 'x'",
                    f"ALTER ROLE ALL SET {name} = 'x'",
                    f"ALTER DATABASE postgres SET {name} = 'x'",
                    f"SET {name} = 'x'",
                    f"SELECT set_config('{name}', 'x', false)",
                    f"CREATE FUNCTION f_secret() RETURNS int LANGUAGE sql SET {name} = 'x' AS 'SELECT 1'"):
            r = A.psql(sql)
            if not r.errors:
                accepted.append(sql)
    v = A.value("SELECT count(*) FROM pg_db_role_setting s, unnest(s.setconfig) c WHERE c ~ "
                "'^imcheck\\.(secret_key|secret_key_file|usersig)='")
    report("secrets: ALTER ROLE/DATABASE SET, SET and function SET of secret_key, secret_key_file, usersig "
           "are refused, also to a superuser", not accepted and v == "0", f"accepted: {accepted} stored={v}")


def check_error_messages_hide_credential(phase):
    """The analyst provokes every error it can; no message may show a secret."""
    start = len(A.messages)
    expect = []		# (scenario, Result, wanted SQLSTATE or None for rows)

    def run(label, sql, want, **kw):
        expect.append((label, A.psql(sql, user="analyst", client_debug=True, **kw), want))

    for label, sql in (("null array", "SELECT * FROM im_account_check(NULL)"),
                       ("null element", "SELECT * FROM im_account_check(ARRAY['a', NULL])"),
                       ("2-D array", "SELECT * FROM im_account_check(ARRAY[['a'],['b']])"),
                       ("long UserID", "SELECT * FROM im_account_check(ARRAY[repeat('x', 5000)])"),
                       ("null raise_on_error", "SELECT * FROM im_account_check(ARRAY['a'], NULL)")):
        run(label, sql, "any")
    run("empty array", "SELECT * FROM im_account_check(ARRAY[]::text[])", None)
    run("success", "SELECT * FROM im_account_check(ARRAY['a2', 'a3'])", None)
    for fault, want in (("code70009", "28000"), ("code70001", "28000"), ("code70403", "42501"),
                        ("code70500", "38000"), ("http502", "08006"), ("reset", "08006"),
                        ("malformed", "08P01"), ("truncated", "08P01"), ("extra_item", "08P01"),
                        ("code70402", "38000")):
        faults(IMSIM_A, {fault: 1})
        run(fault, "SET imcheck.max_retries = 1; SELECT * FROM im_account_check(ARRAY['a2', 'a3'])", want)
        run(fault + " (raise_on_error false)",
            "SET imcheck.max_retries = 0; SELECT * FROM im_account_check(ARRAY['a2', 'a3'], false)",
            want if fault in ("code70009", "code70001", "code70403") else None)
    faults(IMSIM_A, {})
    # other servers, chosen for the analyst by the superuser
    for label, url, want in (("wrong key (70009)", IMSIM_A_WRONGKEY, "28000"),
                             ("connection refused", f"http://127.0.0.1:{CLOSED_PORT}", "08006"),
                             ("self-signed certificate", f"https://localhost:{TLS_PORT}", "08006"),
                             ("redirect", f"{HOSTILE_URL}/r302-a", "08006")):
        A.psql(f"ALTER ROLE analyst SET imcheck.endpoint = {lit(url)}")
        run(label, "SET imcheck.max_retries = 0; SELECT * FROM im_account_check(ARRAY['a2'])", want)
        A.psql("ALTER ROLE analyst RESET imcheck.endpoint")
    if phase == "secret_key_file":
        os.chmod(f"{TMP}/a.key", 0o644)
        run("key file readable by others", "SELECT * FROM im_account_check(ARRAY['a2'])", "F0000")
        os.chmod(f"{TMP}/a.key", 0o600)

    wrong = []
    for label, r, want in expect:
        if want == "08006 or rows":
            if not r.ok and r.sqlstate() != "08006":
                wrong.append(f"{label}: wanted 08006 or rows, got {r.brief()}")
        elif want is None and not r.ok:
            wrong.append(f"{label}: {r.brief()}")
        elif want == "any" and not r.errors:
            wrong.append(f"{label}: no error")
        elif want not in (None, "any") and r.sqlstate() != want:
            wrong.append(f"{label}: wanted {want}, got {r.brief()}")
    report(f"messages: the analyst's error scenarios behave as documented ({phase})", not wrong, wrong[:4])
    found = sorted(set(f for text in A.messages[start:] for f in leaks(text, SECRETS_A)))
    report(f"messages: no error, NOTICE or DEBUG message to the analyst shows the key or UserSig ({phase}; "
           f"{len(expect)} scenarios)", not found, f"found {found}")


def check_reflected_url_hides_usersig(phase):
    """An endpoint (a gateway, a proxy, a broken API) that reflects the request
    URL in its answer: the UserSig must not reach the analyst through imcheck."""
    for mode, what, raise_ in (("echo-fail", "a FAIL answer's ErrorInfo (70402)", "true"),
                               ("echo-fail", "a FAIL answer's ErrorInfo (70402) as result_info", "false"),
                               ("echo-fatal", "a FAIL answer's ErrorInfo (70009)", "true"),
                               ("echo-info", "a ResultItem's ResultInfo", "false"),
                               ("echo-404", "an HTTP 404 body", "true")):
        A.psql(f"ALTER ROLE analyst SET imcheck.endpoint = '{HOSTILE_URL}/{mode}'")
        r = A.psql("SET imcheck.max_retries = 0; "
                   f"SELECT * FROM im_account_check(ARRAY['a2'], {raise_})", user="analyst")
        A.psql("ALTER ROLE analyst RESET imcheck.endpoint")
        found = leaks(r.text(), SECRETS_A)
        # an HTTP error's body is never shown: nothing to reflect there
        reflected = "cannot handle POST" in r.text() or (mode == "echo-404" and r.errors)
        report(f"reflection: a reflected request URL in {what} does not show the UserSig to the analyst ({phase})",
               reflected and not found,
               f"the analyst got {found}: " + r.brief()
               if found else f"scenario did not run: {r.brief()}")


def check_credential_secrecy():
    check_credential_unreadable()
    check_error_messages_hide_credential("secret_key")
    check_reflected_url_hides_usersig("secret_key")
    ok = A.set_conf_line("imcheck.secret_key", None)
    report("setup: cluster a now uses imcheck.secret_key_file", ok, "reload did not take")
    check_error_messages_hide_credential("secret_key_file")
    ok = A.set_conf_line("imcheck.secret_key_file", None)
    report("setup: cluster a now uses the static imcheck.usersig", ok, "reload did not take")
    r = A.psql("SELECT user_id, account_status FROM im_account_check(ARRAY['s2'])", user="analyst")
    report("setup: the static UserSig works", r.ok and r.rows == [["s2", "Imported"]], r.brief())
    check_error_messages_hide_credential("usersig")
    check_reflected_url_hides_usersig("usersig")
    r = A.psql("SHOW imcheck.usersig", user="analyst")
    report("secrets: analyst cannot SHOW the static UserSig while it is in use",
           r.errors and not leaks(r.text(), SECRETS_A), r.brief())
    log = open(A.log, encoding="utf-8", errors="replace").read()
    found = leaks(log, SECRETS_A)
    report("logs: cluster a's server log holds no secret (every check run on it so far, "
           "the reflecting endpoint included)", not found, f"found {found}")

    # the documented limits, shown to hold (SECURITY.md)
    r = A.psql("CREATE ROLE settings_reader LOGIN IN ROLE pg_read_all_settings")
    v = A.value("SHOW imcheck.usersig", user="settings_reader")
    A.messages.pop()
    report("known limit: a member of pg_read_all_settings can read imcheck.usersig",
           v == USERSIG_A, "it can't: SECURITY.md is out of date")
    A.psql("ALTER SYSTEM SET imcheck.secret_key = 'known-limit-demo-value'; SELECT pg_reload_conf()")
    time.sleep(0.5)
    log = open(A.log, encoding="utf-8", errors="replace").read()
    A.psql("ALTER SYSTEM RESET imcheck.secret_key; SELECT pg_reload_conf()")
    report("known limit: ALTER SYSTEM + reload logs the value of imcheck.secret_key",
           'changed to "known-limit-demo-value"' in log, "it doesn't: SECURITY.md is out of date")


# ----------------------------------------------------------------------------
# logs: no secret in the server log, even at its most verbose (debug1,
# verbose, log_statement = all), nor in any message to a client

def check_no_secret_in_logs():
    setup_cluster(L)
    L.psql(f"GRANT EXECUTE ON FUNCTION {CHECK} TO analyst")
    wrong = []

    def run(label, sql, want, user="postgres", pre=""):
        r = L.psql(pre + sql, user=user, client_debug=True)
        if want == "08006 or rows":
            if not r.ok and r.sqlstate() != "08006":
                wrong.append(f"{label}: wanted 08006 or rows, got {r.brief()}")
        elif want is None and not r.ok:
            wrong.append(f"{label}: {r.brief()}")
        elif want is not None and r.sqlstate() != want:
            wrong.append(f"{label}: wanted {want}, got {r.brief()}")
        return r

    q = "SELECT * FROM im_account_check(ARRAY['a2', 'a3']"
    run("success", q + ")", None)
    run("analyst success", q + ")", None, user="analyst")
    run("wrong key 70009", q + ")", "28000", pre=f"SET imcheck.endpoint = '{IMSIM_L_WRONGKEY}'; ")
    for fault, want in (("code70001", "28000"), ("code70403", "42501"), ("code70500", "38000"),
                        ("http502", "08006"), ("reset", "08006"), ("malformed", "08P01"),
                        ("truncated", "08P01"), ("missing_item", "08P01")):
        faults(IMSIM_L, {fault: 1})
        run(fault, q + ")", want, pre="SET imcheck.max_retries = 2; ")
        run(fault + " raise_on_error false", q + ", false)",
            want if fault in ("code70001", "code70403") else None, pre="SET imcheck.max_retries = 0; ")
        run(fault + " as analyst", q + ", false)",
            want if fault in ("code70001", "code70403") else None, user="analyst",
            pre="SET imcheck.max_retries = 0; ")
    faults(IMSIM_L, {"stall": 1})
    run("timeout", q + ")", "08006", pre="SET imcheck.max_retries = 0; SET imcheck.timeout = 1000; ")
    run("statement_timeout", q + ")", "57014", pre="SET statement_timeout = '300ms'; ")
    # query cancel from another session
    box = []
    t = threading.Thread(target=lambda: box.append(L.psql(
        "SELECT /* cancel-me */ * FROM im_account_check(ARRAY['c2'])", client_debug=True)))
    t.start()
    for _ in range(100):
        if L.value("SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity "
                   "WHERE query LIKE '%cancel-me */%' AND pid <> pg_backend_pid()") == "1":
            break
        time.sleep(0.05)
    t.join(30)
    if not box or box[0].sqlstate() != "57014":
        wrong.append(f"cancel: {box[0].brief() if box else 'no result'}")
    faults(IMSIM_L, {"code70500": 1})
    run("retries exhausted", q + ")", "38000", pre="SET imcheck.max_retries = 2; ")
    r = run("raise_on_error false", q + ", false)", None, pre="SET imcheck.max_retries = 1; ")
    if "70500" not in r.out and "Internal" not in r.out:
        wrong.append(f"raise_on_error false rows: {r.out[:200]}")
    faults(IMSIM_L, {})
    for label, url in (("connection refused", f"http://127.0.0.1:{CLOSED_PORT}"),
                       ("self-signed certificate", f"https://localhost:{TLS_PORT}"),
                       ("TLS to a plain HTTP server", "https://127.0.0.1:" + IMSIM_L.rsplit(":", 1)[1]),
                       ("redirect with the signed URL in Location", f"{HOSTILE_URL}/r302-l")):
        run(label, q + ")", "08006", pre=f"SET imcheck.max_retries = 1; SET imcheck.endpoint = '{url}'; ")
        run(label + " raise_on_error false", q + ", false)",
            # a TLS handshake answered in plain HTTP raises at once; when the
            # server closes first (OpenSSL: SSL_ERROR_SYSCALL, now and then)
            # it is a failed call like any broken connection
            None if label == "connection refused" else
            "08006 or rows" if label == "TLS to a plain HTTP server" else "08006",
            pre=f"SET imcheck.max_retries = 0; SET imcheck.endpoint = '{url}'; ")
    run("bad input as analyst", "SELECT * FROM im_account_check(ARRAY[['a'],['b']])", "2202E", user="analyst")
    run("ALTER ROLE SET secret_key_file", "ALTER ROLE analyst SET imcheck.secret_key_file = '/tmp/x'", "55P02")
    os.chmod(f"{TMP}/l.key", 0o640)
    run("key file readable by group", q + ")", "F0000")
    os.chmod(f"{TMP}/l.key", 0o600)
    os.rename(f"{TMP}/l.key", f"{TMP}/l.key.away")
    run("key file missing", q + ")", "58P01")
    os.rename(f"{TMP}/l.key.away", f"{TMP}/l.key")
    run("success again", q + ")", None)
    # the static UserSig (expired), once the key file is gone from the config
    ok = L.set_conf_line("imcheck.secret_key_file", None)
    r = run("expired static UserSig", q + ")", "22023")
    if "has expired" not in r.err:
        wrong.append(f"expired static UserSig: {r.brief()}")
    run("expired static UserSig as analyst", q + ", false)", "22023", user="analyst")
    report("logs: the error scenarios ran as documented (wrong key, 70001, 70403, transport, "
           "timeout, cancel, retries exhausted, raise_on_error false, TLS, redirect, key file, "
           "expired static UserSig)", ok and not wrong, wrong[:4] or "reload did not take")

    time.sleep(0.3)		# let the logging collector... (stderr to file: already written)
    log = open(L.log, encoding="utf-8", errors="replace").read()
    sanity = all(s in log for s in ("DEBUG:", "statement: SELECT * FROM im_account_check",
                                    "70009", "LOCATION:", "imcheck checked"))
    report("logs: the server log is verbose (debug1, statements, locations, imcheck's per-statement line)",
           sanity, "expected lines are missing from the log")
    found = leaks(log, SECRETS_L)
    report("logs: the server log holds neither key, UserSig, 'usersig=' nor a signed URL", not found,
           f"found {found}")
    found = sorted(set(f for text in L.messages for f in leaks(text, SECRETS_L)))
    report(f"messages: no client message ({len(L.messages)} sessions, client_min_messages debug1) "
           "holds a secret", not found, f"found {found}")
    report("logs (control): the scan finds a UserSig by its shape alone",
           bool(USERSIG_RE.search("x " + USERSIG_A + " y")) and leaks("?sdkappid=1&usersig=", []),
           "the UserSig pattern does not match a real UserSig")
    imsim_out = open(os.path.join(TMP, "imsim-l.out"), errors="replace").read()
    report("logs (control): imsim's own output is no channel either", not leaks(imsim_out, SECRETS_L[:1]),
           "imsim printed the key")


def main():
    t0 = time.time()
    setup_cluster(A)
    check_execute_privileges()
    check_settings_locked_for_analysts()
    check_untrusted_input_and_answers()
    check_transport_security()
    check_credential_secrecy()
    check_no_secret_in_logs()
    n = len(FAILURES)
    print(f"# {n} failed, {time.time() - t0:.0f} s", flush=True)
    return 1 if n else 0


if __name__ == "__main__":
    sys.exit(main())
