#!/usr/bin/env python3
"""A server that misbehaves on purpose, for test_hostile.py.

It speaks just enough HTTP/1.1 to take account_check POSTs (keep-alive,
Content-Length bodies), and answers each according to the first segment of
the request path, so one server serves every case: imcheck.endpoint is set
to http://127.0.0.1:PORT/<mode>.  Modes:

  ok          a correct answer (status rule below), keep-alive
  drip        chunked: about 2 MB of chunk framing at once, then one byte
              every 0.3 ms, until the client goes or DRIP_LIMIT_S passes
  stale       a correct answer, then 60 ms later, unasked, a second answer
              on the same connection with every status flipped
  oversized   a chunked answer whose body grows past 1 MiB (1.5 MiB)
  dup_action  "ActionStatus":"FAIL", ..., "ActionStatus":"OK" with results
  dup_status  each item's AccountStatus twice, the two values different
  neg_error   ActionStatus FAIL with ErrorCode -1
  neg_result  items with ResultCode -502
  http204     HTTP 204 No Content
  closekept   a correct answer on a connection's first request; a later
              request on the same (kept) connection is read, then the
              connection is closed unanswered: the keep-alive race, every time
  closekept_refusefirst
              as closekept, and each batch's first request on a new
              connection (a batch: its first UserID) is refused, in turn
              with a reset, an answer cut short, HTTP 503 and ErrorCode 70500
  resetall    every request, on a new or a kept connection, is answered
              with a TCP reset
  bighdr      a header line of 1 MiB
  manyhdr     10,000 header lines
  hdrdrip     header lines, one every millisecond, until the client goes
              or DRIP_LIMIT_S passes

Status rule: a UserID whose last character is an odd digit is Imported,
every other is NotImported.  GET /_stats answers {"requests": N,
"stale_sent": N, "kept_closed": N, "refused_first": N, "resets": N,
"last_random": the random parameter of the last API request};
GET /_reset zeroes them and forgets which batches were refused.


Usage: hostile_server.py PORT_FILE   (binds 127.0.0.1:0, writes the port)
Stops by itself after LIFETIME_S, or on SIGTERM.
"""
import json
import os
import signal
import socket
import socketserver
import sys
import threading
import time

DRIP_LIMIT_S = 30
LIFETIME_S = 900
STATS = {"requests": 0, "stale_sent": 0, "kept_closed": 0, "refused_first": 0, "resets": 0}
LOCK = threading.Lock()
REFUSED_BATCHES = set()         # first UserIDs of the batches refused once
REFUSALS = ["reset", "cut", "503", "70500"]


def status_of(uid, flipped=False):
    imported = uid[-1:] in "13579" and uid != ""
    if flipped:
        imported = not imported
    return "Imported" if imported else "NotImported"


def answer(ids, flipped=False, dup_action=False, dup_status=False, neg_result=False):
    items = []
    for uid in ids:
        if neg_result:
            items.append({"UserID": uid, "ResultCode": -502, "ResultInfo": "x"})
            continue
        item = ('{"UserID":%s,"ResultCode":0,"ResultInfo":"","AccountStatus":"%s"'
                % (json.dumps(uid), status_of(uid, flipped)))
        if dup_status:
            item += ',"AccountStatus":"%s"' % status_of(uid, not flipped)
        items.append(item + "}")
    items = [i if isinstance(i, str) else json.dumps(i) for i in items]
    head = '{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""'
    if dup_action:
        head = '{"ActionStatus":"FAIL","ErrorCode":0,"ErrorInfo":"","ActionStatus":"OK"'
    return (head + ',"ResultItem":[' + ",".join(items) + "]}").encode()


def response(body, status="200 OK", extra=""):
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n").encode() + body


class Handler(socketserver.BaseRequestHandler):
    def setup(self):
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.served = 0         # requests answered on this connection

    def reset(self):
        """Closes the connection with a TCP reset."""
        self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        self.request.close()
        with LOCK:
            STATS["resets"] += 1

    def read_request(self):
        while b"\r\n\r\n" not in self.buf:
            data = self.request.recv(65536)
            if not data:
                return None
            self.buf += data
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        while len(rest) < length:
            data = self.request.recv(65536)
            if not data:
                return None
            rest += data
        self.buf = rest[length:]
        return method, target, rest[:length]

    def handle(self):
        try:
            self.serve()
        except OSError:
            pass                # the client went: that is its right

    def serve(self):
        while True:
            req = self.read_request()
            if req is None:
                return
            method, target, body = req
            if target.startswith("/_stats"):
                with LOCK:
                    self.request.sendall(response(json.dumps(STATS).encode()))
                continue
            if target.startswith("/_reset"):
                with LOCK:
                    for k in STATS:
                        STATS[k] = 0
                    REFUSED_BATCHES.clear()
                self.request.sendall(response(b"{}"))
                continue
            with LOCK:
                STATS["requests"] += 1
                q = target.partition("?")[2]
                STATS["last_random"] = next((v for k, _, v in (p.partition("=") for p in q.split("&"))
                                             if k == "random"), "")
            mode = target.lstrip("/").split("/", 1)[0].split("?", 1)[0]
            try:
                ids = [i["UserID"] for i in json.loads(body)["CheckItem"]]
            except Exception:
                ids = []
            if not getattr(self, "serve_" + mode, None):
                self.request.sendall(response(b"no such mode", "404 Not Found"))
                continue
            if getattr(self, "serve_" + mode)(ids) is False:
                return
            self.served += 1

    def serve_ok(self, ids):
        self.request.sendall(response(answer(ids)))

    def serve_drip(self, ids):
        self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n")
        # 2 MB of framing: one-byte chunks of whitespace (valid JSON padding)
        self.request.sendall(b"1\r\n \r\n" * (2 * 1024 * 1024 // 6))
        end = time.monotonic() + DRIP_LIMIT_S
        try:
            while time.monotonic() < end:
                self.request.sendall(b"1\r\n \r\n")
                time.sleep(0.0003)
        except OSError:
            pass
        return False

    def serve_stale(self, ids):
        self.request.sendall(response(answer(ids)))
        time.sleep(0.06)
        try:
            self.request.sendall(response(answer(ids, flipped=True)))
            with LOCK:
                STATS["stale_sent"] += 1
        except OSError as e:
            print(f"stale answer not sent: {e}", file=sys.stderr, flush=True)
            return False

    def serve_oversized(self, ids):
        self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b" " * 65536
        try:
            for _ in range(24):     # 1.5 MiB of body
                self.request.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.request.sendall(b"0\r\n\r\n")
        except OSError:
            pass
        return False

    def serve_dup_action(self, ids):
        self.request.sendall(response(answer(ids, dup_action=True)))

    def serve_dup_status(self, ids):
        self.request.sendall(response(answer(ids, dup_status=True)))

    def serve_neg_error(self, ids):
        self.request.sendall(response(
            b'{"ActionStatus":"FAIL","ErrorCode":-1,"ErrorInfo":"negative"}'))

    def serve_neg_result(self, ids):
        self.request.sendall(response(answer(ids, neg_result=True)))

    def serve_http204(self, ids):
        self.request.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")

    def close_if_kept(self):
        """The keep-alive race: a request on a kept connection meets its close."""
        if self.served == 0:
            return False
        with LOCK:
            STATS["kept_closed"] += 1
        self.request.close()
        return True

    def serve_closekept(self, ids):
        if self.close_if_kept():
            return False
        self.request.sendall(response(answer(ids)))

    def serve_closekept_refusefirst(self, ids):
        if self.close_if_kept():
            return False
        key = ids[0] if ids else ""
        with LOCK:
            first = key not in REFUSED_BATCHES
            REFUSED_BATCHES.add(key)
            if first:
                STATS["refused_first"] += 1
                how = REFUSALS[len(REFUSED_BATCHES) % len(REFUSALS)]
        if not first:
            self.request.sendall(response(answer(ids)))
            return None
        if how == "reset":
            self.reset()
            return False
        if how == "cut":
            whole = response(answer(ids))
            self.request.sendall(whole[:len(whole) - 10])
            self.request.close()
            return False
        if how == "503":
            self.request.sendall(response(b"busy", "503 Service Unavailable"))
            return None
        self.request.sendall(response(
            b'{"ActionStatus":"FAIL","ErrorCode":70500,"ErrorInfo":"busy"}'))
        return None

    def serve_resetall(self, ids):
        self.reset()
        return False

    def serve_bighdr(self, ids):
        self.request.sendall(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (1 << 20) +
                             b"\r\n" + response(answer(ids)).partition(b"\r\n")[2])
        return False

    def serve_manyhdr(self, ids):
        self.request.sendall(b"HTTP/1.1 200 OK\r\n" +
                             b"".join(b"X-H%d: v\r\n" % i for i in range(10000)) +
                             response(answer(ids)).partition(b"\r\n")[2])
        return False

    def serve_hdrdrip(self, ids):
        self.request.sendall(b"HTTP/1.1 200 OK\r\n")
        end = time.monotonic() + DRIP_LIMIT_S
        n = 0
        try:
            while time.monotonic() < end:
                self.request.sendall(b"X-D%d: v\r\n" % n)
                n += 1
                time.sleep(0.001)
        except OSError:
            pass
        return False


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512


def main():
    server = Server(("127.0.0.1", 0), Handler)
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    timer = threading.Timer(LIFETIME_S, server.shutdown)
    timer.daemon = True
    timer.start()
    signal.signal(signal.SIGTERM, lambda *a: threading.Thread(target=server.shutdown).start())
    server.serve_forever()


if __name__ == "__main__":
    main()
