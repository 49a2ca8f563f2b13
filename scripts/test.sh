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
# The Python package, built into a fresh virtualenv and tested with pytest; its counts join
# cargo's in the summary line ("N passed" / "N failed" / "N error(s)" of pytest's last line).
echo "==> Python package (bindings/python)"
pylog="$(mktemp)"
trap 'rm -f "$log" "$pylog"' EXIT
set +e
bash "$ROOT/scripts/test-python.sh" 2>&1 | tee "$pylog"
pystatus=${PIPESTATUS[0]}
set -e
read -r passed failed < <(awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { print p + 0, f + 0 }' "$log")
# pytest's last line: "90 passed, 2 failed, 1 error in 20.05s" (errors count as failures).
read -r py_passed py_failed < <(awk '/^=*[[:space:]]*[0-9]+ (passed|failed|errors?)/ {
       p = 0; f = 0
       for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p = $i; if ($(i+1) ~ /^(failed|errors?)/) f += $i } }
     END { print p + 0, f + 0 }' "$pylog")
if [ "$pystatus" != 0 ] && [ "$py_failed" = 0 ]; then
  # pytest never ran (the build failed) or ended without a summary: count it as one failure.
  py_failed=1
fi
echo "$((passed + py_passed)) passed, $((failed + py_failed)) failed"
if [ "$status" != 0 ]; then exit "$status"; fi
exit "$pystatus"
