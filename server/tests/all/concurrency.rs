//! Many clients at once, and the bounded queue.

use std::time::Duration;

use futures::StreamExt;
use soulbox::{Language, SandboxConfig, Status, StreamOutput};
use soulbox_server::ServerConfig;
use tonic::Code;

use crate::{TestServer, wat_print_then_spin};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_clients_at_once() {
    let server = TestServer::start(Default::default()).await;
    let url = server.url.clone();
    let runs = (0..64).map(|i| {
        let url = url.clone();
        tokio::spawn(async move {
            let client = soulbox_client::Client::connect(url)
                .token(crate::TOKEN)
                .await
                .expect("connect");
            let sandbox = client
                .create(SandboxConfig::default())
                .await
                .expect("create");
            let result = sandbox
                .execute_code(Language::JavaScript, format!("console.log({i} * 2)"))
                .await
                .expect("runs");
            sandbox.terminate().await.expect("terminate");
            (i, result)
        })
    });
    for run in futures::future::join_all(runs).await {
        let (i, result) = run.expect("task");
        assert_eq!(result.status, Status::Ok, "{i}: {result:?}");
        assert_eq!(result.stdout, format!("{}\n", i * 2));
    }
    assert_eq!(server.manager.sandbox_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_the_queue_calls_are_resource_exhausted() {
    let config = ServerConfig {
        max_concurrent_executions: 1,
        max_queued_executions: 1,
        max_sandboxes: 3,
        ..ServerConfig::default()
    };
    let server = TestServer::start(config).await;
    let client = server.client().await;
    let config = SandboxConfig::default().with_timeout(Duration::from_secs(30));
    let (a, b, c) = (
        client.create(config.clone()).await.expect("a"),
        client.create(config.clone()).await.expect("b"),
        client.create(config.clone()).await.expect("c"),
    );
    let err = client.create(config).await.expect_err("a fourth sandbox");
    assert_eq!(err.code(), Code::ResourceExhausted, "{err}");
    assert!(err.message().contains("sandboxes"), "{err}");
    // One runs, one waits in the queue, the third is refused.
    let mut running = Box::pin(a.stream_execute(Language::Wasm, wat_print_then_spin("a\n")));
    assert!(matches!(
        running.next().await,
        Some(Ok(StreamOutput::Stdout(_)))
    ));
    let queued = tokio::spawn(async move {
        b.execute_code(Language::Wasm, crate::wat_print("b\n"))
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let err = c
        .execute_code(Language::Wasm, crate::wat_print("c\n"))
        .await
        .expect_err("queue full");
    assert_eq!(err.code(), Code::ResourceExhausted, "{err}");
    assert!(err.message().contains("max_queued_executions"), "{err}");
    // Cancelling the running one lets the queued one through.
    drop(running);
    let b = tokio::time::timeout(Duration::from_secs(10), queued)
        .await
        .expect("the queued run went through")
        .expect("task")
        .expect("runs");
    assert_eq!(b.stdout, "b\n");
}
