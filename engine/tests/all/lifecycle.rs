//! The sandbox lifecycle: Running <-> Paused -> Terminated, each transition and what every state
//! refuses, with the exact error.

use std::time::Duration;

use soulbox::{
    Engine, EngineConfig, Language, MIB, SandboxConfig, SandboxState, SoulBoxError, Status,
};

use crate::runtime_sandbox;

fn config() -> SandboxConfig {
    SandboxConfig::default()
        .with_memory_limit(512 * MIB)
        .with_timeout(Duration::from_secs(60))
}

const WAT: &str = r#"(module (func (export "_start")))"#;

fn refused(err: SoulBoxError, state: SandboxState, action: &str) {
    match &err {
        SoulBoxError::InvalidState {
            state: s,
            action: a,
        } => {
            assert_eq!((*s, *a), (state, action), "{err}");
        }
        other => panic!("expected InvalidState({state}, {action}), got {other}"),
    }
}

#[tokio::test]
async fn pause_refuses_work_and_resume_restores_it() {
    let sandbox = crate::sandbox(SandboxConfig::default()).await;
    assert_eq!(sandbox.state(), SandboxState::Running);
    sandbox.write_file("kept.txt", b"kept").await.unwrap();

    sandbox.pause().await.unwrap();
    assert_eq!(sandbox.state(), SandboxState::Paused);
    sandbox.pause().await.unwrap(); // idempotent
    let err = sandbox.execute_code(Language::Wasm, WAT).await.unwrap_err();
    assert!(err.to_string().contains("resume()"), "{err}");
    refused(err, SandboxState::Paused, "execute");
    refused(
        sandbox.write_file("x.txt", b"x").await.unwrap_err(),
        SandboxState::Paused,
        "write a file",
    );
    refused(
        sandbox.remove_file("kept.txt").await.unwrap_err(),
        SandboxState::Paused,
        "remove a file",
    );
    // Reading is allowed while paused.
    assert_eq!(sandbox.read_file("kept.txt").await.unwrap(), b"kept");
    assert_eq!(sandbox.list_files("").await.unwrap().len(), 1);

    sandbox.resume().await.unwrap();
    assert_eq!(sandbox.state(), SandboxState::Running);
    sandbox.resume().await.unwrap(); // idempotent
    let r = sandbox.execute_code(Language::Wasm, WAT).await.unwrap();
    assert_eq!(r.status, Status::Ok, "{r:?}");
    sandbox.write_file("x.txt", b"x").await.unwrap();
    sandbox.terminate().await;
}

#[tokio::test]
async fn terminated_is_final() {
    for paused_first in [false, true] {
        let sandbox = crate::sandbox(SandboxConfig::default()).await;
        if paused_first {
            sandbox.pause().await.unwrap();
        }
        sandbox.terminate().await;
        assert_eq!(sandbox.state(), SandboxState::Terminated);
        sandbox.terminate().await; // idempotent
        let err = sandbox.execute_code(Language::Wasm, WAT).await.unwrap_err();
        assert!(err.to_string().contains("create a new sandbox"), "{err}");
        refused(err, SandboxState::Terminated, "execute");
        refused(
            sandbox.resume().await.unwrap_err(),
            SandboxState::Terminated,
            "resume",
        );
        refused(
            sandbox.pause().await.unwrap_err(),
            SandboxState::Terminated,
            "pause",
        );
        refused(
            sandbox.write_file("x", b"x").await.unwrap_err(),
            SandboxState::Terminated,
            "write a file",
        );
        refused(
            sandbox.read_file("x").await.unwrap_err(),
            SandboxState::Terminated,
            "read a file",
        );
        refused(
            sandbox.session(Language::Python).await.unwrap_err(),
            SandboxState::Terminated,
            "start a session",
        );
        assert!(sandbox.workspace_path().is_none());
    }
}

#[tokio::test]
async fn a_paused_sandbox_refuses_sessions_but_can_snapshot_them() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = runtime_sandbox(config()).await;
    let session = sandbox.session(Language::Python).await.unwrap();
    session.execute("x = 7").await.unwrap();
    sandbox.pause().await.unwrap();
    refused(
        session.execute("x").await.unwrap_err(),
        SandboxState::Paused,
        "execute",
    );
    refused(
        session.fork().await.map(drop).unwrap_err(),
        SandboxState::Paused,
        "fork a session",
    );
    refused(
        sandbox.session(Language::Python).await.unwrap_err(),
        SandboxState::Paused,
        "start a session",
    );
    // Pause, write the state to disk, drop the live instance...
    let path = dir.path().join("paused.snap");
    session.snapshot(&path).await.unwrap();
    refused(
        sandbox.restore_session(&path).await.unwrap_err(),
        SandboxState::Paused,
        "restore a session",
    );
    drop(session);
    // ... and bring it back after resuming.
    sandbox.resume().await.unwrap();
    let session = sandbox.restore_session(&path).await.unwrap();
    let r = session.execute("x * 6").await.unwrap();
    assert_eq!(r.value.as_deref(), Some("42"), "{r:?}");
    sandbox.terminate().await;
}

/// `terminate` frees the sessions' instances even while the `Session` handles live on: an engine
/// with room for two instances can start two more sessions afterwards.
#[tokio::test]
async fn terminate_frees_session_instances() {
    let engine = Engine::new(
        EngineConfig::default()
            .with_quiet(true)
            .with_max_instances(2),
    )
    .unwrap();
    let sandbox = engine.sandbox(config()).await.unwrap();
    let a = sandbox.session(Language::Ruby).await.unwrap();
    let b = sandbox.session(Language::Ruby).await.unwrap();
    let full = sandbox.session(Language::Ruby).await.unwrap_err();
    assert!(matches!(full, SoulBoxError::SessionStart(_)), "{full}");
    sandbox.terminate().await;
    refused(
        a.execute("1").await.unwrap_err(),
        SandboxState::Terminated,
        "use a session",
    );
    refused(
        b.reset().await.unwrap_err(),
        SandboxState::Terminated,
        "use a session",
    );
    let next = engine.sandbox(config()).await.unwrap();
    let c = next.session(Language::Ruby).await.unwrap();
    let d = next.session(Language::Ruby).await.unwrap();
    assert_eq!(
        c.execute("1 + 1").await.unwrap().value.as_deref(),
        Some("2")
    );
    assert_eq!(
        d.execute("2 + 2").await.unwrap().value.as_deref(),
        Some("4")
    );
    next.terminate().await;
    drop((a, b));
}
