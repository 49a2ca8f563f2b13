//! Session figures for BENCHMARKS.md: session start, per-cell overhead, fork, beside a one-shot
//! run, for the default Python runtime (on `$SOULBOX_HOME`; the first run installs/compiles it).
//!
//! `cargo run --release -p soulbox --example session_bench`

use std::time::{Duration, Instant};

use soulbox::{Engine, EngineConfig, Language, MIB, SandboxConfig};

fn median(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() -> soulbox::Result<()> {
    let engine = Engine::new(EngineConfig::default())?;
    let config = SandboxConfig::default().with_memory_limit(512 * MIB);
    let sandbox = engine.sandbox(config).await?;
    let mut one_shot = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        sandbox.execute_code(Language::Python, "1").await?;
        one_shot.push(t.elapsed());
    }
    let mut starts = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let s = sandbox.session(Language::Python).await?;
        starts.push(t.elapsed());
        drop(s);
    }
    let session = sandbox.session(Language::Python).await?;
    let mut cells = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        let r = session.execute("x = 1\nx").await?;
        cells.push(t.elapsed());
        assert_eq!(r.value.as_deref(), Some("1"));
    }
    session.execute("import numpy, pandas").await?;
    let mut forks = Vec::new();
    let mut memory = 0;
    for _ in 0..10 {
        let t = Instant::now();
        let f = session.fork().await?;
        forks.push(t.elapsed());
        memory = f.execute("1").await?.memory_usage;
    }
    println!(
        "| python one-shot run (`1`), warm | {:.1} ms |",
        median(one_shot)
    );
    println!(
        "| python session start (`_initialize` + helper), warm | {:.1} ms |",
        median(starts)
    );
    println!(
        "| python session cell (`x = 1; x`, value returned) | {:.2} ms |",
        median(cells)
    );
    println!(
        "| python fork after importing numpy + pandas ({:.0} MiB of linear memory) | {:.1} ms |",
        memory as f64 / MIB as f64,
        median(forks)
    );
    sandbox.terminate().await;
    Ok(())
}
