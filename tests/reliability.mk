# Reliability (issue 9): longer fuzzing than the suite's bounded runs.
#   make fuzz-long [FUZZ_LONG_SECONDS=600]   every libFuzzer target, from its seed corpus,
#                                             prints executions and crashes per target
.PHONY: fuzz-long
fuzz-long: fuzz
	@BUILD=$(BUILD) scripts/fuzz-long
