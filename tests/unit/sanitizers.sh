#!/usr/bin/env bash
# timeout: 1200
# Every cmocka unit test again, built with ASan+UBSan (make SAN=1, into build/san):
# the user-space code must pass under the sanitizers, not only build with them, and
# a test that passes in the normal build can still read past a buffer.  One test
# point per binary: it must exit 0, fail no cmocka test and print no sanitizer report.
# (The fuzz targets are ASan+UBSan builds of their own; tests/fuzz runs them.)
. "$(dirname "$0")/../lib/tap.sh"
cd "$INSITU_ROOT"
SANBUILD=build/san
[[ $BUILD == "$SANBUILD" ]] && skip_all "already running under BUILD=$SANBUILD"

log=$TAP_TMP/make.log
# BUILD is exported by tests/run (build): name the sanitizer tree on the command line,
# or SAN=1 would rebuild nothing and the normal binaries would be run again
if ! make --no-print-directory -j"$(nproc)" SAN=1 BUILD="$SANBUILD" tests >"$log" 2>&1; then
	fail "make SAN=1 tests"
	tail -n 30 "$log" | sed 's/^/# /'
	exit 0
fi
pass "make SAN=1 tests builds with warnings as errors"

n=0
for t in "$SANBUILD"/tests/unit/test_*; do
	[[ -x $t && ! -d $t ]] || continue
	n=$((n + 1))
	name=$(basename "$t")
	out=$TAP_TMP/$name.out
	# halt_on_error: the first report ends the binary with a non-zero status
	ASAN_OPTIONS=halt_on_error=1:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		CMOCKA_MESSAGE_OUTPUT=TAP "$t" >"$out" 2>&1
	rc=$?
	bad=$(grep -cE '^not ok' "$out")
	san=$(grep -cE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$out")
	if ((rc == 0 && bad == 0 && san == 0)); then
		pass "$name under ASan+UBSan ($(grep -cE '^ok' "$out") tests)"
	else
		fail "$name under ASan+UBSan: exit $rc, $bad failed, $san sanitizer reports"
		grep -E -A 12 '^not ok|ERROR: (Address|Leak)Sanitizer|runtime error:' "$out" | head -n 40 | sed 's/^/# /'
	fi
done
((n >= 10)) && pass "$n unit test binaries ran under the sanitizers" ||
	fail "only $n unit test binaries found in $SANBUILD/tests/unit"
