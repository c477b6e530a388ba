# Path segments in insitud (aggregator/segments*.c, listed in INSITUD_SRCS): the fuzz
# target of their parsers of outside input (observer records, peer SEGQ/SEGR payloads).
$(eval $(call fuzz_target,fuzz_agg_segments,tests/fuzz/fuzz_agg_segments.c aggregator/segments.c aggregator/segments_query.c aggregator/strmap.c,-Iaggregator -lcjson -lm))

# Unit test of the store and the query flow (cmocka).
TEST_BINS += $(BUILD)/tests/unit/test_segments
$(BUILD)/obj/tests/unit/test_segments.o: CFLAGS += -Iaggregator
$(BUILD)/tests/unit/test_segments: $(BUILD)/obj/tests/unit/test_segments.o $(BUILD)/obj/aggregator/segments.o \
		$(BUILD)/obj/aggregator/segments_query.o $(BUILD)/obj/aggregator/strmap.o
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@ -lcjson -lcmocka -lm
