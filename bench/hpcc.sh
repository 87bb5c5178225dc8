#!/bin/bash
# A real HPC workload with and without the meter: Debian's hpcc (HPC Challenge: HPL, DGEMM,
# STREAM, PTRANS, RandomAccess, FFT, latency and bandwidth) over MPI with 2 ranks, run
# alternately without hpcmeterd and with it (the node's configuration: the example licences,
# the default interval and GPU mode, on a private bus), ROUNDS times each. Prints a markdown
# table: per kernel, the median of each and the slowdown with the meter (time with / time
# without: a throughput's inverse ratio, a latency's ratio). Not a test: figures go to
# docs/PERFORMANCE.md.
# usage: bench/hpcc.sh [BUILD_DIR] [ROUNDS] [N]   (as root; N: HPL's matrix size)
BUILD=${1:-build}
export BUILD
. "$(dirname "$0")/../tests/lib.sh"
rounds=${2:-3}
n=${3:-5000}
command -v hpcc >/dev/null && command -v mpirun >/dev/null ||
	{ echo "bench/hpcc.sh: needs Debian's hpcc (and its MPI)" >&2; exit 1; }

# throughput kernels (higher is better) and latencies (lower is better)
KERNELS="HPL_Tflops StarDGEMM_Gflops SingleDGEMM_Gflops PTRANS_GBs MPIRandomAccess_GUPs
StarRandomAccess_GUPs SingleRandomAccess_GUPs StarSTREAM_Triad SingleSTREAM_Triad
StarFFT_Gflops SingleFFT_Gflops MPIFFT_Gflops MaxPingPongBandwidth_GBytes
RandomlyOrderedRingBandwidth_GBytes MaxPingPongLatency_usec RandomlyOrderedRingLatency_usec"

mkdir -p "$T/run" "$T/out"
# One process per core, 1 x 2 grid.
sed -e "s/^1000         Ns/$n         Ns/" -e 's/^2            Ps/1            Ps/' \
	/usr/share/doc/hpcc/examples/_hpccinf.txt >"$T/run/hpccinf.txt"
start_bus

# run NAME: one hpcc run, its summary section kept as $T/out/NAME.
run() {
	(cd "$T/run" && rm -f hpccoutf.txt &&
		OMPI_MCA_btl_vader_single_copy_mechanism=none \
			mpirun --allow-run-as-root --oversubscribe -np 2 hpcc >/dev/null 2>&1)
	sed -n '/Begin of Summary/,/End of Summary/p' "$T/run/hpccoutf.txt" >"$T/out/$1"
	grep -q '^Success=1' "$T/out/$1" || { echo "hpcc failed in run $1" >&2; exit 1; }
}

for ((i = 1; i <= rounds; i++)); do
	run "off-$i"
	start_daemon --licenses "$TOP/examples/licenses"
	run "on-$i"
	stop_daemon
done

python3 - "$T/out" "$rounds" $KERNELS <<'EOPY'
import statistics, sys
out, rounds, kernels = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def read(name):
    d = {}
    for line in open("%s/%s" % (out, name)):
        if "=" in line:
            k, v = line.strip().split("=", 1)
            d[k] = v
    return d
off = [read("off-%d" % i) for i in range(1, rounds + 1)]
on = [read("on-%d" % i) for i in range(1, rounds + 1)]
print("| kernel | without the meter (median) | with hpcmeterd (median) | slowdown |")
print("| --- | --- | --- | --- |")
for k in kernels:
    try:
        a = statistics.median(float(d[k]) for d in off)
        b = statistics.median(float(d[k]) for d in on)
    except (KeyError, ValueError):
        continue
    lower_is_better = k.endswith("_usec")
    slow = (b / a if lower_is_better else a / b) if a and b else float("nan")
    print("| %s | %.6g | %.6g | %.4f |" % (k, a, b, slow))
print()
print("%d rounds each, alternating; N = %s; slowdown = time with / time without" % (rounds, off[0].get("HPL_N", "?")))
EOPY
