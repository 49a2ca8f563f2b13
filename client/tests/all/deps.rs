//! The point of the crate: a program that talks to a remote SoulBox never compiles Wasmtime,
//! Cranelift or the engine.

use std::path::Path;
use std::process::Command;

/// Crates that must never appear among `soulbox-client`'s normal dependencies.
const FORBIDDEN: [&str; 4] = ["wasmtime", "cranelift", "soulbox ", "soulbox-runtimes"];

#[test]
fn dependency_tree_has_no_engine() {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir.parent().unwrap_or(manifest_dir);
    let output = match Command::new(env!("CARGO"))
        .args([
            "tree",
            "-p",
            "soulbox-client",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .current_dir(workspace)
        .output()
    {
        Ok(output) => output,
        Err(e) => panic!("cargo tree does not run: {e}"),
    };
    let tree = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        tree.lines().any(|l| l.starts_with("soulbox-client")),
        "cargo tree did not list the crate itself:\n{tree}"
    );
    assert!(
        tree.lines().any(|l| l.starts_with("tonic")),
        "the client talks gRPC through tonic:\n{tree}"
    );
    let offending: Vec<&str> = tree
        .lines()
        .filter(|line| FORBIDDEN.iter().any(|name| line.starts_with(name)))
        .collect();
    assert!(
        offending.is_empty(),
        "soulbox-client must stay free of the engine, but depends on: {offending:?}"
    );
}
