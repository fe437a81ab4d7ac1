#!/usr/bin/env python3
"""Tests of imsim, the account_check simulator (see README.md).

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
