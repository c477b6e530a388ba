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

# --payload=ids: the same synthetic HTTP traffic as tests/bench/linker.sh (wrk ->
# nginx -> backend, 32 in flight) rewritten by xk_stamp as the observer writes it
# with the kernel-complete semantics tests/integration/ids_only/http.json:
#   none  no ids block (payload only)          -> linker frames and extracts
#   full  ids block + payload, --no-kernel-ids -> linker frames and extracts
#   full  ids block + payload                  -> linker frames, takes the block
#   ids   ids block only (--payload=ids)       -> no framing, no extraction
# Bytes per message event, and the linker stage's messages/s per core (best of 3).
LB=$BUILD/bench/bench_linker XS=$BUILD/tests/tools/xk_stamp LINK=$BUILD/insitu-link
if [[ -x $LB && -x $XS && -x $LINK ]]; then
	S=tests/integration/ids_only/http.json
	T=$(mktemp -d /tmp/insitu-idsbench.XXXXXX)
	trap 'rm -rf "$T"' EXIT
	"$LB" record "${IDS_BENCH_REQUESTS:-25000}" "$T/plain.raw"
	for m in none full ids; do
		"$XS" $m "$S" "$T/plain.raw" "$T/$m.raw" 2>&1 | sed 's/^xk_stamp /ids-only bench: /'
	done
	best() { # best of 3: messages/s per core
		local i r b=0
		for i in 1 2 3; do
			r=$("$LINK" -r "$@" -s "$S" --bench 2>&1 >/dev/null | sed -n 's/.* \([0-9]*\) messages\/s per core.*/\1/p')
			((r > b)) && b=$r
		done
		echo "$b"
	}
	a=$(best "$T/none.raw"); b=$(best "$T/full.raw" --no-kernel-ids); c=$(best "$T/full.raw"); d=$(best "$T/ids.raw")
	echo "ids-only bench: linker msg/s per core: payload only $a, ids+payload re-extracted $b, ids+payload kernel ids $c, ids only $d"
	awk -v a="$a" -v b="$b" -v c="$c" -v d="$d" 'BEGIN { printf "ids-only bench: ratios: kernel ids / re-extraction %.2f, ids only / re-extraction %.2f\n", c / b, d / b }'
	rm -rf "$T"
fi
