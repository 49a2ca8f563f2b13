#!/usr/bin/env bash
# Runs SoulBox's main example end to end: sets up the toolchain, builds the release `soulbox`
# command once (cargo shows its progress), and runs the seed's sine-wave plot (numpy + matplotlib) inside a
# sandbox. On first use the Python runtime is fetched from PyPI and compiled, with progress on
# stderr. The plot lands in example-output/sine_wave.png.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
# setup.sh builds the release `soulbox` (with cargo's progress) and installs toolchains and
# runtimes with it: one build of the workspace on a fresh machine.
SOULBOX_PROFILE=release bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
out="$ROOT/example-output"
mkdir -p "$out"
"$CARGO_TARGET_DIR/release/soulbox" run examples/sine_wave.py --workspace "$out" "$@"
echo "example: $(du -b "$out/sine_wave.png" | cut -f1) bytes written to $out/sine_wave.png" >&2
