//! Overhead of the native backend over a bare fork+exec+wait of the same program.
//!
//! `cargo bench -p soulbox --bench native_overhead` (as root, for the full isolation). Prints the
//! median and 90th percentile of each, and the difference - the figure BENCHMARKS.md keeps.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use soulbox::{Backend, Engine, EngineConfig, ExecutionRequest, Language, SandboxConfig, Status};

const WARMUP: usize = 20;
const RUNS: usize = 300;

fn stats(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    (
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() * 9 / 10]),
    )
}

fn bare(program: &str) -> (f64, f64) {
    let run = || {
        let status = std::process::Command::new(program).status().expect("spawn");
        assert!(status.success());
    };
    (0..WARMUP).for_each(|_| run());
    stats(
        (0..RUNS)
            .map(|_| {
                let started = Instant::now();
                run();
                started.elapsed()
            })
            .collect(),
    )
}

fn main() {
    let program = "/usr/bin/true";
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let home = tempfile::tempdir().expect("home");
    let engine = Engine::new(EngineConfig::default().with_home(home.path())).expect("engine");
    let bytes = std::fs::read(program).expect("read the program");
    let (native, isolation) = runtime.block_on(async {
        let sandbox = engine
            .sandbox(SandboxConfig::default().with_backend(Backend::Native))
            .await
            .expect("sandbox");
        let request = ExecutionRequest::new(Language::Native, bytes).with_file_name("true");
        let mut isolation = Vec::new();
        let mut samples = Vec::with_capacity(RUNS);
        for i in 0..WARMUP + RUNS {
            let started = Instant::now();
            let result = sandbox.execute(request.clone()).await.expect("run");
            let elapsed = started.elapsed();
            assert_eq!(result.status, Status::Ok, "{result:?}");
            if i >= WARMUP {
                samples.push(elapsed);
            }
            isolation = result.isolation;
        }
        (stats(samples), isolation)
    });
    let bare = bare(program);
    println!("program: {program}, {RUNS} runs after {WARMUP} warm-up runs");
    println!("isolation: {}", isolation.join(", "));
    println!(
        "bare fork+exec+wait   median {:.2} ms  p90 {:.2} ms",
        bare.0, bare.1
    );
    println!(
        "soulbox native        median {:.2} ms  p90 {:.2} ms",
        native.0, native.1
    );
    println!(
        "overhead              median {:.2} ms  p90 {:.2} ms",
        native.0 - bare.0,
        native.1 - bare.1
    );
}
