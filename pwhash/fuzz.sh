#!/usr/bin/env bash
# Runs each fuzz target of package pwhash for a while (default one minute each), one at a time. Plain `go test` runs
# only the seed corpus; this is for a developer's machine or a nightly job. Arguments name the targets to run (all
# by default): FuzzNormalize and FuzzNormalizeJSON over every format, and one target per parser family (FuzzBcrypt,
# FuzzArgon2, FuzzScrypt, FuzzFirebase, FuzzPBKDF2, FuzzCrypt, FuzzPhpass, FuzzDigest, FuzzLDAP, FuzzDjango,
# FuzzASPNet, FuzzDESCrypt, FuzzWerkzeug, FuzzSpring). A crasher is kept under testdata/fuzz/<target>/ and the
# script stops there.
#   pwhash/fuzz.sh                      # 1m per target
#   FUZZTIME=10m pwhash/fuzz.sh
#   pwhash/fuzz.sh FuzzLDAP FuzzDjango  # these two only
set -euo pipefail
cd "$(dirname "$0")"
FUZZTIME="${FUZZTIME:-1m}"
if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(go test -list '^Fuzz' . | grep '^Fuzz')
fi
for target in "${targets[@]}"; do
  echo "== $target ($FUZZTIME)"
  go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" .
done
