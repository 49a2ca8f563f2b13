//! Bad input is a clear error, never a panic.

use soulbox::{Language, SandboxConfig, SoulBoxError};

use crate::{engine, guests, sandbox, tight};

#[tokio::test]
async fn invalid_bytes_are_an_invalid_module_error() {
    let sb = sandbox(tight()).await;
    for bad in [
        &b"\0asm\x01\0\0\0\xff\xff"[..],
        b"\0asm",
        b"(module (func $f (result i32)))",
        b"\xff\xfe garbage",
    ] {
        let err = sb
            .execute_code(Language::Wasm, bad)
            .await
            .expect_err("must fail");
        assert!(matches!(err, SoulBoxError::InvalidModule(_)), "{err}");
    }
    let err = sb
        .execute_code(Language::Wasm, "")
        .await
        .expect_err("empty");
    assert!(matches!(err, SoulBoxError::InvalidRequest(_)));
}

#[tokio::test]
async fn module_without_start_says_what_is_expected() {
    let sb = sandbox(tight()).await;
    let err = sb
        .execute_code(Language::Wasm, "(module)")
        .await
        .expect_err("no _start");
    assert!(err.to_string().contains("_start"), "{err}");
}

#[tokio::test]
async fn unknown_imports_are_refused_at_link_time() {
    let sb = sandbox(tight()).await;
    let wat = r#"(module (import "host" "secret" (func)) (func (export "_start")))"#;
    let err = sb
        .execute_code(Language::Wasm, wat)
        .await
        .expect_err("unknown import");
    assert!(err.to_string().contains("secret"), "{err}");
}

#[tokio::test]
async fn a_language_the_backend_cannot_run_says_so() {
    let sb = sandbox(tight().with_backend(soulbox::Backend::Wasm)).await;
    let err = sb
        .execute_code(Language::Shell, "echo hi")
        .await
        .expect_err("unsupported");
    assert!(matches!(err, SoulBoxError::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("native"), "{err}");
}

#[tokio::test]
async fn bad_config_is_refused() {
    let err = engine()
        .sandbox(SandboxConfig::default().with_memory_limit(1))
        .await
        .expect_err("bad");
    assert!(matches!(err, SoulBoxError::InvalidRequest(_)));
}

#[tokio::test]
async fn corrupt_cache_entries_are_rebuilt() {
    let home = tempfile::tempdir().expect("home");
    let wat = guests::print("cached");
    for round in 0..3 {
        // A fresh engine per round reads what the previous one wrote to disk.
        let engine = soulbox::Engine::new(soulbox::EngineConfig::default().with_home(home.path()))
            .expect("engine");
        let sb = engine.sandbox(tight()).await.expect("sandbox");
        let r = sb.execute_code(Language::Wasm, &wat).await.expect("run");
        assert_eq!(r.stdout, "cached", "round {round}");
        let dir = home.path().join("modules");
        let entries: Vec<_> = std::fs::read_dir(&dir)
            .expect("cache dir")
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
            .collect();
        assert_eq!(entries.len(), 1, "round {round}");
        // Corrupt it: the next engine must notice and rebuild.
        let path = &entries[0];
        let mut bytes = std::fs::read(path).expect("read");
        let n = bytes.len();
        bytes[n / 2] ^= 0xff;
        if round == 1 {
            bytes.truncate(n / 3);
        }
        std::fs::write(path, bytes).expect("write");
    }
}

/// The home holds runtimes and compiled code the engine loads and runs: one that another user
/// owns, or that group or others may write, is refused when an engine starts, with what to do;
/// a missing one is created private.
#[tokio::test]
async fn an_unsafe_home_is_refused_when_the_engine_starts() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let base = tempfile::tempdir().expect("dir");
    let home = base.path().join("home");
    std::fs::create_dir(&home).expect("mkdir");
    let start = |home: &std::path::Path| {
        soulbox::Engine::new(soulbox::EngineConfig::default().with_home(home))
            .map(drop)
            .map_err(|e| e.to_string())
    };
    for mode in [0o770, 0o777, 0o1777, 0o702] {
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(mode)).expect("chmod");
        let err = start(&home).expect_err("a writable home must be refused");
        assert!(
            err.contains("refused") && err.contains("chmod go-w"),
            "{mode:o}: {err}"
        );
        assert!(!home.join("modules").exists(), "nothing was made in it");
    }
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        std::os::unix::fs::chown(&home, Some(65534), Some(65534)).expect("chown");
        let err = start(&home).expect_err("a home owned by another user must be refused");
        assert!(err.contains("owned by uid 65534"), "{err}");
        std::os::unix::fs::chown(&home, Some(0), Some(0)).expect("chown back");
    } else {
        eprintln!("skipped the ownership case: it needs root to chown");
    }
    start(&home).expect("an owned, private home is fine");
    let fresh = base.path().join("new/soulbox");
    start(&fresh).expect("a missing home is created");
    assert_eq!(
        std::fs::metadata(&fresh).expect("made").mode() & 0o777,
        0o700
    );
}
