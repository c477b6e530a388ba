#!/usr/bin/env bash
# timeout: 300
# The VM harness itself (tests/vm/run-vm) must fail loudly when the guest goes wrong:
# a kernel panic in the middle of a test, a guest test that hangs, one that runs fewer
# tests than it planned, and a guest that never gets anywhere before the hard timeout.
# Each case boots the real guest kernel with a misbehaving guest test from
# tests/vm/selftest/ and checks run-vm's verdict, TAP and console excerpt.
. "$(dirname "$0")/../lib/tap.sh"
cd "$INSITU_ROOT"
[[ ${INSITU_VM:-} == 0 ]] && skip_all "INSITU_VM=0"
need_cmd qemu-system-x86_64 busybox cpio

# run NAME [ENV=V ...] -- ARGS: run-vm in its own run directory; output in $TAP_TMP/NAME.out
run() {
	local name=$1; shift
	local envs=()
	while [[ $1 != -- ]]; do envs+=("$1"); shift; done; shift
	env VM_RUN_DIR="$TAP_TMP/$name" VM_MINIMAL=1 "${envs[@]}" tests/vm/run-vm "$@" >"$TAP_TMP/$name.out" 2>&1
	echo $? > "$TAP_TMP/$name.rc"
}
has() { grep -qE -- "$2" "$TAP_TMP/$1.out"; }
show() { sed 's/^/#   | /' "$TAP_TMP/$1.out" | head -n 60; }

f0=$TAP_FAILED
run crash -- tests/vm/selftest/crash.sh
if grep -q '^1\.\.0 # SKIP' "$TAP_TMP/crash.out"; then skip_all "$(head -n1 "$TAP_TMP/crash.out")"; fi
is "panic: run-vm fails" "$(cat "$TAP_TMP/crash.rc")" 1
ok "panic: the guest's TAP before it still comes back" has crash '^ok [0-9]+ - crash: before the crash'
ok "panic: the cut-off test is a failure" has crash '^not ok [0-9]+ - guest test crash finished'
ok "panic: reported as a panic" has crash '^not ok [0-9]+ - guest kernel ran without panic'
ok "panic: the console log is shown" has crash '^#   .*Kernel panic - not syncing: sysrq triggered crash'
((TAP_FAILED > f0)) && show crash

f0=$TAP_FAILED
run hang VM_TEST_TIMEOUT=5 -- tests/vm/selftest/short.sh tests/vm/selftest/hang.sh
is "hang: run-vm fails" "$(cat "$TAP_TMP/hang.rc")" 1
ok "hang: the guest-side timeout is a failure" has hang '^not ok [0-9]+ - guest test hang finished within 5s'
ok "short plan: is a failure" has hang '^not ok [0-9]+ - guest test short ran its plan \(planned 3, ran 1\)'
ok "hang: the guest still finishes the run" has hang '^ok [0-9]+ - guest ran all tests and powered off'
((TAP_FAILED > f0)) && show hang

f0=$TAP_FAILED
run stuck VM_TIMEOUT=3 -- tests/vm/selftest/hang.sh
is "hard timeout: run-vm fails" "$(cat "$TAP_TMP/stuck.rc")" 1
ok "hard timeout: reported as such" has stuck '^not ok [0-9]+ - guest (reached userspace \(killed after 3s\)|finished within 3s)'
ok "hard timeout: the console log is shown" has stuck '^# --- guest console'
((TAP_FAILED > f0)) && show stuck
done_testing
