//! `soulbox runtimes` and running interpreted languages from the command line. These use the
//! real `$SOULBOX_HOME`, so runtimes are fetched once per machine through the user's code path.

use std::process::{Command, Output, Stdio};

use crate::{json, repo, soulbox};

/// Runs `soulbox ARGS` with the caller's own `$SOULBOX_HOME` (shared runtime and module caches).
fn soulbox_shared(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_soulbox"))
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::null())
        .output()
        .expect("run soulbox")
}

#[test]
fn list_shows_the_catalogue_with_versions() {
    let out = soulbox(&["runtimes", "list"], b"");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    for (name, version) in [
        ("python", "3.15"),
        ("python-lite", "3.12.0"),
        ("micropython", "1.27"),
        ("quickjs", "0.11.0"),
        ("ruby", "3.4.1"),
    ] {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} missing from:\n{text}"));
        assert!(line.contains(version), "{line}");
    }
    // The private home of `soulbox()` is empty: nothing is installed there.
    assert!(!text.contains("installed"), "{text}");
}

#[test]
fn offline_without_the_runtime_says_how_to_install_it() {
    let out = soulbox(&["run", "--offline", "-l", "ruby", "-c", "puts 1"], b"");
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("soulbox runtimes install ruby"), "{err}");
    assert!(err.contains("npm"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn unknown_runtime_is_an_error_naming_the_choices() {
    let out = soulbox(
        &["run", "--runtime", "cobol", "-l", "python", "-c", "1"],
        b"",
    );
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cobol") && err.contains("python-lite"),
        "{err}"
    );
}

#[test]
fn sine_wave_example_produces_the_png_artifact() {
    let out = soulbox_shared(&["run", "examples/sine_wave.py", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = json(&out);
    assert_eq!(v["status"], "ok");
    assert_eq!(v["stdout"], "Plot saved!\n");
    let artifacts = v["artifacts"].as_array().cloned().unwrap_or_default();
    let png = artifacts
        .iter()
        .find(|a| a["path"] == "sine_wave.png")
        .unwrap_or_else(|| panic!("no sine_wave.png in {v}"));
    assert_eq!(png["mime_type"], "image/png");
    assert!(png["size"].as_u64().unwrap_or(0) > 5_000, "{png}");
}

#[test]
fn each_language_runs_from_the_command_line_with_its_exit_code() {
    for (args, stdout, code) in [
        (&["run", "-l", "python", "-c", "print('py')"][..], "py\n", 0),
        (
            &[
                "run",
                "--runtime",
                "python-lite",
                "-l",
                "python",
                "-c",
                "import sys; print('lite'); sys.exit(3)",
            ][..],
            "lite\n",
            3,
        ),
        (
            &[
                "run",
                "--runtime",
                "micropython",
                "-l",
                "py",
                "-c",
                "print('micro')",
            ][..],
            "micro\n",
            0,
        ),
        (
            &["run", "-l", "js", "-c", "console.log('js'); std.exit(5)"][..],
            "js\n",
            5,
        ),
        (&["run", "-l", "ruby", "-c", "puts 'rb'"][..], "rb\n", 0),
    ] {
        let out = soulbox_shared(args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), stdout, "{args:?}");
    }
}

#[test]
fn verify_checks_installed_runtimes() {
    let install = soulbox_shared(&["runtimes", "install", "micropython"]);
    assert_eq!(install.status.code(), Some(0), "{install:?}");
    let out = soulbox_shared(&["runtimes", "verify", "micropython"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("micropython 1.27: ok"));
}

#[test]
fn writing_past_the_disk_budget_is_disk_limit_and_exits_125() {
    let dir = tempfile::tempdir().unwrap();
    let out = soulbox_shared(&[
        "run",
        "-l",
        "python",
        "-c",
        "open('big.bin', 'wb').write(b'x' * (3 << 20))",
        "--max-disk",
        "1MiB",
        "--workdir",
        dir.path().to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    let v = json(&out);
    assert_eq!(v["status"], "disk_limit");
    assert!(
        v["stderr"]
            .as_str()
            .unwrap_or("")
            .contains("No space left on device")
    );
    let size = std::fs::metadata(dir.path().join("big.bin")).map_or(0, |m| m.len());
    assert!(size <= 1 << 20, "{size} bytes reached the disk");
}
