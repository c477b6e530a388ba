# Reliability (issue 9): longer fuzzing than the suite's bounded runs.
#   make fuzz-long [FUZZ_LONG_SECONDS=600]   every libFuzzer target, from its seed corpus,
#                                             prints executions and crashes per target
.PHONY: fuzz-long
fuzz-long: fuzz
	@BUILD=$(BUILD) scripts/fuzz-long

# Fuzz target: insitud's configuration file parser (aggregator/config.c), operator
# input parsed as root.
$(eval $(call fuzz_target,fuzz_agg_config,tests/fuzz/fuzz_agg_config.c aggregator/config.c common/json.c common/report.c common/log.c common/fileutil.c,-Iaggregator -lcjson -lm))
