# aggregator/: insitud (store, inference, persistence, socket API, peers) and the
# insitu CLI.  The report format and the insitud client live in common/ because the
# observer and logtail submit reports too; they need -lcjson when they link.
COMMON_SRCS += common/report.c common/insitud_client.c

AGG_CORE_SRCS := aggregator/strmap.c aggregator/inference.c aggregator/store.c
AGG_CORE_OBJS := $(AGG_CORE_SRCS:%.c=$(BUILD)/obj/%.o)
AGG_CFLAGS    := -Iaggregator
AGG_LIBS      := -lcjson

$(BUILD)/obj/aggregator/%.o: CFLAGS += $(AGG_CFLAGS)
$(BUILD)/obj/tests/unit/test_store.o $(BUILD)/obj/tests/unit/test_inference.o \
$(BUILD)/obj/tests/unit/test_frame.o $(BUILD)/obj/tests/unit/test_persist.o: CFLAGS += $(AGG_CFLAGS)

TEST_BINS += $(BUILD)/tests/unit/test_inference $(BUILD)/tests/unit/test_store
$(BUILD)/tests/unit/test_inference $(BUILD)/tests/unit/test_store: $(BUILD)/tests/unit/test_%: \
		$(BUILD)/obj/tests/unit/test_%.o $(AGG_CORE_OBJS) $(BUILD)/obj/aggregator/hold.o \
		$(BUILD)/obj/aggregator/registry.o $(COMMON_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@ $(AGG_LIBS) -lcmocka -lm

# insitud: the daemon
INSITUD_SRCS := aggregator/registry.c aggregator/persist.c aggregator/config.c aggregator/hold.c \
                aggregator/core.c aggregator/requests.c aggregator/api.c aggregator/frame.c \
                aggregator/peers.c aggregator/segments.c aggregator/segments_query.c
INSITUD_OBJS := $(INSITUD_SRCS:%.c=$(BUILD)/obj/%.o)
INSITUD_LIBS := -lsqlite3 -lcjson -lsodium -lm
BINS += $(BUILD)/insitud
$(BUILD)/insitud: $(BUILD)/obj/aggregator/insitud.o $(INSITUD_OBJS) $(AGG_CORE_OBJS) $(COMMON_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@ $(INSITUD_LIBS)

# insitu: the CLI (libedit for line editing and history)
INSITU_CLI_SRCS := aggregator/cli.c aggregator/cli_cmds.c aggregator/cli_table.c aggregator/cli_mkconfig.c \
                   aggregator/cli_paths.c
BINS += $(BUILD)/insitu
$(BUILD)/insitu: $(INSITU_CLI_SRCS:%.c=$(BUILD)/obj/%.o) $(COMMON_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@ -lcjson -ledit -lm

# fuzz targets: the socket request parser and the peer frame decoder
AGG_FUZZ_SRCS := $(filter-out aggregator/insitud.c,$(INSITUD_SRCS)) $(AGG_CORE_SRCS) \
                 common/report.c common/log.c common/json.c common/fileutil.c
$(eval $(call fuzz_target,fuzz_agg_requests,tests/fuzz/fuzz_agg_requests.c $(AGG_FUZZ_SRCS),-Iaggregator -lsqlite3 -lcjson -lsodium -lm))
$(eval $(call fuzz_target,fuzz_agg_frame,tests/fuzz/fuzz_agg_frame.c aggregator/frame.c common/report.c,-Iaggregator -lcjson -lsodium -lm))

# benchmark load generator (tests/bench/aggregator.sh)
BENCH_BINS += $(BUILD)/bench/bench_agg
$(BUILD)/bench/bench_agg: $(BUILD)/obj/tests/bench/bench_agg.o $(COMMON_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@ -lcjson -lm

TEST_BINS += $(BUILD)/tests/unit/test_frame $(BUILD)/tests/unit/test_persist $(BUILD)/tests/unit/test_report
$(BUILD)/tests/unit/test_frame: $(BUILD)/obj/tests/unit/test_frame.o $(BUILD)/obj/aggregator/frame.o
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@ -lsodium -lcmocka
$(BUILD)/tests/unit/test_persist: $(BUILD)/obj/tests/unit/test_persist.o $(BUILD)/obj/aggregator/persist.o \
		$(BUILD)/obj/aggregator/registry.o $(AGG_CORE_OBJS) $(COMMON_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@ -lsqlite3 -lcjson -lcmocka -lm
$(BUILD)/tests/unit/test_report: $(BUILD)/obj/tests/unit/test_report.o $(COMMON_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@ -lcjson -lcmocka -lm
