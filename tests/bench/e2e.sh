#!/usr/bin/env bash
# Detection time per gray failure, end to end (issue 6): runs the acceptance tests
# tests/e2e/health_http.sh and health_dns.sh with shorter healthy phases
# (E2E_HEALTHY_S, default 10 s here) and summarises what they measured: for each
# fault, the seconds from injecting it to insitud's verdict for the faulty component
# (polled every 0.1 s with `insitu --json status`), and the median over all faults.
# Figures go to BENCHMARKS.md ("End-to-end health") by hand.  Needs root.
set -uo pipefail
cd "$(dirname "$0")/../.."
export BUILD=${BUILD:-build} INSITU_ROOT=$PWD
export E2E_HEALTHY_S=${E2E_HEALTHY_S:-10}
figures=$(mktemp /tmp/insitu-e2e-bench.XXXXXX)
trap 'rm -f "$figures"' EXIT
export E2E_FIGURES=$figures
for t in tests/e2e/health_http.sh tests/e2e/health_dns.sh; do
	echo "# $t (healthy phases ${E2E_HEALTHY_S} s)"
	"$t" | grep -E '^(not ok|# detection|# recovery|1\.\.)' | sed 's/^/  /'
done
if [[ ! -s $figures ]]; then
	echo "e2e bench: no detection measured (insitu-observer without --report?)"
	exit 0
fi
echo
echo "fault                  detection (s)"
awk '{ printf "%-22s %s\n", $1, $2 }' "$figures"
sort -k2 -g "$figures" | awk '{ v[NR] = $2 } END {
	m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
	printf "median over %d faults: %.1f s (min %.1f, max %.1f)\n", NR, m, v[1], v[NR] }'
