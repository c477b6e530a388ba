#!/usr/bin/env bash
# timeout: 120
# The observer under stress and at the edges of a connection's life:
#  - ring-buffer overflow: it keeps running, counts the drops, stops cleanly;
#  - a connection closed (reset) and its exact address reused: two socket ids,
#    each message on the right one, resets and closes reported;
#  - a refused connect is reported as connect_failed with ECONNREFUSED.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/observer_lib.sh"
obs_prereq
need_cmd redis-server redis-benchmark python3

# --- overflow: a 16 KiB ring read every 300 ms cannot keep up with redis-benchmark
PR=$(free_port)
bg_start REDIS redis-server --port "$PR" --bind 127.0.0.1 --save '' --appendonly no --protected-mode no
wait_for 10 redis-cli -p "$PR" ping
obs_start OVF --port "$PR" --ring-kb 16 --throttle-ms 300 --stats --json \
	|| { fail "observer attached"; done_testing; }
ok "redis-benchmark runs while the ring overflows" \
	redis-benchmark -p "$PR" -n 20000 -c 4 -t set,get -q -d 200
ok "observer still running after the flood" kill -0 "$OVF"
obs_stop OVF; is "observer stops cleanly (exit 0)" "$?" 0
stats=$(grep '^{' "$TAP_TMP/OVF.log" | tail -n1)
drops=$(jq .ringbuf_drops <<<"$stats"); got=$(jq .msgs <<<"$stats")
ok "drops counted ($drops) and some events delivered ($got)" test "$drops" -gt 0 -a "$got" -gt 0
is "every delivered record was valid" "$(jq .invalid <<<"$stats")" 0
is "dump lines = delivered records" "$(wc -l < "$TAP_TMP/OVF.json")" "$(jq .records <<<"$stats")"
ok "every dump line is valid JSON" jq -e . "$TAP_TMP/OVF.json"

# --- address reuse
PS=$(free_port); PC=$(free_port); PZ=$(free_port)
obs_start REUSE --port "$PS" --port "$PZ" || { fail "observer attached"; done_testing; }
cat > "$TAP_TMP/reuse.py" <<'PY'
import socket, struct, sys, threading
ps, pc, pz = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", ps)); srv.listen(4)
def serve():
    for _ in range(2):
        c, _ = srv.accept()
        d = c.recv(100)
        c.sendall(b"re:" + d)
        try:
            c.recv(100)      # waits for the client's reset
        except ConnectionResetError:
            pass
        c.close()
t = threading.Thread(target=serve); t.start()
for word in (b"first-conn", b"second-conn"):
    c = socket.socket(); c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    c.bind(("127.0.0.1", pc)); c.connect(("127.0.0.1", ps))
    c.sendall(word); assert c.recv(100) == b"re:" + word
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()                # RST: no TIME_WAIT, the same 4-tuple is free again
t.join()
try:
    socket.create_connection(("127.0.0.1", pz), timeout=2)
except ConnectionRefusedError:
    print("refused")
PY
ok "two connections on the same 4-tuple, then a refused connect" \
	test "$(timeout 20 python3 "$TAP_TMP/reuse.py" "$PS" "$PC" "$PZ")" = refused
sleep 0.3
obs_stop REUSE; is "observer exits 0" "$?" 0

sock_of() { q REUSE "select(.type==\"msg\" and .payload==\"$1\" and .dir==\"$2\") | .sock"; }
c1=$(sock_of first-conn send); c2=$(sock_of second-conn send)
s1=$(sock_of first-conn recv); s2=$(sock_of second-conn recv)
ok "client sockets of the two connections differ ($c1, $c2)" test -n "$c1" -a -n "$c2" -a "$c1" != "$c2"
ok "server sockets of the two connections differ ($s1, $s2)" test -n "$s1" -a -n "$s2" -a "$s1" != "$s2"
is "same 4-tuple for both connections" \
	"$(q REUSE "select(.type==\"msg\" and .dir==\"send\" and .lport==$PC) | [.laddr,.lport,.raddr,.rport]" | sort -u | wc -l)" 1
is "replies on the right sockets" \
	"$(sock_of re:first-conn recv) $(sock_of re:second-conn recv)" "$c1 $c2"
is "accept events name the server sockets" \
	"$(q REUSE "select(.type==\"conn\" and .event==\"accept\") | .sock" | tr '\n' ' ')" "$s1 $s2 "
is "a reset sent per connection (client)" \
	"$(q REUSE "select(.type==\"conn\" and .event==\"reset_sent\" and .lport==$PC)" | wc -l)" 2
is "a reset received per connection (server)" \
	"$(q REUSE "select(.type==\"conn\" and .event==\"reset_recv\" and .lport==$PS)" | wc -l)" 2
is "sock_close for each client socket" \
	"$(q REUSE "select(.type==\"conn\" and .event==\"sock_close\" and .lport==$PC) | .sock" | tr '\n' ' ')" "$c1 $c2 "
is "refused connect: connect_failed with ECONNREFUSED" \
	"$(q REUSE "select(.type==\"conn\" and .event==\"connect_failed\" and .rport==$PZ) | .err" | sort -u)" 111
done_testing
