//! Files the guest creates or changes come back as artifacts.

use soulbox::{Language, Status};

use crate::{guests, sandbox, tight};

#[tokio::test]
async fn new_files_are_artifacts_with_sniffed_mime_types() {
    let sb = sandbox(tight().with_artifact_bytes(1 << 20)).await;
    sb.write_file("old.txt", "untouched").await.expect("write");
    let r = sb
        .execute_code(
            Language::Wasm,
            guests::write_file("report.csv", "a,b\n1,2\n"),
        )
        .await
        .expect("run");
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.artifacts.len(), 1, "{:?}", r.artifacts);
    let a = &r.artifacts[0];
    assert_eq!(
        (a.path.as_str(), a.mime_type.as_str(), a.size),
        ("report.csv", "text/csv", 8)
    );
    assert_eq!(a.data.as_deref(), Some(&b"a,b\n1,2\n"[..]));
}

#[tokio::test]
async fn png_content_is_detected_whatever_the_name() {
    let sb = sandbox(tight()).await;
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01";
    let r = sb
        .execute_code(Language::Wasm, guests::write_file("plot.dat", png))
        .await
        .expect("run");
    assert_eq!(r.status, Status::Ok);
    assert_eq!(r.artifacts.len(), 1);
    assert_eq!(r.artifacts[0].mime_type, "image/png");
    assert!(
        r.artifacts[0].data.is_none(),
        "bytes are attached only on request"
    );
}

#[tokio::test]
async fn unchanged_files_are_not_artifacts_and_changed_ones_are() {
    let sb = sandbox(tight()).await;
    let r = sb
        .execute_code(Language::Wasm, guests::write_file("a.txt", "1"))
        .await
        .expect("run");
    assert_eq!(r.artifacts.len(), 1);
    let r = sb
        .execute_code(Language::Wasm, guests::print("nothing written"))
        .await
        .expect("run");
    assert!(r.artifacts.is_empty(), "{:?}", r.artifacts);
    let r = sb
        .execute_code(Language::Wasm, guests::write_file("a.txt", "22"))
        .await
        .expect("run");
    assert_eq!(r.artifacts.len(), 1);
    assert_eq!(r.artifacts[0].size, 2);
}

/// A FIFO that appears in the workspace while a run is going (a native guest can `mkfifo`; here
/// the host plays the guest): the scan after the run neither opens nor waits on it.
#[tokio::test]
async fn a_fifo_made_during_a_run_is_skipped_not_waited_on() {
    let sb = sandbox(tight().with_artifact_bytes(1 << 20)).await;
    let ws = sb.workspace_path().expect("workspace");
    let maker = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        crate::mkfifo(&ws.join("pipe"));
    });
    let run = sb.execute_code(Language::Wasm, guests::print_sleep_print("a", 1500, "b"));
    let r = tokio::time::timeout(std::time::Duration::from_secs(30), run)
        .await
        .expect("the run returns promptly, not stuck on the FIFO")
        .expect("run");
    maker.join().expect("mkfifo thread");
    assert_eq!((r.status, r.stdout.as_str()), (Status::Ok, "ab"), "{r:?}");
    assert!(
        r.artifacts.iter().all(|a| a.path != "pipe"),
        "{:?}",
        r.artifacts
    );
    // Listing skips it; reading it is refused at once.
    let listed = sb.list_files("").await.expect("list");
    assert!(listed.iter().all(|f| f.path != "pipe"), "{listed:?}");
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), sb.read_file("pipe"))
        .await
        .expect("read_file returns at once");
    assert!(
        matches!(&read, Err(soulbox::SoulBoxError::UnusableFile { reason, .. }) if reason.contains("FIFO")),
        "{read:?}"
    );
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn native() -> soulbox::SandboxConfig {
    soulbox::SandboxConfig::default()
        .with_backend(soulbox::Backend::Native)
        .with_memory_limit(128 * soulbox::MIB)
        .with_timeout(std::time::Duration::from_secs(20))
        .with_artifact_bytes(1 << 20)
}

/// The native guest leaves a FIFO in the workspace: the result still comes, at once.
#[tokio::test]
async fn a_native_run_that_leaves_a_fifo_returns_promptly() {
    if !is_root() {
        eprintln!("skipped: the native backend's full isolation needs root");
        return;
    }
    let sb = sandbox(native()).await;
    let run = sb.execute_code(
        Language::Shell,
        "mkfifo /work/p && echo data > /work/real.txt && echo made",
    );
    let r = tokio::time::timeout(std::time::Duration::from_secs(60), run)
        .await
        .expect("the result comes although a FIFO is in the workspace")
        .expect("run");
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (Status::Ok, "made\n"),
        "{r:?}"
    );
    let ws = sb.workspace_path().expect("workspace");
    assert!(
        std::fs::symlink_metadata(ws.join("p"))
            .map(|m| std::os::unix::fs::FileTypeExt::is_fifo(&m.file_type()))
            .unwrap_or(false),
        "the guest did make a FIFO"
    );
    let paths: Vec<&str> = r.artifacts.iter().map(|a| a.path.as_str()).collect();
    assert_eq!(paths, ["real.txt"], "{:?}", r.artifacts);
    assert_eq!(r.artifacts[0].data.as_deref(), Some(&b"data\n"[..]));
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), sb.read_file("p"))
        .await
        .expect("read_file returns at once");
    assert!(
        matches!(read, Err(soulbox::SoulBoxError::UnusableFile { .. })),
        "{read:?}"
    );
    sb.terminate().await;
}

/// Links a native guest leaves that lead out of the workspace (absolute, or climbing above it -
/// also through another link) are removed after the run; links that stay inside are kept, and
/// so is a link the caller had put in its own directory before the run.
#[tokio::test]
async fn escaping_symlinks_left_by_a_native_run_are_removed() {
    if !is_root() {
        eprintln!("skipped: the native backend's full isolation needs root");
        return;
    }
    let outer = tempfile::tempdir().expect("dir");
    let ws = outer.path().join("ws");
    std::fs::create_dir(&ws).expect("workdir");
    std::os::unix::fs::symlink("/etc/hostname", ws.join("callers-own")).expect("symlink");
    let sb = sandbox(native().with_workspace(&ws)).await;
    let r = sb
        .execute_code(
            Language::Shell,
            "cd /work && echo hi > ok.txt && mkdir -p d && \
             ln -s /etc/passwd abs && ln -s ../../../../../../etc d/up && \
             ln -s ../ok.txt d/in && ln -s .. d/root && ln -s root/.. d/sneaky && \
             ln -s missing/../../.. d/dangling && ln -s loop loop && echo linked",
        )
        .await
        .expect("run");
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (Status::Ok, "linked\n"),
        "{r:?}"
    );
    let is_link =
        |p: &str| std::fs::symlink_metadata(ws.join(p)).is_ok_and(|m| m.file_type().is_symlink());
    for gone in ["abs", "d/up", "d/sneaky", "d/dangling", "loop"] {
        assert!(!is_link(gone), "{gone} leads out and must be removed");
    }
    for kept in ["d/in", "d/root", "callers-own"] {
        assert!(is_link(kept), "{kept} must be kept");
    }
    assert_eq!(std::fs::read(ws.join("d/in")).expect("inner link"), b"hi\n");
    sb.terminate().await;
}
