#!/usr/bin/env bash
# Guest self-test of the harness (tests/vm/harness_vm.sh): crashes the guest kernel
# in the middle of a test, as a BPF program gone wrong would.
# Never on a real machine: only in the guest that tests/vm/run-vm boots.
{ grep -q "insitu.timeout=" /proc/cmdline && [ "$(hostname)" = insitu-vm ]; } || { echo "1..0 # SKIP only inside the test VM"; exit 0; }
echo "ok 1 - before the crash"
echo c > /proc/sysrq-trigger
echo "ok 2 - after the crash (never printed)"
echo "1..2"
