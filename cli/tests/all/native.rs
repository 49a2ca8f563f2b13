//! `soulbox run --backend native`: the isolation list in JSON, and what a host that cannot give
//! the full isolation does (refuses, or runs with less and says so). Root-only, like CI.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{json, soulbox};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn isolation(v: &serde_json::Value) -> Vec<String> {
    v["isolation"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn python_on_the_native_backend_reports_its_isolation() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let script = dir.path().join("x.py");
    std::fs::write(
        &script,
        "import sys\nprint('hi from', sys.version_info[0])\n",
    )
    .expect("write");
    let path = script.to_string_lossy().into_owned();
    let out = soulbox(
        &[
            "run",
            "--backend",
            "native",
            "-l",
            "python",
            &path,
            "--json",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = json(&out);
    assert_eq!(v["status"], "ok");
    assert_eq!(v["stdout"], "hi from 3\n");
    let layers = isolation(&v);
    for layer in [
        "user-namespace",
        "pid-namespace",
        "net-namespace",
        "no-network",
        "seccomp",
    ] {
        assert!(layers.iter().any(|l| l == layer), "{layer}: {layers:?}");
    }
}

#[test]
fn shell_code_runs_natively_and_exit_codes_pass_through() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let out = soulbox(
        &["run", "-l", "sh", "-c", "echo $1; exit 7", "--", "arg"],
        b"",
    );
    assert_eq!(out.status.code(), Some(7), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "arg\n");
}

#[test]
fn a_setuid_copy_of_sh_left_in_the_workdir_is_no_root_shell_on_the_host() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let workdir = dir.path().to_string_lossy().into_owned();
    let out = soulbox(
        &[
            "run",
            "-l",
            "sh",
            "--workdir",
            &workdir,
            "-c",
            "cp /bin/sh /work/s && chmod 4755 /work/s && stat -c %a /work/s",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "4755\n");
    let meta = std::fs::symlink_metadata(dir.path().join("s")).expect("s on the host");
    assert_ne!(meta.uid(), 0, "owned by root");
    assert_eq!(meta.mode() & 0o6000, 0, "mode {:o}", meta.mode());
}

/// Runs `soulbox ARGS` with `stdin` as its standard input.
fn soulbox_with_stdin(args: &[&str], stdin: impl Into<Stdio>) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_soulbox"))
        .args(args)
        .stdin(stdin)
        .output()
        .expect("run soulbox")
}

#[test]
fn a_directory_or_a_socket_on_stdin_is_a_usage_error_and_never_reaches_the_guest() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("host-secret"), "s").expect("write");
    // A guest given the directory would list it through its stdin.
    let run = [
        "run",
        "--backend",
        "native",
        "-l",
        "sh",
        "-c",
        "ls /proc/self/fd/0/; cd /proc/self/fd/0 && ls",
    ];
    let out = soulbox_with_stdin(&run, File::open(dir.path()).expect("open dir"));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("stdin is a directory"), "{stderr}");
    assert!(!stderr.contains("host-secret"), "{stderr}");

    let (socket, _peer) = std::os::unix::net::UnixStream::pair().expect("socket pair");
    let out = soulbox_with_stdin(&run, OwnedFd::from(socket));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("stdin is a socket"));

    // The usual inputs still work.
    let cat = ["run", "-l", "sh", "-c", "cat"];
    let file = dir.path().join("host-secret");
    let out = soulbox_with_stdin(&cat, File::open(&file).expect("open file"));
    assert_eq!(
        (out.status.code(), &out.stdout[..]),
        (Some(0), &b"s"[..]),
        "{out:?}"
    );
    let out = soulbox_with_stdin(&cat, Stdio::null());
    assert_eq!(
        (out.status.code(), &out.stdout[..]),
        (Some(0), &b""[..]),
        "{out:?}"
    );
}

/// A copy of the `soulbox` binary in a directory anyone may read, owned by root.
fn public_binary() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let binary = dir.path().join("soulbox");
    std::fs::copy(env!("CARGO_BIN_EXE_soulbox"), &binary).expect("copy soulbox");
    (dir, binary)
}

/// Runs `binary ARGS` as the unprivileged user `nobody`.
fn as_nobody(binary: &Path, args: &[&str]) -> std::process::Output {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(binary)
        .args(args)
        .current_dir("/")
        .env_clear()
        .env("HOME", "/tmp")
        .env("SOULBOX_HOME", "/tmp/soulbox-nobody-home")
        .output()
        .expect("run setpriv")
}

#[test]
fn without_root_cgroups_are_missing_so_the_run_is_refused_unless_weaker_is_accepted() {
    if !is_root() || Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("skipped: needs root and setpriv");
        return;
    }
    let (_dir, binary) = public_binary();
    let run = [
        "run",
        "--backend",
        "native",
        "-l",
        "sh",
        "-c",
        "echo rootless",
        "--json",
    ];
    let refused = as_nobody(&binary, &run);
    assert_eq!(refused.status.code(), Some(125), "{refused:?}");
    let v = json(&refused);
    assert!(v["status"].is_null());
    let error = v["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("cgroups") && error.contains("--allow-weaker-isolation"),
        "{error}"
    );

    let mut weaker = run.to_vec();
    weaker.push("--allow-weaker-isolation");
    let out = as_nobody(&binary, &weaker);
    let v = json(&out);
    assert_eq!(v["status"], "ok", "{v}");
    assert_eq!(v["stdout"], "rootless\n");
    let layers = isolation(&v);
    assert!(layers.iter().any(|l| l == "rlimits"), "{layers:?}");
    assert!(
        !layers.iter().any(|l| l.starts_with("cgroup-v")),
        "{layers:?}"
    );
}

#[test]
fn with_no_namespaces_at_all_only_process_level_layers_remain_and_are_listed() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    // Inside a native sandbox, seccomp forbids new namespaces and there are no cgroups: the
    // sandbox is a host that can give only the process-level layers.
    let workdir = tempfile::tempdir().expect("dir");
    std::fs::copy(
        env!("CARGO_BIN_EXE_soulbox"),
        workdir.path().join("soulbox"),
    )
    .expect("copy");
    let inner = "/work/soulbox run --backend native -l sh -c 'echo inner' --json; \
                 /work/soulbox run --backend native -l sh -c 'echo inner' --json --allow-weaker-isolation";
    let dir = workdir.path().to_string_lossy().into_owned();
    let out = soulbox(
        &[
            "run",
            "--backend",
            "native",
            "--workdir",
            &dir,
            "-l",
            "sh",
            "-c",
            inner,
        ],
        b"",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{out:?}");
    let refused: serde_json::Value = serde_json::from_str(lines[0]).expect("json");
    assert!(refused["status"].is_null(), "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .unwrap_or_default()
            .contains("user namespace"),
        "{refused}"
    );
    let weaker: serde_json::Value = serde_json::from_str(lines[1]).expect("json");
    assert_eq!(weaker["status"], "ok", "{weaker}");
    assert_eq!(weaker["stdout"], "inner\n");
    let layers = isolation(&weaker);
    assert!(
        !layers.iter().any(|l| l.ends_with("-namespace")),
        "{layers:?}"
    );
    for layer in ["capabilities-dropped", "no-new-privs", "seccomp", "rlimits"] {
        assert!(layers.iter().any(|l| l == layer), "{layer}: {layers:?}");
    }
}
