//! `soulbox repl`: a Python session fed from a pipe, cells separated by `%%` lines. Uses the real
//! `$SOULBOX_HOME` (shared runtime and module caches), like the other runtime tests.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::repo;

fn repl(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_soulbox"))
        .arg("repl")
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn soulbox repl");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).expect("write stdin");
    drop(input);
    child.wait_with_output().expect("wait")
}

#[test]
fn cells_share_state_and_print_their_values() {
    let out = repl(
        &["-l", "python"],
        "x = 41\n%%\nprint(x + 1)\n%%\nitems = [x, x + 1]\nitems\n",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout, "42\n[41, 42]\n");
}

#[test]
fn the_printf_form_of_the_separator_works_too() {
    // `printf 'x = 41\n%%\nprint(x + 1)\n'` writes a lone `%` line.
    let out = repl(&["-l", "python"], "x = 41\n%\nprint(x + 1)\n");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "42\n");
}

#[test]
fn an_exception_is_reported_and_a_limit_stops_the_session() {
    let out = repl(
        &["-l", "python", "--timeout", "2s"],
        "y = 1\n%%\n1/0\n%%\ny + 1\n%%\nwhile True: pass\n%%\nprint('never')\n",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(stdout, "2\n");
    assert!(stderr.contains("ZeroDivisionError"), "{stderr}");
    assert!(
        stderr.contains("timeout") && stderr.contains("poisoned"),
        "{stderr}"
    );
}

#[test]
fn ruby_cells_share_state() {
    let out = repl(
        &["-l", "ruby"],
        "x = 41\n%%\nputs x + 1\n%%\nraise 'boom'\n%%\nx\n",
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    // An assignment's value is shown, as irb does; `puts` gives nil, so no value.
    assert_eq!(String::from_utf8_lossy(&out.stdout), "41\n42\n41\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("boom (RuntimeError)"));
}

#[test]
fn javascript_cells_share_state_and_print_output_then_value() {
    let out = repl(
        &["-l", "javascript"],
        "let x = 41\n%%\nconsole.log('out')\nx + 1\n%%\nconst o = { x, s: 'str' }\no\n%%\nawait Promise.resolve('done')\n",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout, "out\n42\n{ x: 41, s: 'str' }\n'done'\n");
}

#[test]
fn a_javascript_exception_fails_the_run_but_later_cells_still_see_the_state() {
    let out = repl(
        &["-l", "js"],
        "const keep = 7\n%%\nthrow new Error('bad')\n%%\nkeep * 6\n",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(stdout, "42\n");
    assert!(stderr.contains("Error: bad"), "{stderr}");
}

#[test]
fn a_session_saved_by_one_process_continues_in_another() {
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("py.snap");
    let snap_arg = snap.to_str().unwrap();
    let out = repl(
        &["-l", "python", "--save", snap_arg],
        "import json\nx = 41\n%%\nwith open('note.txt', 'w') as f:\n    f.write('hi')\n",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{out:?}");
    assert!(stderr.contains("session saved to"), "{stderr}");
    assert!(snap.exists());

    // A second process: the interpreter state and the workspace file are back.
    let out = repl(
        &["--restore", snap_arg],
        "x + 1\n%%\njson.dumps(open('note.txt').read())\n",
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "42\n'\"hi\"'\n");

    // The snapshot's language wins; asking for another is a usage error.
    let out = repl(&["-l", "ruby", "--restore", snap_arg], "1\n");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds a python session"));

    // A damaged file is refused with the reason, before any cell runs.
    let mut bytes = std::fs::read(&snap).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    let bad = dir.path().join("bad.snap");
    std::fs::write(&bad, bytes).unwrap();
    let out = repl(&["--restore", bad.to_str().unwrap()], "print('never')\n");
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("checksum"));
    assert!(out.stdout.is_empty());
}

#[test]
fn ruby_saves_with_the_save_command_and_restores() {
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("rb.snap");
    let out = repl(
        &["-l", "ruby", "--meta-commands"],
        &format!(
            "total = 40\ndef inc(n) = n + 1\n%%\n%save {}\n%%\ntotal = 0\n",
            snap.display()
        ),
    );
    assert!(out.status.success(), "{out:?}");
    let out = repl(&["--restore", snap.to_str().unwrap()], "inc(total + 1)\n");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "42\n");
}

/// Piped cells are often the untrusted code itself: a `%save PATH` among them would write a
/// snapshot (whose workspace part the cells control) wherever the user can write. From a pipe
/// the meta-commands are refused unless `--meta-commands` says the input is trusted.
#[test]
fn piped_cells_cannot_save_or_reset_without_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("pwn");
    let input = format!(
        "x = 1\n%%\n%save {}\n%%\n%reset\n%%\n'x' in globals()\n",
        target.display()
    );
    let out = repl(&["-l", "python"], &input);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(!target.exists(), "a piped cell wrote a host file");
    assert!(
        stderr.contains("`%save` is ignored") && stderr.contains("--meta-commands"),
        "{stderr}"
    );
    assert!(stderr.contains("`%reset` is ignored"), "{stderr}");
    // `%reset` was not obeyed either: x survived.
    assert_eq!(String::from_utf8_lossy(&out.stdout), "True\n");

    // The printf form of the attack (`printf 'x=1\n%%\n%%save /tmp/pwn\n'`: one `%` per line).
    let out = repl(
        &["-l", "python"],
        &format!("x=1\n%\n%save {}\n", target.display()),
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(!target.exists());

    // Trusted input may ask for them.
    let out = repl(&["-l", "python", "--meta-commands"], &input);
    assert!(out.status.success(), "{out:?}");
    assert!(target.exists(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "False\n", "{out:?}");
}

/// `--restore` of a device or a FIFO is a prompt, clear refusal (exit 125), not a read of
/// `/dev/zero` into memory or a wait on the FIFO.
#[test]
fn restoring_from_a_device_or_a_fifo_fails_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("snap.fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    for (path, needle) in [
        ("/dev/zero", "a device"),
        (fifo.to_str().unwrap(), "a FIFO"),
    ] {
        let started = std::time::Instant::now();
        let out = repl(&["--restore", path], "1\n");
        assert_eq!(out.status.code(), Some(125), "{path}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{path}: {stderr}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{path}"
        );
    }
}
