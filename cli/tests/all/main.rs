//! Integration tests of the `soulbox` command: the CLI contract scripts rely on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod agents;
mod compile;
#[cfg(target_os = "linux")]
mod native;
mod network;
mod packages;
mod repl;
mod run;
mod runtimes;
mod serve;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository root (examples live there).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `soulbox ARGS` with `stdin` and a private cache directory.
pub fn soulbox(args: &[&str], stdin: &[u8]) -> Output {
    use std::io::Write;
    static HOME: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let home = HOME.get_or_init(|| tempfile::tempdir().expect("home"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_soulbox"))
        .args(args)
        .current_dir(repo())
        .env("SOULBOX_HOME", home.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn soulbox");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin).expect("write stdin");
    drop(input);
    child.wait_with_output().expect("wait")
}

/// Runs `soulbox ARGS` with `stdin` and extra environment variables, on the caller's
/// `$SOULBOX_HOME` (the installed runtimes).
pub fn soulbox_with_env(args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_soulbox"))
        .args(args)
        .current_dir(repo())
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn soulbox");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin).expect("write stdin");
    drop(input);
    child.wait_with_output().expect("wait")
}

pub fn json(out: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines().count(),
        1,
        "exactly one JSON line expected: {text}"
    );
    serde_json::from_str(&text).expect("valid JSON")
}
