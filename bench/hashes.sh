#!/usr/bin/env bash
# Benchmarks each password-hash format through pwhash.Verify and its reference primitive at the same parameters,
# then prints ns/op of both and their ratio (target: ≤ 1.10).
#   bench/hashes.sh                 # -count 3, the fastest run of each kept
#   COUNT=5 BENCHTIME=2s bench/hashes.sh
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT="${COUNT:-3}"
BENCHTIME="${BENCHTIME:-1s}"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
go test -run '^$' -bench '^Benchmark(Verify|Reference)$' -benchtime "$BENCHTIME" -count "$COUNT" ./pwhash | tee "$out" >&2
awk '
  /^Benchmark(Verify|Reference)\// {
    split($1, p, "/"); kind = p[1]; name = p[2]; sub(/-[0-9]+$/, "", name)
    ns = $3 + 0
    key = kind SUBSEP name
    if (!(key in best) || ns < best[key]) best[key] = ns
    if (kind == "BenchmarkVerify" && !(name in seen)) { seen[name] = 1; order[++n] = name }
  }
  END {
    printf "%-28s %14s %14s %7s\n", "format", "verify ns/op", "reference ns/op", "ratio"
    worst = 0
    for (i = 1; i <= n; i++) {
      name = order[i]; v = best["BenchmarkVerify" SUBSEP name]; r = best["BenchmarkReference" SUBSEP name]
      ratio = (r > 0) ? v / r : 0
      if (ratio > worst) worst = ratio
      printf "%-28s %14.0f %14.0f %7.3f\n", name, v, r, ratio
    }
    printf "worst ratio %.3f (target <= 1.10)\n", worst
  }' "$out"
