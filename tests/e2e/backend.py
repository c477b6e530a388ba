#!/usr/bin/env python3
"""HTTP backend of the test topologies (end-to-end health, linking accuracy, path
segments): every GET looks its path up in redis (GET <path>, one persistent
connection per thread) and answers 200 -- or 500 while the file FAIL_FLAG exists
(the "errors" fault of tests/lib/faults.sh), still after asking redis, so only this
backend's own answers go bad.

usage: backend.py LISTEN_IP PORT REDIS_IP REDIS_PORT [FAIL_FLAG]
       REDIS_PORT 0: no redis (REDIS_IP is ignored); no FAIL_FLAG: never fails"""
import os
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

if len(sys.argv) not in (5, 6):
    sys.exit(__doc__.split("\n\n", 1)[1])
REDIS = (sys.argv[3], int(sys.argv[4]))
FAIL_FLAG = sys.argv[5] if len(sys.argv) > 5 else None
local = threading.local()


def redis_get(key):
    if getattr(local, "s", None) is None:
        s = socket.create_connection(REDIS)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        local.s, local.f = s, s.makefile("rb")
    k = key.encode()
    try:
        local.s.sendall(b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(k), k))
        line = local.f.readline()
        if line.startswith(b"$") and not line.startswith(b"$-"):
            local.f.read(int(line[1:]) + 2)
    except OSError:
        local.s = None  # reconnect on the next request


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self):
        if REDIS[1]:
            redis_get(self.path)
        if FAIL_FLAG and os.path.exists(FAIL_FLAG):
            code, body = 500, b"injected failure\n"
        else:
            code, body = 200, b"ok\n"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    request_queue_size = 512
    daemon_threads = True
    allow_reuse_address = True


Server((sys.argv[1], int(sys.argv[2])), Handler).serve_forever()
