#!/usr/bin/env bash
# build-libpcap.sh DIR: build a static libpcap (libpcap.a + headers) from Debian's source package into
# DIR, for a statically linked pwru-record. Debian's own libpcap.a needs libdbus/libsystemd, which have
# no static builds, so we configure libpcap without them. Idempotent: does nothing when DIR/lib/libpcap.a exists.
set -euo pipefail
dest=$(realpath -m "${1:-.cache/libpcap}")
[ -f "$dest/lib/libpcap.a" ] && exit 0
need=()
for p in flex bison dpkg-dev; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
src_list=/etc/apt/sources.list.d/pwru-record-src.sources
if ! grep -rqs 'deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  cat > "$src_list" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  apt-get update -qq
fi
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get source --download-only -qq libpcap >/dev/null 2>&1 && dpkg-source -x --skip-patches libpcap_*.dsc src >/dev/null 2>&1)
cd "$work/src"
./configure --quiet --prefix="$dest" --disable-shared --disable-dbus --disable-rdma --disable-bluetooth \
  --disable-usb --without-libnl --disable-netmap --without-dpdk >/dev/null
make -s -j"$(nproc)" libpcap.a >/dev/null
mkdir -p "$dest/lib" "$dest/include/pcap"
cp libpcap.a "$dest/lib/"
cp pcap.h "$dest/include/"
cp pcap/*.h "$dest/include/pcap/"
echo "built $dest/lib/libpcap.a"
