#!/usr/bin/env bash
# timeout: 60
# Runs the libFuzzer target fuzz_health_cfg (user/health.mk: the --thresholds file parser) for a
# bounded time (FUZZ_SECONDS, default 10) from its committed seed corpus; new inputs
# go to a scratch directory, not into the corpus.
. "$(dirname "$0")/../lib/tap.sh"
bin=$BUILD/fuzz/fuzz_health_cfg
[[ -x $bin ]] || skip_all "$bin not built (make fuzz)"
mkdir -p "$TAP_TMP/new"
ok "fuzz_health_cfg: ${FUZZ_SECONDS:-10} s without a crash, leak, misplaced error or timeout" \
	"$bin" -max_total_time="${FUZZ_SECONDS:-10}" -timeout=5 -rss_limit_mb=2048 -max_len=4096 \
	-artifact_prefix="$TAP_TMP/" "$TAP_TMP/new" "$INSITU_ROOT/tests/fuzz/corpus/fuzz_health_cfg"
done_testing
