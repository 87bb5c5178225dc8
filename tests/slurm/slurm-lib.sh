# shellcheck shell=bash
# A real single-node Slurm (munge + slurmctld + slurmd) for the tests, private to one test run:
# its own munge key and socket, config, state, spool, log and ports under $T/slurm, started
# without systemd. slurm_down stops exactly the processes slurm_up started (by pid) and removes
# the empty cgroup directories Slurm leaves behind; it installs and purges nothing.
# Source after tests/lib.sh. Recipe and layout: ../shared/research/slurm-spike.md.

SLURM_DIR=$T/slurm
SLURM_NODE=$(hostname -s)
export SLURM_CONF=$SLURM_DIR/slurm.conf
_slurm_pids=()

slurm_prereqs() {
	local b
	for b in munged munge slurmctld slurmd sbatch squeue scontrol sinfo; do
		command -v "$b" >/dev/null || PATH=$PATH:/usr/sbin command -v "$b" >/dev/null ||
			{ echo "$b"; return 1; }
	done
	# Slurm 22.05's cgroup/v2 plugin refuses hybrid hosts; its v1 plugin needs the freezer
	# hierarchy (proctrack/cgroup).
	[ -d /sys/fs/cgroup/freezer ] || { echo "a cgroup v1 freezer hierarchy"; return 1; }
}

# slurm_up [GPU_FILES]: bring it up; with GPU_FILES (a gres.conf File= pattern naming two
# existing character devices, e.g. /dev/nvidia[60-61]), the node has two GPUs.
slurm_up() {
	local gpu_files=${1:-} cpus mem port
	export PATH=$PATH:/usr/sbin
	mkdir -p "$SLURM_DIR"/{state,spool,log,munge}
	# 0755: users submit jobs through munged's socket in it; munged wants it not writable
	chmod 755 "$SLURM_DIR/munge"
	chown munge:munge "$SLURM_DIR/munge"
	dd if=/dev/urandom of="$SLURM_DIR/munge/munge.key" bs=1024 count=1 status=none
	chown munge:munge "$SLURM_DIR/munge/munge.key"
	chmod 400 "$SLURM_DIR/munge/munge.key"
	# munged refuses a socket directory it does not trust; $T is root's 0755 directory.
	setsid runuser -u munge -- munged -F --force ${SLURM_MUNGED_OPTS:-} --key-file="$SLURM_DIR/munge/munge.key" \
		--socket="$SLURM_DIR/munge/munge.socket" --pid-file="$SLURM_DIR/munge/munged.pid" \
		--log-file="$SLURM_DIR/munge/munged.log" --seed-file="$SLURM_DIR/munge/seed" \
		>"$SLURM_DIR/log/munged.out" 2>&1 </dev/null &
	_slurm_pids+=($!)
	wait_for sh -c "munge -S '$SLURM_DIR/munge/munge.socket' -n </dev/null 2>/dev/null | \
		unmunge -S '$SLURM_DIR/munge/munge.socket' >/dev/null 2>&1" ||
		{ echo "Bail out! munged did not start"; cat "$SLURM_DIR/log/munged.out"; return 1; }

	cpus=$(nproc)
	mem=$(($(awk '/MemTotal/ { print int($2 / 1024) }' /proc/meminfo) * 9 / 10))
	# Ports away from Slurm's defaults, so a site's own Slurm on this host is left alone.
	port=$((20000 + RANDOM % 20000))
	cat >"$SLURM_CONF" <<CONF
ClusterName=hpcmtest
SlurmctldHost=$SLURM_NODE
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SLURM_DIR/munge/munge.socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$SLURM_DIR/state
SlurmdSpoolDir=$SLURM_DIR/spool
SlurmctldPidFile=$SLURM_DIR/slurmctld.pid
SlurmdPidFile=$SLURM_DIR/slurmd.pid
SlurmctldLogFile=$SLURM_DIR/log/slurmctld.log
SlurmdLogFile=$SLURM_DIR/log/slurmd.log
ProctrackType=proctrack/cgroup
TaskPlugin=task/cgroup
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=100
PrologFlags=Contain
ReturnToService=2
MpiDefault=none
${SLURM_EXTRA_CONF:-}
CONF
	if [ -n "$gpu_files" ]; then
		echo "GresTypes=gpu" >>"$SLURM_CONF"
		echo "NodeName=$SLURM_NODE CPUs=$cpus RealMemory=$mem Gres=gpu:2 State=UNKNOWN" >>"$SLURM_CONF"
		printf 'AutoDetect=off\nName=gpu File=%s\n' "$gpu_files" >"$SLURM_DIR/gres.conf"
	else
		echo "NodeName=$SLURM_NODE CPUs=$cpus RealMemory=$mem State=UNKNOWN" >>"$SLURM_CONF"
	fi
	echo "PartitionName=debug Nodes=$SLURM_NODE Default=YES MaxTime=INFINITE State=UP" >>"$SLURM_CONF"
	printf 'CgroupPlugin=cgroup/v1\nCgroupAutomount=no\nConstrainCores=yes\nConstrainRAMSpace=no\nConstrainDevices=%s\n' \
		"$([ -n "$gpu_files" ] && echo yes || echo no)" >"$SLURM_DIR/cgroup.conf"

	setsid slurmctld -D -i -f "$SLURM_CONF" >"$SLURM_DIR/log/slurmctld.out" 2>&1 </dev/null &
	_slurm_pids+=($!)
	wait_for sh -c 'scontrol ping 2>/dev/null | grep -q UP' ||
		{ echo "Bail out! slurmctld did not start"; tail -20 "$SLURM_DIR/log/slurmctld.log"; return 1; }
	setsid slurmd -D -N "$SLURM_NODE" -f "$SLURM_CONF" >"$SLURM_DIR/log/slurmd.out" 2>&1 </dev/null &
	_slurm_pids+=($!)
	wait_for sh -c 'sinfo -h -o %T 2>/dev/null | grep -qx idle' ||
		{ echo "Bail out! slurmd did not register"; tail -20 "$SLURM_DIR/log/slurmd.log"; return 1; }
	on_cleanup slurm_down
}

slurm_down() {
	local p
	squeue -h -o %i 2>/dev/null | xargs -r scancel 2>/dev/null
	wait_for sh -c '[ -z "$(squeue -h 2>/dev/null)" ]'
	for p in "${_slurm_pids[@]}"; do
		# munged runs as the child of runuser: stop the whole session started by setsid.
		kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null
	done
	for p in "${_slurm_pids[@]}"; do wait "$p" 2>/dev/null; done
	_slurm_pids=()
	for p in /sys/fs/cgroup/*/slurm_"$SLURM_NODE"; do
		[ -d "$p" ] && find "$p" -depth -type d -exec rmdir {} \; 2>/dev/null
	done
	return 0
}

# job_state JOBID: PENDING, RUNNING, ... ("" once it left the queue)
job_state() { squeue -h -j "$1" -o %T 2>/dev/null; }
job_gone() { [ -z "$(job_state "$1")" ]; }
job_running() { [ "$(job_state "$1")" = RUNNING ]; }
