# Protocol semantics (issue 3): JSON loader with positions (common/json.c), the
# semantics language and its validator, framers, ID extraction, insitu-semantics,
# ID-function plugins (plugins/).
#
# Other parts link the semantics engine with:
#   $(SEMANTICS_OBJS) $(COMMON_LIB) $(SEMANTICS_LIBS)
# PCRE2 (libpcre2-8) for regex ids, with JIT; libdl for plugins.
COMMON_SRCS += common/json.c

SEMANTICS_SRCS := user/semantics_load.c user/framer.c user/extract.c user/extract_kernel.c
SEMANTICS_OBJS := $(SEMANTICS_SRCS:%.c=$(BUILD)/obj/%.o)
SEMANTICS_LIBS := -lpcre2-8 -ldl -lm

BINS += $(BUILD)/insitu-semantics
$(BUILD)/insitu-semantics: $(BUILD)/obj/user/semantics_main.o $(SEMANTICS_OBJS) $(COMMON_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@ $(SEMANTICS_LIBS)

# Example ID-function plugin (DNS question decoding), next to the binaries so the
# default plugin search (<program dir>/plugins) finds it.
PLUGINS := $(BUILD)/plugins/insitu-dns.so
BINS += $(PLUGINS)
$(BUILD)/plugins/insitu-%.so: plugins/%.c include/insitu/idfunc.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -fPIC -shared -fvisibility=hidden $< -o $@ $(LDFLAGS)

SEM_TESTS := json framer extract
TEST_BINS += $(SEM_TESTS:%=$(BUILD)/tests/unit/test_%)
$(BUILD)/tests/unit/test_json: tests/unit/test_json.c $(COMMON_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $< -o $@ $(COMMON_LIB) -lcmocka -lm $(LDFLAGS)
$(BUILD)/tests/unit/test_semantics $(BUILD)/tests/unit/test_framer $(BUILD)/tests/unit/test_extract: \
		$(BUILD)/tests/unit/test_%: tests/unit/test_%.c $(SEMANTICS_OBJS) $(COMMON_LIB) $(PLUGINS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Iuser $< -o $@ $(SEMANTICS_OBJS) $(COMMON_LIB) -lcmocka $(SEMANTICS_LIBS) $(LDFLAGS)


# Installing the kernel rule table needs libbpf: only the observer side links it.
XK_INSTALL_OBJS := $(BUILD)/obj/user/extract_kernel_install.o

# Kernel/user-space agreement checker (tests/integration/semantics_kernel.sh, bench).
TEST_BINS += $(BUILD)/tests/tools/xk_agree
$(BUILD)/tests/tools/xk_agree: tests/tools/xk_agree.c $(SEMANTICS_OBJS) $(XK_INSTALL_OBJS) $(OBSERVER_OBJS) $(COMMON_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Iuser $^ -o $@ $(SEMANTICS_LIBS) $(OBSERVER_LIBS) $(LDFLAGS)

# Rewrites a recording as --payload=full|ids would have written it (tests/bench/semantics.sh).
BENCH_BINS += $(BUILD)/tests/tools/xk_stamp
$(BUILD)/tests/tools/xk_stamp: tests/tools/xk_stamp.c $(SEMANTICS_OBJS) $(BUILD)/obj/user/observer_record.o $(BUILD)/obj/user/observer_pipeline.o $(COMMON_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Iuser $^ -o $@ $(SEMANTICS_LIBS) -lzstd $(LDFLAGS)

# libFuzzer targets: the JSON loader+validator, and each framer (with extraction and
# the kernel interpreter's C reference on every frame).
FUZZ_SEM_SRCS := $(SEMANTICS_SRCS) common/json.c common/fileutil.c
$(eval $(call fuzz_target,fuzz_semantics_load,tests/fuzz/fuzz_semantics_load.c $(FUZZ_SEM_SRCS),-lpcre2-8 -ldl -lm))
$(foreach k,line length varint http1 resp datagram,$(eval $(call fuzz_target,fuzz_framer_$(k),tests/fuzz/fuzz_framer_$(k).c $(FUZZ_SEM_SRCS),-lpcre2-8 -ldl -lm)))
$(foreach k,line length varint http1 resp datagram,$(BUILD)/fuzz/fuzz_framer_$(k)): tests/fuzz/fuzz_framer.inc
# ids blocks from recordings (xk_result), and the interpreter's blocks decoding back.
$(eval $(call fuzz_target,fuzz_ids_block,tests/fuzz/fuzz_ids_block.c $(FUZZ_SEM_SRCS),-lpcre2-8 -ldl -lm))

# make bench: user-space extraction throughput, ring-buffer bytes per event.
BENCH_BINS += $(BUILD)/bench/bench_extract
$(BUILD)/bench/bench_extract: tests/bench/bench_extract.c $(SEMANTICS_OBJS) $(COMMON_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Iuser $< -o $@ $(SEMANTICS_OBJS) $(COMMON_LIB) $(SEMANTICS_LIBS) $(LDFLAGS)
