#!/usr/bin/env bash
# install-deps.sh: install the Debian packages the build and the VM tests
# need, idempotently. Runs apt-get update only when something is missing.
# Makes sure bookworm-security (where the 6.12 kernels live) is an apt source.
# Needs root (or sudo) only when it has something to install.
set -euo pipefail

pkgs=(
	# build: cgo (libpcap) and the BPF toolchain
	gcc libc6-dev make git ca-certificates pkg-config libpcap-dev libbpf-dev clang llvm bpftool
	# the VM harness: qemu, the guest's busybox, kernel download/unpack and module decompression
	qemu-system-x86 busybox-static cpio xz-utils zstd dpkg apt
	# checking pcapng output
	tshark
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

# The 6.12 kernels come from bookworm's security suite.
need_update=0
. /etc/os-release
codename="${VERSION_CODENAME:-}"
if [ "${ID:-}" = debian ] && [ -n "$codename" ]; then
	if ! apt-cache policy 2>/dev/null | grep -q "${codename}-security"; then
		echo "install-deps: adding ${codename}-security to the apt sources"
		"${sudo[@]}" tee "/etc/apt/sources.list.d/pwru-${codename}-security.sources" >/dev/null <<SRC
Types: deb
URIs: http://deb.debian.org/debian-security
Suites: ${codename}-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
		need_update=1
	fi
else
	echo "install-deps: warning: not Debian (${ID:-unknown} ${codename}); the VM tests resolve Debian kernel packages with apt" >&2
fi

missing=()
for p in "${pkgs[@]}"; do
	st="$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)"
	if [ "$st" != installed ]; then missing+=("$p"); fi
done

if [ "${#missing[@]}" -gt 0 ] || [ "$need_update" -eq 1 ]; then
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

# The kernels the VM tests boot must be resolvable from the apt metadata.
for meta in linux-image-cloud-amd64 linux-image-6.12-cloud-amd64; do
	if ! apt-cache depends "$meta" 2>/dev/null | grep -q 'Depends: linux-image-'; then
		echo "install-deps: apt cannot resolve $meta; apt-get update"
		"${sudo[@]}" apt-get update -q
		if ! apt-cache depends "$meta" 2>/dev/null | grep -q 'Depends: linux-image-'; then
			echo "install-deps: error: apt still cannot resolve $meta (check the apt sources for bookworm and bookworm-security)" >&2
			exit 1
		fi
	fi
done
