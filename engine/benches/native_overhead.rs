//! Overhead of the native backend over a bare fork+exec+wait of the same program.
//!
//! `cargo bench -p soulbox --bench native_overhead` (as root, for the full isolation). The two are
//! measured in alternation, so that load from elsewhere on the machine weighs on both alike. Prints
//! the median and 90th percentile of each and of the per-pair difference - the figure
//! BENCHMARKS.md keeps.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Tests and benchmarks plant and read host files on purpose; the wall rule is for the engine's code.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use soulbox::{Backend, Engine, EngineConfig, ExecutionRequest, Language, SandboxConfig, Status};

const WARMUP: usize = 20;
const RUNS: usize = 300;
const PROGRAM: &str = "/usr/bin/true";

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn percentiles(mut samples: Vec<f64>) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    (samples[samples.len() / 2], samples[samples.len() * 9 / 10])
}

fn bare() -> Duration {
    let started = Instant::now();
    let status = std::process::Command::new(PROGRAM).status().expect("spawn");
    let elapsed = started.elapsed();
    assert!(status.success());
    elapsed
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let home = tempfile::tempdir().expect("home");
    let engine = Engine::new(EngineConfig::default().with_home(home.path())).expect("engine");
    let request = ExecutionRequest::new(Language::Native, std::fs::read(PROGRAM).expect("read"))
        .with_file_name("true");
    let (pairs, isolation) = runtime.block_on(async {
        let sandbox = engine
            .sandbox(SandboxConfig::default().with_backend(Backend::Native))
            .await
            .expect("sandbox");
        let mut isolation = Vec::new();
        let mut pairs = Vec::with_capacity(RUNS);
        for i in 0..WARMUP + RUNS {
            let bare = bare();
            let started = Instant::now();
            let result = sandbox.execute(request.clone()).await.expect("run");
            let native = started.elapsed();
            assert_eq!(result.status, Status::Ok, "{result:?}");
            if i >= WARMUP {
                pairs.push((ms(bare), ms(native)));
            }
            isolation = result.isolation;
        }
        (pairs, isolation)
    });
    let bare = percentiles(pairs.iter().map(|p| p.0).collect());
    let native = percentiles(pairs.iter().map(|p| p.1).collect());
    let overhead = percentiles(pairs.iter().map(|p| p.1 - p.0).collect());
    println!("program: {PROGRAM}, {RUNS} alternating pairs after {WARMUP} warm-up pairs");
    println!("isolation: {}", isolation.join(", "));
    println!(
        "bare fork+exec+wait   median {:6.2} ms  p90 {:6.2} ms",
        bare.0, bare.1
    );
    println!(
        "soulbox native run    median {:6.2} ms  p90 {:6.2} ms",
        native.0, native.1
    );
    println!(
        "overhead (per pair)   median {:6.2} ms  p90 {:6.2} ms",
        overhead.0, overhead.1
    );
}
