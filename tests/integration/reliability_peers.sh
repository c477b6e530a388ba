#!/usr/bin/env bash
# Peer authentication end to end (issue 9): a man in the middle between two real
# insitud instances (a frame-aware TCP proxy) records, tampers with and duplicates the
# frames A sends to B:
#  - a byte flipped in a REPORTS frame: B rejects it (auth failure), drops the
#    connection, stores nothing of it; A re-sends through a clean connection and B
#    gets the report as A sent it;
#  - a REPORTS frame sent twice on one connection: the copy is rejected (sequence); the
#    dropped connection makes A re-send, and B skips what it already committed (the
#    batch's epoch and sequence numbers): the report is stored once;
#  - B's RESULTS swallowed and the connection cut after B committed: A re-sends, B
#    skips the reports it has (duplicates_skipped), the report is stored once;
#  - the whole recorded A->B stream replayed on a new connection to a fresh B with the
#    same key and id: nothing stored (the receiver's nonce differs), counted.
# timeout: 120
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/aggregator_lib.sh"
. "$(dirname "$0")/reliability_lib.sh"
need_cmd python3 jq
[[ -x $INSITUD && -x $INSITU ]] || skip_all "build insitud and insitu first"

head -c32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$TAP_TMP/key"
ports=()
newport() { local p; while :; do p=$(rel_port); [[ " ${ports[*]} " == *" $p "* ]] || break; done; ports+=("$p"); echo "$p"; }
pA=$(newport); pB=$(newport); pX=$(newport); pB2=$(newport)

# The proxy: listens on pX, forwards to B.  A->B is cut into frames (u32 big-endian
# length of the whole frame; type at byte 5); each connection's frames are recorded to
# rec.N; MODE (a file) says what to do to the next REPORTS frame: pass, tamper, dup.
cat > "$TAP_TMP/mitm.py" <<'PY'
import os, socket, struct, sys, threading
lport, tport, d = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", lport)); srv.listen(16)
nconn = 0
def log(m):
    with open(os.path.join(d, "mitm.events"), "a") as f: f.write(m + "\n")
def mode():
    try: return open(os.path.join(d, "MODE")).read().strip()
    except OSError: return "pass"
def down(b, a, n):
    buf = b""
    try:
        while True:
            x = b.recv(65536)
            if not x: break
            buf += x
            while len(buf) >= 4:
                ln = struct.unpack("!I", buf[:4])[0]
                if len(buf) < ln: break
                fr, buf = buf[:ln], buf[ln:]
                if fr[5] == 3 and mode() == "loseresults":
                    open(os.path.join(d, "MODE"), "w").write("pass")
                    log("lost results conn %d" % n)
                    raise OSError("cut")      # B committed; A never hears it
                a.sendall(fr)
    except OSError: pass
    for s in (a, b):
        try: s.shutdown(socket.SHUT_RDWR)
        except OSError: pass
def up(a, b, n):
    buf = b""
    rec = open(os.path.join(d, "rec.%d" % n), "wb")
    try:
        while True:
            x = a.recv(65536)
            if not x: break
            buf += x
            while len(buf) >= 4:
                ln = struct.unpack("!I", buf[:4])[0]
                if len(buf) < ln: break
                fr, buf = bytearray(buf[:ln]), buf[ln:]
                rec.write(fr); rec.flush()
                m = mode()
                if fr[5] == 2 and m == "tamper":
                    i = 16 + (ln - 48) // 2
                    fr[i] ^= 0x01
                    open(os.path.join(d, "MODE"), "w").write("pass")
                    log("tampered conn %d byte %d" % (n, i))
                elif fr[5] == 2 and m == "dup":
                    b.sendall(fr)
                    open(os.path.join(d, "MODE"), "w").write("pass")
                    log("duplicated conn %d" % n)
                b.sendall(fr)
    except OSError: pass
    for s in (a, b):
        try: s.shutdown(socket.SHUT_RDWR)
        except OSError: pass
while True:
    a, _ = srv.accept()
    nconn += 1
    try: b = socket.create_connection(("127.0.0.1", tport))
    except OSError:
        a.close(); continue
    log("conn %d" % nconn)
    threading.Thread(target=up, args=(a, b, nconn), daemon=True).start()
    threading.Thread(target=down, args=(b, a, nconn), daemon=True).start()
PY
echo pass > "$TAP_TMP/MODE"
bg_start MITM python3 "$TAP_TMP/mitm.py" "$pX" "$pB" "$TAP_TMP"
wait_for 10 bash -c "ss -Hltn 'sport = :$pX' | grep -q ."
rel_start_insitud PB "$TAP_TMP/B" -q -i b -l "127.0.0.1:$pB" -k "$TAP_TMP/key" -p "a=127.0.0.1:$pA" --peer-timeout 1 || fail "B starts"
# A reaches b only through the proxy
rel_start_insitud PA "$TAP_TMP/A" -q -i a -l "127.0.0.1:$pA" -k "$TAP_TMP/key" -p "b=127.0.0.1:$pX" --peer-timeout 1 || fail "A starts"
a() { "$INSITU" -s "$TAP_TMP/A/sock" "$@"; }
b() { "$INSITU" -s "$TAP_TMP/B/sock" "$@"; }
bstat() { b --json stats | jq ".peers.$1"; }
bstat_gt() { (($(bstat "$1") > $2)); }   # re-read at every try of wait_for

a --as oa report clean m:h:90 >/dev/null
ok "through the proxy, untouched: the report arrives" wait_for 20 b get view oa clean

# --- tamper ---
af0=$(bstat auth_failures)
echo tamper > "$TAP_TMP/MODE"
a --as oa report tampered m:u:17 >/dev/null
ok "the proxy flipped a byte of a REPORTS frame" wait_for 10 grep -q tampered "$TAP_TMP/mitm.events"
ok "B rejects it as an authentication failure" wait_for 10 bstat_gt auth_failures "$af0"
ok "A re-sends on a new connection and B gets the report" wait_for 20 b get view oa tampered
is "... exactly as A sent it (one observation, UNHEALTHY 17)" \
	"$(b --json get view oa tampered | jq -c '[.view.observations | length, .[0].metrics[0].status, .[0].metrics[0].score]')" '[1,"UNHEALTHY",17]'

# --- duplicate within a connection ---
fr0=$(bstat frames_rejected)
echo dup > "$TAP_TMP/MODE"
a --as oa report duplicated m:m:44 >/dev/null
ok "the proxy sent a REPORTS frame twice" wait_for 10 grep -q duplicated "$TAP_TMP/mitm.events"
ok "B rejects the copy (out of sequence)" wait_for 10 bstat_gt frames_rejected "$fr0"
ok "the report itself arrives" wait_for 20 b get view oa duplicated
sleep 1
# B stored the original, then dropped the connection on the copy before its RESULTS
# went out, so A re-sends the batch; its reports carry A's epoch and sequence numbers,
# which B has committed: the re-sent copy is skipped and counted, not stored again.
dupn=$(b --json get view oa duplicated | jq '.view.observations | length')
dups=$(b --json peers | jq '[.peers[] | select(.id == "a") | .duplicates_skipped] | add // 0')
diag "observations of the duplicated report at B: $dupn; reports B skipped as already stored: $dups"
ok "... as A sent it, exactly once (the copy is rejected, the re-sent batch de-duplicated)" \
	bash -c "'$INSITU' -s '$TAP_TMP/B/sock' --json get view oa duplicated | jq -e '(.view.observations | length) == 1 and all(.view.observations[]; .metrics[0].status == \"MAYBE_UNHEALTHY\" and .metrics[0].score == 44)'"

# --- B's RESULTS lost after its commit (the connection cut): A re-sends, B skips ---
d0=$(b --json peers | jq '[.peers[] | select(.id == "a") | .duplicates_skipped] | add // 0')
echo loseresults > "$TAP_TMP/MODE"
a --as oa report resultslost m:m:33 >/dev/null
ok "the proxy swallowed B's RESULTS and cut the connection" wait_for 10 grep -q "lost results" "$TAP_TMP/mitm.events"
ok "the report arrives" wait_for 20 b get view oa resultslost
dskip() { (($(b --json peers | jq '[.peers[] | select(.id == "a") | .duplicates_skipped] | add // 0') > d0)); }
ok "A re-sent the batch and B skipped what it had committed (duplicates_skipped grew)" wait_for 20 dskip
is "... so B holds the report once" "$(b --json get view oa resultslost | jq '.view.observations | length')" 1

# --- replay on another connection, to a fresh B with the same key and id ---
rel_start_insitud PB2 "$TAP_TMP/B2" -q -i b -l "127.0.0.1:$pB2" -k "$TAP_TMP/key" -p "a=127.0.0.1:$(newport)" --peer-timeout 5 || fail "B2 starts"
recs=$(ls "$TAP_TMP"/rec.* | wc -l)
out=$(python3 - "$pB2" "$TAP_TMP"/rec.* <<'PY'
import socket, struct, sys, time
port, files = int(sys.argv[1]), sys.argv[2:]
sent = 0
for fn in files:
    data = open(fn, "rb").read()
    if not data: continue
    s = socket.create_connection(("127.0.0.1", port)); s.settimeout(3)
    try:
        s.recv(65536)                 # B2's HELLO (its fresh nonce)
        s.sendall(data); sent += 1
        while s.recv(65536): pass     # until B2 drops us
    except OSError: pass
    s.close()
print(sent)
PY
)
b2() { "$INSITU" -s "$TAP_TMP/B2/sock" "$@"; }
diag "replayed $out recorded A->B connection(s) of $recs; B2 peers: $(b2 --json stats | jq -c .peers)"
ok "replayed connections were sent ($out)" test "$out" -ge 1
is "B2 stored nothing from the replays" "$(b2 --json list subjects | jq '.subjects | length')" 0
ok "... and counted them as authentication failures" test "$(b2 --json stats | jq .peers.auth_failures)" -ge 1
ok "A and B still work together" bash -c "'$INSITU' -s '$TAP_TMP/A/sock' --as oa report final m:h:99 >/dev/null && sleep 0.1"
ok "... final report arrives" wait_for 20 b get view oa final
rel_no_sanitizer_reports
done_testing
