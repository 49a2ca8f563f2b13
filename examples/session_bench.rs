//! Session figures for BENCHMARKS.md: session start, per-cell overhead, fork, snapshot to disk
//! and restore (in this process and in a new one), for the default Python runtime (after
//! importing numpy + pandas), for Ruby and for JavaScript (`quickjs-session`), beside a one-shot run (on `$SOULBOX_HOME`; the first
//! run installs/compiles the runtimes).
//!
//! `cargo run --release -p soulbox --example session_bench`
//!
//! Snapshots go to the system temporary directory. With `restore FILE` the program restores one
//! snapshot and prints the time it took (how the new-process figure is measured).
// A benchmark on the host's own files; the wall rule is for the engine's code.
#![allow(clippy::disallowed_methods)]

use std::path::Path;
use std::time::{Duration, Instant};

use soulbox::{Engine, EngineConfig, Language, MIB, SandboxConfig, Session};

fn median(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1e3
}

fn config() -> SandboxConfig {
    SandboxConfig::default().with_memory_limit(512 * MIB)
}

/// Restores `file` in this (new) process; prints the restore time and the whole time in ms.
async fn restore_only(file: &Path, started: Instant) -> soulbox::Result<()> {
    let engine = Engine::new(EngineConfig::default().with_quiet(true))?;
    let sandbox = engine.sandbox(config()).await?;
    let t = Instant::now();
    let session = sandbox.restore_session(file).await?;
    let restore = t.elapsed();
    let r = session.execute("1").await?;
    assert_eq!(r.value.as_deref(), Some("1"));
    println!(
        "{:.3} {:.3}",
        restore.as_secs_f64() * 1e3,
        started.elapsed().as_secs_f64() * 1e3
    );
    sandbox.terminate().await;
    Ok(())
}

/// Per-cell, fork, snapshot and restore figures for one live `session`.
async fn lifecycle(label: &str, session: &Session, cell: &str, value: &str) -> soulbox::Result<()> {
    let sandbox = session.sandbox();
    let mut cells = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        let r = session.execute(cell).await?;
        cells.push(t.elapsed());
        assert_eq!(r.value.as_deref(), Some(value), "{r:?}");
    }
    let mut forks = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let f = session.fork().await?;
        forks.push(t.elapsed());
        drop(f);
    }
    let file = std::env::temp_dir().join(format!("soulbox-bench-{label}.snap"));
    let mut snapshots = Vec::new();
    let mut info = None;
    for _ in 0..10 {
        let t = Instant::now();
        info = Some(session.snapshot(&file).await?);
        snapshots.push(t.elapsed());
    }
    let mut restores = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let s = sandbox.restore_session(&file).await?;
        restores.push(t.elapsed());
        assert_eq!(s.execute(cell).await?.value.as_deref(), Some(value));
    }
    let mut child_restores = Vec::new();
    let mut child_totals = Vec::new();
    let exe = std::env::current_exe().map_err(|e| soulbox::SoulBoxError::Io {
        context: "finding this program".into(),
        source: e,
    })?;
    for _ in 0..5 {
        let t = Instant::now();
        let out = std::process::Command::new(&exe)
            .arg("restore")
            .arg(&file)
            .output()
            .map_err(|e| soulbox::SoulBoxError::Io {
                context: "running the restore process".into(),
                source: e,
            })?;
        let total = t.elapsed();
        let text = String::from_utf8_lossy(&out.stdout);
        let restore: f64 = text
            .split_whitespace()
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(f64::NAN);
        child_restores.push(Duration::from_secs_f64(restore / 1e3));
        child_totals.push(total);
    }
    let info = info.unwrap_or_default();
    let mib = |b: u64| b as f64 / MIB as f64;
    println!(
        "| {label}: session cell (`{}`, value returned) | {:.2} ms |",
        cell.replace('\n', "; "),
        median(cells)
    );
    println!("| {label}: fork | {:.1} ms |", median(forks));
    println!(
        "| {label}: snapshot to file ({:.0} MiB memory, {:.0} MiB written, file {:.1} MiB) | {:.1} ms |",
        mib(info.memory_bytes),
        mib(info.memory_bytes_written),
        mib(info.file_bytes),
        median(snapshots)
    );
    println!(
        "| {label}: restore, same process | {:.1} ms |",
        median(restores)
    );
    println!(
        "| {label}: restore, new process (restore call / whole process incl. engine start and one cell) | {:.1} ms / {:.1} ms |",
        median(child_restores),
        median(child_totals)
    );
    let _ = std::fs::remove_file(&file);
    Ok(())
}

#[tokio::main]
async fn main() -> soulbox::Result<()> {
    let started = Instant::now();
    let args: Vec<String> = std::env::args().collect();
    if let [_, cmd, file] = args.as_slice()
        && cmd == "restore"
    {
        return restore_only(Path::new(file), started).await;
    }
    let engine = Engine::new(EngineConfig::default())?;
    let sandbox = engine.sandbox(config()).await?;
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
    println!(
        "| python one-shot run (`1`), warm | {:.1} ms |",
        median(one_shot)
    );
    println!(
        "| python session start (from the pre-initialised image), warm | {:.1} ms |",
        median(starts)
    );
    let session = sandbox.session(Language::Python).await?;
    let mut cells = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        session.execute("x = 1\nx").await?;
        cells.push(t.elapsed());
    }
    println!(
        "| python session cell (`x = 1; x`), fresh interpreter | {:.2} ms |",
        median(cells)
    );
    session.execute("import numpy, pandas").await?;
    lifecycle("python + numpy + pandas", &session, "x = 1\nx", "1").await?;
    drop(session);

    let mut starts = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let s = sandbox.session(Language::Ruby).await?;
        starts.push(t.elapsed());
        drop(s);
    }
    println!(
        "| ruby session start (from the pre-initialised image + helper), warm | {:.1} ms |",
        median(starts)
    );
    let ruby = sandbox.session(Language::Ruby).await?;
    ruby.execute("require 'json'").await?;
    lifecycle("ruby", &ruby, "x = 1\nx", "1").await?;
    drop(ruby);

    let mut starts = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let s = sandbox.session(Language::JavaScript).await?;
        starts.push(t.elapsed());
        drop(s);
    }
    println!(
        "| javascript session start (`_initialize` + `soulbox_init`), warm | {:.1} ms |",
        median(starts)
    );
    let js = sandbox.session(Language::JavaScript).await?;
    js.execute("var data = Array.from({ length: 100000 }, (_, i) => ({ i, s: String(i) }))")
        .await?;
    lifecycle("javascript + 100k objects", &js, "x = 1; x", "1").await?;
    sandbox.terminate().await;
    Ok(())
}
