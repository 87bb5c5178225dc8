#!/bin/bash
# The licence directory changes under a reload.
# 1. Replaced atomically, again and again, while reloads run: the directory is a symlink that a
#    loop points at one of two versions with rename(2) (ln -s + mv -T, as a deployment tool
#    does); each version holds 40 licences with the same ids and files, told apart by their
#    validity. After each of 30 reloads the daemon has one version whole, never a mixture
#    (each reload reads the files through the directory it opened, not by path again).
# 2. Rewritten in place, not atomically: a file half-written (cut in the middle of a value),
#    one being written while the reload reads it, a file deleted: a broken file gives its
#    error with file:line and the licence loaded before stays in force; a deleted file's
#    licence is unloaded (recorded as such). The daemon keeps running throughout.
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root (BPF)"
command -v dbus-daemon >/dev/null || skip_all "no dbus-daemon"
echo "TAP version 13"

N=40
mkdir -p "$T/v1" "$T/v2"
for i in $(seq -w 1 $N); do
	for v in 1 2; do
		cat >"$T/v$v/lic-$i.yaml" <<EOY
license:
  id: SWAP-$i
  valid: { from: 2020-01-01, until: 209$((7 + v))-12-31 }
  principals: { users: [root] }
EOY
	done
done
ln -s v1 "$T/licenses"
# licenses_json: "count distinct-validities invalid" of what the daemon has loaded.
loaded() {
	"$HPCMETERCTL" licenses --json | json \
		"'%d %d %d' % (len(d), len(set(l['valid_until_usec'] for l in d if l['id'])), sum(1 for l in d if not l['id']))"
}
q() { ledger_sql "$T/state/ledger.sqlite" "$1"; }

start_bus
start_daemon --licenses "$T/licenses" --interval 5
check "the $N licences of version 1 are loaded" test "$(loaded)" = "$N 1 0"

# 1. Atomic replacement, racing with the reloads.
(
	v=1
	while :; do
		v=$((3 - v))
		ln -s "v$v" "$T/licenses.new" && mv -T "$T/licenses.new" "$T/licenses"
	done
) &
SWAPPER=$!
_pids+=("$SWAPPER")
mixed=0
for _ in $(seq 30); do
	"$HPCMETERCTL" reload || mixed=$((mixed + 1000))
	got=$(loaded)
	[ "$got" = "$N 1 0" ] || { mixed=$((mixed + 1)); diag "after a reload: $got (files, validities, invalid)"; }
done
kill "$SWAPPER"
wait "$SWAPPER" 2>/dev/null
check "30 reloads during atomic swaps: each time one version whole, never a mixture" test "$mixed" = 0
check "the daemon is running" kill -0 "$DAEMON_PID"

# 2. In place. A known state first: version 1, reloaded.
rm -f "$T/licenses" "$T/licenses.new"
cp -r "$T/v1" "$T/licenses"
"$HPCMETERCTL" reload
check "back to version 1, a plain directory" test "$(loaded)" = "$N 1 0"

# A half-written file: cut inside the validity's value.
events01() { q "SELECT COUNT(*) FROM licenses WHERE file LIKE '%/licenses/lic-01.yaml'"; }
e0=$(events01)
head -c 60 "$T/v2/lic-01.yaml" >"$T/licenses/lic-01.yaml"
"$HPCMETERCTL" reload
check "the ledger records no change of the licence in force (no unloaded/loaded pair)" \
	test "$(events01)" = "$e0"
"$HPCMETERCTL" licenses --json >"$T/l.json"
line=$(json "[l for l in d if l['file'].endswith('/lic-01.yaml')][0]" <"$T/l.json")
diag "$line"
check "a half-written file is an error naming file and line" \
	grep -Eq "lic-01.yaml:[0-9]+(:[0-9]+)?: " <<<"$line"
check "and the licence loaded before stays in force, unchanged" \
	test "$(json "[(l['id'], l['valid_until_usec']) for l in d if l['file'].endswith('/lic-01.yaml')][0]" <"$T/l.json")" = \
	"('SWAP-01', $(date -ud 2098-12-31T23:59:59 +%s)000000)"
check "the daemon says a licence file has an error (status: license_errors)" \
	test "$("$HPCMETERCTL" status --json | json "d['license_errors']")" = 1
# The rest of the file arrives: the new version is loaded.
cp "$T/v2/lic-01.yaml" "$T/licenses/lic-01.yaml"
"$HPCMETERCTL" reload
check "once the file is whole, the new version is loaded" \
	test "$("$HPCMETERCTL" licenses --json | json "[l['valid_until_usec'] for l in d if l['id'] == 'SWAP-01'][0]")" = \
	"$(date -ud 2099-12-31T23:59:59 +%s)000000"

# A file being written while reloads read it: a writer that rewrites it in place, in two
# halves, over and over. Each reload sees a whole version, or a broken file and keeps the
# previous licence: the id is never lost and no reload crashes the daemon.
(
	while :; do
		for v in 1 2; do
			{ head -c 60 "$T/v$v/lic-02.yaml"; tail -c +61 "$T/v$v/lic-02.yaml"; } >"$T/licenses/lic-02.yaml"
		done
	done
) &
WRITER=$!
_pids+=("$WRITER")
lost=0
for _ in $(seq 30); do
	"$HPCMETERCTL" reload
	"$HPCMETERCTL" licenses --json | json "[l['id'] for l in d if l['file'].endswith('/lic-02.yaml')][0]" |
		grep -qx SWAP-02 || lost=$((lost + 1))
done
kill "$WRITER"
wait "$WRITER" 2>/dev/null
check "30 reloads while a file is rewritten in place: its licence is never lost" test "$lost" = 0
check "the daemon is running" kill -0 "$DAEMON_PID"

# A file deleted: its licence is unloaded, and the ledger says so.
rm "$T/licenses/lic-03.yaml"
"$HPCMETERCTL" reload
check "a deleted file's licence is unloaded" \
	test "$("$HPCMETERCTL" licenses --json | json "len([l for l in d if l['id'] == 'SWAP-03'])")" = 0
stop_daemon
check "the unloading is a licence event in the ledger" \
	test "$(q "SELECT COUNT(*) FROM licenses WHERE license_id = 'SWAP-03' AND event = 'unloaded'")" -ge 1
"$HPCMETERCTL" ledger verify --state-dir "$T/state" >"$T/verify.out"
rc=$?
diag "$(cat "$T/verify.out")"
check "the chain verifies" test "$rc" = 0
tap_done
