#!/bin/bash
# Install what hpcmeter needs to build, run and test on Debian 12 (as root). Idempotent.
# usage: scripts/install-deps.sh [--build-only | --bench]   (--bench: also what make bench runs)
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
	echo "install-deps.sh: run as root (it calls apt-get)" >&2
	exit 1
fi

build=(
	make gcc clang llvm pkg-config
	libbpf-dev bpftool libelf-dev zlib1g-dev
	libsystemd-dev libyaml-dev libsqlite3-dev
	libnl-3-dev libnl-genl-3-dev
	# SHA-256 of the ledger's hash chain, Ed25519 report signatures
	libssl-dev
	# JSON: hpcmeterctl's output, signed reports and their verification
	libjson-c-dev
	# x86-64 instruction decoding: where the GPU meter's probes cost least (lib/gpu-entry.c)
	libcapstone-dev
	# hpcmeterctl's tables (widths in display cells)
	libsmartcols-dev
	# mount tables (/proc/self/mountinfo, its escapes decoded)
	libmount-dev
	# the cluster's store in PostgreSQL: libpq (hpcmeterd ships to it, hpcmeterctl cluster)
	libpq-dev
	go-md2man
)
run=(
	dbus dbus-daemon systemd util-linux passwd procps
	# licence time zones (license.timezone) are looked up in /usr/share/zoneinfo
	tzdata
)
tests=(
	python3 dbus-bin libxml2-utils clang-format
	# a second Ed25519 key in the report tests
	openssl
	python3 dbus-bin libxml2-utils clang-format man-db bash-completion
	# libFuzzer for the fuzz targets (clang -fsanitize=fuzzer)
	libclang-rt-14-dev
	# the D-Bus flood test reads the intervals from the ledger
	sqlite3
	# the cluster's store: PostgreSQL started by tests/cluster (initdb, pg_ctl, psql)
	postgresql
	# gdbus: D-Bus calls with exact types and named errors (tests/dbus/test-api.sh, test-policy.sh)
	libglib2.0-bin
	# a state file system that turns read-only: an ext4 image on a loop device (tests/faults)
	e2fsprogs mount
	# a FUSE file whose reads wait for the test: the digest worker's (tests/adversarial)
	libfuse3-dev fuse3
	# the kernel module: built against Debian's kernel, tested in qemu booting it
	linux-headers-amd64 linux-image-amd64 qemu-system-x86 busybox-static cpio kmod dkms
	# (libnl-3-dev libnl-genl-3-dev are in build: hpcmeterd and hpcmeterctl link libnl-genl)
	# the kselftest headers come from linux-source-6.1, fetched by tests/module/kselftest-headers.sh
	# with `apt-get download` into build/kselftest (not installed)
	# job attribution against a real Slurm (started by tests/slurm, cgroup/v1)
	munge slurmctld slurmd slurm-client
	# remote access: a real sshd in a network namespace of the test's (pam_loginuid sets the
	# session's loginuid), a client, ip netns (tests/dbus/test-remote-access.sh)
	openssh-server openssh-client iproute2
	# the metrics checked by Prometheus' own tools: promtool (check metrics, check rules) and
	# the Python client's Prometheus and OpenMetrics parsers (tests/dbus/test-metrics.sh)
	prometheus python3-prometheus-client
	# packages: the Debian ones built and installed into a fresh root, the RPM spec checked
	dpkg-dev debhelper dh-dkms mmdebstrap rpm
	# lintian --pedantic on them; hardening-check (devscripts) on their binaries; the RPM
	# built with rpmbuild (package rpm) and checked with rpmlint
	lintian devscripts rpmlint rpm2cpio cpio
	# the man pages: mandoc -Tlint and lexgrog (man-db) in tests/package/test-man.sh
	mandoc
	# the vendors' real GPU runtimes are fetched by tests/gpu-real/fetch.sh into build/, not
	# installed; what they need besides (pocl: LLVM 15, hwloc, and ld with libc's and libm's
	# development links to link each kernel it compiles; HIP: numa, libdrm-amdgpu) and the
	# OpenCL headers of the test program are (checked in a fresh Debian 12 root)
	libllvm15 libhwloc15 binutils libc6-dev libnuma1 libdrm-amdgpu1 opencl-c-headers
)
# make bench: a real HPC workload with and without the meter (bench/hpcc.sh), the profiler
bench=(hpcc linux-perf)
pkgs=("${build[@]}" "${run[@]}")
[ "${1:-}" = --build-only ] || pkgs+=("${tests[@]}")
[ "${1:-}" = --bench ] && pkgs+=("${bench[@]}")

# Debian's non-free component for one download only: NVIDIA's libcuda1, which
# tests/gpu-real/fetch.sh fetches with `apt-get download` into build/ (never installed). The
# list is not in sources.list.d, so apt does not use it for anything else; fetch.sh points its
# own apt state at it.
gpu_sources=/etc/apt/hpcmeter-gpu-runtimes.list
if [ "${1:-}" != --build-only ] && [ ! -e "$gpu_sources" ]; then
	# shellcheck source=/dev/null
	. /etc/os-release
	# The machine's Debian mirror: deb822 (debian.sources: Debian 12's containers and cloud
	# images) or one-line (sources.list: Debian 12's installer); else deb.debian.org. A file
	# that is not there is no error (set -e, pipefail).
	mirror=
	if [ -r /etc/apt/sources.list.d/debian.sources ]; then
		mirror=$(sed -n 's|^URIs: *\(https\?://[^ ]*/debian\)/\?$|\1|p' \
			/etc/apt/sources.list.d/debian.sources | head -1)
	fi
	if [ -z "$mirror" ] && [ -r /etc/apt/sources.list ]; then
		mirror=$(sed -n 's|^deb \(\[[^]]*\] *\)\?\(https\?://[^ ]*/debian\)/\? .*|\2|p' \
			/etc/apt/sources.list | head -1)
	fi
	mirror=${mirror:-http://deb.debian.org/debian}
	key=/usr/share/keyrings/debian-archive-keyring.gpg
	printf 'deb [signed-by=%s] %s %s main non-free\ndeb [signed-by=%s] %s %s-updates main non-free\n' \
		"$key" "$mirror" "$VERSION_CODENAME" "$key" "$mirror" "$VERSION_CODENAME" >"$gpu_sources"
	echo "install-deps.sh: wrote $gpu_sources (main and non-free, for tests/gpu-real/fetch.sh)"
fi

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps.sh: all ${#pkgs[@]} packages are installed"
	exit 0
fi
echo "install-deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps.sh: done"
