# In-situ health (issue 6): paths and connection signals -> Panorama reports.
HEALTH_SRCS := user/health.c user/health_cfg.c user/names.c
HEALTH_OBJS := $(HEALTH_SRCS:%.c=$(BUILD)/obj/%.o)

define health_unit_test
$(BUILD)/tests/unit/test_$(1): tests/unit/test_$(1).c $(HEALTH_OBJS) $(COMMON_LIB)
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS) -Iuser $$^ -o $$@ -lcmocka -lcjson -lm $$(LDFLAGS)
TEST_BINS += $(BUILD)/tests/unit/test_$(1)
endef
$(foreach t,health names,$(eval $(call health_unit_test,$(t))))

# The stage inside insitu-observer (needs the linker's and the observer's headers)
# and the delivery of reports to insitud.
HEALTH_STAGE_SRCS := user/health_sink.c user/reporter.c
HEALTH_STAGE_OBJS := $(HEALTH_STAGE_SRCS:%.c=$(BUILD)/obj/%.o)
$(HEALTH_STAGE_OBJS): CFLAGS += -Iuser

# The stage's attribution rules, on hand-built request paths (the linker core's
# objects are spelled out: linker.mk is read after this fragment).
HEALTH_LINK_OBJS := $(patsubst %,$(BUILD)/obj/user/%.o,stream match link path)
$(BUILD)/tests/unit/test_health_sink: tests/unit/test_health_sink.c $(HEALTH_STAGE_OBJS) $(HEALTH_OBJS) $(HEALTH_LINK_OBJS) $(COMMON_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Iuser $^ -o $@ -lcmocka -lcjson -lm $(LDFLAGS)
TEST_BINS += $(BUILD)/tests/unit/test_health_sink

# Fuzz targets for the two files an operator writes: --names and --thresholds.
$(eval $(call fuzz_target,fuzz_names,tests/fuzz/fuzz_names.c user/names.c common/json.c common/report.c common/fileutil.c,-lcjson -lm))
$(eval $(call fuzz_target,fuzz_health_cfg,tests/fuzz/fuzz_health_cfg.c user/health_cfg.c user/health.c common/report.c common/fileutil.c,-lcjson -lm))
