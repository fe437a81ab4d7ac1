#!/usr/bin/env python3
"""Tests of imsim, the simulator of account_check, multiaccount_import and
query_online_status (see README.md).

usage: python3 test_imsim.py [PATH_TO_IMSIM] [-k SUBSTRING]

Python 3 standard library only.  Starts its own imsim instances on port 0,
generates UserSigs with its own TLSSigAPIv2 implementation (a cross-check of
src/usersig.c), makes a TLS certificate with the openssl CLI, and kills every
imsim it started on exit.  Prints one line per test ("ok - name" or
"not ok - name: reason") and as its last line "N passed, N failed"; exits 1
if any test failed.
"""

import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
PUBLIC_KEY = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
PUBLIC_SIG = "CpjuBdQs9ZwnuGAJR8onoOeI9fweX2vIMMY94iOJWJY="
PUBLIC_USERSIG = "eJyrVgrxCdYrSy1SslIy0jNQ0gHzM1NS80oy0zLBwjDB4pTsxIKCzBQlK0MTAyiAyKRWFGQWpQLFTU1NjeCiJZm5YDEzS0tDAyOYaHFmOtBM54KsUqeUwGLLqPK8UndHryCL-Lx8-1RPy7Ty1AijMk9f30hLk0x-r3CvSFulWgAPYy*9"  # noqa: E501
APPID = 1400000000
ADMIN = "administrator"
API = "/v4/im_open_login_svc/account_check"
TIMEOUT = 10

BIN = os.path.join(HERE, "imsim")
ONLY = None
TMP = tempfile.mkdtemp(prefix="imsim-test-")
SIMS = []


# ---------------------------------------------------------------------------
# TLSSigAPIv2, independently of src/usersig.c
# ---------------------------------------------------------------------------

def sig_hmac(key, identifier, appid, t, expire):
    content = ("TLS.identifier:%s\nTLS.sdkappid:%d\nTLS.time:%d\nTLS.expire:%d\n"
               % (identifier, appid, t, expire))
    digest = hmac.new(key.encode(), content.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def urlsafe(b64):
    return b64.replace("+", "*").replace("/", "-").replace("=", "_")


def gen_usersig(key=PUBLIC_KEY, identifier=ADMIN, appid=APPID, t=None,
                expire=86400, sig=None):
    t = int(time.time()) if t is None else t
    doc = {"TLS.ver": "2.0", "TLS.identifier": identifier, "TLS.sdkappid": appid,
           "TLS.expire": expire, "TLS.time": t,
           "TLS.sig": sig if sig is not None else sig_hmac(key, identifier, appid, t, expire)}
    raw = json.dumps(doc, separators=(",", ":")).encode()
    return urlsafe(base64.b64encode(zlib.compress(raw)).decode())


def decode_usersig(usersig):
    b64 = usersig.replace("*", "+").replace("-", "/").replace("_", "=")
    return json.loads(zlib.decompress(base64.b64decode(b64)))


# ---------------------------------------------------------------------------
# running imsim
# ---------------------------------------------------------------------------

class Sim:
    def __init__(self, *args, ca=None):
        self.errpath = os.path.join(TMP, "imsim-%d.err" % len(SIMS))
        self.err = open(self.errpath, "wb")
        self.proc = subprocess.Popen([BIN, "--port", "0"] + list(args),
                                     stdout=subprocess.PIPE, stderr=self.err)
        SIMS.append(self)
        ready, _, _ = select.select([self.proc.stdout], [], [], 10)
        if not ready:
            raise AssertionError("imsim did not start in 10 s")
        line = self.proc.stdout.readline().decode()
        m = re.fullmatch(r"imsim listening on (https?)://127\.0\.0\.1:(\d+)\n", line)
        if not m:
            raise AssertionError("bad first line %r (stderr: %s)" % (line, self.stderr()))
        self.scheme, self.port = m.group(1), int(m.group(2))
        self.ca = ca

    def stderr(self):
        with open(self.errpath, "rb") as f:
            return f.read().decode(errors="replace")[-2000:]

    def connect(self, timeout=TIMEOUT):
        if self.scheme == "https":
            ctx = ssl.create_default_context(cafile=self.ca)
            return http.client.HTTPSConnection("127.0.0.1", self.port,
                                               timeout=timeout, context=ctx)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, conn=None,
                timeout=TIMEOUT):
        own = conn is None
        c = self.connect(timeout) if own else conn
        try:
            if isinstance(body, str):
                body = body.encode()
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, r, data
        finally:
            if own:
                c.close()

    def call(self, ids=None, body=None, query=None, method="POST", conn=None,
             timeout=TIMEOUT, path=API, raw=False):
        """An API call; returns the parsed answer (or status, response, bytes)."""
        if body is None:
            body = json.dumps({"CheckItem": [{"UserID": i} for i in ids]})
        q = default_query() if query is None else query
        status, r, data = self.request(method, path + "?" + urllib.parse.urlencode(q),
                                       body, conn=conn, timeout=timeout)
        if raw:
            return status, r, data
        if status != 200:
            raise AssertionError("HTTP %d: %r" % (status, data[:200]))
        return json.loads(data)

    def control(self, method, path, body=None, conn=None):
        status, _, data = self.request(method, path,
                                       None if body is None else json.dumps(body),
                                       conn=conn)
        return status, json.loads(data)

    def stats(self, conn=None):
        status, s = self.control("GET", "/_imsim/stats", conn=conn)
        assert status == 200, status
        return s

    def config(self, **kw):
        status, c = self.control("POST", "/_imsim/config", kw)
        assert status == 200, (status, c)
        return c

    def stop(self, sig=signal.SIGTERM, timeout=5):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            self.kill()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        self.err.close()


def default_query(**over):
    q = {"sdkappid": str(APPID), "identifier": ADMIN,
         "usersig": gen_usersig(), "random": "123456", "contenttype": "json"}
    for k, v in over.items():
        if v is None:
            q.pop(k, None)
        else:
            q[k] = v
    return q


def cleanup():
    for s in SIMS:
        try:
            s.kill()
        except Exception:
            pass
    shutil.rmtree(TMP, ignore_errors=True)


# ---------------------------------------------------------------------------
# expectations
# ---------------------------------------------------------------------------

def even_rule(uid):
    """README's formula, as the SQL tests write it."""
    m = re.search(r"([0-9]{1,18})$", uid, flags=re.ASCII)
    return m is not None and int(m.group(1)) % 2 == 0


def expected_item(uid, imported=None):
    n = len(uid.encode())
    if n == 0 or n > 32:
        return None
    imp = even_rule(uid) if imported is None else uid in imported
    return {"UserID": uid, "ResultCode": 0, "ResultInfo": "",
            "AccountStatus": "Imported" if imp else "NotImported"}


def ordered(data):
    return json.loads(data, object_pairs_hook=lambda pairs: pairs)


def assert_fail(ans, code):
    assert ans.get("ActionStatus") == "FAIL", ans
    assert ans.get("ErrorCode") == code, "ErrorCode %r, want %d (%s)" % (
        ans.get("ErrorCode"), code, ans.get("ErrorInfo"))
    assert sorted(ans) == ["ActionStatus", "ErrorCode", "ErrorInfo"], sorted(ans)
    assert isinstance(ans["ErrorInfo"], str) and ans["ErrorInfo"], ans


def assert_ok(ans, ids, imported=None):
    assert ans.get("ActionStatus") == "OK", ans
    assert ans["ErrorCode"] == 0 and ans["ErrorInfo"] == "", ans
    items = ans["ResultItem"]
    assert len(items) == len(ids), (len(items), len(ids))
    for uid, it in zip(ids, items):
        exp = expected_item(uid, imported)
        if exp is None:
            assert it["UserID"] == uid, (it, uid)
            assert it["ResultCode"] == 70402, it
            assert "AccountStatus" not in it, it
            assert isinstance(it["ResultInfo"], str) and it["ResultInfo"], it
        else:
            assert it == exp, (it, exp)


def expect_no_answer(fn):
    """fn must fail to get an HTTP answer (connection reset/closed/timeout)."""
    try:
        res = fn()
    except (ConnectionError, http.client.HTTPException, socket.timeout,
            ssl.SSLError, OSError):
        return
    raise AssertionError("expected no answer, got %r" % (res,))


# ---------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


# shared instances, started lazily
_shared = {}


def shared(name="default"):
    """Instances shared by several tests (rate limit off: tests make many calls)."""
    if name not in _shared:
        _shared[name] = Sim("--rate-limit", "0")
    return _shared[name]


@test
def usersig_python_matches_public_vector():
    got = sig_hmac(PUBLIC_KEY, "0", APPID, 1569910200, 15552000)
    assert got == PUBLIC_SIG, got


@test
def usersig_public_decodes_to_vector_document():
    doc = decode_usersig(PUBLIC_USERSIG)
    assert doc["TLS.identifier"] == "0", doc
    assert doc["TLS.sdkappid"] == APPID, doc
    assert doc["TLS.time"] == 1569910200, doc
    assert doc["TLS.expire"] == 15552000, doc
    assert doc["TLS.sig"] == PUBLIC_SIG, doc
    assert doc["TLS.ver"] == "2.0", doc


@test
def usersig_public_is_expired_not_wrong():
    s = Sim("--identifier", "0", "--secret-key", PUBLIC_KEY, "--sdkappid", str(APPID))
    try:
        ans = s.call(["u1"], query=default_query(identifier="0", usersig=PUBLIC_USERSIG))
        assert_fail(ans, 70001)
        # the same document, still valid: accepted (so the key is right)
        ok = s.call(["u1"], query=default_query(
            identifier="0", usersig=gen_usersig(identifier="0")))
        assert_ok(ok, ["u1"])
    finally:
        s.stop()


@test
def usersig_from_python_accepted_by_c():
    s = shared()
    for t_off, expire in ((0, 86400), (-100, 200), (-86000, 86400)):
        sig = gen_usersig(t=int(time.time()) + t_off, expire=expire)
        assert_ok(s.call(["u2"], query=default_query(usersig=sig)), ["u2"])


@test
def usersig_from_c_checked_by_python():
    out = subprocess.run([BIN, "--print-usersig", "--identifier", "bob",
                          "--sdkappid", "1400000123", "--secret-key", "k3y",
                          "--usersig-expire", "600"],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    doc = decode_usersig(out.stdout.strip())
    assert doc["TLS.identifier"] == "bob" and doc["TLS.sdkappid"] == 1400000123, doc
    assert doc["TLS.expire"] == 600 and abs(doc["TLS.time"] - time.time()) < 60, doc
    assert doc["TLS.sig"] == sig_hmac("k3y", "bob", 1400000123, doc["TLS.time"], 600), doc


@test
def query_sdkappid_errors():
    s = shared()
    assert_fail(s.call(["a"], query=default_query(sdkappid=None)), 60012)
    assert_fail(s.call(["a"], query=default_query(sdkappid="")), 60012)
    assert_fail(s.call(["a"], query=default_query(sdkappid="14000x0000")), 70020)
    assert_fail(s.call(["a"], query=default_query(sdkappid="-1400000000")), 70020)
    assert_fail(s.call(["a"], query=default_query(sdkappid="1400000001")), 70020)
    assert_fail(s.call(["a"], query=default_query(sdkappid="99999999999999999999999")), 70020)
    # sdkappid is checked before everything else
    assert_fail(s.call(["a"], query={"random": "x"}), 60012)


@test
def query_identifier_and_usersig_errors():
    s = shared()
    now = int(time.time())
    assert_fail(s.call(["a"], query=default_query(identifier=None)), 60004)
    assert_fail(s.call(["a"], query=default_query(identifier="")), 60004)
    assert_fail(s.call(["a"], query=default_query(usersig=None)), 70002)
    assert_fail(s.call(["a"], query=default_query(usersig="")), 70002)
    # undecodable: not base64, base64 but not zlib, zlib but not JSON, JSON but no fields
    assert_fail(s.call(["a"], query=default_query(usersig="not base64!")), 70003)
    assert_fail(s.call(["a"], query=default_query(
        usersig=urlsafe(base64.b64encode(b"plain bytes").decode()))), 70003)
    assert_fail(s.call(["a"], query=default_query(
        usersig=urlsafe(base64.b64encode(zlib.compress(b"not json")).decode()))), 70003)
    assert_fail(s.call(["a"], query=default_query(
        usersig=urlsafe(base64.b64encode(zlib.compress(b'{"TLS.ver":"2.0"}')).decode()))), 70003)
    # identifier of the UserSig differs from the query's
    assert_fail(s.call(["a"], query=default_query(usersig=gen_usersig(identifier="bob"))), 70013)
    # sdkappid of the UserSig differs from the query's
    assert_fail(s.call(["a"], query=default_query(usersig=gen_usersig(appid=1400000001))), 70014)
    # expired: now > time + expire
    assert_fail(s.call(["a"], query=default_query(usersig=gen_usersig(t=now - 1000, expire=10))), 70001)
    # signed with another key
    assert_fail(s.call(["a"], query=default_query(usersig=gen_usersig(key="other"))), 70009)
    # a forged TLS.sig of the right shape
    assert_fail(s.call(["a"], query=default_query(usersig=gen_usersig(sig=PUBLIC_SIG))), 70009)
    # order: identifier mismatch (70013) before expiry and signature
    assert_fail(s.call(["a"], query=default_query(
        usersig=gen_usersig(identifier="bob", t=now - 1000, expire=10, key="x"))), 70013)
    # order: expiry (70001) before signature (70009)
    assert_fail(s.call(["a"], query=default_query(
        usersig=gen_usersig(t=now - 1000, expire=10, key="x"))), 70001)


@test
def query_random_contenttype_admin_errors():
    s = shared()
    for r in (None, "", "abc", "-1", "1.5", "4294967296", "99999999999999999999999"):
        assert_fail(s.call(["a"], query=default_query(random=r)), 60002)
    for r in ("0", "4294967295", "00042"):
        assert_ok(s.call(["a"], query=default_query(random=r)), ["a"])
    for ct in (None, "", "xml", "JSON", "json "):
        assert_fail(s.call(["a"], query=default_query(contenttype=ct)), 60002)
    # a valid UserSig of an account that is not the App admin
    assert_fail(s.call(["a"], query=default_query(
        identifier="bob", usersig=gen_usersig(identifier="bob"))), 70403)
    # order: the UserSig is checked before random, random before contenttype
    assert_fail(s.call(["a"], query=default_query(usersig="", random="x")), 70002)
    assert_fail(s.call(["a"], query=default_query(random="x", contenttype="xml")), 60002)
    assert_fail(s.call(["a"], query=default_query(
        identifier="bob", usersig=gen_usersig(identifier="bob"), contenttype="xml")), 60002)


@test
def query_errors_come_before_body_errors():
    s = shared()
    assert_fail(s.call(body="garbage", query=default_query(usersig="")), 70002)
    assert_fail(s.call(body="garbage", query=default_query(
        identifier="bob", usersig=gen_usersig(identifier="bob"))), 70403)


@test
def method_and_path():
    s = shared()
    status, r, data = s.call(body="", method="GET", raw=True)
    assert status == 200, status
    assert_fail(json.loads(data), 60002)
    status, r, data = s.call(["a"], method="PUT", raw=True)
    assert status == 200 and json.loads(data)["ErrorCode"] == 60002, data
    status, r, data = s.call(["a"], path="/v4/im_open_login_svc/nope", raw=True)
    assert status == 404, status
    status, _, _ = s.request("GET", "/")
    assert status == 404, status


@test
def body_errors():
    s = shared()
    for body in ("", " ", "{", "hello", "{\"CheckItem\":[{\"UserID\":\"a\"}]} x",
                 "{\"CheckItem\":[{\"UserID\":\"a\"},]}", "{'CheckItem':[]}",
                 "{\"CheckItem\":[{\"UserID\":\"a\nb\"}]}",   # raw control char
                 "{\"CheckItem\":[{\"UserID\":\"\\x41\"}]}",  # bad escape
                 "{\"CheckItem\":[{\"UserID\":\"a\"}]}\x00",
                 "[" * 100 + "]" * 100, "{\"a\":01}", "{\"a\":NaN}"):
        assert_fail(s.call(body=body), 60003)
    checkitem = [
        "{}", "[]", "3", "\"x\"", "{\"checkitem\":[{\"UserID\":\"a\"}]}",
        "{\"CheckItem\":\"a\"}", "{\"CheckItem\":{}}", "{\"CheckItem\":null}",
        "{\"CheckItem\":[]}",
        json.dumps({"CheckItem": [{"UserID": "u%d" % i} for i in range(101)]}),
        "{\"CheckItem\":[1]}", "{\"CheckItem\":[[]]}", "{\"CheckItem\":[{}]}",
        "{\"CheckItem\":[{\"UserId\":\"a\"}]}", "{\"CheckItem\":[{\"UserID\":1}]}",
        "{\"CheckItem\":[{\"UserID\":null}]}", "{\"CheckItem\":[{\"UserID\":[\"a\"]}]}",
        "{\"CheckItem\":[{\"UserID\":\"a\"},{\"UserID\":\"b\"},\"c\"]}",
    ]
    for body in checkitem:
        assert_fail(s.call(body=body), 70402)
    # exactly 100 is fine; so are other members and whitespace
    ids = ["u%d" % i for i in range(100)]
    assert_ok(s.call(ids), ids)
    body = ' \n{ "Other" : [1, {"x": null}], "CheckItem" :\t[ { "Extra": true, "UserID" : "a2" } ] }\r\n'
    assert_ok(s.call(body=body), ["a2"])
    # escaped member names, repeated members: the last one wins
    assert_ok(s.call(body='{"Check\\u0049tem":[{"\\u0055serID":"x4"}]}'), ["x4"])
    assert_ok(s.call(body='{"CheckItem":[{"UserID":"a1","UserID":"b2"}]}'), ["b2"])
    assert_ok(s.call(body='{"CheckItem":[],"CheckItem":[{"UserID":"c3"}]}'), ["c3"])


def python_expectation(text):
    """(code, ids) that the README's body rules give, decided by Python's json."""
    def reject(c):
        raise ValueError(c)
    try:
        doc = json.loads(text, parse_constant=reject)
    except (ValueError, RecursionError):
        return 60003, None
    if not isinstance(doc, dict) or "CheckItem" not in doc:
        return 70402, None
    ci = doc["CheckItem"]
    if not isinstance(ci, list) or not 1 <= len(ci) <= 100:
        return 70402, None
    for it in ci:
        if not isinstance(it, dict) or not isinstance(it.get("UserID"), str):
            return 70402, None
    return 0, [it["UserID"] for it in ci]


@test
def body_parser_differential():
    """Random mutations of request bodies: imsim agrees with Python's json."""
    import random
    rnd = random.Random(20240601)
    s = shared()
    c = s.connect()
    q = default_query()
    seeds = ['{"CheckItem":[{"UserID":"a1"},{"UserID":"b\\"2","x":[1,2.5e3,-0.1]}]}',
             '{"CheckItem":[{"UserID":"\\u00e9\\n"}],"Other":{"k":[true,false,null]}}',
             '[{"UserID":"a"}]', '{"CheckItem":[]}', '{"CheckItem":[{"UserID":"x","UserID":7}]}',
             '{"CheckItem":[{"UserID":"\\ud83d\\ude00"},{"UserID":"é中"}]}']
    alphabet = '{}[]":,\\ \t\n0123456789-+.eEtrufalsnUIDxé/'
    checked = 0
    for i in range(400):
        text = rnd.choice(seeds)
        for _ in range(rnd.randint(1, 3)):
            op = rnd.random()
            pos = rnd.randint(0, len(text))
            if op < 0.4:
                text = text[:pos] + rnd.choice(alphabet) + text[pos:]
            elif op < 0.8:
                text = text[:pos] + text[pos + 1:]
            else:
                text = text[:pos] + rnd.choice(alphabet) + text[pos + 1:]
        want, ids = python_expectation(text)
        ans = s.call(body=text, query=q, conn=c)
        assert ans["ErrorCode"] == want, (text, ans, want)
        if want == 0:
            got = [it["UserID"] for it in ans["ResultItem"]]
            if not any(0xD800 <= ord(ch) <= 0xDFFF for uid in ids for ch in uid):
                assert got == ids, (text, got, ids)
            checked += 1
    c.close()
    assert checked > 20, checked


@test
def body_larger_than_max_body():
    s = Sim("--max-body", "2000")
    try:
        ids = ["user-%04d" % i for i in range(100)]          # about 2.6 kB
        assert_fail(s.call(ids), 60003)
        ids = ids[:50]                                       # about 1.3 kB
        assert_ok(s.call(ids), ids)
        # chunked (no Content-Length): read to the end, then rejected
        c = s.connect()
        body = json.dumps({"CheckItem": [{"UserID": "user-%04d" % i} for i in range(100)]})
        c.putrequest("POST", API + "?" + urllib.parse.urlencode(default_query()))
        c.putheader("Transfer-Encoding", "chunked")
        c.endheaders()
        for i in range(0, len(body), 500):
            chunk = body[i:i + 500].encode()
            c.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        c.send(b"0\r\n\r\n")
        r = c.getresponse()
        assert r.status == 200
        assert_fail(json.loads(r.read()), 60003)
        # the connection is still usable afterwards
        c.request("POST", API + "?" + urllib.parse.urlencode(default_query()),
                  body=json.dumps({"CheckItem": [{"UserID": "k"}]}))
        assert_ok(json.loads(c.getresponse().read()), ["k"])
        c.close()
    finally:
        s.stop()


@test
def success_shape_exact():
    s = shared()
    status, r, data = s.call(["a2", "b3"], raw=True)
    assert status == 200
    assert r.getheader("Content-Type") == "application/json", r.getheader("Content-Type")
    doc = ordered(data)
    assert [k for k, _ in doc] == ["ActionStatus", "ErrorCode", "ErrorInfo", "ResultItem"], doc
    assert doc[0][1] == "OK" and doc[1][1] == 0 and doc[2][1] == "", doc
    items = doc[3][1]
    assert items == [
        [("UserID", "a2"), ("ResultCode", 0), ("ResultInfo", ""), ("AccountStatus", "Imported")],
        [("UserID", "b3"), ("ResultCode", 0), ("ResultInfo", ""), ("AccountStatus", "NotImported")],
    ], items


@test
def order_and_duplicates():
    s = shared()
    ids = ["z9", "a2", "z9", "m", "a2", "z9"]
    assert_ok(s.call(ids), ids)
    ids = ["id%03d" % i for i in range(99, -1, -1)]
    ans = s.call(ids)
    assert [it["UserID"] for it in ans["ResultItem"]] == ids
    assert_ok(ans, ids)


@test
def per_item_errors_empty_and_long():
    s = shared()
    ids = ["", "x" * 33, "y" * 32, "ok2", "é" * 16, "é" * 16 + "z", "中" * 11, "中" * 10 + "12"]
    ans = s.call(ids)
    assert_ok(ans, ids)
    codes = [it["ResultCode"] for it in ans["ResultItem"]]
    assert codes == [70402, 70402, 0, 0, 0, 70402, 70402, 0], codes
    # the documented key order of a failed item, and no AccountStatus
    doc = ordered(s.call([""], raw=True)[2])
    assert [k for k, _ in doc[3][1][0]] == ["UserID", "ResultCode", "ResultInfo"], doc


@test
def special_characters_round_trip():
    s = shared()
    ids = ['quote"d', "back\\slash", "new\nline", "tab\t", "ctl\x01\x1f\x7f",
           "nul\x00mid", "\x00", "é", "中文2", "😀", "a/b", "</script>",
           "\u2028\u2029", "  spaces  ", "\ufffd"]
    for ensure_ascii in (True, False):
        body = json.dumps({"CheckItem": [{"UserID": i} for i in ids]},
                          ensure_ascii=ensure_ascii)
        ans = s.call(body=body)
        assert [it["UserID"] for it in ans["ResultItem"]] == ids, ans
        assert_ok(ans, ids)
    # lone surrogate escapes become U+FFFD
    ans = s.call(body='{"CheckItem":[{"UserID":"a\\ud800b"},{"UserID":"\\udc00"}]}')
    assert [it["UserID"] for it in ans["ResultItem"]] == ["a\ufffdb", "\ufffd"], ans


@test
def even_rule_matches_formula():
    s = shared()
    ids = ["abc", "a1", "a2", "a0", "0", "7", "x10", "x-2", "2a", "١٢",
           "1" * 17 + "2", "9" * 25 + "4", "9" * 25 + "3", "12345678901234567890",
           "user_000100", "user_000101", "9223372036854775807", "99999999999999999998"]
    assert_ok(s.call(ids), ids)
    ans = s.call(["a2", "a3", "١٢"])
    assert [it["AccountStatus"] for it in ans["ResultItem"]] == ["Imported", "NotImported", "NotImported"]


@test
def imported_file():
    path = os.path.join(TMP, "imported.txt")
    with open(path, "wb") as f:
        f.write("alice\nbob\r\n\ncarol 1\nünï\n  pad  \n".encode())
    imported = {"alice", "bob", "carol 1", "ünï", "  pad  "}
    ids = ["alice", "bob", "carol 1", "carol", "ünï", "  pad  ", "pad", "a2", "bob\r", ""]
    s = Sim("--imported-file", path)
    try:
        assert_ok(s.call(ids), ids, imported=imported)
        ans = s.call(["a2"])
        assert ans["ResultItem"][0]["AccountStatus"] == "NotImported"
        status, cfg = s.control("GET", "/_imsim/config")
        assert cfg["rule"] == "none" and cfg["imported"] == 5, cfg
    finally:
        s.stop()
    s = Sim("--imported-file", path, "--rule", "even")
    try:
        ans = s.call(["alice", "a2", "a3"])
        assert [it["AccountStatus"] for it in ans["ResultItem"]] == \
            ["Imported", "Imported", "NotImported"], ans
    finally:
        s.stop()


@test
def fault_http502():
    s = Sim("--fault", "http502=1", "--fault-budget", "1")
    try:
        status, r, data = s.call(["a"], raw=True)
        assert status == 502, status
        assert len(data) < 1000
        st = s.stats()
        assert st["calls_by_code"] == {"http502": 1} and st["faults"] == {"http502": 1}, st
        assert_ok(s.call(["a"]), ["a"])      # the budget of 1 is spent
    finally:
        s.stop()


@test
def fault_codes():
    s = shared("faults")
    for code in (70169, 70202, 70500, 70403, 60007, 12345):
        s.config(faults={"code%d" % code: 1})
        assert_fail(s.call(["a"]), code)
    s.config(faults={})
    assert_ok(s.call(["a"]), ["a"])


@test
def fault_reset():
    s = shared("faults")
    s.config(faults={"reset": 1})
    expect_no_answer(lambda: s.call(["a"], timeout=5))
    s.config(faults={})
    assert_ok(s.call(["a"]), ["a"])


@test
def fault_stall():
    s = shared("faults")
    s.config(faults={"stall": 1}, stall_ms=1500)
    t0 = time.time()
    expect_no_answer(lambda: s.call(["a"], timeout=0.5))
    assert time.time() - t0 < 1.5
    # after the stall the connection is closed with no answer
    t0 = time.time()
    expect_no_answer(lambda: s.call(["a"], timeout=5))
    el = time.time() - t0
    assert 1.3 <= el < 4, el
    s.config(faults={}, stall_ms=60000)
    assert_ok(s.call(["a"]), ["a"])


@test
def fault_malformed_truncated():
    s = shared("faults")
    ids = ["a%d" % i for i in range(20)]
    s.config(faults={})
    _, _, good = s.call(ids, raw=True)
    s.config(faults={"malformed": 1})
    status, r, data = s.call(ids, raw=True)
    assert status == 200 and r.getheader("Content-Type") == "application/json"
    try:
        json.loads(data)
        raise AssertionError("malformed answer parsed: %r" % data[:100])
    except ValueError:
        pass
    s.config(faults={"truncated": 1})
    lengths = set()
    for _ in range(5):
        status, r, data = s.call(ids, raw=True)
        assert status == 200 and int(r.getheader("Content-Length")) == len(data)
        assert 0 < len(data) < len(good) and good.startswith(data), (data, good)
        lengths.add(len(data))
        try:
            json.loads(data)
            raise AssertionError("truncated answer parsed")
        except ValueError:
            pass
    assert len(lengths) > 1, lengths   # a random cut
    s.config(faults={})


@test
def fault_missing_and_extra_item():
    s = shared("faults")
    ids = ["m%d" % i for i in range(10)]
    s.config(faults={"missing_item": 1})
    ans = s.call(ids)
    got = [it["UserID"] for it in ans["ResultItem"]]
    assert ans["ActionStatus"] == "OK" and len(got) == 9, ans
    assert all(g in ids for g in got) and len(set(got)) == 9
    ans = s.call(["only0"])
    assert ans["ActionStatus"] == "OK" and ans["ResultItem"] == [], ans
    s.config(faults={"extra_item": 1})
    ans = s.call(ids)
    got = [it["UserID"] for it in ans["ResultItem"]]
    assert got[:10] == ids and len(got) == 11 and got[10].startswith("imsim-extra-"), got
    assert ans["ResultItem"][10]["ResultCode"] == 0
    s.config(faults={})


@test
def fault_stats_and_mixture():
    s = Sim("--fault", "code70500=0.25", "--fault", "http502=0.25", "--seed", "3")
    try:
        n = 200
        seen = {}
        for _ in range(n):
            status, r, data = s.call(["a"], raw=True)
            k = "http502" if status == 502 else str(json.loads(data)["ErrorCode"])
            seen[k] = seen.get(k, 0) + 1
        st = s.stats()
        assert st["calls_by_code"] == seen, (st, seen)
        assert st["faults"] == {k: v for k, v in (("code70500", seen.get("70500", 0)),
                                                  ("http502", seen.get("http502", 0)))}, st
        for k in ("0", "70500", "http502"):
            assert 20 <= seen.get(k, 0) <= 140, seen   # each about 50
    finally:
        s.stop()


@test
def fault_seed_reproducible():
    s = shared("faults")

    def run(seed):
        s.config(faults={"code70500": 0.5}, seed=seed)
        return [s.call(["a"])["ErrorCode"] for _ in range(40)]
    a, b, c = run(7), run(7), run(8)
    s.config(faults={})
    assert a == b, (a, b)
    assert a != c, (a, c)
    assert 0 in a and 70500 in a


@test
def fault_budget():
    s = shared("faults")
    cfg = s.config(faults={"code70500": 1}, fault_budget=2)
    assert cfg["fault_budget"] == 2
    codes = [s.call(["a"])["ErrorCode"] for _ in range(5)]
    assert codes == [70500, 70500, 0, 0, 0], codes
    status, cfg = s.control("GET", "/_imsim/config")
    assert cfg["fault_budget"] == 0, cfg
    cfg = s.config(faults={}, fault_budget=-1)
    assert cfg["faults"] == {} and cfg["fault_budget"] == -1


@test
def faults_only_after_auth_and_body():
    s = shared("faults")
    s.config(faults={"http502": 1})
    assert_fail(s.call(["a"], query=default_query(usersig="")), 70002)
    assert_fail(s.call(body="{"), 60003)
    status, _, _ = s.call(["a"], raw=True)
    assert status == 502
    s.config(faults={})


@test
def config_endpoint():
    s = shared("faults")
    status, cfg = s.control("GET", "/_imsim/config")
    assert status == 200
    for k in ("sdkappid", "identifier", "rule", "faults", "fault_budget", "rate_limit",
              "latency_ms", "jitter_ms", "seed", "stall_ms", "max_body"):
        assert k in cfg, (k, cfg)
    assert cfg["sdkappid"] == APPID and cfg["identifier"] == ADMIN and cfg["rule"] == "even"
    for bad in ({"faults": {"bogus": 1}}, {"faults": {"code": 1}}, {"faults": {"reset": 2}},
                {"rate_limit": -1}, {"latency_ms": "5"}, {"nope": 1}, {"faults": []},
                {"rate_limit": 5, "faults": {"x": 1}}):
        status, err = s.control("POST", "/_imsim/config", bad)
        assert status == 400 and "error" in err, (bad, status, err)
    status, after = s.control("GET", "/_imsim/config")
    assert after == cfg, (after, cfg)      # all or nothing
    status, err = s.request("POST", "/_imsim/config", "{not json")[::2]
    assert status == 400, status
    status, _, data = s.request("POST", "/_imsim/config", '{"seed": 1}\n')
    assert status == 200 and json.loads(data)["seed"] == 1, data
    new = s.config(latency_ms=0, jitter_ms=0, rate_limit=100,
                   faults={"code70169": 0.5, "truncated": 0.125})
    assert new["faults"] == {"code70169": 0.5, "truncated": 0.125}, new
    s.config(faults={})


@test
def rate_limit_sliding_second():
    s = Sim("--rate-limit", "100")
    try:
        c = s.connect()
        q = default_query()
        t0 = time.monotonic()
        codes = [s.call(["a"], query=q, conn=c)["ErrorCode"]]
        t1 = time.monotonic()         # the first call arrived before t1
        codes += [s.call(["a"], query=q, conn=c)["ErrorCode"] for _ in range(99)]
        assert codes == [0] * 100, codes
        rejected = [s.call(["a"], query=q, conn=c)["ErrorCode"] for _ in range(5)]
        elapsed = time.monotonic() - t0
        assert elapsed < 0.9, "too slow to test the window: %.2fs" % elapsed
        assert rejected == [60007] * 5, rejected
        # once the first call has left the window, calls are accepted again
        time.sleep(max(0, 1.02 - (time.monotonic() - t1)))
        code = s.call(["a"], query=q, conn=c)["ErrorCode"]
        assert code == 0, "not accepted after the first call left the window: %d" % code
        st = s.stats(conn=c)
        assert st["max_calls_per_second"] == 100, st
        assert st["calls_by_code"] == {"0": 101, "60007": 5}, st
        # auth failures do not count towards the window
        s.config(rate_limit=3)
        time.sleep(1.05)
        for _ in range(5):
            assert_fail(s.call(["a"], query=default_query(usersig=""), conn=c), 70002)
        codes = [s.call(["a"], query=q, conn=c)["ErrorCode"] for _ in range(4)]
        assert codes == [0, 0, 0, 60007], codes
        s.config(rate_limit=0)
        codes = {s.call(["a"], query=q, conn=c)["ErrorCode"] for _ in range(150)}
        assert codes == {0}, codes
        c.close()
    finally:
        s.stop()


@test
def latency_and_jitter():
    s = Sim("--latency-ms", "300")
    try:
        t0 = time.monotonic()
        assert_ok(s.call(["a"]), ["a"])
        el = time.monotonic() - t0
        assert 0.29 <= el < 2.0, el
        # errors are delayed as well
        t0 = time.monotonic()
        assert_fail(s.call(["a"], query=default_query(usersig="")), 70002)
        assert time.monotonic() - t0 >= 0.29
        s.config(latency_ms=200, jitter_ms=100)
        times = []
        for _ in range(8):
            t0 = time.monotonic()
            s.call(["a"])
            times.append(time.monotonic() - t0)
        assert min(times) >= 0.099 and max(times) < 1.0, times
        assert max(times) - min(times) > 0.02, times     # jitter varies
        s.config(latency_ms=0, jitter_ms=0)
        t0 = time.monotonic()
        s.call(["a"])
        assert time.monotonic() - t0 < 0.2
    finally:
        s.stop()


@test
def keep_alive_one_connection():
    s = Sim()
    try:
        c = s.connect()
        for i in range(5):
            assert_ok(s.call(["k%d" % i], conn=c), ["k%d" % i])
        st = s.stats(conn=c)
        assert st["connections"] == 1 and st["calls"] == 5, st
        assert st["connections_open"] == 1, st
        c.close()
    finally:
        s.stop()


@test
def concurrency_with_latency():
    s = Sim("--latency-ms", "300", "--rate-limit", "0")
    try:
        n = 64
        results = [None] * n

        def worker(i):
            try:
                results[i] = s.call(["c%d" % i])
            except Exception as e:      # reported below
                results[i] = e
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        el = time.monotonic() - t0
        for i, r in enumerate(results):
            assert isinstance(r, dict), r
            assert_ok(r, ["c%d" % i])
        st = s.stats()
        assert st["max_in_flight"] >= 32, st
        assert st["in_flight"] == 0 and st["calls"] == n, st
        assert el < n * 0.3 / 4, el
    finally:
        s.stop()


@test
def many_connections():
    s = shared()
    socks = []
    try:
        for _ in range(300):
            socks.append(socket.create_connection(("127.0.0.1", s.port), timeout=5))
        time.sleep(0.2)
        st = s.stats()
        assert st["connections_open"] >= 301, st
        # all of them can be served
        q = urllib.parse.urlencode(default_query())
        body = b'{"CheckItem":[{"UserID":"w2"}]}'
        req = (b"POST " + API.encode() + b"?" + q.encode() + b" HTTP/1.1\r\nHost: x\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body)) + body
        for so in socks:
            so.sendall(req)
        for so in socks:
            data = b""
            while b"Imported" not in data:
                chunk = so.recv(65536)
                assert chunk, "closed"
                data += chunk
            assert data.startswith(b"HTTP/1.1 200"), data[:50]
    finally:
        for so in socks:
            so.close()


@test
def https_and_plain_http_to_https_port():
    cert = os.path.join(TMP, "cert.pem")
    key = os.path.join(TMP, "key.pem")
    out = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                          "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                          "-addext", "subjectAltName=IP:127.0.0.1"],
                         capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    s = Sim("--tls-cert", cert, "--tls-key", key, ca=cert)
    try:
        assert s.scheme == "https"
        c = s.connect()
        assert_ok(s.call(["t2"], conn=c), ["t2"])
        assert_ok(s.call(["t3"], conn=c), ["t3"])       # keep-alive over TLS
        assert s.stats(conn=c)["connections"] == 1
        c.close()
        # plain HTTP to the HTTPS port gets no HTTP answer
        def plain():
            c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=5)
            try:
                c.request("POST", API + "?" + urllib.parse.urlencode(default_query()),
                          body=b'{"CheckItem":[{"UserID":"a"}]}')
                r = c.getresponse()
                return r.status, r.read()
            finally:
                c.close()
        expect_no_answer(plain)
        # an unverified client (wrong CA) fails the handshake
        def wrong_ca():
            ctx = ssl.create_default_context()
            c = http.client.HTTPSConnection("127.0.0.1", s.port, timeout=5, context=ctx)
            try:
                c.request("GET", "/_imsim/stats")
                return c.getresponse().status
            finally:
                c.close()
        expect_no_answer(wrong_ca)
        assert_ok(s.call(["t4"]), ["t4"])
    finally:
        s.stop()


@test
def stats_fields_and_reset():
    s = Sim("--rate-limit", "0")
    try:
        c = s.connect()
        s.call(["a", "b", "a"], conn=c)            # a twice in one call: once for repeats
        s.call(["b", "c"], conn=c)
        s.call(["d"], query=default_query(usersig=""), conn=c)   # not successful
        s.call(body="{", conn=c)
        st = s.stats(conn=c)
        want = {"calls": 4, "calls_by_code": {"0": 2, "70002": 1, "60003": 1},
                "faults": {}, "items": 5, "distinct_ids": 3, "repeated_ids": 1,
                "max_calls_per_second": 2, "in_flight": 0, "connections": 1,
                "connections_open": 1}
        for k, v in want.items():
            assert st[k] == v, (k, st[k], v)
        assert st["max_in_flight"] == 1, st
        status, st = s.control("POST", "/_imsim/stats/reset", conn=c)
        assert status == 200
        assert st["calls"] == 0 and st["calls_by_code"] == {} and st["items"] == 0, st
        assert st["distinct_ids"] == 0 and st["repeated_ids"] == 0, st
        assert st["max_calls_per_second"] == 0 and st["connections"] == 0, st
        assert st["connections_open"] == 1, st
        s.call(["a"], conn=c)
        st = s.stats(conn=c)
        assert st["distinct_ids"] == 1 and st["repeated_ids"] == 0 and st["calls"] == 1, st
        assert st["max_calls_per_second"] == 1, st
        assert s.control("GET", "/_imsim/stats/reset", conn=c)[0] == 405
        c.close()
    finally:
        s.stop()


@test
def no_id_stats_keeps_counting_without_the_id_set():
    s = Sim("--rate-limit", "0", "--no-id-stats")
    try:
        assert_ok(s.call(["a", "b"]), ["a", "b"])
        assert_ok(s.call(["b", "c"]), ["b", "c"])
        st = s.stats()
        assert st["calls"] == 2 and st["items"] == 4, st
        assert st["distinct_ids"] is None and st["repeated_ids"] is None, st
    finally:
        s.stop()


def raw_exchange(port, data, timeout=5):
    so = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        so.sendall(data)
        out = b""
        while True:
            try:
                chunk = so.recv(65536)
            except (socket.timeout, ConnectionError):
                break
            if not chunk:
                break
            out += chunk
        return out
    finally:
        so.close()


@test
def robustness_garbage_and_huge_bodies():
    s = Sim()
    try:
        out = raw_exchange(s.port, os.urandom(4096) + b"\r\n\r\n")
        assert not out.startswith(b"HTTP/1.1 200"), out[:60]
        out = raw_exchange(s.port, b"GARBAGE / HTTP/9.9\r\n\r\n")
        assert_ok(s.call(["g2"]), ["g2"])
        # 10 MB body with a Content-Length: answered at once, connection closed
        big = b"x" * (10 * 1024 * 1024)
        so = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        q = urllib.parse.urlencode(default_query())
        so.sendall(b"POST " + API.encode() + b"?" + q.encode() +
                   b" HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(big))
        got = b""
        try:
            so.sendall(big)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            while True:
                chunk = so.recv(65536)
                if not chunk:
                    break
                got += chunk
        except (ConnectionError, socket.timeout):
            pass
        so.close()
        if got:     # the client may see the reset before reading the answer
            assert got.startswith(b"HTTP/1.1 200"), got[:80]
            assert b'"ErrorCode":60003' in got, got[-200:]
        assert s.stats()["calls_by_code"].get("60003") == 1, s.stats()
        # 10 MB body chunked: streamed to the end without being kept, then 60003
        c = s.connect(timeout=30)
        c.putrequest("POST", API + "?" + q)
        c.putheader("Transfer-Encoding", "chunked")
        c.endheaders()
        piece = b"y" * 65536
        for _ in range(160):
            c.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        c.send(b"0\r\n\r\n")
        r = c.getresponse()
        assert r.status == 200
        assert_fail(json.loads(r.read()), 60003)
        c.close()
        # 10 MB of garbage headers
        try:
            raw_exchange(s.port, b"GET /" + b"a" * (10 * 1024 * 1024) + b" HTTP/1.1\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert_ok(s.call(["g4"]), ["g4"])
        assert s.proc.poll() is None
    finally:
        s.stop()


@test
def robustness_slow_and_half_open_clients():
    s = Sim("--conn-timeout", "3")
    try:
        q = urllib.parse.urlencode(default_query())
        body = b'{"CheckItem":[{"UserID":"s2"}]}'
        req = (b"POST " + API.encode() + b"?" + q.encode() + b" HTTP/1.1\r\nHost: x\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body)) + body
        # half-open: connected, part of a request, then silence
        half = []
        for i in range(20):
            so = socket.create_connection(("127.0.0.1", s.port), timeout=5)
            so.sendall(req[:10 + i])
            half.append(so)
        # a slow client: one byte every 0.25 s (its request takes far longer)
        slow = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        stop = threading.Event()

        def dribble():
            for i in range(len(req)):
                if stop.is_set():
                    return
                try:
                    slow.send(req[i:i + 1])
                except OSError:
                    return
                time.sleep(0.25)
        th = threading.Thread(target=dribble)
        th.start()
        try:
            # others are served meanwhile, promptly
            for i in range(10):
                t0 = time.monotonic()
                assert_ok(s.call(["p%d" % i]), ["p%d" % i])
                assert time.monotonic() - t0 < 1.0
                time.sleep(0.1)
            st = s.stats()
            assert st["connections_open"] >= 22, st
            # idle (half-open) connections are closed by the connection timeout
            time.sleep(3.5)
            closed = 0
            for so in half:
                so.settimeout(2)
                try:
                    if so.recv(100) in (b"",):
                        closed += 1
                except ConnectionError:
                    closed += 1
                except socket.timeout:
                    pass
            assert closed == len(half), closed
        finally:
            stop.set()
            th.join()
            slow.close()
            for so in half:
                so.close()
        assert_ok(s.call(["after"]), ["after"])
    finally:
        s.stop()


@test
def sigterm_during_stall_exits_promptly():
    s = Sim("--fault", "stall=1", "--stall-ms", "60000")
    box = {}

    def hang():
        try:
            box["r"] = s.call(["a"], timeout=30)
        except Exception as e:
            box["e"] = e
    th = threading.Thread(target=hang)
    th.start()
    try:
        for _ in range(100):
            if s.stats()["in_flight"] == 1:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the call never arrived")
        t0 = time.monotonic()
        rc = s.stop(signal.SIGTERM, timeout=5)
        el = time.monotonic() - t0
        assert rc == 0, rc
        assert el < 2.0, el
        th.join(5)
        assert "r" not in box, box          # the stalled call got no answer
    finally:
        s.kill()


@test
def sigint_while_sleeping_and_idle_exit_zero():
    s = Sim("--latency-ms", "30000")
    threads = [threading.Thread(target=lambda: expect_no_answer(lambda: s.call(["a"], timeout=30)))
               for _ in range(10)]
    for t in threads:
        t.start()
    try:
        for _ in range(100):
            if s.stats()["in_flight"] == 10:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("calls never arrived")
        t0 = time.monotonic()
        assert s.stop(signal.SIGINT) == 0
        assert time.monotonic() - t0 < 2.0
        for t in threads:
            t.join(5)
    finally:
        s.kill()
    s = Sim()
    assert s.stop(signal.SIGTERM) == 0


@test
def command_line():
    out = subprocess.run([BIN, "--help"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0 and "--rate-limit" in out.stdout and "--fault" in out.stdout
    for bad in (["--nope"], ["--port", "x"], ["--fault", "bogus=1"], ["--fault", "reset=2"],
                ["--rule", "odd"], ["--tls-cert", "/nonexistent"], ["extra"],
                ["--imported-file", "/nonexistent"]):
        out = subprocess.run([BIN] + bad, capture_output=True, text=True, timeout=10)
        assert out.returncode == 2, (bad, out.returncode)
        assert out.stderr, bad


# ---------------------------------------------------------------------------
# multiaccount_import and query_online_status
# ---------------------------------------------------------------------------

IMPORT = "/v4/im_open_login_svc/multiaccount_import"
ONLINE = "/v4/openim/query_online_status"
OK_HEAD = {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""}
ONLINE_DETAIL = {"Online": [{"Platform": "iPhone", "Status": "Online"}],
                 "PushOnline": [{"Platform": "Android", "Status": "PushOnline"}],
                 "Offline": []}


def shared_apis(name="apis"):
    """An instance shared by the tests below, every API's rate limit off."""
    if name not in _shared:
        _shared[name] = Sim("--rate-limit", "0", "--import-rate-limit", "0",
                            "--online-rate-limit", "0")
    return _shared[name]


def import_body(ids, form="AccountList", **extra):
    if form == "Accounts":
        return json.dumps({"Accounts": list(ids)})
    return json.dumps({"AccountList": [dict({"UserID": i}, **extra) for i in ids]})


def online_body(ids, detail=None):
    doc = {"To_Account": list(ids)}
    if detail is not None:
        doc["IsNeedDetail"] = detail
    return json.dumps(doc)


def import_call(s, ids, form="AccountList", **kw):
    return s.call(body=import_body(ids, form), path=IMPORT, **kw)


def online_call(s, ids, detail=None, **kw):
    return s.call(body=online_body(ids, detail), path=ONLINE, **kw)


def refused(uid):
    """README's fail rule of multiaccount_import."""
    b = uid.encode()
    return len(b) == 0 or len(b) > 32 or b.startswith(b"reject")


def expected_import(ids):
    return dict(OK_HEAD, FailAccounts=[i for i in ids if refused(i)])


def online_status(uid, imported=even_rule):
    """README's online rule: the Status, or None for an ErrorList entry."""
    b = uid.encode()
    if not 0 < len(b) <= 32 or not imported(uid):
        return None
    if b[-1:] in (b"0", b"4", b"8"):
        return "Online"
    if b[-1:] in (b"2", b"6"):
        return "PushOnline"
    return "Offline"


def expected_online(ids, detail=False, imported=even_rule):
    qr, el = [], []
    for uid in ids:
        st = online_status(uid, imported)
        if st is None:
            el.append({"To_Account": uid, "ErrorCode": 70107})
        else:
            e = {"To_Account": uid, "Status": st}
            if detail:
                e["Detail"] = ONLINE_DETAIL[st]
            qr.append(e)
    ans = dict(OK_HEAD, QueryResult=qr)
    if el:
        ans["ErrorList"] = el
    return ans


def pairs(v):
    """v with every object as a list of (key, value): compares key order too."""
    if isinstance(v, dict):
        return [(k, pairs(x)) for k, x in v.items()]
    if isinstance(v, list):
        return [pairs(x) for x in v]
    return v


def assert_exact(data, want):
    got = ordered(data)
    assert got == pairs(want), (data[:600], want)


def imported_by_api(s):
    return s.control("GET", "/_imsim/config")[1]["imported_by_api"]


def accounts_reset(s):
    status, ans = s.control("POST", "/_imsim/accounts/reset")
    assert status == 200 and ans == {"imported_by_api": 0}, (status, ans)


def check_status(s, ids):
    return [it.get("AccountStatus") for it in s.call(ids)["ResultItem"]]


def query_failures():
    now = int(time.time())
    return [({"sdkappid": None}, 60012), ({"sdkappid": "1400000001"}, 70020),
            ({"identifier": None}, 60004), ({"usersig": ""}, 70002),
            ({"usersig": "not base64!"}, 70003),
            ({"usersig": gen_usersig(identifier="bob")}, 70013),
            ({"usersig": gen_usersig(appid=1400000001)}, 70014),
            ({"usersig": gen_usersig(t=now - 1000, expire=10)}, 70001),
            ({"usersig": gen_usersig(key="other")}, 70009),
            ({"random": "4294967296"}, 60002), ({"random": None}, 60002),
            ({"contenttype": "xml"}, 60002),
            ({"identifier": "bob", "usersig": gen_usersig(identifier="bob")}, 70403),
            # order: the UserSig before random, random before contenttype
            ({"usersig": "", "random": "x"}, 70002),
            ({"identifier": "bob", "usersig": gen_usersig(identifier="bob"),
              "contenttype": "xml"}, 60002)]


@test
def apis_query_checks():
    s = shared_apis()
    for path, body in ((IMPORT, import_body(["qa"])), (ONLINE, online_body(["qa"]))):
        for over, code in query_failures():
            assert_fail(s.call(body=body, path=path, query=default_query(**over)), code)
            # query errors come before body errors
            assert_fail(s.call(body="garbage", path=path, query=default_query(**over)), code)
        status, _, data = s.call(body=body, path=path, method="GET", raw=True)
        assert status == 200, status
        assert_fail(json.loads(data), 60002)
        assert s.call(body=body, path=path)["ActionStatus"] == "OK"
    status, _, _ = s.call(body="{}", path="/v4/openim/nope", raw=True)
    assert status == 404, status
    accounts_reset(s)


@test
def apis_body_larger_than_max_body():
    s = Sim("--max-body", "2000")
    try:
        ids = ["user-%04d" % i for i in range(100)]
        assert_fail(import_call(s, ids), 60003)
        assert_fail(online_call(s, ids + ids), 60003)
        assert import_call(s, ids[:10])["ActionStatus"] == "OK"
        assert online_call(s, ids[:10])["ActionStatus"] == "OK"
    finally:
        s.stop()


@test
def import_body_checks():
    s = shared_apis()
    for body in ("", "{", "[", '{"AccountList":[{"UserID":"a"},]}',
                 '{"AccountList":[{"UserID":"a"}]} x', '{"Accounts":["a",]}',
                 '{"Accounts":[\'a\']}', '{"AccountList":[{"UserID":"a","Nick":01}]}'):
        assert_fail(s.call(body=body, path=IMPORT), 60003)
    bad = ["{}", "[]", "3", '"x"', '{"accountlist":[{"UserID":"a"}]}',
           '{"AccountList":"a"}', '{"AccountList":{}}', '{"AccountList":null}',
           '{"AccountList":[]}', import_body(["u%d" % i for i in range(101)]),
           '{"AccountList":[1]}', '{"AccountList":["a"]}', '{"AccountList":[{}]}',
           '{"AccountList":[{"UserId":"a"}]}', '{"AccountList":[{"UserID":1}]}',
           '{"AccountList":[{"UserID":null}]}',
           '{"AccountList":[{"UserID":"a"},{"UserID":"b","Nick":1}]}',
           '{"AccountList":[{"UserID":"a","Nick":null}]}',
           '{"AccountList":[{"UserID":"a","Nick":["n"]}]}',
           '{"AccountList":[{"UserID":"a","FaceUrl":{}}]}',
           '{"AccountList":[{"UserID":"a","FaceUrl":true}]}',
           '{"Accounts":"a"}', '{"Accounts":[]}', '{"Accounts":[1]}',
           '{"Accounts":["a",null]}', '{"Accounts":[{"UserID":"a"}]}',
           import_body(["u%d" % i for i in range(101)], form="Accounts"),
           # AccountList wins, also when it is the bad one
           '{"AccountList":[],"Accounts":["a"]}', '{"Accounts":["a"],"AccountList":5}',
           # the last of repeated members wins
           '{"AccountList":[{"UserID":"a"}],"AccountList":[]}',
           '{"AccountList":[{"UserID":"a","UserID":2}]}',
           '{"AccountList":[{"UserID":"a","Nick":"n","Nick":2}]}']
    for body in bad:
        assert_fail(s.call(body=body, path=IMPORT), 70402)
    good = [(import_body(["u%d" % i for i in range(100)]), ["u%d" % i for i in range(100)]),
            (import_body(["reject%d" % i for i in range(100)], form="Accounts"),
             ["reject%d" % i for i in range(100)]),
            ('{"AccountList":[{"UserID":"a","Nick":"n","FaceUrl":"http://f/1.png","X":[1]}]}', ["a"]),
            ('{"AccountList":[{"UserID":"rejectA","Nick":2,"Nick":"n"}],"Accounts":[1]}', ["rejectA"]),
            ('{"Accounts":[1],"AccountList":[{"UserID":"rejectB"}]}', ["rejectB"]),
            ('{"Accounts":["reject1","b"],"Other":{"AccountList":1}}', ["reject1", "b"]),
            ('{"\\u0041ccountList":[{"\\u0055serID":"reject\\u0043","\\u004eick":"x"}]}', ["rejectC"]),
            ('{"AccountList":[{"UserID":"x","UserID":"rejectD"}]}', ["rejectD"]),
            (' \n{ "AccountList" :\t[ { "UserID" : "c" } ] }\r\n', ["c"])]
    for body, ids in good:
        ans = s.call(body=body, path=IMPORT)
        assert ans == expected_import(ids), (body, ans)
    accounts_reset(s)


@test
def online_body_checks():
    s = shared_apis()
    for body in ("", "{", '{"To_Account":["a",]}', '{"To_Account":["a"],"IsNeedDetail":01}',
                 '{"To_Account":["a"],"IsNeedDetail":NaN}', '{"To_Account":["a"],"IsNeedDetail":}'):
        assert_fail(s.call(body=body, path=ONLINE), 60003)
    bad = ["{}", "[]", "null", '{"to_account":["a"]}', '{"To_Account":"a"}',
           '{"To_Account":{}}', '{"To_Account":[]}', online_body(["u%d" % i for i in range(501)]),
           '{"To_Account":[1]}', '{"To_Account":["a",null]}', '{"To_Account":[["a"]]}',
           '{"To_Account":[{"UserID":"a"}]}', '{"To_Account":["a"],"To_Account":[]}']
    for v in ("2", "-1", "\"1\"", "true", "false", "null", "1.0", "1e0", "0.5", "[1]",
              "99999999999999999999"):
        bad.append('{"To_Account":["a"],"IsNeedDetail":%s}' % v)
    bad.append('{"To_Account":["a"],"IsNeedDetail":1,"IsNeedDetail":2}')
    for body in bad:
        assert_fail(s.call(body=body, path=ONLINE), 70402)
    ids = ["u%d" % i for i in range(500)]
    assert online_call(s, ids) == expected_online(ids)
    for body, ids, detail in (
            ('{"To_Account":["a0"],"IsNeedDetail":0}', ["a0"], False),
            ('{"To_Account":["a0"],"IsNeedDetail":-0}', ["a0"], False),
            ('{"To_Account":["a0"],"IsNeedDetail":2,"IsNeedDetail":1}', ["a0"], True),
            ('{"To_Account":["x"],"To_Account":["a2","b"],"Other":[1]}', ["a2", "b"], False),
            ('{"To_\\u0041ccount":["a4"],"IsNeed\\u0044etail":1}', ["a4"], True),
            (' {"IsNeedDetail" : 1 , "To_Account" : [ "a6" ] }\n', ["a6"], True)):
        ans = s.call(body=body, path=ONLINE)
        assert ans == expected_online(ids, detail), (body, ans)


@test
def import_answer_shape_and_fail_rule():
    s = shared_apis()
    status, r, data = s.call(body=import_body(["f2", "reject", "f3"]), path=IMPORT, raw=True)
    assert status == 200 and r.getheader("Content-Type") == "application/json"
    assert data == b'{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","FailAccounts":["reject"]}', data
    data = s.call(body=import_body(["f4"]), path=IMPORT, raw=True)[2]
    assert data == b'{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","FailAccounts":[]}', data
    ids = ["", "x" * 33, "y" * 32, "reject", "rejected", "Reject1", "xreject", "rejec",
           "rejecx", "rejecT1", "é" * 16, "é" * 16 + "z", "reject", "", "reject\x00", " reject"]
    for form in ("AccountList", "Accounts"):
        ans = s.call(body=import_body(ids, form), path=IMPORT, raw=True)[2]
        assert_exact(ans, expected_import(ids))
    assert expected_import(ids)["FailAccounts"] == [
        "", "x" * 33, "reject", "rejected", "é" * 16 + "z", "reject", "", "reject\x00"]
    # IDs are escaped as account_check escapes them
    ids = ['reject"q', "reject\\", "reject\n\t\x01", "reject\x00", "reject中文", "reject😀"]
    for ensure_ascii in (True, False):
        body = json.dumps({"Accounts": ids}, ensure_ascii=ensure_ascii)
        status, _, data = s.call(body=body, path=IMPORT, raw=True)
        assert json.loads(data)["FailAccounts"] == ids, data
    assert b'"reject\\"q","reject\\\\","reject\\n\\t\\u0001","reject\\u0000"' in data, data
    accounts_reset(s)


@test
def import_then_checked_as_imported():
    path = os.path.join(TMP, "imported-api.txt")
    with open(path, "w") as f:
        f.write("filed\n")
    s = Sim("--imported-file", path, "--rate-limit", "0", "--import-rate-limit", "0")
    try:
        ids = ["alice", "bob", "carol", "rejectdan", "filed"]
        assert check_status(s, ids) == ["NotImported", "NotImported", "NotImported",
                                         "NotImported", "Imported"]
        assert imported_by_api(s) == 0
        assert import_call(s, ["alice", "bob", "rejectdan", "alice", "filed"]) == \
            expected_import(["rejectdan"])
        assert check_status(s, ids) == ["Imported", "Imported", "NotImported",
                                         "NotImported", "Imported"]
        # the file's account was Imported before: not one the API added
        assert imported_by_api(s) == 2
        # the older form, and Nick/FaceUrl of an existing account updated
        assert import_call(s, ["carol"], form="Accounts") == expected_import([])
        body = json.dumps({"AccountList": [{"UserID": "alice", "Nick": "Al", "FaceUrl": "http://x/a"},
                                           {"UserID": "carol", "Nick": "C"}]})
        assert s.call(body=body, path=IMPORT) == expected_import([])
        assert check_status(s, ids)[:3] == ["Imported"] * 3
        assert imported_by_api(s) == 3
        # failed calls import nothing
        assert_fail(s.call(body='{"AccountList":[{"UserID":"erin"},1]}', path=IMPORT), 70402)
        assert_fail(import_call(s, ["erin"], query=default_query(usersig="")), 70002)
        assert check_status(s, ["erin"]) == ["NotImported"]
        # reset forgets the API's accounts; the file stays
        accounts_reset(s)
        assert check_status(s, ids) == ["NotImported"] * 4 + ["Imported"]
        status, cfg = s.control("GET", "/_imsim/config")
        assert cfg["imported"] == 1 and cfg["imported_by_api"] == 0, cfg
        # and they can be imported again
        import_call(s, ["bob"])
        assert check_status(s, ["bob", "alice"]) == ["Imported", "NotImported"]
        assert imported_by_api(s) == 1
    finally:
        s.stop()


@test
def import_account_limit():
    s = Sim("--account-limit", "3", "--import-rate-limit", "0", "--rate-limit", "0")
    try:
        assert import_call(s, ["la", "lb"]) == expected_import([])
        status, _, data = s.call(body=import_body(["lc", "ld"]), path=IMPORT, raw=True)
        ans = json.loads(data)
        assert_fail(ans, 70398)
        assert ans["ErrorInfo"].startswith("The number of accounts exceeds the limit"), ans
        assert check_status(s, ["lc", "ld"]) == ["NotImported"] * 2     # nothing imported
        assert imported_by_api(s) == 2
        # a new account counts once however often it appears; refused ones,
        # accounts already imported and ones Imported by the rule not at all
        assert import_call(s, ["lc", "lc", "la", "rejectX", "x2", "y4"]) == \
            expected_import(["rejectX"])
        assert imported_by_api(s) == 3
        assert import_call(s, ["la", "lb", "lc", "rejectY"]) == expected_import(["rejectY"])
        assert_fail(import_call(s, ["le"]), 70398)
        st = s.stats()
        assert st["apis"]["multiaccount_import"]["calls_by_code"] == {"0": 3, "70398": 2}, st
        # 0 turns the limit off; so does raising it
        cfg = s.config(account_limit=0)
        assert cfg["account_limit"] == 0
        assert import_call(s, ["le", "lf"]) == expected_import([])
        assert imported_by_api(s) == 5
        s.config(account_limit=6)
        assert_fail(import_call(s, ["lg", "lh"]), 70398)
        assert import_call(s, ["lg"]) == expected_import([])
        accounts_reset(s)
        assert import_call(s, ["m1", "m3", "m5", "m7", "m9", "m11"]) == expected_import([])
        assert imported_by_api(s) == 6
    finally:
        s.stop()


@test
def import_concurrent_threads():
    s = Sim("--rule", "none", "--rate-limit", "0", "--import-rate-limit", "0",
            "--threads", "4")
    try:
        errors = []

        def importer(t):
            try:
                c = s.connect()
                for b in range(10):
                    ids = ["t%d_%d_%d" % (t, b, i) for i in range(10)]
                    assert import_call(s, ids, conn=c) == expected_import([])
                    st = check_status(s, ids) if b % 3 == 0 else None
                    assert st is None or st == ["Imported"] * 10, st
                c.close()
            except Exception as e:      # reported below
                errors.append(e)
        threads = [threading.Thread(target=importer, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        assert imported_by_api(s) == 800
        for t in range(8):
            ids = ["t%d_%d_%d" % (t, b, i) for b in range(10) for i in range(10)]
            assert check_status(s, ids) == ["Imported"] * 100
        # the limit holds under concurrency: room for exactly 5 of 10 calls
        s.config(account_limit=850)
        codes = [None] * 10

        def over(k):
            try:
                codes[k] = import_call(s, ["o%d_%d" % (k, i) for i in range(10)])["ErrorCode"]
            except Exception as e:
                codes[k] = e
        threads = [threading.Thread(target=over, args=(k,)) for k in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(codes) == [0] * 5 + [70398] * 5, codes
        assert imported_by_api(s) == 850
    finally:
        s.stop()


@test
def accounts_reset_endpoint():
    s = Sim("--latency-ms", "400")
    try:
        t0 = time.monotonic()
        assert import_call(s, ["ra"]) == expected_import([])
        assert time.monotonic() - t0 >= 0.39          # the API is delayed...
        t0 = time.monotonic()
        status, ans = s.control("POST", "/_imsim/accounts/reset")
        assert time.monotonic() - t0 < 0.3            # ...the control endpoint is not
        assert status == 200 and ans == {"imported_by_api": 0}, ans
        assert s.control("GET", "/_imsim/accounts/reset")[0] == 405
        st = s.stats()
        assert st["calls"] == 1 and st["apis"]["multiaccount_import"]["calls"] == 1, st
        t0 = time.monotonic()
        assert online_call(s, ["a0"]) == expected_online(["a0"])
        assert time.monotonic() - t0 >= 0.39
    finally:
        s.stop()


@test
def online_rule_with_and_without_detail():
    path = os.path.join(TMP, "imported-online.txt")
    with open(path, "w") as f:
        f.write("alice\nbob8\ncarol2\n")
    s = Sim("--imported-file", path, "--rule", "even", "--online-rate-limit", "0")
    try:
        import_call(s, ["dave", "erin6", "frank4"])
        imported = {"alice", "bob8", "carol2", "dave", "erin6", "frank4"}

        def is_imp(uid):
            return uid in imported or even_rule(uid)
        ids = ["a0", "a4", "a8", "a2", "a6", "alice", "bob8", "carol2", "dave", "erin6",
               "frank4", "a1", "a3", "x", "", "x" * 33, "4" * 33, "é", "2a", "1" * 32,
               "a0", "x", "١٢"]
        for detail in (None, 0, 1):
            status, _, data = s.call(body=online_body(ids, detail), path=ONLINE, raw=True)
            assert status == 200
            assert_exact(data, expected_online(ids, detail == 1, imported=is_imp))
        doc = json.loads(data)
        assert [e["Status"] for e in doc["QueryResult"]] == [
            "Online", "Online", "Online", "PushOnline", "PushOnline", "Offline", "Online",
            "PushOnline", "Offline", "PushOnline", "Online", "Online"], doc
        assert [e["To_Account"] for e in doc["ErrorList"]] == [
            "a1", "a3", "x", "", "x" * 33, "4" * 33, "é", "2a", "1" * 32, "x", "١٢"], doc
        # exact bytes of a small answer
        data = s.call(body=online_body(["a4", "b"], 1), path=ONLINE, raw=True)[2]
        assert data == (b'{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","QueryResult":'
                        b'[{"To_Account":"a4","Status":"Online","Detail":[{"Platform":"iPhone",'
                        b'"Status":"Online"}]}],"ErrorList":[{"To_Account":"b","ErrorCode":70107}]}'), data
        # ErrorList only when not empty; QueryResult always
        data = s.call(body=online_body(["a2", "a2"]), path=ONLINE, raw=True)[2]
        assert data == (b'{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","QueryResult":'
                        b'[{"To_Account":"a2","Status":"PushOnline"},'
                        b'{"To_Account":"a2","Status":"PushOnline"}]}'), data
        assert_exact(s.call(body=online_body(["b", "b"]), path=ONLINE, raw=True)[2],
                     dict(OK_HEAD, QueryResult=[], ErrorList=[{"To_Account": "b", "ErrorCode": 70107}] * 2))
        # special characters are escaped as account_check escapes them
        odd = ['q"0', "b\\2", "n\n4", "z\x006", "中文8", 'q"1']
        ans = online_call(s, odd)
        assert [e["To_Account"] for e in ans["QueryResult"]] == odd[:5], ans
        assert ans["ErrorList"] == [{"To_Account": 'q"1', "ErrorCode": 70107}], ans
        # an account imported through the API, then forgotten
        assert online_call(s, ["zed"]) == expected_online(["zed"])
        import_call(s, ["zed"])
        assert online_call(s, ["zed"], 1)["QueryResult"] == \
            [{"To_Account": "zed", "Status": "Offline", "Detail": []}]
        accounts_reset(s)
        assert online_call(s, ["zed", "dave"]) == expected_online(["zed", "dave"], imported=lambda u: False)
    finally:
        s.stop()


@test
def rate_limits_are_independent():
    s = Sim("--rate-limit", "3", "--import-rate-limit", "2", "--online-rate-limit", "4")
    try:
        c = s.connect()
        t0 = time.monotonic()
        codes = {}
        codes["import"] = [import_call(s, ["r1"], conn=c)["ErrorCode"] for _ in range(3)]
        codes["check"] = [s.call(["r1"], conn=c)["ErrorCode"] for _ in range(4)]
        codes["online"] = [online_call(s, ["r1"], conn=c)["ErrorCode"] for _ in range(5)]
        # failed body checks do not count in a window
        for _ in range(3):
            assert_fail(s.call(body="{}", path=ONLINE, conn=c), 70402)
        codes["import2"] = [import_call(s, ["r1"], conn=c)["ErrorCode"]]
        elapsed = time.monotonic() - t0
        assert elapsed < 0.9, "too slow to test the windows: %.2fs" % elapsed
        assert codes == {"import": [0, 0, 60007], "check": [0, 0, 0, 60007],
                         "online": [0, 0, 0, 0, 60007], "import2": [60007]}, codes
        st = s.stats(conn=c)
        apis = st["apis"]
        assert apis["account_check"]["max_calls_per_second"] == 3, apis
        assert apis["multiaccount_import"]["max_calls_per_second"] == 2, apis
        assert apis["query_online_status"]["max_calls_per_second"] == 4, apis
        assert st["max_calls_per_second"] == 4, st
        assert apis["multiaccount_import"]["calls_by_code"] == {"0": 2, "60007": 2}, apis
        assert apis["query_online_status"]["calls_by_code"] == {"0": 4, "60007": 1, "70402": 3}, apis
        assert_fail(import_call(s, ["r1"], conn=c), 60007)
        # changing one limit leaves the others alone
        cfg = s.config(import_rate_limit=0)
        assert cfg["import_rate_limit"] == 0 and cfg["rate_limit"] == 3 and cfg["online_rate_limit"] == 4
        assert [import_call(s, ["r1"], conn=c)["ErrorCode"] for _ in range(5)] == [0] * 5
        time.sleep(1.05)
        s.config(online_rate_limit=1, rate_limit=0)
        assert [online_call(s, ["r1"], conn=c)["ErrorCode"] for _ in range(2)] == [0, 60007]
        assert [s.call(["r1"], conn=c)["ErrorCode"] for _ in range(5)] == [0] * 5
        c.close()
    finally:
        s.stop()


def api_calls(s, ids):
    """Raw answers of one call of each new API (with IsNeedDetail)."""
    return {"import": s.call(body=import_body(ids), path=IMPORT, raw=True),
            "online": s.call(body=online_body(ids, 1), path=ONLINE, raw=True)}


@test
def apis_fault_http502_codes_reset_stall():
    s = shared_apis("apifaults")
    ids = ["fa", "rejectfb", "a0"]
    s.config(faults={"http502": 1})
    for status, r, data in api_calls(s, ids).values():
        assert status == 502 and r.getheader("Content-Type") == "text/html", status
        assert len(data) < 1000
    for code in (70169, 70202, 70398, 70500, 60007, 12345):
        s.config(faults={"code%d" % code: 1})
        for _, _, data in api_calls(s, ids).values():
            ans = json.loads(data)
            assert_fail(ans, code)
            if code in (70169, 70202):
                assert ans["ErrorInfo"] == "Server timeout. Try again later.", ans
            if code == 70398:
                assert ans["ErrorInfo"].startswith("The number of accounts exceeds"), ans
    s.config(faults={"reset": 1})
    expect_no_answer(lambda: import_call(s, ids, timeout=5))
    expect_no_answer(lambda: online_call(s, ids, timeout=5))
    s.config(faults={"stall": 1}, stall_ms=300)
    for fn in (lambda: import_call(s, ids, timeout=5), lambda: online_call(s, ids, timeout=5)):
        t0 = time.monotonic()
        expect_no_answer(fn)
        assert 0.25 <= time.monotonic() - t0 < 4
    s.config(faults={}, stall_ms=60000)
    # none of those imported anything
    assert check_status(s, ["fa"]) == ["NotImported"]
    st = s.stats()
    for api in ("multiaccount_import", "query_online_status"):
        by = st["apis"][api]["calls_by_code"]
        assert by == {"http502": 1, "70169": 1, "70202": 1, "70398": 1, "70500": 1,
                      "60007": 1, "12345": 1, "reset": 1, "stall": 1}, (api, by)


@test
def apis_fault_malformed_truncated():
    s = shared_apis("apifaults")
    ids = ["ma%d" % i for i in range(10)] + ["rejectm%d" % i for i in range(10)] + ["a0", "a2"]
    s.config(faults={})
    good = {k: v[2] for k, v in api_calls(s, ids).items()}
    member = {"import": b'"FailAccounts":', "online": b'"QueryResult":'}
    s.config(faults={"malformed": 1})
    for k, (status, r, data) in api_calls(s, ids).items():
        assert status == 200 and r.getheader("Content-Type") == "application/json"
        assert data == good[k].replace(member[k], member[k][:-1] + b"=", 1), (k, data)
        try:
            json.loads(data)
            raise AssertionError("malformed answer parsed: %r" % data[:100])
        except ValueError:
            pass
    s.config(faults={"truncated": 1})
    for k in ("import", "online"):
        lengths = set()
        for _ in range(5):
            status, r, data = api_calls(s, ids)[k]
            assert status == 200 and int(r.getheader("Content-Length")) == len(data)
            assert 0 < len(data) < len(good[k]) and good[k].startswith(data), (data, good[k])
            lengths.add(len(data))
        assert len(lengths) > 1, lengths
    # the answer was damaged, not the import: the accounts are in
    for kind, uid in (("malformed", "mq"), ("truncated", "mr")):
        s.config(faults={kind: 1})
        s.call(body=import_body([uid]), path=IMPORT, raw=True)
    s.config(faults={})
    assert check_status(s, ["mq", "mr"]) == ["Imported"] * 2
    st = s.stats()
    assert st["apis"]["multiaccount_import"]["calls_by_code"].get("malformed") == 2, st
    assert st["apis"]["query_online_status"]["calls_by_code"].get("truncated") >= 5, st
    accounts_reset(s)


@test
def apis_fault_missing_and_extra_item():
    s = shared_apis("apifaults")
    fails = ["reject%d" % i for i in range(6)]
    s.config(faults={"missing_item": 1})
    ans = import_call(s, ["mx"] + fails)
    got = ans["FailAccounts"]
    assert ans["ActionStatus"] == "OK" and len(got) == 5, ans
    assert got == [f for f in fails if f in got], got            # in order, one left out
    assert import_call(s, ["my", "mz"]) == expected_import([])    # nothing to leave out
    on = ["a0", "a2", "b1", "a4", "b3"]
    ans = online_call(s, on, 1)
    assert len(ans["QueryResult"]) == 2 and ans["ErrorList"] == expected_online(on, True)["ErrorList"], ans
    assert all(e in expected_online(on, True)["QueryResult"] for e in ans["QueryResult"]), ans
    ans = online_call(s, ["b1", "b3", "b5"])           # no QueryResult: an ErrorList entry goes
    assert ans["QueryResult"] == [] and len(ans["ErrorList"]) == 2, ans
    assert online_call(s, ["b7"]) == dict(OK_HEAD, QueryResult=[]), "ErrorList left empty: omitted"
    assert online_call(s, ["a8"]) == dict(OK_HEAD, QueryResult=[])
    # the accounts were imported: only the answer lost an entry
    s.config(faults={})
    assert check_status(s, ["mx", "my", "mz"]) == ["Imported"] * 3
    s.config(faults={"extra_item": 1})
    status, _, data = s.call(body=import_body(["ex", "reject1"]), path=IMPORT, raw=True)
    extra = json.loads(data)["FailAccounts"][-1]
    n = int(re.fullmatch(r"imsim-extra-(\d+)", extra).group(1))
    assert_exact(data, dict(OK_HEAD, FailAccounts=["reject1", extra]))
    data = s.call(body=online_body(["a0", "b1"], 1), path=ONLINE, raw=True)[2]
    want = expected_online(["a0", "b1"], True)
    want["QueryResult"].append({"To_Account": "imsim-extra-%d" % (n + 1), "Status": "Offline", "Detail": []})
    assert_exact(data, want)
    data = s.call(body=online_body(["b1"]), path=ONLINE, raw=True)[2]
    assert_exact(data, dict(OK_HEAD, QueryResult=[{"To_Account": "imsim-extra-%d" % (n + 2), "Status": "Offline"}],
                            ErrorList=[{"To_Account": "b1", "ErrorCode": 70107}]))
    s.config(faults={})
    assert check_status(s, ["ex"]) == ["Imported"]
    st = s.stats()
    assert st["faults"].get("missing_item", 0) >= 6 and st["faults"].get("extra_item", 0) >= 3, st
    accounts_reset(s)


@test
def import_faults_at_the_account_limit():
    s = shared_apis("apifaults")
    s.config(account_limit=1)
    fail = b'{"ActionStatus":"FAIL","ErrorCode":70398,"ErrorInfo":'
    s.config(faults={"malformed": 1})
    data = s.call(body=import_body(["la", "lb"]), path=IMPORT, raw=True)[2]
    assert data.startswith(b'{"ActionStatus":"FAIL","ErrorCode":70398,"ErrorInfo"="'), data
    s.config(faults={"missing_item": 1})
    data = s.call(body=import_body(["la", "lb"]), path=IMPORT, raw=True)[2]
    assert data.startswith(fail) and json.loads(data)["ErrorCode"] == 70398, data
    s.config(faults={"extra_item": 1})
    assert_fail(import_call(s, ["la", "lb"]), 70398)
    s.config(faults={}, account_limit=0)
    assert check_status(s, ["la", "lb"]) == ["NotImported"] * 2
    st = s.stats()["apis"]["multiaccount_import"]["calls_by_code"]
    assert st.get("malformed", 0) >= 1 and st.get("70398", 0) >= 2, st


@test
def fault_api_selects_the_faulted_api():
    s = shared_apis("apifaults")
    s.control("POST", "/_imsim/stats/reset")
    for name, faulted in (("multiaccount_import", "import"), ("query_online_status", "online"),
                          ("account_check", "check")):
        cfg = s.config(faults={"code70500": 1}, fault_api=name)
        assert cfg["fault_api"] == name, cfg
        codes = {"check": s.call(["fq"])["ErrorCode"],
                 "import": import_call(s, ["fq"])["ErrorCode"],
                 "online": online_call(s, ["fq"])["ErrorCode"]}
        assert codes == {k: 70500 if k == faulted else 0 for k in codes}, (name, codes)
    st = s.stats()
    assert st["faults"] == {"code70500": 3}, st
    for api in ("account_check", "multiaccount_import", "query_online_status"):
        assert st["apis"][api]["calls_by_code"] == {"0": 2, "70500": 1}, st
    # only the chosen API draws: calls of the others leave its sequence alone
    s.config(faults={"code70500": 0.5}, fault_api="account_check", seed=11)
    alone = [s.call(["fq"])["ErrorCode"] for _ in range(30)]
    s.config(seed=11)
    mixed = []
    for _ in range(30):
        assert online_call(s, ["fq"])["ErrorCode"] == 0
        mixed.append(s.call(["fq"])["ErrorCode"])
        assert import_call(s, ["fq"])["ErrorCode"] == 0
    assert mixed == alone and 0 in alone and 70500 in alone, (mixed, alone)
    # with fault_api "" every API's accepted call draws once, whatever the API
    s.config(fault_api="", seed=11)
    s.config(seed=11)
    seq = [online_call(s, ["fq"])["ErrorCode"] if i % 3 == 0 else
           import_call(s, ["fq"])["ErrorCode"] if i % 3 == 1 else
           s.call(["fq"])["ErrorCode"] for i in range(30)]
    assert seq == alone, (seq, alone)
    for bad in ({"fault_api": "nope"}, {"fault_api": 1}, {"fault_api": None},
                {"fault_api": "account_check", "rate_limit": -1}):
        status, err = s.control("POST", "/_imsim/config", bad)
        assert status == 400 and "error" in err, (bad, status, err)
    cfg = s.config(faults={}, fault_api="")
    assert cfg["fault_api"] == "" and cfg["faults"] == {}, cfg
    accounts_reset(s)


@test
def stats_per_api_and_reset():
    s = Sim("--rate-limit", "0")
    try:
        c = s.connect()
        s.call(["a0", "b"], conn=c)
        s.call(["b"], conn=c)
        import_call(s, ["x", "rejecty"], conn=c)
        s.call(body="{", path=IMPORT, conn=c)
        online_call(s, ["a0", "zz", "a0"], conn=c)
        online_call(s, ["q"], query=default_query(usersig=""), conn=c)
        s.control("POST", "/_imsim/config", {"faults": {"code70500": 1}, "fault_budget": 1,
                                             "fault_api": "query_online_status"}, conn=c)
        online_call(s, ["a2"], conn=c)
        st = s.stats(conn=c)
        want = {"calls": 7, "calls_by_code": {"0": 4, "60003": 1, "70002": 1, "70500": 1},
                "faults": {"code70500": 1}, "items": 8, "distinct_ids": 5, "repeated_ids": 2,
                "max_calls_per_second": 2, "in_flight": 0, "connections": 1, "connections_open": 1}
        for k, v in want.items():
            assert st[k] == v, (k, st[k], v)
        assert st["apis"] == {
            "account_check": {"calls": 2, "calls_by_code": {"0": 2}, "items": 3,
                              "max_calls_per_second": 2},
            "multiaccount_import": {"calls": 2, "calls_by_code": {"0": 1, "60003": 1},
                                    "items": 2, "max_calls_per_second": 1},
            "query_online_status": {"calls": 3, "calls_by_code": {"0": 1, "70002": 1, "70500": 1},
                                    "items": 3, "max_calls_per_second": 2}}, st["apis"]
        assert list(st["apis"]) == ["account_check", "multiaccount_import", "query_online_status"]
        status, st = s.control("POST", "/_imsim/stats/reset", conn=c)
        assert status == 200
        for api in st["apis"].values():
            assert api == {"calls": 0, "calls_by_code": {}, "items": 0,
                           "max_calls_per_second": 0}, st
        assert st["calls"] == 0 and st["items"] == 0 and st["max_calls_per_second"] == 0, st
        online_call(s, ["a0"], conn=c)
        st = s.stats(conn=c)
        assert st["apis"]["query_online_status"]["max_calls_per_second"] == 1, st
        assert st["apis"]["account_check"]["max_calls_per_second"] == 0, st
        assert st["max_calls_per_second"] == 1 and st["calls"] == 1, st
        c.close()
    finally:
        s.stop()


@test
def config_new_settings_and_flags():
    s = Sim()
    try:
        status, cfg = s.control("GET", "/_imsim/config")
        assert status == 200
        for k, v in (("imported_by_api", 0), ("import_rate_limit", 100), ("online_rate_limit", 200),
                     ("account_limit", 0), ("fault_api", ""), ("rate_limit", 100)):
            assert cfg[k] == v, (k, cfg)
        new = s.config(import_rate_limit=7, online_rate_limit=8, account_limit=9,
                       fault_api="query_online_status")
        assert (new["import_rate_limit"], new["online_rate_limit"], new["account_limit"],
                new["fault_api"]) == (7, 8, 9, "query_online_status"), new
        for bad in ({"import_rate_limit": -1}, {"online_rate_limit": 100000001},
                    {"account_limit": -1}, {"account_limit": "5"}, {"import_rate_limit": 1.5},
                    {"account_limit": 5, "fault_api": "x"}):
            status, err = s.control("POST", "/_imsim/config", bad)
            assert status == 400 and "error" in err, (bad, status, err)
        assert s.control("GET", "/_imsim/config")[1] == new      # all or nothing
    finally:
        s.stop()
    s = Sim("--import-rate-limit", "5", "--online-rate-limit", "0", "--account-limit", "12",
            "--fault-api", "multiaccount_import")
    try:
        cfg = s.control("GET", "/_imsim/config")[1]
        assert (cfg["import_rate_limit"], cfg["online_rate_limit"], cfg["account_limit"],
                cfg["fault_api"]) == (5, 0, 12, "multiaccount_import"), cfg
    finally:
        s.stop()
    out = subprocess.run([BIN, "--help"], capture_output=True, text=True, timeout=10)
    for flag in ("--import-rate-limit", "--online-rate-limit", "--account-limit", "--fault-api",
                 "multiaccount_import", "query_online_status"):
        assert flag in out.stdout, flag
    for bad in (["--import-rate-limit", "-1"], ["--online-rate-limit", "x"],
                ["--account-limit", "-5"], ["--account-limit", "100000001"],
                ["--fault-api", "nope"], ["--fault-api", "Account_check"]):
        out = subprocess.run([BIN] + bad, capture_output=True, text=True, timeout=10)
        assert out.returncode == 2 and out.stderr, (bad, out.returncode)


def import_expectation(text):
    """(code, ids) that the README's import body rules give, by Python's json."""
    def reject(c):
        raise ValueError(c)
    try:
        doc = json.loads(text, parse_constant=reject)
    except (ValueError, RecursionError):
        return 60003, None
    if not isinstance(doc, dict) or not ("AccountList" in doc or "Accounts" in doc):
        return 70402, None
    objects = "AccountList" in doc
    lst = doc["AccountList"] if objects else doc["Accounts"]
    if not isinstance(lst, list) or not 1 <= len(lst) <= 100:
        return 70402, None
    for it in lst:
        if objects and not (isinstance(it, dict) and isinstance(it.get("UserID"), str) and
                            all(isinstance(it.get(k, ""), str) for k in ("Nick", "FaceUrl"))):
            return 70402, None
        if not objects and not isinstance(it, str):
            return 70402, None
    return 0, [it["UserID"] if objects else it for it in lst]


def online_expectation(text):
    def reject(c):
        raise ValueError(c)
    try:
        doc = json.loads(text, parse_constant=reject)
    except (ValueError, RecursionError):
        return 60003, None
    if not isinstance(doc, dict) or "To_Account" not in doc:
        return 70402, None
    lst = doc["To_Account"]
    if not isinstance(lst, list) or not 1 <= len(lst) <= 500 or \
            not all(isinstance(i, str) for i in lst):
        return 70402, None
    d = doc.get("IsNeedDetail", 0)
    if type(d) is not int or d not in (0, 1):
        return 70402, None
    return 0, (lst, d)


@test
def apis_body_parser_differential():
    """Random mutations of both new bodies: imsim agrees with Python's json."""
    import random
    rnd = random.Random(20240917)
    s = shared_apis()
    c = s.connect()
    q = default_query()
    seeds = {IMPORT: ['{"AccountList":[{"UserID":"reject1","Nick":"n"},{"UserID":"b2","FaceUrl":"u"}]}',
                      '{"Accounts":["reject","b"]}', '{"AccountList":[{"UserID":"x"}],"Accounts":[1]}',
                      '{"Accounts":["a"],"AccountList":[{"UserID":"reject\\u00e9","Nick":null}]}'],
             ONLINE: ['{"To_Account":["a0","b1"],"IsNeedDetail":1}',
                      '{"To_Account":["x\\n"],"IsNeedDetail":0,"Other":[1,2.5e3]}',
                      '{"To_Account":["a","b"]}']}
    alphabet = '{}[]":,\\ \t\n0123456789-+.eEtrufalsnUIDxé/'
    checked = 0
    for i in range(500):
        path = IMPORT if i % 2 else ONLINE
        text = rnd.choice(seeds[path])
        for _ in range(rnd.randint(1, 3)):
            op = rnd.random()
            pos = rnd.randint(0, len(text))
            if op < 0.4:
                text = text[:pos] + rnd.choice(alphabet) + text[pos:]
            elif op < 0.8:
                text = text[:pos] + text[pos + 1:]
            else:
                text = text[:pos] + rnd.choice(alphabet) + text[pos + 1:]
        want, got = (import_expectation if path == IMPORT else online_expectation)(text)
        ans = s.call(body=text, query=q, conn=c, path=path)
        assert ans["ErrorCode"] == want, (path, text, ans, want)
        if want != 0:
            continue
        checked += 1
        if path == IMPORT:
            if not any(0xD800 <= ord(ch) <= 0xDFFF for uid in got for ch in uid):
                assert ans["FailAccounts"] == [u for u in got if refused(u)], (text, ans)
        else:
            ids, detail = got
            entries = ans["QueryResult"] + ans.get("ErrorList", [])
            assert len(entries) == len(ids), (text, ans)
            assert all(("Detail" in e) == (detail == 1) for e in ans["QueryResult"]), (text, ans)
    c.close()
    assert checked > 40, checked
    accounts_reset(s)


# ---------------------------------------------------------------------------

def main():
    global BIN, ONLY
    args = sys.argv[1:]
    if "-k" in args:
        i = args.index("-k")
        ONLY = args[i + 1]
        del args[i:i + 2]
    if args:
        BIN = os.path.abspath(args[0])
    if not os.access(BIN, os.X_OK):
        print("not ok - setup: no imsim binary at %s (run make first)" % BIN)
        print("0 passed, 1 failed")
        return 1
    passed = failed = 0
    try:
        for fn in TESTS:
            if ONLY and ONLY not in fn.__name__:
                continue
            t0 = time.monotonic()
            try:
                fn()
                print("ok - %s (%.1fs)" % (fn.__name__, time.monotonic() - t0), flush=True)
                passed += 1
            except Exception as e:
                msg = "%s: %s" % (type(e).__name__, e)
                msg = msg.replace("\n", " ")[:500]
                print("not ok - %s: %s" % (fn.__name__, msg), flush=True)
                if os.environ.get("IMSIM_TEST_VERBOSE"):
                    traceback.print_exc()
                failed += 1
        for name, s in list(_shared.items()):
            rc = s.stop()
            if rc != 0:
                print("not ok - shared instance %s exited with %s" % (name, rc))
                failed += 1
    finally:
        cleanup()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
