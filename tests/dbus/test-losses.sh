#!/bin/bash
# Losses are counted, reported and bounded: with the daemon stopped (SIGSTOP) an exec storm
# fills the ring buffer; the records that do not fit are counted, the daemon warns when it
# runs again, and a process whose exec and exit records were both lost is still found through
# the kernel map (its final counter is kept there) and still raises its violation.
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root (BPF, setpriv)"
command -v dbus-daemon >/dev/null || skip_all "no dbus-daemon"
echo "TAP version 13"

mkdir -p "$T/licenses"
cat >"$T/licenses/test.yaml" <<'EOY'
license:
  id: LOSS-1
  valid: { from: 2020-01-01, until: 2099-12-31 }
  principals: { users: [root] }
EOY
cp "$BUILD/tests/burn" "$T/burn"
start_bus
start_daemon --licenses "$T/licenses" --interval 1

kill -STOP "$DAEMON_PID"
# ~1.6 KiB per exec record in a 1 MiB ring buffer: 1500 execs overflow it.
for _ in $(seq 1500); do /bin/true; done
# Now the buffer is full: this process's exec and exit records cannot be written.
setpriv --reuid=nobody --regid=nogroup --clear-groups "$T/burn" 200
kill -CONT "$DAEMON_PID"

drops() { "$HPCMETERCTL" status --json | json "d['ringbuf_drops']"; }
dropped() { [ "$(drops)" -gt 0 ]; }
check "status counts the lost ring-buffer records" wait_for dropped
diag "ringbuf_drops: $(drops)"
check "the daemon warned about them" wait_for grep -q "records lost (ring buffer full" "$T/hpcmeterd.log"
got() { "$HPCMETERCTL" violations --json | json "[v['kind'] for v in d if v['uid']==65534]" | grep -q unpermitted-user; }
check "the process whose records were lost still raised its violation (from the map)" wait_for got
has_cpu() { [ "$("$HPCMETERCTL" usage --json | json "sum(u['cpu_ns'] for u in d if u['uid']==65534)")" -ge 190000000 ]; }
check "and its CPU time (0.2 s) was still accounted from the map's final counter" wait_for has_cpu
check "the daemon is still running" kill -0 "$DAEMON_PID"
tap_done
