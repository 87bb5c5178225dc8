#!/bin/bash
# The RPM spec builds binary packages as on RHEL 9: rpmbuild -bb, run from elsewhere than the
# tree, with the tarball of this tree (Source0) and daemon/hpcmeter.sysusers (Source1) in
# SOURCES; %pre creates the group from Source1; the binaries carry RHEL's hardening flags; and
# rpmlint finds nothing that packaging/rpm/hpcmeter.rpmlintrc does not explain.
# On Debian: rpmbuild --nodeps (the BuildRequires name RHEL packages, which Debian's rpm database
# does not know; scripts/install-deps.sh installs their Debian equivalents), RHEL's macros that
# Debian's rpm lacks from tests/package/rhel9.macros, rpmlint's RHEL settings from
# tests/package/rpmlint-rhel.toml.
. "$(dirname "$0")/../lib.sh"
echo "TAP version 13"

for b in rpmbuild rpmlint rpm2cpio cpio hardening-check; do
	command -v "$b" >/dev/null || skip_all "needs $b (scripts/install-deps.sh)"
done
HERE=$TOP/tests/package
version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$TOP/dkms.conf")

# Source0 as "git archive --prefix=hpcmeter-VERSION/" makes it, of the tree as git sees it
# (tracked and new files); Source1 under the name the spec gives it.
R=$T/rpmbuild
mkdir -p "$R/SOURCES"
(cd "$TOP" && git ls-files -co --exclude-standard -z |
	tar --null -czf "$R/SOURCES/hpcmeter-$version.tar.gz" --transform "s,^,hpcmeter-$version/," -T -)
cp "$TOP/daemon/hpcmeter.sysusers" "$R/SOURCES/hpcmeter.sysusers"

# RHEL 9's optflags and build_ldflags (redhat-rpm-config) but for its gcc spec files
# (redhat-hardened-cc1/-ld, annobin), which Debian's gcc has not: its PIE is Debian's default.
optflags="-O2 -g -pipe -Wall -Werror=format-security -Wp,-D_FORTIFY_SOURCE=2"
optflags+=" -Wp,-D_GLIBCXX_ASSERTIONS -fexceptions -fstack-protector-strong"
optflags+=" -fasynchronous-unwind-tables -fstack-clash-protection -fcf-protection"
ldflags="-Wl,-z,relro -Wl,--as-needed -Wl,-z,now"
(cd "$T" && env -u CFLAGS -u CPPFLAGS -u LDFLAGS -u MAKEFLAGS rpmbuild -bb --nodeps \
	--load "$HERE/rhel9.macros" --define "_hpcmeter_tests $HERE" --define "_topdir $R" \
	--define "dist .el9" --define "optflags $optflags" --define "build_ldflags $ldflags" \
	"$TOP/packaging/rpm/hpcmeter.spec") >"$T/build.log" 2>&1
rc=$?
check "rpmbuild -bb hpcmeter.spec succeeds" test $rc = 0
[ $rc = 0 ] || { tail -30 "$T/build.log" | sed 's/^/# /'; tap_done; exit 1; }
main=$R/RPMS/x86_64/hpcmeter-$version-1.el9.x86_64.rpm
dkms=$R/RPMS/noarch/hpcmeter-dkms-$version-1.el9.noarch.rpm
check "it builds hpcmeter and hpcmeter-dkms" test -s "$main" -a -s "$dkms"
[ -s "$main" ] || { tap_done; exit 1; }

rpm -qp --scripts "$main" >"$T/scripts" 2>&1
check "%pre creates the group hpcmeter from Source1" \
	grep -qx "getent group 'hpcmeter' >/dev/null || groupadd -r 'hpcmeter'" "$T/scripts"
for s in postinstall preuninstall postuninstall; do
	check "the $s scriptlet handles hpcmeterd.service" \
		sh -c "sed -n '/^$s scriptlet/,/scriptlet/p' '$T/scripts' | grep -q hpcmeterd.service"
done

mkdir "$T/x"
(cd "$T/x" && rpm2cpio "$main" | cpio -idm --quiet)
check "it ships Source1 as /usr/lib/sysusers.d/hpcmeter.conf" \
	cmp -s "$TOP/daemon/hpcmeter.sysusers" "$T/x/usr/lib/sysusers.d/hpcmeter.conf"
check "the man pages are compressed, as %files expects" test -s "$T/x/usr/share/man/man8/hpcmeterd.8.gz"
# fortify (-Wp,-D_FORTIFY_SOURCE in optflags), stack protector, PIE, relro, bindnow. Not
# control-flow protection: -fcf-protection marks our objects, but Debian 12's crt files are not
# marked, so the linker drops the marking from the program (RHEL's are).
for b in usr/sbin/hpcmeterd usr/bin/hpcmeterctl; do
	out=$(hardening-check --nocfprotection "$T/x/$b" 2>&1)
	check "hardening-check $b: RHEL's flags reached compiler and linker" test $? = 0
	diag "$out"
done

rpmlint -c "$HERE/rpmlint-rhel.toml" -r "$TOP/packaging/rpm/hpcmeter.rpmlintrc" "$main" "$dkms" \
	>"$T/rpmlint.log" 2>&1
found=$(grep -E '^[^ ]+: [EW]: ' "$T/rpmlint.log")
check "rpmlint: no error or warning that hpcmeter.rpmlintrc does not explain" test -z "$found"
[ -z "$found" ] || diag "$found"
check "rpmlint checked both packages" grep -q '2 packages and 0 specfiles checked; 0 errors, 0 warnings' \
	"$T/rpmlint.log"
tap_done
