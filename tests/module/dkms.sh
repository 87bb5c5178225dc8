#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Package the module with DKMS the way a user would, for the newest Debian amd64 kernel:
# a copy of the tree in /usr/src/hpcmeter-VERSION, dkms add/build/install -k KVER, check the
# installed .ko, load it in that kernel under qemu (tests/module/run.sh -t), then remove
# everything again.
# TAP on stdout; exit 0 if all passed, 1 if not, 77 (SKIP) when a prerequisite is missing.

. "$(dirname "$0")/common.sh"

step() { # step DESCRIPTION COMMAND...: run it, logging its output as diagnostics on failure
	local desc=$1 log
	shift
	if log=$("$@" 2>&1); then ok "$desc"; else not_ok "$desc"; echo "$log" | tail -n 30 | diag; finish; fi
}

[ "$(id -u)" -eq 0 ] || skip_all "needs root (writes /usr/src, /var/lib/dkms, /lib/modules)"
command -v dkms >/dev/null || skip_all "no dkms (apt-get install dkms)"

VERSION=$(sed -n 's/^PACKAGE_VERSION="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$TOP/dkms.conf")
[ -n "$VERSION" ] || bail "no PACKAGE_VERSION in dkms.conf"
SRC=/usr/src/hpcmeter-$VERSION
# Never clobber an installation that is not ours.
[ -e "$SRC" ] && skip_all "$SRC exists; remove it (and 'dkms remove hpcmeter/$VERSION --all') first"
[ -e "/var/lib/dkms/hpcmeter/$VERSION" ] && skip_all "hpcmeter/$VERSION is already registered with dkms"

# shellcheck disable=SC2317 # called by the trap
cleanup() {
	dkms remove "hpcmeter/$VERSION" --all >/dev/null 2>&1
	rm -rf "$SRC"
	rmdir /var/lib/dkms/hpcmeter 2>/dev/null
}
trap cleanup EXIT
echo "# kernel $KVER, $(dkms --version 2>/dev/null)"

mkdir -p "$SRC" && cp -a "$TOP/Kbuild" "$TOP/dkms.conf" "$TOP/module" "$SRC/"
step "dkms add hpcmeter/$VERSION" dkms add -m hpcmeter -v "$VERSION"
step "dkms build -k $KVER" dkms build -m hpcmeter -v "$VERSION" -k "$KVER"
step "dkms install -k $KVER" dkms install -m hpcmeter -v "$VERSION" -k "$KVER"

KO=
for f in /lib/modules/"$KVER"/updates/dkms/hpcmeter.ko*; do [ -e "$f" ] && KO=$f; done
if [ -n "$KO" ]; then
	ok "installed as $KO"
	v=$(modinfo -F version "$KO")
	a=$(modinfo -F alias "$KO")
	m=$(modinfo -F vermagic "$KO")
	if [ "$v" = "$VERSION" ] && [ "$a" = "net-pf-16-proto-16-family-hpcmeter" ] && [ "${m%% *}" = "$KVER" ]; then
		ok "installed module: version $v, genl family alias, vermagic $KVER"
		echo "# signer: $(modinfo -F signer "$KO")"
	else
		not_ok "installed module: version '$v' (want $VERSION), alias '$a', vermagic '$m'"
	fi
	if modinfo -b / -k "$KVER" -F filename hpcmeter 2>/dev/null | grep -q /updates/dkms/; then
		ok "depmod knows it: modinfo -k $KVER hpcmeter finds the DKMS copy"
	else
		not_ok "depmod knows it: modinfo -k $KVER hpcmeter finds the DKMS copy"
	fi
else
	not_ok "installed under /lib/modules/$KVER/updates/dkms"
fi
if dkms status -m hpcmeter -v "$VERSION" -k "$KVER" | grep -q ': installed'; then
	ok "dkms status says installed"
else
	not_ok "dkms status says installed"
	dkms status | diag
fi

# Load the module DKMS built and installed in the Debian kernel it was built for (qemu guest),
# and ask it for GET_INFO there.
if [ -n "$KO" ]; then
	if guest=$(HPCMETER_TEST_KO=$KO "$TOP/tests/module/run.sh" -t info_well_formed 2>&1); then
		ok "the DKMS-built module loads in $KVER (qemu) and answers GET_INFO"
		echo "$guest" | grep -E '^(ok|not ok) ' | diag
	else
		rc=$?
		if [ $rc = 77 ]; then
			ok "the DKMS-built module loads in $KVER # SKIP $(echo "$guest" | grep -m1 -o 'SKIP.*')"
		else
			not_ok "the DKMS-built module loads in $KVER (qemu) and answers GET_INFO"
			echo "$guest" | grep -v '^# \[' | tail -n 30 | diag
		fi
	fi
fi

step "dkms remove hpcmeter/$VERSION --all" dkms remove "hpcmeter/$VERSION" --all
if [ ! -e "/lib/modules/$KVER/updates/dkms/hpcmeter.ko" ] && ! dkms status | grep -q '^hpcmeter/'; then
	ok "module and dkms registration are gone"
else
	not_ok "module and dkms registration are gone"
fi
finish
