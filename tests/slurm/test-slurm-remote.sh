#!/bin/bash
# Remote access through Slurm: a job submitted from another host. munged here encodes its
# credentials with the origin 192.0.2.55 (munged --origin), so Slurm's controller records that
# as the job's AllocNode, as it would for a submission from a login node at that address; the
# shipped prolog announces it as the job's submit host. The licence allows remote access only
# from 10.0.0.0/8: the job's processes are remote-access, with the submit host recorded, and
# the job is a session in the ledger from its start to its end.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/slurm-lib.sh"
echo "TAP version 13"

[ "$(id -u)" = 0 ] || skip_all "needs root (BPF, Slurm daemons)"
missing=$(slurm_prereqs) || skip_all "Slurm test needs $missing (scripts/install-deps.sh)"

start_bus
mkdir -p "$T/licenses"
cat >"$T/licenses/remote.yaml" <<'LIC'
license:
  id: SLURM-REMOTE-1
  regime: internal
  valid: { from: 2026-01-01, until: 2030-12-31 }
  principals:
    remote_access:
      allowed: true
      computational_access: full
      from:
        - { country: NO, networks: [10.0.0.0/8] }
LIC
start_daemon --licenses "$T/licenses" --interval 1 --cgroup-v1 freezer

for s in prolog epilog; do
	sed "s|@BINDIR@|$BUILD|" "$TOP/slurm/$s.in" >"$T/$s"
	printf '#!/bin/sh\nexport DBUS_SYSTEM_BUS_ADDRESS=%s\nexec %s\n' \
		"$DBUS_SYSTEM_BUS_ADDRESS" "$T/$s" >"$T/$s-wrapper"
	chmod 755 "$T/$s" "$T/$s-wrapper"
done
SLURM_EXTRA_CONF="Prolog=$T/prolog-wrapper
Epilog=$T/epilog-wrapper"
SLURM_MUNGED_OPTS="--origin=192.0.2.55"
slurm_up || exit 1
mkdir -p "$T/bin"
# The job's program is a shell named solver that waits, without a child, on a FIFO the test
# writes once it has seen the violation.
cp /bin/dash "$T/bin/solver"
chmod 755 "$T/bin" "$T/bin/solver"
mkfifo -m 600 "$T/go"
release() { timeout 60 sh -c "echo go >'$T/go'"; }
on_cleanup "timeout 5 sh -c \"echo go >'$T/go'\" || :"

job=$(cd /tmp && sbatch --parsable -o /dev/null --wrap "$T/bin/solver -c 'read x <$T/go'")
check "sbatch gives a job id ($job)" test -n "$job"
check "Slurm records the submission from 192.0.2.55" \
	grep -q "AllocNode:Sid=192.0.2.55:" <<<"$(scontrol show job -o "$job")"
violation_of() {
	"$HPCMETERCTL" violations --json |
		json "[(v['kind'], v['executable'], v['detail']) for v in d if v['job'] == '$job' and v['license_id'] == 'SLURM-REMOTE-1']"
}
has_violation() { violation_of | grep -q "$KPREFIX$T/bin/solver"; }
wait_for has_violation
out=$(violation_of)
diag "$out"
check "the job's program is remote-access: from 192.0.2.55, not a network the licence lists" \
	grep -q "'remote-access', '$KPREFIX$T/bin/solver', 'remote access from 192.0.2.55 is not from a network the licence lists (user root from 192.0.2.55, job $job)'" <<<"$out"

job_session() {
	ledger_sql "$T/state/ledger.sqlite" "SELECT user, remote_host, remote_address, service,
		source, MAX(end_usec) > 0 FROM sessions WHERE session = 'job:$job'
		GROUP BY COALESCE(run_id, id)"
}
release
wait_for job_gone "$job"
ended() { [ "$(job_session)" = "root|192.0.2.55|192.0.2.55|slurm|slurm|1" ]; }
wait_for ended
diag "$(job_session)"
check "the job is a session in the ledger: submitted from 192.0.2.55, ended with the job" ended
tap_done
