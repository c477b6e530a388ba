#!/usr/bin/env bash
# Kernel CPU per message with the extraction rule table vs without it: the same
# request/response ping-pong (tests/bench/msg_pingpong.py: HTTP, redis, DNS in their
# real formats, a new id per request) in a network namespace of its own, observed by
# insitu-observer --port ... --netns, alternating in one run:
#   none   no semantics: no rule table in the kernel (events carry the payload only)
#   rules  --semantics semantics/: every shipped rule compiled into the kernel
#          (insitu_extract runs on each captured message and writes its ids block)
#   ids    the same with --payload=ids: raw rules too, complete messages leave
#          without their payload bytes
# BPF run-time statistics (kernel.bpf_stats_enabled, what bpf_enable_stats(
# BPF_STATS_RUN_TIME) turns on; the observer reads run_time_ns/run_cnt of its
# programs, as bpftool prog show does) give the BPF ns per message event; the
# figures are the median and the best (lowest) of ROUNDS rounds, and their ratio
# rules/none.  The BPF programs run on every syscall of the host, so other load on
# the machine only adds to a round's figure: the best round is the closest to the
# programs' own cost, the median shows the spread.
set -uo pipefail
cd "${INSITU_ROOT:-$(dirname "$0")/../..}"
BUILD=${BUILD:-build}
OBSBIN=$BUILD/insitu-observer PP=tests/bench/msg_pingpong.py
ROUNDS=${ROUNDS:-3} SECS=${SECS:-2}
((EUID == 0)) || { echo "semantics_kernel bench: needs root" >&2; exit 1; }
[[ -x $OBSBIN ]] || { echo "semantics_kernel bench: $OBSBIN not built" >&2; exit 1; }
command -v jq >/dev/null || { echo "semantics_kernel bench: needs jq" >&2; exit 1; }

tmp=$(mktemp -d /tmp/insitu-xkbench.XXXXXX)
ns=insitu-xkbench-$$
old_stats=$(sysctl -n kernel.bpf_stats_enabled)
obs_pid=
cleanup() {
	[[ -n $obs_pid ]] && kill -INT "$obs_pid" 2>/dev/null && wait "$obs_pid" 2>/dev/null
	sysctl -qw kernel.bpf_stats_enabled="$old_stats"
	ip netns del "$ns" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
sysctl -qw kernel.bpf_stats_enabled=1
ip netns add "$ns" && ip -n "$ns" link set lo up || exit 1

# one observed run: prints "<ns per message event> <message events> <round trips>"
run() { # MODE PROTO
	local sem=()
	[[ $1 == rules ]] && sem=(--semantics semantics)
	[[ $1 == ids ]] && sem=(--semantics semantics --payload ids)
	"$OBSBIN" --netns "/run/netns/$ns" --port 8080 --port 6379 --port 5353 "${sem[@]}" \
		--stats --json >"$tmp/obs.out" 2>"$tmp/obs.err" &
	obs_pid=$!
	for _ in $(seq 100); do grep -q attached "$tmp/obs.err" && break; sleep 0.1; done
	local rt
	rt=$(ip netns exec "$ns" python3 "$PP" "$2" "$SECS")
	kill -INT "$obs_pid"; wait "$obs_pid"; obs_pid=
	[[ $1 != none ]] && grep -o 'kernel id extraction: .*' "$tmp/obs.err" >"$tmp/rules.txt"
	grep '"msg_events"' "$tmp/obs.out" | tail -n 1 |
		jq -r --arg rt "$rt" '"\(.bpf_run_ns / ([.msg_events, 1] | max) | floor) \(.msg_events) \($rt)"'
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
best() { sort -n | head -n 1; }

echo "# kernel extraction cost: ping-pong per protocol, ${SECS}s per run, $ROUNDS rounds, none/rules/ids alternating"
printf '%-6s %-6s %8s %8s %8s %6s %6s %s\n' proto round none_ns rules_ns ids_ns r/none i/none events
for p in http redis dns; do
	: >"$tmp/$p.none"; : >"$tmp/$p.rules"; : >"$tmp/$p.ids"; : >"$tmp/$p.ratio"; : >"$tmp/$p.iratio"
	for ((r = 1; r <= ROUNDS; r++)); do
		read -r a ea _ < <(run none "$p")
		read -r b eb _ < <(run rules "$p")
		read -r c ec _ < <(run ids "$p")
		echo "$a" >>"$tmp/$p.none"; echo "$b" >>"$tmp/$p.rules"; echo "$c" >>"$tmp/$p.ids"
		awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f\n", b / a }' >>"$tmp/$p.ratio"
		awk -v a="$a" -v c="$c" 'BEGIN { printf "%.3f\n", c / a }' >>"$tmp/$p.iratio"
		printf '%-6s %-6s %8s %8s %8s %6s %6s %s\n' "$p" "$r" "$a" "$b" "$c" "$(tail -n 1 "$tmp/$p.ratio")" \
			"$(tail -n 1 "$tmp/$p.iratio")" "$ea/$eb/$ec"
	done
	a=$(best <"$tmp/$p.none") b=$(best <"$tmp/$p.rules") c=$(best <"$tmp/$p.ids")
	echo "semantics_kernel: $p BPF ns per message event: best none $a, rules $b, ids $c; ratios rules/none $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f (%+d ns)", b / a, b - a }'), ids/none $(awk -v a="$a" -v b="$c" 'BEGIN { printf "%.2f (%+d ns)", b / a, b - a }'); medians none $(median <"$tmp/$p.none"), rules $(median <"$tmp/$p.rules"), ids $(median <"$tmp/$p.ids"), ratios $(median <"$tmp/$p.ratio") / $(median <"$tmp/$p.iratio")"
done
echo "semantics_kernel: rules mode: $(cat "$tmp/rules.txt" 2>/dev/null)"
