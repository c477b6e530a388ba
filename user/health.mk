# In-situ health (issue 6): paths and connection signals -> Panorama reports.
HEALTH_SRCS := user/health.c
HEALTH_OBJS := $(HEALTH_SRCS:%.c=$(BUILD)/obj/%.o)

$(BUILD)/tests/unit/test_health: tests/unit/test_health.c $(HEALTH_OBJS) $(COMMON_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Iuser $^ -o $@ -lcmocka -lcjson -lm $(LDFLAGS)
TEST_BINS += $(BUILD)/tests/unit/test_health
