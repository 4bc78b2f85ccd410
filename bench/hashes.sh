#!/usr/bin/env bash
# Benchmarks each password-hash format through pwhash.Verify on the stored string (BenchmarkVerify/<format>),
# through a hash parsed once (BenchmarkVerifyParsed/<format>) and through its reference primitive at the same
# parameters (BenchmarkReference/<format>), then prints the fastest ns/op of each and the two ratios to the
# reference (target: parsed ≤ 1.10).
#
# The benchmarks of a format run back to back, COUNT rounds over all formats, so that a machine shared with
# other work loads them alike; the fastest of the rounds is kept.
#   bench/hashes.sh
#   COUNT=5 BENCHTIME=2s bench/hashes.sh
#   FORMATS='bcrypt-10 ssha' bench/hashes.sh
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT="${COUNT:-3}"
BENCHTIME="${BENCHTIME:-1s}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/pwhash.test" ./pwhash
bin="$tmp/pwhash.test"
if [ -z "${FORMATS:-}" ]; then
  FORMATS="$(cd pwhash && "$bin" -test.run '^$' -test.bench '^BenchmarkVerify$' -test.benchtime 1x |
    awk '/^BenchmarkVerify\//{ n = $1; sub(/^BenchmarkVerify\//, "", n); sub(/-[0-9]+$/, "", n); print n }')"
fi
for round in $(seq 1 "$COUNT"); do
  for f in $FORMATS; do
    (cd pwhash && "$bin" -test.run '^$' -test.bench "^Benchmark(Verify|VerifyParsed|Reference)\$/^${f}\$" -test.benchtime "$BENCHTIME") |
      grep '^Benchmark' | tee -a "$tmp/out" >&2
  done
done
awk '
  /^Benchmark(Verify|VerifyParsed|Reference)\// {
    kind = $1; sub(/\/.*/, "", kind)
    name = $1; sub(/^Benchmark(Verify|VerifyParsed|Reference)\//, "", name); sub(/-[0-9]+$/, "", name)
    ns = $3 + 0
    key = kind SUBSEP name
    if (!(key in best) || ns < best[key]) best[key] = ns
    if (kind == "BenchmarkVerify" && !(name in seen)) { seen[name] = 1; order[++n] = name }
  }
  END {
    printf "%-42s %13s %13s %13s %7s %7s\n", "format", "verify ns/op", "parsed ns/op", "ref. ns/op", "verify", "parsed"
    for (i = 1; i <= n; i++) {
      name = order[i]; v = best["BenchmarkVerify" SUBSEP name]; p = best["BenchmarkVerifyParsed" SUBSEP name]
      r = best["BenchmarkReference" SUBSEP name]
      printf "%-42s %13.0f %13.0f %13.0f %7.3f %7.3f\n", name, v, p, r, (r > 0) ? v / r : 0, (r > 0) ? p / r : 0
    }
  }' "$tmp/out"
