#!/usr/bin/env bash
# Load benchmark of `idshift serve` (the OnPasswordSubmit front) run as its own process.
#
#   bench/serve.sh [generator flags]
#
# Builds idshift and the load generator (bench/serve), then runs the generator, which fills a SQLite state store
# (salted SHA-256 and bcrypt-10 users, credentials sealed), starts `idshift serve` on loopback against an external
# authority of its own (discovery and JWKS over TLS), and sends Entra's callouts open-loop at fixed rates, RSA-2048
# keys throughout. Phases and their figures: `go doc ./bench/serve`. It stops by itself: about 3.5 minutes with the
# defaults (PHASE=15s is the length of each phase); the generator has a hard stop at 10 minutes. Figures and the
# commands that produced them are in BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/idshift" ./cmd/idshift
go build -o "$tmp/loadgen" ./bench/serve
"$tmp/loadgen" -idshift "$tmp/idshift" -dir "$tmp" -phase "${PHASE:-15s}" "$@"
