#!/bin/bash
# The checked-in introspection XML (daemon/org.hpcmeter1.xml) is the API contract: the live
# object must offer exactly its methods, arguments, signals and properties. Also the CLI's
# exit codes around a daemon that is not running.
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root (BPF)"
command -v dbus-daemon >/dev/null || skip_all "no dbus-daemon"
echo "TAP version 13"

mkdir -p "$T/licenses"
start_bus
"$HPCMETERCTL" status >/dev/null 2>"$T/status.err"
rc=$?
check "status before the daemon runs: exit 3 (LSB: not running)" test "$rc" = 3
check "and says it cannot reach hpcmeterd" grep -q "cannot reach hpcmeterd (org.hpcmeter1)" "$T/status.err"
"$HPCMETERCTL" violations >/dev/null 2>&1
rc=$?
check "other verbs: exit 3 too" test "$rc" = 3
start_daemon --licenses "$T/licenses" --interval 5

busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" introspect --xml-interface org.hpcmeter1 \
	/org/hpcmeter1 >"$T/live.xml"
check "the live object introspects" test -s "$T/live.xml"

# A normal form of the hpcmeter interfaces: each interface's members, argument
# types/directions/names, property access and change annotations; order-independent. The
# standard org.freedesktop.DBus.* interfaces are sd-bus's own.
cat >"$T/normal.py" <<'EOPY'
import sys, xml.etree.ElementTree as ET
def norm(path):
    out = []
    for iface in ET.parse(path).getroot().iter("interface"):
        name = iface.get("name")
        if not name.startswith("org.hpcmeter1."):
            continue
        for e in iface:
            ann = {a.get("name"): a.get("value") for a in e.findall("annotation")}
            if e.tag == "method":
                args = [(a.get("name"), a.get("type"), a.get("direction", "in")) for a in e.findall("arg")]
                out.append((name, "method", e.get("name"), args))
            elif e.tag == "signal":
                out.append((name, "signal", e.get("name"), [(a.get("name"), a.get("type")) for a in e.findall("arg")]))
            elif e.tag == "property":
                emits = ann.get("org.freedesktop.DBus.Property.EmitsChangedSignal", "true")
                out.append((name, "property", e.get("name"), e.get("type"), e.get("access"), emits))
    for line in sorted(map(repr, out)):
        print(line)
norm(sys.argv[1])
EOPY
python3 "$T/normal.py" "$TOP/daemon/org.hpcmeter1.xml" >"$T/contract.txt"
python3 "$T/normal.py" "$T/live.xml" >"$T/live.txt"
check "the contract lists members" test "$(wc -l <"$T/contract.txt")" -gt 5
for i in Meter Licenses Violations; do
	check "the contract and the live object have org.hpcmeter1.$i" \
		test "$(grep -c "^('org.hpcmeter1.$i'" "$T/contract.txt")" -gt 0 -a \
		"$(grep -c "^('org.hpcmeter1.$i'" "$T/live.txt")" -gt 0
done
if diff -u "$T/contract.txt" "$T/live.txt" >"$T/diff.txt"; then
	ok "the live org.hpcmeter1.{Meter,Licenses,Violations} match daemon/org.hpcmeter1.xml"
else
	not_ok "the live org.hpcmeter1.{Meter,Licenses,Violations} match daemon/org.hpcmeter1.xml"
	diag "$(cat "$T/diff.txt")"
fi
# The clients' member -> interface map (daemon/bus/hpcmeter-bus.h) agrees with the contract.
sed -n 's/.*{ "\([A-Za-z]*\)", HPCMETER_\([A-Z]*\)_IFACE }.*/\1 \2/p' "$TOP/daemon/bus/hpcmeter-bus.h" |
	sed -e 's/ METER$/ org.hpcmeter1.Meter/' -e 's/ LICENSES$/ org.hpcmeter1.Licenses/' \
		-e 's/ VIOLATIONS$/ org.hpcmeter1.Violations/' | sort >"$T/map.txt"
python3 -c "
import ast, sys
for l in open('$T/contract.txt'):
    t = ast.literal_eval(l)
    print(t[2], t[0])" | sort >"$T/members.txt"
if diff -u "$T/members.txt" "$T/map.txt" >"$T/mapdiff.txt"; then
	ok "hpcmeter_iface() in hpcmeter-bus.h maps every member to its interface, and no other"
else
	not_ok "hpcmeter_iface() in hpcmeter-bus.h maps every member to its interface, and no other"
	diag "$(cat "$T/mapdiff.txt")"
fi
tap_done
