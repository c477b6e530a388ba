#!/usr/bin/env bash
# insitud's persistence: the state after a restart (clean or kill -9) equals the state
# before, inference included; kill -9 in the middle of a stream loses no acknowledged
# report; a read-only database or a full disk gives a clear error and no corruption.
# timeout: 120
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/aggregator_lib.sh"
need_cmd python3 jq
[[ -x $INSITUD && -x $INSITU ]] || skip_all "build insitud and insitu first"

D=$TAP_TMP/p
start_insitud PID "$D" || { fail "insitud starts"; done_testing; }
S=$D/sock
snapshot() {
	req "$1" '{"op":"dump_panorama"}' '{"op":"dump_inference"}' '{"op":"list_subjects"}' '{"op":"watchlist"}' \
		'{"op":"register","module":"insitu-cli","name":"o1"}' '{"op":"register","module":"insitu-cli","name":"o3"}'
}

# a varied workload: several observers, views over the cap, pending/healthy mixes
{
	echo "me o1"
	for i in $(seq 1 14); do echo "report s$((i % 4)) cpu:h:$((60 + i)) snap:u:$i"; done
	echo "me o2"; for i in 1 2 3; do echo "report s1 cpu:p:$i"; echo "report s2 mem:m:4$i"; done
	echo "me o3"; echo "report s3 disk:dd:0 cpu:h:99"
	echo "subscribe only-watched"; echo "unsubscribe s0"
} | "$INSITU" -s "$S" >/dev/null
before=$(snapshot "$S")
ok "workload stored" test "$(jq -s '.[2].subjects|length' <<<"$before")" -eq 4

kill_pid "$PID"
start_insitud PID "$D" || fail "restart"
is "state after a clean restart equals the state before" "$(snapshot "$S")" "$before"

kill -KILL "$PID"; wait "$PID" 2>/dev/null
start_insitud PID "$D" || fail "restart after kill -9"
is "state after kill -9 and restart equals the state before" "$(snapshot "$S")" "$before"
is "schema version 2, WAL mode" "$(python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute('pragma user_version').fetchone()[0], c.execute('pragma journal_mode').fetchone()[0])" "$D/db")" "2 wal"

# --- kill -9 in the middle of a stream: every acknowledged report survives ---
python3 - "$S" "$TAP_TMP/acked" <<'PY' &
import socket, sys, json
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile('rwb')
def rq(o):
    f.write(json.dumps(o).encode() + b"\n"); f.flush()
    l = f.readline()
    if not l: raise EOFError
    return json.loads(l)
h = rq({"op": "register", "module": "stream", "name": "streamer"})["handle"]
n = 0
try:
    while True:
        batch = [{"subject": "k%d" % (n + i), "metrics": [{"name": "m", "status": "h", "score": 1}]} for i in range(50)]
        a = rq({"op": "submit", "handle": h, "reports": batch})
        if not a.get("ok"): break
        n += 50
        open(sys.argv[2], "w").write(str(n))
except Exception:
    pass
PY
streamer=$!
at_exit "kill $streamer"
wait_for 20 test -s "$TAP_TMP/acked"
sleep 1
kill -KILL "$PID"; wait "$PID" 2>/dev/null
wait "$streamer" 2>/dev/null
acked=$(cat "$TAP_TMP/acked")
diag "acknowledged before kill -9: $acked reports"
start_insitud PID "$D" || fail "restart after kill -9 mid-stream"
have=$(req "$S" '{"op":"list_subjects"}' | jq '[.subjects[].subject | select(startswith("k")) | ltrimstr("k") | tonumber | select(. < '"$acked"')] | unique | '"$acked"' - length')
ok "stream was really running ($acked acknowledged)" test "$acked" -ge 500
is "no acknowledged report lost across kill -9" "$have" 0
kill_pid "$PID"

# --- retention by count and by age: memory and database both bounded ---
printf '{"GC": {"Interval": 0.2}, "Retention": {"MaxReports": 20}}\n' > "$TAP_TMP/ret.json"
R=$TAP_TMP/r
start_insitud RPID "$R" -c "$TAP_TMP/ret.json" || fail "insitud with retention starts"
for i in $(seq 1 50); do echo "report r$i m:h:$i"; done | "$INSITU" -s "$R/sock" --as o >/dev/null
ok "retention by count keeps the newest 20 observations" wait_for 5 \
	bash -c "[[ \$('$INSITU' -s '$R/sock' --json stats | jq .observations) == 20 ]]"
is "... the oldest went first" "$("$INSITU" -s "$R/sock" get inference r30 >/dev/null 2>&1; echo $?)$("$INSITU" -s "$R/sock" get inference r31 >/dev/null; echo $?)" "10"
kill_pid "$RPID"
start_insitud RPID "$R" -c "$TAP_TMP/ret.json" || fail "restart with retention"
is "... and after a restart too (rows deleted)" "$("$INSITU" -s "$R/sock" --json stats | jq .observations)" 20
kill_pid "$RPID"
printf '{"GC": {"Interval": 0.2}, "Retention": {"MaxAgeSeconds": 1}}\n' > "$TAP_TMP/age.json"
start_insitud RPID "$R" -c "$TAP_TMP/age.json" || fail "insitud with retention by age starts"
ok "retention by age empties the store of old observations" wait_for 5 \
	bash -c "[[ \$('$INSITU' -s '$R/sock' --json stats | jq .observations) == 0 ]]"
kill_pid "$RPID"

# --- read-only database: a clear error, nothing touched ---
need_ro() { ((EUID == 0)); }
if need_ro; then
	RO=$TAP_TMP/ro; mkdir -p "$RO"
	mount -t tmpfs -o size=8m tmpfs "$RO" && at_exit "umount -l '$RO'"
	cp "$D/db" "$RO/db"
	mount -o remount,ro "$RO"
	sum=$(md5sum < "$RO/db")
	out=$("$INSITUD" -s "$TAP_TMP/ro.sock" -d "$RO/db" 2>&1); rc=$?
	ok "read-only database: insitud refuses to start" test "$rc" -ne 0
	ok "... saying why" grep -qi "read-only\|readonly" <<<"$out"
	diag "$out"
	is "... and the file is untouched" "$(md5sum < "$RO/db")" "$sum"

	# --- disk full: writes answered "storage", daemon alive, nothing acknowledged lost ---
	F=$TAP_TMP/full; mkdir -p "$F"
	mount -t tmpfs -o size=1m tmpfs "$F" && at_exit "umount -l '$F'"
	start_insitud FPID "$F" || fail "insitud on a tiny file system"
	out=$(python3 - "$F/sock" <<'PY'
import socket, sys, json
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile('rwb')
def rq(o):
    f.write(json.dumps(o).encode() + b"\n"); f.flush(); return json.loads(f.readline())
h = rq({"op": "register", "module": "m", "name": "filler"})["handle"]
acked, err = 0, None
for b in range(400):
    batch = [{"subject": "f%d" % (acked + i), "metrics": [{"name": "padding_metric_%d" % j, "status": "h", "score": j} for j in range(16)]} for i in range(100)]
    a = rq({"op": "submit", "handle": h, "reports": batch})
    if not a["ok"]:
        err = a; break
    acked += 100
print(json.dumps({"acked": acked, "err": err, "ping": rq({"op": "ping"})["ok"]}))
PY
)
	diag "$(jq -c . <<<"$out" | cut -c1-300)"
	is "disk full: the write is refused with a storage error" "$(jq -r .err.error <<<"$out")" storage
	is "... insitud keeps answering" "$(jq -r .ping <<<"$out")" true
	acked=$(jq .acked <<<"$out")
	ok "... and counts it" test "$("$INSITU" -s "$F/sock" --json stats | jq .storage_errors)" -ge 1
	is "... memory holds exactly what was committed" "$("$INSITU" -s "$F/sock" --json list subjects | jq '.subjects|length')" "$acked"
	kill_pid "$FPID"
	mount -o remount,size=64m "$F"
	start_insitud FPID "$F" || fail "restart after disk full"
	is "after restart every acknowledged report is there" "$("$INSITU" -s "$F/sock" --json list subjects | jq '.subjects|length')" "$acked"
	ok "database integrity ok" bash -c "python3 -c \"import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('pragma integrity_check').fetchone()[0])\" '$F/db' | grep -qx ok"
else
	skip "read-only database" "needs root (mount)"
	skip "disk full" "needs root (mount)"
fi
done_testing
