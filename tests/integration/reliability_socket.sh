#!/usr/bin/env bash
# Hostile clients on insitud's Unix socket and on its peer port (issue 9).  Extends
# aggregator_api.sh (one garbage line, one oversized line, one non-reading client,
# WriteGroup) with what a hostile local user or network peer can do at scale:
#  - the socket's default mode keeps unprivileged users out;
#  - binary garbage, NULs, deep nesting, huge numbers, invalid fields on many
#    connections at once, slow-loris partial lines, a pipelining flooder, a flood of
#    connections past the 1024-client cap, connect/close churn: meanwhile a normal
#    client is served every time, and afterwards no fd is left behind;
#  - on the peer port: random bytes, a 4 GiB length prefix, a frame with a bad MAC, a
#    flood of connections past the 256 cap: counted, and a real peer still gets
#    reports through.
#  - out of descriptors (RLIMIT_NOFILE 1024, 1100 clients): new clients are refused at
#    once, insitud does not spin, counts it and recovers.
# timeout: 240
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/aggregator_lib.sh"
. "$(dirname "$0")/reliability_lib.sh"
need_root
need_cmd python3 jq setpriv prlimit
[[ -x $INSITUD && -x $INSITU ]] || skip_all "build insitud and insitu first"

# A directory everyone may traverse, so that only the socket's own mode decides.
W=/tmp/insitu-$TAP_ID-sock; mkdir -p -m 755 "$W"; at_exit "rm -rf '$W'"
bg_start PID prlimit --nofile=4096:4096 "$INSITUD" -q -s "$W/sock" -d "$TAP_TMP/db"
wait_for 10 "$INSITU" -s "$W/sock" ping || { fail "insitud starts"; done_testing; }
S=$W/sock
APID=$(pgrep -P "$PID" -x insitud || echo "$PID")   # prlimit execs, so usually the same pid
nfd() { find /proc/"$APID"/fd -mindepth 1 -maxdepth 1 | wc -l; }
stat_of() { "$INSITU" -s "$S" --json stats | jq ".$1"; }

# --- who may connect ---
is "socket mode is 0660 by default" "$(stat -c %a "$S")" 660
out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$INSITU" -s "$S" ping 2>&1); rc=$?
is "an unprivileged user cannot even connect (exit 3)" "$rc" 3
diag "$out"

fd0=$(nfd); rss0=$(rss_kb "$APID" VmRSS)
# --- a storm of hostile clients, and one normal client served all along ---
cat > "$TAP_TMP/storm.py" <<'PY'
import json, os, random, socket, sys, threading, time
path, seconds = sys.argv[1], float(sys.argv[2])
end = time.time() + seconds
res = {"normal_ok": 0, "normal_bad": 0, "flood_answers": 0, "garbage_conns": 0,
       "loris": 0, "nest_answer": None, "field_answers": []}
def conn():
    s = socket.socket(socket.AF_UNIX); s.connect(path); return s
def garbage():
    r = random.Random(1)
    while time.time() < end:
        try:
            s = conn(); s.settimeout(2)
            s.sendall(bytes(r.getrandbits(8) for _ in range(r.randint(1, 65536))) + b"\n")
            res["garbage_conns"] += 1
            s.close()
        except OSError:
            pass
def loris(n):
    socks = []
    for _ in range(n):
        try: socks.append(conn())
        except OSError: pass
    res["loris"] = len(socks)
    while time.time() < end:
        for s in socks:
            try: s.send(b'{"op":"ping","pad":"' if s.fileno() % 7 == 0 else b"x")
            except OSError: pass
        time.sleep(0.2)
    for s in socks: s.close()
def flooder():
    s = conn(); s.settimeout(5); f = s.makefile("rb")
    line = b'{"op":"status"}\n{"op":"ping"}\n' * 64
    while time.time() < end:
        try:
            s.sendall(line)
            for _ in range(128):
                if f.readline(): res["flood_answers"] += 1
        except OSError:
            break
def normal():
    while time.time() < end:
        try:
            s = conn(); s.settimeout(20); f = s.makefile("rwb")
            f.write(b'{"op":"register","module":"storm","name":"normal"}\n'); f.flush()
            h = json.loads(f.readline())["handle"]
            f.write(json.dumps({"op": "submit", "handle": h, "report": {"subject": "storm-%d" % res["normal_ok"],
                    "metrics": [{"name": "m", "status": "h", "score": 1}]}}).encode() + b"\n"); f.flush()
            a = json.loads(f.readline())
            res["normal_ok" if a.get("ok") else "normal_bad"] += 1
            s.close()
        except (OSError, ValueError, KeyError):
            res["normal_bad"] += 1
        time.sleep(0.05)
def oddities():
    s = conn(); s.settimeout(20); f = s.makefile("rwb")
    def rq(b):
        f.write(b + b"\n"); f.flush()
        # an id is echoed verbatim, invalid UTF-8 included: decode leniently
        return json.loads(f.readline().decode("utf-8", "replace"))
    res["nest_answer"] = rq(b"[" * 200000 + b"]" * 200000).get("error")
    for b in [b'{"op":"ping\x00zz"}', b'{"op":"ping","id":1e999999}', b'{"op":"ping","id":"\xff\xfe"}',
              b'{"op":"register","module":"m","name":"' + b"n" * 100000 + b'"}',
              b'{"op":"submit","handle":-1,"report":{}}', b'{"op":"submit","handle":1e300,"reports":[]}',
              b'{"op":"submit","handle":10000,"reports":' + b"[" * 5000 + b"]" * 5000 + b"}",
              b'{"op":"get_view","observer":"a b","subject":"\\u0000"}', b'{"op":"ping","op":"stats"}',
              b'{"op":"watch","subject":"' + b"s" * 200 + b'"}', b'"just a string"', b'{}', b'null']:
        try: res["field_answers"].append(rq(b).get("error", "ok"))
        except (OSError, ValueError) as e: res["field_answers"].append("EXC " + str(e))
ts = [threading.Thread(target=t, args=a) for t, a in
      [(garbage, ()), (garbage, ()), (loris, (200,)), (flooder, ()), (flooder, ()), (normal, ()), (oddities, ())]]
for t in ts: t.start()
for t in ts: t.join()
print(json.dumps(res))
PY
out=$(python3 "$TAP_TMP/storm.py" "$S" 10)
diag "storm: $(jq -c . <<<"$out" | cut -c1-600)"
ok "a normal client was served all through the storm ($(jq .normal_ok <<<"$out") submits)" \
	jq -e '.normal_ok >= 3 and .normal_bad == 0' <<<"$out"
ok "garbage connections ($(jq .garbage_conns <<<"$out")), slow-loris ($(jq .loris <<<"$out")) and pipelining flooders ($(jq .flood_answers <<<"$out") answers) all happened" \
	jq -e '.garbage_conns > 5 and .loris >= 100 and .flood_answers > 100' <<<"$out"
is "200000-deep nesting is a parse error, not a crash" "$(jq -r .nest_answer <<<"$out")" parse
ok "every odd request got an error or ok answer, none broke the connection" \
	jq -e '.field_answers | length == 13 and all(startswith("EXC") | not)' <<<"$out"
ok "insitud alive after the storm" "$INSITU" -s "$S" ping
ok "parse errors counted ($(stat_of requests_parse_errors))" test "$(stat_of requests_parse_errors)" -gt 0
ok "no fd left behind after the storm ($fd0 before, $(nfd) after)" wait_for 10 bash -c "(( \$(find /proc/$APID/fd -mindepth 1 -maxdepth 1 | wc -l) <= $fd0 + 1 ))"

# --- connection flood past the 1024-client cap ---
cat > "$TAP_TMP/flood.py" <<'PY'
import json, resource, socket, sys, time
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
path, n = sys.argv[1], int(sys.argv[2])
socks, closed = [], 0
for _ in range(n):
    try:
        s = socket.socket(socket.AF_UNIX); s.connect(path); socks.append(s)
    except OSError:
        pass
time.sleep(2)
for s in socks:                  # the refused ones were closed by insitud: EOF
    s.setblocking(False)
    try:
        if s.recv(1) == b"": closed += 1
    except BlockingIOError:
        pass
    except OSError:
        closed += 1
print(json.dumps({"opened": len(socks), "closed_by_insitud": closed}))
if len(sys.argv) > 3:
    open(sys.argv[3], "w").write("holding\n"); time.sleep(float(sys.argv[4]))
PY
out=$(python3 "$TAP_TMP/flood.py" "$S" 1300)
diag "flood: $out, clients_refused_full $(stat_of clients_refused_full)"
ok "connections past the cap are closed at once, not left hanging" jq -e '.closed_by_insitud >= 250' <<<"$out"
ok "... and counted (clients_refused_full $(stat_of clients_refused_full))" test "$(stat_of clients_refused_full)" -ge 250
ok "served again as soon as the flood ends" "$INSITU" -s "$S" ping
ok "no fd left behind after the flood" wait_for 10 bash -c "(( \$(find /proc/$APID/fd -mindepth 1 -maxdepth 1 | wc -l) <= $fd0 + 1 ))"

# --- connect/close churn ---
python3 - "$S" <<'PY'
import socket, sys
for i in range(20000):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
    if i % 3 == 0: s.send(b'{"op":"ping"}\n')
    elif i % 3 == 1: s.send(b'{"op":"sta')
    s.close()
PY
ok "20000 connect/close cycles: insitud answers" "$INSITU" -s "$S" ping
ok "... no fd leaked" wait_for 10 bash -c "(( \$(find /proc/$APID/fd -mindepth 1 -maxdepth 1 | wc -l) <= $fd0 + 1 ))"
rss1=$(rss_kb "$APID" VmRSS)
diag "insitud RSS: $rss0 KiB before the hostile clients, $rss1 KiB after"
if ((REL_MEM_FACTOR == 1)); then
	ok "... memory came back down (< 64 MiB)" test "$rss1" -lt 65536
else
	skip "memory came back down" "ASan's quarantine keeps freed memory resident (measured $rss1 KiB)"
fi

# --- memory held by partial lines: 1024 clients x 1 MiB is allowed by design ---
out=$(python3 - "$S" <<'PY'
import resource, socket, sys, time, json
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
socks = []
for _ in range(64):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.setblocking(False)
    try: s.send(b'{"op":"ping","pad":"' + b"x" * (1000 * 1000))
    except BlockingIOError: pass
    socks.append(s)
time.sleep(3)
PY
)
rss2=$(rss_kb "$APID" VmHWM)
diag "VmHWM after 64 clients each holding ~1 MB of an unfinished line: $rss2 KiB (no global cap: 1024 such clients could hold ~1 GiB)"
ok "insitud alive after partial-line hoarding" "$INSITU" -s "$S" ping

# --- at the default RLIMIT_NOFILE (1024): the 1024-client cap cannot be reached ---
D2=$TAP_TMP/lim; mkdir -p "$D2"
bg_start LPID prlimit --nofile=1024:1024 "$INSITUD" -q -s "$D2/sock" -d "$D2/db"
if wait_for 10 "$INSITU" -s "$D2/sock" ping; then
	python3 "$TAP_TMP/flood.py" "$D2/sock" 1100 "$TAP_TMP/holding" 6 > "$TAP_TMP/lim.out" &
	fl=$!
	wait_for 20 test -s "$TAP_TMP/holding"
	t0=$(awk '{print $14+$15}' /proc/"$LPID"/stat); sleep 2; t1=$(awk '{print $14+$15}' /proc/"$LPID"/stat)
	timeout 3 "$INSITU" -s "$D2/sock" ping >/dev/null 2>&1; prc=$?
	diag "RLIMIT_NOFILE 1024 and 1100 connections: $(head -c 200 "$TAP_TMP/lim.out"); insitud used $((t1 - t0)) CPU ticks in 2 s idle; a new client's ping: exit $prc (124 = hung)"
	# insitud gives up a spare descriptor to accept-and-close the waiting clients:
	# the CLI sees its connection closed (exit 3, unreachable), not a hang (124)
	is "out of fds: a new client is refused at once (not left hanging)" "$prc" 3
	ok "... and insitud does not spin on the listening socket ($((t1 - t0)) ticks in 2 s)" test $((t1 - t0)) -lt 50
	wait "$fl"
	ok "insitud at RLIMIT_NOFILE 1024 recovers when the flood ends" wait_for 10 "$INSITU" -s "$D2/sock" ping
	lst=$("$INSITU" -s "$D2/sock" --json stats)
	diag "accept errors $(jq .clients_accept_errors <<<"$lst"), refused for want of fds $(jq .clients_refused_nofd <<<"$lst")"
	ok "... the fd exhaustion was counted (clients_accept_errors, clients_refused_nofd)" \
		jq -e '.clients_accept_errors >= 1 and .clients_refused_nofd >= 1' <<<"$lst"
fi
kill_pid "$LPID"

# --- the peer port ---
head -c32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$TAP_TMP/key"
pA=$(rel_port); pB=$(rel_port); while [[ $pB == "$pA" ]]; do pB=$(rel_port); done
rel_start_insitud PA "$TAP_TMP/A" -q -i a -l "127.0.0.1:$pA" -k "$TAP_TMP/key" -p "b=127.0.0.1:$pB" || fail "A starts"
out=$(python3 - "$pA" <<'PY'
import json, os, socket, struct, time, resource
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
port = int(__import__("sys").argv[1])
def c():
    s = socket.create_connection(("127.0.0.1", port)); s.settimeout(3); return s
def closed(s):
    try:
        while True:
            d = s.recv(65536)
            if not d: return True
    except socket.timeout: return False
    except OSError: return True
r = {}
s = c(); s.sendall(os.urandom(100000)); r["random"] = closed(s)
s = c(); s.sendall(b"\xff\xff\xff\xff" + os.urandom(64)); r["len4g_be"] = closed(s)
s = c(); s.sendall(struct.pack("<I", 0xfffffff0) + os.urandom(64)); r["len4g_le"] = closed(s)
# a plausible frame: length, version 1, type 1 (HELLO?), seq 0, JSON, 32 bytes of wrong MAC
body = json.dumps({"id": "b", "nonce": "00" * 16}).encode()
for t in range(0, 8):
    fr = struct.pack("!BBHQ", 1, t, 0, 0) + body + os.urandom(32)
    s = c(); s.sendall(struct.pack("!I", 4 + len(fr)) + fr); r["badmac_t%d" % t] = closed(s)
many = []
for _ in range(400):
    try: many.append(c())
    except OSError: pass
time.sleep(1.5)
refused = 0
for m in many:
    m.setblocking(False)
    try:
        if m.recv(1) == b"": refused += 1
    except BlockingIOError: pass
    except OSError: refused += 1
r["flood_opened"] = len(many); r["flood_closed"] = refused
for m in many: m.close()
print(json.dumps(r))
PY
)
diag "peer port: $out"
ok "random bytes: connection dropped" jq -e .random <<<"$out"
ok "a 4 GiB length prefix: connection dropped (both byte orders)" jq -e '.len4g_be and .len4g_le' <<<"$out"
ok "frames with a bad MAC, any type: dropped" jq -e '[to_entries[] | select(.key|startswith("badmac")) | .value] | all' <<<"$out"
ok "connections past the 256-incoming cap are closed" jq -e '.flood_closed >= 100' <<<"$out"
ps=$("$INSITU" -s "$TAP_TMP/A/sock" --json stats | jq -c '.peers')
diag "A peers counters: $ps"
ok "... all of it counted (frames_rejected/malformed/auth_failures, incoming_refused)" \
	jq -e '(.frames_rejected + .malformed + .auth_failures) >= 1 and .incoming_refused >= 100' <<<"$ps"
rel_start_insitud PB "$TAP_TMP/B" -q -i b -l "127.0.0.1:$pB" -k "$TAP_TMP/key" -p "a=127.0.0.1:$pA" || fail "B starts"
"$INSITU" -s "$TAP_TMP/B/sock" --as ob report after-hostile m:u:10 >/dev/null
ok "a real peer's reports still get through" wait_for 20 "$INSITU" -s "$TAP_TMP/A/sock" get view ob after-hostile
rel_no_sanitizer_reports
done_testing
