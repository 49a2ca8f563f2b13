//! `soulbox run`: plain mode, JSON mode, exit codes, usage errors.

use std::time::{Duration, Instant};

use crate::{json, soulbox};

#[test]
fn hello_example_prints_its_greeting() {
    let out = soulbox(&["run", "examples/hello.wat"], b"");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Hello from SoulBox!"));
}

#[test]
fn spin_times_out_in_about_a_second_with_json() {
    let started = Instant::now();
    let out = soulbox(
        &["run", "examples/spin.wat", "--timeout", "1s", "--json"],
        b"",
    );
    let elapsed = started.elapsed();
    assert_eq!(out.status.code(), Some(124));
    let v = json(&out);
    assert_eq!(v["status"], "timeout");
    assert!(v["exit_code"].is_null());
    assert!(v["fuel_consumed"].as_u64().unwrap_or(0) > 0);
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed < Duration::from_secs(10),
        "{elapsed:?}"
    );
}

#[test]
fn json_has_every_field_of_the_contract() {
    let out = soulbox(&["run", "examples/hello.wat", "--json"], b"");
    let v = json(&out);
    for key in [
        "status",
        "exit_code",
        "stdout",
        "stderr",
        "execution_time_ms",
        "memory_usage",
        "fuel_consumed",
        "artifacts",
        "error",
    ] {
        assert!(v.get(key).is_some(), "missing {key}: {v}");
    }
    assert_eq!(v["status"], "ok");
    assert_eq!(v["exit_code"], 0);
}

#[test]
fn guest_exit_code_and_stdin_pass_through() {
    let cat_and_exit = r#"(module
      (import "wasi_snapshot_preview1" "fd_read" (func $r (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (func (export "_start")
        (i32.store (i32.const 0) (i32.const 100)) (i32.store (i32.const 4) (i32.const 1000))
        (drop (call $r (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
        (i32.store (i32.const 4) (i32.load (i32.const 8)))
        (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
        (call $exit (i32.const 42))))"#;
    let out = soulbox(&["run", "-l", "wat", "-c", cat_and_exit], b"piped input");
    assert_eq!(out.status.code(), Some(42));
    assert_eq!(out.stdout, b"piped input");
}

#[test]
fn memory_limit_exits_137() {
    let hog = r#"(module (memory 1) (func (export "_start")
        (loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) unreachable))"#;
    let out = soulbox(
        &[
            "run", "-l", "wasm", "-c", hog, "--memory", "16MiB", "--json",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(137));
    let v = json(&out);
    assert_eq!(v["status"], "memory_limit");
    assert!(v["memory_usage"].as_u64().unwrap_or(u64::MAX) <= 16 << 20);
}

#[test]
fn workdir_files_are_visible_and_outputs_stay_and_are_listed() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("input.txt"), "in").expect("write");
    let writer = r#"(module
      (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 100) "result.txt")
      (data (i32.const 200) "done")
      (func (export "_start")
        (drop (call $open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 10) (i32.const 9) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 48)))
        (i32.store (i32.const 0) (i32.const 200)) (i32.store (i32.const 4) (i32.const 4))
        (drop (call $w (i32.load (i32.const 48)) (i32.const 0) (i32.const 1) (i32.const 8)))))"#;
    let wd = dir.path().to_string_lossy().into_owned();
    let out = soulbox(
        &[
            "run",
            "-l",
            "wasm",
            "-c",
            writer,
            "--workspace",
            &wd,
            "--json",
        ],
        b"",
    );
    let v = json(&out);
    assert_eq!(v["status"], "ok", "{v}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("result.txt")).expect("kept"),
        "done"
    );
    assert_eq!(v["artifacts"][0]["path"], "result.txt");
    assert_eq!(v["artifacts"][0]["size"], 4);
    assert_eq!(v["artifacts"].as_array().map(Vec::len), Some(1));
}

#[test]
fn args_after_double_dash_reach_the_guest() {
    let out = soulbox(
        &["run", "examples/hello.wat", "--json", "--", "a", "b"],
        b"",
    );
    assert_eq!(json(&out)["status"], "ok");
}

fn assert_usage_error(args: &[&str], needle: &str) {
    let out = soulbox(args, b"");
    assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.lines().count() <= 2, "{args:?}: too chatty: {err}");
    assert!(err.contains(needle), "{args:?}: {err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn usage_errors_are_one_line_and_exit_2() {
    assert_usage_error(&["run", "-l", "cobol", "-c", "x"], "python");
    assert_usage_error(&["run", "missing-file.wat"], "missing-file.wat");
    assert_usage_error(&["run", "examples/hello.wat", "--memory", "lots"], "64MiB");
    assert_usage_error(&["run", "examples/hello.wat", "--timeout", "soon"], "5s");
    assert_usage_error(&["run", "-c", "print(1)"], "-l");
    assert_usage_error(&["run", "Makefile"], "-l");
    assert_usage_error(&["run", "examples/hello.wat", "--backend", "vm"], "native");
    assert_usage_error(&["frobnicate"], "frobnicate");
}

#[test]
fn engine_failures_exit_125_with_json_error() {
    let out = soulbox(&["run", "-l", "wasm", "-c", "not a module", "--json"], b"");
    assert_eq!(out.status.code(), Some(125));
    let v = json(&out);
    assert!(v["status"].is_null());
    assert!(
        v["error"]
            .as_str()
            .unwrap_or("")
            .contains("invalid WebAssembly"),
        "{v}"
    );
}

#[test]
fn trap_is_reported_on_stderr_in_plain_mode() {
    let out = soulbox(
        &[
            "run",
            "-l",
            "wasm",
            "-c",
            r#"(module (func (export "_start") unreachable))"#,
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(134));
    assert!(String::from_utf8_lossy(&out.stderr).contains("trap"));
}

#[test]
fn limits_too_large_to_be_limits_are_usage_errors() {
    // Used to panic: a deadline overflowing the clock.
    assert_usage_error(
        &[
            "run",
            "examples/hello.wat",
            "--timeout",
            "18446744073709549568s",
        ],
        "timeout",
    );
    assert_usage_error(
        &["run", "examples/hello.wat", "--memory", "2TiB"],
        "maximum",
    );
    assert_usage_error(
        &["run", "examples/hello.wat", "--max-disk", "99999TiB"],
        "maximum",
    );
    assert_usage_error(
        &["run", "examples/hello.wat", "--compile-timeout", "100000h"],
        "maximum",
    );
}

/// Runs `soulbox ARGS` (own cache directory, no stdin) and waits at most `limit`; a command still
/// running then is killed after `unstick` has had a chance to release whatever holds it.
fn soulbox_within(args: &[&str], limit: Duration, unstick: impl FnOnce()) -> std::process::Output {
    use std::process::{Command, Stdio};
    let home = tempfile::tempdir().expect("home");
    let mut child = Command::new(env!("CARGO_BIN_EXE_soulbox"))
        .args(args)
        .current_dir(crate::repo())
        .env("SOULBOX_HOME", home.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn soulbox");
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > limit {
            unstick();
            let _ = child.kill();
            let _ = child.wait_with_output();
            panic!("`soulbox {args:?}` was still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

#[test]
fn a_fifo_in_the_workdir_does_not_hang_the_command() {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = tempfile::tempdir().expect("workdir");
    let fifo = dir.path().join("pipe");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: a valid NUL-terminated path; mkfifo only creates a file.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let open_pipe = r#"(module
      (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (data (i32.const 100) "pipe")
      (func (export "_start")
        (call $exit (call $open (i32.const 3) (i32.const 1) (i32.const 100) (i32.const 4) (i32.const 0)
          (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 48)))))"#;
    let wd = dir.path().to_string_lossy().into_owned();
    let started = Instant::now();
    let out = soulbox_within(
        &[
            "run",
            "-l",
            "wat",
            "-c",
            open_pipe,
            "--workdir",
            &wd,
            "--timeout",
            "1s",
            "--json",
        ],
        Duration::from_secs(30),
        || {
            // A reader stuck in open() is released by a writer.
            let _ = std::fs::File::options()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&fifo);
        },
    );
    let v = json(&out);
    assert_eq!(v["status"], "error", "{v}");
    assert_eq!(v["exit_code"], 58, "ENOTSUP: {v}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn compiling_a_big_module_ends_by_the_deadline_and_the_command_exits() {
    // One function of ~2 MB: seconds of Cranelift, far past a 200 ms timeout.
    let mut body = vec![1u8, 1, 0x7f];
    for _ in 0..300_000 {
        body.extend([0x20, 0, 0x41, 7, 0x6a, 0x21, 0]);
    }
    body.push(0x0b);
    let leb = |mut n: usize| {
        let mut out = Vec::new();
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return out;
            }
            out.push(byte | 0x80);
        }
    };
    let mut code = vec![1];
    code.extend(leb(body.len()));
    code.extend(&body);
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    module.extend([1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0, 7, 10, 1, 6]);
    module.extend(b"_start");
    module.extend([0, 0, 10]);
    module.extend(leb(code.len()));
    module.extend(code);
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("big.wasm");
    std::fs::write(&path, module).expect("write");
    let started = Instant::now();
    let out = soulbox_within(
        &[
            "run",
            &path.to_string_lossy(),
            "--timeout",
            "200ms",
            "--json",
        ],
        Duration::from_secs(60),
        || {},
    );
    let elapsed = started.elapsed();
    assert_eq!(out.status.code(), Some(124), "{out:?}");
    assert_eq!(json(&out)["status"], "timeout");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}

/// Runs `soulbox ARGS` with exactly the environment `env` (nothing inherited).
fn with_env(args: &[&str], env: &[(&str, &std::path::Path)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_soulbox"));
    cmd.args(args)
        .current_dir(crate::repo())
        .env_clear()
        .stdin(std::process::Stdio::null());
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd.output().expect("run soulbox")
}

/// No home at all (HOME unset, no SOULBOX_HOME or XDG_CACHE_HOME): a clear error, and nothing
/// made in a shared fallback such as `/tmp/soulbox`. A home others may write, or that another
/// user owns, is refused by `run` and by `runtimes` alike, with what to do.
#[test]
fn an_unset_or_unsafe_home_is_refused_with_what_to_do() {
    use std::os::unix::fs::PermissionsExt;
    let hello = ["run", "examples/hello.wat", "--json"];
    let fallback = std::env::temp_dir().join("soulbox");
    let existed = fallback.exists();
    let out = with_env(&hello, &[]);
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    let v = json(&out);
    assert!(v["status"].is_null());
    let error = v["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("cannot determine the SoulBox home") && error.contains("SOULBOX_HOME"),
        "{error}"
    );
    assert_eq!(
        fallback.exists(),
        existed,
        "nothing made in {}",
        fallback.display()
    );

    let base = tempfile::tempdir().unwrap();
    let home = base.path().join("shared");
    std::fs::create_dir(&home).unwrap();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o777)).unwrap();
    for args in [&hello[..], &["runtimes", "list"]] {
        let out = with_env(args, &[("SOULBOX_HOME", &home)]);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {out:?}");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(all.contains("chmod go-w"), "{args:?}: {all}");
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(&home, Some(65534), Some(65534)).unwrap();
        let out = with_env(&hello, &[("SOULBOX_HOME", &home)]);
        assert_eq!(out.status.code(), Some(125), "{out:?}");
        assert!(
            json(&out)["error"]
                .as_str()
                .unwrap_or_default()
                .contains("owned by uid 65534"),
            "{out:?}"
        );
    }
    // With HOME alone, the default under it is used, created private.
    let user = base.path().join("user");
    std::fs::create_dir(&user).unwrap();
    let out = with_env(&hello, &[("HOME", &user)]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let made = user.join(".cache/soulbox");
    assert!(made.is_dir());
    assert_eq!(
        std::fs::metadata(&made).unwrap().permissions().mode() & 0o777,
        0o700
    );
}

/// `soulbox run app.wasm` recognises a component (WASI preview 2) and runs its `wasi:cli/run`:
/// the run's result is the exit status.
#[test]
fn run_runs_a_component_file() {
    let component = |result: i32| {
        wat::parse_str(format!(
            r#"(component
                 (core module $m (func (export "run") (result i32) (i32.const {result})))
                 (core instance $i (instantiate $m))
                 (func $run (result (result)) (canon lift (core func $i "run")))
                 (instance $r (export "run" (func $run)))
                 (export "wasi:cli/run@0.2.0" (instance $r)))"#
        ))
        .expect("component text")
    };
    let dir = tempfile::tempdir().expect("dir");
    for (result, status, code) in [(0, "ok", 0), (1, "error", 1)] {
        let path = dir.path().join(format!("app{result}.wasm"));
        std::fs::write(&path, component(result)).expect("write");
        let out = soulbox(&["run", &path.to_string_lossy(), "--json"], b"");
        assert_eq!(out.status.code(), Some(code), "{out:?}");
        let report = json(&out);
        assert_eq!(report["status"], status, "{report}");
        assert!(
            report["isolation"]
                .as_array()
                .is_some_and(|l| l.iter().any(|x| x == "component-model")),
            "{report}"
        );
    }
}
