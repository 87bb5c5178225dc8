#!/bin/bash
# Evasion, part 3: moving between cgroups inside one interval. The daemon reads every process's
# CPU time once per interval; a process that moved since the last reading used to be charged
# wholly to the cgroup it moved to, so a process could run in a job's cgroup and leave it just
# before the reading. The meter sees each move (cgroup_attach_task) with the process's CPU time
# at that moment, and the time before the move stays where it ran. The daemon runs with a
# one-hour interval: all of it happens inside the one interval that its stop closes.
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root (BPF, cgroups)"
command -v dbus-daemon >/dev/null || skip_all "no dbus-daemon"
CGMNT=$(cgroup2_mount)
[ -n "$CGMNT" ] || skip_all "no cgroup2 mount"
echo "TAP version 13"

mkdir -p "$T/licenses" "$T/run"
cp "$BUILD/tests/burn" "$T/burn" || { echo "Bail out! build $BUILD/tests/burn first (make check)"; exit 1; }
TOPCG=$CGMNT/hpcm-adv-move-$$
mkdir -p "$TOPCG/a" "$TOPCG/b" "$TOPCG/c" "$TOPCG/d"
on_cleanup "find '$TOPCG' -depth -type d -exec rmdir {} + 2>/dev/null"
LEDGER=$T/state/ledger.sqlite
q() { ledger_sql "$LEDGER" "$1"; }
cpu() { q "SELECT COALESCE(SUM(cpu_ns), 0) FROM usage WHERE cgroup LIKE '%/hpcm-adv-move-$$/$1'"; }
# A process's on-CPU time so far (the scheduler's, in ns): the first field of schedstat.
runtime() { cut -d' ' -f1 "/proc/$1/schedstat"; }

start_bus
start_daemon --licenses "$T/licenses" --interval 3600

# 1. Root moves a running process out of its cgroup (a compromised prolog, an administrator):
# burn runs 0.6 s in a, parks there until the test has moved it to b, and runs 0.6 s more.
sh -c "echo \$\$ >'$TOPCG/a/cgroup.procs' && exec '$T/burn' --park '$T/run/parked' '$T/run/go' 600 600" &
BURN=$!
_pids+=("$BURN")
wait_file "$T/run/parked"
echo "$BURN" >"$TOPCG/b/cgroup.procs"
in_a=$(runtime "$BURN")
check "root moved the running burn from a to b after $in_a ns of its CPU" \
	grep -q "hpcm-adv-move-$$/b" "/proc/$BURN/cgroup"
touch "$T/run/go"
wait "$BURN"
check "burn ran to its end in b" test $? = 0

# 2. A process that moves itself, after an exec, with no reading in between: a shell started
# in c spins, writes its time so far, moves to d and spins again.
sh -c "echo \$\$ >'$TOPCG/c/cgroup.procs' && exec sh -c '
	i=0; while [ \$i -lt 300000 ]; do i=\$((i + 1)); done
	cut -d\" \" -f1 /proc/\$\$/schedstat >\"$T/run/in_c\"
	echo \$\$ >\"$TOPCG/d/cgroup.procs\"
	i=0; while [ \$i -lt 300000 ]; do i=\$((i + 1)); done
	cut -d\" \" -f1 /proc/\$\$/schedstat >\"$T/run/total\"'"
check "the shell moved itself from c to d and ended" test $? = 0
in_c=$(cat "$T/run/in_c")
total=$(cat "$T/run/total")
diag "the shell: $in_c ns in c, $total ns in all"

# Stop: the interval in flight is the one that holds all of the above.
stop_daemon
check "hpcmeterd stopped cleanly, closing the interval" test $? = 0
intervals=$(q "SELECT COUNT(*) FROM intervals")
diag "intervals in the ledger: $intervals; usage: $(q "SELECT group_concat(cgroup || '=' || cpu_ns, ' ') FROM usage WHERE cgroup LIKE '%hpcm-adv-move-$$%'")"
a=$(cpu a) b=$(cpu b) c=$(cpu c) d=$(cpu d)
check "a holds burn's time before the move ($a ns for $in_a, within 5 %)" within "$a" "$in_a" 5
check "b holds its time after the move ($b ns of 1.2 s in all)" \
	within "$((a + b))" 1200000000 5
check "c holds the shell's time before it moved itself ($c ns for $in_c, within 10 %)" \
	within "$c" "$in_c" 10
check "d holds the rest ($d ns for $((total - in_c)), within 10 %)" \
	within "$d" "$((total - in_c))" 10
tap_done
