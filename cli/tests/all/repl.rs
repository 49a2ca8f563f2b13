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
