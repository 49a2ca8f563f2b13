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
    let sb = sandbox(tight().with_workdir(dir.path())).await;
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
