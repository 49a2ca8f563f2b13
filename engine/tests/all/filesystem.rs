//! Filesystem escapes: absolute paths, `..`, symlinks out, host API paths.

use soulbox::{Language, SoulBoxError, Status};

use crate::{guests, sandbox, tight};

/// WASI errno values the attacks must produce.
const ENOENT: i32 = 44;
const ENOTCAPABLE: i32 = 76;
const EPERM: i32 = 63;

async fn open_errno(path: &str, setup: impl FnOnce(&std::path::Path)) -> i32 {
    let sb = sandbox(tight()).await;
    setup(&sb.workspace_path().expect("workspace"));
    let r = sb
        .execute_code(Language::Wasm, guests::open(path))
        .await
        .expect("run");
    match r.status {
        Status::Ok => 0,
        Status::Error => r.exit_code.expect("exit code"),
        other => panic!("unexpected status {other}: {r:?}"),
    }
}

#[tokio::test]
async fn a_file_in_the_workspace_opens() {
    let errno = open_errno("data.txt", |ws| {
        std::fs::write(ws.join("data.txt"), "x").expect("write")
    })
    .await;
    assert_eq!(errno, 0);
}

#[tokio::test]
async fn absolute_host_path_is_refused() {
    let errno = open_errno("/etc/passwd", |_| {}).await;
    assert!(errno == ENOTCAPABLE || errno == EPERM, "errno {errno}");
}

#[tokio::test]
async fn dot_dot_escape_is_refused() {
    let errno = open_errno("../../etc/passwd", |_| {}).await;
    assert!(errno == ENOTCAPABLE || errno == EPERM, "errno {errno}");
}

#[tokio::test]
async fn symlink_out_of_the_workspace_is_refused() {
    let errno = open_errno("link", |ws| {
        std::os::unix::fs::symlink("/etc/passwd", ws.join("link")).expect("symlink")
    })
    .await;
    assert!(errno == ENOTCAPABLE || errno == EPERM, "errno {errno}");
}

#[tokio::test]
async fn relative_symlink_climbing_out_is_refused() {
    let errno = open_errno("sub/up", |ws| {
        std::fs::create_dir(ws.join("sub")).expect("mkdir");
        std::os::unix::fs::symlink("../../../../../../etc/passwd", ws.join("sub/up"))
            .expect("symlink")
    })
    .await;
    assert!(errno == ENOTCAPABLE || errno == EPERM, "errno {errno}");
}

#[tokio::test]
async fn missing_file_is_enoent_not_a_host_error() {
    assert_eq!(open_errno("nope.txt", |_| {}).await, ENOENT);
}

#[tokio::test]
async fn host_api_refuses_escaping_paths() {
    let sb = sandbox(tight()).await;
    for path in [
        "/etc/passwd",
        "../outside",
        "a/../../outside",
        "/work/../etc/passwd",
    ] {
        let err = sb.read_file(path).await.expect_err(path);
        assert!(
            matches!(
                err,
                SoulBoxError::InvalidPath { .. }
                    | SoulBoxError::Io { .. }
                    | SoulBoxError::FileNotFound(_)
            ),
            "{path}: {err}"
        );
        assert!(sb.write_file(path, b"x").await.is_err(), "{path}");
    }
}

#[tokio::test]
async fn files_persist_across_executions_and_workspace_is_removed_at_the_end() {
    let sb = sandbox(tight()).await;
    let ws = sb.workspace_path().expect("workspace");
    let r = sb
        .execute_code(Language::Wasm, guests::write_file("notes.txt", "kept"))
        .await
        .expect("run");
    assert_eq!(r.status, Status::Ok, "{r:?}");
    let r = sb
        .execute_code(Language::Wasm, guests::open("notes.txt"))
        .await
        .expect("run");
    assert_eq!(r.status, Status::Ok);
    assert_eq!(sb.read_file("notes.txt").await.expect("read"), b"kept");
    sb.terminate().await;
    // Removal happens in the background; it must be done promptly.
    for _ in 0..200 {
        if !ws.exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(
        !ws.exists(),
        "workspace {} survived terminate",
        ws.display()
    );
    assert!(sb.read_file("notes.txt").await.is_err());
    assert!(
        sb.execute_code(Language::Wasm, guests::print("x"))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn caller_supplied_workspace_is_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sb = sandbox(tight().with_workspace(dir.path())).await;
    std::fs::write(dir.path().join("input.txt"), "in").expect("write");
    let r = sb
        .execute_code(Language::Wasm, guests::write_file("out.txt", "out"))
        .await
        .expect("run");
    assert_eq!(r.status, Status::Ok);
    sb.terminate().await;
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out.txt")).expect("read"),
        "out"
    );
    assert!(dir.path().join("input.txt").exists());
}

/// WASI `ENOTSUP`: what opening a FIFO, socket or device gets.
const ENOTSUP: i32 = 58;

#[tokio::test]
async fn links_pointing_out_of_the_workspace_are_refused_and_nothing_is_left() {
    let dir = tempfile::tempdir().expect("workdir");
    let sb = sandbox(tight().with_workspace(dir.path())).await;
    let strings = [
        "../../../etc/passwd", // s0
        "x",                   // s1
        "/etc/passwd",         // s2
        "y",                   // s3
        "sub",                 // s4
        "../target",           // s5
        "sub/fine",            // s6
        "fine",                // s7
        "fine2",               // s8
        "a",                   // s9
        "a/b",                 // s10
        "../../t",             // s11
        "a/b/l",               // s12
        "b",                   // s13
        "../../x",             // s14
        "x2",                  // s15
        "../z",                // s16
        "z",                   // s17
        "..",                  // s18
        "up",                  // s19
        "sub/../../x",         // s20
        "sub/../a/../..",      // s21
        "../w",                // s22
        "w",                   // s23
    ];
    let body = "
        ;; straight out: relative and absolute
        (call $expect (i32.const 1) (call $path_symlink {s0} (i32.const 3) {s1}) (i32.const 63))
        (call $expect (i32.const 2) (call $path_symlink {s2} (i32.const 3) {s3}) (i32.const 63))
        (call $expect (i32.const 3) (call $path_symlink {s18} (i32.const 3) {s19}) (i32.const 63))
        (call $expect (i32.const 4) (call $path_symlink {s20} (i32.const 3) {s1}) (i32.const 63))
        (call $expect (i32.const 5) (call $path_symlink {s21} (i32.const 3) {s1}) (i32.const 63))
        ;; climbing within the workspace is fine
        (call $expect (i32.const 6) (call $path_create_directory (i32.const 3) {s4}) (i32.const 0))
        (call $expect (i32.const 7) (call $path_symlink {s5} (i32.const 3) {s6}) (i32.const 0))
        ;; ... until the link itself moves up, by rename or hard link
        (call $expect (i32.const 8) (call $path_rename (i32.const 3) {s6} (i32.const 3) {s7}) (i32.const 63))
        (call $expect (i32.const 9) (call $path_link (i32.const 3) (i32.const 0) {s6} (i32.const 3) {s8}) (i32.const 63))
        ;; ... or the directory holding it does
        (call $expect (i32.const 10) (call $path_create_directory (i32.const 3) {s9}) (i32.const 0))
        (call $expect (i32.const 11) (call $path_create_directory (i32.const 3) {s10}) (i32.const 0))
        (call $expect (i32.const 12) (call $path_symlink {s11} (i32.const 3) {s12}) (i32.const 0))
        (call $expect (i32.const 13) (call $path_rename (i32.const 3) {s10} (i32.const 3) {s13}) (i32.const 63))
        ;; a directory descriptor the guest opened counts its own depth
        (call $expect (i32.const 14)
          (call $path_open (i32.const 3) (i32.const 0) {s4} (i32.const 2) (i64.const 0) (i64.const 0x1fffffff) (i32.const 0) (i32.const 16))
          (i32.const 0))
        (local.set $fd (call $fd))
        (call $expect (i32.const 15) (call $path_symlink {s14} (local.get $fd) {s15}) (i32.const 63))
        (call $expect (i32.const 16) (call $path_symlink {s16} (local.get $fd) {s17}) (i32.const 0))
        ;; and keeps it when renumbered (onto the `.` preopen, which was the root)
        (call $expect (i32.const 17) (call $fd_renumber (local.get $fd) (i32.const 4)) (i32.const 0))
        (call $expect (i32.const 18) (call $path_symlink {s14} (i32.const 4) {s15}) (i32.const 63))
        (call $expect (i32.const 19) (call $path_symlink {s22} (i32.const 4) {s23}) (i32.const 0))
    ";
    let r = sb
        .execute_code(Language::Wasm, guests::fs_script(&strings, body))
        .await
        .expect("run");
    assert_eq!(r.status, Status::Ok, "{r:?}");
    let root = dir.path();
    for gone in ["x", "y", "up", "fine", "fine2", "b", "sub/x2"] {
        assert!(
            std::fs::symlink_metadata(root.join(gone)).is_err(),
            "{gone} was left in the workdir"
        );
    }
    let target = |p: &str| std::fs::read_link(root.join(p)).expect(p);
    assert_eq!(target("sub/fine"), std::path::Path::new("../target"));
    assert_eq!(target("a/b/l"), std::path::Path::new("../../t"));
    assert_eq!(target("sub/z"), std::path::Path::new("../z"));
    assert_eq!(target("sub/w"), std::path::Path::new("../w"));
}

/// Makes a FIFO at `path` (as a native run or the caller could have).
fn mkfifo(path: &std::path::Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: a valid NUL-terminated path; mkfifo only creates a file.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

/// Opens the writing end without blocking: a reader stuck in `open` is released (so a
/// regression fails the test instead of hanging the test binary).
fn release(path: &std::path::Path) {
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::File::options()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_a_fifo_in_the_workspace_is_refused_at_once() {
    let dir = tempfile::tempdir().expect("workdir");
    let fifo = dir.path().join("pipe");
    mkfifo(&fifo);
    std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
    mkfifo(&dir.path().join("sub/pipe"));
    std::os::unix::fs::symlink("pipe", dir.path().join("to-pipe")).expect("symlink");
    let sb = sandbox(
        tight()
            .with_timeout(std::time::Duration::from_secs(2))
            .with_workspace(dir.path()),
    )
    .await;
    let body = "
        (call $expect (i32.const 1) (call $open {s0} (i32.const 0) (i32.const 0)) (i32.const 58))
        (call $expect (i32.const 2) (call $open {s1} (i32.const 0) (i32.const 0)) (i32.const 58))
        ;; for writing, and under a directory the guest opened itself
        (call $expect (i32.const 3)
          (call $path_open (i32.const 3) (i32.const 1) {s2} (i32.const 2) (i64.const 0) (i64.const 0x1fffffff) (i32.const 0) (i32.const 16))
          (i32.const 0))
        (call $expect (i32.const 4)
          (call $path_open (call $fd) (i32.const 1) {s0} (i32.const 0) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 20))
          (i32.const 58))
        (call $proc_exit (call $open {s0} (i32.const 0) (i32.const 0)))
    ";
    let guest = guests::fs_script(&["pipe", "to-pipe", "sub"], body);
    let started = std::time::Instant::now();
    let outcome = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        sb.execute_code(Language::Wasm, guest),
    )
    .await;
    release(&fifo);
    release(&dir.path().join("sub/pipe"));
    let r = outcome.expect("the run must not hang").expect("run");
    assert_eq!(r.status, Status::Error, "{r:?}");
    assert_eq!(r.exit_code, Some(ENOTSUP), "{r:?}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

/// `read_file`, `write_file`, `list_files` and `remove_file` on what a guest may have left in
/// the workspace: links are never followed (not even inward), FIFOs are neither read nor waited
/// on, files over the read cap are refused before a byte is read.
#[tokio::test]
async fn host_file_access_follows_no_link_and_waits_on_no_fifo() {
    let sb = sandbox(tight()).await;
    let ws = sb.workspace_path().expect("workspace");
    let (_secret_dir, secret_path, secret) = crate::host_secret();
    let outside = tempfile::tempdir().expect("outside");
    std::fs::create_dir(ws.join("sub")).expect("mkdir");
    std::fs::write(ws.join("sub/real.txt"), "real").expect("write");
    std::os::unix::fs::symlink(&secret_path, ws.join("abs-link")).expect("symlink");
    std::os::unix::fs::symlink(crate::climbing(&secret_path), ws.join("climb-link"))
        .expect("symlink");
    std::os::unix::fs::symlink("sub/real.txt", ws.join("inner-link")).expect("symlink");
    std::os::unix::fs::symlink(outside.path(), ws.join("dir-link")).expect("symlink");
    crate::mkfifo(&ws.join("fifo"));
    let huge = std::fs::File::create(ws.join("huge.bin")).expect("create");
    huge.set_len((1 << 30) + 1).expect("sparse 1 GiB + 1");

    let quick = std::time::Duration::from_secs(5);
    for (path, needle) in [
        ("abs-link", "symbolic link"),
        ("climb-link", "symbolic link"),
        ("inner-link", "symbolic link"),
        ("dir-link/x", "symbolic link"),
        ("fifo", "FIFO"),
        ("huge.bin", "larger than"),
    ] {
        let read = tokio::time::timeout(quick, sb.read_file(path))
            .await
            .unwrap_or_else(|_| panic!("read_file({path}) hung"));
        match read {
            Err(SoulBoxError::UnusableFile { reason, .. }) => {
                assert!(reason.contains(needle), "{path}: {reason}")
            }
            other => panic!("{path}: {other:?}"),
        }
    }
    assert_eq!(sb.read_file("sub/real.txt").await.expect("read"), b"real");

    // Writing through a link is refused and the target stays as it was.
    for path in ["abs-link", "climb-link", "dir-link/new.txt", "fifo"] {
        let write = tokio::time::timeout(quick, sb.write_file(path, b"overwritten"))
            .await
            .unwrap_or_else(|_| panic!("write_file({path}) hung"));
        assert!(write.is_err(), "{path}");
    }
    assert_eq!(
        std::fs::read_to_string(&secret_path).expect("secret"),
        secret
    );
    assert_eq!(
        std::fs::read_dir(outside.path()).expect("outside").count(),
        0
    );

    // Listed: regular files and directories only.
    let listed: Vec<String> = sb
        .list_files("")
        .await
        .expect("list")
        .into_iter()
        .map(|f| f.path)
        .collect();
    assert_eq!(listed, ["huge.bin", "sub", "sub/real.txt"]);
    let listed = sb.list_files("dir-link").await;
    assert!(
        matches!(&listed, Err(SoulBoxError::UnusableFile { reason, .. }) if reason.contains("symbolic link")),
        "{listed:?}"
    );
    // Removing a link removes the link, never what it points at.
    sb.remove_file("abs-link").await.expect("remove the link");
    sb.remove_file("dir-link").await.expect("remove the link");
    assert!(secret_path.exists() && outside.path().exists());
}
