#!/usr/bin/env bash
# Import benchmarks against a sandbox tenant run as its own process (so the import's memory is measured alone).
#
#   bench/import.sh unthrottled [N ...]   users/s end to end and peak RSS of `idshift import` for each N
#                                         (default 100000 1000000)
#   bench/import.sh throttled [SECONDS]   achieved/ceiling at a time-scaled write ceiling (Graph's limits 10x faster:
#                                         3,000 writes per 15 s per app, 18,000 per 30 s per tenant) for one and
#                                         three app registrations, with the 429s the sandbox sent (default 60 s of load)
#
# Figures and the commands that produced them are in BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-unthrottled}"; shift || true
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/idshift" ./cmd/idshift
go build -o "$tmp/gen" ./bench/gen
port=$((20000 + RANDOM % 20000))
url="https://127.0.0.1:$port"
export AZURE_TENANT_ID=5e3a1b7c-2f4d-4e6a-9b8c-0d1e2f3a4b5c AZURE_AUTHORITY_HOST="$url/" IDSHIFT_GRAPH_URL="$url" \
  IDSHIFT_CA_FILE="$tmp/ca.pem" IDSHIFT_TENANT_DOMAIN=idshiftsandbox.onmicrosoft.com

start_sandbox() {
  "$tmp/idshift" sandbox --listen "127.0.0.1:$port" --ca-out "$tmp/ca.pem" --quota 5000000 "$@" >"$tmp/sandbox.log" 2>&1 &
  for _ in $(seq 1 100); do [ -s "$tmp/ca.pem" ] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0; sleep 0.1; done
  echo "sandbox did not start"; cat "$tmp/sandbox.log"; exit 1
}
sandbox_cpu() { ps -o times= -p "$(jobs -p | head -n1)" | tr -d ' '; }
stop_sandbox() { kill %1 2>/dev/null || true; wait 2>/dev/null || true; rm -f "$tmp/ca.pem"; }
stats() { curl -s --cacert "$tmp/ca.pem" "$url/_sandbox/stats"; }
field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }

case "$mode" in
unthrottled)
  sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(100000 1000000)
  start_sandbox --no-throttle --app "00000000-0000-0000-0000-00000000a001:sandbox-secret"
  export AZURE_CLIENT_ID=00000000-0000-0000-0000-00000000a001 AZURE_CLIENT_SECRET=sandbox-secret
  printf '%-10s %-10s %-12s %-14s %-8s %-14s %s\n' users created "users/s" "peak RSS MiB" "seconds" "import CPU s" "sandbox CPU s"
  for n in "${sizes[@]}"; do
    "$tmp/gen" -n "$n" -prefix "u$n-" >"$tmp/users-$n.csv"
    /usr/bin/time -f '%M %e %U %S' -o "$tmp/time-$n" "$tmp/idshift" import --source "$tmp/users-$n.csv" --store "$tmp/state-$n.db" \
      --setup-extensions --json --progress-every 1h ${IDSHIFT_BENCH_FLAGS:-} \
      --app-writes 1000000000 --app-window 1s --tenant-writes 1000000000 --tenant-window 1s >"$tmp/sum-$n.json" 2>"$tmp/err-$n.log" || {
      echo "import of $n failed"; cat "$tmp/err-$n.log"; exit 1; }
    read -r rss secs ucpu scpu <"$tmp/time-$n"
    scpu_now=$(sandbox_cpu); sb=$(( scpu_now - ${sb_total:-0} )); sb_total=$scpu_now
    created=$(field created <"$tmp/sum-$n.json"); ns=$(field elapsedNs <"$tmp/sum-$n.json")
    printf '%-10s %-10s %-12.0f %-14.1f %-8s %-14.1f %s\n' "$n" "$created" "$(echo "$created / ($ns / 1000000000)" | bc -l)" \
      "$(echo "$rss / 1024" | bc -l)" "$secs" "$(echo "$ucpu + $scpu" | bc -l)" "$sb"
  done
  stop_sandbox
  ;;
throttled)
  secs="${1:-60}"
  printf '%-6s %-10s %-10s %-12s %-10s %-8s %s\n' apps ceiling/s users achieved/s ratio 429s failed
  for apps in 1 3; do
    appflags=(); cfgapps=""
    for i in $(seq 1 "$apps"); do
      id=$(printf '00000000-0000-0000-0000-00000000b%03d' "$i")
      appflags+=(--app "$id:secret-$i")
      cfgapps+="    - {client_id: \"$id\", client_secret: \"secret-$i\"}"$'\n'
    done
    printf 'tenant:\n  apps:\n%s' "$cfgapps" >"$tmp/apps-$apps.yaml"
    start_sandbox --app-writes 3000 --app-window 15s --tenant-writes 18000 --tenant-window 30s "${appflags[@]}"
    ceiling=$(( apps * 200 < 600 ? apps * 200 : 600 ))
    n=$(( ceiling * secs ))
    "$tmp/gen" -n "$n" -prefix "t$apps-" >"$tmp/t-$apps.csv"
    "$tmp/idshift" import --config "$tmp/apps-$apps.yaml" --source "$tmp/t-$apps.csv" --store "$tmp/t-$apps.db" \
      --setup-extensions --json --progress-every 1h ${IDSHIFT_BENCH_FLAGS:-} \
      --app-writes 3000 --app-window 15s --tenant-writes 18000 --tenant-window 30s >"$tmp/t-$apps.json" 2>"$tmp/t-$apps.log" || {
      echo "throttled import failed"; cat "$tmp/t-$apps.log"; exit 1; }
    created=$(field created <"$tmp/t-$apps.json"); failed=$(field failed <"$tmp/t-$apps.json"); ns=$(field elapsedNs <"$tmp/t-$apps.json")
    throttled=$(stats | field throttled); requests=$(stats | field requests)
    rate=$(echo "$created / ($ns / 1000000000)" | bc -l)
    printf '%-6s %-10s %-10s %-12.1f %-10.3f %-8s %s\n' "$apps" "$ceiling" "$created" "$rate" "$(echo "$rate / $ceiling" | bc -l)" \
      "$throttled/$requests" "$failed"
    stop_sandbox
  done
  ;;
*) echo "usage: $0 unthrottled [N ...] | throttled [SECONDS]"; exit 2 ;;
esac
