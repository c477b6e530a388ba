#!/usr/bin/env python3
"""HTTP backend for the linking accuracy harness: every GET looks its path up in
redis (GET <path>, one persistent connection per thread) and answers 200.

usage: link_backend.py LISTEN_IP PORT REDIS_IP REDIS_PORT   (REDIS_PORT 0: no redis)"""
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REDIS = (sys.argv[3], int(sys.argv[4]))
local = threading.local()


def redis_get(key):
    if getattr(local, "s", None) is None:
        s = socket.create_connection(REDIS)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        local.s, local.f = s, s.makefile("rb")
    k = key.encode()
    local.s.sendall(b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(k), k))
    line = local.f.readline()
    if line.startswith(b"$") and not line.startswith(b"$-"):
        local.f.read(int(line[1:]) + 2)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self):
        if REDIS[1]:
            redis_get(self.path)
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    request_queue_size = 512
    daemon_threads = True


Server((sys.argv[1], int(sys.argv[2])), Handler).serve_forever()
