#!/bin/bash
# The RPM spec stays true: rpmspec parses it, its version is dkms.conf's, and every path its
# %files lists is what "make install" puts there with the same directories (RHEL's).
. "$(dirname "$0")/../lib.sh"
echo "TAP version 13"

command -v rpmspec >/dev/null || skip_all "needs rpmspec (package rpm)"
SPEC=$TOP/packaging/rpm/hpcmeter.spec
# RHEL's values of the macros Debian's rpm does not define
defs=(--define '_unitdir /usr/lib/systemd/system' --define '_sysusersdir /usr/lib/sysusers.d'
	--define 'systemd_requires %{nil}' --define 'dist .el9')
rpmspec -P "${defs[@]}" "$SPEC" >"$T/spec" 2>"$T/spec.err"
check "rpmspec -P parses the spec" test $? = 0 -a ! -s "$T/spec.err"
version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$TOP/dkms.conf")
check "the spec's version is dkms.conf's ($version)" grep -qx "Version: *$version" "$T/spec"

eval_macro() { rpm "${defs[@]}" --eval "$1"; }
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
