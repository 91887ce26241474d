#!/usr/bin/env bash
# install-deps.sh: install the Debian packages the build and the VM tests
# need, idempotently. Runs apt-get update only when something is missing.
# The host's apt sources are left alone: the VM harness downloads kernels
# (bullseye ... sid) through its own apt configuration in the kernel cache
# (internal/testsupport/vm/apt.go), verified with debian-archive-keyring.
# Needs root (or sudo) only when it has something to install.
set -euo pipefail

pkgs=(
	# build: cgo (libpcap) and the BPF toolchain
	gcc libc6-dev make git ca-certificates pkg-config libpcap-dev libbpf-dev clang llvm bpftool
	# the VM harness: qemu, the guest's busybox, kernel download/unpack and module decompression
	qemu-system-x86 busybox-static cpio xz-utils zstd dpkg apt debian-archive-keyring
	# checking pcapng output
	tshark
	# make duckdbtest: the DuckDB bindings (cgo) link libstdc++
	g++
	# make build: scripts/build-libpcap.sh builds a static libpcap from Debian's source package
	flex bison dpkg-dev
)

if [ "${1:-}" = --list ]; then
	# scripts/deps-check.sh compares what the build and tests use with this list.
	printf '%s\n' "${pkgs[@]}"
	exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null; then sudo=(sudo); fi
fi

export DEBIAN_FRONTEND=noninteractive

. /etc/os-release
if [ "${ID:-}" != debian ]; then
	echo "install-deps: warning: not Debian (${ID:-unknown}); the VM tests fetch Debian kernel packages with apt" >&2
fi

missing=()
for p in "${pkgs[@]}"; do
	st="$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)"
	if [ "$st" != installed ]; then missing+=("$p"); fi
done

if [ "${#missing[@]}" -gt 0 ]; then
	echo "install-deps: apt-get update"
	"${sudo[@]}" apt-get update -q
fi
if [ "${#missing[@]}" -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}"
	# tshark asks whether non-root users may capture: answer no.
	echo "wireshark-common wireshark-common/install-setuid boolean false" | "${sudo[@]}" debconf-set-selections 2>/dev/null || true
	"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
else
	echo "install-deps: all ${#pkgs[@]} packages present"
fi
