#!/bin/bash
# The corpus of bad licences: `hpcmeterctl license check FILE` must refuse each one (exit 1)
# with exactly the error line in FILE's .expect (@FILE@ stands for the path), on stderr, and
# nothing else. The examples and a licence that refers to a revoked threshold pass (exit 0),
# the latter with its warning.
. "$(dirname "$0")/../lib.sh"
echo "TAP version 13"

cd "$TOP" || exit 1
# Relative, as in the .expect files.
export HPCMETER_THRESHOLDS=data/thresholds.yaml
n=0
for f in tests/licenses/bad/*.yaml; do
	n=$((n + 1))
	want=$(sed "s|@FILE@|$f|" "${f%.yaml}.expect")
	got=$("$HPCMETERCTL" license check "$f" 2>&1 >/dev/null)
	rc=$?
	if [ "$rc" = 1 ] && [ "$got" = "$want" ]; then
		ok "$f: $want"
	else
		not_ok "$f (exit $rc)"
		diag "want: $want"
		diag "got:  $got"
	fi
done
check "the corpus has at least 40 bad licences ($n)" test "$n" -ge 40

out=$("$HPCMETERCTL" license check tests/licenses/bad/cap-zero-limit.yaml examples/licenses/*.yaml 2>&1)
rc=$?
check "several files: one bad among good ones still exits 1" test "$rc" = 1
check "and the good ones are reported ok" test "$(grep -c ': ok (id ' <<<"$out")" = 3
check "the shipped examples pass" "$HPCMETERCTL" license check examples/licenses/*.yaml

cat >"$T/revoked.yaml" <<'EOY'
license:
  id: REVOKED-REF
  valid: { from: 2026-01-01, until: 2026-12-31 }
  caps:
    - { metric: ops_upper, scope: job, period: run, limit_ref: us-eo14110-model }
EOY
err=$("$HPCMETERCTL" license check "$T/revoked.yaml" 2>&1 >/dev/null)
rc=$?
check "a cap on a revoked threshold passes (exit 0)" test "$rc" = 0
check "... with a warning naming the place" grep -q "^$T/revoked.yaml:5:64: warning: license.caps\[0\].limit_ref: threshold \"us-eo14110-model\" is revoked" <<<"$err"
check "license check --json lists the warning" \
	test "$("$HPCMETERCTL" license check --json "$T/revoked.yaml" 2>/dev/null | json "len(d[0]['warnings'])")" = 1
HPCMETER_THRESHOLDS=$T/missing.yaml "$HPCMETERCTL" license check "$T/revoked.yaml" 2>"$T/err" >/dev/null
rc=$?
check "without the registry a reference is an error (exit 1)" test "$rc" = 1
check "... that says the registry cannot be read" grep -q "cannot read the threshold registry" "$T/err"
tap_done
