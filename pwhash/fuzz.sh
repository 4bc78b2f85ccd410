#!/usr/bin/env bash
# Runs each fuzz target of package pwhash for a while (default one minute each). Plain `go test` runs only the
# seed corpus; this is for a developer's machine or a nightly job.
#   pwhash/fuzz.sh          # 1m per target
#   FUZZTIME=10m pwhash/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")"
FUZZTIME="${FUZZTIME:-1m}"
for target in $(go test -list '^Fuzz' . | grep '^Fuzz'); do
  echo "== $target ($FUZZTIME)"
  go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" .
done
