#!/bin/bash
# Bad input: a licence with a typo'd key, one with a bad date and one with a YAML syntax error
# are each refused with file:line:column and the field; the daemon keeps running with the good
# licence, reports the bad files through status, and still raises violations for the good one.
# A bad configuration file stops the daemon with the file, line and key.
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root (BPF)"
command -v dbus-daemon >/dev/null || skip_all "no dbus-daemon"
echo "TAP version 13"

L=$T/licenses
mkdir -p "$L"
cat >"$L/good.yaml" <<'EOY'
license:
  id: GOOD-1
  valid: { from: 2020-01-01, until: 2099-12-31 }
  principals:
    users: [root]
EOY
# Well-formed but out of its validity: loaded, not active, and the node's use is a violation.
cat >"$L/expired.yaml" <<'EOY'
license:
  id: EXPIRED-1
  valid: { from: 2020-01-01, until: 2020-12-31 }
EOY
# Line 5, column 5: "userz".
cat >"$L/typo.yaml" <<'EOY'
license:
  id: TYPO-1
  valid: { from: 2020-01-01, until: 2099-12-31 }
  principals:
    userz: [root]
EOY
# Line 3, column 37: the value of until, a day that does not exist.
cat >"$L/baddate.yaml" <<'EOY'
license:
  id: BADDATE-1
  valid: { from: 2026-01-01, until: 2027-02-30 }
EOY
# The flow sequence opened on line 4 is never closed.
cat >"$L/syntax.yaml" <<'EOY'
license:
  id: SYNTAX-1
  principals:
    users: [root, alice
  valid: { from: 2020-01-01, until: 2099-12-31 }
EOY

# 1. Offline: hpcmeterctl license check names file, line, column and field.
lc() { "$HPCMETERCTL" license check "$L/$1" 2>&1; }
out=$(lc typo.yaml); rc=$?
diag "$out"
check "license check: typo'd key refused (exit 1)" test "$rc" = 1
check "license check: typo'd key at typo.yaml:5:5 license.principals.userz" \
	grep -q "typo.yaml:5:5: error: license.principals.userz: unknown key \"userz\"" <<<"$out"
out=$(lc baddate.yaml); rc=$?
diag "$out"
check "license check: bad date refused (exit 1)" test "$rc" = 1
check "license check: bad date at baddate.yaml:3:37 license.valid.until" \
	grep -q "baddate.yaml:3:37: error: license.valid.until: invalid date \"2027-02-30\"" <<<"$out"
out=$(lc syntax.yaml); rc=$?
diag "$out"
check "license check: YAML syntax error refused (exit 1)" test "$rc" = 1
check "license check: syntax error names syntax.yaml with a line and column" \
	grep -Eq "syntax.yaml:[45]:[0-9]+: " <<<"$out"
check "license check: the good licence passes" sh -c "'$HPCMETERCTL' license check '$L/good.yaml' >/dev/null"

# 2. The daemon loads the good licence, rejects the rest, and keeps running.
start_bus
start_daemon --licenses "$L" --interval 1
check "hpcmeterd is running with bad licence files present" kill -0 "$DAEMON_PID"
"$HPCMETERCTL" status --json >"$T/status.json"
check "status: 3 licence errors, 1 licence active" \
	test "$(json "(d['license_errors'], d['licenses_active'])" <"$T/status.json")" = "(3, 1)"
"$HPCMETERCTL" licenses --json >"$T/licenses.json"
diag "$(cat "$T/licenses.json")"
state_of() { json "[l['state'] for l in d if l['file'].endswith('/$1')][0]" <"$T/licenses.json"; }
error_of() { json "[l['error'] for l in d if l['file'].endswith('/$1')][0]" <"$T/licenses.json"; }
check "licenses: good.yaml is active as GOOD-1" test "$(state_of good.yaml)" = active
check "licenses: expired.yaml is loaded as expired" test "$(state_of expired.yaml)" = expired
"$HPCMETERCTL" violations --json >"$T/v0.json"
check "the expired licence is a license-not-valid violation of the node (no pid, no uid)" \
	test "$(json "[(v['license_id'], v['pid'], v['uid']) for v in d if v['kind']=='license-not-valid']" <"$T/v0.json")" = \
	"[('EXPIRED-1', None, None)]"
"$HPCMETERCTL" violations >"$T/v0.txt"
check "violations (table) shows - for the missing pid and uid" \
	grep -Eq "license-not-valid +EXPIRED-1 +- +- +-" "$T/v0.txt"
diag "$(cat "$T/v0.txt")"
for f in typo.yaml baddate.yaml syntax.yaml; do
	check "licenses: $f is invalid" test "$(state_of $f)" = invalid
done
check "licenses: typo.yaml error has line:column and field" grep -q "typo.yaml:5:5: license.principals.userz" <<<"$(error_of typo.yaml)"
check "licenses: baddate.yaml error has line:column and field" grep -q "baddate.yaml:3:37: license.valid.until" <<<"$(error_of baddate.yaml)"
check "licenses: syntax.yaml error has line:column" grep -Eq "syntax.yaml:[45]:[0-9]+:" <<<"$(error_of syntax.yaml)"
"$HPCMETERCTL" status >"$T/status.txt"
check "status (text) shows the rejected files and their errors" \
	grep -q "typo.yaml:5:5: license.principals.userz" "$T/status.txt"
check "the daemon logged each rejected file" \
	test "$(grep -c 'licence file rejected' "$T/hpcmeterd.log")" = 3

# 3. The good licence is enforced all the same.
setpriv --reuid=nobody --regid=nogroup --clear-groups /bin/true
got_good() { "$HPCMETERCTL" violations --json | json "[v['license_id'] for v in d if v['uid']==65534]" | grep -q "GOOD-1"; }
check "a violation is raised for the good licence" wait_for got_good

# 4. Fixing a file and reloading takes it in.
sed -i 's/userz:/users:/' "$L/typo.yaml"
check "reload succeeds" "$HPCMETERCTL" reload
check "after reload: 2 licence errors, 2 active" \
	test "$("$HPCMETERCTL" status --json | json "(d['license_errors'], d['licenses_active'])")" = "(2, 2)"
setpriv --reuid=nobody --regid=nogroup --clear-groups /bin/true
got_typo() { "$HPCMETERCTL" violations --json | json "[v['license_id'] for v in d if v['uid']==65534]" | grep -q "TYPO-1"; }
check "the reloaded licence is enforced (a violation for TYPO-1)" wait_for got_typo
check "the daemon is still running" kill -0 "$DAEMON_PID"
check "hpcmeterd exits 0 on SIGTERM" stop_daemon

# 5. A bad configuration stops the daemon at start with file, line and key.
printf 'interval = 5\nintervall = 7\n' >"$T/bad.conf"
out=$("$HPCMETERD" --config "$T/bad.conf" --licenses "$L" --state-dir "$T/state2" 2>&1); rc=$?
diag "$out"
check "a config with an unknown key: exit 1 naming bad.conf:2 intervall" \
	test "$rc" = 1 -a -n "$(grep "bad.conf:2: intervall: unknown key" <<<"$out")"
printf 'interval = 0\n' >"$T/bad2.conf"
out=$("$HPCMETERD" --config "$T/bad2.conf" --licenses "$L" --state-dir "$T/state2" 2>&1); rc=$?
check "a config with interval = 0: exit 1 naming bad2.conf:1 interval" \
	test "$rc" = 1 -a -n "$(grep "bad2.conf:1: interval: invalid value" <<<"$out")"
out=$("$HPCMETERD" --licenses "$T/nonexistent" --state-dir "$T/state2" 2>&1); rc=$?
check "a missing licence directory: exit 1 naming it" \
	test "$rc" = 1 -a -n "$(grep "$T/nonexistent" <<<"$out")"
out=$("$HPCMETERD" --interval 0 2>&1); rc=$?
check "--interval 0 is a usage error (exit 2)" test "$rc" = 2

tap_done
