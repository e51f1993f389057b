# tbhelper: top-level build. GNU make; every library through pkg-config.
#   make            build build/tbhelperd build/tbhelperctl build/tbsim
#   make check      every test (unit, simulator over loopback, fuzz, kernel test bed)
#   make deps       install the Debian packages the build and tests need
#   make install    DESTDIR=... PREFIX=/usr
#   make demo       the end-to-end demonstration (README's first command)
#   make bench      benchmarks that print figures (the engine, natively)
#   make bench-kernel  the kernel benchmark: tbhelperd side by side with its
#                   baselines in the VM test bed (docs/performance.md)
#   make fuzz       libFuzzer targets for FUZZ_SECONDS each
#   make deb        the Debian package (DIST=trixie: built in a Debian 13 root)

VERSION    := $(shell cat VERSION 2>/dev/null || echo 0.1.0)
BUILD      ?= build
PREFIX     ?= /usr
SBINDIR    ?= $(PREFIX)/sbin
SYSCONFDIR ?= /etc
DATADIR    ?= $(PREFIX)/share
FUZZ_SECONDS ?= 60
FUZZ_JOBS    ?= 1

CXX        ?= g++
PKG_CONFIG ?= pkg-config
CXXFLAGS   ?= -O2 -g
CXXFLAGS   += -std=c++20 -Wall -Wextra -Wshadow -Wformat=2 -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE
CPPFLAGS   += -Ilib -DTBHELPER_VERSION='"$(VERSION)"' -MMD -MP
LDFLAGS    += -pie -Wl,-z,relro,-z,now

pc_cflags = $(shell $(PKG_CONFIG) --cflags $(1) 2>/dev/null)
pc_libs   = $(shell $(PKG_CONFIG) --libs $(1) 2>/dev/null)

LIB_PKGS   := fmt tomlplusplus nlohmann_json
DAEMON_PKGS:= libmnl libnetfilter_queue libnetfilter_conntrack libnetfilter_cthelper libsystemd
CTL_PKGS   := libmnl libnetfilter_conntrack libnetfilter_cthelper libnftables libpcap
SIM_PKGS   :=

LIB_SRCS    := $(sort $(wildcard lib/*/*.cpp))
DAEMON_SRCS := $(sort $(wildcard nfhelper/*.cpp))
CTL_SRCS    := $(sort $(wildcard ctl/*.cpp))
SIM_SRCS    := $(sort $(wildcard tools/tbsim/*.cpp))
UNIT_SRCS   := $(sort $(wildcard tests/unit/*.cpp))
# The daemon's pure units (no sockets, no netfilter libraries), unit-tested.
DAEMON_PURE_SRCS := nfhelper/log.cpp nfhelper/log_limiter.cpp nfhelper/kernel_text.cpp
# bench_analyze.cpp and bench_daemon.cpp have their own main (build/bench-analyze,
# build/bench-daemon); the rest is build/bench.
BENCH_SRCS  := $(filter-out tests/bench/bench_analyze.cpp tests/bench/bench_daemon.cpp,$(sort $(wildcard tests/bench/*.cpp)))
# The daemon's per-packet path without its sockets (nfhelper/helper_core) and what it logs with.
BENCH_DAEMON_OBJS = $(call obj,tests/bench/bench_daemon.cpp nfhelper/helper_core.cpp nfhelper/kernel_text.cpp $(DAEMON_PURE_SRCS))
FUZZ_SRCS   := $(sort $(wildcard tests/fuzz/*.cpp))

obj = $(patsubst %.cpp,$(BUILD)/obj/%.o,$(1))

LIB_A := $(BUILD)/libtbhelper.a
PROGRAMS := $(BUILD)/tbhelperd $(BUILD)/tbhelperctl $(BUILD)/tbsim

.PHONY: all check unit deps install demo bench bench-kernel fuzz deb clean
all: $(PROGRAMS)

$(BUILD)/obj/lib/%.o: CPPFLAGS += $(call pc_cflags,$(LIB_PKGS))
# lib/netfilter/ is the kernel adapters: the netfilter libraries' headers.
$(BUILD)/obj/lib/netfilter/%.o: CPPFLAGS += $(call pc_cflags,$(DAEMON_PKGS) $(CTL_PKGS))
$(BUILD)/obj/nfhelper/%.o: CPPFLAGS += $(call pc_cflags,$(LIB_PKGS) $(DAEMON_PKGS))
$(BUILD)/obj/ctl/%.o: CPPFLAGS += $(call pc_cflags,$(LIB_PKGS) $(CTL_PKGS))
$(BUILD)/obj/tests/%.o: CPPFLAGS += $(call pc_cflags,$(LIB_PKGS) catch2)
$(BUILD)/obj/tests/bench/bench_daemon.o: CPPFLAGS += $(call pc_cflags,$(DAEMON_PKGS))

$(BUILD)/obj/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) -c $< -o $@

$(LIB_A): $(call obj,$(LIB_SRCS))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/tbhelperd: $(call obj,$(DAEMON_SRCS)) $(LIB_A)
	$(CXX) $(LDFLAGS) -o $@ $^ $(call pc_libs,$(DAEMON_PKGS) $(LIB_PKGS))

$(BUILD)/tbhelperctl: $(call obj,$(CTL_SRCS)) $(LIB_A)
	$(CXX) $(LDFLAGS) -o $@ $^ $(call pc_libs,$(CTL_PKGS) $(LIB_PKGS))

$(BUILD)/tbsim: $(call obj,$(SIM_SRCS)) $(LIB_A)
	$(CXX) $(LDFLAGS) -o $@ $^ $(call pc_libs,$(LIB_PKGS)) -lpthread

$(BUILD)/unit-tests: $(call obj,$(UNIT_SRCS) $(DAEMON_PURE_SRCS)) $(LIB_A)
	$(CXX) $(LDFLAGS) -o $@ $^ $(call pc_libs,$(LIB_PKGS) libpcap libsystemd libmnl libnetfilter_conntrack)

$(BUILD)/bench: $(call obj,$(BENCH_SRCS)) $(LIB_A)
	$(CXX) $(LDFLAGS) -o $@ $^ $(call pc_libs,$(LIB_PKGS))

$(BUILD)/bench-analyze: $(call obj,tests/bench/bench_analyze.cpp) $(LIB_A)
	$(CXX) $(LDFLAGS) -o $@ $^ $(call pc_libs,$(LIB_PKGS))

unit: $(BUILD)/unit-tests

# Every test: unit tests, simulator sessions over loopback, the fuzzers
# (tests/check.sh: 30 s each unless FUZZ_SECONDS), the kernel scenarios on
# Debian 13's, Debian 12's and unstable's kernels under QEMU
# (tests/kernel/kernels.txt), both packages; each section's time at the end.
# Built with one job per core (CI calls plain `make check`): a serial build of
# everything took minutes of the run's hour.
JOBS ?= $(shell nproc 2>/dev/null || echo 1)
check:
	$(MAKE) --no-print-directory -j$(JOBS) all $(BUILD)/unit-tests
	JOBS=$(JOBS) tests/check.sh

deps:
	tools/install-deps.sh

# Fuzzers: clang, libFuzzer, ASan and UBSan; the engine is recompiled with them.
FUZZ_CXX      ?= clang++
FUZZ_FLAGS    := -std=c++20 -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined -Ilib
FUZZ_BINS     := $(patsubst tests/fuzz/%.cpp,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
# lib/ is compiled once with the sanitizers into build/fuzz/libtbhelper.a and
# linked into every target (a target uses what it fuzzes; the linker drops the
# rest), so a new parser needs only its tests/fuzz/fuzz_NAME.cpp.
FUZZ_PKGS     := $(LIB_PKGS) libpcap $(DAEMON_PKGS)
FUZZ_LIB_OBJS := $(patsubst %.cpp,$(BUILD)/fuzz/obj/%.o,$(LIB_SRCS))
FUZZ_LIB_A    := $(BUILD)/fuzz/libtbhelper.a
$(BUILD)/fuzz/obj/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -DTBHELPER_VERSION='"$(VERSION)"' -MMD -MP $(call pc_cflags,$(FUZZ_PKGS)) -c $< -o $@
$(FUZZ_LIB_A): $(FUZZ_LIB_OBJS)
	rm -f $@ && ar rcs $@ $^
$(BUILD)/fuzz/%: tests/fuzz/%.cpp $(FUZZ_LIB_A)
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_FLAGS) $(FUZZ_TARGET_FLAGS) -fsanitize=fuzzer -MMD -MP -MF $@.d $(call pc_cflags,$(FUZZ_PKGS)) -o $@ $< $(FUZZ_TARGET_OBJS) $(FUZZ_LIB_A) $(call pc_libs,$(FUZZ_PKGS))
# The queue message target runs the daemon's per-packet path too
# (nfhelper/helper_core.cpp and what it logs with), compiled the same way.
FUZZ_DAEMON_OBJS := $(patsubst %.cpp,$(BUILD)/fuzz/obj/%.o,nfhelper/helper_core.cpp nfhelper/kernel_text.cpp $(DAEMON_PURE_SRCS))
$(BUILD)/fuzz/fuzz_queue_message: FUZZ_TARGET_FLAGS = -Infhelper
$(BUILD)/fuzz/fuzz_queue_message: FUZZ_TARGET_OBJS = $(sort $(FUZZ_DAEMON_OBJS))
$(BUILD)/fuzz/fuzz_queue_message: $(FUZZ_DAEMON_OBJS)
fuzz: $(FUZZ_BINS)
	FUZZ_JOBS=$(FUZZ_JOBS) tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BINS)

$(BUILD)/bench-daemon: $(sort $(BENCH_DAEMON_OBJS)) $(LIB_A)
	$(CXX) $(LDFLAGS) -o $@ $^ $(call pc_libs,$(DAEMON_PKGS) $(LIB_PKGS))

bench: $(BUILD)/bench $(BUILD)/bench-analyze $(BUILD)/bench-daemon
	$(BUILD)/bench
	$(BUILD)/bench-analyze
	$(BUILD)/bench-daemon

# One boot per configuration (kernel's ftp helper; conntrackd's, from a Debian
# 13 root), rounds alternating, ratios against the named baseline; never fails
# on a slow machine. BENCH_KERNEL=trixie|sid (or TBVM_KERNEL), TBBENCH_ROUNDS=N.
bench-kernel: all
	tests/bench/kernel/bench.sh $(if $(BENCH_KERNEL),--kernel $(BENCH_KERNEL))

demo: all
	tools/demo.sh

# Installed layout (Debian 12 conventions; the package installs through this).
MANDIR         ?= $(DATADIR)/man
UNITDIR        ?= $(shell $(PKG_CONFIG) --variable=systemdsystemunitdir systemd 2>/dev/null || echo /lib/systemd/system)
MODULESLOADDIR ?= /usr/lib/modules-load.d
BASHCOMPDIR    ?= $(DATADIR)/bash-completion/completions

# The nftables snippet for the default configuration: what tbhelperctl prints
# for packaging/tbhelper.conf (its header then names the installed file).
NFT_SNIPPET_FIX := s|from packaging/tbhelper.conf$$|from the default $(SYSCONFDIR)/tbhelper/tbhelper.conf|
$(BUILD)/tbhelper.nft: $(BUILD)/tbhelperctl packaging/tbhelper.conf
	$(BUILD)/tbhelperctl rules --config packaging/tbhelper.conf > $@.raw
	sed '$(NFT_SNIPPET_FIX)' $@.raw > $@.tmp && rm -f $@.raw
	test -s $@.tmp && mv $@.tmp $@

install: all $(BUILD)/tbhelper.nft
	install -D -m 0755 $(BUILD)/tbhelperd $(DESTDIR)$(SBINDIR)/tbhelperd
	install -D -m 0755 $(BUILD)/tbhelperctl $(DESTDIR)$(SBINDIR)/tbhelperctl
	install -D -m 0644 packaging/tbhelper.conf $(DESTDIR)$(SYSCONFDIR)/tbhelper/tbhelper.conf
	install -D -m 0644 $(BUILD)/tbhelper.nft $(DESTDIR)$(DATADIR)/tbhelper/tbhelper.nft
	install -D -m 0644 packaging/tbhelperd.service $(DESTDIR)$(UNITDIR)/tbhelperd.service
	install -D -m 0644 packaging/systemd/tbhelper-metrics.service $(DESTDIR)$(UNITDIR)/tbhelper-metrics.service
	install -D -m 0644 packaging/systemd/tbhelper-metrics.timer $(DESTDIR)$(UNITDIR)/tbhelper-metrics.timer
	install -D -m 0644 packaging/modules-load.conf $(DESTDIR)$(MODULESLOADDIR)/tbhelper.conf
	install -D -m 0644 packaging/tbhelperctl.bash-completion $(DESTDIR)$(BASHCOMPDIR)/tbhelperctl
	install -D -m 0644 packaging/man/tbhelperd.8 $(DESTDIR)$(MANDIR)/man8/tbhelperd.8
	install -D -m 0644 packaging/man/tbhelperctl.8 $(DESTDIR)$(MANDIR)/man8/tbhelperctl.8
	install -D -m 0644 packaging/man/tbhelper.conf.5 $(DESTDIR)$(MANDIR)/man5/tbhelper.conf.5
	install -D -m 0644 README.md $(DESTDIR)$(DATADIR)/doc/tbhelper/README.md
	for f in docs/*.md; do install -D -m 0644 $$f $(DESTDIR)$(DATADIR)/doc/tbhelper/$$(basename $$f); done
	# a firewall pair (docs/ha.md): conntrackd and keepalived examples, the notify script
	install -D -m 0644 packaging/examples/ha/conntrackd.conf $(DESTDIR)$(DATADIR)/doc/tbhelper/examples/ha/conntrackd.conf
	install -D -m 0644 packaging/examples/ha/keepalived.conf $(DESTDIR)$(DATADIR)/doc/tbhelper/examples/ha/keepalived.conf
	install -D -m 0644 packaging/examples/ha/tbhelperd-ha.conf $(DESTDIR)$(DATADIR)/doc/tbhelper/examples/ha/tbhelperd-ha.conf
	install -D -m 0755 packaging/examples/ha/tbhelper-ha-notify $(DESTDIR)$(DATADIR)/tbhelper/tbhelper-ha-notify

# make deb: for this machine's release; make deb DIST=trixie: inside a Debian
# 13 build root (build/roots/trixie), build/tbhelper_<version>~deb13_<arch>.deb.
deb:
	packaging/build-deb.sh $(if $(DIST),--dist $(DIST))

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj $(BUILD)/fuzz -name '*.d' 2>/dev/null)
