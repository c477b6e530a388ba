# Path records for insitud (user/path_report.c, the observer's --report-paths): path.c's
# JSON with payload-derived labels replaced by keyed hashes (libsodium's BLAKE2b, the
# library insitud already uses for its peer MACs).
$(BUILD)/obj/user/path_report.o: CFLAGS += -Iuser
$(BUILD)/insitu-observer: $(BUILD)/obj/user/path_report.o
OBSERVER_LIBS += -lsodium
