#!/usr/bin/env bash
# insitud benchmark: reports/s accepted over the Unix socket (1 client and 8
# concurrent; batched and one report per request), get_inference latency with 10,000
# subjects x 10 observers, memory per view, and peer propagation between two
# aggregators.  Every figure is an acknowledged (committed) one.  Side by side with
# the original Panorama's figures from docs (same kind of machine): ratios printed.
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
B=$BUILD/bench/bench_agg
INSITUD=$BUILD/insitud
[[ -x $B && -x $INSITUD ]] || { echo "build insitud and bench_agg first (make bins bench-bins)" >&2; exit 1; }
W=$(mktemp -d /var/tmp/insitu-bench-agg.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$W"; }
trap cleanup EXIT
start() { # start NAME ARGS...: insitud with socket/db in $W/NAME
	local n=$1; shift
	mkdir -p "$W/$n"
	"$INSITUD" -q -s "$W/$n/sock" -d "$W/$n/db" "$@" &
	pids+=($!)
	eval "PID_$n=$!"
	for _ in $(seq 100); do "$BUILD/insitu" -s "$W/$n/sock" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
	echo "insitud $n did not start" >&2; exit 1
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime of the daemon
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

start ing
t0=$(cpu_ticks "$PID_ing")
b1=$($B ingest "$W/ing/sock" 1 400000 1024) || exit 1
b8=$($B ingest "$W/ing/sock" 8 400000 1024) || exit 1
t1=$(cpu_ticks "$PID_ing")
# the daemon's own CPU per accepted report: independent of what else runs on the machine
us_per=$(awk "BEGIN{printf \"%.2f\", ($t1 - $t0) * 1e6 / $(getconf CLK_TCK) / 800000}")
s1=$($B ingest "$W/ing/sock" 1 20000 1) || exit 1
s8=$($B ingest "$W/ing/sock" 8 40000 1) || exit 1

start q
rss0=$(rss_kb "$PID_q")
$B populate "$W/q/sock" 10000 10 || exit 1
rss1=$(rss_kb "$PID_q")
read -r qmed qp99 < <($B query "$W/q/sock" 10000 20000) || exit 1

head -c32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$W/key"
pa=$((10000 + RANDOM % 20000)); pb=$((pa + 1)) # below the ephemeral range
start pa -i a -l "127.0.0.1:$pa" -k "$W/key" -p "b=127.0.0.1:$pb"
start pb -i b -l "127.0.0.1:$pb" -k "$W/key" -p "a=127.0.0.1:$pa"
sleep 1 # connected
read -r ptput pmed pmax < <($B propagate "$W/pa/sock" "$W/pb/sock" 100000) || exit 1

printf '%-58s %12s %12s\n' "measure ($(date -u +%F), $(nproc) cores)" "insitud" "vs Panorama"
printf '%-58s %12s %11.0fx\n' "ingest, 1 client, batches of 1024 (reports/s)" "$b1" "$(awk "BEGIN{print $b1/1900}")"
printf '%-58s %12s %11.0fx\n' "ingest, 8 clients, batches of 1024 (reports/s)" "$b8" "$(awk "BEGIN{print $b8/1350}")"
printf '%-58s %12s %11.1fx\n' "ingest, 1 client, one report per request (reports/s)" "$s1" "$(awk "BEGIN{print $s1/1900}")"
printf '%-58s %12s %11.1fx\n' "ingest, 8 clients, one report per request (reports/s)" "$s8" "$(awk "BEGIN{print $s8/1350}")"
printf '%-58s %12s\n' "insitud CPU per accepted report, batched (us)" "$us_per"
printf '%-58s %12s\n' "=> reports/s one insitud core sustains (batched)" "$(awk "BEGIN{printf \"%.0f\", 1e6 / $us_per}")"
printf '%-58s %12s\n' "get_inference over the socket, 10k subj x 10 obs: median us" "$qmed"
printf '%-58s %12s\n' "get_inference over the socket, 10k subj x 10 obs: p99 us" "$qp99"
printf '%-58s %12s\n' "memory: 100,000 views (1 observation each), MB" "$(( (rss1 - rss0) / 1024 ))"
printf '%-58s %12s\n' "memory per view (bytes)" "$(( (rss1 - rss0) * 1024 / 100000 ))"
printf '%-58s %12s\n' "peer propagation, batched (reports/s, A -> B committed)" "$ptput"
printf '%-58s %12s\n' "peer propagation latency, one report: median / max (us)" "$pmed / $pmax"
