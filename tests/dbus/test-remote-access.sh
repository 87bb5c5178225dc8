#!/bin/bash
# Remote access against a real sshd (Debian's openssh-server) in a network namespace of the
# test's own, with a key-based root login through its PAM stack (pam_loginuid gives each login
# an audit session). The licence allows remote access for */openfoam-* only, from 127.0.0.0/8
# and 198.51.100.0/24. Over ssh: an allowed program is no violation; another program is
# remote-access, with the remote host recorded; the same program run locally is none; an
# allowed program from 203.0.113.5, outside the listed networks, is remote-access; a prohibited
# program run over ssh carries the remote host in its own violation; a session that started
# before the daemon is found from its sshd connection; a job announced with a submit host name
# that does not resolve is never allowed. Sessions are in the ledger, chained, with their start
# and end; `license explain` reports the term as evaluated.
. "$(dirname "$0")/../lib.sh"
echo "TAP version 13"

[ "$(id -u)" = 0 ] || skip_all "needs root (BPF, network namespaces, sshd)"
for b in /usr/sbin/sshd ssh ssh-keygen ip; do
	command -v "$b" >/dev/null || skip_all "needs $b (scripts/install-deps.sh: openssh-server, iproute2)"
done
[ -e /proc/self/loginuid ] || skip_all "the kernel keeps no audit sessions (CONFIG_AUDIT)"
grep -q pam_loginuid /etc/pam.d/sshd 2>/dev/null || skip_all "sshd's PAM stack has no pam_loginuid"

start_bus
NS=hpcm-ssh-$$
ip netns add "$NS" || skip_all "cannot create a network namespace"
on_cleanup "ip netns del $NS"
ip netns exec "$NS" ip link set lo up
# The server's address, and a client address outside the licence's networks.
ip netns exec "$NS" ip addr add 198.51.100.7/32 dev lo
ip netns exec "$NS" ip addr add 203.0.113.5/32 dev lo

# sshd: host key, root's key, a config of the test's own; PAM as Debian ships it.
mkdir -p "$T/ssh" /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$T/ssh/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$T/ssh/id"
cp "$T/ssh/id.pub" "$T/ssh/authorized_keys"
cat >"$T/ssh/sshd_config" <<EOF
Port 22
ListenAddress 0.0.0.0
HostKey $T/ssh/host_key
AuthorizedKeysFile $T/ssh/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM yes
StrictModes no
PidFile none
LogLevel VERBOSE
EOF
ip netns exec "$NS" /usr/sbin/sshd -D -f "$T/ssh/sshd_config" -E "$T/ssh/sshd.log" &
_pids+=($!)
listening() { ip netns exec "$NS" bash -c 'exec 3<>/dev/tcp/198.51.100.7/22' 2>/dev/null; }
wait_for listening || { echo "Bail out! sshd did not start"; cat "$T/ssh/sshd.log"; exit 1; }

# ssh_from ADDRESS COMMAND: as root, from ADDRESS of the namespace to its sshd.
SSH=(ssh -i "$T/ssh/id" -o BatchMode=yes -o StrictHostKeyChecking=no
	-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR)
ssh_from() {
	local from=$1 to=198.51.100.7
	shift
	[ "$from" = 127.0.0.1 ] && to=127.0.0.1
	ip netns exec "$NS" "${SSH[@]}" -b "$from" "root@$to" "$@"
}

mkdir -p "$T/bin" "$T/licenses"
cp /bin/true "$T/bin/openfoam-solver"
cp /bin/true "$T/bin/postproc"
cp /bin/true "$T/bin/facerec"
cp /bin/sleep "$T/bin/simulate"
cat >"$T/licenses/remote.yaml" <<'LIC'
license:
  id: REMOTE-TEST-1
  regime: internal
  valid: { from: 2026-01-01, until: 2030-12-31 }
  principals:
    remote_access:
      allowed: true
      computational_access: limited
      applications: ["*/openfoam-*"]
      from:
        - { country: NO, networks: [127.0.0.0/8, 198.51.100.0/24] }
  end_use:
    prohibited_executables: ["*/facerec*"]
LIC

# 1. A session that starts before the daemon, running a program that is not an allowed one.
ip netns exec "$NS" "${SSH[@]}" -b 127.0.0.1 root@127.0.0.1 "$T/bin/simulate 120" &
early=$!
_pids+=("$early")
simulate_pid() { pgrep -f "^$T/bin/simulate 120" | head -1; }
simulating() { [ -n "$(simulate_pid)" ]; }
wait_for simulating
sim=$(simulate_pid)
check "the ssh session's process has its loginuid set by pam_loginuid ($(cat /proc/"$sim"/loginuid))" \
	test "$(cat /proc/"$sim"/loginuid 2>/dev/null)" = 0
check "... in an audit session of its own ($(cat /proc/"$sim"/sessionid))" \
	test "$(cat /proc/"$sim"/sessionid)" != "$(cat /proc/self/sessionid)"

start_daemon --licenses "$T/licenses" --interval 1
violations() { "$HPCMETERCTL" violations --json; }
# violation_of EXE: the kinds of violations of REMOTE-TEST-1 for executable EXE, with details
violation_of() {
	violations | json "[(v['kind'], v['detail']) for v in d if v['executable'] == '$KPREFIX$1' and v['license_id'] == 'REMOTE-TEST-1']"
}
has_violation() { violation_of "$1" | grep -q "$2"; }
wait_for has_violation "$T/bin/simulate" remote-access
out=$(violation_of "$T/bin/simulate")
diag "$out"
check "a session that started before the daemon: found from its sshd connection" \
	grep -q "limited to the listed applications.*from 127.0.0.1, sshd session" <<<"$out"

# 2. A local run of a program that is not an allowed one: no violation. (Waited for as the
# daemon's count of it in the ledger.)
"$T/bin/postproc"
counted() {
	[ -n "$(ledger_sql "$T/state/ledger.sqlite" "SELECT 1 FROM process_counts WHERE executable = '$KPREFIX$T/bin/postproc'")" ]
}
wait_for counted
check "the daemon counted the local run of postproc" counted
check "... and raised no violation for it" test "$(violation_of "$T/bin/postproc")" = "[]"

# 3. Over ssh from 127.0.0.1: the allowed program, then the other one.
out=$(ssh_from 127.0.0.1 "$T/bin/openfoam-solver && cat /proc/self/loginuid")
check "over ssh: the allowed program ran, in a session with loginuid $out" test "$out" = 0
ssh_from 127.0.0.1 "$T/bin/postproc"
wait_for has_violation "$T/bin/postproc" remote-access
out=$(violation_of "$T/bin/postproc")
diag "$out"
check "over ssh: postproc is remote-access, the remote host recorded" \
	grep -q "remote-access.*postproc is not one (user root from 127.0.0.1, sshd session" <<<"$out"
check "... the allowed program from an allowed network is no violation" \
	test "$(violation_of "$T/bin/openfoam-solver")" = "[]"

# 4. The allowed program from 203.0.113.5, outside the licence's networks.
ssh_from 203.0.113.5 "$T/bin/openfoam-solver"
wait_for has_violation "$T/bin/openfoam-solver" remote-access
out=$(violation_of "$T/bin/openfoam-solver")
diag "$out"
check "from 203.0.113.5: remote-access, not from a network the licence lists" \
	grep -q "remote access from 203.0.113.5 is not from a network the licence lists" <<<"$out"

# 5. A prohibited program over ssh: its own violation carries the remote host.
ssh_from 127.0.0.1 "$T/bin/facerec"
wait_for has_violation "$T/bin/facerec" prohibited-executable
out=$(violation_of "$T/bin/facerec")
diag "$out"
check "a prohibited program run over ssh: its violation names the remote host" \
	grep -q "prohibited-executable.*(remote: from 127.0.0.1, sshd session" <<<"$out"

# 6. A job announced with a submit host name that does not resolve (an invalid name): remote
# access from it is never allowed. Its process runs in a cgroup named as Slurm names a job's.
JOB=$((770000 + $$ % 10000))
CG=$(cgroup2_mount)/hpcm-remote-$$/job_$JOB
mkdir -p "$CG" || { echo "Bail out! cannot create a cgroup"; exit 1; }
on_cleanup "rmdir '$CG' '$(dirname "$CG")'"
"$HPCMETERCTL" job start "$JOB" --set user=root --set uid=0 --set submit_host=login-ext.invalid
job_address() {
	ledger_sql "$T/state/ledger.sqlite" "SELECT address_state FROM sessions WHERE session =
		'job:$JOB' ORDER BY id DESC LIMIT 1"
}
resolved() { [ -n "$(job_address)" ] && [ "$(job_address)" != pending ]; }
wait_for resolved
check "the job's submit host login-ext.invalid is recorded as $(job_address)" \
	test "$(job_address)" = unresolved
sh -c 'echo $$ >"$1/cgroup.procs" && exec "$2"' sh "$CG" "$T/bin/openfoam-solver"
job_violation() {
	"$HPCMETERCTL" violations --json |
		json "[v['detail'] for v in d if v['job'] == '$JOB' and v['kind'] == 'remote-access']"
}
has_job_violation() { job_violation | grep -q unresolved; }
wait_for has_job_violation
diag "$(job_violation)"
check "the allowed program in that job is remote-access: an unresolved host is never allowed" \
	grep -q "remote host login-ext.invalid did not resolve: unresolved, not from a network the licence lists (user root from login-ext.invalid (unresolved), job $JOB)" <<<"$(job_violation)"
"$HPCMETERCTL" job end "$JOB"

# 7. The sessions in the ledger: user, remote host and address, service, source, start, end.
sessions() {
	ledger_sql "$T/state/ledger.sqlite" "SELECT user, remote_host, remote_address, service, source,
		start_usec > 0, MAX(end_usec) > 0 FROM sessions GROUP BY COALESCE(run_id, id) ORDER BY id"
}
ended_from() { [ "$(sessions | grep -c "^root|$1|$1|sshd|socket|1|1$")" -gt 0 ]; }
wait_for ended_from 203.0.113.5
diag "$(sessions)"
check "the session from 203.0.113.5 is in the ledger, ended" ended_from 203.0.113.5
check "the sessions from 127.0.0.1 too ($(sessions | grep -c '|127.0.0.1|') of them)" \
	test "$(sessions | grep -c '^root|127.0.0.1|127.0.0.1|sshd|socket|1|')" -ge 4
check "the early session is open while it lasts" \
	test "$(sessions | grep -c '^root|127.0.0.1|127.0.0.1|sshd|socket|1|0$')" = 1
# The client and the program it started (a session without a terminal outlives its client).
kill "$early" "$sim" 2>/dev/null
wait "$early" 2>/dev/null
all_ended() { [ "$(sessions | grep -c '|0$')" = 0 ]; }
wait_for all_ended
check "... and ended when its connection closed" all_ended
job_ended() { [ -n "$(ledger_sql "$T/state/ledger.sqlite" "SELECT 1 FROM sessions WHERE session = 'job:$JOB' AND end_usec > 0")" ]; }
check "the job's session ended with the job" job_ended
check "the sessions are chained" test "$(ledger_sql "$T/state/ledger.sqlite" \
	"SELECT COUNT(*) FROM sessions s WHERE NOT EXISTS (SELECT 1 FROM chain c WHERE c.tbl = 'sessions' AND c.row = s.id)")" = 0

"$HPCMETERCTL" license explain REMOTE-TEST-1 >"$T/explain.txt" 2>&1
diag "$(grep -i remote "$T/explain.txt")"
check "license explain: the remote access term is evaluated" \
	grep -q "remote access limited to 1 listed application(s), from networks in NO: checked" "$T/explain.txt"
stop_daemon
check_ledger_sound "$T/state"
tap_done
