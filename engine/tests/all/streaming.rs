//! Streaming delivers output as the guest writes it, then artifacts, then the result.

use std::time::{Duration, Instant};

use futures::StreamExt;
use soulbox::{Language, Status, StreamOutput};

use crate::{guests, sandbox, tight};

#[tokio::test]
async fn first_chunk_arrives_before_the_guest_exits() {
    let sb = sandbox(tight()).await;
    let mut stream = std::pin::pin!(sb.stream_execute(
        Language::Wasm,
        guests::print_sleep_print("first\n", 600, "second\n")
    ));
    let started = Instant::now();
    let mut first_at = None;
    let mut exit_at = None;
    let mut chunks = Vec::new();
    while let Some(event) = stream.next().await {
        match event.expect("event") {
            StreamOutput::Stdout(b) => {
                first_at.get_or_insert(started.elapsed());
                chunks.push(b);
            }
            StreamOutput::Exit(r) => {
                exit_at = Some(started.elapsed());
                assert_eq!(r.status, Status::Ok, "{r:?}");
                assert_eq!(r.stdout, "first\nsecond\n");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let (first, exit) = (first_at.expect("a chunk"), exit_at.expect("an exit"));
    assert_eq!(chunks[0].as_ref(), b"first\n");
    assert!(
        exit - first >= Duration::from_millis(400),
        "first {first:?}, exit {exit:?}"
    );
}

#[tokio::test]
async fn artifacts_come_before_exit() {
    let sb = sandbox(tight()).await;
    let events: Vec<_> = sb
        .stream_execute(Language::Wasm, guests::write_file("out.txt", "x"))
        .collect()
        .await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(matches!(&events[0], Ok(StreamOutput::Artifact(a)) if a.path == "out.txt"));
    assert!(matches!(&events[1], Ok(StreamOutput::Exit(r)) if r.status == Status::Ok));
}

#[tokio::test]
async fn host_errors_end_the_stream_with_err() {
    let sb = sandbox(tight()).await;
    let events: Vec<_> = sb
        .stream_execute(Language::Wasm, "not wasm at all")
        .collect()
        .await;
    assert_eq!(events.len(), 1);
    assert!(events[0].is_err());
}

#[tokio::test]
async fn dropping_a_stream_mid_run_releases_the_turn() {
    // A private engine: the shared one counts every test's turns.
    let home = tempfile::tempdir().expect("temp dir");
    let engine = soulbox::Engine::new(soulbox::EngineConfig::default().with_home(home.path()))
        .expect("engine");
    let sb = engine.sandbox(tight()).await.expect("sandbox");
    assert_eq!(engine.active_turns(), 0);
    {
        let mut stream = std::pin::pin!(sb.stream_execute(
            Language::Wasm,
            guests::print_sleep_print("first\n", 60_000, "never\n")
        ));
        match stream.next().await {
            Some(Ok(StreamOutput::Stdout(b))) => assert_eq!(b.as_ref(), b"first\n"),
            other => panic!("expected the first chunk, got {other:?}"),
        }
        assert_eq!(engine.active_turns(), 1, "the run holds the turn");
    }
    assert_eq!(engine.active_turns(), 0, "dropping the stream ends the run");
    // The sandbox is free for the next execution at once.
    let next = tokio::time::timeout(
        Duration::from_secs(10),
        sb.execute_code(Language::Wasm, guests::print("again\n")),
    )
    .await
    .expect("the turn was released")
    .expect("runs");
    assert_eq!(next.stdout, "again\n");
}
