# Shared settings for SoulBox's scripts (sourced, not run).
# Build output and runtime caches live outside the checkout so fresh clones (and CI runs on the
# same machine) reuse them; a brand-new machine simply starts empty.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/soulbox-target}"
export SOULBOX_HOME="${SOULBOX_HOME:-$HOME/.cache/soulbox}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-auto}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT
