#!/usr/bin/env bash
# Linker throughput, side by side on one core:
#   core   the linking rules alone (lk_add: match, join, link, emit) over messages
#          already framed: a wrk -> nginx -> backend -> redis chain, 32 in flight
#   stage  the whole --paths stage over kernel events (connection table, position
#          checks, HTTP framing and regex extraction by the semantics engine, linking)
# and peak memory.  Rates are per CPU second of the measuring thread (per core),
# so that other jobs on a shared machine do not count against them.  Figures go to BENCHMARKS.md (## Linker) by hand.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
N=${LINK_BENCH_REQUESTS:-200000}
core=$("$BUILD/bench/bench_linker" core "$N")
echo "$core"
tmp=$(mktemp /tmp/insitu-linkbench.XXXXXX)
trap 'rm -f "$tmp"' EXIT
"$BUILD/bench/bench_linker" record $((N / 4)) "$tmp"
stage=$("$BUILD/insitu-link" -r "$tmp" -s semantics/http.json --bench 2>&1 >/dev/null | grep '^bench:')
echo "stage: ${stage#bench: }"
c=$(sed -n 's/.* \([0-9]*\) messages\/s per core.*/\1/p' <<<"$core" | head -1)
s=$(sed -n 's/.* \([0-9]*\) messages\/s per core.*/\1/p' <<<"$stage" | head -1)
awk -v c="$c" -v s="$s" 'BEGIN { printf "ratio: stage/core = %.2f (core %.2fM msg/s, stage %.2fM msg/s; target core >= 1M)\n", s / c, c / 1e6, s / 1e6 }'
