//! Session snapshots: a live interpreter written to a file and restored - into a new engine and
//! sandbox, as another process would - with every check of the file attacked.

use std::path::Path;
use std::time::Duration;

use soulbox::{Engine, EngineConfig, Language, MIB, SandboxConfig, SoulBoxError, Status};

use crate::runtime_sandbox;

fn config() -> SandboxConfig {
    SandboxConfig::default()
        .with_memory_limit(512 * MIB)
        .with_timeout(Duration::from_secs(60))
}

/// A fresh engine, as a new process would have (same `$SOULBOX_HOME` caches).
fn new_engine() -> Engine {
    Engine::new(EngineConfig::default().with_quiet(true)).unwrap()
}

async fn value(session: &soulbox::Session, code: &str) -> Option<String> {
    let r = session.execute(code).await.unwrap();
    assert_eq!(r.status, Status::Ok, "{code}: {r:?}");
    r.value
}

/// Rewrites the trailing xxh3-128 checksum after an edit (the layout is in DESIGN.md).
fn reseal(bytes: &mut [u8]) {
    let body = bytes.len() - 16;
    let sum = xxhash_rust::xxh3::xxh3_128(&bytes[..body]).to_le_bytes();
    bytes[body..].copy_from_slice(&sum);
}

/// Replaces every occurrence of `from` with `to` (same length).
fn replace_all(bytes: &mut [u8], from: &[u8], to: &[u8]) -> usize {
    assert_eq!(from.len(), to.len());
    let mut n = 0;
    let mut i = 0;
    while i + from.len() <= bytes.len() {
        if &bytes[i..i + from.len()] == from {
            bytes[i..i + from.len()].copy_from_slice(to);
            n += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    n
}

async fn python_snapshot(dir: &Path) -> std::path::PathBuf {
    let sandbox = runtime_sandbox(config()).await;
    let session = sandbox.session(Language::Python).await.unwrap();
    session
        .execute(
            "import json\nimport numpy as np\nx = 41\ndef double(n):\n    return n * 2\n\
             import os\nos.makedirs('data/deep', exist_ok=True)\n\
             open('data/deep/notes.txt', 'w').write('kept')\n\
             open('/tmp/private.txt', 'w').write('private')\narr = np.arange(10)",
        )
        .await
        .unwrap();
    let path = dir.join("py.snap");
    let info = session.snapshot(&path).await.unwrap();
    assert!(info.memory_bytes > 32 * MIB, "{info:?}");
    assert!(
        info.memory_bytes_written < info.memory_bytes,
        "zero pages are skipped: {info:?}"
    );
    assert_eq!(info.workspace_files, 1, "{info:?}");
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        info.file_bytes,
        "{info:?}"
    );
    sandbox.terminate().await;
    path
}

#[tokio::test]
async fn a_python_session_restores_into_a_new_engine_and_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let path = python_snapshot(dir.path()).await;
    let engine = new_engine();
    let sandbox = engine.sandbox(config()).await.unwrap();
    let session = sandbox.restore_session(&path).await.unwrap();
    assert_eq!(session.language(), Language::Python);
    assert_eq!(
        value(&session, "double(x) + 1").await.as_deref(),
        Some("83")
    );
    assert_eq!(
        value(&session, "json.dumps([int(arr.sum()), x])")
            .await
            .as_deref(),
        Some("'[45, 41]'")
    );
    // Workspace files came back into the new sandbox; the private root too.
    assert_eq!(
        value(&session, "open('data/deep/notes.txt').read()")
            .await
            .as_deref(),
        Some("'kept'")
    );
    assert_eq!(
        sandbox.read_file("data/deep/notes.txt").await.unwrap(),
        b"kept"
    );
    assert_eq!(
        value(&session, "open('/tmp/private.txt').read()")
            .await
            .as_deref(),
        Some("'private'")
    );
    // It keeps working like any session: new imports, new state, exceptions.
    assert_eq!(
        value(&session, "import math\nmath.isqrt(x * x)")
            .await
            .as_deref(),
        Some("41")
    );
    let r = session.execute("1/0").await.unwrap();
    assert_eq!(r.status, Status::Error, "{r:?}");
    assert_eq!(value(&session, "x += 1\nx").await.as_deref(), Some("42"));
    // A restored session can be snapshotted and forked again.
    let again = dir.path().join("again.snap");
    session.snapshot(&again).await.unwrap();
    let child = session.fork().await.unwrap();
    assert_eq!(value(&child, "x").await.as_deref(), Some("42"));
    let twice = sandbox.restore_session(&again).await.unwrap();
    assert_eq!(value(&twice, "double(x)").await.as_deref(), Some("84"));
    sandbox.terminate().await;
}

#[tokio::test]
async fn damaged_truncated_and_foreign_files_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = python_snapshot(dir.path()).await;
    let good = std::fs::read(&path).unwrap();
    let sandbox = runtime_sandbox(config()).await;
    let attempt = |bytes: Vec<u8>, name: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };

    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x40;
    let err = sandbox
        .restore_session(attempt(flipped, "flipped.snap"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SoulBoxError::SnapshotCorrupt { reason, .. } if reason.contains("checksum")),
        "{err}"
    );

    for cut in [good.len() - 1, good.len() / 3, 100, 10, 0] {
        let err = sandbox
            .restore_session(attempt(good[..cut].to_vec(), "short.snap"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, SoulBoxError::SnapshotCorrupt { .. }),
            "cut at {cut}: {err}"
        );
    }

    let err = sandbox
        .restore_session(attempt(
            b"#!/bin/sh\necho not a snapshot\n".to_vec(),
            "x.snap",
        ))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("magic"), "{err}");

    let err = sandbox
        .restore_session(dir.path().join("missing.snap"))
        .await
        .unwrap_err();
    assert!(matches!(err, SoulBoxError::Io { .. }), "{err}");

    // Nothing reached the workspace.
    assert!(sandbox.list_files("").await.unwrap().is_empty());
    sandbox.terminate().await;
}

#[tokio::test]
async fn other_versions_runtimes_and_larger_memories_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = python_snapshot(dir.path()).await;
    let good = std::fs::read(&path).unwrap();
    let sandbox = runtime_sandbox(config()).await;
    let try_with = |from: &str, to: &str| {
        let mut bytes = good.clone();
        // The header comes first: only its occurrence is replaced.
        let header_end = 16 + u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
        let n = replace_all(&mut bytes[..header_end], from.as_bytes(), to.as_bytes());
        assert_eq!(n, 1, "{from} in the header");
        reseal(&mut bytes);
        let p = dir.path().join("edited.snap");
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let cases = [
        (
            "\"wasmtime_version\":\"48.",
            "\"wasmtime_version\":\"47.",
            "wasmtime version",
        ),
        (
            "\"soulbox_version\":\"0.",
            "\"soulbox_version\":\"9.",
            "SoulBox version",
        ),
        (
            "\"engine_compat\":\"",
            "\"engine_compat\":\"X",
            "engine configuration",
        ),
        (
            "\"runtime_identity\":\"",
            "\"runtime_identity\":\"X",
            "runtime module",
        ),
        (
            "\"runtime\":\"python\"",
            "\"runtime\":\"pythoX\"",
            "runtime",
        ),
    ];
    for (from, to, what) in cases {
        // Same length keeps the header's length field right; a longer edit is padded by
        // dropping a character of the same field.
        let (from, to) = if from.len() == to.len() {
            (from.to_owned(), to.to_owned())
        } else {
            let at = good
                .windows(from.len())
                .position(|w| w == from.as_bytes())
                .unwrap();
            let longer = String::from_utf8(good[at..at + from.len() + 1].to_vec()).unwrap();
            (longer, to.to_owned())
        };
        let err = sandbox
            .restore_session(try_with(&from, &to))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, SoulBoxError::SnapshotMismatch { what: w, .. } if w.starts_with(what)),
            "{what}: {err}"
        );
    }
    let mut version = good.clone();
    version[8] = 2;
    let p = dir.path().join("v2.snap");
    std::fs::write(&p, version).unwrap();
    let err = sandbox.restore_session(&p).await.unwrap_err();
    assert!(
        matches!(
            err,
            SoulBoxError::SnapshotMismatch {
                what: "snapshot format version",
                ..
            }
        ),
        "{err}"
    );

    // The memory does not fit a sandbox with a smaller limit.
    let small = runtime_sandbox(config().with_memory_limit(32 * MIB)).await;
    let err = small.restore_session(&path).await.unwrap_err();
    assert!(
        matches!(
            &err,
            SoulBoxError::SnapshotMismatch {
                what: "memory size",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("33554432"), "{err}");
    assert!(sandbox.list_files("").await.unwrap().is_empty());
    small.terminate().await;
    sandbox.terminate().await;
}

/// A hostile file, correctly checksummed, whose workspace entry climbs out of the workspace.
#[tokio::test]
async fn a_hostile_path_in_the_file_writes_nothing_outside_the_workspace() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = runtime_sandbox(config()).await;
    sandbox.write_file("zz/evil.txt", b"owned").await.unwrap();
    sandbox.write_file("a/ok.txt", b"fine").await.unwrap();
    let session = sandbox.session(Language::Python).await.unwrap();
    let path = dir.path().join("evil.snap");
    session.snapshot(&path).await.unwrap();
    sandbox.terminate().await;

    let mut bytes = std::fs::read(&path).unwrap();
    assert!(replace_all(&mut bytes, b"zz/evil.txt", b"../evil.txt") >= 1);
    reseal(&mut bytes);
    std::fs::write(&path, &bytes).unwrap();

    let outer = tempfile::tempdir().unwrap();
    let workspace = outer.path().join("ws");
    std::fs::create_dir(&workspace).unwrap();
    let victim = runtime_sandbox(config().with_workspace(&workspace)).await;
    let err = victim.restore_session(&path).await.unwrap_err();
    assert!(
        matches!(&err, SoulBoxError::SnapshotCorrupt { reason, .. }
            if reason.contains("../evil.txt") && reason.contains("workspace")),
        "{err}"
    );
    assert!(!outer.path().join("evil.txt").exists());
    // Checked before anything was written: not even the harmless file came through.
    assert!(std::fs::read_dir(&workspace).unwrap().next().is_none());
    victim.terminate().await;
}

#[tokio::test]
async fn symlinks_in_the_workspace_are_not_followed_into_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = runtime_sandbox(config()).await;
    let ws = sandbox.workspace_path().unwrap();
    std::os::unix::fs::symlink("/etc", ws.join("etc-link")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", ws.join("passwd-link")).unwrap();
    sandbox.write_file("real.txt", b"real").await.unwrap();
    let session = sandbox.session(Language::Python).await.unwrap();
    let info = session.snapshot(dir.path().join("s.snap")).await.unwrap();
    assert_eq!(info.workspace_files, 1, "{info:?}");
    let bytes = std::fs::read(dir.path().join("s.snap")).unwrap();
    let passwd = std::fs::read("/etc/passwd").unwrap();
    let first_line = passwd.split(|b| *b == b'\n').next().unwrap();
    assert!(first_line.len() > 10);
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(
        !contains(b"etc-link") && !contains(b"passwd-link"),
        "links skipped"
    );
    assert!(!contains(first_line), "no /etc/passwd content");
    sandbox.terminate().await;
}

#[tokio::test]
async fn a_poisoned_session_cannot_be_snapshotted() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = runtime_sandbox(config().with_timeout(Duration::from_secs(2))).await;
    let session = sandbox.session(Language::Python).await.unwrap();
    session.execute("while True:\n    pass").await.unwrap();
    let err = session
        .snapshot(dir.path().join("p.snap"))
        .await
        .unwrap_err();
    assert!(matches!(err, SoulBoxError::SessionPoisoned(_)), "{err}");
    assert!(!dir.path().join("p.snap").exists());
    sandbox.terminate().await;
}

#[tokio::test]
async fn a_ruby_session_snapshots_and_restores() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = runtime_sandbox(config()).await;
    let session = sandbox.session(Language::Ruby).await.unwrap();
    session
        .execute("require 'json'\ntotal = 0\ndef sq(n) = n * n\nFile.write('r.txt', 'ruby')")
        .await
        .unwrap();
    for i in 1..=5 {
        session.execute(format!("total += sq({i})")).await.unwrap();
    }
    let path = dir.path().join("rb.snap");
    session.snapshot(&path).await.unwrap();
    sandbox.terminate().await;

    let engine = new_engine();
    let sandbox = engine.sandbox(config()).await.unwrap();
    let session = sandbox.restore_session(&path).await.unwrap();
    assert_eq!(session.language(), Language::Ruby);
    assert_eq!(
        value(&session, "[total, sq(6), File.read('r.txt')].to_json")
            .await
            .as_deref(),
        Some("\"[55,36,\\\"ruby\\\"]\"")
    );
    for i in 6..=30 {
        value(&session, &format!("total += sq({i})")).await;
    }
    assert_eq!(value(&session, "total").await.as_deref(), Some("9455"));
    let r = session.execute("raise 'still fine'").await.unwrap();
    assert_eq!(r.status, Status::Error, "{r:?}");
    assert_eq!(value(&session, "total + 1").await.as_deref(), Some("9456"));
    sandbox.terminate().await;
}

#[tokio::test]
async fn a_ruby_fork_diverges_from_its_parent() {
    let sandbox = runtime_sandbox(config()).await;
    let parent = sandbox.session(Language::Ruby).await.unwrap();
    parent
        .execute("require 'set'\nx = 1\nlog = ['parent']\ndef tag(s) = s + '!'")
        .await
        .unwrap();
    let child = parent.fork().await.unwrap();
    parent.execute("x = 2\nlog << 'p2'").await.unwrap();
    assert_eq!(
        value(&child, "log << 'c2'\n[x, log, tag('c')]")
            .await
            .as_deref(),
        Some("[1, [\"parent\", \"c2\"], \"c!\"]")
    );
    assert_eq!(
        value(&parent, "[x, log]").await.as_deref(),
        Some("[2, [\"parent\", \"p2\"]]")
    );
    // The fork keeps working on its own for many cells (each cell adds a handle).
    for i in 0..20 {
        value(&child, &format!("x += {i}")).await;
    }
    assert_eq!(
        value(&child, "Set[x, x].size + x").await.as_deref(),
        Some("192")
    );
    let grandchild = child.fork().await.unwrap();
    assert_eq!(value(&grandchild, "x").await.as_deref(), Some("191"));
    assert_eq!(value(&parent, "x").await.as_deref(), Some("2"));
    sandbox.terminate().await;
}

#[tokio::test]
async fn a_javascript_session_snapshots_and_restores_in_a_new_engine() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = runtime_sandbox(config()).await;
    let session = sandbox.session(Language::JavaScript).await.unwrap();
    session
        .execute("let total = 0\nfunction sq(n) { return n * n }\nconst seen = new Map()")
        .await
        .unwrap();
    for i in 1..=5 {
        session
            .execute(format!("total += sq({i}); seen.set({i}, 'v{i}')"))
            .await
            .unwrap();
    }
    let path = dir.path().join("js.snap");
    session.snapshot(&path).await.unwrap();
    // The original goes on separately.
    assert_eq!(value(&session, "total = -1").await.as_deref(), Some("-1"));
    sandbox.terminate().await;

    let engine = new_engine();
    let sandbox = engine.sandbox(config()).await.unwrap();
    let session = sandbox.restore_session(&path).await.unwrap();
    assert_eq!(session.language(), Language::JavaScript);
    assert_eq!(
        value(&session, "[total, sq(6), seen.get(3)]")
            .await
            .as_deref(),
        Some("[ 55, 36, 'v3' ]")
    );
    let r = session
        .execute("throw new Error('still fine')")
        .await
        .unwrap();
    assert_eq!(r.status, Status::Error, "{r:?}");
    assert_eq!(value(&session, "total + 1").await.as_deref(), Some("56"));
    sandbox.terminate().await;
}

/// A snapshot path that is a device, a FIFO or far larger than the sandbox could restore is
/// refused at once, before anything is read (the old code read `/dev/zero` until it held 4 GB,
/// and waited forever on a FIFO).
#[tokio::test]
async fn devices_fifos_and_oversized_files_are_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("snap.fifo");
    crate::mkfifo(&fifo);
    let huge = dir.path().join("huge.snap");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(64 << 30)
        .unwrap();
    let sandbox = runtime_sandbox(config()).await;
    for (path, needle) in [
        (Path::new("/dev/zero"), "a device"),
        (fifo.as_path(), "a FIFO"),
        (dir.path(), "a directory"),
        (
            huge.as_path(),
            "more than a snapshot this sandbox can restore",
        ),
    ] {
        let started = std::time::Instant::now();
        let err = tokio::time::timeout(Duration::from_secs(10), sandbox.restore_session(path))
            .await
            .unwrap_or_else(|_| panic!("restoring from {} hung", path.display()))
            .unwrap_err();
        assert!(
            matches!(&err, SoulBoxError::SnapshotCorrupt { reason, .. } if reason.contains(needle)),
            "{}: {err}",
            path.display()
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{}",
            path.display()
        );
    }
    assert!(sandbox.list_files("").await.unwrap().is_empty());
    sandbox.terminate().await;
}

/// A file whose checksum is right but whose memory is named differently from the module's: the
/// restore fails when the memory is loaded, and that is before any workspace file is written.
#[tokio::test]
async fn a_bad_memory_name_with_a_valid_checksum_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = python_snapshot(dir.path()).await;
    let mut bytes = std::fs::read(&path).unwrap();
    // Payload: right after the header, u32 memory count, then the first name (u32 length + text).
    let header_end = 16 + u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    let name_at = header_end + 8;
    assert_eq!(&bytes[name_at - 4..name_at], &6u32.to_le_bytes());
    assert_eq!(&bytes[name_at..name_at + 6], b"memory");
    bytes[name_at..name_at + 6].copy_from_slice(b"memorz");
    reseal(&mut bytes);
    let forged = dir.path().join("forged.snap");
    std::fs::write(&forged, &bytes).unwrap();

    let outer = tempfile::tempdir().unwrap();
    let workspace = outer.path().join("ws");
    std::fs::create_dir(&workspace).unwrap();
    let victim = runtime_sandbox(config().with_workspace(&workspace)).await;
    let err = victim.restore_session(&forged).await.unwrap_err();
    assert!(
        matches!(&err, SoulBoxError::SessionStart(why) if why.contains("memorz")),
        "{err}"
    );
    assert!(
        std::fs::read_dir(&workspace).unwrap().next().is_none(),
        "the workspace was written before the file was fully checked"
    );
    // The untouched file still restores, files and all.
    let session = victim.restore_session(&path).await.unwrap();
    assert_eq!(value(&session, "double(x)").await.as_deref(), Some("82"));
    assert_eq!(
        std::fs::read(workspace.join("data/deep/notes.txt")).unwrap(),
        b"kept"
    );
    victim.terminate().await;
}
