#!/usr/bin/env bash
# The whole test suite: format check, clippy (warnings are errors), every crate's tests.
# Prints one summary line at the end: "N passed, N failed".
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> wall rule: std::fs only in audited places"
bash "$ROOT/scripts/check-wall.sh"
echo "==> layers: no import cycles"
bash "$ROOT/scripts/check-layers.sh"
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "==> cargo test"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
exit "$status"
