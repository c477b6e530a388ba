#!/usr/bin/env bash
# Overhead of insitu-observer capturing everything: a 64-byte TCP request/response
# ping-pong on loopback with 4 connections, untraced and traced, alternating in one
# run (ROUNDS rounds of SECS seconds each).  Reports the throughput ratio (median
# of rounds), the BPF run time per captured event (kernel.bpf_stats_enabled) and
# the events/s the observer sustained, with its drop count.
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
PP=$BUILD/tests/bench/pingpong
OBSBIN=$BUILD/insitu-observer
ROUNDS=${ROUNDS:-7} SECS=${SECS:-2} CONNS=${CONNS:-4} SIZE=${SIZE:-64}
((EUID == 0)) || { echo "observer bench: needs root" >&2; exit 1; }
for b in "$PP" "$OBSBIN"; do [[ -x $b ]] || { echo "observer bench: $b not built" >&2; exit 1; }; done
command -v jq >/dev/null || { echo "observer bench: needs jq" >&2; exit 1; }

tmp=$(mktemp -d /tmp/insitu-bench.XXXXXX)
old_stats=$(sysctl -n kernel.bpf_stats_enabled)
obs_pid=
cleanup() {
	[[ -n $obs_pid ]] && kill -INT "$obs_pid" 2>/dev/null && wait "$obs_pid" 2>/dev/null
	sysctl -qw kernel.bpf_stats_enabled="$old_stats"
	rm -rf "$tmp"
}
trap cleanup EXIT
sysctl -qw kernel.bpf_stats_enabled=1

echo "# observer overhead: ${SIZE}-byte TCP ping-pong, $CONNS connections, ${SECS}s per run, $ROUNDS rounds"
printf '%-6s %12s %12s %7s %12s %10s %10s %9s\n' round untraced traced ratio events/s drops ns/event ns/prog
ratios=()
for ((r = 1; r <= ROUNDS; r++)); do
	base=$("$PP" -c "$CONNS" -s "$SIZE" -t "$SECS")
	"$OBSBIN" --stats --json ${OBS_ARGS:-} >"$tmp/obs.out" 2>"$tmp/obs.err" &
	obs_pid=$!
	for _ in $(seq 100); do grep -q attached "$tmp/obs.err" && break; sleep 0.1; done
	mode=$(grep -o '([a-z_]* mode' "$tmp/obs.err" | tr -d '(')
	traced=$("$PP" -c "$CONNS" -s "$SIZE" -t "$SECS")
	kill -INT "$obs_pid"; wait "$obs_pid"; obs_pid=
	st=$(grep '^{' "$tmp/obs.out" | tail -n1)
	ev=$(jq .msg_events <<<"$st"); drops=$(jq .ringbuf_drops <<<"$st")
	ratio=$(awk -v a="$traced" -v b="$base" 'BEGIN { printf "%.3f", a / b }')
	ratios+=("$ratio")
	printf '%-6s %12s %12s %7s %12.0f %10s %10.0f %9.0f\n' "$r" "$base" "$traced" "$ratio" \
		"$(awk -v e="$ev" -v s="$SECS" 'BEGIN { print e / s }')" "$drops" \
		"$(jq '.bpf_run_ns / ([.msg_events, 1] | max)' <<<"$st")" \
		"$(jq '.bpf_run_ns / ([.bpf_run_cnt, 1] | max)' <<<"$st")"
done
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
echo "# ns/event: BPF run time of all our programs (every syscall's enter+exit on the host) per message event"
echo "# ns/prog: per program run; hooks: $mode"
echo "observer: throughput ratio traced/untraced (median of $ROUNDS) = $median (target >= 0.85)"
