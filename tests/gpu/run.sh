#!/bin/bash
# The GPU meter on a real NVIDIA GPU with PyTorch and Triton: one prepared script, one call.
# Build here first (`make gpu-check`: static binaries in build/gpu-check), carry build/gpu-check
# to the GPU machine, and run as root from the repository root:
#     tests/gpu/run.sh OUT_DIR
# Known launch counts come from differences between two runs of the same workload (N and 2N
# iterations), so initialisation launches cancel out:
#   - 1024^2 fp32 matmul (TF32 off): 1 cuLaunchKernelEx per matmul, 128 CTAs x 128 threads;
#   - Triton vector add, grid 1024, BLOCK 1024 (num_warps 4): 1 launch of 1024 x 128 threads;
#   - pageable 4 MiB host-to-device copies: 1 cuMemcpyHtoDAsync_v2 of 4194304 bytes each;
#   - light mode: no probe on the launch path, launches 0, device opens and allocations seen.
# Then the cost: a launch-bound 64^2 matmul loop with no meter, light and detailed mode,
# alternating twice; the fake-library bench; the inventory (sysfs + models file + NVML).
# Writes OUT_DIR/*.json, OUT_DIR/summary.txt; exit 1 if a count is wrong.
set -u
OUT=${1:?usage: tests/gpu/run.sh OUT_DIR}
mkdir -p "$OUT"
cd "$(dirname "$0")/../.."
BIN=${GPU_CHECK:-build/gpu-check}
exec > >(tee "$OUT/log.txt") 2>&1

[ "$(id -u)" = 0 ] || { echo "run as root"; exit 1; }
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing
uname -a
nvidia-smi -L || true
nvidia-smi --query-gpu=name,pci.bus_id,uuid,driver_version --format=csv || true

PY=python3
for p in /opt/torch/.venv/bin/python3 python3; do
	if "$p" -c "import torch" 2>/dev/null; then PY=$p; break; fi
done
"$PY" -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"
LIBCUDA=$(ldconfig -p | awk '/libcuda\.so\.1 /{print $NF; exit}')
echo "libcuda: $LIBCUDA -> $(realpath "$LIBCUDA")"

RUN=$BIN/gpu-probe-run
if "$BIN/gpu-probe-run-dyn" --mode none -- true 2>/dev/null >/dev/null; then
	RUN_INV=$BIN/gpu-probe-run-dyn # can dlopen NVML
else
	RUN_INV=$RUN
fi
W=tests/gpu/workload.py
probe() { # probe NAME MODE WORKLOAD ARGS...
	local name=$1 mode=$2
	shift 2
	"$RUN" --mode "$mode" --lib "$LIBCUDA" -o "$OUT/$name.json" -- "$PY" "$W" "$@" \
		>"$OUT/$name.out" 2>"$OUT/$name.err"
	echo "$name: exit $? $(cat "$OUT/$name.out")"
}

probe matmul-1000 detailed matmul 1000 1024
probe matmul-2000 detailed matmul 2000 1024
probe triton-500 detailed triton 500
probe triton-1000 detailed triton 1000
probe h2d-100 detailed h2d 100
probe h2d-200 detailed h2d 200
probe light-matmul-1000 light matmul 1000 1024
for round in 1 2; do
	for mode in none light detailed; do
		probe "cost-$mode-$round" "$mode" matmul 20000 64
	done
done
"$RUN_INV" --mode none --inventory data/accelerators.yaml -o "$OUT/inventory.json" -- true
cat "$OUT/inventory.json"
LD_LIBRARY_PATH= "$BIN/gpu-launch" "$BIN/libcuda.so.1" 200000 5 >"$OUT/bench-fake.txt" 2>&1
cat "$OUT/bench-fake.txt"

"$PY" - "$OUT" <<'EOPY' | tee "$OUT/summary.txt"
import json, sys
out = sys.argv[1]
def load(n):
    try:
        return json.load(open(f"{out}/{n}.json"))
    except Exception as e:
        print(f"{n}: no result ({e})")
        return None
fails = 0
def check(what, got, want):
    global fails
    ok = got == want
    fails += not ok
    print(f"{'PASS' if ok else 'FAIL'} {what}: {got} (expected {want})")
def diff(a, b, key):
    a, b = load(a), load(b)
    return None if a is None or b is None else b["total"][key] - a["total"][key]
check("matmul: launches(2000) - launches(1000)", diff("matmul-1000", "matmul-2000", "launches"), 1000)
check("matmul: threads difference = 1000 x 128 x 128", diff("matmul-1000", "matmul-2000", "threads"), 1000 * 128 * 128)
check("triton: launches(1000) - launches(500)", diff("triton-500", "triton-1000", "launches"), 500)
check("triton: threads difference = 500 x 1024 x 128", diff("triton-500", "triton-1000", "threads"), 500 * 1024 * 128)
check("h2d: copies difference", diff("h2d-100", "h2d-200", "h2d_copies"), 100)
check("h2d: bytes difference = 100 x 4 MiB", diff("h2d-100", "h2d-200", "bytes_h2d"), 100 * 4194304)
light = load("light-matmul-1000")
if light:
    check("light: probes on the launch path", light["launch_probes"], 0)
    check("light: launches", light["total"]["launches"], 0)
    check("light: device opens seen", light["total"]["dev_opens"] > 0, True)
    check("light: allocations seen", light["total"]["allocs"] > 0, True)
m = load("matmul-1000")
if m:
    check("matmul: argument faults", m.get("arg_faults"), 0)
    check("matmul: a device index recorded", any(p["dev_mask"] for p in m["processes"]), True)
    print("matmul-1000 libraries:", [l["path"] for l in m["libraries"]])
    print("matmul-1000 probe hits:", m["probe_hits"])
inv = load("inventory")
if inv:
    print("inventory:", inv.get("nvml"), inv.get("accelerators"))
    check("inventory: every accelerator matched a model", all(a["model"] for a in inv["accelerators"]) and len(inv["accelerators"]) > 0, True)
for mode in ("none", "light", "detailed"):
    us = []
    for r in (1, 2):
        try:
            us.append(float(open(f"{out}/cost-{mode}-{r}.out").read().split()[1]))
        except Exception:
            pass
    print(f"launch-bound 64^2 matmul, {mode}: us per iteration {us}")
print("FAILURES:", fails)
sys.exit(1 if fails else 0)
EOPY
exit "${PIPESTATUS[0]}"
