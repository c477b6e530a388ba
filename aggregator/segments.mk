# Path segments in insitud (aggregator/segments*.c, listed in INSITUD_SRCS): the fuzz
# target of their parsers of outside input (observer records, peer SEGQ/SEGR payloads).
$(eval $(call fuzz_target,fuzz_agg_segments,tests/fuzz/fuzz_agg_segments.c aggregator/segments.c aggregator/segments_query.c aggregator/strmap.c,-Iaggregator -lcjson -lm))
