#!/usr/bin/env bash
# What the observer keeps and passes on (issue 9, SECURITY.md):
#  - payload bytes never reach insitud or its peers: redis traffic carrying a unique
#    marker in keys and values is observed with --report; the marker must appear in
#    neither aggregator's answers nor in their database files (WAL included), while
#    the reports about redis do arrive at both;
#  - the observer's effective capabilities after attach (none), the mode of --record
#    files (0600), its seccomp filter (Seccomp: 2; the reports above and the --stats
#    counters, read with bpf() on held map fds, are produced under it).
# timeout: 120
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/aggregator_lib.sh"
. "$(dirname "$0")/reliability_lib.sh"
need_root
need_cmd python3 jq redis-server redis-cli redis-benchmark
[[ -x $INSITUD && -x $INSITU && -x $OBSBIN ]] || skip_all "build insitud, insitu, insitu-observer first"
grep -q -- '--report' <<<"$("$OBSBIN" --help 2>&1)" || skip_all "insitu-observer has no --report yet"

MARK="pw-$RANDOM$RANDOM-zq"
head -c32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$TAP_TMP/key"
pA=$(rel_port); pB=$(rel_port); while [[ $pB == "$pA" ]]; do pB=$(rel_port); done
rel_start_insitud PA "$TAP_TMP/A" -q -i a -l "127.0.0.1:$pA" -k "$TAP_TMP/key" -p "b=127.0.0.1:$pB" || fail "A starts"
rel_start_insitud PB "$TAP_TMP/B" -q -i b -l "127.0.0.1:$pB" -k "$TAP_TMP/key" -p "a=127.0.0.1:$pA" || fail "B starts"

netns_add priv
bg_start REDIS ip netns exec "$NS_priv" redis-server --port 6379 --bind 127.0.0.1 --save '' --appendonly no
wait_for 10 ip netns exec "$NS_priv" redis-cli ping || { fail "redis starts"; done_testing; }
bg_start OBS "$OBSBIN" --report --socket "$TAP_TMP/A/sock" --netns "/run/netns/$NS_priv" --window 200 --record "$TAP_TMP/ev.zst" --stats --json
wait_for 30 grep -q attached "$TAP_TMP/OBS.log" || { fail "observer attached"; done_testing; }

# capabilities of the attached observer
capeff=$(awk '/^CapEff:/ { print $2 }' /proc/"$OBS"/status)
uid=$(awk '/^Uid:/ { print $3 }' /proc/"$OBS"/status)
nnp=$(awk '/^NoNewPrivs:/ { print $2 }' /proc/"$OBS"/status)
seccomp=$(awk '/^Seccomp:/ { print $2 }' /proc/"$OBS"/status)
diag "observer after attach: euid $uid, CapEff $capeff, NoNewPrivs $nnp, Seccomp $seccomp"
mode=$(stat -c %a "$TAP_TMP/ev.zst")
diag "--record file mode: $mode (umask $(umask))"

for i in $(seq 1 40); do
	ip netns exec "$NS_priv" redis-cli set "key-$MARK-$i" "value-$MARK-$i" >/dev/null
	ip netns exec "$NS_priv" redis-cli get "key-$MARK-$i" >/dev/null
done
ip netns exec "$NS_priv" redis-benchmark -n 2000 -c 2 -t get -q >/dev/null 2>&1
ok "the observer's reports about redis reach insitud" wait_for 20 \
	bash -c "'$INSITU' -s '$TAP_TMP/A/sock' --json list subjects | jq -e '.subjects[] | select(.subject | startswith(\"redis-server@\"))'"
ok "... and its peer" wait_for 20 \
	bash -c "'$INSITU' -s '$TAP_TMP/B/sock' --json list subjects | jq -e '.subjects[] | select(.subject | startswith(\"redis-server@\"))'"
kill -INT "$OBS"; wait "$OBS"
ok "the observer really saw the marker (its own --record file holds it)" \
	bash -c "'$OBSBIN' --replay '$TAP_TMP/ev.zst' --dump | grep -q -- '$MARK'"
for x in A B; do
	ans=$( { "$INSITU" -s "$TAP_TMP/$x/sock" --json dump panorama; "$INSITU" -s "$TAP_TMP/$x/sock" --json dump inference
		"$INSITU" -s "$TAP_TMP/$x/sock" --json status; "$INSITU" -s "$TAP_TMP/$x/sock" --json list subjects; } 2>&1)
	ok "$x: no payload byte in any answer" bash -c "! grep -q -- '$MARK' <<<'$(tr -d "'" <<<"$ans")'"
	ok "$x: no payload byte in the database files" bash -c "test -s '$TAP_TMP/$x/db' && ! grep -a -q -- '$MARK' '$TAP_TMP/$x'/db*"
done
is "observer runs without capabilities after attach" "$capeff" 0000000000000000
is "--record files are private (0600)" "$mode" 600
if [[ $BUILD == */san || $BUILD == san ]]; then
	skip "observer runs under its seccomp filter after attach" "not under AddressSanitizer"
else
	is "observer runs under its seccomp filter after attach (Seccomp: 2)" "$seccomp" 2
fi
ok "... its --stats still read the kernel counters (bpf() on held maps: msg_events > 0)" \
	bash -c "grep '^{\"msg_events\"' '$TAP_TMP/OBS.log' | jq -e '.msg_events > 0 and .msgs > 0'"
ok "... and it still built paths and sent its reports" \
	bash -c "grep '^{\"health\"' '$TAP_TMP/OBS.log' | jq -e '.linker.paths > 0 and .reporter.sent > 0 and .reporter.failures == 0'"
rel_no_sanitizer_reports
done_testing
