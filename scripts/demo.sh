#!/usr/bin/env bash
# demo.sh: the main job, end to end. Installs what is missing, builds, boots a Debian kernel under qemu,
# records ping between two network namespaces (good), then the same ping with an nftables rule that drops
# it (bad), brings both captures back and analyzes them with pwru-replay. The captures stay in demo-out/.
#   KERNEL=6.12 (default), 5.10, 6.1 or latest (the newest cloud kernel in Debian sid)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export PATH="/usr/local/go/bin:$PATH"
kernel=${KERNEL:-6.12}
case "$kernel" in
*,* | all) echo "demo: KERNEL=$kernel: the demo boots one kernel (5.10, 6.1, 6.12 or latest)" >&2; exit 2 ;;
esac
out="$root/demo-out"
bin="$root/.cache/demo-bin"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "installing what is missing (apt-get)"
./scripts/install-deps.sh
say "building pwru-record, pwru-replay and the guest driver"
mkdir -p "$bin"
go build -o "$bin/pwru-record" ./cmd/pwru-record
CGO_ENABLED=0 go build -o "$bin/pwru-replay" ./cmd/pwru-replay
CGO_ENABLED=0 go build -o "$bin/guest" ./vmtest/guest

say "booting Debian's $kernel cloud kernel in qemu (TCG) and recording"
rm -rf "$out"
mkdir -p "$out/vm"
./scripts/vmrun -q -kernel "$kernel" -bin "$bin/guest" -bin "$bin/pwru-record" -out "$out/vm" \
  -c '/bin/guest -out /out -recorder /bin/pwru-record -scenarios demo 2>&1'
cp "$out/vm/demo/good.pwru" "$out/good.pwru"
cp "$out/vm/demo/bad.pwru" "$out/bad.pwru"

replay() { printf '\n\033[36m$ pwru-replay %s\033[0m\n' "$*"; "$bin/pwru-replay" "$@"; }
say "analyzing on the host, without privileges"
replay info "$out/bad.pwru"
replay print --output-tuple --output-limit-lines 25 "$out/bad.pwru"
replay paths "$out/good.pwru"
replay paths "$out/bad.pwru"
set +e
replay diff "$out/good.pwru" "$out/bad.pwru"
rc=$?
set -e
if [ "$rc" -ne 1 ]; then
  echo "demo: expected pwru-replay diff to report a difference (exit 1), got exit $rc" >&2
  exit 1
fi
say "done: the captures are $out/good.pwru and $out/bad.pwru (try: $bin/pwru-replay pcap $out/bad.pwru -o bad.pcapng)"
