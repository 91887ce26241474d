#!/usr/bin/env bash
# deps-check.sh: fail when the build or the tests use a file from a Debian package that
# scripts/install-deps.sh does not install. A fresh machine has only what that script installs (plus
# Debian's essential and required packages), so everything else the build reads must come from it.
#
# What is checked, each file mapped to its package with dpkg -S:
#   - the headers clang includes for bpf/pwru.c (its -MD list, from scripts/check-generate.sh),
#   - the headers gcc includes for the cgo packages (gcc -M over their #include lines),
#   - the programs the scripts, the Makefile and .ci/run call (the first word of each command),
#   - the programs the Go code runs or looks up (exec.Command, exec.CommandContext, exec.LookPath).
# A package passes when install-deps.sh names it, when one it names depends on it (installed
# Depends/Pre-Depends, recursively), or when Debian marks it essential or required.
#   DEPFILE=path  reuse a dependency list check-generate.sh already wrote.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
GO=${GO:-go}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 1. Headers of the BPF object.
dep=${DEPFILE:-}
if [ -z "$dep" ] || [ ! -s "$dep" ]; then
	dep="$tmp/bpf.d"
	DEPFILE="$dep" ./scripts/check-generate.sh >/dev/null
fi
# The -MD list is relative to /; keep the system files (not the copied sources).
tr ' \\' '\n\n' <"$dep" | sed -n 's/:$//; /^usr\//p; /^lib\//p' | sed 's|^|/|' | sort -u >"$tmp/files"

# 2. Headers of the cgo packages.
"$GO" list -f '{{if .CgoFiles}}{{.Dir}}{{range .CgoFiles}} {{.}}{{end}}{{end}}' ./... | while read -r dir files; do
	[ -n "$dir" ] || continue
	for f in $files; do grep -h '^#include' "$dir/$f" || true; done >"$tmp/cgo.c"
	[ -s "$tmp/cgo.c" ] || continue
	gcc -M -x c "$tmp/cgo.c" | tr ' \\' '\n\n' | grep '^/' || true
done | sort -u >>"$tmp/files"

# 3. Programs called by the shell parts: the first word of every command.
progs() {
	sed -e 's/#.*$//' "$@" | tr '|;&()`' '\n\n\n\n\n\n' | sed 's/\$(/\n/g' |
		awk '{
			i = 1
			while (i <= NF && ($i ~ /^[A-Za-z_][A-Za-z0-9_]*=/ || $i ~ /^(if|then|do|else|elif|while|until|!|sudo|timeout|nice|exec|command|env|xargs|time)$/ || $i ~ /^-/ || $i ~ /^[0-9]+[smh]?$/)) i++
			if (i <= NF) print $i
		}' | grep -E '^[a-z][a-z0-9._+-]*$' || true
}
{
	progs scripts/*.sh scripts/vmrun .ci/run
	grep -P '^\t' Makefile | progs /dev/stdin
	# 4. Programs the Go code runs.
	git ls-files '*.go' | xargs grep -hoE 'exec\.(Command(Context)?\((ctx, *)?|LookPath\()"[a-z][a-z0-9._+-]*"' |
		sed -E 's/.*"([^"]+)"$/\1/'
} | sort -u >"$tmp/progs"
while read -r p; do
	t=$(type -t "$p" 2>/dev/null || true)
	[ "$t" = file ] || continue # builtins, keywords, functions, and words that are no program
	path=$(type -P "$p")
	echo "$path"
done <"$tmp/progs" >>"$tmp/files"

# Map every file to its package: one dpkg -S over every spelling of each path (merged /usr: a
# program found as /bin/x may be registered as /usr/bin/x, or the other way round).
sort -u "$tmp/files" | while read -r f; do
	r=$(realpath -m "$f")
	printf '%s\t%s\n' "$f" "$f" "$f" "$r" "$f" "${r#/usr}" "$f" "/usr${r#/usr}"
done | sort -u >"$tmp/spellings"
cut -f2 "$tmp/spellings" | sort -u | xargs dpkg -S 2>/dev/null | grep -v '^diversion' |
	awk -F': ' '{split($1, p, ", "); sub(/:.*/, "", p[1]); print $2 "\t" p[1]}' | sort -u >"$tmp/owners" || true
# file -> package (files of no package, such as Go in /usr/local/go, are the machine's or ours).
awk -F'\t' 'NR == FNR {owner[$1] = $2; next} ($2 in owner) && !($1 in done) {done[$1] = 1; print owner[$2] " " $1}' \
	"$tmp/owners" "$tmp/spellings" >"$tmp/used"

# What a fresh machine has: install-deps.sh's packages, their dependencies, essential/required ones.
# One dump of the installed packages, walked in awk: package, essential, priority, depends, provides.
dpkg-query -W -f='${Package}\t${Essential}\t${Priority}\t${Depends}, ${Pre-Depends}\t${Provides}\n' >"$tmp/db"
./scripts/install-deps.sh --list | awk -F'\t' '
	function name(s) { sub(/\(.*/, "", s); sub(/:any/, "", s); gsub(/ /, "", s); return s }
	NR == FNR {
		pkg[$1] = 1; deps[$1] = $4
		if ($2 == "yes" || $3 == "required") ok[$1] = 1
		n = split($5, pr, ","); for (i = 1; i <= n; i++) { v = name(pr[i]); if (v != "") prov[v] = prov[v] " " $1 }
		next
	}
	{ queue[++tail] = $1 }
	END {
		for (head = 1; head <= tail; head++) {
			p = queue[head]
			if (p in seen) continue
			seen[p] = 1; ok[p] = 1
			if (p in prov) { n = split(prov[p], pp, " "); for (i = 1; i <= n; i++) queue[++tail] = pp[i] }
			n = split(deps[p], d, /[,|]/)
			for (i = 1; i <= n; i++) { q = name(d[i]); if (q != "" && !(q in seen)) queue[++tail] = q }
		}
		for (p in ok) print p
	}' "$tmp/db" - | sort -u >"$tmp/allowed"

missing=$(sort -u "$tmp/used" | awk 'NR==FNR {ok[$1]=1; next} !($1 in ok) {print}' "$tmp/allowed" -)
if [ -n "$missing" ]; then
	echo "deps-check: the build or tests use files of packages scripts/install-deps.sh does not install:" >&2
	echo "$missing" | awk '{files[$1] = files[$1] " " $2} END {for (p in files) printf "  %s:%s\n", p, files[p]}' | sort >&2
	exit 1
fi
echo "deps-check: $(sort -u "$tmp/used" | wc -l) system files of $(cut -d' ' -f1 "$tmp/used" | sort -u | wc -l) packages, all installed by scripts/install-deps.sh"
