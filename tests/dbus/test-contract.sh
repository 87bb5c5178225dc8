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

# A normal form of one interface: members, argument types/directions/names, property access
# and change annotations; order-independent.
cat >"$T/normal.py" <<'EOPY'
import sys, xml.etree.ElementTree as ET
def norm(path):
    iface = [i for i in ET.parse(path).getroot().iter("interface") if i.get("name") == "org.hpcmeter1.Manager"][0]
    out = []
    for e in iface:
        ann = {a.get("name"): a.get("value") for a in e.findall("annotation")}
        if e.tag == "method":
            args = [(a.get("name"), a.get("type"), a.get("direction", "in")) for a in e.findall("arg")]
            out.append(("method", e.get("name"), args))
        elif e.tag == "signal":
            out.append(("signal", e.get("name"), [(a.get("name"), a.get("type")) for a in e.findall("arg")]))
        elif e.tag == "property":
            emits = ann.get("org.freedesktop.DBus.Property.EmitsChangedSignal", "true")
            out.append(("property", e.get("name"), e.get("type"), e.get("access"), emits))
    for line in sorted(map(repr, out)):
        print(line)
norm(sys.argv[1])
EOPY
python3 "$T/normal.py" "$TOP/daemon/org.hpcmeter1.xml" >"$T/contract.txt"
python3 "$T/normal.py" "$T/live.xml" >"$T/live.txt"
check "the contract lists members" test "$(wc -l <"$T/contract.txt")" -gt 5
if diff -u "$T/contract.txt" "$T/live.txt" >"$T/diff.txt"; then
	ok "the live org.hpcmeter1.Manager matches daemon/org.hpcmeter1.xml"
else
	not_ok "the live org.hpcmeter1.Manager matches daemon/org.hpcmeter1.xml"
	diag "$(cat "$T/diff.txt")"
fi
tap_done
