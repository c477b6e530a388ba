#!/usr/bin/env bash
# insitud's Unix-socket limits against real clients (issue 9), with a config file that
# sets them low: ClientsPerUser 4, ClientRequestRate 200/s, ClientIdleTimeout 3 s.
#  - one non-root user cannot take more than its share of client slots; other users
#    and root still get in; refusals counted (clients_refused_user);
#  - clients that connect and send nothing are closed (clients_dropped_idle);
#  - a pipelining client is slowed to its request rate, every request still answered
#    in order, other clients served meanwhile (clients_throttled);
#  - invalid UTF-8 in a request is repaired before parsing (each stray byte becomes
#    '?'): every answer is valid UTF-8, a batch with one odd name is not lost, valid
#    non-ASCII names come back intact (requests_utf8_repaired);
#  - all clients' input buffers together bounded (ClientMemoryMax), the excess counted;
#  - RLIMIT_NOFILE lowered with prlimit on the running daemon, clients flood in: new
#    clients are refused at once, insitud does not spin, counts it, and recovers when
#    the limit is raised again (clients_accept_errors, clients_refused_nofd); the same
#    on the peer port (the listener is paused, accept_errors).
# timeout: 120
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/aggregator_lib.sh"
. "$(dirname "$0")/reliability_lib.sh"
need_root
need_cmd python3 jq setpriv prlimit
[[ -x $INSITUD && -x $INSITU ]] || skip_all "build insitud and insitu first"

W=/tmp/insitu-$TAP_ID-lim; mkdir -p -m 755 "$W"; at_exit "rm -rf '$W'"
cat > "$W/insitud.json" <<EOF
{"Socket": "$W/sock", "DBFile": "$TAP_TMP/db", "SocketMode": "0666",
 "ClientsPerUser": 4, "ClientRequestRate": 200, "ClientIdleTimeout": 3}
EOF
bg_start PID "$INSITUD" -q -c "$W/insitud.json"
wait_for 20 "$INSITU" -s "$W/sock" ping || { fail "insitud starts with the limits config"; done_testing; }
S=$W/sock
# the system python: a user's pyenv shims are not readable by other users
PY=/usr/bin/python3; [[ -x $PY ]] || PY=python3
# jok NAME FILTER JSON: a test point that fails on empty input too
jok() { if [[ -n $3 ]] && jq -e "$2" <<<"$3" >/dev/null; then pass "$1"; else fail "$1"; diag "got: ${3:-(nothing)}"; fi; }
stat_of() { "$INSITU" -s "$S" --json stats | jq ".$1"; }

# The seccomp allow-list (common/sandbox.c) is on by default; every test below runs
# against the sandboxed daemon.  ASan builds run without it (LeakSanitizer needs ptrace).
if [[ $BUILD == */san || $BUILD == san ]]; then
	skip "insitud runs under its seccomp filter" "not under AddressSanitizer"
else
	is "insitud runs under its seccomp filter (Seccomp: 2, NoNewPrivs: 1)" \
		"$(awk '/^(Seccomp|NoNewPrivs):/ {printf "%s%s ", $1, $2}' /proc/"$PID"/status)" "NoNewPrivs:1 Seccomp:2 "
fi

# hold.py N SECONDS [PING]: opens N connections, optionally sends one ping on each,
# then reports after SECONDS (or once insitud closed them all) how many insitud closed
# (EOF) and when, as JSON.
cat > "$W/hold.py" <<'PY'
import json, resource, socket, sys, time
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
path, n, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
ping = len(sys.argv) > 4
socks, t0, closed = [], time.time(), set()
for _ in range(n):
    try:
        s = socket.socket(socket.AF_UNIX); s.connect(path)
    except OSError:
        continue
    socks.append(s)
    try:
        if ping: s.sendall(b'{"op":"ping"}\n')
    except OSError:         # closed by insitud before the ping went out
        closed.add(len(socks) - 1)
first_close, answered = None, 0
while time.time() - t0 < secs and not (socks and len(closed) == len(socks)):
    for i, s in enumerate(socks):
        if i in closed: continue
        s.setblocking(False)
        try:
            d = s.recv(4096)
            if d == b"":
                closed.add(i); first_close = first_close or time.time() - t0
            else:
                answered += d.count(b"\n")
        except BlockingIOError: pass
        except OSError: closed.add(i)
    time.sleep(0.05)
print(json.dumps({"opened": len(socks), "closed": len(closed), "answered": answered,
                  "first_close_s": first_close}))
PY

# --- per-user share of the client slots, and the idle timeout ---
out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$PY" "$W/hold.py" "$S" 10 1)
diag "nobody opened 10 connections, within 1 s: $out"
jok "a non-root user gets its share (4) and no more: 6 connections closed at once" \
	'.opened == 10 and .closed == 6' "$out"
is "... counted (clients_refused_user)" "$(stat_of clients_refused_user)" 6
setpriv --reuid=nobody --regid=nogroup --clear-groups "$PY" "$W/hold.py" "$S" 4 30 > "$TAP_TMP/nobody.out" &
hp=$!
wait_for 10 bash -c "(( \$('$INSITU' -s '$S' --json stats | jq .clients) >= 4 ))"
out=$(setpriv --reuid=4242 --regid=4242 --clear-groups "$PY" "$W/hold.py" "$S" 2 0.5 ping)
jok "while nobody holds its 4 slots, another user still gets in and is answered" \
	'.opened == 2 and .answered == 2' "$out"
ok "... and root too" "$INSITU" -s "$S" ping
wait "$hp"; out=$(cat "$TAP_TMP/nobody.out")
diag "nobody's 4 silent connections: $out"
jok "connections that send nothing are closed after ClientIdleTimeout (3 s), not held for 30 s" \
	'.opened == 4 and .closed == 4 and .first_close_s >= 2' "$out"
ok "... counted (clients_dropped_idle $(stat_of clients_dropped_idle))" test "$(stat_of clients_dropped_idle)" -ge 4
out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$PY" "$W/hold.py" "$S" 4 0.5 ping)
jok "once they are closed, the user may connect again" '.opened == 4 and .answered == 4' "$out"

# --- request rate ---
cat > "$TAP_TMP/rate.py" <<'PY'
import json, socket, sys, threading, time
path, n = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_UNIX); s.connect(path); f = s.makefile("rwb")
other = {}
def bystander():
    time.sleep(0.5)
    t = time.time()
    b = socket.socket(socket.AF_UNIX); b.connect(path); bf = b.makefile("rwb")
    bf.write(b'{"op":"ping","id":"by"}\n'); bf.flush()
    other["ok"] = json.loads(bf.readline()).get("ok"); other["s"] = time.time() - t
th = threading.Thread(target=bystander); th.start()
t0 = time.time()
f.write(b"".join(b'{"op":"ping","id":%d}\n' % i for i in range(n))); f.flush()
ids = [json.loads(f.readline()).get("id") for _ in range(n)]
th.join()
print(json.dumps({"seconds": round(time.time() - t0, 2), "in_order": ids == list(range(n)),
                  "bystander_ok": other.get("ok"), "bystander_s": round(other.get("s", 99), 2)}))
PY
th0=$(stat_of clients_throttled)
out=$(python3 "$TAP_TMP/rate.py" "$S" 1000)
diag "1000 pipelined pings at ClientRequestRate 200/s: $out"
jok "every request answered, in order" '.in_order' "$out"
jok "... but no faster than the rate allows (>= 3 s for 800 requests past the 1 s burst)" '.seconds >= 3' "$out"
jok "... while another client was answered at once (< 3 s)" '.bystander_ok and .bystander_s < 3' "$out"
ok "... counted (clients_throttled $(stat_of clients_throttled))" test "$(stat_of clients_throttled)" -gt "$th0"

# --- invalid UTF-8 is repaired at the boundary; valid UTF-8 passes intact ---
cat > "$TAP_TMP/utf8.py" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rwb")
def rq(b):
    f.write(b + b"\n"); f.flush()
    line = f.readline()
    try:
        return json.loads(line.decode("utf-8"))            # strict decode
    except (UnicodeDecodeError, ValueError):
        return {"INVALID": repr(line[:80])}
# a bad byte, an overlong '/', a surrogate, a code point above U+10FFFF: echoed ids
ids = [rq(b'{"op":"ping","id":"%s"}' % b).get("id", "INVALID") for b in
       [b"a\xff\xfeb", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"]]
# an observer name and a subject with a stray byte (a process may name itself so)
h = rq(b'{"op":"register","module":"utf8","name":"bad\xffname"}').get("handle")
a = rq(b'{"op":"submit","handle":%d,"reports":[{"subject":"s\x80x","metrics":[{"name":"m","status":"h","score":1}]},'
       b'{"subject":"fine","metrics":[{"name":"m","status":"h","score":1}]}]}' % h)
h2 = rq('{"op":"register","module":"utf8","name":"caf\u00e9-\u6771\u4eac"}'.encode())["handle"]
a2 = rq(json.dumps({"op": "submit", "handle": h2, "report": {"subject": "s\u00fcbject-\U0001f600",
        "metrics": [{"name": "m", "status": "h", "score": 1}]}}, ensure_ascii=False).encode())
v = rq(json.dumps({"op": "get_view", "observer": "caf\u00e9-\u6771\u4eac",
        "subject": "s\u00fcbject-\U0001f600"}, ensure_ascii=False).encode())
vb = rq(b'{"op":"get_view","observer":"bad?name","subject":"s?x"}')
print(json.dumps({"ids": ids, "batch_ok": a.get("ok"), "submit_ok": a2.get("ok"),
                  "view_subject": v.get("view", {}).get("subject"),
                  "repaired_view": [vb.get("view", {}).get("observer"), vb.get("view", {}).get("subject")]}))
PY
out=$(python3 "$TAP_TMP/utf8.py" "$S")
diag "utf-8: $out"
jok "invalid UTF-8 (bad bytes, overlong, surrogate, > U+10FFFF): each byte becomes '?', the answer is valid UTF-8" \
	'.ids == ["a??b","??","???","????"]' "$out"
jok "a batch with a stray byte in an observer and a subject name is not lost: stored repaired" \
	'.batch_ok and .repaired_view == ["bad?name","s?x"]' "$out"
ok "... counted (requests_utf8_repaired $(stat_of requests_utf8_repaired))" test "$(stat_of requests_utf8_repaired)" -ge 6
jok "valid non-ASCII names are stored and come back intact" \
	'.submit_ok and .view_subject == "s\u00fcbject-\ud83d\ude00"' "$out"
ok "a whole dump is valid UTF-8" bash -c "'$INSITU' -s '$S' --json dump panorama | iconv -f UTF-8 -t UTF-8 >/dev/null"

# --- all clients' input buffers together: ClientMemoryMax ---
mkdir -p "$TAP_TMP/m"
printf '{"Socket": "%s", "DBFile": "%s", "ClientMemoryMax": 4}\n' "$TAP_TMP/m/sock" "$TAP_TMP/m/db" > "$TAP_TMP/m.json"
bg_start MPID "$INSITUD" -q -c "$TAP_TMP/m.json"
wait_for 20 "$INSITU" -s "$TAP_TMP/m/sock" ping || fail "insitud with ClientMemoryMax 4 starts"
out=$("$PY" - "$TAP_TMP/m/sock" <<'PY'
import json, socket, sys, time
socks, dropped = [], 0
for _ in range(12):                    # each holds ~700 KB of an unfinished line
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(5)
    try: s.sendall(b'{"op":"ping","pad":"' + b"x" * 700000)
    except OSError: pass
    socks.append(s); time.sleep(0.05)
time.sleep(1)
for s in socks:
    s.setblocking(False)
    try:
        if s.recv(1) == b"": dropped += 1
    except BlockingIOError: pass
    except OSError: dropped += 1
p = socket.socket(socket.AF_UNIX); p.connect(sys.argv[1]); f = p.makefile("rwb")
f.write(b'{"op":"stats"}\n'); f.flush(); st = json.loads(f.readline())
print(json.dumps({"dropped": dropped, "bytes": st["client_input_bytes"], "counted": st["clients_dropped_memory"]}))
PY
)
diag "12 clients x 700 KB unfinished lines under ClientMemoryMax 4 MiB: $out"
jok "the biggest hoarders are dropped and counted; the buffers stay under the bound" \
	'.dropped >= 6 and .counted >= .dropped and .bytes <= 4194304' "$out"
jok "... while a new client was answered (its stats request above)" '.bytes > 0' "$out"
ok "... and the daemon still answers" "$INSITU" -s "$TAP_TMP/m/sock" ping
kill_pid "$MPID"

# --- out of descriptors on the running daemon (prlimit --pid) ---
nfd=$(find /proc/"$PID"/fd -mindepth 1 -maxdepth 1 | wc -l)
# the soft limit only: raising it back needs no privilege (CAP_SYS_RESOURCE may be absent)
prlimit --pid "$PID" --nofile=$((nfd + 20)):
python3 "$W/hold.py" "$S" 200 6 ping > "$TAP_TMP/fdflood.out" &
fp=$!
sleep 2
t0=$(awk '{print $14+$15}' /proc/"$PID"/stat); sleep 2; t1=$(awk '{print $14+$15}' /proc/"$PID"/stat)
timeout 5 "$INSITU" -s "$S" ping >/dev/null 2>&1; prc=$?
diag "RLIMIT_NOFILE $((nfd + 20)) with 200 clients holding on: insitud used $((t1 - t0)) CPU ticks in 2 s; a new client's ping: exit $prc (124 = hung)"
is "out of fds: a new client is refused at once (exit 3), not left hanging" "$prc" 3
ok "... and insitud does not spin ($((t1 - t0)) ticks of $((2 * $(getconf CLK_TCK))) in 2 s)" test $((t1 - t0)) -lt 50
wait "$fp"; diag "flood: $(cat "$TAP_TMP/fdflood.out")"
jok "the clients that got a descriptor were answered, the others closed at once" \
	'.opened >= 190 and .answered >= 5 and .closed >= 100' "$(cat "$TAP_TMP/fdflood.out")"
prlimit --pid "$PID" --nofile=4096:
ok "limit raised again: insitud serves new clients" wait_for 10 "$INSITU" -s "$S" ping
st=$("$INSITU" -s "$S" --json stats)
diag "clients_accept_errors $(jq .clients_accept_errors <<<"$st"), clients_refused_nofd $(jq .clients_refused_nofd <<<"$st")"
jok "... the exhaustion was counted" '.clients_accept_errors >= 1 and .clients_refused_nofd >= 1' "$st"
out=$(python3 "$W/hold.py" "$S" 100 1 ping)
jok "... and 100 new clients are all answered" '.opened == 100 and .answered == 100' "$out"

# --- the same on the peer port ---
head -c32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$TAP_TMP/key"; chmod 600 "$TAP_TMP/key"
pp=$(rel_port); pq=$(rel_port)
rel_start_insitud PP "$TAP_TMP/p" -q -i a -l "127.0.0.1:$pp" -k "$TAP_TMP/key" -p "b=127.0.0.1:$pq" ||
	fail "a peer-enabled insitud starts"
nfd=$(find /proc/"$PP"/fd -mindepth 1 -maxdepth 1 | wc -l)
prlimit --pid "$PP" --nofile=$((nfd + 10)):
"$PY" - "$pp" > "$TAP_TMP/pflood.out" <<'PY' &
import resource, socket, sys, time
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
socks = []
for _ in range(60):
    try: socks.append(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2))
    except OSError: pass
time.sleep(5)
print(len(socks))
PY
pf=$!
sleep 2
t0=$(awk '{print $14+$15}' /proc/"$PP"/stat); sleep 2; t1=$(awk '{print $14+$15}' /proc/"$PP"/stat)
ok "peer port out of fds: insitud does not spin ($((t1 - t0)) ticks in 2 s)" test $((t1 - t0)) -lt 50
wait "$pf"
prlimit --pid "$PP" --nofile=4096:
pe=$("$INSITU" -s "$TAP_TMP/p/sock" --json stats | jq .peers.accept_errors)
ok "... counted (peers accept_errors $pe) and the socket API still answers" test "$pe" -ge 1
rel_no_sanitizer_reports
done_testing
