//! Sessions on the server: state across cells, fork, snapshot and restore, reset.

use soulbox::{Language, SandboxConfig, Status, api::ErrorKind};
use tonic::Code;

use crate::TestServer;

fn python_config() -> SandboxConfig {
    SandboxConfig::default().with_memory_limit(512 * soulbox::MIB)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_persists_across_cells_and_values_come_back() {
    let server = TestServer::start(Default::default()).await;
    let sandbox = server.sandbox_with(python_config()).await;
    let session = sandbox.session(Language::Python).await.expect("session");
    assert_eq!(session.language(), Language::Python);
    assert_eq!(session.runtime_name(), "python");
    let first = session
        .execute("x = 41\nprint('set')")
        .await
        .expect("cell 1");
    assert_eq!(first.status, Status::Ok, "{first:?}");
    assert_eq!(first.stdout, "set\n");
    assert_eq!(first.value, None);
    let second = session.execute("x + 1").await.expect("cell 2");
    assert_eq!(second.value.as_deref(), Some("42"), "{second:?}");
    let failed = session.execute("1/0").await.expect("cell 3");
    assert_eq!(failed.status, Status::Error);
    assert!(failed.stderr.contains("ZeroDivisionError"), "{failed:?}");
    assert_eq!(
        session.execute("x").await.expect("cell 4").value.as_deref(),
        Some("41"),
        "an exception keeps the state"
    );
    // JavaScript and Ruby sessions too.
    let js = sandbox
        .session(Language::JavaScript)
        .await
        .expect("js session");
    js.execute("let y = 20").await.expect("js cell");
    assert_eq!(
        js.execute("y * 2 + 2").await.expect("js").value.as_deref(),
        Some("42")
    );
    let rb = sandbox.session(Language::Ruby).await.expect("ruby session");
    rb.execute("z = 6").await.expect("rb cell");
    assert_eq!(
        rb.execute("z * 7").await.expect("rb").value.as_deref(),
        Some("42")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fork_snapshot_restore_and_reset() {
    let server = TestServer::start(Default::default()).await;
    let client = server.client().await;
    let sandbox = client.create(python_config()).await.expect("create");
    let session = sandbox.session(Language::Python).await.expect("session");
    session.execute("n = 1").await.expect("cell");
    let fork = session.fork().await.expect("fork");
    fork.execute("n = 100").await.expect("fork cell");
    assert_eq!(
        session.execute("n").await.expect("parent").value.as_deref(),
        Some("1")
    );
    assert_eq!(
        fork.execute("n").await.expect("fork").value.as_deref(),
        Some("100")
    );

    let snapshot = session.snapshot().await.expect("snapshot");
    assert!(snapshot.size > 0);
    // Into another sandbox of the same tenant.
    let other = client.create(python_config()).await.expect("create 2");
    let restored = other.restore_session(&snapshot).await.expect("restore");
    assert_eq!(
        restored
            .execute("n + 1")
            .await
            .expect("restored")
            .value
            .as_deref(),
        Some("2")
    );
    // Another tenant cannot use the snapshot.
    let stranger = server
        .client_with(crate::OTHER_TOKEN)
        .await
        .create(python_config())
        .await
        .expect("other tenant's sandbox");
    let err = stranger
        .restore_session(&snapshot)
        .await
        .expect_err("not theirs");
    assert_eq!(err.code(), Code::NotFound, "{err}");
    let err = stranger
        .delete_snapshot(&snapshot)
        .await
        .expect_err("not theirs");
    assert_eq!(err.code(), Code::NotFound, "{err}");
    // Deleted by its owner, it is gone.
    other.delete_snapshot(&snapshot).await.expect("delete");
    let err = other.restore_session(&snapshot).await.expect_err("deleted");
    assert_eq!(err.code(), Code::NotFound, "{err}");

    session.reset().await.expect("reset");
    let after = session
        .execute("'n' in globals()")
        .await
        .expect("after reset");
    assert_eq!(after.value.as_deref(), Some("False"));
    session.close().await.expect("close");
    let err = session.execute("1").await.expect_err("closed");
    assert_eq!(err.code(), Code::NotFound, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cell_over_a_limit_poisons_the_session_until_reset() {
    let server = TestServer::start(Default::default()).await;
    let sandbox = server
        .sandbox_with(python_config().with_timeout(std::time::Duration::from_secs(1)))
        .await;
    let session = sandbox.session(Language::Python).await.expect("session");
    let spun = session.execute("while True: pass").await.expect("cell");
    assert_eq!(spun.status, Status::Timeout, "{spun:?}");
    let err = session.execute("1").await.expect_err("poisoned");
    assert_eq!(err.kind(), ErrorKind::SessionPoisoned, "{err}");
    assert_eq!(err.code(), Code::FailedPrecondition);
    session.reset().await.expect("reset");
    assert_eq!(
        session.execute("2").await.expect("after").value.as_deref(),
        Some("2")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_cell_closes_its_session() {
    use futures::StreamExt;
    let server = TestServer::start(Default::default()).await;
    let sandbox = server
        .sandbox_with(python_config().with_timeout(std::time::Duration::from_secs(60)))
        .await;
    let session = sandbox.session(Language::Python).await.expect("session");
    {
        let mut events =
            Box::pin(session.stream("import time\nprint('started', flush=True)\ntime.sleep(30)"));
        match events.next().await {
            Some(Ok(soulbox::StreamOutput::Stdout(b))) => assert_eq!(b.as_ref(), b"started\n"),
            other => panic!("expected the first chunk, got {other:?}"),
        }
    }
    // The interpreter was interrupted halfway: the server closes the session.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match session.execute("1").await {
            Err(err) if err.code() == Code::NotFound => break,
            other => assert!(
                std::time::Instant::now() < deadline,
                "the session is still usable: {other:?}"
            ),
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The sandbox is free for new work.
    let fresh = sandbox
        .session(Language::Python)
        .await
        .expect("new session");
    assert_eq!(
        fresh.execute("6 * 7").await.expect("cell").value.as_deref(),
        Some("42")
    );
}
