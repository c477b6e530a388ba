#!/usr/bin/env bash
# Semantics benchmark: user-space ID extraction throughput (messages/s on one core)
# for HTTP and DNS (and the other shipped protocols), on messages captured from the
# real programs (tests/fixtures/semantics), and the ring-buffer bytes per event
# with the payload vs with only the kernel-extracted ids block.
set -uo pipefail
cd "${INSITU_ROOT:-$(dirname "$0")/../..}"
BUILD=${BUILD:-build}
B=$BUILD/bench/bench_extract
[[ -x $B ]] || { echo "build it: make bench-bins" >&2; exit 1; }
export INSITU_PLUGIN_PATH=$BUILD/plugins
FX=tests/fixtures/semantics
for pair in http:http dns:dns redis:redis dns-tcp:dns-tcp memcached-binary:memcached-binary postgresql:postgres mqtt:mqtt; do
	sem=${pair%%:*} cap=${pair#*:}
	"$B" "semantics/$sem.json" "$FX/$cap.cap" "${BENCH_SECONDS:-1}"
done
