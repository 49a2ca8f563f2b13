#!/usr/bin/env bash
# The wall rule's check (DESIGN.md, "The wall rule"): in the engine and the drivers, clippy refuses
# std::fs and link-following path calls (engine/clippy.toml, language-runtimes/clippy.toml), so
# host code reaches guest-writable paths only through cap-std (engine/src/workspace/guest_fs.rs).
# The few places allowed to use them touch only trusted host paths; each says why at the allow.
# This check fails when that set changes without scripts/wall-audited.txt changing with it, so
# every new exception is a reviewed line in a diff. Test modules may plant host files freely.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

for crate in engine language-runtimes; do
  grep -q 'disallowed-methods' "$crate/clippy.toml" ||
    { echo "check-wall: $crate/clippy.toml lost its disallowed-methods list" >&2; exit 1; }
done
cmp -s engine/clippy.toml language-runtimes/clippy.toml ||
  { echo "check-wall: engine/clippy.toml and language-runtimes/clippy.toml differ" >&2; exit 1; }

# Every allow outside a `mod tests` attribute, as "path: the line after it".
found=$(awk '
  /allow\(clippy::disallowed_methods\)/ { pending = FILENAME; next_is = 1; next }
  next_is { if ($0 !~ /^[[:space:]]*mod tests/) print pending; next_is = 0 }
' $(git ls-files 'engine/src/*.rs' 'language-runtimes/src/*.rs') | sort | uniq -c | awk '{ print $2 " " $1 }')
expected=$(grep -v '^#' scripts/wall-audited.txt | awk 'NF { print $1 " " $2 }' | sort)
if [ "$found" != "$expected" ]; then
  echo "check-wall: the places exempt from the wall rule changed; review them and update scripts/wall-audited.txt" >&2
  diff <(echo "$expected") <(echo "$found") >&2 || true
  exit 1
fi
echo "check-wall: $(echo "$found" | wc -l) audited places, as listed"
