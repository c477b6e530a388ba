#!/usr/bin/env bash
# Guest self-test of the harness (tests/vm/harness_vm.sh): a test that never ends.
# Never on a real machine: only in the guest that tests/vm/run-vm boots.
{ grep -q "insitu.timeout=" /proc/cmdline && [ "$(hostname)" = insitu-vm ]; } || { echo "1..0 # SKIP only inside the test VM"; exit 0; }
echo "ok 1 - before the hang"
sleep 100000
echo "1..1"
