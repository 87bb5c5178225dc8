#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build hpcmeter.ko against the newest Debian amd64 kernel headers and test it in that kernel,
# booted under qemu (TCG) with a busybox initramfs; the module and the client travel over 9p.
# TAP on stdout; exit 0 if all passed, 1 if not, 77 (SKIP) when a prerequisite is missing.
# usage: tests/module/run.sh [-l | -t TEST | --bench]   (as root; packages: module/README.md)
#   -t TEST  run only that kselftest of hpcmeter_test.c in the guest, skipping the other checks
#   -l       list the kselftests
#   --bench  the module's context-switch cost (make bench-module)
# The kselftest headers come from Debian's linux-source-6.1, fetched once into
# build/kselftest (KSELFTEST_DIR overrides). hpcmeterd and hpcmeterctl are taken from $BUILD
# (default build/). GENL_FUZZ_S: seconds of netlink fuzzing as root and as nobody (25 each).

. "$(dirname "$0")/common.sh"
# The guest's run takes about 70 s on an idle 2-core host without KVM, 170 s with both cores
# busy: the bound is generous, it only stops a guest that hangs.
QEMU_TIMEOUT_S=${QEMU_TIMEOUT_S:-480}
ONLY=
if [ $# -eq 1 ] && [ "$1" = -l ]; then # the kselftests -t can name
	sed -n 's/^TEST_F[_A-Z]*([a-z]*, \([a-z0-9_]*\).*/\1/p' "$TOP/tests/module/hpcmeter_test.c"
	exit 0
elif [ $# -eq 2 ] && [ "$1" = -t ]; then
	ONLY=$2
elif [ $# -eq 1 ] && [ "$1" = --bench ]; then
	ONLY=--bench # context-switch cost with and without the module (make bench-module)
elif [ $# -ne 0 ]; then
	echo "usage: tests/module/run.sh [-l | -t TEST | --bench]" >&2
	exit 2
fi

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# --- prerequisites: missing ones skip the whole test -------------------------------------
[ "$(id -u)" -eq 0 ] || skip_all "needs root (9p share written by the guest as root)"
[ -r "/boot/vmlinuz-$KVER" ] || skip_all "no /boot/vmlinuz-$KVER (apt-get install linux-image-amd64)"
command -v qemu-system-x86_64 >/dev/null || skip_all "no qemu-system-x86_64 (apt-get install qemu-system-x86)"
{ [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; } ||
	skip_all "no static /bin/busybox (apt-get install busybox-static)"
for tool in cc cpio gzip modprobe modinfo pkg-config; do
	command -v $tool >/dev/null || skip_all "no $tool"
done
{ pkg-config --exists libnl-genl-3.0 && [ -r /usr/lib/x86_64-linux-gnu/libnl-genl-3.a ]; } ||
	skip_all "no static libnl-genl-3 (apt-get install libnl-3-dev libnl-genl-3-dev)"

T=$(mktemp -d /tmp/hpcmeter-module-test.XXXXXX) || bail "mktemp failed"
trap 'rm -rf "$T"' EXIT
SHARE=$T/share
mkdir -p "$T/src" "$SHARE"

echo "# kernel $KVER, work dir $T"

# --- build, in a copy so the checkout stays clean ----------------------------------------
cp -a "$TOP/Kbuild" "$TOP/dkms.conf" "$TOP/module" "$T/src/"
VERSION=$(sed -n 's/^PACKAGE_VERSION="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$TOP/dkms.conf")
ABI=$(sed -n 's/^#define HPCMETER_GENL_VERSION[[:space:]]\{1,\}\([0-9]\{1,\}\).*/\1/p' \
	"$TOP/module/uapi/linux/hpcmeter.h")
{ [ -n "$VERSION" ] && [ -n "$ABI" ]; } || bail "cannot read the version from dkms.conf or the ABI from hpcmeter.h"

if [ -n "${HPCMETER_TEST_KO:-}" ]; then
	# A module built elsewhere (tests/module/dkms.sh passes the DKMS-installed one).
	KO=$T/src/hpcmeter.ko
	case $HPCMETER_TEST_KO in
	*.xz) xz -dc "$HPCMETER_TEST_KO" >"$KO" ;;
	*.zst) zstd -qdc "$HPCMETER_TEST_KO" >"$KO" ;;
	*) cp "$HPCMETER_TEST_KO" "$KO" ;;
	esac || bail "cannot read $HPCMETER_TEST_KO"
	echo "# testing the prebuilt $HPCMETER_TEST_KO"
else
	t0=$(date +%s.%N)
	if make -C "/lib/modules/$KVER/build" M="$T/src" W=1 modules >"$T/build.log" 2>&1; then
		t1=$(date +%s.%N)
		if grep -i 'warning' "$T/build.log" | grep -v -q 'Skipping BTF generation'; then
			not_ok "module builds against $KVER without warnings (W=1)"
			grep -i -A3 'warning' "$T/build.log" | diag
		else
			ok "module builds against $KVER without warnings (W=1) in $(elapsed "$t0" "$t1") s"
		fi
	else
		not_ok "module builds against $KVER"
		tail -n 30 "$T/build.log" | diag
		finish
	fi
	KO=$T/src/hpcmeter.ko
fi

mi_version=$(modinfo -F version "$KO")
mi_alias=$(modinfo -F alias "$KO")
mi_vermagic=$(modinfo -F vermagic "$KO")
if [ "$mi_version" = "$VERSION" ] && [ "$mi_alias" = "net-pf-16-proto-16-family-hpcmeter" ] &&
	[ "${mi_vermagic%% *}" = "$KVER" ]; then
	ok "modinfo: version $mi_version, genl family alias, vermagic $KVER"
else
	not_ok "modinfo: version '$mi_version' (want $VERSION), alias '$mi_alias', vermagic '$mi_vermagic'"
fi

# shellcheck disable=SC2046 # pkg-config output is a list of flags
if cc -O2 -Wall -Wextra -Wno-unused-parameter -Werror -static -I"$TOP/module/uapi" \
	$(pkg-config --cflags libnl-genl-3.0) "$TOP/tests/module/genl-info.c" -o "$SHARE/genl-info" \
	$(pkg-config --static --libs libnl-genl-3.0) -lm >"$T/cc.log" 2>&1; then
	ok "genl-info builds statically"
else
	not_ok "genl-info builds statically"
	diag <"$T/cc.log"
	finish
fi
# The netlink fuzzer (random commands, attributes, sizes and flags), static for the guest.
if cc -O2 -Wall -Wextra -Wno-unused-parameter -Werror -static -D_GNU_SOURCE -I"$TOP/module/uapi" \
	"$TOP/tests/module/genl-fuzz.c" -o "$SHARE/genl-fuzz" >"$T/cc.log" 2>&1; then
	ok "genl-fuzz builds statically"
else
	not_ok "genl-fuzz builds statically"
	diag <"$T/cc.log"
	finish
fi
# The kselftest-harness tests, against the headers of Debian's linux-source-6.1.
# One cache for every build directory (make check-asan uses build-asan for the binaries).
KSFT_DIR=${KSELFTEST_DIR:-$TOP/build/kselftest}
if KSFT_INC=$("$TOP/tests/module/kselftest-headers.sh" "$KSFT_DIR" 2>"$T/ksft.log"); then
	if cc -O2 -Wall -Werror -static -D_GNU_SOURCE -I"$TOP/module/uapi" -I"$KSFT_INC" \
		"$TOP/tests/module/hpcmeter_test.c" -o "$SHARE/hpcmeter_test" >"$T/cc.log" 2>&1; then
		ok "hpcmeter_test builds statically against the kselftest headers of linux-source $(cat "$KSFT_INC/VERSION" 2>/dev/null)"
	else
		not_ok "hpcmeter_test builds"
		diag <"$T/cc.log"
		finish
	fi
else
	ok "kselftest headers # SKIP $(tail -n 1 "$T/ksft.log")"
fi
cp "$KO" "$SHARE/hpcmeter.ko"
printf 'VERSION=%s\nABI=%s\nONLY=%s\nGENL_FUZZ_S=%s\n' "$VERSION" "$ABI" "$ONLY" \
	"${GENL_FUZZ_S:-25}" >"$SHARE/expect"

# --- initramfs: busybox, the virtio/9p modules in dependency order, the guest test --------
R=$T/root
mkdir -p "$R/bin" "$R/proc" "$R/sys" "$R/dev" "$R/tmp" "$R/mnt" "$R/lib/modules/$KVER"
cp /bin/busybox "$R/bin/busybox"
for a in $(/bin/busybox --list); do
	[ "$a" = busybox ] || ln -s busybox "$R/bin/$a" # linking busybox to itself loops
done
mods=""
for m in virtio_pci 9pnet_virtio 9p; do
	deps=$(modprobe -S "$KVER" --show-depends $m) || bail "modprobe --show-depends $m failed"
	for f in $(echo "$deps" | awk '$1 == "insmod" { print $2 }'); do
		case " $mods " in *" $f "*) ;; *) mods="$mods $f" ;; esac
	done
done
: >"$R/modules.order"
for f in $mods; do
	cp "$f" "$R/lib/modules/$KVER/" && basename "$f" >>"$R/modules.order"
done

# The daemon and the CLI as built here (dynamic), with dbus-daemon and every library they need:
# hpcmeterd's libnl client is tested against the real module in the guest.
BUILD_DIR=${BUILD:-$TOP/build}
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$TOP/$BUILD_DIR ;; esac
copy_bin() { # copy_bin BINARY: into /bin with its shared libraries at their paths
	local lib
	cp "$1" "$R/bin/" || return 1
	for lib in $(ldd "$1" | grep -o '/[^ ]*'); do
		mkdir -p "$R$(dirname "$lib")" && cp -L "$lib" "$R$lib" || return 1
	done
}
if [ -x "$BUILD_DIR/hpcmeterd" ] && [ -x "$BUILD_DIR/hpcmeterctl" ] && command -v dbus-daemon >/dev/null; then
	mkdir -p "$R/etc" "$R/run" "$R/var/tmp"
	copy_bin "$BUILD_DIR/hpcmeterd" && copy_bin "$BUILD_DIR/hpcmeterctl" &&
		copy_bin "$(command -v dbus-daemon)" || bail "cannot copy the daemon and its libraries"
	cp "$TOP/tests/dbus/bus.conf.in" "$TOP/daemon/org.hpcmeter1.conf" "$R/etc/"
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$R/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$R/etc/group"
else
	echo "# $BUILD_DIR/hpcmeterd not built (make): the daemon checks in the guest are skipped"
fi

cat >"$R/init" <<'EOF'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
for m in $(cat /modules.order); do insmod /lib/modules/$(uname -r)/$m; done
code=2
if mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 hostshare /mnt; then
	sh /guest-test.sh >/mnt/guest.tap 2>&1 && code=1
	sync
	umount /mnt
fi
# isa-debug-exit: qemu exits with (code << 1) | 1, so 3 = all passed, 5 = failures.
printf "\\$code" | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
poweroff -f
EOF

cat >"$R/guest-test.sh" <<'EOF'
#!/bin/sh
# Runs in the guest: one TAP line per check, without numbers (the host numbers them).
. /mnt/expect
G=/mnt/genl-info
fails=0
ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; fails=$((fails + 1)); }
diag() { sed 's/^/# /'; }
check() { desc=$1; shift; if "$@"; then ok "$desc"; else not_ok "$desc"; fi; }
# Warning (W), die (D), bad page (B) and soft lockup (L) taints, and splats in the log.
kernel_clean() {
	t=$(cat /proc/sys/kernel/tainted)
	[ $((t & (512 | 128 | 32 | 16384))) -eq 0 ] || { echo "tainted=$t" | diag; return 1; }
	splat=$(dmesg | grep -E -i 'WARNING:|BUG:|Oops|Call Trace|general protection|refcount_t|KASAN|UBSAN')
	[ -z "$splat" ] || { echo "$splat" | diag; return 1; }
}
info_ok() { # $1: output of genl-info
	case "$1" in "version=$VERSION abi=$ABI load_time_ns="*) return 0 ;; esac
	return 1
}
load_time_s() { lt=${1##*load_time_ns=}; echo "${lt%?????????}"; }

# The kselftests alone (run.sh -t TEST)
kselftest() { # args for hpcmeter_test; its TAP lines become ours, the rest diagnostics
	[ -x /mnt/hpcmeter_test ] || return 0
	HPCMETER_KO=/mnt/hpcmeter.ko HPCMETER_EXPECT_DEV=1234:1111 /mnt/hpcmeter_test "$@" 2>&1 |
		sed -e 's/^ok [0-9]* /ok - kselftest: /' -e 's/^not ok [0-9]* /not ok - kselftest: /' \
			-e '/^ok - /b' -e '/^not ok - /b' -e 's/^/# /' >/tmp/ksft.out
	cat /tmp/ksft.out
	! grep -q '^not ok' /tmp/ksft.out || fails=$((fails + 1))
	grep -q '^ok - ' /tmp/ksft.out || { not_ok "kselftest ran"; }
}
if [ "$ONLY" = --bench ]; then
	# Alternate: no module, module loaded; 7 runs of 20000 round trips each.
	for i in 1 2 3 4 5 6 7; do
		none=$(/mnt/hpcmeter_test --pingpong 20000)
		insmod /mnt/hpcmeter.ko || exit 1
		mod=$(/mnt/hpcmeter_test --pingpong 20000)
		rmmod hpcmeter || exit 1
		echo "# bench: none $none module $mod"
	done
	ok "benchmark ran"
	exit 0
fi
if [ -n "$ONLY" ]; then
	dmesg -c >/dev/null
	check "insmod hpcmeter.ko" insmod /mnt/hpcmeter.ko
	kselftest -t "$ONLY"
	rmmod hpcmeter 2>/dev/null
	check "no warning, oops or bad taint at the end" kernel_clean
	[ $fails -eq 0 ]
	exit
fi

dmesg -c >/dev/null
# 1st load
before=$(date +%s)
check "insmod hpcmeter.ko" insmod /mnt/hpcmeter.ko
after=$(date +%s)
check "dmesg announces version $VERSION" sh -c "dmesg | grep -q 'hpcmeter: version $VERSION loaded'"
check "no warning, oops or bad taint after insmod" kernel_clean
check "/sys/module/hpcmeter/version is $VERSION" \
	sh -c "[ \"\$(cat /sys/module/hpcmeter/version 2>/dev/null)\" = '$VERSION' ]"
out=$($G 2>&1)
rc=$?
if [ $rc -eq 0 ] && info_ok "$out"; then ok "GET_INFO: $out"; else not_ok "GET_INFO (rc $rc)"; echo "$out" | diag; fi
lt1=$(load_time_s "$out")
check "load_time_ns is CLOCK_REALTIME at load ($before <= ${lt1:-?} <= $after)" \
	sh -c "[ '$lt1' -ge $before ] 2>/dev/null && [ '$lt1' -le $after ]"
out=$($G --with-attr=99 2>&1)
rc=$?
case "$rc:$out" in
1:*"Invalid argument (kernel: Unknown attribute type)"*) ok "unknown attribute rejected with extack: $out" ;;
*) not_ok "unknown attribute rejected with extack (rc $rc)"; echo "$out" | diag ;;
esac
out=$($G --with-attr=1 2>&1)
rc=$?
case "$rc:$out" in
1:*"Invalid argument (kernel: Unsupported attribute)"*) ok "attribute GET_INFO does not take rejected with extack: $out" ;;
*) not_ok "attribute GET_INFO does not take rejected with extack (rc $rc)"; echo "$out" | diag ;;
esac
check "rmmod hpcmeter" rmmod hpcmeter
check "/sys/module/hpcmeter is gone" sh -c '! [ -e /sys/module/hpcmeter ]'
out=$($G 2>&1)
rc=$?
if [ $rc -eq 2 ]; then ok "GET_INFO fails after rmmod: $out"; else not_ok "GET_INFO fails after rmmod (rc $rc)"; echo "$out" | diag; fi

# 2nd load: a fresh load time, clean unload again (a second later: the time is in seconds)
sleep 1
check "insmod hpcmeter.ko again" insmod /mnt/hpcmeter.ko
out=$($G 2>&1)
rc=$?
lt2=$(load_time_s "$out")
if [ $rc -eq 0 ] && info_ok "$out" && [ "$lt2" -gt "$lt1" ] 2>/dev/null; then
	ok "GET_INFO after reload has a later load time: $out"
else
	not_ok "GET_INFO after reload has a later load time (rc $rc)"; echo "$out" | diag
fi
check "rmmod hpcmeter again" rmmod hpcmeter
check "/sys/module/hpcmeter is gone again" sh -c '! [ -e /sys/module/hpcmeter ]'

# Bad parameters are refused at load, with a message.
check "insmod max_cgroups=100 (not a power of two) is refused" sh -c '! insmod /mnt/hpcmeter.ko max_cgroups=100 2>/dev/null'
check "... and says why" sh -c "dmesg | grep -q 'max_cgroups=100: must be a power of two'"
check "insmod heartbeat_ms=5 (below 100) is refused" sh -c '! insmod /mnt/hpcmeter.ko heartbeat_ms=5 2>/dev/null'
check "the module is not loaded after the refusals" sh -c '! [ -e /sys/module/hpcmeter ]'

# Autoload: resolving the family by name makes the kernel modprobe its alias.
mkdir -p /lib/modules/$(uname -r)/extra
cp /mnt/hpcmeter.ko /lib/modules/$(uname -r)/extra/
depmod
echo /bin/modprobe >/proc/sys/kernel/modprobe
out=$($G 2>&1)
rc=$?
if [ $rc -eq 0 ] && info_ok "$out" && [ -e /sys/module/hpcmeter ]; then
	ok "genl family lookup autoloads hpcmeter (MODULE_ALIAS_GENL_FAMILY)"
else
	not_ok "genl family lookup autoloads hpcmeter (rc $rc)"; echo "$out" | diag
fi
rmmod hpcmeter 2>/dev/null
# From here on the module is only what the tests load: resolving the family must not autoload it.
rm -f /lib/modules/$(uname -r)/extra/hpcmeter.ko
depmod
echo "# $(cut -d' ' -f1 /proc/uptime) s: shell checks done"

# hpcmeterd's kernel meter (daemon/core/kmeter.c, libnl) against the real module.
daemon_checks() {
	D=/tmp/daemon
	mkdir -p $D/state $D/licenses
	sed -e "s|@SOCK@|$D/bus.sock|" -e "s|@POLICY@|/etc/org.hpcmeter1.conf|" /etc/bus.conf.in >$D/bus.conf
	dbus-daemon --config-file=$D/bus.conf --nofork --nopidfile --print-address=3 3>$D/bus.addr 2>$D/bus.log &
	bus=$!
	# Waits poll every 0.1 s for at most 60 s: generous, for qemu without KVM on a host whose
	# cores are busy; each ends as soon as what it waits for is there.
	i=0; while [ ! -s $D/bus.addr ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
	export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$D/bus.sock
	printf 'interval = 1\nkmeter_tolerance = 10\nkmeter_floor_ms = 100\nkmeter_window = 5\n' >$D/hpcmeterd.conf
	hpcmeterd -c $D/hpcmeterd.conf -l $D/licenses -s $D/state >$D/hpcmeterd.log 2>&1 &
	daemon=$!
	status_is() { hpcmeterctl status --json 2>/dev/null | grep -q "\"kernel_meter\": *\"$1\""; }
	wait_status() { i=0; while ! status_is "$1" && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done; status_is "$1"; }
	check "hpcmeterd runs without the module; status says kernel_meter \"absent\"" wait_status absent
	echo "# $(cut -d' ' -f1 /proc/uptime) s: daemon up"
	check "insmod hpcmeter.ko under the running daemon" insmod /mnt/hpcmeter.ko
	check "hpcmeterd finds the module: kernel_meter \"attached\"" wait_status attached
	hpcmeterctl status --json | grep -o '"kernel_meter[a-z_]*": *[^,}]*' | diag
	out=$(hpcmeterctl inventory kernel 2>&1)
	case $out in *"0000:00:02.0   1234:1111 1af4:1100 030000 -1"*) ok "hpcmeterctl inventory kernel shows the module's view (qemu VGA)" ;;
	*) not_ok "hpcmeterctl inventory kernel shows the module's view"; echo "$out" | diag ;; esac
	out=$(hpcmeterctl inventory kernel --json 2>&1)
	case $out in *'"bus_id":"0000:00:02.0","vendor_id":"1234","device_id":"1111"'*) ok "hpcmeterctl inventory kernel --json: $out" ;;
	*) not_ok "hpcmeterctl inventory kernel --json"; echo "$out" | diag ;; esac
	out=$(hpcmeterctl inventory 2>&1)
	case $out in *"Seen by the hpcmeter kernel module:"*"0000:00:02.0   1234:1111 1af4:1100 030000 -1"*)
		ok "hpcmeterctl inventory: the daemon's view, then the module's" ;;
	*) not_ok "hpcmeterctl inventory: the daemon's view, then the module's"; echo "$out" | diag ;; esac
	# Work for both meters: CPU burners in a cgroup of their own, over several intervals.
	mkdir /sys/fs/cgroup/kmeter-burn
	for n in 1 2 3; do
		sh -c 'echo $$ >/sys/fs/cgroup/kmeter-burn/cgroup.procs; exec /mnt/hpcmeter_test --burn'
	done
	compared() { hpcmeterctl status --json | grep -q '"kernel_meter_checks": *[1-9]'; }
	i=0; while ! compared && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
	hpcmeterctl status --json | grep -o -E '"(kernel_meter_[cd][a-z]*|move_events)": *[0-9]*' | diag
	check "the meters were compared on the burners' intervals (kernel_meter_checks > 0)" compared
	check "the BPF meter saw the burners move into their cgroup (move_events > 0, this kernel)" sh -c \
		"hpcmeterctl status --json | grep -q '\"move_events\": *[1-9]'"
	check "the meters agree within 10 %: no divergence" sh -c \
		"hpcmeterctl status --json | grep -q '\"kernel_meter_divergences\": *0[,}]'"
	check "no kernel-meter violation while both meters run" sh -c \
		"! hpcmeterctl violations --json | grep -q kernel-meter"
	rmdir /sys/fs/cgroup/kmeter-burn
	check "rmmod hpcmeter under the running daemon" rmmod hpcmeter
	check "hpcmeterd notices: kernel_meter \"gone\"" wait_status gone
	if hpcmeterctl violations --json | grep -q '"kind": *"kernel-meter-gone"'; then
		ok "a kernel-meter-gone tamper violation is recorded"
	else
		not_ok "a kernel-meter-gone tamper violation is recorded"; hpcmeterctl violations | diag
	fi
	# Blinding the module by filling its table is tampering too.
	check "insmod hpcmeter.ko max_cgroups=64" insmod /mnt/hpcmeter.ko max_cgroups=64
	check "hpcmeterd finds it again" wait_status attached
	# The time without the second meter is a metering gap in the ledger, closed when it is back.
	unloaded() { hpcmeterctl gaps --json | grep -q '"cause": *"module-unloaded"'; }
	i=0; while ! unloaded && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
	check "the time without it is a module-unloaded gap in the ledger (hpcmeterctl gaps)" unloaded
	hpcmeterctl gaps 2>&1 | grep module-unloaded | diag
	for n in $(seq 1 80); do
		mkdir /sys/fs/cgroup/kmeter-fill-$n
		sh -c "echo \$\$ >/sys/fs/cgroup/kmeter-fill-$n/cgroup.procs; exec /mnt/hpcmeter_test --noop"
		rmdir /sys/fs/cgroup/kmeter-fill-$n
	done
	full() { hpcmeterctl violations --json | grep -q '"kind": *"kernel-meter-full"'; }
	i=0; while ! full && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
	check "a full table (80 cgroups for 64 slots) is a kernel-meter-full violation" full
	check "and no divergence is raised for the cgroups it could not record" sh -c \
		"! hpcmeterctl violations --json | grep -q '\"kind\": *\"kernel-meter-divergence\"[^}]*\"cgroup\": *\"/kmeter-fill'"
	rmmod hpcmeter
	kill $daemon; wait $daemon
	check "hpcmeterd stops cleanly (exit 0)" [ $? -eq 0 ]
	kill $bus
	grep -i 'kernel meter\|violation' $D/hpcmeterd.log | diag
}
if [ -x /bin/hpcmeterd ] && [ -x /mnt/hpcmeter_test ]; then
	daemon_checks
	echo "# $(cut -d' ' -f1 /proc/uptime) s: daemon checks done"
else
	echo "ok - hpcmeterd against the module # SKIP hpcmeterd or hpcmeter_test not built"
fi

# The kselftest-harness suite, with the module loaded.
check "insmod hpcmeter.ko for the kselftests" insmod /mnt/hpcmeter.ko
kselftest
echo "# $(cut -d' ' -f1 /proc/uptime) s: kselftests done"
# Hostile netlink traffic at the family for GENL_FUZZ_S seconds each from a root socket and
# from nobody's (uid and gid 65534): the kernel must stay clean and the module keep answering.
for who in root nobody; do
	opt=; [ $who = nobody ] && opt=-u
	seed=$(($(date +%s) % 100000))
	out=$(/mnt/genl-fuzz -s $GENL_FUZZ_S -r $seed $opt 2>&1)
	rc=$?
	check "genl-fuzz for ${GENL_FUZZ_S} s as $who (seed $seed): $out" [ $rc -eq 0 ]
	check "no oops, WARN, BUG, KASAN or refcount message after fuzzing as $who" kernel_clean
done
out=$($G 2>&1)
check "GET_INFO still answers after the fuzzing" info_ok "$out"
echo "# $(cut -d' ' -f1 /proc/uptime) s: netlink fuzzing done"
check "rmmod hpcmeter after the kselftests" rmmod hpcmeter

check "no warning, oops or bad taint at the end" kernel_clean
dmesg | grep -i hpcmeter | diag
[ $fails -eq 0 ]
EOF
chmod +x "$R/init" "$R/guest-test.sh"
(cd "$R" && find . | cpio -o -H newc --quiet | gzip -1) >"$T/initramfs.cpio.gz" ||
	bail "cannot build the initramfs"

# The uncompressed vmlinux boots through PVH about twice as fast as the bzImage.
KERNEL=/boot/vmlinuz-$KVER
if python3 - "/boot/vmlinuz-$KVER" "$T/vmlinux" 2>/dev/null <<'EOF'; then KERNEL=$T/vmlinux; fi
import lzma, sys
d = open(sys.argv[1], 'rb').read()
i = d.find(b'\xfd7zXZ\x00')
while i >= 0:
    try:
        out = lzma.LZMADecompressor().decompress(d[i:])
        if out[:4] == b'\x7fELF':
            open(sys.argv[2], 'wb').write(out)
            sys.exit(0)
    except lzma.LZMAError:
        pass
    i = d.find(b'\xfd7zXZ\x00', i + 1)
sys.exit(1)
EOF

# --- boot -------------------------------------------------------------------------------
t0=$(date +%s.%N)
timeout "$QEMU_TIMEOUT_S" qemu-system-x86_64 -accel tcg -m 512M -smp 1 \
	-nographic -nodefaults -no-user-config -serial stdio -net none -no-reboot \
	-device isa-debug-exit,iobase=0xf4,iosize=0x04 -device VGA -display none \
	-kernel "$KERNEL" -initrd "$T/initramfs.cpio.gz" \
	-virtfs local,path="$SHARE",mount_tag=hostshare,security_model=none,id=hs \
	-append "console=ttyS0 panic=-1 quiet loglevel=4" </dev/null >"$T/console.log" 2>&1
qrc=$?
t1=$(date +%s.%N)
echo "# qemu ($(basename "$KERNEL")) exited with $qrc after $(elapsed "$t0" "$t1") s"

if [ -r "$SHARE/guest.tap" ]; then
	while IFS= read -r line; do
		case "$line" in
		"ok - "*) ok "guest: ${line#ok - }" ;;
		"not ok - "*) not_ok "guest: ${line#not ok - }" ;;
		*) echo "$line" ;;
		esac
	done <"$SHARE/guest.tap"
fi
if [ "$ONLY" = --bench ] && [ -r "$SHARE/guest.tap" ]; then
	grep '^# bench:' "$SHARE/guest.tap" | awk '
		{ n++; a[n] = $4; b[n] = $6; r[n] = $6 / $4 }
		function median(v, k,   i, j, t) {
			for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
			return v[int((k + 1) / 2)]
		}
		END { if (n) { ma = median(a, n); mb = median(b, n)
			printf "# median ns per switch: no module %d, module %d, added %d ns, ratio %.3f; median of per-run ratios %.3f (%d runs)\n", ma, mb, mb - ma, mb / ma, median(r, n), n } }'
fi
case $qrc in
3) ok "guest ran to the end and reported success" ;;
5) not_ok "guest ran to the end and reported failures" ;;
*)
	not_ok "guest ran to the end (qemu exit $qrc; 124 = timeout)"
	tail -n 40 "$T/console.log" | diag
	;;
esac
finish
