//! Many sandboxes at once: each gets exactly its own output and files.

use soulbox::{Language, Status};

use crate::{engine, guests, tight};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_parallel_sandboxes_stay_separate() {
    let mut tasks = Vec::new();
    for i in 0..100 {
        tasks.push(tokio::spawn(async move {
            let sb = engine().sandbox(tight()).await.expect("sandbox");
            let mine = format!("sandbox {i}");
            let r = sb
                .execute_code(Language::Wasm, guests::write_file("id.txt", &mine))
                .await
                .expect("write run");
            assert_eq!(r.status, Status::Ok, "{r:?}");
            let r = sb
                .execute_code(Language::Wasm, guests::print(&mine))
                .await
                .expect("print run");
            assert_eq!(r.stdout, mine);
            let files = sb.list_files("").await.expect("list");
            assert_eq!(files.len(), 1, "{files:?}");
            assert_eq!(sb.read_file("id.txt").await.expect("read"), mine.as_bytes());
            sb.terminate().await;
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spinning_guests_do_not_starve_others() {
    use std::time::{Duration, Instant};
    let spinners: Vec<_> = (0..4)
        .map(|_| {
            tokio::spawn(async {
                let sb = engine()
                    .sandbox(tight().with_timeout(Duration::from_secs(2)))
                    .await
                    .expect("sb");
                sb.execute_code(Language::Wasm, guests::spin())
                    .await
                    .expect("spin")
                    .status
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let sb = engine().sandbox(tight()).await.expect("sandbox");
    let r = sb
        .execute_code(Language::Wasm, guests::print("quick"))
        .await
        .expect("run");
    assert_eq!(r.stdout, "quick");
    let quick = started.elapsed();
    for s in spinners {
        assert_eq!(s.await.expect("task"), Status::Timeout);
    }
    assert!(quick < Duration::from_millis(1500), "starved for {quick:?}");
}

#[test]
fn the_engine_uses_the_pooling_allocator_here() {
    // This machine allows the reservation; a silent fallback would cost every run its speed.
    assert!(engine().uses_pooling());
}
