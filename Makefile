# insitu — top-level build.
#
# Each part of the tree describes its own targets in fragments (bpf/observer.mk,
# user/semantics.mk, ...: any <dir>/*.mk) included below, so parts can grow without touching this
# file.  Everything built goes to $(BUILD); nothing is written into the source tree.
#
#   make              build everything (kernel objects, binaries, tests)
#   make SAN=1        the same with ASan+UBSan, into build/san
#   make test         install dependencies, build, run the whole suite
#   make run          install dependencies, build, start insitud + insitu-observer
#   make bench        benchmarks (figures go to BENCHMARKS.md by hand)
#   make vmlinux      regenerate vmlinux/vmlinux.h from this kernel's BTF

SHELL       := /bin/bash
.DEFAULT_GOAL := all

ARCH        ?= $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
CC          ?= cc
CLANG       ?= clang
BPFTOOL     ?= bpftool
PKG_CONFIG  ?= pkg-config
NPROC       := $(shell nproc 2>/dev/null || echo 2)

ifeq ($(SAN),1)
BUILD       ?= build/san
SANFLAGS    := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD       ?= build
SANFLAGS    :=
endif

WARN        := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-unused-parameter \
               -Wstrict-prototypes -Wmissing-prototypes -Wvla
CFLAGS      ?= -O2 -g
CFLAGS      += -std=gnu11 $(WARN) $(SANFLAGS) -D_GNU_SOURCE -Iinclude -Icommon -I$(BUILD)
LDFLAGS     += $(SANFLAGS)

# Kernel side: CO-RE objects compiled once, embedded into user binaries as skeletons.
BPF_CFLAGS  := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Ivmlinux -Ibpf -Iinclude \
               -Wall -Werror -Wno-unused-function

# libFuzzer targets are built with clang straight from the sources they fuzz, so
# that the code under test is instrumented too.  Use: $(eval $(call fuzz_target,NAME,SRCS,LIBS))
FUZZ_CFLAGS := -g -O1 -std=gnu11 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
               $(WARN) -Iinclude -Icommon -I$(BUILD)
define fuzz_target
FUZZ_BINS += $(BUILD)/fuzz/$(1)
$(BUILD)/fuzz/$(1): $(2)
	@mkdir -p $$(@D)
	$(CLANG) $(FUZZ_CFLAGS) $(2) -o $$@ $(3)
endef

# Fragments append to these (define rules with := / immediate prerequisites in mind:
# COMMON_LIB and BUILD are already set when fragments are read).
BINS        :=
TEST_BINS   :=
FUZZ_BINS   :=
BENCH_BINS  :=
CLEAN_EXTRA :=

# libinsitu-common: small helpers every part needs (logging, time, JSON with
# positions, ...).  Fragments add their sources to COMMON_SRCS.
COMMON_SRCS :=
COMMON_LIB  := $(BUILD)/libinsitu-common.a

include $(sort $(wildcard */*.mk tests/*/*.mk))

COMMON_OBJS := $(COMMON_SRCS:%.c=$(BUILD)/obj/%.o)
$(COMMON_LIB): $(COMMON_OBJS)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

.PHONY: all bins tests fuzz bench-bins setup test test-unit run bench clean vmlinux help

all: bins tests

bins: $(BINS)
tests: $(TEST_BINS)
fuzz: $(FUZZ_BINS)
bench-bins: $(BENCH_BINS)

# Installs every build and test dependency from Debian (idempotent, quiet).
setup:
	@scripts/setup

# The whole suite: unit, integration (as root, real programs), fuzz (time-bounded).
test: setup
	@$(MAKE) --no-print-directory -j$(NPROC) all fuzz
	@BUILD=$(BUILD) tests/run

# Quick loop for development: only tests/unit.
test-unit: tests
	@BUILD=$(BUILD) tests/run tests/unit

run: setup
	@$(MAKE) --no-print-directory -j$(NPROC) bins
	@BUILD=$(BUILD) scripts/run

bench: setup
	@$(MAKE) --no-print-directory -j$(NPROC) bins bench-bins
	@BUILD=$(BUILD) scripts/bench

vmlinux:
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > vmlinux/vmlinux.h

clean:
	rm -rf build $(CLEAN_EXTRA)

help:
	@sed -n '1,/^$$/p' Makefile | sed -n 's/^# \{0,1\}//p'
