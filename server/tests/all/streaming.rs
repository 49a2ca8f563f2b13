//! Streamed runs: events in the guest's order, and a cancelled call stops the guest.

use std::time::{Duration, Instant};

use futures::StreamExt;
use soulbox::{Engine, EngineConfig, Language, SandboxConfig, Status, StreamOutput};

use crate::{TestServer, wat_print_then_spin};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arrive_as_output_then_artifacts_then_one_result() {
    let server = TestServer::start(Default::default()).await;
    let sandbox = server.sandbox().await;
    let code = "import sys, time\nprint('one', flush=True)\ntime.sleep(0.3)\n\
                sys.stderr.write('two\\n'); sys.stderr.flush()\n\
                open('/work/out.txt', 'w').write('three')\nprint('four')";
    let mut events = std::pin::pin!(sandbox.stream_execute(Language::Python, code));
    let mut seen = Vec::new();
    let mut first_at = None;
    let started = Instant::now();
    while let Some(event) = events.next().await {
        match event.expect("event") {
            StreamOutput::Stdout(b) => {
                first_at.get_or_insert(started.elapsed());
                seen.push(format!("stdout:{}", String::from_utf8_lossy(&b)));
            }
            StreamOutput::Stderr(b) => seen.push(format!("stderr:{}", String::from_utf8_lossy(&b))),
            StreamOutput::Artifact(a) | StreamOutput::Image(a) => {
                seen.push(format!("artifact:{}:{}", a.path, a.mime_type));
            }
            StreamOutput::Exit(r) => {
                assert_eq!(r.status, Status::Ok, "{r:?}");
                assert_eq!(r.stdout, "one\nfour\n");
                seen.push("result".into());
            }
        }
    }
    let joined = seen.join("|");
    assert!(
        joined.starts_with("stdout:one\n|stderr:two\n|stdout:four\n|artifact:out.txt:text/plain"),
        "{joined}"
    );
    assert!(
        joined.ends_with("|result"),
        "the result comes last: {joined}"
    );
    assert_eq!(seen.iter().filter(|e| *e == "result").count(), 1);
    let total = started.elapsed();
    let first = first_at.expect("stdout arrived");
    assert!(
        total - first >= Duration::from_millis(250),
        "the first chunk came as written: {first:?} of {total:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_mid_run_leaves_no_guest_running() {
    // A private engine: its turn counter sees only this test's runs.
    let engine = Engine::new(EngineConfig::default().with_quiet(true)).expect("engine");
    let server = TestServer::start_on(engine.clone(), Default::default()).await;
    let sandbox = server
        .sandbox_with(SandboxConfig::default().with_timeout(Duration::from_secs(60)))
        .await;
    {
        let mut events = std::pin::pin!(
            sandbox.stream_execute(Language::Wasm, wat_print_then_spin("spinning\n"))
        );
        match events.next().await {
            Some(Ok(StreamOutput::Stdout(b))) => assert_eq!(b.as_ref(), b"spinning\n"),
            other => panic!("expected the first chunk, got {other:?}"),
        }
        assert_eq!(engine.active_turns(), 1, "the guest is running");
    }
    // The client dropped the stream: the call is cancelled and the server drops the run.
    let deadline = Instant::now() + Duration::from_secs(5);
    while engine.active_turns() != 0 {
        assert!(
            Instant::now() < deadline,
            "the guest still runs 5 s after the cancel"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The sandbox's turn is free again.
    let next = tokio::time::timeout(
        Duration::from_secs(10),
        sandbox.execute_code(Language::Wasm, crate::wat_print("next\n")),
    )
    .await
    .expect("the sandbox is free")
    .expect("runs");
    assert_eq!(next.stdout, "next\n");
    assert_eq!(engine.active_turns(), 0);
}
