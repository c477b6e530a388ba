# tests/vm: the observer's checks on another kernel (Debian's linux-image 6.1) booted
# under qemu with TCG.  `make test-vm` runs only these; `make test` runs them too,
# through tests/run (tests/vm/observer_vm.sh).  Knobs (VM_KERNEL, VM_MODULES,
# VM_KERNEL_PKG, VM_TIMEOUT, ...) are described in docs/vm.md and tests/vm/run-vm.
.PHONY: test-vm
test-vm: setup
	@$(MAKE) --no-print-directory bins
	@BUILD=$(BUILD) INSITU_VM=1 tests/run tests/vm
