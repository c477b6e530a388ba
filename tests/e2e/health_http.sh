#!/usr/bin/env bash
# Gray failures detected end to end, front tier: three clients (curl, 15 requests/s
# each, keep-alive) -> nginx (round robin) -> 3 python backends -> redis, each in its
# own network namespace.  insitud + insitu-observer (shipped semantics, default
# component names) watch it; the verdicts are read with `insitu --json status`.
#
# One fault at a time on one backend, between healthy phases of 20 s in which every
# component must stay HEALTHY (each phase is the "after" of one fault and the "before"
# of the next):
#   delay 300 ms (NFQUEUE + delayq)   -> UNHEALTHY (latency)
#   500 answers                       -> UNHEALTHY (errors)
#   30% loss (nft numgen)             -> UNHEALTHY (latency: retransmission timeouts)
#   hang (SIGSTOP)                    -> UNHEALTHY (timeouts)
#   death (SIGKILL)                   -> DEAD (connect refused)
# docs/health.md documents these statuses.  Each fault must be detected within 15 s
# (the detection time is printed, never asserted), no other component may be flagged
# while it lasts, and the verdict must recover once it is removed.
# Then the multi-observer case: one client's path to nginx is cut (its view of nginx
# goes bad) while two clients are fine -> nginx stays HEALTHY (Panorama majority); a
# second client cut -> UNHEALTHY.
# timeout: 420
. "$(dirname "$0")/../lib/tap.sh"
need_root
need_cmd nginx redis-server python3 curl jq iptables nft stdbuf
. "$INSITU_ROOT/tests/lib/topo.sh"
. "$INSITU_ROOT/tests/lib/faults.sh"
. "$INSITU_ROOT/tests/e2e/health_lib.sh"
e2e_need_wiring

topo_http
rc=$?
is "topology answers (curl -> nginx -> 3 backends -> redis)" "$rc" 0
((rc == 0)) || bail "no topology"
e2e_start
is "insitud and insitu-observer started" "$?" 0 || bail "no insitud/insitu-observer"
for c in lg1 lg2 lg3; do http_load "$c" 15; done

NGX="nginx@$NS_ngx:80" RD="redis-server@$NS_rd:6379"
declare -A BE
for b in b1 b2 b3; do ns="NS_$b"; BE[$b]="python3@${!ns}:8000"; done
everyone=("$NGX" "$RD" "${BE[b1]}" "${BE[b2]}" "${BE[b3]}")

all_seen_healthy() {
	local s
	for s in "${everyone[@]}"; do [[ $(verdict_of "$s") == HEALTHY ]] || return 1; done
}
if wait_for 40 all_seen_healthy; then
	pass "every component seen and HEALTHY (${#everyone[@]} subjects)"
else
	fail "every component seen and HEALTHY" "$(verdicts)"
fi
diag "subjects: $(verdicts | awk '{print $1}' | paste -sd ' ')"
out=$(healthy_phase "$PHASE")
is "healthy phase before the faults (${PHASE} s): nothing flagged" "$out" ""


run_fault http-delay "${BE[b1]}" UNHEALTHY fault_delay b1 tcp 8000 300
run_fault http-errors "${BE[b2]}" UNHEALTHY fault_errors_http b2
run_fault http-loss "${BE[b3]}" UNHEALTHY fault_loss b3 tcp 8000 30
run_fault http-hang "${BE[b1]}" UNHEALTHY fault_hang b1
run_fault http-death "${BE[b2]}" DEAD fault_kill b2

# ---- only some observers see the failure ---------------------------------------
# view_of OBSERVER SUBJECT: the worst status in the observer's newest observation
view_of() {
	"$INSITU" -s "$E2E_SOCK" --json get view "$1" "$2" 2>/dev/null | jq -r '
		def sev: {"HEALTHY":2,"PENDING":3,"MAYBE_UNHEALTHY":4,"UNHEALTHY":5,"DYING":6,"DEAD":7}[.] // 0;
		[.view.observations[-1].metrics[]?.status] | max_by(sev) // "-"'
}
view_bad() { [[ $(view_of "$1" "$2") =~ ^(UNHEALTHY|DYING|DEAD)$ ]]; }
LG2="curl@$NS_lg2" LG3="curl@$NS_lg3"
fault_cut lg3 "$HTTP_FRONT"
if wait_for "$DETECT" view_bad "$LG3" "$NGX"; then
	pass "cut lg3 -> nginx: lg3's view of nginx turns bad ($(view_of "$LG3" "$NGX"))"
else
	fail "cut lg3 -> nginx: lg3's view of nginx turns bad" "view: $(view_of "$LG3" "$NGX")"
fi
steady() { # SUBJECT SECONDS: HEALTHY at every poll, else the verdict seen
	local end=$((SECONDS + $2)) v
	while ((SECONDS < end)); do
		v=$(verdict_of "$1")
		[[ $v == HEALTHY ]] || { echo "$v"; return; }
		sleep 0.5
	done
	echo HEALTHY
}
is "one observer of three sees nginx fail: nginx stays HEALTHY for 5 s (majority)" "$(steady "$NGX" 5)" HEALTHY
fault_cut lg2 "$HTTP_FRONT"
if wait_verdict "$NGX" "UNHEALTHY|DEAD" "$DETECT"; then
	pass "two observers of three see nginx fail: nginx turns $(verdict_of "$NGX") (majority)"
	record_detection "http-cut-2of3" "$WAITED"
else
	fail "two observers of three see nginx fail: nginx turns UNHEALTHY" "last: $LAST_VERDICT" "$(verdicts)"
fi
fault_clear
if wait_verdict "$NGX" HEALTHY 25; then
	pass "paths restored: nginx recovers"
else
	fail "paths restored: nginx recovers" "last: $LAST_VERDICT"
fi
out=$(healthy_phase "$PHASE")
is "healthy phase after the cut (${PHASE} s): nothing flagged" "$out" ""

[[ -s $DETECT_LOG ]] && diag "detection times (s): $(paste -sd ' ' "$DETECT_LOG")"
[[ -n ${E2E_FIGURES:-} && -s $DETECT_LOG ]] && cat "$DETECT_LOG" >>"$E2E_FIGURES"
diag "observer: $(tr '\n' ' ' <"$TAP_TMP/OBS_PID.log" | tail -c 600)"
done_testing
