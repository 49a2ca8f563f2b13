//! Lifecycle: idle expiry, set_timeout, pause/resume, delete during a run, graceful shutdown.

use std::time::Duration;

use futures::StreamExt;
use soulbox::{Language, SandboxConfig, Status, StreamOutput};
use soulbox_server::ServerConfig;
use tonic::Code;

use crate::{TestServer, wat_print_then_spin};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_sandbox_expires_and_set_timeout_extends_it() {
    let server = TestServer::start(Default::default()).await;
    let client = server.client().await;
    let short = client
        .create_with_idle_timeout(SandboxConfig::default(), Some(Duration::from_millis(300)))
        .await
        .expect("create");
    let extended = client
        .create_with_idle_timeout(SandboxConfig::default(), Some(Duration::from_millis(300)))
        .await
        .expect("create");
    extended
        .set_timeout(Duration::from_secs(30))
        .await
        .expect("set_timeout");
    let info = extended.info().await.expect("info");
    assert_eq!(info.idle_timeout, Duration::from_secs(30));
    assert!(info.expires_in > Duration::from_secs(25), "{info:?}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let err = short.info().await.expect_err("expired");
    assert_eq!(err.code(), Code::NotFound, "{err}");
    let err = short
        .execute_code(Language::Wasm, crate::wat_print("x"))
        .await
        .expect_err("expired");
    assert_eq!(err.code(), Code::NotFound, "{err}");
    assert_eq!(extended.info().await.expect("alive").state, "running");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_execution_keeps_its_sandbox_alive() {
    let server = TestServer::start(Default::default()).await;
    let sandbox = server
        .client()
        .await
        .create_with_idle_timeout(SandboxConfig::default(), Some(Duration::from_millis(200)))
        .await
        .expect("create");
    let result = sandbox
        .execute_code(
            Language::Python,
            "import time\ntime.sleep(0.8)\nprint('done')",
        )
        .await
        .expect("runs past its idle timeout");
    assert_eq!(result.stdout, "done\n", "{result:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_refuses_runs_until_resume() {
    let server = TestServer::start(Default::default()).await;
    let sandbox = server.sandbox().await;
    sandbox.write_file("kept.txt", b"k").await.expect("write");
    sandbox.pause().await.expect("pause");
    assert_eq!(sandbox.info().await.expect("info").state, "paused");
    let err = sandbox
        .execute_code(Language::Wasm, crate::wat_print("x"))
        .await
        .expect_err("paused");
    assert_eq!(err.code(), Code::FailedPrecondition, "{err}");
    assert!(err.message().contains("paused"), "{err}");
    assert_eq!(
        sandbox.read_file("kept.txt").await.expect("reads work"),
        b"k"
    );
    sandbox.resume().await.expect("resume");
    let result = sandbox
        .execute_code(Language::Wasm, crate::wat_print("x"))
        .await
        .expect("runs");
    assert_eq!(result.status, Status::Ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_sandbox_kills_its_run() {
    let server = TestServer::start(Default::default()).await;
    let client = server.client().await;
    let sandbox = client
        .create(SandboxConfig::default().with_timeout(Duration::from_secs(60)))
        .await
        .expect("create");
    let mut events =
        std::pin::pin!(sandbox.stream_execute(Language::Wasm, wat_print_then_spin("go\n")));
    assert!(matches!(
        events.next().await,
        Some(Ok(StreamOutput::Stdout(_)))
    ));
    let deleter = sandbox.clone();
    tokio::spawn(async move { deleter.terminate().await });
    let mut status = None;
    while let Some(event) = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("the run ends soon after delete")
    {
        if let Ok(StreamOutput::Exit(r)) = event {
            status = Some(r.status);
        }
    }
    assert_eq!(status, Some(Status::Killed));
    assert_eq!(server.manager.sandbox_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_a_run_in_flight_finish_then_refuses_work() {
    let config = ServerConfig {
        shutdown_grace: Duration::from_secs(20),
        ..ServerConfig::default()
    };
    let server = TestServer::start(config).await;
    let sandbox = server.sandbox().await;
    let workspace_probe = server
        .manager
        .list(&soulbox_server::Tenant::new("tenant-1"));
    let workspace = workspace_probe[0]
        .sandbox()
        .workspace_path()
        .expect("workspace");
    let mut events = Box::pin(sandbox.stream_execute(
        Language::Python,
        "import time\nprint('started', flush=True)\ntime.sleep(1)\nprint('finished')",
    ));
    assert!(matches!(
        events.next().await,
        Some(Ok(StreamOutput::Stdout(_)))
    ));
    let manager = server.manager.clone();
    let stopped = tokio::spawn(server.shutdown());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(manager.is_closing());
    // New work is refused while the run in flight finishes.
    let refused = sandbox
        .execute_code(Language::Wasm, crate::wat_print("late\n"))
        .await
        .expect_err("no new work during shutdown");
    assert!(
        matches!(
            refused.code(),
            Code::Unavailable | Code::Cancelled | Code::Unknown
        ),
        "{refused:?}"
    );
    let mut result = None;
    while let Some(event) = events.next().await {
        if let Ok(StreamOutput::Exit(r)) = event {
            result = Some(r);
        }
    }
    let result = result.expect("the run finished");
    assert_eq!(result.status, Status::Ok, "{result:?}");
    assert_eq!(result.stdout, "started\nfinished\n");
    tokio::time::timeout(Duration::from_secs(10), stopped)
        .await
        .expect("the server stops after the run")
        .expect("task")
        .expect("served");
    assert_eq!(manager.sandbox_count(), 0);
    // Removal happens on a blocking thread; give it a moment.
    for _ in 0..100 {
        if !workspace.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!workspace.exists(), "the workspace was removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_kills_runs_that_outlast_the_grace_period() {
    let config = ServerConfig {
        shutdown_grace: Duration::from_millis(300),
        ..ServerConfig::default()
    };
    let server = TestServer::start(config).await;
    let sandbox = server
        .sandbox_with(SandboxConfig::default().with_timeout(Duration::from_secs(60)))
        .await;
    let mut events =
        Box::pin(sandbox.stream_execute(Language::Wasm, wat_print_then_spin("spin\n")));
    assert!(matches!(
        events.next().await,
        Some(Ok(StreamOutput::Stdout(_)))
    ));
    let stopped = tokio::spawn(server.shutdown());
    let mut status = None;
    while let Some(event) = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("the run is ended by the shutdown")
    {
        if let Ok(StreamOutput::Exit(r)) = event {
            status = Some(r.status);
        }
    }
    assert_eq!(status, Some(Status::Killed));
    tokio::time::timeout(Duration::from_secs(10), stopped)
        .await
        .expect("the server stops")
        .expect("task")
        .expect("served");
}
