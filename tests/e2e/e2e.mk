# End-to-end health acceptance (issue 6): fault-injection tools and `make demo`.
#
# delayq holds NFQUEUE'd packets N ms (this kernel has no netem): tests/lib/faults.sh
# pairs it with an iptables rule in the faulty node's namespace.
DELAYQ := $(BUILD)/tests/tools/delayq
$(DELAYQ): tests/tools/delayq.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $< -o $@ $(LDFLAGS) $(shell $(PKG_CONFIG) --libs libnetfilter_queue 2>/dev/null || echo -lnetfilter_queue)
TEST_BINS += $(DELAYQ)

.PHONY: demo
# A small multi-tier topology in namespaces, a delay injected on one backend, its
# detection by insitu-observer + insitud, and recovery (scripts/demo; needs root).
demo: setup
	@$(MAKE) --no-print-directory bins $(DELAYQ)
	@BUILD=$(BUILD) scripts/demo
