#!/bin/bash
# The RPM spec stays true: rpmspec parses it, its version is dkms.conf's, and every path its
# %files lists is what "make install" puts there with the same directories (RHEL's); every
# pkg-config module the Makefile links is a BuildRequires.
. "$(dirname "$0")/../lib.sh"
echo "TAP version 13"

command -v rpmspec >/dev/null || skip_all "needs rpmspec (package rpm)"
SPEC=$TOP/packaging/rpm/hpcmeter.spec
# RHEL's macros that Debian's rpm does not define (rhel9.macros, as test-rpmbuild.sh); Source1,
# which %pre reads, is daemon/hpcmeter.sysusers.
defs=(--load "$TOP/tests/package/rhel9.macros" --define "_hpcmeter_tests $TOP/tests/package"
	--define "_sourcedir $TOP/daemon" --define 'dist .el9')
rpmspec -P "${defs[@]}" "$SPEC" >"$T/spec" 2>"$T/spec.err"
check "rpmspec -P parses the spec" test $? = 0 -a ! -s "$T/spec.err"
version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$TOP/dkms.conf")
check "the spec's version is dkms.conf's ($version)" grep -qx "Version: *$version" "$T/spec"

# every pkg-config module the Makefile links (PKGS, CTL_PKGS) as a BuildRequires
for m in $(sed -n 's/^\(CTL_\)\?PKGS := //p' "$TOP/Makefile"); do
	check "BuildRequires: pkgconfig($m)" grep -qx "BuildRequires: *pkgconfig($m)" "$SPEC"
done

D=$T/dest
make -s -C "$TOP" install DESTDIR="$D" PREFIX=/usr SYSCONFDIR=/etc LIBEXECDIR=/usr/libexec \
	UNITDIR=/usr/lib/systemd/system SYSUSERSDIR=/usr/lib/sysusers.d >"$T/install.log" 2>&1
check "make install with RHEL's directories succeeds" test $? = 0
# the main package's %files: every path (glob) must exist in the install
awk '/^%files$/ { f = 1; next } /^%files / || /^%changelog/ { f = 0 } f' "$T/spec" |
	sed -e 's/^%config([^)]*) //' -e 's/^%dir //' | grep '^/' >"$T/files"
check "the spec lists files" test -s "$T/files"
while read -r p; do
	# shellcheck disable=SC2086 # globs in %files are meant
	check "make install provides $p" sh -c "ls -d $D$p >/dev/null 2>&1"
done <"$T/files"
tap_done
