#!/bin/bash
# make install into a DESTDIR puts every piece at its FHS place; the installed unit passes
# systemd-analyze verify with no output at all (its Documentation= pages found among those
# installed); the installed bus policy is well-formed.
. "$(dirname "$0")/../lib.sh"
echo "TAP version 13"

D=$T/dest
make -s -C "$TOP" install DESTDIR="$D" PREFIX=/usr/local >"$T/install.log" 2>&1
check "make install DESTDIR=... succeeds" test $? = 0
for f in /usr/local/sbin/hpcmeterd /usr/local/bin/hpcmeterctl \
	/usr/local/lib/systemd/system/hpcmeterd.service /etc/dbus-1/system.d/org.hpcmeter1.conf \
	/usr/local/share/dbus-1/interfaces/org.hpcmeter1.xml /usr/local/lib/sysusers.d/hpcmeter.conf \
	/etc/hpcmeter/hpcmeterd.conf /usr/local/share/hpcmeter/examples/licenses/eu-bafa-example.yaml \
	/usr/local/share/doc/hpcmeter/hpcmeterd.8.md /usr/local/share/hpcmeter/accelerators.yaml \
	/usr/local/share/hpcmeter/thresholds.yaml \
	/usr/local/share/hpcmeter/examples/monitoring/hpcmeter-alerts.yml \
	/usr/local/share/hpcmeter/examples/monitoring/hpcmeter-dashboard.json; do
	check "installed $f" test -s "$D$f"
done
for m in man8/hpcmeterd.8 man5/hpcmeterd.conf.5 man5/hpcmeter.license.5 man1/hpcmeterctl.1; do
	page=$D/usr/local/share/man/$m
	check "man page $m is installed and renders with its NAME" \
		sh -c "man -l '$page' 2>/dev/null | grep -q '^NAME'"
done
check "the bash completion is installed" \
	test -s "$D/usr/local/share/bash-completion/completions/hpcmeterctl"
check "licences directory /etc/hpcmeter/licenses.d exists and is empty" \
	test -d "$D/etc/hpcmeter/licenses.d" -a -z "$(ls -A "$D/etc/hpcmeter/licenses.d")"
for s in prolog epilog; do
	check "the Slurm $s is installed and calls the installed hpcmeterctl" \
		grep -q "^/usr/local/bin/hpcmeterctl job" "$D/usr/local/libexec/hpcmeter/slurm/$s"
	check "the Slurm $s is executable" test -x "$D/usr/local/libexec/hpcmeter/slurm/$s"
done
check "the unit runs the installed binary" grep -qx "ExecStart=/usr/local/sbin/hpcmeterd" \
	"$D/usr/local/lib/systemd/system/hpcmeterd.service"
check "the unit names its man pages (Documentation=)" grep -qx \
	"Documentation=man:hpcmeterd(8) man:hpcmeterd.conf(5) man:hpcmeter.license(5)" \
	"$D/usr/local/lib/systemd/system/hpcmeterd.service"

make -s -C "$TOP" install DESTDIR="$D/usr-prefix" PREFIX=/usr >/dev/null 2>&1
check "PREFIX=/usr puts the bus policy in /usr/share/dbus-1/system.d" \
	test -s "$D/usr-prefix/usr/share/dbus-1/system.d/org.hpcmeter1.conf"

echo "interval = 5" >"$D/etc/hpcmeter/hpcmeterd.conf"
make -s -C "$TOP" install DESTDIR="$D" >/dev/null 2>&1
check "a second install keeps the administrator's hpcmeterd.conf" \
	grep -qx "interval = 5" "$D/etc/hpcmeter/hpcmeterd.conf"

if command -v systemd-analyze >/dev/null; then
	# verify needs ExecStart= to exist on this machine: point it at the built binary.
	sed "s|^ExecStart=.*|ExecStart=$HPCMETERD|" "$D/usr/local/lib/systemd/system/hpcmeterd.service" \
		>"$T/hpcmeterd.service"
	# verify runs "man" for each Documentation= page: they must be the pages just installed.
	out=$(cd "$T" && MANPATH=$D/usr/local/share/man systemd-analyze verify "$T/hpcmeterd.service" 2>&1)
	check "systemd-analyze verify hpcmeterd.service prints nothing" test -z "$out"
	[ -z "$out" ] || diag "$out"
	score=$(systemd-analyze security --offline=yes "$T/hpcmeterd.service" 2>/dev/null |
		sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
	diag "systemd-analyze security exposure: $score"
	check "the unit's exposure score is below 4.0 ($score)" \
		python3 -c "import sys; sys.exit(0 if float('$score') < 4.0 else 1)"
else
	ok "# SKIP systemd-analyze not installed"
fi
if command -v xmllint >/dev/null; then
	check "the bus policy is well-formed XML" xmllint --noout "$TOP/daemon/org.hpcmeter1.conf"
fi
tap_done
