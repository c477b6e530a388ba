#!/usr/bin/env python3
"""Clients that make the cases the linker must get right, with real sockets
(tests/integration/link_cases.sh).

usage: link_client.py MODE SERVER_IP PORT [GO_FILE READY_FILE]
  pipeline  two requests in ONE write on one connection, then both responses
  split     one request written in three pieces (TCP_NODELAY, pauses between)
  portreuse two connections one after the other from the same local port
  fdreuse   close a connection and open another: same fd number, new socket
  late      a request (then creates READY_FILE) before GO_FILE exists (observer
            not yet running), then another on the same connection once it does
  stall     a request the server never answers; gives up after 1.5 s
"""
import os
import socket
import sys
import time


def req(path):
    return ("GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path).encode()


def read_responses(s, n):
    """Reads n HTTP responses with Content-Length bodies."""
    buf = b""
    got = 0
    while got < n:
        while b"\r\n\r\n" not in buf:
            d = s.recv(65536)
            if not d:
                return got
            buf += d
        head, rest = buf.split(b"\r\n\r\n", 1)
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        while len(rest) < length:
            d = s.recv(65536)
            if not d:
                return got
            rest += d
        buf = rest[length:]
        got += 1
    return got


def conn(ip, port, local_port=0):
    s = socket.socket()
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if local_port:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", local_port))
    s.connect((ip, port))
    return s


def main():
    mode, ip, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "pipeline":
        s = conn(ip, port)
        s.sendall(req("/pipe1") + req("/pipe2"))
        assert read_responses(s, 2) == 2
        s.close()
    elif mode == "split":
        s = conn(ip, port)
        r = req("/split")
        for piece in (r[:7], r[7:20], r[20:]):
            s.sendall(piece)
            time.sleep(0.05)
        assert read_responses(s, 1) == 1
        s.close()
    elif mode == "portreuse":
        lp = 30000 + os.getpid() % 20000
        for path in ("/reuse1", "/reuse2"):
            s = conn(ip, port, lp)
            s.sendall(req(path))
            assert read_responses(s, 1) == 1
            # RST instead of TIME_WAIT, so the same port can connect again at once
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()
            time.sleep(0.1)
    elif mode == "fdreuse":
        fds = []
        for path in ("/fd1", "/fd2"):
            s = conn(ip, port)
            fds.append(s.fileno())
            s.sendall(req(path))
            assert read_responses(s, 1) == 1
            s.close()
        print("fds", fds)
    elif mode == "late":
        go, ready = sys.argv[4], sys.argv[5]
        s = conn(ip, port)
        s.sendall(req("/before"))
        assert read_responses(s, 1) == 1
        open(ready, "w").close()
        while not os.path.exists(go):
            time.sleep(0.05)
        s.sendall(req("/late1"))
        assert read_responses(s, 1) == 1
        s.close()
    elif mode == "stall":
        s = conn(ip, port)
        s.sendall(req("/stall"))
        s.settimeout(1.5)
        try:
            s.recv(100)
        except socket.timeout:
            pass
        s.close()
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
