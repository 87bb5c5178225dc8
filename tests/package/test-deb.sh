#!/bin/bash
# The Debian packages: build source and binaries with dpkg-buildpackage from a copy of this
# tree; lintian --pedantic finds nothing that debian/*lintian-overrides does not explain; the
# binaries carry the hardening of dpkg-buildflags; install them with apt into a fresh Debian 12
# root made by mmdebstrap (dependencies resolved from the archive), and check what an
# administrator relies on: binaries run, the group exists, the unit is enabled, the
# configuration is a conffile, DKMS knows the module; then purge.
# Needs root and the Debian archive (apt sources of this machine). Run by "make check-packages".
. "$(dirname "$0")/../lib.sh"
echo "TAP version 13"

[ "$(id -u)" = 0 ] || skip_all "needs root (mmdebstrap into a directory)"
for b in dpkg-buildpackage mmdebstrap lintian hardening-check; do
	command -v "$b" >/dev/null || skip_all "needs $b (scripts/install-deps.sh)"
done

# Every pkg-config module the Makefile links (PKGS, CTL_PKGS) has the -dev package that ships
# its .pc file in Build-Depends.
bdeps=$(sed -n '/^Build-Depends:/,/^[A-Z]/p' "$TOP/debian/control" | tr ',' '\n' |
	sed -e 's/^Build-Depends://' -e 's/[[:space:]]//g' -e 's/(.*//')
for m in $(sed -n 's/^\(CTL_\)\?PKGS := //p' "$TOP/Makefile"); do
	pc=$(readlink -f "$(pkg-config --variable=pcfiledir "$m")/$m.pc")
	dev=$(dpkg -S "$pc" 2>/dev/null | cut -d: -f1)
	check "Build-Depends has ${dev:-the package of $m.pc} (pkg-config $m)" \
		grep -qx "${dev:-none}" <<<"$bdeps"
done

# A copy of the tree as git sees it (tracked and new files, nothing ignored): the build
# cleans and writes in place, and its .debs land in the parent directory.
mkdir -p "$T/src"
(cd "$TOP" && git ls-files -co --exclude-standard -z | tar --null -cf - -T -) | tar -xf - -C "$T/src"
(cd "$T/src" && dpkg-buildpackage -us -uc) >"$T/build.log" 2>&1
rc=$?
check "dpkg-buildpackage -us -uc (source and binaries) succeeds" test $rc = 0
[ $rc = 0 ] || { tail -30 "$T/build.log" | sed 's/^/# /'; tap_done; exit 1; }
debs=("$T"/hpcmeter_*.deb "$T"/hpcmeter-dkms_*.deb)
check "it builds hpcmeter and hpcmeter-dkms" test -s "${debs[0]}" -a -s "${debs[1]}"
diag "$(cd "$T" && ls -1 ./*.deb ./*.dsc ./*.changes)"

# lintian on the .changes: the source package (.dsc), every .deb (dbgsym included), the
# .buildinfo. Every tag at --pedantic and info level fails the test unless an override with its
# reason silences it; but two heuristics of the info level are only shown: unused-override
# (the wTH override matches bytes of machine code, which a change anywhere may move away) and
# spelling-error-in-binary (any string of the binary, code included).
lintian --pedantic --display-info "$T"/hpcmeter_*.changes >"$T/lintian.log" 2>"$T/lintian.err"
grep -E '^[EWPI]: ' "$T/lintian.log" >"$T/lintian.tags"
bad=$(grep -v -E '^I: [^:]+: (unused-override|spelling-error-in-binary) ' "$T/lintian.tags")
check "lintian --pedantic -I: no tag without an override" test -z "$bad"
[ -z "$bad" ] || diag "$bad"
info=$(grep -E '^I: [^:]+: (unused-override|spelling-error-in-binary) ' "$T/lintian.tags")
[ -z "$info" ] || diag "lintian, shown only: $info"
check "lintian ran (no error of its own)" test ! -s "$T/lintian.err" -o \
	-z "$(grep -v 'running with root privileges is not recommended' "$T/lintian.err")"

# The binaries as shipped: fortify (-D_FORTIFY_SOURCE from CPPFLAGS), the stack protector, PIE,
# relro and bind-now. Not control-flow protection: Debian 12's dpkg-buildflags does not turn on
# -fcf-protection, and its crt files are not marked for it either (Debian 13 does both).
dpkg-deb -x "${debs[0]}" "$T/x"
for b in usr/sbin/hpcmeterd usr/bin/hpcmeterctl; do
	out=$(hardening-check --nocfprotection "$T/x/$b" 2>&1)
	check "hardening-check $b: fortify, stack protector, PIE, relro, bindnow" test $? = 0
	diag "$out"
done

suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
# apt in the new root installs the two files and whatever they depend on from the archive.
mmdebstrap --variant=apt \
	--customize-hook="copy-in ${debs[0]} ${debs[1]} /tmp" \
	--customize-hook='chroot "$1" apt-get install -y -q /tmp/'"${debs[0]##*/}"' /tmp/'"${debs[1]##*/}" \
	"$suite" "$T/root" "deb http://deb.debian.org/debian $suite main" \
	>"$T/mmdebstrap.log" 2>&1
rc=$?
check "both packages install into a fresh $suite root with their dependencies" test $rc = 0
[ $rc = 0 ] || { grep -iE "error|fail|E:" "$T/mmdebstrap.log" | tail -30 | sed 's/^/# /'; tap_done; exit 1; }
in_root() { chroot "$T/root" "$@" >/dev/null 2>&1; }

check "dpkg says both are installed" \
	in_root dpkg-query -W -f='${Status}\n' hpcmeter hpcmeter-dkms
check "hpcmeterd runs (--version)" in_root /usr/sbin/hpcmeterd --version
check "hpcmeterctl runs (--version)" in_root /usr/bin/hpcmeterctl --version
check "the group hpcmeter was created" in_root getent group hpcmeter
check "by dh_installsysusers' postinst (systemd-sysusers hpcmeter.conf)" \
	grep -q "^ *systemd-sysusers .*hpcmeter.conf" "$T/root/var/lib/dpkg/info/hpcmeter.postinst"
check "the examples are where Debian puts them (/usr/share/doc/hpcmeter/examples)" \
	test -s "$T/root/usr/share/doc/hpcmeter/examples/licenses/eu-bafa-example.yaml"
check "the unit is enabled" test -L "$T/root/etc/systemd/system/multi-user.target.wants/hpcmeterd.service"
check "the bus policy is where dbus-daemon reads it" test -s "$T/root/usr/share/dbus-1/system.d/org.hpcmeter1.conf"
check "hpcmeterd.conf is a conffile" grep -qx /etc/hpcmeter/hpcmeterd.conf "$T/root/var/lib/dpkg/info/hpcmeter.conffiles"
check "the licence directory exists" test -d "$T/root/etc/hpcmeter/licenses.d"
check "the man pages are installed" test -s "$T/root/usr/share/man/man8/hpcmeterd.8.gz"
out=$(chroot "$T/root" dkms status 2>&1)
diag "dkms status: $out"
check "DKMS has the module's source registered" grep -q "^hpcmeter/" <<<"$out"
check "the module source is in /usr/src" test -s "$T/root/usr/src/hpcmeter-$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$TOP/dkms.conf")/Kbuild"

in_root dpkg --purge hpcmeter hpcmeter-dkms >"$T/purge.log" 2>&1
check "both purge cleanly" test $? = 0
check "purge removes the unit and the configuration" \
	test ! -e "$T/root/lib/systemd/system/hpcmeterd.service" -a ! -e "$T/root/etc/hpcmeter/hpcmeterd.conf"
tap_done
