//! Compile step timings: `cargo bench -p soulbox --bench compile` (needs the toolchains:
//! `soulbox toolchains install`). Prints the median of each case, in milliseconds, as a
//! markdown table for BENCHMARKS.md.
//!
//! - cold: a new engine (empty compile and module caches) and a source never seen: rustc/clang
//!   in bubblewrap, Wasmtime compiling the module, the run;
//! - warm: the same engine, a source never seen (differs by a comment): compile + run;
//! - cached: the same source again: compile-cache and module-cache hit, then the run.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Tests and benchmarks plant and read host files on purpose; the wall rule is for the engine's code.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use soulbox::{Engine, EngineConfig, Language, SandboxConfig, Status};

const ROUNDS: usize = 7;

const PROGRAMS: [(&str, Language, &str); 4] = [
    (
        "rust (std)",
        Language::Rust,
        "fn main() { let v: Vec<u64> = (1..=10).collect(); println!(\"{}\", v.iter().sum::<u64>()); }\n",
    ),
    (
        "rust (serde_json)",
        Language::Rust,
        "fn main() { let v: serde_json::Value = serde_json::from_str(\"[1,2,3]\").unwrap(); println!(\"{}\", v[1]); }\n",
    ),
    (
        "c",
        Language::C,
        "#include <stdio.h>\nint main(void) { int s = 0; for (int i = 1; i <= 10; i++) s += i; printf(\"%d\\n\", s); return 0; }\n",
    ),
    (
        "c++",
        Language::Cpp,
        "#include <iostream>\n#include <vector>\n#include <numeric>\nint main() { std::vector<int> v(10); std::iota(v.begin(), v.end(), 1); std::cout << std::accumulate(v.begin(), v.end(), 0) << std::endl; }\n",
    ),
];

fn median(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1e3
}

fn engine(home: &std::path::Path) -> Engine {
    let toolchains = soulbox::toolchains::default_toolchains_dir(
        &soulbox::default_home().expect("a SoulBox home (set SOULBOX_HOME)"),
    );
    Engine::new(
        EngineConfig::default()
            .with_home(home)
            .with_toolchains(toolchains),
    )
    .expect("engine")
}

async fn once(engine: &Engine, language: Language, code: &str) -> Duration {
    let sandbox = engine
        .sandbox(SandboxConfig::default())
        .await
        .expect("sandbox");
    let started = Instant::now();
    let result = sandbox.execute_code(language, code).await.expect("execute");
    let elapsed = started.elapsed();
    assert_eq!(result.status, Status::Ok, "{result:#?}");
    elapsed
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!("| program | cold compile+run | warm compile+run | cached rerun |");
    println!("|---|---|---|---|");
    runtime.block_on(async {
        for (name, language, code) in PROGRAMS {
            let (mut cold, mut warm, mut cached) = (Vec::new(), Vec::new(), Vec::new());
            for round in 0..ROUNDS {
                let home = tempfile::tempdir().expect("home");
                let engine = engine(home.path());
                let first = format!("{code}// cold {round}\n");
                cold.push(once(&engine, language, &first).await);
                let second = format!("{code}// warm {round}\n");
                warm.push(once(&engine, language, &second).await);
                cached.push(once(&engine, language, &second).await);
            }
            println!(
                "| {name} | {:.0} ms | {:.0} ms | {:.1} ms |",
                median(cold),
                median(warm),
                median(cached)
            );
        }
    });
}
