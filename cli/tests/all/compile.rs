//! `soulbox run` on Rust, C and C++ files, and `soulbox toolchains list | install`.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::json;

/// Runs `soulbox ARGS` with a private cache but the real, shared toolchains.
fn soulbox_env(args: &[&str], stdin: &[u8], env: &[(&str, &Path)]) -> Output {
    use std::io::Write;
    static HOME: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let home = HOME.get_or_init(|| tempfile::tempdir().expect("home"));
    let toolchains = soulbox::toolchains::default_toolchains_dir(
        &soulbox::default_home().expect("SOULBOX_HOME"),
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_soulbox"));
    cmd.args(args)
        .current_dir(crate::repo())
        .env("SOULBOX_HOME", home.path())
        .env("SOULBOX_TOOLCHAINS", &toolchains)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        cmd.env(key, value);
    }
    let mut child = cmd.spawn().expect("spawn soulbox");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin).expect("write stdin");
    drop(input);
    child.wait_with_output().expect("wait")
}

fn soulbox(args: &[&str], stdin: &[u8]) -> Output {
    soulbox_env(args, stdin, &[])
}

fn source(dir: &tempfile::TempDir, name: &str, code: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, code).expect("write source");
    path.to_string_lossy().into_owned()
}

#[test]
fn run_main_rs_with_args_and_stdin() {
    let dir = tempfile::tempdir().expect("dir");
    let file = source(
        &dir,
        "main.rs",
        "use std::io::Read;\nfn main() {\n    let mut s = String::new();\n    std::io::stdin().read_to_string(&mut s).unwrap();\n    println!(\"{} {}\", std::env::args().skip(1).collect::<Vec<_>>().join(\"+\"), s.trim());\n}\n",
    );
    let out = soulbox(&["run", &file, "--", "a", "b"], b"piped");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a+b piped\n");
}

#[test]
fn run_main_rs_as_a_component() {
    let dir = tempfile::tempdir().expect("dir");
    let file = source(
        &dir,
        "main.rs",
        "fn main() {\n    println!(\"{} from a component\", std::env::args().nth(1).unwrap());\n}\n",
    );
    let out = soulbox(&["run", &file, "--component", "--json", "--", "hello"], b"");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = json(&out);
    assert_eq!(v["status"], "ok", "{v}");
    assert_eq!(v["stdout"], "hello from a component\n");
    // C cannot be a component: a usage-level error from the engine, nothing runs.
    let c = source(&dir, "prog.c", "int main(void) { return 0; }\n");
    let refused = soulbox(&["run", &c, "--component"], b"");
    assert_ne!(refused.status.code(), Some(0), "{refused:?}");
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .contains("only Rust can be compiled as a component"),
        "{refused:?}"
    );
}

#[test]
fn run_prog_c_and_prog_cpp() {
    let dir = tempfile::tempdir().expect("dir");
    let c = source(
        &dir,
        "prog.c",
        "#include <stdio.h>\nint main(void) { printf(\"from c\\n\"); return 0; }\n",
    );
    let out = soulbox(&["run", &c, "--json"], b"");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = json(&out);
    assert_eq!(v["status"], "ok");
    assert_eq!(v["stdout"], "from c\n");
    let isolation = v["isolation"].as_array().cloned().unwrap_or_default();
    assert!(
        isolation
            .iter()
            .any(|i| i.as_str().is_some_and(|s| s.starts_with("compile:bwrap"))),
        "{isolation:?}"
    );
    let cpp = source(
        &dir,
        "prog.cpp",
        "#include <iostream>\nint main() { std::cout << \"from c++\" << std::endl; }\n",
    );
    let out = soulbox(&["run", &cpp, "--release"], b"");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from c++\n");
}

#[test]
fn compile_error_exits_1_with_the_diagnostics_on_stderr() {
    let dir = tempfile::tempdir().expect("dir");
    let c = source(&dir, "broken.c", "int main(void) {\n  return x;\n}\n");
    let out = soulbox(&["run", &c], b"");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("broken.c:2:10: error:"), "{stderr}");
    assert!(out.stdout.is_empty());
    let out = soulbox(&["run", &c, "--json"], b"");
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!(v["status"], "compile_error");
    assert!(v["stderr"].as_str().unwrap_or("").contains("broken.c:2:10"));
}

#[test]
fn toolchains_list_shows_every_part() {
    let out = soulbox(&["toolchains", "list"], b"");
    let stdout = String::from_utf8_lossy(&out.stdout);
    for part in ["rust ", "rust-crates ", "clang ", "wasi-sysroot ", "bwrap "] {
        assert!(stdout.contains(part), "{part} missing from:\n{stdout}");
    }
    assert_eq!(
        out.status.code(),
        Some(0),
        "set-up installs everything: {stdout}"
    );
    assert!(!stdout.contains("missing"), "{stdout}");
}

#[test]
fn toolchains_install_is_idempotent_and_quiet_on_stdout() {
    let out = soulbox(&["toolchains", "install", "--offline"], b"");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stdout.is_empty(), "progress goes to stderr");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already"), "{stderr}");
}

#[test]
fn offline_install_into_an_empty_place_prints_what_to_run() {
    let empty = tempfile::tempdir().expect("dir");
    let dir = empty.path().join("toolchains");
    let rustup = empty.path().join("rustup");
    let out = soulbox_env(
        &[
            "toolchains",
            "install",
            "--offline",
            "--dir",
            &dir.to_string_lossy(),
        ],
        b"",
        &[("RUSTUP_HOME", &rustup)],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("rustup toolchain install 1.95.0"),
        "{stderr}"
    );
    assert!(stderr.contains("soulbox toolchains install"), "{stderr}");
    assert!(
        !dir.join("wasi-sysroot-22.0.0-git20542-10").exists(),
        "offline must not fetch"
    );
}
