#!/usr/bin/env bash
# insitud's socket API and the insitu CLI: every example of the Panorama reference,
# registration, the view cap, invalid input (nothing sent), misbehaving clients,
# garbage collection, git-style dispatch and mkconfig.
# timeout: 150
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/aggregator_lib.sh"
need_cmd python3 jq
[[ -x $INSITUD && -x $INSITU ]] || skip_all "build insitud and insitu first"

D=$TAP_TMP/a
start_insitud PID "$D" || { fail "insitud starts"; done_testing; }
export INSITUD_SOCKET=$D/sock
cli() { "$INSITU" "$@"; }
infer() { cli --json get inference "$1" | jq -c "[.inference.metrics[] | select(.name==\"$2\") | .status, .score]"; }

# --- the reference's examples, through the CLI ---
cli --as o1 report ex1 cpu:h:100 >/dev/null; cli --as o1 report ex1 cpu:h:90 >/dev/null
cli --as o1 report ex1 cpu:h:70 >/dev/null
is "cpu H100,H90,H70 -> HEALTHY 80" "$(infer ex1 cpu)" '["HEALTHY",80]'
for s in h:80 u:30 u:10; do cli --as o1 report ex2 "cpu:$s" >/dev/null; done
is "cpu H80,U30,U10 -> UNHEALTHY 20" "$(infer ex2 cpu)" '["UNHEALTHY",20]'
for s in p:50 h:90; do cli --as o1 report ex3 "rd:$s" >/dev/null; done
is "rd P50 then H90 -> HEALTHY 90 (pending resolved)" "$(infer ex3 rd)" '["HEALTHY",90]'
for s in h:90 p:40; do cli --as o1 report ex4 "x:$s" >/dev/null; done
is "x H90 then P40 -> PENDING 40" "$(infer ex4 x)" '["PENDING",40]'
cli --as o1 report ex5 mem:u:30 >/dev/null; cli --as o2 report ex5 mem:h:60 >/dev/null
is "two observers U30/H60 -> UNHEALTHY 45 (tie to the more severe)" "$(infer ex5 mem)" '["UNHEALTHY",45]'
is "overall verdict (insitu's addition)" "$(cli --json get inference ex5 | jq -c .inference.overall)" \
	'{"status":"UNHEALTHY","metric":"mem","score":45}'
cli --as o1 report ex6 snap:u:20 cpu:h:90 >/dev/null; cli --as o1 report ex6 cpu:h:70 >/dev/null
is "metric carry-over from an older observation" "$(infer ex6 snap)" '["UNHEALTHY",20]'
is "full status names accepted" "$(cli --as o1 report ex7 a:MAYBE_UNHEALTHY:40 b:dead:0 c:dd:1 d:n:5 && infer ex7 b)" \
	$'Accepted\n["DEAD",0]'

# the original client piped on stdin
out=$(printf 'me FE_1\nreport peer@1 snapshot:u:30\nget report peer@1\n' | cli)
ok "commands piped on stdin (me, report, get report)" grep -q "observer: FE_1  subject: peer@1" <<<"$out"
is "get view OBSERVER SUBJECT (not swapped)" "$(cli --json get view FE_1 peer@1 | jq -r '.view.observer+">"+.view.subject')" "FE_1>peer@1"

# --- registration and handles ---
a=$(req "$D/sock" '{"op":"register","module":"m","name":"zz"}' '{"op":"register","module":"m","name":"zz"}' | jq -s -c 'map(.handle)')
ok "same (module,name) -> same handle >= 10000" jq -e '.[0]==.[1] and .[0]>=10000' <<<"$a"
is "first handle is 10000" "$(req "$D/sock" '{"op":"register","module":"insitu-cli","name":"o1"}' | jq .handle)" 10000
is "unknown handle refused" "$(req "$D/sock" '{"op":"submit","handle":4242,"report":{"subject":"s","metrics":[{"name":"m","status":"h","score":1}]}}' | jq -r .error)" unknown_handle
is "query right after accept sees the report" "$(req "$D/sock" '{"op":"submit","handle":10000,"report":{"subject":"now","metrics":[{"name":"m","status":"DEAD","score":0}]}}' '{"op":"get_inference","subject":"now"}' | tail -1 | jq -r '.inference.metrics[0].status')" DEAD
is "batch submit" "$(req "$D/sock" '{"op":"submit","handle":10000,"reports":[{"subject":"b1","metrics":[{"name":"m","status":"h","score":1}]},{"subject":"b2","metrics":[{"name":"m","status":"u","score":1}]}]}' | jq -c '[.ok,.accepted]')" '[true,2]'
is "invalid report in a batch refuses the whole batch" "$(req "$D/sock" '{"op":"submit","handle":10000,"reports":[{"subject":"b3","metrics":[{"name":"m","status":"h","score":1}]},{"subject":"b4","metrics":[{"name":"m","status":"zz","score":1}]}]}' | jq -r .message)" \
	"reports[1]: metrics[0].status: expected one of NA HEALTHY PENDING MAYBE_UNHEALTHY UNHEALTHY DYING DEAD (or n h p m u d dd)"
is "... and stored nothing of it" "$(cli get inference b3 2>&1; echo rc=$?)" $'insitu: not_found: no observation about subject \'b3\'\nrc=1'

# --- per-view cap ---
for i in $(seq 1 15); do echo "report capped m:h:$i"; done | cli --as o1 >/dev/null
is "a view keeps its 10 newest observations" "$(cli --json get view o1 capped | jq -c '[(.view.observations|length), .view.observations[0].metrics[0].score]')" '[10,6]'

# --- invalid CLI input sends nothing ---
before=$(cli --json stats | jq .reports_local_accepted)
out=$(cli --as o1 report s1 cpu:h:90 mem:bogus:3 2>&1); rc=$?
is "invalid status: exit 2 and a precise message" "$rc:$out" "2:insitu: report: metric 'mem:bogus:3': unknown status 'bogus' (expected n h p m u d dd or NA HEALTHY PENDING MAYBE_UNHEALTHY UNHEALTHY DYING DEAD); nothing sent"
out=$(cli --as o1 report s1 cpu:h:ninety 2>&1); rc=$?
is "invalid score: exit 2" "$rc:$out" "2:insitu: report: metric 'cpu:h:ninety': score 'ninety' is not a number; nothing sent"
out=$(cli report s1 cpu:h:1 2>&1); rc=$?
is "report without an observer: exit 2" "$rc" 2
is "nothing was sent for invalid input" "$(cli --json stats | jq .reports_local_accepted)" "$before"
out=$(cli get view onlyone 2>&1); is "get view needs OBSERVER and SUBJECT" "$?" 2

# --- misbehaving clients ---
is "garbage line -> parse error, connection kept" "$(req "$D/sock" 'garbage' '{"op":"ping"}' | jq -r -s -c 'map(.error // .ok)')" '["parse",true]'
is "unknown op" "$(req "$D/sock" '{"op":"frobnicate"}' | jq -r .error)" unknown_op
out=$(python3 - "$D/sock" <<'PY'
import socket, sys
big = socket.socket(socket.AF_UNIX); big.connect(sys.argv[1])
try:
    big.sendall(b'{"op":"ping","pad":"' + b'x' * (2 << 20))
except OSError:
    pass
print(big.makefile('rb').readline().decode().strip())
other = socket.socket(socket.AF_UNIX); other.connect(sys.argv[1]); f = other.makefile('rwb')
f.write(b'{"op":"ping"}\n'); f.flush(); print(f.readline().decode().strip())
PY
)
ok "oversized line -> too_long, connection closed" grep -q '"error":"too_long"' <<<"$out"
ok "... other clients unaffected" grep -q '"ok":true' <<<"$(tail -1 <<<"$out")"
python3 - "$D/sock" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.setblocking(False)
line = b'{"op":"dump_panorama"}\n' * 200
sent = 0
end = time.time() + 20
while time.time() < end:
    try: sent += s.send(line)
    except BlockingIOError: time.sleep(0.01)
    except OSError: break
PY
slow=$!
at_exit "kill $slow"
wait_for 25 bash -c "[[ \$('$INSITU' --json stats | jq .clients_dropped_slow) -ge 1 ]]"
ok "a client that never reads is dropped (counted)" test "$(cli --json stats | jq .clients_dropped_slow)" -ge 1
ok "... while others are served" cli ping
kill $slow 2>/dev/null; wait $slow 2>/dev/null

# a burst of pipelined requests, then a half-close: every one is answered, in order
out=$(python3 - "$D/sock" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b"".join(b'{"op":"ping","id":%d}\n' % i for i in range(3000)) + b'{"op":"ping","id":"last"}')
s.shutdown(socket.SHUT_WR)
data = b""
while True:
    b = s.recv(1 << 16)
    if not b: break
    data += b
lines = data.decode().splitlines()
ids = [l.split('"id":')[1].split(",")[0] for l in lines]
print(len(lines), ids[0], ids[2999], ids[-1])
PY
)
is "3001 pipelined requests and a half-close: all answered in order" "$out" '3001 0 2999 "last"'
ok "... served in slices (counted)" test "$(cli --json stats | jq .requests_backlogged)" -ge 1

# --- status, list, peers, dump ---
ok "status lists every subject's verdict" bash -c "'$INSITU' status | grep -q '^ex5 *UNHEALTHY *mem *45.0 *o1'"
ok "list subjects" bash -c "'$INSITU' list subjects | grep -q '^ex1 '"
is "dump inference covers every subject" "$(cli --json dump inference | jq '.inferences|length')" "$(cli --json list subjects | jq '.subjects|length')"
ok "peers with none configured" bash -c "'$INSITU' peers | grep -q 'no peers'"
ok "a built-in command's --help: the command list, exit 0" bash -c "'$INSITU' status --help | grep -q '^  status  '"
is "a built-in command with an argument it does not take: usage error" "$(cli status extra >/dev/null 2>&1; echo $?)" 2

# --- watch (live status) and the interactive mode (libedit, history) ---
out=$(timeout 3 "$INSITU" watch 0.5 2>&1)
ok "watch refreshes the status" test "$(grep -c '^insitu status, every 0.5s' <<<"$out")" -ge 2
if command -v script >/dev/null; then
	out=$(HOME=$TAP_TMP script -qec "'$INSITU'" /dev/null <<<$'me tty1\nreport ttysubj cpu:u:20\nget inference ttysubj\nexit' 2>&1)
	ok "interactive session on a terminal" grep -q "UNHEALTHY" <<<"$out"
	ok "... with a prompt" grep -q "insitu> " <<<"$out"
	ok "... history saved" grep -q "ttysubj" "$TAP_TMP/.insitu_history"
else
	skip "interactive mode" "needs script(1)"
fi

# --- git-style dispatch ---
mkdir -p "$TAP_TMP/bin" && cp "$INSITU" "$TAP_TMP/bin/insitu"
printf '#!/bin/sh\necho "hello from insitu-hello: $*"\n' > "$TAP_TMP/bin/insitu-hello"; chmod +x "$TAP_TMP/bin/insitu-hello"
is "insitu FOO runs insitu-FOO next to the binary" "$("$TAP_TMP/bin/insitu" hello a b)" "hello from insitu-hello: a b"
"$TAP_TMP/bin/insitu" nosuchtool >/dev/null 2>&1; is "unknown command: exit 2" "$?" 2

# --- mkconfig ---
cfg=$(cli mkconfig -p 6688 -n 3 -A razor%d -N pano%d -i pano1 -f -S nn1,dn1 -o "$TAP_TMP/hs.cfg")
is "mkconfig like hview-mkrc" "$(jq -c '[.Addr,.Id,.Subjects,.Peers.pano2,.FilterSubmission]' <<<"$cfg")" \
	'["razor1:6688","pano1",["nn1","dn1"],"razor2:6688",true]'
ok "mkconfig --output wrote the same" cmp <(echo "$cfg") "$TAP_TMP/hs.cfg"
cli mkconfig -n 2 -N pano%d -i nope >/dev/null 2>&1; is "mkconfig unknown --id: exit 2" "$?" 2
head -c32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$TAP_TMP/key"
p=$(free_port)
cli mkconfig -p "$p" -n 1 -A 127.0.0.1 -N solo%d -d "$TAP_TMP/c/db" -k "$TAP_TMP/key" -o "$TAP_TMP/solo.cfg" >/dev/null
mkdir -p "$TAP_TMP/c"
bg_start CPID "$INSITUD" -c "$TAP_TMP/solo.cfg" -s "$TAP_TMP/c/sock"
ok "insitud runs from a mkconfig configuration" wait_for 10 "$INSITU" -s "$TAP_TMP/c/sock" ping
printf '{"Id": "x",\n "Bogus": 1}\n' > "$TAP_TMP/bad.cfg"
out=$("$INSITUD" -c "$TAP_TMP/bad.cfg" 2>&1); rc=$?
is "config error names file:line:column" "$rc:$out" "2:insitud: error: $TAP_TMP/bad.cfg:2:2: unknown key \"Bogus\""

# --- WriteGroup: SO_PEERCRED decides who may change state ---
if ((EUID == 0)) && command -v setpriv >/dev/null; then
	WD=/tmp/insitu-$TAP_ID-w; mkdir -p -m 755 "$WD"; at_exit "rm -rf '$WD'"
	bg_start WPID "$INSITUD" -s "$WD/sock" -d "$TAP_TMP/w.db" --socket-mode 0666 --write-group root
	wait_for 10 "$INSITU" -s "$WD/sock" ping
	asnobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$INSITU" -s "$WD/sock" "$@"; }
	out=$(asnobody --as x report s m:h:1 2>&1); rc=$?
	is "a client outside WriteGroup cannot submit" "$rc:$out" "1:insitu: permission: changing state needs membership of group 'root' (WriteGroup)"
	ok "... but may query" asnobody ping
	ok "root may submit" "$INSITU" -s "$WD/sock" --as x report s m:h:1
else
	skip "WriteGroup" "needs root and setpriv"
fi

# --- garbage collection (absolute) re-infers ---
G=$TAP_TMP/g
start_insitud GPID "$G" --gc absolute:1 || fail "insitud with GC starts"
"$INSITU" -s "$G/sock" --as o report old m:u:10 >/dev/null
ok "before GC: inference" "$INSITU" -s "$G/sock" get inference old
ok "after the TTL the view is empty: no inference" wait_for 6 bash -c "! '$INSITU' -s '$G/sock' get inference old"
done_testing
