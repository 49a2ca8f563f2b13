//! The point of the crate: a client that depends on it never compiles Wasmtime, Cranelift, a
//! tokio runtime or cap-std.

use std::path::Path;
use std::process::Command;

/// Crates that must never appear among `soulbox-api`'s normal dependencies.
const FORBIDDEN: [&str; 4] = ["wasmtime", "cranelift", "tokio", "cap-std"];

#[test]
fn dependency_tree_has_no_runtime() {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir.parent().unwrap_or(manifest_dir);
    let output = Command::new(env!("CARGO"))
        .args([
            "tree",
            "-p",
            "soulbox-api",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .current_dir(workspace)
        .output()
        .expect("cargo tree runs");
    let tree = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        tree.lines().any(|l| l.starts_with("soulbox-api")),
        "cargo tree did not list the crate itself:\n{tree}"
    );
    let offending: Vec<&str> = tree
        .lines()
        .filter(|line| FORBIDDEN.iter().any(|name| line.starts_with(name)))
        .collect();
    assert!(
        offending.is_empty(),
        "soulbox-api must stay free of runtimes, but depends on: {offending:?}"
    );
}
