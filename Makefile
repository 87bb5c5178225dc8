# hpcmeter: build the BPF meter, the daemon, the CLI and the tests.
# make | make check | make install [DESTDIR=... PREFIX=...] | make run | make module | make clean

# One version for everything: dkms.conf is what DKMS reads, so it is the source.
VERSION := $(shell sed -n 's/^PACKAGE_VERSION="\{0,1\}\([^"]*\)"\{0,1\}$$/\1/p' dkms.conf)

PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
DOCDIR ?= $(DATADIR)/doc/hpcmeter
LIBEXECDIR ?= $(PREFIX)/libexec
# dbus-daemon reads policies from /usr/share/dbus-1/system.d and /etc/dbus-1/system.d only.
ifeq ($(PREFIX),/usr)
DBUSPOLICYDIR ?= $(DATADIR)/dbus-1/system.d
else
DBUSPOLICYDIR ?= $(SYSCONFDIR)/dbus-1/system.d
endif

CC ?= cc
CLANG ?= clang
BPFTOOL ?= bpftool
PKG_CONFIG ?= pkg-config
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux
ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

O := build
Q := $(if $(V),,@)

CFLAGS ?= -O2 -g
PKGS := libbpf libsystemd yaml-0.1 sqlite3 libnl-genl-3.0 libcrypto json-c mount libpq capstone
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
# hpcmeterctl's tables (libsmartcols, util-linux): linked into hpcmeterctl alone
CTL_PKGS := smartcols
CTL_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(CTL_PKGS) 2>/dev/null)
CTL_LIBS := $(shell $(PKG_CONFIG) --libs $(CTL_PKGS) 2>/dev/null)
override CFLAGS += -std=gnu11 -D_GNU_SOURCE -DHPCMETER_VERSION='"$(VERSION)"' \
	-DCONFIG_DEFAULT_ACCELERATORS_FILE='"$(DATADIR)/hpcmeter/accelerators.yaml"' \
	-DHPCMETER_THRESHOLDS_FILE='"$(DATADIR)/hpcmeter/thresholds.yaml"' \
	-Wall -Wextra -Werror -Wno-unused-parameter -I$(O) -Ibpf -Imodule/uapi $(PKG_CFLAGS) \
	$(CTL_CFLAGS)
LDLIBS := $(PKG_LIBS) -lelf -lz -lm

BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror -I$(O) -Ibpf

# The layers (docs/architecture.md), one folder each, and what each may include:
#   daemon/hpcmeterd.c -> daemon/bus/ -> daemon/core/ -> lib/   and   tools/ -> lib/
# A file that reaches up a layer does not compile.
INC_lib := -Ilib
INC_core := -Idaemon/core -Ilib
INC_bus := -Idaemon/bus -Idaemon/core -Ilib
INC_daemon := $(INC_bus)
INC_tools := -Itools -Idaemon/bus -Ilib
INC_tests := $(INC_bus) -Itools
INC_bench := $(INC_bus)

LIB_OBJS := $(patsubst %.c,$(O)/%.o,$(wildcard lib/*.c))
CORE_OBJS := $(patsubst %.c,$(O)/%.o,$(wildcard daemon/core/*.c))
BUS_OBJS := $(patsubst %.c,$(O)/%.o,$(wildcard daemon/bus/*.c))
DAEMON_OBJS := $(O)/daemon/hpcmeterd.o $(BUS_OBJS) $(CORE_OBJS)
CTL_OBJS := $(patsubst %.c,$(O)/%.o,$(wildcard tools/*.c))
# The libraries as one archive: each program links the members it uses.
LIBHPCMETER := $(O)/libhpcmeter.a

# Fake accelerator runtimes for the GPU meter's tests (tests/gpu-fake/): the real file and
# symbol names, frame pointers and no endbr64 so each entry point starts with "push %rbp"
# (clang: gcc 12 drops the frame of leaf functions whatever the options say).
GPU_FAKE_LIBS := $(addprefix $(O)/tests/gpu-fake/,libcuda.so.1 libamdhip64.so libOpenCL.so.1 \
	libze_loader.so.1)
GPU_FAKE := $(GPU_FAKE_LIBS) $(O)/tests/gpu-load
FAKE_CFLAGS := -O2 -g -fPIC -shared -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer \
	-fcf-protection=none -Wall -Werror

TEST_BINS := $(O)/tests/test-license $(O)/tests/test-config $(O)/tests/test-decode \
	$(O)/tests/test-gpu-entry \
	$(O)/tests/test-evaluate \
	$(O)/tests/test-util $(O)/tests/test-json $(O)/tests/test-workload $(O)/tests/test-inventory \
	$(O)/tests/test-mounts \
	$(O)/tests/test-ledger $(O)/tests/test-cluster-usage $(O)/tests/test-origin \
	$(O)/tests/test-sched $(O)/tests/test-cgroup-v1 $(O)/tests/burn \
	$(O)/tests/test-gpu $(GPU_FAKE) $(O)/tests/test-kmeter $(O)/tests/test-core \
	$(O)/tests/test-gpu-real $(O)/tests/gpu-real-load $(O)/tests/gpu-cl-run \
	$(O)/tests/report-fd \
	$(O)/tests/test-ctl-format $(O)/tests/test-time-parse $(O)/tests/seed-ledger \
	$(O)/tests/flood $(O)/tests/noop-iter.bpf.o $(O)/tests/gatefs $(O)/bench/spawn \
	$(O)/bench/tiny

MAN_PAGES := $(addprefix $(O)/man/,hpcmeterd.8 hpcmeterd.conf.5 hpcmeter.license.5 hpcmeterctl.1)

all: $(O)/hpcmeterd $(O)/hpcmeterctl $(MAN_PAGES)

# Man pages: the markdown in docs/ is their source (one copy, readable on the web too); the
# first line "# NAME(SECTION)" becomes the .TH header (scripts/md2man.sh).
MD2MAN ?= go-md2man
$(O)/man/%: docs/%.md scripts/md2man.sh dkms.conf debian/changelog
	@mkdir -p $(O)/man
	@echo "  MAN     $@"
	$(Q)MD2MAN=$(MD2MAN) scripts/md2man.sh $< $(VERSION) > $@

.PHONY: check-packages all check check-asan fuzz install uninstall run module clean format \
	format-check deps bench bench-module gpu-real
.DELETE_ON_ERROR:
.SECONDARY:

$(O) $(O)/tests:
	$(Q)mkdir -p $@

$(O)/vmlinux.h: | $(O)
	@test -r $(VMLINUX_BTF) || { echo "error: no kernel BTF at $(VMLINUX_BTF); set VMLINUX_BTF=FILE" >&2; exit 1; }
	@echo "  GEN     $@"
	$(Q)$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@

$(O)/%.bpf.o: bpf/%.bpf.c bpf/hpcmeter_bpf.h bpf/task_cgroup.bpf.h $(O)/vmlinux.h | $(O)
	@echo "  BPF     $@"
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(O)/tests/noop-iter.bpf.o: tests/adversarial/noop-iter.bpf.c $(O)/vmlinux.h | $(O)/tests
	@echo "  BPF     $@"
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# A FUSE file whose reads past an offset wait for the test (tests/adversarial/test-digest-worker.sh).
$(O)/tests/gatefs: tests/adversarial/gatefs.c | $(O)/tests
	@echo "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(shell $(PKG_CONFIG) --cflags fuse3) $< -o $@ \
		$(LDFLAGS) $(shell $(PKG_CONFIG) --libs fuse3)

$(O)/%.skel.h: $(O)/%.bpf.o
	@echo "  SKEL    $@"
	$(Q)$(BPFTOOL) gen skeleton $< name $*_bpf > $@

# One rule per layer for objects, with the include path of its layer. Dependencies on headers
# come from the compiler (-MMD, the .d files beside the objects); the skeletons are generated
# before any object is compiled, since lib/meter.c and lib/gpu.c include them.
SKELETONS := $(O)/sched.skel.h $(O)/gpu.skel.h
DEPFLAGS = -MMD -MP -MF $(@:.o=.d)
layer = $(if $(filter lib/%,$<),lib,$(if $(filter daemon/core/%,$<),core,$(if \
	$(filter daemon/bus/%,$<),bus,$(firstword $(subst /, ,$<)))))
$(O)/%.o: %.c | $(SKELETONS)
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(INC_$(layer)) $(DEPFLAGS) -c $< -o $@

$(LIBHPCMETER): $(LIB_OBJS)
	@echo "  AR      $@"
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(O)/hpcmeterd: $(DAEMON_OBJS) $(LIBHPCMETER)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(O)/hpcmeterctl: $(CTL_OBJS) $(LIBHPCMETER)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(CTL_LIBS) $(LDLIBS)

# Tests and benchmarks: one source each, linked with the library archive (and the objects
# named as their prerequisites).
TEST_LINK = $(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(INC_tests) -MMD -MP -MF $@.d \
	$(filter %.c %.o,$^) $(filter %.a,$^) -o $@ $(LDFLAGS) $(LDLIBS)
$(O)/tests/test-ctl-format: $(O)/tools/ctl-format.o
# The core's parts with a stand-in for the notification interface.
$(O)/tests/test-core: $(CORE_OBJS)

$(O)/tests/%: tests/unit/%.c $(LIBHPCMETER) | $(O)/tests $(SKELETONS)
	@echo "  CC      $@"
	$(TEST_LINK)

# The CLI's golden tests seed a ledger through the daemon's own ledger code.
$(O)/tests/seed-ledger: tests/golden/seed-ledger.c $(LIBHPCMETER) | $(O)/tests
	@echo "  CC      $@"
	$(TEST_LINK)

$(O)/tests/test-%: tests/bpf/test-%.c $(LIBHPCMETER) | $(O)/tests $(SKELETONS)
	@echo "  CC      $@"
	$(TEST_LINK)

$(O)/tests/gpu-fake/lib%: tests/gpu-fake/fake-runtime.c tests/gpu-fake/fake-runtime.h
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CLANG) $(FAKE_CFLAGS) -Wl,-soname,$(notdir $@) -DFAKE_$(call fake_rt,$*) $< -o $@

fake_rt = $(if $(findstring cuda,$(1)),CUDA,$(if $(findstring hip,$(1)),HIP,$(if \
	$(findstring OpenCL,$(1)),OPENCL,ZE)))

$(O)/tests/gpu-load: tests/gpu-fake/gpu-load.c tests/gpu-fake/fake-runtime.h | $(O)/tests
	@echo "  CC      $@"
	$(Q)$(CC) -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter $< -o $@ -ldl -lpthread

# The vendors' real runtimes (tests/gpu-real/): a program calling every probed entry point,
# and a real OpenCL program (Debian's opencl-c-headers; the library is dlopen'd).
$(O)/tests/gpu-real-load: tests/gpu-real/real-load.c tests/gpu-fake/fake-runtime.h | $(O)/tests
	@echo "  CC      $@"
	$(Q)$(CC) -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter $< -o $@ -ldl

$(O)/tests/gpu-cl-run: tests/gpu-real/cl-run.c | $(O)/tests
	@echo "  CC      $@"
	$(Q)$(CC) -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter $< -o $@ -ldl

# Fetch and unpack them into $(O)/gpu-real (apt-get download, dpkg -x; nothing installed):
# once, then cached. A fetch that fails fails make check and make check-asan, so that CI never
# runs without the real libraries' tests; GPU_REAL=skip leaves the fetch out where Debian's
# archive cannot be reached, and test-gpu-real then says SKIP.
GPU_REAL ?= fetch
gpu-real:
ifeq ($(GPU_REAL),skip)
	@echo "gpu-real: not fetched (GPU_REAL=skip): test-gpu-real will skip" >&2
else
	$(Q)tests/gpu-real/fetch.sh $(O)
endif

$(O)/tests/report-fd: tests/dbus/report-fd.c | $(O)/tests
	@echo "  CC      $@"
	$(TEST_LINK)

$(O)/tests/flood: tests/dbus/flood.c | $(O)/tests
	@echo "  CC      $@"
	$(TEST_LINK)

# The workload whose CPU time the tests compare with the meter's, built without sanitizers
# even in check-asan: LeakSanitizer's scan at exit runs in a task of its own, whose CPU wait4's
# rusage counts but the process's exit record rightly does not (test-sched read 0.95).
$(O)/tests/burn: tests/bpf/burn.c | $(O)/tests
	@echo "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS) $(filter-out -fsanitize%,$(CFLAGS)) $< -o $@ \
		$(filter-out -fsanitize%,$(LDFLAGS)) -lpthread

# libFuzzer targets (clang; libclang-rt-14-dev), one per external input: the licence and
# registry parser, the config parser, ring-buffer record decoding (the CPU meter's and the GPU
# meter's), the ELF files and code the GPU meter reads from what processes map, the module's
# netlink replies, the D-Bus job announcement, the signed reports report verify reads, the
# cluster store's records and replies, what the session-origin lookup reads (/proc/net/tcp
# lines, utmp and logind host fields), and the times operators give hpcmeterctl (--since,
# --until). make check runs each for 8 seconds (FUZZ_TIME) from its seed corpus
# (tests/fuzz/run.sh); make fuzz for FUZZ_TIME seconds each.
FUZZ_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all
FUZZ_TIME ?= 600
FUZZ_TARGETS := license config decode netlink bus report store origin gpu-record gpu-elf time
FUZZ_BINS := $(addprefix $(O)/tests/fuzz-,$(FUZZ_TARGETS))
FUZZ_SRCS_license := $(wildcard lib/license*.c) lib/util.c
FUZZ_SRCS_config := lib/config.c lib/util.c lib/gpu-mode.c
FUZZ_SRCS_decode := lib/meter.c lib/util.c lib/bpfutil.c
FUZZ_SRCS_netlink := lib/kmeter-client.c
FUZZ_SRCS_gpu-record := lib/gpu-record.c
FUZZ_SRCS_gpu-elf := lib/gpu-elf.c lib/gpu-entry.c lib/util.c
FUZZ_SRCS_bus := daemon/bus/job-info.c lib/jobs.c lib/util.c
FUZZ_SRCS_origin := lib/session-origin.c lib/util.c
FUZZ_SRCS_time := lib/time-parse.c
FUZZ_SRCS_report := lib/report-verify.c lib/json-doc.c lib/sign.c lib/ledger-chain.c \
	lib/stmt-cache.c lib/util.c
FUZZ_SRCS_store := lib/store.c lib/store-record.c lib/sign.c lib/ledger-chain.c lib/stmt-cache.c \
	lib/util.c
$(FUZZ_BINS): $(O)/tests/fuzz-%: tests/fuzz/fuzz-%.c $(wildcard lib/*.[ch] daemon/bus/*.[ch]) \
		$(SKELETONS) | $(O)/tests
	@echo "  FUZZ    $@"
	$(Q)$(CLANG) $(FUZZ_FLAGS) -std=gnu11 -D_GNU_SOURCE -DHPCMETER_VERSION='"$(VERSION)"' \
		-Wall -Wextra -Werror -Wno-unused-parameter -I$(O) -Ibpf $(INC_bus) -Imodule/uapi \
		$(PKG_CFLAGS) $< $(FUZZ_SRCS_$*) -o $@ $(LDLIBS)

fuzz: $(FUZZ_BINS)
	$(Q)FUZZ_TIME=$(FUZZ_TIME) tests/fuzz/run.sh $(O)

# (after FUZZ_BINS: a rule's prerequisites are expanded where the rule is read)
check: all $(TEST_BINS) $(FUZZ_BINS) gpu-real
	$(Q)tests/run.sh $(O)

# The same suite with every core kept busy (stress-ng --cpu, or busy loops without it): a
# compute node's normal state. Not in CI; see docs/RELIABILITY.md, Suite reliability.
check-stress: all $(TEST_BINS) $(FUZZ_BINS)
	$(Q)tests/stress.sh $(O)
.PHONY: check-stress

# The same programs built with AddressSanitizer and UBSan (leaks included: a leak makes a
# program exit non-zero), run through the unit, BPF and D-Bus tests.
ASAN_O := build-asan
SAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
check-asan: gpu-real
	$(Q)$(MAKE) -s O=$(ASAN_O) CFLAGS="$(SAN_FLAGS)" LDFLAGS="-fsanitize=address,undefined" \
		all $(patsubst $(O)/%,$(ASAN_O)/%,$(TEST_BINS))
	$(Q)tests/run.sh $(ASAN_O) $(ASAN_O)/tests/test-license $(ASAN_O)/tests/test-evaluate \
		$(ASAN_O)/tests/test-config \
		$(ASAN_O)/tests/test-util $(ASAN_O)/tests/test-json $(ASAN_O)/tests/test-workload \
		$(ASAN_O)/tests/test-mounts \
		$(ASAN_O)/tests/test-kmeter $(ASAN_O)/tests/test-core \
		$(ASAN_O)/tests/test-ledger $(ASAN_O)/tests/test-cluster-usage \
		$(ASAN_O)/tests/test-origin \
		"$(ASAN_O)/tests/test-inventory data/accelerators.yaml" \
		$(ASAN_O)/tests/test-decode $(ASAN_O)/tests/test-gpu-entry \
		"$(ASAN_O)/tests/test-sched $(ASAN_O)/tests/burn" \
		"$(ASAN_O)/tests/test-cgroup-v1 $(ASAN_O)/tests/burn" \
		"$(ASAN_O)/tests/test-gpu $(ASAN_O)/tests/gpu-fake $(ASAN_O)/tests/gpu-load" \
		"$(ASAN_O)/tests/test-gpu-real $(O)/gpu-real $(ASAN_O)/tests/gpu-real-load $(ASAN_O)/tests/gpu-cl-run" \
		tests/dbus/test-gpu.sh \
		tests/dbus/test-violations.sh tests/dbus/test-bad-input.sh tests/dbus/test-policy.sh \
		tests/dbus/test-remote-access.sh \
		tests/dbus/test-losses.sh tests/dbus/test-caps.sh tests/dbus/test-ledger.sh \
		tests/dbus/test-metrics.sh \
		tests/dbus/test-api.sh \
		tests/dbus/test-full-disk.sh tests/faults/test-bus-restart.sh tests/faults/test-stall.sh \
		tests/faults/test-license-swap.sh tests/adversarial/test-exec-evasion.sh \
		tests/adversarial/test-digest-worker.sh \
		tests/adversarial/test-tamper.sh tests/adversarial/test-gpu-evasion.sh \
		tests/adversarial/test-gpu-copies.sh \
		tests/module/run.sh \
		$(ASAN_O)/tests/test-ctl-format $(ASAN_O)/tests/test-time-parse \
		tests/golden/test-golden.sh \
		tests/dbus/test-monitor-bus-restart.sh tests/cli/test-exit-codes.sh \
		tests/cluster/test-store.sh tests/cluster/test-evaluate.sh

# Build the Debian packages from a copy of the tree, check them with lintian --pedantic and
# hardening-check, and install them into a fresh Debian root (mmdebstrap, the Debian archive);
# build the RPMs with rpmbuild -bb and check them with rpmlint: what CI runs after make check.
check-packages:
	$(Q)tests/run.sh $(O) tests/package/test-deb.sh tests/package/test-rpmbuild.sh

# The main job: meter this machine against examples/licenses, printing violations live.
run: all
	$(Q)scripts/run-demo.sh $(O)

deps:
	$(Q)scripts/install-deps.sh

module:
	$(Q)$(MAKE) -C module

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(DOCDIR) \
		$(DESTDIR)$(DBUSPOLICYDIR) $(DESTDIR)$(SYSCONFDIR)/hpcmeter/licenses.d \
		$(DESTDIR)$(DATADIR)/hpcmeter/examples/licenses $(DESTDIR)$(DATADIR)/dbus-1/interfaces \
		$(DESTDIR)$(DATADIR)/hpcmeter/examples/monitoring
	install -m 0755 $(O)/hpcmeterd $(DESTDIR)$(SBINDIR)/hpcmeterd
	install -m 0755 $(O)/hpcmeterctl $(DESTDIR)$(BINDIR)/hpcmeterctl
	install -d $(DESTDIR)$(LIBEXECDIR)/hpcmeter/slurm
	# the Slurm prolog and epilog call hpcmeterctl by its installed path
	for s in prolog epilog; do \
		sed 's|@BINDIR@|$(BINDIR)|g' slurm/$$s.in > $(DESTDIR)$(LIBEXECDIR)/hpcmeter/slurm/$$s && \
		chmod 0755 $(DESTDIR)$(LIBEXECDIR)/hpcmeter/slurm/$$s || exit 1; done
	sed 's|@SBINDIR@|$(SBINDIR)|g' daemon/hpcmeterd.service.in > $(DESTDIR)$(UNITDIR)/hpcmeterd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/hpcmeterd.service
	install -m 0644 daemon/org.hpcmeter1.conf $(DESTDIR)$(DBUSPOLICYDIR)/org.hpcmeter1.conf
	install -m 0644 daemon/org.hpcmeter1.xml $(DESTDIR)$(DATADIR)/dbus-1/interfaces/org.hpcmeter1.xml
	test -e $(DESTDIR)$(SYSCONFDIR)/hpcmeter/hpcmeterd.conf || \
		install -m 0644 examples/hpcmeterd.conf $(DESTDIR)$(SYSCONFDIR)/hpcmeter/hpcmeterd.conf
	install -m 0644 examples/licenses/*.yaml $(DESTDIR)$(DATADIR)/hpcmeter/examples/licenses/
	install -m 0644 examples/monitoring/* $(DESTDIR)$(DATADIR)/hpcmeter/examples/monitoring/
	install -m 0644 data/accelerators.yaml $(DESTDIR)$(DATADIR)/hpcmeter/accelerators.yaml
	install -m 0644 data/thresholds.yaml $(DESTDIR)$(DATADIR)/hpcmeter/thresholds.yaml
	install -m 0644 daemon/hpcmeter.sysusers $(DESTDIR)$(SYSUSERSDIR)/hpcmeter.conf
	install -m 0644 README.md docs/*.md $(DESTDIR)$(DOCDIR)/
	install -d $(DESTDIR)$(DATADIR)/bash-completion/completions
	install -m 0644 completion/hpcmeterctl.bash $(DESTDIR)$(DATADIR)/bash-completion/completions/hpcmeterctl
	for p in $(MAN_PAGES); do \
		sec=$${p##*.}; install -d $(DESTDIR)$(MANDIR)/man$$sec && \
		install -m 0644 $$p $(DESTDIR)$(MANDIR)/man$$sec/ || exit 1; done
	@if [ -z "$(DESTDIR)" ] && command -v systemd-sysusers >/dev/null; then \
		systemd-sysusers $(SYSUSERSDIR)/hpcmeter.conf; fi

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/hpcmeterd $(DESTDIR)$(BINDIR)/hpcmeterctl \
		$(DESTDIR)$(UNITDIR)/hpcmeterd.service $(DESTDIR)$(DBUSPOLICYDIR)/org.hpcmeter1.conf \
		$(DESTDIR)$(DATADIR)/dbus-1/interfaces/org.hpcmeter1.xml \
		$(DESTDIR)$(SYSUSERSDIR)/hpcmeter.conf
	rm -f $(foreach p,$(MAN_PAGES),$(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(p)))/$(notdir $(p)))
	rm -f $(DESTDIR)$(DATADIR)/bash-completion/completions/hpcmeterctl
	rm -rf $(DESTDIR)$(DATADIR)/hpcmeter $(DESTDIR)$(DOCDIR) $(DESTDIR)$(LIBEXECDIR)/hpcmeter

C_SOURCES = $(shell find bpf lib daemon tools tests bench module -name '*.[ch]' -not -name '*.mod.c')

# The house style (.clang-format: the kernel's, 100 columns; 80 in module/).
format-check:
	$(Q)clang-format --dry-run --Werror $(C_SOURCES) && echo "format-check: $(words $(C_SOURCES)) files conform"
	$(Q)scripts/check-layers.sh

format:
	$(Q)clang-format -i $(C_SOURCES)

clean:
	rm -rf $(O) $(ASAN_O)
	$(Q)$(MAKE) -s -C module clean

# The check on a real GPU machine (tests/gpu/run.sh): the probe runner linked statically, and
# once more with only glibc dynamic (NVML is loaded with dlopen, which a static binary cannot do
# safely), the launch bench the same way, and the fake libcuda.
GPU_CHECK := $(O)/gpu-check
GPU_CHECK_SRCS := lib/gpu.c lib/gpu-elf.c lib/gpu-entry.c lib/gpu-record.c lib/gpu-mode.c \
	lib/inventory.c \
	lib/util.c lib/bpfutil.c
STATIC_LIBS := -lbpf -lelf -lz -lyaml -lcapstone -lm
gpu-check: $(O)/gpu.skel.h $(O)/tests/gpu-fake/libcuda.so.1
	@mkdir -p $(GPU_CHECK)
	@echo "  LD      $(GPU_CHECK)/gpu-probe-run (static)"
	$(Q)$(CC) $(CFLAGS) $(INC_lib) -static tests/gpu/gpu-probe-run.c $(GPU_CHECK_SRCS) \
		-o $(GPU_CHECK)/gpu-probe-run $(STATIC_LIBS)
	@echo "  LD      $(GPU_CHECK)/gpu-probe-run-dyn, gpu-launch (glibc dynamic)"
	$(Q)$(CC) $(CFLAGS) $(INC_lib) tests/gpu/gpu-probe-run.c $(GPU_CHECK_SRCS) \
		-o $(GPU_CHECK)/gpu-probe-run-dyn -Wl,-Bstatic $(STATIC_LIBS) -Wl,-Bdynamic -ldl
	$(Q)$(CC) $(CFLAGS) $(INC_lib) bench/gpu-launch.c lib/gpu.c lib/gpu-elf.c lib/gpu-entry.c \
		lib/gpu-record.c lib/gpu-mode.c lib/util.c lib/bpfutil.c -o $(GPU_CHECK)/gpu-launch \
		-Wl,-Bstatic -lbpf -lelf -lz -lcapstone -Wl,-Bdynamic -ldl
	$(Q)cp $(O)/tests/gpu-fake/libcuda.so.1 $(GPU_CHECK)/

.PHONY: gpu-check

# Benchmarks: figures go to docs/PERFORMANCE.md by hand, with the machine they came from.
$(O)/bench/%: bench/%.c $(LIBHPCMETER) | $(SKELETONS)
	@mkdir -p $(O)/bench
	@echo "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(INC_bench) -MMD -MP -MF $@.d $(filter %.c %.a,$^) -o $@ \
		$(LDFLAGS) $(LDLIBS) -lpthread

$(O)/bench/spawn: bench/spawn.c
	@mkdir -p $(O)/bench
	@echo "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $< -o $@ $(LDFLAGS)

$(O)/bench/tiny: bench/tiny.c
	@mkdir -p $(O)/bench
	@echo "  CC      $@"
	$(Q)$(CC) -O2 -static $< -o $@

BENCH_DIR ?= /var/tmp
GPU_REAL_LIBDIR = $(O)/gpu-real/root/usr/lib/x86_64-linux-gnu
GPU_REAL_LIBS := nvidia/current/libcuda.so.1 libamdhip64.so.5 libOpenCL.so.1 libze_loader.so.1
bench: all gpu-real $(O)/bench/ctxswitch $(O)/bench/reading $(O)/bench/gpu-launch $(O)/bench/gpu-map \
		$(O)/tests/gpu-fake/libcuda.so.1 $(O)/bench/spawn $(O)/bench/tiny $(O)/bench/cap-query \
		$(O)/bench/ledger-report $(O)/bench/exehash $(O)/bench/held $(O)/bench/move \
		$(O)/bench/forkexit
	$(Q)$(O)/bench/ctxswitch
	$(Q)$(O)/bench/move
	$(Q)$(O)/bench/forkexit
	$(Q)$(O)/bench/reading
	$(Q)$(O)/bench/gpu-launch $(O)/tests/gpu-fake/libcuda.so.1
	$(Q)if [ -e $(O)/gpu-real/stamp ]; then for l in $(GPU_REAL_LIBS); do \
		LD_LIBRARY_PATH=$(GPU_REAL_LIBDIR) $(O)/bench/gpu-launch $(GPU_REAL_LIBDIR)/$$l 20000 5 \
		|| exit 1; done; fi
	$(Q)$(O)/bench/held
	$(Q)d=$$(mktemp -d $(BENCH_DIR)/hpcmeter-bench.XXXXXX) && \
		$(O)/bench/gpu-map $$d; rc=$$?; rm -rf $$d; exit $$rc
	$(Q)$(O)/bench/cap-query
	$(Q)bench/execstorm.sh $(O)
	$(Q)bench/hpcc.sh $(O)
	$(Q)bench/scale.sh $(O)
	$(Q)d=$$(mktemp -d $(BENCH_DIR)/hpcmeter-bench.XXXXXX) && \
		$(O)/bench/exehash $$d; rc=$$?; rm -rf $$d; exit $$rc
	$(Q)d=$$(mktemp -d $(BENCH_DIR)/hpcmeter-bench.XXXXXX) && \
		$(O)/bench/ledger-report $$d/ledger $(O)/hpcmeterctl; rc=$$?; rm -rf $$d; exit $$rc

# The kernel module's context-switch cost, in Debian's kernel under qemu (TCG): as root.
bench-module:
	$(Q)tests/module/run.sh --bench

# Header dependencies written by the compiler (-MMD).
-include $(shell find $(O) -name '*.d' 2>/dev/null)
