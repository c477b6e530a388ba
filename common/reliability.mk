# Reliability (issue 9): the seccomp allow-list helper every daemon can enter once its
# setup is done (common/sandbox.c), and its unit test.
COMMON_SRCS += common/sandbox.c

TEST_BINS += $(BUILD)/tests/unit/test_sandbox
$(BUILD)/tests/unit/test_sandbox: $(BUILD)/obj/tests/unit/test_sandbox.o $(COMMON_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@ -lcmocka
