//! Session figures for BENCHMARKS.md: session start, per-cell overhead, fork, beside a one-shot
//! run, for the default Python runtime or for JavaScript (`quickjs-session`; one-shot runs use
//! the `quickjs` command build). On `$SOULBOX_HOME`; the first run installs/builds/compiles it.
//!
//! `cargo run --release -p soulbox --example session_bench [-- python|javascript]`

use std::time::{Duration, Instant};

use soulbox::{Engine, EngineConfig, Language, MIB, SandboxConfig};

fn median(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1e3
}

/// What is measured for one language.
struct Plan {
    language: Language,
    name: &'static str,
    one_shot: &'static str,
    start: &'static str,
    cell: &'static str,
    /// State built before forking, and what it is called in the table.
    before_fork: &'static str,
    fork_label: &'static str,
}

const PYTHON: Plan = Plan {
    language: Language::Python,
    name: "python",
    one_shot: "1",
    start: "`_initialize` + helper",
    cell: "x = 1\nx",
    before_fork: "import numpy, pandas",
    fork_label: "after importing numpy + pandas",
};

const JAVASCRIPT: Plan = Plan {
    language: Language::JavaScript,
    name: "javascript",
    one_shot: "1",
    start: "`_initialize` + `soulbox_init`",
    cell: "x = 1; x",
    before_fork: "var data = Array.from({ length: 100000 }, (_, i) => ({ i, s: String(i) }))",
    fork_label: "after building 100k small objects",
};

#[tokio::main]
async fn main() -> soulbox::Result<()> {
    let plan = match std::env::args().nth(1).as_deref() {
        None | Some("python") => PYTHON,
        Some("javascript" | "js") => JAVASCRIPT,
        Some(other) => {
            eprintln!("usage: session_bench [python|javascript] (got {other})");
            std::process::exit(2);
        }
    };
    let engine = Engine::new(EngineConfig::default())?;
    let config = SandboxConfig::default().with_memory_limit(512 * MIB);
    let sandbox = engine.sandbox(config).await?;
    let mut one_shot = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        sandbox.execute_code(plan.language, plan.one_shot).await?;
        one_shot.push(t.elapsed());
    }
    let mut starts = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let s = sandbox.session(plan.language).await?;
        starts.push(t.elapsed());
        drop(s);
    }
    let session = sandbox.session(plan.language).await?;
    let mut cells = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        let r = session.execute(plan.cell).await?;
        cells.push(t.elapsed());
        assert_eq!(r.value.as_deref(), Some("1"));
    }
    session.execute(plan.before_fork).await?;
    let mut forks = Vec::new();
    let mut memory = 0;
    for _ in 0..10 {
        let t = Instant::now();
        let f = session.fork().await?;
        forks.push(t.elapsed());
        memory = f.execute("1").await?.memory_usage;
    }
    let name = plan.name;
    println!(
        "| {name} one-shot run (`{}`), warm | {:.1} ms |",
        plan.one_shot,
        median(one_shot)
    );
    println!(
        "| {name} session start ({}), warm | {:.1} ms |",
        plan.start,
        median(starts)
    );
    println!(
        "| {name} session cell (`{}`, value returned) | {:.2} ms |",
        plan.cell.replace('\n', "; "),
        median(cells)
    );
    println!(
        "| {name} fork {} ({:.0} MiB of linear memory) | {:.1} ms |",
        plan.fork_label,
        memory as f64 / MIB as f64,
        median(forks)
    );
    sandbox.terminate().await;
    Ok(())
}
