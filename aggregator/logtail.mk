# insitu-logtail (issue 8): data-driven log-based observer.  `insitu logtail ...` runs
# the insitu-logtail binary next to the insitu CLI.
#
# Small files with one job each: logtail_time (timestamps and zones), logtail_rules
# (loading/validating rules files), logtail_line (line pattern), logtail_eval (rule
# tree), logtail_merge (staleness, merging), logtail_tail (tail -F), logtail_submit
# (insitud or JSON lines; delivery with backlog and reconnection is the observer's
# user/reporter.c, linked as is), logtail_process (the per-line path), logtail_main (CLI).
LOGTAIL_CORE_SRCS := aggregator/logtail_time.c aggregator/logtail_rules.c aggregator/logtail_line.c \
                     aggregator/logtail_eval.c aggregator/logtail_merge.c aggregator/logtail_tail.c \
                     aggregator/logtail_submit.c aggregator/logtail_process.c \
                     user/reporter.c
LOGTAIL_OBJS := $(LOGTAIL_CORE_SRCS:%.c=$(BUILD)/obj/%.o)
# PCRE2 for line patterns (named groups, JIT); cJSON because libinsitu-common's report
# and client code use it.
LOGTAIL_LIBS := -lpcre2-8 -lcjson -lm

BINS += $(BUILD)/insitu-logtail
$(BUILD)/insitu-logtail: $(BUILD)/obj/aggregator/logtail_main.o $(LOGTAIL_OBJS) $(COMMON_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@ $(LOGTAIL_LIBS)

TEST_BINS += $(BUILD)/tests/unit/test_logtail
$(BUILD)/obj/tests/unit/test_logtail.o: CFLAGS += -Iaggregator
$(BUILD)/tests/unit/test_logtail: $(BUILD)/obj/tests/unit/test_logtail.o $(LOGTAIL_OBJS) $(COMMON_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@ $(LOGTAIL_LIBS) -lcmocka

# Fuzz targets: the rules loader (outside input: rules files) and the line path
# (outside input: log lines) with the shipped ZooKeeper rules.
LOGTAIL_FUZZ_SRCS := $(LOGTAIL_CORE_SRCS) common/json.c common/report.c common/insitud_client.c common/log.c common/fileutil.c
$(eval $(call fuzz_target,fuzz_logtail_rules,tests/fuzz/fuzz_logtail_rules.c $(LOGTAIL_FUZZ_SRCS),-Iaggregator $(LOGTAIL_LIBS)))
$(eval $(call fuzz_target,fuzz_logtail_line,tests/fuzz/fuzz_logtail_line.c $(LOGTAIL_FUZZ_SRCS),-Iaggregator $(LOGTAIL_LIBS)))
