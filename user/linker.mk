# Rake linking (issue 4): connection table, stream reassembly, request/response
# matching, intra-node and cross-node linking, path trees and their output.
#
# The linker core links with $(LINKER_OBJS) alone; insitu-observer's --paths stage
# (user/linker.h) adds $(LINKER_STAGE_OBJS) and needs the semantics engine.
LINKER_CORE_SRCS := user/stream.c user/match.c user/link.c user/path.c
# The observer stage (needs the semantics engine and the observer's pipeline).
LINKER_STAGE_SRCS := user/conn.c user/linker.c
LINKER_STAGE_OBJS := $(LINKER_STAGE_SRCS:%.c=$(BUILD)/obj/%.o)
LINKER_OBJS := $(LINKER_CORE_SRCS:%.c=$(BUILD)/obj/%.o)

LINKER_UNIT_TESTS := stream match link

define linker_unit_test
$(BUILD)/tests/unit/test_$(1): tests/unit/test_$(1).c $(LINKER_OBJS)
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS) -Iuser $$< -o $$@ $(LINKER_OBJS) -lcmocka $$(LDFLAGS)
TEST_BINS += $(BUILD)/tests/unit/test_$(1)
endef
$(foreach t,$(LINKER_UNIT_TESTS),$(eval $(call linker_unit_test,$(t))))

# insitu-link: the same stage over a --record file (offline, tests, bench).  The
# semantics and observer fragments are read after this one, hence the second
# expansion ($$...) of their object lists.
.SECONDEXPANSION:
LINK_TOOL_OBJS = $(BUILD)/obj/user/link_main.o $(LINKER_STAGE_OBJS) $(LINKER_OBJS) \
	$(SEMANTICS_OBJS) $(BUILD)/obj/user/observer_record.o $(BUILD)/obj/user/observer_pipeline.o
$(BUILD)/insitu-link: $$(LINK_TOOL_OBJS) $(COMMON_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LINK_TOOL_OBJS) $(COMMON_LIB) -o $@ $(SEMANTICS_LIBS) -lzstd $(LDFLAGS)
BINS += $(BUILD)/insitu-link

# make bench: linker throughput (tests/bench/linker.sh).
BENCH_BINS += $(BUILD)/bench/bench_linker
$(BUILD)/bench/bench_linker: tests/bench/bench_linker.c $(LINKER_OBJS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Iuser $< -o $@ $(LINKER_OBJS) $(LDFLAGS)

# The observer stage with the real semantics engine (run from the top directory:
# it loads semantics/http.json).
LINKER_STAGE_TEST_OBJS = $(LINKER_STAGE_OBJS) $(LINKER_OBJS) $(SEMANTICS_OBJS)
$(BUILD)/tests/unit/test_linker: tests/unit/test_linker.c $$(LINKER_STAGE_TEST_OBJS) $(COMMON_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Iuser $< -o $@ $(LINKER_STAGE_TEST_OBJS) $(COMMON_LIB) -lcmocka $(SEMANTICS_LIBS) $(LDFLAGS)
TEST_BINS += $(BUILD)/tests/unit/test_linker

# The linker with the kernel's ids blocks (--payload=ids), on recorded streams.
IDS_ONLY_TEST_OBJS = $(LINKER_STAGE_TEST_OBJS) $(BUILD)/obj/user/observer_record.o $(BUILD)/obj/user/observer_pipeline.o
$(BUILD)/tests/unit/test_ids_only: tests/unit/test_ids_only.c $$(IDS_ONLY_TEST_OBJS) $(COMMON_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Iuser $< -o $@ $(IDS_ONLY_TEST_OBJS) $(COMMON_LIB) -lcmocka $(SEMANTICS_LIBS) -lzstd $(LDFLAGS)
TEST_BINS += $(BUILD)/tests/unit/test_ids_only

# libFuzzer: message sequences through the linking rules.
$(eval $(call fuzz_target,fuzz_linker,tests/fuzz/fuzz_linker.c $(LINKER_CORE_SRCS),-lcjson))
