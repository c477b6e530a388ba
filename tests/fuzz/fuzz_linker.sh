#!/usr/bin/env bash
# Fuzzes the linking rules (tests/fuzz/fuzz_linker.c) for a bounded time, from the
# committed corpus.
# timeout: 60
. "$(dirname "$0")/../lib/tap.sh"
BIN=$BUILD/fuzz/fuzz_linker
[[ -x $BIN ]] || skip_all "build it with: make fuzz"
CORPUS=$INSITU_ROOT/tests/fuzz/corpus/fuzz_linker
WORK=$TAP_TMP/corpus
mkdir -p "$WORK"
cp "$CORPUS"/* "$WORK/" 2>/dev/null
ok "fuzz_linker: 10 s without a crash, leak or invariant failure" \
	"$BIN" -max_total_time="${FUZZ_SECONDS:-10}" -max_len=4096 -timeout=10 "$WORK" "$CORPUS"
done_testing
