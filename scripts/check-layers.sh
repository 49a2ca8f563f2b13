#!/usr/bin/env bash
# No module of a crate imports (directly or through others) a module that imports it: checked for
# every crate's source tree (each top-level folder with a Cargo.toml), both file by file and between top-level modules.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# The check itself must see a cycle: a two-module crate whose modules import each other.
fixture=$(mktemp -d)
trap 'rm -rf "$fixture"' EXIT
printf 'mod a;\nmod b;\n' >"$fixture/lib.rs"
printf 'use crate::b::B;\npub struct A;\n' >"$fixture/a.rs"
printf 'pub struct B(crate::a::A);\n' >"$fixture/b.rs"
if python3 scripts/module-cycles.py "$fixture" >/dev/null; then
  echo "check-layers: the checker missed a planted cycle" >&2
  exit 1
fi
status=0
for manifest in */Cargo.toml; do
  src="$(dirname "$manifest")/src"
  [ -d "$src" ] || continue
  for level in 1 99; do
    if ! out=$(python3 scripts/module-cycles.py "$src" "$level"); then
      echo "check-layers: import cycle in $src:" >&2
      echo "$out" >&2
      status=1
    fi
  done
done
[ "$status" = 0 ] && echo "check-layers: no import cycles"
exit "$status"
