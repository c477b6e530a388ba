#!/usr/bin/env bash
# insitud path segments: paths/s accepted by submit_paths (batches of 64, as the
# observer's reporter sends them), insitud's memory with the store full (20,000 paths),
# and the latency of `paths` queries side by side: local only vs. with the segments
# fetched from a peer (insitud on loopback), --join and --recent, and a path over three
# aggregators (two rounds of peer queries: a asks b, then c).  Synthetic paths shaped
# like the HTTP topology's (3 hops: client -> nginx -> backend -> redis, the first two
# kept at "a", the backend segment at "b"; for the three-aggregator paths the redis
# segment at "c").
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
INSITUD=$BUILD/insitud
[[ -x $INSITUD ]] || { echo "build insitud first (make bins)" >&2; exit 1; }
W=$(mktemp -d /var/tmp/insitu-bench-seg.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$W"; }
trap cleanup EXIT
head -c32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$W/key"; chmod 600 "$W/key"
lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range)
pa=$((10000 + RANDOM % (lo - 10003))); pb=$((pa + 1)); pc=$((pa + 2))
start() { # start NAME ARGS...
	local n=$1; shift
	mkdir -p "$W/$n"
	"$INSITUD" -q -s "$W/$n/sock" -d "$W/$n/db" "$@" &
	pids+=($!)
	eval "PID_$n=$!"
	for _ in $(seq 100); do "$BUILD/insitu" -s "$W/$n/sock" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
	echo "insitud $n did not start" >&2; exit 1
}
start a -i a -l "127.0.0.1:$pa" -k "$W/key" -p "b=127.0.0.1:$pb" -p "c=127.0.0.1:$pc"
start b -i b -l "127.0.0.1:$pb" -k "$W/key" -p "a=127.0.0.1:$pa"
start c -i c -l "127.0.0.1:$pc" -k "$W/key" -p "a=127.0.0.1:$pa"
rss0=$(awk '/VmRSS/ {print $2}' "/proc/$PID_a/status")
python3 - "$W/a/sock" "$W/b/sock" "$W/c/sock" <<'PY'
import json, socket, subprocess, sys, time
A, B, CC = sys.argv[1:4]
N = 20000

class C:
    def __init__(s, path):
        s.s = socket.socket(socket.AF_UNIX); s.s.connect(path); s.f = s.s.makefile("rwb")
    def req(s, o):
        s.f.write((json.dumps(o, separators=(",", ":")) + "\n").encode()); s.f.flush()
        return json.loads(s.f.readline())

def side(seen, comm, addr):
    if not seen:
        return {"seen": False, "addr": addr}
    return {"seen": True, "netns": 4026532245, "pid": 10, "tid": 10, "comm": comm, "addr": addr,
            "t_req_ns": 1000, "t_resp_ns": 2000}

def hop(key, c, s, children=()):
    return {"hop": 1, "proto": "http", "label": "h:0123456789abcdef", "link_id": "h:fedcba9876543210",
            "join": key, "client": c, "server": s, "latency_ns": 46050000, "server_ns": 42460000,
            "children_ns": 41750000, "req_bytes": 80, "resp_bytes": 141, "outcome": "ok", "status": 200,
            "flags": [], "children": list(children)}

def key(i, port):
    return "tcp/10.77.0.2:%d>10.77.0.11:%d/%d" % (40000 + i % 20000, port, 1000000 + i)

def front(i):
    leaf = hop(key(i, 8000), side(True, "nginx", "10.77.0.2:1"), side(False, "", "10.77.0.11:8000"))
    return {"path": i, "t_start_ns": i, "hops": 2, "segment": False, "flags": [],
            "root": hop("tcp/10.77.0.1:%d>10.77.0.2:80/%d" % (30000 + i % 30000, i),
                        side(True, "wrk", "10.77.0.1:1"), side(True, "nginx", "10.77.0.2:80"), [leaf])}

def back(i):
    red = hop("tcp/10.77.0.11:5000>10.77.0.20:6379/%d" % i, side(True, "python3", "a"), side(True, "redis-server", "b"))
    return {"path": i, "t_start_ns": i, "hops": 2, "segment": True, "flags": [],
            "root": hop(key(i, 8000), side(False, "", "10.77.0.2:1"), side(True, "python3", "10.77.0.11:8000"), [red])}

def three(i, part):  # a path over three aggregators: a's front, b's middle, c's back
    k1, k2 = "x/%d/1" % i, "x/%d/2" % i
    if part == 0:
        leaf = hop(k1, side(True, "nginx", "n"), side(False, "", "b"))
        return {"path": i, "root": hop("x/%d/0" % i, side(True, "wrk", "w"), side(True, "nginx", "n"), [leaf])}
    if part == 1:
        leaf = hop(k2, side(True, "python3", "b"), side(False, "", "r"))
        return {"path": i, "root": hop(k1, side(False, "", "n"), side(True, "python3", "b"), [leaf])}
    return {"path": i, "root": hop(k2, side(False, "", "b"), side(True, "redis-server", "r"))}

a, b, c = C(A), C(B), C(CC)
ha = a.req({"op": "register", "module": "bench", "name": "obs-a"})["handle"]
hb = b.req({"op": "register", "module": "bench", "name": "obs-b"})["handle"]
hc = c.req({"op": "register", "module": "bench", "name": "obs-c"})["handle"]
for cl, h, mk in ((b, hb, back),):
    for i in range(0, N, 64):
        cl.req({"op": "submit_paths", "handle": h, "paths": [mk(k) for k in range(i, min(N, i + 64))]})
lines = []
for i in range(0, N, 64):
    lines.append(json.dumps({"op": "submit_paths", "handle": ha, "paths": [front(k) for k in range(i, min(N, i + 64))]}, separators=(",", ":")))
t0 = time.perf_counter()
for l in lines:
    a.f.write((l + "\n").encode()); a.f.flush()
    r = json.loads(a.f.readline())
    assert r.get("ok"), r
dt = time.perf_counter() - t0
print("submit_paths: %d paths in %.2f s = %.0f paths/s (batches of 64, one client, 2-hop paths of %d bytes)"
      % (N, dt, N / dt, len(json.dumps(front(1)))))

def timed(cl, o, n):
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        r = cl.req(dict(o))
        while r.get("pending"):
            r = cl.req({"op": "paths", "query": r["query"]})
        ts.append(time.perf_counter() - t)
        assert r.get("ok"), r
    ts.sort()
    return ts[len(ts) // 2] * 1000, r

def show(name, o, n):
    ms, r = timed(a, o, n)
    grafts = sum(p["grafts"] for p in r["paths"])
    print("paths %-42s median %7.2f ms  (%d paths, %d joined, partial %s, %d round(s))"
          % (name, ms, len(r["paths"]), grafts, r["partial"], r.get("rounds", 0)))

show("--join KEY, local only", {"op": "paths", "join": key(777, 8000), "peers": False}, 200)
show("--join KEY, B's side from the peer", {"op": "paths", "join": key(778, 8000)}, 200)
show("--recent 100, local only", {"op": "paths", "recent": 100, "peers": False}, 20)
show("--recent 100, 100 segments from the peer", {"op": "paths", "recent": 100}, 20)
# a path over three aggregators (submitted last: the store keeps 20,000, oldest out)
for cl, h, part in ((a, ha, 0), (b, hb, 1), (c, hc, 2)):
    cl.req({"op": "submit_paths", "handle": h, "paths": [three(i, part) for i in range(64)]})
show("--join KEY, over b then c (2 rounds)", {"op": "paths", "join": "x/7/0"}, 200)
st = a.req({"op": "stats"})["segments"]
print("store at a: %d paths, %.1f MiB accounted, evicted %d" % (st["paths"], st["bytes"] / 2**20, st["evicted_count"] + st["evicted_bytes"] + st["evicted_age"]))
PY
rss1=$(awk '/VmRSS/ {print $2}' "/proc/$PID_a/status")
echo "insitud a RSS: $((rss0 / 1024)) MiB empty -> $((rss1 / 1024)) MiB with the store full ($(((rss1 - rss0) * 1024 / 20000)) bytes per 2-hop path)"
