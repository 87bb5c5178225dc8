#!/bin/bash
# Signed reports checked offline, as an auditor does, with the node's public key alone.
# - A report FILE and its detached signature FILE.sig (64 raw bytes of Ed25519 over FILE's
#   exact bytes) verify with stock OpenSSL 3 and the key "report public-key" prints:
#   openssl pkeyutl -verify -pubin -inkey node.pub.pem -rawin -in FILE -sigfile FILE.sig
#   a changed byte and another key fail, for openssl as for report verify; reports chain.
# - The reports issued before signatures were detached (JSON with a "signature" member, CSV
#   with a last "#signature,..." line; tests/cli/report-fixtures/, made by hpcmeterctl 0.1.0
#   from the golden ledger) still verify, as a chain in the order issued; a changed byte, a
#   line appended, the wrong order and another key fail.
# - Names in a report: valid UTF-8 verbatim, bytes that are not UTF-8 as the text \xNN.
# A ledger seeded by build/tests/seed-ledger and a key made by openssl; no daemon, no bus.
. "$(dirname "$0")/../lib.sh"
echo "TAP version 13"
command -v openssl >/dev/null || skip_all "needs openssl"
[ -x "$BUILD/tests/seed-ledger" ] || skip_all "needs $BUILD/tests/seed-ledger"
# report would tell hpcmeterd on the system bus that it issued one: there is no bus here
export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$T/no-bus"

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

# ---- detached signatures ----
S=$T/state
"$BUILD/tests/seed-ledger" "$S" 2>/dev/null || { echo "Bail out! cannot seed the ledger"; exit 1; }
openssl genpkey -algorithm ed25519 -out "$S/report-key.pem" 2>/dev/null &&
	openssl pkey -in "$S/report-key.pem" -pubout -out "$S/report-key.pub.pem" 2>/dev/null
ctl report public-key --state-dir "$S" >"$T/node.pub.pem"
R=(report --state-dir "$S" --license GOLDEN-LIC-1 --from 2025-01-01 --to 2025-01-31)
ossl() { openssl pkeyutl -verify -pubin -inkey "$1" -rawin -in "$2" -sigfile "$3" >"$T/ossl.out" 2>&1; }

ctl "${R[@]}" --output "$T/r1.json" 2>"$T/r1.err"
check "report --output F writes F and F.sig (64 raw bytes)" \
	test $? = 0 -a -s "$T/r1.json" -a "$(stat -c %s "$T/r1.json.sig")" = 64
check "the report says it was not recorded: no daemon" grep -q "not recorded in the ledger" "$T/r1.err"
check "openssl pkeyutl -verify -rawin verifies F with F.sig and the public key" \
	ossl "$T/node.pub.pem" "$T/r1.json" "$T/r1.json.sig"
diag "$(cat "$T/ossl.out")"
check "F has no signature inside" python3 -c '
import json, sys
sys.exit("signature" in json.load(open(sys.argv[1])))' "$T/r1.json"
check "report verify agrees" quiet ctl report verify --key "$T/node.pub.pem" "$T/r1.json"
# one byte: the first digit of the first cpu_seconds, 1 -> 2 or anything else -> 1
python3 -c '
import sys
b = bytearray(open(sys.argv[1], "rb").read())
i = b.index(b"\"cpu_seconds\":") + len(b"\"cpu_seconds\":")
b[i] = ord("2") if b[i] == ord("1") else ord("1")
open(sys.argv[2], "wb").write(b)' "$T/r1.json" "$T/changed.json"
cp "$T/r1.json.sig" "$T/changed.json.sig"
check "a changed byte: openssl fails" fails ossl "$T/node.pub.pem" "$T/changed.json" "$T/changed.json.sig"
check "a changed byte: report verify fails" fails ctl report verify --key "$T/node.pub.pem" "$T/changed.json"
openssl genpkey -algorithm ed25519 2>/dev/null | openssl pkey -pubout >"$T/other.pem" 2>/dev/null
check "another key: openssl fails" fails ossl "$T/other.pem" "$T/r1.json" "$T/r1.json.sig"
check "another key: report verify fails" fails ctl report verify --key "$T/other.pem" "$T/r1.json"
rm -f "$T/changed.json.sig"
ctl report verify --key "$T/node.pub.pem" "$T/changed.json" >"$T/nosig.out"
check "no F.sig: report verify fails and says so" \
	sh -c "test $? = 1 && grep -q 'no signature: cannot read .*changed.json.sig' '$T/nosig.out'"
head -c 63 "$T/r1.json.sig" >"$T/short.sig"
check "a signature of 63 bytes fails" \
	fails ctl report verify --key "$T/node.pub.pem" --sig "$T/short.sig" "$T/r1.json"
cp "$T/r1.json.sig" "$T/elsewhere.sig"
check "--sig names a signature kept elsewhere" \
	quiet ctl report verify --key "$T/node.pub.pem" --sig "$T/elsewhere.sig" "$T/r1.json"
ctl report verify --key "$T/node.pub.pem" --sig "$T/elsewhere.sig" "$T/r1.json" "$T/r1.json" >/dev/null 2>&1
check "--sig with two files is a usage error (exit 2)" test $? = 2

ctl "${R[@]}" --format csv --output "$T/r2.csv" 2>/dev/null
check "a CSV report and its signature verify with openssl" ossl "$T/node.pub.pem" "$T/r2.csv" "$T/r2.csv.sig"
check "and with report verify" quiet ctl report verify --key "$T/node.pub.pem" "$T/r2.csv"
ctl "${R[@]}" --format json >/dev/null 2>"$T/stdout.err"
check "a signed report to standard output without --sig: exit 2, says why" \
	sh -c "test $? = 2 && grep -q 'needs --output FILE' '$T/stdout.err' && test \$(grep -c . '$T/stdout.err') = 2"
ctl "${R[@]}" --format csv --sig "$T/stdout.sig" >"$T/stdout.csv" 2>/dev/null
check "to standard output with --sig FILE: the signature of what was printed" \
	ossl "$T/node.pub.pem" "$T/stdout.csv" "$T/stdout.sig"
ctl "${R[@]}" --format table --sig "$T/t.sig" >/dev/null 2>&1
check "--sig with a table is a usage error (exit 2)" test $? = 2 -a ! -e "$T/t.sig"

# The chain: each report names the SHA-256 of the file before it (the daemon records each
# report issued; here the ledger is told by hand, on a copy).
mkdir -p "$T/chain"
cp "$S/ledger.sqlite" "$S/report-key.pem" "$T/chain/"
python3 -c '
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("INSERT INTO reports (time_usec, license_id, from_usec, to_usec, format, sha256,"
          " chain_seq, chain_hash) VALUES (1, ?, 0, 1, ?, ?, 0, ?)", ("GOLDEN-LIC-1", "json", sys.argv[2], ""))
c.commit()' "$T/chain/ledger.sqlite" "$(sha256sum "$T/r1.json" | cut -d' ' -f1)"
ctl report --state-dir "$T/chain" --license GOLDEN-LIC-1 --from 2025-01-01 --to 2025-01-31 \
	--output "$T/r3.json" 2>/dev/null
check "the next report names the SHA-256 of the file before it" \
	test "$(json "d['ledger']['previous_report_sha256']" <"$T/r3.json")" = "$(sha256sum "$T/r1.json" | cut -d' ' -f1)"
check "report verify: the two in the order issued" quiet ctl report verify --key "$T/node.pub.pem" "$T/r1.json" "$T/r3.json"
check "and not in the other order" fails ctl report verify --key "$T/node.pub.pem" "$T/r3.json" "$T/r1.json"
check "an old report then a new one: each is checked in its own form" \
	fails ctl report verify --key "$T/node.pub.pem" "$FIX/legacy-1.json" "$T/r1.json"

# Names: valid UTF-8 stays as it is; bytes that are not UTF-8 never reach a signed report raw.
mkdir -p "$T/utf8"
cp "$S/ledger.sqlite" "$S/report-key.pem" "$T/utf8/"
python3 -c '
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
iid = c.execute("SELECT MIN(id) FROM intervals WHERE start_usec >= 1735689600000000").fetchone()[0]
c.execute("INSERT INTO usage VALUES (?, CAST(? AS TEXT), 7, ?, 1007, ?, 1000000000)",
          (iid, b"/job_7/caf\xff\xfe", "7", "j\u00f6rg-\u65e5\u672c"))
c.commit()' "$T/utf8/ledger.sqlite"
for f in json csv; do
	ctl report --state-dir "$T/utf8" --license GOLDEN-LIC-1 --from 2025-01-01 --to 2025-01-31 \
		--format $f --output "$T/u.$f" 2>/dev/null
	check "$f report: valid UTF-8, the user's name verbatim, the invalid bytes as \\xNN" python3 -c '
import sys
t = open(sys.argv[1], "rb").read().decode("utf-8", errors="strict")
want = "/job_7/caf\\\\xff\\\\xfe" if sys.argv[2] == "json" else "/job_7/caf\\xff\\xfe"
sys.exit(not ("j\u00f6rg-\u65e5\u672c" in t and want in t))' "$T/u.$f" $f
	check "$f report: signed as it is" ossl "$T/node.pub.pem" "$T/u.$f" "$T/u.$f.sig"
done
check "the JSON report is valid JSON" sh -c "python3 -m json.tool '$T/u.json' >/dev/null"
tap_done
