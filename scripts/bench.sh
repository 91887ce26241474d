#!/usr/bin/env bash
# bench.sh: run the Go benchmarks of the data path and print them as one table.
# BENCHTIME (default 1x runs of ~1 s each: 1s) and COUNT tune the run.
set -euo pipefail
cd "$(dirname "$0")/.."
benchtime=${BENCHTIME:-1s}
pkgs=$(go list ./format/... ./analyze/... ./tracer/... ./internal/pktfilter/... 2>/dev/null | tr '\n' ' ')
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# -cpu 1: the targets are stated per core.
go test -run '^$' -bench . -benchmem -benchtime "$benchtime" -cpu 1 $pkgs | tee "$out" >&2
# DuckDB over ten million exported events (its own module: cgo).
(cd analyze/export/duckdbtest && go test -run '^$' -bench . -benchtime "${DUCKDB_BENCHTIME:-3x}" -cpu 1 .) | tee -a "$out" >&2
echo
printf '| %-52s | %14s | %10s | %12s | %10s |\n' benchmark events/s B/event ns/op allocs/op
printf '|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..54})" "$(printf -- '-%.0s' {1..16})" "$(printf -- '-%.0s' {1..12})" "$(printf -- '-%.0s' {1..14})" "$(printf -- '-%.0s' {1..12})"
awk '
/^pkg: / { pkg=$2; sub(/.*pwru-record\//, "", pkg) }
/^Benchmark/ {
  name=$1; evs="-"; bpe="-"; nsop="-"; allocs="-"
  for (i=3; i<=NF; i++) {
    if ($(i)=="events/s") evs=$(i-1)
    if ($(i)=="B/event") bpe=$(i-1)
    if ($(i)=="ns/op") nsop=$(i-1)
    if ($(i)=="allocs/op") allocs=$(i-1)
  }
  if (evs!="-") evs=sprintf("%.3g M", evs/1e6)
  printf "| %-52s | %14s | %10s | %12s | %10s |\n", pkg "." name, evs, bpe, nsop, allocs
}' "$out"
