#!/usr/bin/env python3
"""Request/response ping-pong in one protocol's real message format on loopback, for
the kernel extraction benchmark (tests/bench/semantics_kernel.sh): the server and
one client are threads of this process; every request has a new id (request target
and X-Request-Id, redis key, DNS transaction id and name).

usage: msg_pingpong.py http|redis|dns SECONDS     prints the round trips done"""
import socket
import struct
import sys
import threading
import time

PORTS = {"http": 8080, "redis": 6379, "dns": 5353}


def http_req(i):
    return b"GET /item/%d HTTP/1.1\r\nHost: bench\r\nX-Request-Id: r%d\r\n\r\n" % (i, i)


HTTP_RESP = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def redis_req(i):
    k = b"key:%d" % i
    return b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(k), k)


REDIS_RESP = b"$2\r\nok\r\n"


def dns_query(i):
    name = b"".join(bytes([len(p)]) + p for p in (b"q%d" % i, b"bench", b"test")) + b"\0"
    return struct.pack("!HHHHHH", i & 0xFFFF, 0x0100, 1, 0, 0, 0) + name + b"\0\1\0\1"


def dns_answer(q):
    return q[:2] + b"\x81\x83" + q[4:]  # same question, NXDOMAIN


def tcp_server(sock, req_end, resp):
    c, _ = sock.accept()
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""
    while True:
        d = c.recv(4096)
        if not d:
            return
        buf += d
        while req_end(buf):
            buf = buf[req_end(buf):]
            c.sendall(resp)


def http_end(b):
    k = b.find(b"\r\n\r\n")
    return k + 4 if k >= 0 else 0


def redis_end(b):  # *2 $3 GET $n key: five CRLF-terminated lines
    k = 0
    for _ in range(5):
        k = b.find(b"\r\n", k)
        if k < 0:
            return 0
        k += 2
    return k


def main():
    proto, secs = sys.argv[1], float(sys.argv[2])
    port = PORTS[proto]
    n = 0
    end = time.monotonic() + secs
    if proto == "dns":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", port))

        def serve():
            while True:
                q, a = s.recvfrom(512)
                s.sendto(dns_answer(q), a)
        threading.Thread(target=serve, daemon=True).start()
        c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        c.connect(("127.0.0.1", port))
        while time.monotonic() < end:
            c.send(dns_query(n))
            c.recv(512)
            n += 1
    else:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(1)
        req, resp, rend = (http_req, HTTP_RESP, http_end) if proto == "http" else \
            (redis_req, REDIS_RESP, redis_end)
        threading.Thread(target=tcp_server, args=(s, rend, resp), daemon=True).start()
        c = socket.create_connection(("127.0.0.1", port))
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while time.monotonic() < end:
            c.sendall(req(n))
            got = b""
            while len(got) < len(resp):
                got += c.recv(4096)
            n += 1
    print(n)


main()
