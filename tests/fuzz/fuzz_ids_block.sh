#!/usr/bin/env bash
# timeout: 60
# Runs the libFuzzer target fuzz_ids_block (user/semantics.mk) for a bounded time
# (FUZZ_SECONDS, default 10) from its committed seed corpus; new inputs go to a
# scratch directory, not into the corpus.
. "$(dirname "$0")/../lib/tap.sh"
export INSITU_PLUGIN_PATH=$BUILD/plugins
bin=$BUILD/fuzz/fuzz_ids_block
[[ -x $bin ]] || skip_all "$bin not built (make fuzz)"
mkdir -p "$TAP_TMP/new"
ok "fuzz_ids_block: ${FUZZ_SECONDS:-10} s without a crash, leak, invariant failure or timeout" \
	"$bin" -max_total_time="${FUZZ_SECONDS:-10}" -timeout=5 -rss_limit_mb=2048 -max_len=4096 \
	-artifact_prefix="$TAP_TMP/" "$TAP_TMP/new" "$INSITU_ROOT/tests/fuzz/corpus/fuzz_ids_block"
done_testing
