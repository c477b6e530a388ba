#!/usr/bin/env bash
# Faults (issue 9), beyond what aggregator_persist.sh and aggregator_peers.sh check
# once each:
#  - insitud kill -9 three times in the middle of streams from several clients that
#    reconnect by themselves: no acknowledged report lost, database sound each time;
#    insitu-logtail -f reconnects by itself and delivers what it kept meanwhile; the
#    observer's reporter (--report) reconnects and delivers what it queued meanwhile;
#  - insitu-observer kill -9 while redis-benchmark runs through it: every BPF program
#    and link it held is gone, the benchmark completes, redis keeps answering, a new
#    observer attaches;
#  - a peer aggregator flapping (killed and restarted 5 times) while the other keeps
#    accepting: the other never refuses a report and the peer finally has them all;
#  - the database's file system full while insitud runs, then space given back:
#    clear "storage" error, reads still served, writes accepted again WITHOUT a
#    restart, sqlite3's integrity_check ok; a read-only database refused, then the
#    same files accepted once writable, with their state.
# timeout: 300
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/aggregator_lib.sh"
. "$(dirname "$0")/reliability_lib.sh"
need_root
need_cmd python3 jq sqlite3 bpftool redis-server redis-benchmark redis-cli
[[ -x $INSITUD && -x $INSITU && -x $OBSBIN && -x $LOGTAIL ]] || skip_all "build insitud, insitu, insitu-observer, insitu-logtail first"

# --- 1. insitud kill -9 mid-stream, three times, three reconnecting clients ---------
D=$TAP_TMP/d
rel_start_insitud PID "$D" -q || { fail "insitud starts"; done_testing; }
S=$D/sock
names=(s1 s2 s3)
spids=()
for n in "${names[@]}"; do
	rel_streamer "$S" "$TAP_TMP" "$n" 200 >/dev/null 2>&1 &
	spids+=($!); at_exit "kill ${spids[-1]}"
done

# logtail following a file, reporting every "FAIL <subject>" line
cat > "$TAP_TMP/rules.json" <<'EOF'
{ "line": "^(?<content>.*)$", "staleness_s": 0, "merge_window_ms": 0,
  "rules": [ { "name": "fail", "when": { "field": "content", "matches": "^FAIL (?<who>\\S+)" },
               "report": { "metric": "log", "status": "UNHEALTHY", "score": 10,
                           "subject": { "field": "who" } } } ] }
EOF
: > "$TAP_TMP/app.log"
bg_start LT "$LOGTAIL" -r "$TAP_TMP/rules.json" -f --interval 50 -o lt -s "$S" --stats --json "$TAP_TMP/app.log"
ok "logtail follows and reports" wait_for 20 bash -c "echo 'FAIL lt-before' >> '$TAP_TMP/app.log'; sleep 0.2; '$INSITU' -s '$S' get report lt-before"

total_acked() { local t=0 n; for n in "${names[@]}"; do t=$((t + $(rel_acked "$TAP_TMP" "$n"))); done; echo $t; }
lost=0 cycles_ok=0
for cycle in 1 2 3; do
	start=$(total_acked)
	wait_for 30 bash -c "(( \$(cat $TAP_TMP/s{1,2,3}.acked 2>/dev/null | awk '{s+=\$1} END {print s+0}') >= $start + 300 ))"
	kill -KILL "$PID"; wait "$PID" 2>/dev/null
	sleep 0.3          # clients notice and start retrying
	declare -A at_kill=()
	for n in "${names[@]}"; do at_kill[$n]=$(rel_acked "$TAP_TMP" "$n"); done
	echo "FAIL lt-down-$cycle" >> "$TAP_TMP/app.log"    # reported while insitud is away
	rel_start_insitud PID "$D" -q || { fail "insitud restarts after kill -9 #$cycle"; break; }
	for n in "${names[@]}"; do
		m=$(rel_missing "$S" "$n" "${at_kill[$n]}")
		((m == 0)) || { lost=$((lost + m)); diag "cycle $cycle: $n lost $m of ${at_kill[$n]} acknowledged"; }
	done
	[[ $(rel_integrity "$D/db") == ok ]] && cycles_ok=$((cycles_ok + 1))
	diag "kill -9 #$cycle: $(total_acked) reports acknowledged so far"
done
ok "streams were really running (>= 900 acknowledged over 3 kills)" test "$(total_acked)" -ge 900
is "no acknowledged report lost over 3 kill -9" "$lost" 0
is "integrity_check ok after each kill -9" "$cycles_ok" 3
# every client goes on after the last restart, having reconnected by itself (a client
# still retrying when the next kill came reconnects once for both)
progressed() {
	local n
	for n in "${names[@]}"; do (($(rel_acked "$TAP_TMP" "$n") > ${at_kill[$n]})) || return 1; done
}
ok "every client reconnected by itself and goes on" wait_for 30 progressed
reconn=$(awk '{s+=$2} END {print s+0}' "$TAP_TMP"/s{1,2,3}.acked)
ok "... each at least once, 3+ in all (total $reconn)" \
	bash -c "awk '\$2 < 1 { bad = 1 } END { exit bad }' $TAP_TMP/s1.acked $TAP_TMP/s2.acked $TAP_TMP/s3.acked && (($reconn >= 3))"
ok "logtail reconnected by itself" wait_for 20 bash -c "echo 'FAIL lt-after' >> '$TAP_TMP/app.log'; sleep 0.3; '$INSITU' -s '$S' get report lt-after"
kill -INT "$LT"; wait "$LT" 2>/dev/null
lts=$(grep '^{' "$TAP_TMP/LT.log" | tail -n1)
diag "logtail: $lts"
# reports made while insitud was away wait in logtail's backlog and arrive after it
ltd=$(jq '.. | .dropped? // empty' <<<"$lts" | head -n1)
delivered() { local c; for c in 1 2 3; do "$INSITU" -s "$S" get report "lt-down-$c" >/dev/null || return 1; done; }
ok "... and delivered the reports made while insitud was down (lt-down-1..3)" delivered
is "... none dropped" "$ltd" 0
touch "$TAP_TMP/stop"; for p in "${spids[@]}"; do wait "$p" 2>/dev/null; done
final=$(total_acked)
m=0; for n in "${names[@]}"; do m=$((m + $(rel_missing "$S" "$n" "$(rel_acked "$TAP_TMP" "$n")"))); done
is "every one of the $final acknowledged reports is in insitud at the end" "$m" 0
kill_pid "$PID"

# --- 1b. the observer's reporter across insitud kill -9 --------------------------------
# redis on its standard port in a namespace (so the shipped semantics apply), traffic
# from redis-benchmark; insitud is killed while traffic flows, the traffic stops while
# it is down (so every report made then waits in the reporter's backlog), insitud
# restarts: the reporter must reconnect by itself and deliver everything it queued.
if grep -q -- '--report' <<<"$("$OBSBIN" --help 2>&1)"; then
	netns_add rep
	R=$TAP_TMP/r
	rel_start_insitud RPID "$R" -q || fail "insitud for the reporter starts"
	bg_start RREDIS ip netns exec "$NS_rep" redis-server --port 6379 --bind 127.0.0.1 --save '' --appendonly no
	wait_for 10 ip netns exec "$NS_rep" redis-cli ping
	bg_start ROBS "$OBSBIN" --report --socket "$R/sock" --netns "/run/netns/$NS_rep" --window 200 --stats --json
	wait_for 30 grep -q attached "$TAP_TMP/ROBS.log" || fail "reporting observer attached"
	rm -f "$TAP_TMP/rstop"
	( while [[ ! -e $TAP_TMP/rstop ]]; do ip netns exec "$NS_rep" redis-benchmark -n 300 -c 2 -t get -q >/dev/null 2>&1; done ) &
	traffic=$!; at_exit "touch '$TAP_TMP/rstop'; kill $traffic"
	ok "the observer's reports reach insitud" wait_for 20 bash -c "[[ \$('$INSITU' -s '$R/sock' --json stats | jq .reports_local_accepted) -ge 3 ]]"
	kill -KILL "$RPID"; wait "$RPID" 2>/dev/null
	sleep 1.5
	touch "$TAP_TMP/rstop"; wait "$traffic" 2>/dev/null
	sleep 1      # the last windows close while insitud is away
	rel_start_insitud RPID "$R" -q || fail "insitud restarts"
	ok "the reporter reconnects by itself and delivers its backlog" wait_for 20 \
		bash -c "[[ \$('$INSITU' -s '$R/sock' --json stats | jq .reports_local_accepted) -ge 1 ]]"
	sleep 1
	kill -INT "$ROBS"; wait "$ROBS"
	rs=$(grep '"reporter"' "$TAP_TMP/ROBS.log" | tail -n1 | jq -c .reporter)
	diag "reporter: $rs"
	ok "... every report it made was acknowledged (queued = sent, none dropped, 2+ connects)" \
		jq -e '.queued > 0 and .sent == .queued and .dropped == 0 and .backlog == 0 and .connects >= 2' <<<"$rs"
	is "integrity_check ok" "$(rel_integrity "$R/db")" ok
	kill_pid "$RPID"
else
	skip "observer reconnects its reporter after insitud kill -9" "insitu-observer has no --report yet"
fi

# --- 2. insitu-observer kill -9 under load ------------------------------------------
PR=$(rel_port)
bg_start REDIS redis-server --port "$PR" --bind 127.0.0.1 --save '' --appendonly no --protected-mode no
wait_for 10 redis-cli -p "$PR" ping
bg_start OBS "$OBSBIN" --port "$PR" --dump -o /dev/null --stats
if wait_for 30 grep -q attached "$TAP_TMP/OBS.log"; then
	held=$(bpf_ids_of "$OBS")
	diag "observer holds: $(tr '\n' ' ' <<<"$held")"
	ok "observer holds BPF programs and links" bash -c "grep -q '^prog ' <<<'$held' && grep -q '^link ' <<<'$held'"
	redis-benchmark -p "$PR" -n 60000 -c 8 -t set,get -q > "$TAP_TMP/bench.out" 2>&1 &
	bench=$!
	sleep 1.5
	kill -KILL "$OBS"; wait "$OBS" 2>/dev/null
	wait "$bench"; brc=$?
	is "redis-benchmark completes although the observer died under it" "$brc" 0
	ok "... with its figures" grep -q 'requests per second' "$TAP_TMP/bench.out"
	is "redis keeps answering" "$(redis-cli -p "$PR" ping)" PONG
	# closing the last fd detaches a link; freeing the program is deferred a little
	ok "no BPF program or link of the killed observer stays" wait_for 10 \
		bash -c "! comm -12 <(echo '$held') <(bpftool -j prog list | jq -r '.[] | \"prog \(.id)\"'; bpftool -j link list | jq -r '.[] | \"link \(.id)\"' | sort -u) | grep -q ."
	bg_start OBS2 "$OBSBIN" --port "$PR" --duration 30 --stats --json
	ok "a new observer attaches afterwards" wait_for 30 grep -q attached "$TAP_TMP/OBS2.log"
	redis-benchmark -p "$PR" -n 2000 -c 2 -t ping -q >/dev/null 2>&1
	kill -INT "$OBS2"; wait "$OBS2"; is "... and captures, then exits 0" "$?" 0
	ok "... having seen redis traffic" test "$(grep '^{' "$TAP_TMP/OBS2.log" | tail -n1 | jq .msg_events)" -gt 0
else
	fail "observer attached"; diag "$(tail -n 5 "$TAP_TMP/OBS.log")"
fi

# --- 3. a peer flapping -------------------------------------------------------------
head -c32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$TAP_TMP/key"
pA=$(rel_port); pB=$(rel_port); while [[ $pB == "$pA" ]]; do pB=$(rel_port); done
A_ARGS=(-q -i a -l "127.0.0.1:$pA" -k "$TAP_TMP/key" -p "b=127.0.0.1:$pB" --peer-timeout 1)
B_ARGS=(-q -i b -l "127.0.0.1:$pB" -k "$TAP_TMP/key" -p "a=127.0.0.1:$pA" --peer-timeout 1)
rel_start_insitud PA "$TAP_TMP/A" "${A_ARGS[@]}" || fail "A starts"
rel_start_insitud PB "$TAP_TMP/B" "${B_ARGS[@]}" || fail "B starts"
rm -f "$TAP_TMP/stop"
# ~2,000 reports/s at most: while B is down they wait in A's queue, which must not
# overflow for the test to expect all of them at B
rel_streamer "$TAP_TMP/A/sock" "$TAP_TMP" fl 200 0.01 >/dev/null 2>&1 &
fl=$!; at_exit "kill $fl"
flaps=0
for i in 1 2 3 4 5; do
	sleep 1
	if ((i % 2)); then kill -KILL "$PB"; else kill -TERM "$PB"; fi
	wait "$PB" 2>/dev/null
	sleep 0.5
	rel_start_insitud PB "$TAP_TMP/B" "${B_ARGS[@]}" && flaps=$((flaps + 1))
done
sleep 1
touch "$TAP_TMP/stop"; wait "$fl" 2>/dev/null
is "B flapped 5 times (kill -9 and TERM alternately)" "$flaps" 5
n=$(rel_acked "$TAP_TMP" fl)
read -r _ rc < "$TAP_TMP/fl.acked"
ok "A kept accepting all along ($n reports, client reconnects: $rc)" test "$n" -ge 100 -a "$rc" -eq 0
is "A has every report it acknowledged" "$(rel_missing "$TAP_TMP/A/sock" fl "$n")" 0
ovf=$("$INSITU" -s "$TAP_TMP/A/sock" --json peers | jq '.peers[0].dropped_overflow')
is "A's queue for b never overflowed" "$ovf" 0
ok "B finally has every one of them (queued at A, re-sent)" wait_for 30 \
	bash -c "[[ \$('$INSITU' -s '$TAP_TMP/B/sock' --json list subjects | jq '[.subjects[].subject | select(startswith(\"fl-\"))] | length') -ge $n ]]"
diag "A's view of b: $("$INSITU" -s "$TAP_TMP/A/sock" --json peers | jq -c '.peers[0]')"
ok "A answers pings after the flapping" "$INSITU" -s "$TAP_TMP/A/sock" ping
kill_pid "$PA"; kill_pid "$PB"

# --- 4. disk full while running, space returns; read-only then writable -------------
F=$TAP_TMP/full; mkdir -p "$F"
if mount -t tmpfs -o size=1m tmpfs "$F"; then
	at_exit "umount -l '$F'"
	rel_start_insitud FPID "$F" -q || fail "insitud on a 1 MiB file system"
	out=$(python3 - "$F/sock" <<'PY'
import socket, sys, json
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile('rwb')
def rq(o):
    f.write(json.dumps(o).encode() + b"\n"); f.flush(); return json.loads(f.readline())
h = rq({"op": "register", "module": "m", "name": "filler"})["handle"]
acked, err = 0, None
for b in range(400):
    batch = [{"subject": "f-%d" % (acked + i), "metrics": [{"name": "padding_metric_%d" % j, "status": "h", "score": j} for j in range(16)]} for i in range(100)]
    a = rq({"op": "submit", "handle": h, "reports": batch})
    if not a["ok"]:
        err = a; break
    acked += 100
# then single small reports until even those are refused: the disk is really full
one = lambda i: {"op": "submit", "handle": h, "report": {"subject": "f-%d" % i, "metrics": [{"name": "m", "status": "h", "score": 1}]}}
for i in range(5000):
    a = rq(one(acked))
    if not a["ok"]:
        break
    acked += 1
print(json.dumps({"acked": acked, "err": err, "status": rq({"op": "status"})["ok"]}))
PY
)
	acked=$(jq .acked <<<"$out")
	diag "filled after $acked reports: $(jq -c .err <<<"$out")"
	is "disk full: writes refused with a clear storage error" "$(jq -r .err.error <<<"$out")" storage
	is "... reads still served" "$(jq -r .status <<<"$out")" true
	cliout=$("$INSITU" -s "$F/sock" --as f-x report "f-$acked" m:h:1 2>&1); rc=$?
	diag "CLI on a full disk: $cliout"
	is "... the CLI says so and fails (exit 1)" "$rc:$(grep -c storage <<<"$cliout")" "1:1"
	is "... integrity_check ok while full" "$(rel_integrity "$F/db")" ok
	mount -o remount,size=64m "$F"
	ok "space returns: writes accepted again without a restart" wait_for 10 "$INSITU" -s "$F/sock" --as o report after-full m:h:90
	is "... every acknowledged report still there" "$(rel_missing "$F/sock" f "$acked")" 0
	ok "... the daemon never restarted" kill -0 "$FPID"
	ok "... storage_errors counted" test "$("$INSITU" -s "$F/sock" --json stats | jq .storage_errors)" -ge 1
	kill_pid "$FPID"
	is "integrity_check ok after recovery" "$(rel_integrity "$F/db")" ok
	# read-only: refused at start with a reason; writable again: same state served
	mount -o remount,ro "$F"
	out=$("$INSITUD" -q -s "$TAP_TMP/ro.sock" -d "$F/db" 2>&1); rc=$?
	ok "read-only database refused at start ($out)" test "$rc" -ne 0
	mount -o remount,rw "$F"
	rel_start_insitud FPID "$F" -q || fail "insitud starts once writable"
	is "writable again: the state is intact" "$(rel_missing "$F/sock" f "$acked")" 0
	ok "... and new writes are accepted" "$INSITU" -s "$F/sock" --as o report after-ro m:h:90
	kill_pid "$FPID"
	is "integrity_check ok at the end" "$(rel_integrity "$F/db")" ok
else
	skip "disk full and read-only" "cannot mount a tmpfs"
fi
rel_no_sanitizer_reports
done_testing
