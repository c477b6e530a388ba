# insitu-observer (issue 2): loader, ring-buffer consumer, dump, record/replay, stats.
# Other parts plug into the pipeline (user/observer_sink.h) and link $(OBSERVER_OBJS)
# with $(OBSERVER_LIBS); the binary's main is user/observer.c.
OBSERVER_CORE_SRCS := user/observer_pipeline.c user/observer_dump.c user/observer_record.c
OBSERVER_BPF_SRCS  := user/observer_loader.c user/observer_consumer.c user/privdrop.c
OBSERVER_OBJS := $(OBSERVER_CORE_SRCS:%.c=$(BUILD)/obj/%.o) $(OBSERVER_BPF_SRCS:%.c=$(BUILD)/obj/%.o)
OBSERVER_LIBS := -lbpf -lelf -lz -lzstd

# The loader embeds the kernel object through its skeleton.
$(BUILD)/obj/user/observer_loader.o: $(BUILD)/observer.skel.h

$(BUILD)/insitu-observer: $(BUILD)/obj/user/observer.o $(OBSERVER_OBJS) $(COMMON_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $^ -o $@ $(OBSERVER_LIBS) $(LDFLAGS)
BINS += $(BUILD)/insitu-observer

# Unit tests (cmocka) of the user-space pieces that need no kernel.
define observer_unit_test
$(BUILD)/tests/unit/test_$(1): tests/unit/test_$(1).c $(OBSERVER_CORE_SRCS:%.c=$(BUILD)/obj/%.o) $(COMMON_LIB)
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS) $$^ -o $$@ -lcmocka -lzstd $$(LDFLAGS)
TEST_BINS += $(BUILD)/tests/unit/test_$(1)
endef
$(foreach t,observer_record observer_dump,$(eval $(call observer_unit_test,$(t))))

# Fuzzing the record-file reader (outside input).
$(eval $(call fuzz_target,observer_replay,tests/fuzz/observer_replay_fuzz.c user/observer_record.c user/observer_pipeline.c common/log.c common/fileutil.c,-lzstd))

# Traffic generator for the rarer syscall families (tests).
$(BUILD)/tests/tools/trafficgen: tests/tools/trafficgen.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $< -o $@ $(LDFLAGS)
TEST_BINS += $(BUILD)/tests/tools/trafficgen

# Overhead benchmark's load: TCP ping-pong (tests/bench/observer.sh).
$(BUILD)/tests/bench/pingpong: tests/bench/pingpong.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $< -o $@ -lpthread $(LDFLAGS)
BENCH_BINS += $(BUILD)/tests/bench/pingpong
