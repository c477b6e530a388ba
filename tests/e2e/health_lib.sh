# Helpers of the end-to-end health tests (sourced; not a test itself): run insitud and
# insitu-observer on a topology built with tests/lib/topo.sh, read verdicts back with
# `insitu --json status`, and judge phases.
#
#   e2e_start [NAMES-FILE]      insitud on a private socket and database, insitu-observer
#                               capturing only this test's namespaces, reporting to it
#   verdicts                    "subject verdict metric observers" per line, sorted
#   verdict_of SUBJECT          its overall verdict ("-" when it has none)
#   wait_verdict SUBJ RE SECS   polls every 0.1 s until SUBJ's verdict matches the
#                               extended regex RE; the seconds it took in $WAITED
#   healthy_phase SECS [EXCEPT] every subject (but EXCEPT) HEALTHY at every 0.5 s poll
#                               for SECS; offenders listed on stdout
#   others_during SECS EXCEPT   the worst verdict any other subject had in SECS, in $WORST
#   run_fault LABEL SUBJECT RE INJECT...
#                               one fault: inject, SUBJECT's verdict must match RE within
#                               $DETECT s (time recorded), nobody else flagged meanwhile,
#                               fault_clear, SUBJECT back to HEALTHY, then a healthy
#                               phase of $PHASE s for everyone
# shellcheck shell=bash

OBS=${E2E_OBSERVER:-$BUILD/insitu-observer}  # E2E_OBSERVER: try another build
INSITUD=$BUILD/insitud
INSITU=$BUILD/insitu
E2E_SOCK=$TAP_TMP/insitud.sock
E2E_WINDOW_MS=${E2E_WINDOW_MS:-1000}
PHASE=${E2E_HEALTHY_S:-20}
DETECT=${E2E_DETECT_S:-15}

# bail WHY: nothing else can be judged (TAP "Bail out!"); cleanup still runs.
bail() { echo "Bail out! $*"; echo "1..$TAP_N"; exit 1; }

e2e_need_wiring() {
	[[ -x $OBS && -x $INSITUD && -x $INSITU && -x $DELAYQ ]] ||
		skip_all "build insitud, insitu, insitu-observer and delayq first (make bins tests)"
	# read the whole text first: grep -q quitting early would SIGPIPE the observer,
	# and pipefail would call that a missing option
	[[ $("$OBS" --help 2>&1) == *--report* ]] ||
		skip_all "insitu-observer has no --report yet (health stage not wired)"
}

e2e_start() {
	local names=${1:-} args=() n ns
	bg_start INSITUD_PID "$INSITUD" -s "$E2E_SOCK" -d "$TAP_TMP/insitud.db" -q
	wait_for 10 "$INSITU" -s "$E2E_SOCK" ping || return 1
	# only this test's namespaces: other tests may run on the machine at the same time
	for n in "${!TOPO_NODE_NS[@]}"; do args+=(--netns "/run/netns/${TOPO_NODE_NS[$n]}"); done
	[[ -n $names ]] && args+=(--names "$names")
	bg_start OBS_PID "$OBS" --report --socket "$E2E_SOCK" --semantics "$INSITU_ROOT/semantics" \
		--window "$E2E_WINDOW_MS" "${args[@]}" --stats
	sleep 1
	kill -0 "$OBS_PID" 2>/dev/null || { cat "$TAP_TMP/OBS_PID.log"; return 1; }
}

verdicts() {
	"$INSITU" -s "$E2E_SOCK" --json status 2>/dev/null |
		jq -r '.subjects[]? | "\(.subject) \(.verdict) \(.metric) \(.observers | join(","))"' | sort
}

verdict_of() {
	local v
	v=$("$INSITU" -s "$E2E_SOCK" --json status 2>/dev/null |
		jq -r --arg s "$1" '[.subjects[]? | select(.subject == $s) | .verdict][0] // "-"')
	echo "${v:--}"
}

now_s() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now_s)" 'BEGIN { printf "%.1f", b - a }'; }

wait_verdict() {
	local subj=$1 re=$2 secs=$3 t0 v
	t0=$(now_s)
	WAITED=
	while :; do
		v=$(verdict_of "$subj")
		if [[ $v =~ ^($re)$ ]]; then WAITED=$(elapsed "$t0"); return 0; fi
		if awk -v a="$t0" -v b="$(now_s)" -v s="$secs" 'BEGIN { exit !(b - a > s) }'; then
			WAITED=$(elapsed "$t0"); LAST_VERDICT=$v; return 1
		fi
		sleep 0.1
	done
}

# why SUBJECT: each observer's newest non-HEALTHY metrics about it (for diagnostics)
why() {
	"$INSITU" -s "$E2E_SOCK" --json get panorama "$1" 2>/dev/null | jq -r '
		.panorama.views[]? | .observer as $o | (.observations[-1].metrics // [])
		| map(select(.status != "HEALTHY") | "\(.name)=\(.status):\(.score | floor)")
		| select(length > 0) | "    seen by \($o): \(join(" "))"'
}

healthy_phase() {
	local secs=$1 except=${2:-} end bad=0 line subj v
	local -A told=()
	end=$((SECONDS + secs))
	while ((SECONDS < end)); do
		while read -r subj v m _; do
			[[ -n $subj && $subj != "$except" && $v != HEALTHY ]] || continue
			echo "$(date +%T) $subj $v ($m)"
			[[ -n ${told[$subj]:-} ]] || { why "$subj"; told[$subj]=1; }
			bad=1
		done < <(verdicts)
		sleep 0.5
	done
	return $bad
}

# severity order of the statuses, to keep the worst one seen
sev() {
	case $1 in
	HEALTHY) echo 2 ;; PENDING) echo 3 ;; MAYBE_UNHEALTHY) echo 4 ;; UNHEALTHY) echo 5 ;;
	DYING) echo 6 ;; DEAD) echo 7 ;; *) echo 0 ;;
	esac
}

others_during() {
	local secs=$1 except=$2 end subj v
	end=$((SECONDS + secs))
	WORST=HEALTHY WORST_WHO=
	while ((SECONDS < end)); do
		while read -r subj v m _; do
			[[ -n $subj && $subj != "$except" ]] || continue
			if (($(sev "$v") > $(sev "$WORST"))); then WORST=$v WORST_WHO="$subj $m"; fi
		done < <(verdicts)
		sleep 0.5
	done
}

# Detection times, one "fault seconds" line each, for the benchmark summary.
DETECT_LOG=$TAP_TMP/detect
record_detection() { echo "$1 $2" >>"$DETECT_LOG"; diag "detection time $1: $2 s"; }

run_fault() {
	local name=$1 subj=$2 want=$3 t0 out; shift 3
	"$@" || { fail "$name: fault injected ($*)"; return; }
	if wait_verdict "$subj" "$want" "$DETECT"; then
		pass "$name: $subj turns $want within ${DETECT} s"
		record_detection "$name" "$WAITED"
	else
		fail "$name: $subj turns $want within ${DETECT} s" "last verdict: $LAST_VERDICT" \
			"$(verdicts)"
	fi
	others_during 3 "$subj"
	is "$name: no other component flagged while it lasts" "$WORST${WORST_WHO:+ ($WORST_WHO)}" HEALTHY
	[[ $WORST == HEALTHY ]] || why "${WORST_WHO%% *}" | sed 's/^/#/'
	fault_clear
	t0=$(now_s)
	if wait_verdict "$subj" HEALTHY 25; then
		pass "$name: recovers to HEALTHY once the fault is removed"
		diag "recovery time $name: $WAITED s"
	else
		fail "$name: recovers to HEALTHY once the fault is removed" \
			"last verdict: $LAST_VERDICT after $(elapsed "$t0") s"
	fi
	out=$(healthy_phase "$PHASE")
	is "healthy phase after $name (${PHASE} s): nothing flagged" "$out" ""
}
