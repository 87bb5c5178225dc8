#!/bin/bash
# The accelerator vendors' real runtime libraries from Debian, for the GPU meter's tests:
# fetched with `apt-get download` and unpacked with `dpkg -x` into BUILD/gpu-real/root, never
# installed on the system. Idempotent: a second run with the same package list does nothing.
# Uses its own apt state (lists and cache under BUILD/gpu-real/apt) and the source list that
# scripts/install-deps.sh writes to /etc/apt/hpcmeter-gpu-runtimes.list (Debian main and
# non-free: NVIDIA's libcuda1 is in non-free). The system's apt sources are not changed.
# usage: tests/gpu-real/fetch.sh [BUILD_DIR]    (as root; exit 1 when it cannot fetch: make check
# fails then, unless GPU_REAL=skip is given)
set -euo pipefail
BUILD=${1:-build}
DIR=$BUILD/gpu-real
SOURCES=${HPCMETER_GPU_SOURCES:-/etc/apt/hpcmeter-gpu-runtimes.list}
# The runtimes and what they need that a test system does not have (the rest, such as
# libllvm15 and libhwloc15, comes from scripts/install-deps.sh):
#   libcuda1                         NVIDIA's driver library (R535), non-free
#   libamdhip64-5 libamd-comgr2 libhsa-runtime64-1 libhsakmt1   AMD's HIP runtime
#   libze1                           the Level Zero loader
#   ocl-icd-libopencl1 pocl-opencl-icd libpocl2 libpocl2-common libclang-cpp15   OpenCL: the
#                                    ICD loader and pocl, which runs kernels on the CPU
PKGS=(libcuda1 libamdhip64-5 libamd-comgr2 libhsa-runtime64-1 libhsakmt1 libze1
	ocl-icd-libopencl1 pocl-opencl-icd libpocl2 libpocl2-common libclang-cpp15)

if [ -f "$DIR/stamp" ] && [ "$(head -1 "$DIR/stamp")" = "${PKGS[*]}" ]; then
	exit 0
fi
if [ ! -r "$SOURCES" ]; then
	echo "fetch.sh: no $SOURCES: run scripts/install-deps.sh (it writes the source list)" >&2
	exit 1
fi
mkdir -p "$DIR/apt/lists/partial" "$DIR/apt/cache/archives/partial" "$DIR/debs"
APT=(-o "Dir::Etc::SourceList=$SOURCES" -o Dir::Etc::SourceParts=/nonexistent
	-o "Dir::State::Lists=$(realpath "$DIR/apt/lists")"
	-o "Dir::Cache=$(realpath "$DIR/apt/cache")" -o APT::Sandbox::User=root -q)
if ! apt-get "${APT[@]}" update >"$DIR/apt.log" 2>&1; then
	echo "fetch.sh: apt-get update failed (log: $DIR/apt.log)" >&2
	tail -5 "$DIR/apt.log" >&2
	exit 1
fi
rm -f "$DIR/debs"/*.deb
if ! (cd "$DIR/debs" && apt-get "${APT[@]}" download "${PKGS[@]}") >>"$DIR/apt.log" 2>&1; then
	echo "fetch.sh: apt-get download failed (log: $DIR/apt.log)" >&2
	tail -5 "$DIR/apt.log" >&2
	exit 1
fi
rm -rf "$DIR/root"
mkdir -p "$DIR/root"
for d in "$DIR/debs"/*.deb; do
	dpkg -x "$d" "$DIR/root"
done
# OpenCL's ICD loader finds pocl through a vendors directory of our own (OCL_ICD_VENDORS).
mkdir -p "$DIR/vendors"
realpath "$DIR/root/usr/lib/x86_64-linux-gnu/libpocl.so.2" >"$DIR/vendors/pocl.icd"
{
	echo "${PKGS[*]}"
	for d in "$DIR/debs"/*.deb; do dpkg-deb -f "$d" Package Version | sed 's/^[^:]*: //' | paste -sd' '; done
} >"$DIR/stamp"
echo "fetch.sh: $(($(wc -l <"$DIR/stamp") - 1)) packages unpacked in $DIR/root"
