# common/: the small library every insitu program links (libinsitu-common.a).
COMMON_SRCS += common/log.c common/fileutil.c

$(BUILD)/tests/unit/test_fileutil: tests/unit/test_fileutil.c $(COMMON_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $^ -o $@ -lcmocka $(LDFLAGS)
TEST_BINS += $(BUILD)/tests/unit/test_fileutil
