# Rake linking (issue 4): connection table, stream reassembly, request/response
# matching, intra-node and cross-node linking, path trees and their output.
#
# Other parts link the linker with $(LINKER_OBJS) (no extra libraries).
LINKER_CORE_SRCS := user/stream.c user/match.c user/link.c user/path.c
LINKER_OBJS := $(LINKER_CORE_SRCS:%.c=$(BUILD)/obj/%.o)

LINKER_UNIT_TESTS := stream match link

define linker_unit_test
$(BUILD)/tests/unit/test_$(1): tests/unit/test_$(1).c $(LINKER_OBJS)
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS) -Iuser $$< -o $$@ $(LINKER_OBJS) -lcmocka $$(LDFLAGS)
TEST_BINS += $(BUILD)/tests/unit/test_$(1)
endef
$(foreach t,$(LINKER_UNIT_TESTS),$(eval $(call linker_unit_test,$(t))))
