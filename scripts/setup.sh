#!/usr/bin/env bash
# Installs what building and testing SoulBox needs, idempotently: the pinned Rust toolchain with
# its wasm targets (rust-toolchain.toml). Safe to run any number of times.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

if ! command -v rustup >/dev/null 2>&1; then
  echo "setup: rustup is required; it installs the toolchain pinned in rust-toolchain.toml" >&2
  exit 1
fi
# Installs the channel, components and targets named in rust-toolchain.toml if any is missing.
RUSTUP_AUTO_INSTALL=1 rustup toolchain install >/dev/null
rustup target list --installed | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1 wasm32-wasip2
# The native backend's tests run the host's python3 in the sandbox and the CLI as `nobody` (setpriv).
if ! command -v python3 >/dev/null 2>&1 || ! command -v setpriv >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq python3 util-linux >/dev/null
  else
    echo "setup: python3 and setpriv (util-linux) are needed by the native backend's tests" >&2
  fi
fi
mkdir -p "$CARGO_TARGET_DIR" "$SOULBOX_HOME"
