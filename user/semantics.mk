# Protocol semantics (issue 3): JSON loader with positions (common/json.c), the
# semantics language and its validator, framers, ID extraction, insitu-semantics.
#
# Other parts link the semantics engine with:
#   $(SEMANTICS_OBJS) and $(SEMANTICS_LIBS)
COMMON_SRCS += common/json.c

SEMANTICS_SRCS :=
SEMANTICS_OBJS := $(SEMANTICS_SRCS:%.c=$(BUILD)/obj/%.o)
SEMANTICS_LIBS := -lpcre2-8 -ldl -lm

$(BUILD)/tests/unit/test_json: tests/unit/test_json.c $(COMMON_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $< -o $@ $(COMMON_LIB) -lcmocka -lm $(LDFLAGS)
TEST_BINS += $(BUILD)/tests/unit/test_json
