#!/usr/bin/env bash
# Peer frame compatibility (docs/protocol.md, "Frame types"): a frame of a type this
# insitud does not know — what a newer peer may send — is skipped and counted when it
# is authenticated and in sequence; the connection stays up (a SEGQ after it is still
# answered).  The same frame with a wrong MAC still drops the connection.  The peer
# here is a small Python program speaking the frame format (frame.h) over real TCP.
# timeout: 60
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/aggregator_lib.sh"
. "$(dirname "$0")/segments_lib.sh"
need_cmd python3 jq
[[ -x $INSITUD && -x $INSITU ]] || skip_all "build insitud and insitu first"

K=$TAP_TMP/key; peer_key "$K"
peer_ports 2; pb=${PORTS[0]} pa=${PORTS[1]}
# b knows a peer "a" (nobody listens at its address: b's own outgoing attempts fail
# quietly); our program connects to b as "a".
start_insitud PB "$TAP_TMP/b" -i b -l "127.0.0.1:$pb" -k "$K" -p "a=127.0.0.1:$pa" || { fail "insitud b starts"; done_testing; }
pstat() { "$INSITU" -s "$TAP_TMP/b/sock" --json stats | jq -c ".peers | $1"; }

# peer.py PORT KEYFILE MODE: handshake as "a", send a frame of type 42 (MODE good: a
# right MAC; bad: a flipped MAC byte), then a SEGQ, then a PING; prints what came back.
cat >"$TAP_TMP/peer.py" <<'PY'
import hashlib, hmac, json, os, socket, struct, sys
port, keyfile, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
key = bytes.fromhex(open(keyfile).read().strip())
s = socket.create_connection(("127.0.0.1", port), timeout=5)
buf = b""
def frame(typ, seq, payload, challenge):
    body = struct.pack(">IBBHQ", 16 + len(payload) + 32, 1, typ, 0, seq) + payload
    return body + hmac.new(key, challenge + body, hashlib.sha256).digest()
def read_frame():
    global buf
    while True:
        if len(buf) >= 4:
            n = struct.unpack(">I", buf[:4])[0]
            if len(buf) >= n:
                f, buf = buf[:n], buf[n:]
                return f[5], f[16:n - 32]
        try:
            d = s.recv(65536)
        except socket.timeout:
            return None, b"timeout"
        if not d:
            return None, b"closed"
        buf += d
typ, hello = read_frame()                       # b's HELLO: its nonce is our challenge
assert typ == 1, (typ, hello)
nonce = bytes.fromhex(json.loads(hello)["nonce"])
mine = os.urandom(16).hex()
s.sendall(frame(1, 0, json.dumps({"id": "a", "nonce": mine}).encode(), bytes(16)))
unknown = bytearray(frame(42, 1, b'{"from":"the future","blob":"\x01\xff not json either', nonce))
if mode == "bad":
    unknown[-1] ^= 1
s.sendall(bytes(unknown) + frame(8, 2, b'{"q":7,"keys":[]}', nonce))   # then a SEGQ
typ, what = read_frame()
print("segr %s" % json.loads(what)["q"] if typ == 9 else "type %s: %s" % (typ, what.decode(errors="replace")))
if typ == 9:
    s.sendall(frame(6, 3, b"{}", nonce))        # a PING: its PONG must come at once
    typ, what = read_frame()
    print("pong" if typ == 7 else "type %s: %s" % (typ, what.decode(errors="replace")))
PY

ok "b is listening" wait_for 10 bash -c "ss -Hltn '( sport = :$pb )' | grep -q ."
out=$(python3 "$TAP_TMP/peer.py" "$pb" "$K" good 2>&1)
is "an authenticated frame of unknown type 42 is skipped: the SEGQ after it is answered" "$(head -1 <<<"$out")" "segr 7"
is "a PING is answered at once (PONG not left queued on an idle connection)" "$(tail -n +2 <<<"$out")" pong
is "counted as frames_unknown, nothing rejected" "$(pstat '[.frames_unknown, .frames_rejected, .auth_failures, .malformed]')" '[1,0,0,0]'
ok "b is still serving" "$INSITU" -s "$TAP_TMP/b/sock" ping

out=$(python3 "$TAP_TMP/peer.py" "$pb" "$K" bad 2>&1)
is "the same frame with a wrong MAC: connection dropped, no SEGR" "$out" "type None: closed"
is "counted as an authentication failure, not as unknown" "$(pstat '[.frames_unknown, .frames_rejected, .auth_failures]')" '[1,1,1]'
done_testing
