#!/usr/bin/env bash
# The Python package's tests: builds bindings/python into a fresh virtualenv exactly as a user
# installs it (`pip install ./bindings/python`, maturin fetched by pip as the PEP 517 backend),
# installs the pinned pytest, and runs bindings/python/tests (which also run the examples and a
# `soulbox serve` for remote mode). Run by scripts/test.sh after the workspace is built.
#
# The wheel reuses the workspace's build: the dev profile and CARGO_TARGET_DIR, with the feature
# that makes its single-package build resolve the same dependency features as
# `cargo build --workspace --all-targets` (see bindings/python/Cargo.toml). This script fails if
# cargo compiled Wasmtime or Cranelift for the wheel anyway.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

PYTEST_VERSION=9.2.0
# Same path every run (so PyO3's build sees the same interpreter and is not rebuilt), fresh
# contents every run; under the target directory, which is this checkout's own.
venv="$CARGO_TARGET_DIR/python-test-venv"
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check "pytest==$PYTEST_VERSION"

build_log="$CARGO_TARGET_DIR/python-wheel-build.log"
echo "==> pip install ./bindings/python (maturin, dev profile, shared target dir)"
if ! MATURIN_PEP517_ARGS="--profile dev --features reuse-workspace-build" \
  "$venv/bin/python" -m pip install -v --disable-pip-version-check ./bindings/python >"$build_log" 2>&1; then
  tail -50 "$build_log" >&2
  echo "test-python: building the package failed (full log: $build_log)" >&2
  exit 1
fi
grep -E '^\s+(Compiling|Finished)' "$build_log" || true
if grep -qE '^\s+Compiling (wasmtime|cranelift)' "$build_log"; then
  echo "test-python: the wheel build compiled Wasmtime/Cranelift again instead of reusing the" >&2
  echo "workspace's build: align the features of 'reuse-workspace-build' in bindings/python/Cargo.toml" >&2
  exit 1
fi

echo "==> pytest bindings/python/tests"
cd "$ROOT/bindings/python"
SOULBOX_BIN="$CARGO_TARGET_DIR/debug/soulbox" "$venv/bin/python" -m pytest -p no:cacheprovider -q tests
