#!/usr/bin/env bash
# timeout: 1000
# The observer on another kernel: Debian's linux-image 6.1 (fetched with apt-get
# download, never installed) booted under qemu-system-x86_64 with TCG, a busybox
# initramfs holding the built binaries, and the guest tests in tests/vm/guest/.
# The guest's TAP comes back over the serial console; see tests/vm/run-vm, docs/vm.md.
#
# Emulation makes it slow (about 1.5 min on an idle 2-core host, 4-5 min on a busy
# one; docs/vm.md), still within the suite's budget, so it is part of `make test` and
# .ci/run.  INSITU_VM=0 leaves it out; a kernel package that cannot be downloaded (no
# archive reachable, nothing cached) is a SKIP.
set -uo pipefail
cd "$(dirname "$0")/../.."
if [[ ${INSITU_VM:-} == 0 ]]; then echo "1..0 # SKIP INSITU_VM=0"; exit 0; fi
exec tests/vm/run-vm
