//! `soulbox run --install`, `--lock`, `--offline` and `soulbox packages`: on the caller's own
//! `$SOULBOX_HOME` (installed runtimes, the shared package cache), except `packages clear`,
//! which gets a private one.

use std::process::{Command, Output, Stdio};

use crate::{json, repo, soulbox};

fn soulbox_shared(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_soulbox"))
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::null())
        .output()
        .expect("run soulbox")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn run_install_requests_prints_its_version_and_a_lock_reproduces_it_offline() {
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("lock.json");
    let lock_arg = lock.to_str().unwrap();
    let out = soulbox_shared(&[
        "run",
        "--install",
        "requests",
        "--write-lock",
        lock_arg,
        "-c",
        "import requests; print(requests.__version__)",
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let version = stdout.trim();
    assert!(
        version.split('.').count() >= 2 && version.chars().all(|c| c.is_ascii_digit() || c == '.'),
        "{stdout}"
    );
    assert!(stderr.contains("requests"), "{stderr}");
    let locked: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&lock).unwrap()).unwrap();
    assert!(
        locked
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "urllib3" && p["digest"].as_str().unwrap().starts_with("sha256:")),
        "{locked}"
    );
    // The lock, offline, as JSON: one object, the same version.
    let out = soulbox_shared(&[
        "run",
        "--offline",
        "--lock",
        lock_arg,
        "--json",
        "-l",
        "python",
        "-c",
        "import requests; print(requests.__version__)",
    ]);
    let result = json(&out);
    assert_eq!(result["status"], "ok", "{result}");
    assert_eq!(result["stdout"].as_str().unwrap().trim(), version);
}

#[test]
fn offline_install_of_something_never_fetched_says_what_is_missing() {
    let out = soulbox_shared(&[
        "run",
        "--offline",
        "--install",
        "soulbox-never-fetched-xyzzy==1.0",
        "-c",
        "pass",
    ]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(125), "{stderr}");
    assert!(
        stderr.contains("offline") && stderr.contains("soulbox-never-fetched-xyzzy==1.0"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[test]
fn refused_packages_are_one_line_errors_naming_them() {
    let out = soulbox_shared(&["run", "--install", "pycrypto", "-c", "pass"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(125), "{stderr}");
    let last = stderr.trim().lines().last().unwrap_or_default();
    assert!(
        last.contains("pycrypto") && last.contains("sdist"),
        "{stderr}"
    );
    let out = soulbox_shared(&["run", "--install", "./setup-py-project", "-c", "pass"]);
    let (_, stderr) = text(&out);
    assert!(stderr.contains("only registry packages"), "{stderr}");
}

#[test]
fn packages_list_and_clear_on_a_private_cache() {
    let out = soulbox(&["packages", "list"], b"");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("no packages cached"), "{stdout}");
    let out = soulbox(&["packages", "list", "--json"], b"");
    assert_eq!(json(&out), serde_json::json!([]));
    let out = soulbox(&["packages", "clear"], b"");
    let (stdout, _) = text(&out);
    assert!(stdout.contains("removed 0 cached packages"), "{stdout}");
}
