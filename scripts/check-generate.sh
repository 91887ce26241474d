#!/usr/bin/env bash
# check-generate.sh: regenerate the bpf2go output into a temporary directory and compare it with the
# committed bpf/pwru_x86_bpfel.{go,o}. It never writes into bpf/: a failed compile (a missing header, a
# broken clang) leaves the committed files as they are.
#   DEPFILE=path  also keep clang's make-style dependency list (the headers it included) there.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
GO=${GO:-go}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The bpf2go command line lives in bpf/gen.go only; take it from there.
line=$(grep -m1 '^//go:generate go tool bpf2go ' bpf/gen.go) || {
	echo "check-generate: no //go:generate go tool bpf2go line in bpf/gen.go" >&2
	exit 1
}
args=${line#//go:generate go tool bpf2go }

# The bpf2go of go.mod's tool directive, built once into the temporary directory.
"$GO" build -o "$tmp/bpf2go" github.com/cilium/ebpf/cmd/bpf2go
mkdir "$tmp/bpf"
cp bpf/*.c bpf/*.h "$tmp/bpf/"
(
	cd "$tmp/bpf"
	# -makebase: clang's -MD list of every file it read, for scripts/deps-check.sh.
	eval "GOPACKAGE=bpf GOFILE=gen.go ../bpf2go -makebase / $args"
) >"$tmp/log" 2>&1 || {
	cat "$tmp/log" >&2
	echo "check-generate: bpf2go failed (bpf/ is left as committed); is scripts/install-deps.sh run?" >&2
	exit 1
}

status=0
for f in "$tmp"/bpf/*_bpfel.go "$tmp"/bpf/*_bpfel.o; do
	name=$(basename "$f")
	if ! cmp -s "$f" "bpf/$name"; then
		echo "check-generate: bpf/$name differs from what make generate makes: run make generate and commit it" >&2
		status=1
	fi
done
for f in bpf/*_bpfel.go bpf/*_bpfel.o; do
	[ -e "$tmp/bpf/$(basename "$f")" ] || {
		echo "check-generate: $f is committed but make generate no longer makes it" >&2
		status=1
	}
done
if [ -n "${DEPFILE:-}" ]; then
	cat "$tmp"/bpf/*.d >"$DEPFILE"
fi
[ "$status" -eq 0 ] && echo "check-generate: bpf/ matches make generate"
exit "$status"
