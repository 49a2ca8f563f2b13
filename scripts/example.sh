#!/usr/bin/env bash
# Runs SoulBox's main example end to end: sets up the toolchain, builds the `soulbox` command
# (cargo shows its progress), and runs the example inside a sandbox.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
cargo build --release -p soulbox-cli
exec "$CARGO_TARGET_DIR/release/soulbox" run examples/hello.wat "$@"
