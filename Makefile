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
PKGS := libbpf libsystemd yaml-0.1 sqlite3 libcrypto
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
override CFLAGS += -std=gnu11 -D_GNU_SOURCE -DHPCMETER_VERSION='"$(VERSION)"' \
	-Wall -Wextra -Werror -Wno-unused-parameter -I$(O) -Ibpf -Idaemon $(PKG_CFLAGS)
LDLIBS := $(PKG_LIBS) -lelf -lz

BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror -I$(O) -Ibpf

DAEMON_OBJS := $(addprefix $(O)/daemon/,hpcmeterd.o manager.o manager-bus.o \
	ledger.o ledger-records.o ledger-migrate.o config.o gap.o metrics.o records.o)
COMMON_OBJS := $(addprefix $(O)/daemon/,util.o meter.o attribute.o license.o ledger-chain.o \
	sign.o)
CTL_OBJS := $(O)/tools/hpcmeterctl.o $(O)/tools/ctl-ledger.o $(O)/tools/ctl-report.o \
	$(O)/daemon/license.o $(O)/daemon/util.o $(O)/daemon/ledger-chain.o $(O)/daemon/sign.o

TEST_BINS := $(O)/tests/test-license $(O)/tests/test-config $(O)/tests/test-decode \
	$(O)/tests/test-util $(O)/tests/test-ledger \
	$(O)/tests/test-sched $(O)/tests/burn

all: $(O)/hpcmeterd $(O)/hpcmeterctl

.PHONY: all check check-asan install uninstall run module clean format format-check deps bench
.DELETE_ON_ERROR:
.SECONDARY:

$(O) $(O)/daemon $(O)/tools $(O)/tests:
	$(Q)mkdir -p $@

$(O)/vmlinux.h: | $(O)
	@test -r $(VMLINUX_BTF) || { echo "error: no kernel BTF at $(VMLINUX_BTF); set VMLINUX_BTF=FILE" >&2; exit 1; }
	@echo "  GEN     $@"
	$(Q)$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@

$(O)/%.bpf.o: bpf/%.bpf.c bpf/hpcmeter_bpf.h $(O)/vmlinux.h | $(O)
	@echo "  BPF     $@"
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(O)/%.skel.h: $(O)/%.bpf.o
	@echo "  SKEL    $@"
	$(Q)$(BPFTOOL) gen skeleton $< name $*_bpf > $@

# Every C object depends on the skeleton: meter.c includes it, and it is cheap.
$(O)/daemon/%.o: daemon/%.c $(wildcard daemon/*.h) bpf/hpcmeter_bpf.h $(O)/sched.skel.h | $(O)/daemon
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(O)/tools/%.o: tools/%.c $(wildcard daemon/*.h tools/*.h) | $(O)/tools
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(O)/hpcmeterd: $(DAEMON_OBJS) $(COMMON_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(O)/hpcmeterctl: $(CTL_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

# Tests: one source each, linked with the objects named as their prerequisites.
$(O)/tests/test-license: $(O)/daemon/license.o
$(O)/tests/test-config: $(O)/daemon/config.o $(O)/daemon/util.o
$(O)/tests/test-util: $(O)/daemon/util.o
$(O)/tests/test-ledger: $(O)/daemon/ledger.o $(O)/daemon/ledger-records.o \
	$(O)/daemon/ledger-migrate.o $(O)/daemon/ledger-chain.o $(O)/daemon/util.o
$(O)/tests/test-decode: $(O)/daemon/meter.o $(O)/daemon/util.o
$(O)/tests/test-sched: $(COMMON_OBJS)

$(O)/tests/%: tests/unit/%.c tests/unit/tap.h | $(O)/tests
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) $(filter-out %.h,$^) -o $@ $(LDLIBS)

$(O)/tests/test-sched: tests/bpf/test-sched.c | $(O)/tests
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

$(O)/tests/burn: tests/bpf/burn.c | $(O)/tests
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) $< -o $@ -lpthread

check: all $(TEST_BINS)
	$(Q)tests/run.sh $(O)

# The same programs built with AddressSanitizer and UBSan (leaks included: a leak makes a
# program exit non-zero), run through the unit, BPF and D-Bus tests.
ASAN_O := build-asan
SAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
check-asan:
	$(Q)$(MAKE) -s O=$(ASAN_O) CFLAGS="$(SAN_FLAGS)" LDFLAGS="-fsanitize=address,undefined" \
		all $(patsubst $(O)/%,$(ASAN_O)/%,$(TEST_BINS))
	$(Q)tests/run.sh $(ASAN_O) $(ASAN_O)/tests/test-license $(ASAN_O)/tests/test-config \
		$(ASAN_O)/tests/test-util $(ASAN_O)/tests/test-ledger \
		$(ASAN_O)/tests/test-decode "$(ASAN_O)/tests/test-sched $(ASAN_O)/tests/burn" \
		tests/dbus/test-violations.sh tests/dbus/test-bad-input.sh tests/dbus/test-policy.sh \
		tests/dbus/test-losses.sh tests/dbus/test-ledger.sh tests/dbus/test-full-disk.sh

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
		$(DESTDIR)$(DATADIR)/hpcmeter/examples/licenses $(DESTDIR)$(DATADIR)/dbus-1/interfaces
	install -m 0755 $(O)/hpcmeterd $(DESTDIR)$(SBINDIR)/hpcmeterd
	install -m 0755 $(O)/hpcmeterctl $(DESTDIR)$(BINDIR)/hpcmeterctl
	sed 's|@SBINDIR@|$(SBINDIR)|g' daemon/hpcmeterd.service.in > $(DESTDIR)$(UNITDIR)/hpcmeterd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/hpcmeterd.service
	install -m 0644 daemon/org.hpcmeter1.conf $(DESTDIR)$(DBUSPOLICYDIR)/org.hpcmeter1.conf
	install -m 0644 daemon/org.hpcmeter1.xml $(DESTDIR)$(DATADIR)/dbus-1/interfaces/org.hpcmeter1.xml
	test -e $(DESTDIR)$(SYSCONFDIR)/hpcmeter/hpcmeterd.conf || \
		install -m 0644 examples/hpcmeterd.conf $(DESTDIR)$(SYSCONFDIR)/hpcmeter/hpcmeterd.conf
	install -m 0644 examples/licenses/*.yaml $(DESTDIR)$(DATADIR)/hpcmeter/examples/licenses/
	install -m 0644 daemon/hpcmeter.sysusers $(DESTDIR)$(SYSUSERSDIR)/hpcmeter.conf
	install -m 0644 README.md docs/*.md $(DESTDIR)$(DOCDIR)/
	@if [ -z "$(DESTDIR)" ] && command -v systemd-sysusers >/dev/null; then \
		systemd-sysusers $(SYSUSERSDIR)/hpcmeter.conf; fi

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/hpcmeterd $(DESTDIR)$(BINDIR)/hpcmeterctl \
		$(DESTDIR)$(UNITDIR)/hpcmeterd.service $(DESTDIR)$(DBUSPOLICYDIR)/org.hpcmeter1.conf \
		$(DESTDIR)$(DATADIR)/dbus-1/interfaces/org.hpcmeter1.xml \
		$(DESTDIR)$(SYSUSERSDIR)/hpcmeter.conf
	rm -rf $(DESTDIR)$(DATADIR)/hpcmeter $(DESTDIR)$(DOCDIR)

C_SOURCES = $(shell find bpf daemon tools tests bench module -name '*.[ch]' -not -name '*.mod.c')

# The house style (.clang-format: the kernel's, 100 columns; 80 in module/).
format-check:
	$(Q)clang-format --dry-run --Werror $(C_SOURCES) && echo "format-check: $(words $(C_SOURCES)) files conform"

format:
	$(Q)clang-format -i $(C_SOURCES)

clean:
	rm -rf $(O) $(ASAN_O)
	$(Q)$(MAKE) -s -C module clean

# Benchmarks: figures go to docs/PERFORMANCE.md by hand, with the machine they came from.
$(O)/bench/ctxswitch: bench/ctxswitch.c $(O)/daemon/meter.o $(O)/daemon/util.o
	@mkdir -p $(O)/bench
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

$(O)/bench/ledger-report: bench/ledger-report.c $(O)/daemon/ledger.o $(O)/daemon/ledger-records.o \
	$(O)/daemon/ledger-migrate.o $(O)/daemon/ledger-chain.o $(O)/daemon/sign.o $(O)/daemon/util.o
	@mkdir -p $(O)/bench
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS) -lm

BENCH_DIR ?= /var/tmp
bench: $(O)/bench/ctxswitch $(O)/bench/ledger-report $(O)/hpcmeterctl
	$(Q)$(O)/bench/ctxswitch
	$(Q)d=$$(mktemp -d $(BENCH_DIR)/hpcmeter-bench.XXXXXX) && \
		$(O)/bench/ledger-report $$d/ledger $(O)/hpcmeterctl; rc=$$?; rm -rf $$d; exit $$rc
