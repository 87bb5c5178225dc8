#!/bin/bash
# Signed reports checked offline, as an auditor does, with the node's public key alone: the
# reports issued before signatures were detached (JSON with a "signature" member, CSV with a
# last "#signature,..." line; tests/cli/report-fixtures/, made by hpcmeterctl 0.1.0 from the
# golden ledger) still verify, as a chain in the order issued; a changed byte, a line appended,
# the wrong order and another key fail. No daemon, no bus.
. "$(dirname "$0")/../lib.sh"
echo "TAP version 13"

FIX=$TOP/tests/cli/report-fixtures
KEY=$FIX/legacy-key.pub.pem
ctl() { "$HPCMETERCTL" "$@"; }
fails() { ! "$@" >/dev/null 2>&1; }
quiet() { "$@" >/dev/null; }

check "an old JSON report (embedded signature) verifies" quiet ctl report verify --key "$KEY" "$FIX/legacy-1.json"
check "an old CSV report (#signature line) verifies" quiet ctl report verify --key "$KEY" "$FIX/legacy-2.csv"
ctl report verify --key "$KEY" "$FIX/legacy-1.json" "$FIX/legacy-2.csv" >"$T/chain.out"
rc=$?
diag "$(cat "$T/chain.out")"
check "the two verify as a chain in the order issued" test $rc = 0
check "and not in the other order" fails ctl report verify --key "$KEY" "$FIX/legacy-2.csv" "$FIX/legacy-1.json"
sed 's/"cpu_seconds":3600/"cpu_seconds":3601/' "$FIX/legacy-1.json" >"$T/changed.json"
check "one changed digit in the old JSON fails" fails ctl report verify --key "$KEY" "$T/changed.json"
sed 's/^job,101,/job,109,/' "$FIX/legacy-2.csv" >"$T/changed.csv"
check "one changed digit in the old CSV fails" fails ctl report verify --key "$KEY" "$T/changed.csv"
{ cat "$FIX/legacy-1.json"; echo '{"extra":1}'; } >"$T/appended.json"
check "a line appended after the embedded signature fails" fails ctl report verify --key "$KEY" "$T/appended.json"
{ cat "$FIX/legacy-2.csv"; echo 'job,1,/x,0,root,,1.0,0,0'; } >"$T/appended.csv"
check "a line appended after the #signature line fails" fails ctl report verify --key "$KEY" "$T/appended.csv"
openssl genpkey -algorithm ed25519 2>/dev/null | openssl pkey -pubout >"$T/other.pem" 2>/dev/null
check "another key does not verify the old reports" fails ctl report verify --key "$T/other.pem" "$FIX/legacy-1.json"
tap_done
