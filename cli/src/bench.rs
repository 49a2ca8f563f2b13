//! `soulbox bench`: the benchmark table of BENCHMARKS.md - latency per runtime (new process,
//! fresh sandbox in a warm process without and with a warm pool), throughput at several
//! concurrencies, sandbox creation cost, idle memory per sandbox, native-backend overhead, and
//! native peers (`python3`, `node`, `ruby`) measured in the same run, with ratios. Medians and
//! p99s only: these machines are noisy.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use soulbox::{Backend, Engine, EngineConfig, ExecutionRequest, Language, SandboxConfig, Status};

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Executions per latency measurement in a warm process.
    #[arg(long, default_value_t = 50)]
    iterations: usize,
    /// New processes per cold-start measurement.
    #[arg(long, default_value_t = 10)]
    processes: usize,
    /// Concurrency levels for the throughput columns.
    #[arg(long, value_delimiter = ',', default_value = "1,2,16,256")]
    concurrency: Vec<usize>,
    /// Only these workloads (names as in the table's first column, e.g. `wasm`, `python`).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Write the Markdown report to this file as well as stdout.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Measure the gRPC server instead: JS and Python hello in-process vs through `soulbox
    /// serve` on loopback (latency per execution, throughput at the --concurrency levels).
    #[arg(long)]
    server: bool,
}

/// One thing to measure: a runtime (or raw wasm) running a small program.
struct Workload {
    name: &'static str,
    case: &'static str,
    language: Language,
    runtime: Option<&'static str>,
    code: &'static str,
}

const HELLO_WAT: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "2\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 2))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#;

const WORKLOADS: &[Workload] = &[
    Workload {
        name: "wasm",
        case: "hello",
        language: Language::Wasm,
        runtime: None,
        code: HELLO_WAT,
    },
    Workload {
        name: "python",
        case: "hello",
        language: Language::Python,
        runtime: None,
        code: "print(1+1)",
    },
    Workload {
        name: "python",
        case: "import json+sqlite3",
        language: Language::Python,
        runtime: None,
        code: "import json, sqlite3\nprint(json.dumps({'a': sqlite3.sqlite_version}))",
    },
    Workload {
        name: "python-lite",
        case: "hello",
        language: Language::Python,
        runtime: Some("python-lite"),
        code: "print(1+1)",
    },
    Workload {
        name: "micropython",
        case: "hello",
        language: Language::Python,
        runtime: Some("micropython"),
        code: "print(1+1)",
    },
    Workload {
        name: "javascript",
        case: "hello",
        language: Language::JavaScript,
        runtime: None,
        code: "console.log(1+1)",
    },
    Workload {
        name: "javascript",
        case: "JSON round trip",
        language: Language::JavaScript,
        runtime: None,
        code: "console.log(JSON.stringify(JSON.parse('{\"a\":[1,2,3]}')))",
    },
    Workload {
        name: "ruby",
        case: "hello",
        language: Language::Ruby,
        runtime: None,
        code: "puts 1+1",
    },
    Workload {
        name: "ruby",
        case: "require json",
        language: Language::Ruby,
        runtime: None,
        code: "require 'json'\nputs({a: 1}.to_json)",
    },
];

/// Native programs measured beside the sandbox, as whole new processes.
const PEERS: &[(&str, &[&str])] = &[
    ("python3 -c 'print(1+1)'", &["python3", "-c", "print(1+1)"]),
    (
        "python3 -S -c 'print(1+1)'",
        &["python3", "-S", "-c", "print(1+1)"],
    ),
    (
        "node -e 'console.log(1+1)'",
        &["node", "-e", "console.log(1+1)"],
    ),
    ("ruby -e 'puts 1+1'", &["ruby", "-e", "puts 1+1"]),
    ("/bin/true (fork+exec)", &["/bin/true"]),
];

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort();
    let idx = ((samples.len() - 1) as f64 * p).round() as usize;
    samples[idx.min(samples.len() - 1)]
}

fn ms(d: Duration) -> String {
    let v = d.as_secs_f64() * 1e3;
    if v < 0.1 {
        format!("{:.1} µs", v * 1e3)
    } else {
        format!("{v:.2} ms")
    }
}

fn request(w: &Workload) -> ExecutionRequest {
    let mut r = ExecutionRequest::new(w.language, w.code);
    r.runtime = w.runtime.map(str::to_owned);
    r
}

fn config() -> SandboxConfig {
    SandboxConfig::default()
        .with_memory_limit(512 * soulbox::MIB)
        .with_timeout(Duration::from_secs(60))
}

/// One fresh sandbox, one execution, sandbox ended: the unit every latency figure measures.
async fn one_run(engine: &Engine, w: &Workload) -> Result<Duration, String> {
    let started = Instant::now();
    let sandbox = engine.sandbox(config()).await.map_err(|e| e.to_string())?;
    let result = sandbox
        .execute(request(w))
        .await
        .map_err(|e| e.to_string())?;
    sandbox.terminate().await;
    let took = started.elapsed();
    if result.status != Status::Ok || result.stdout.trim().is_empty() {
        return Err(format!("{}: {}", result.status, result.stderr.trim()));
    }
    Ok(took)
}

fn cold_process(w: &Workload, processes: usize) -> Result<(Duration, Duration), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut samples = Vec::with_capacity(processes);
    for _ in 0..processes {
        let mut cmd = Command::new(&exe);
        cmd.args(["run", "-l", w.language.name(), "-c", w.code]);
        if let Some(rt) = w.runtime {
            cmd.args(["--runtime", rt]);
        }
        let started = Instant::now();
        let out = cmd
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        samples.push(started.elapsed());
        if !out.status.success() {
            return Err(format!("exit {:?}", out.status.code()));
        }
    }
    Ok((
        percentile(&mut samples, 0.5),
        percentile(&mut samples, 0.99),
    ))
}

/// The real program behind `name` when it is a version-manager shim (pyenv's `python3` is a
/// shell script that costs more than the interpreter's own start): the interpreter's own
/// `sys.executable` for Python, else the name itself.
fn resolve(name: &str) -> String {
    if name == "python3" {
        let out = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .stderr(Stdio::null())
            .output();
        if let Ok(out) = out {
            let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if out.status.success() && !path.is_empty() {
                return path;
            }
        }
    }
    name.to_owned()
}

/// `program` (already [`resolve`]d) with `args` as new processes: the p50.
fn peer(program: &str, args: &[&str], processes: usize) -> Option<Duration> {
    let mut samples = Vec::with_capacity(processes);
    for _ in 0..processes {
        let started = Instant::now();
        let status = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()?;
        samples.push(started.elapsed());
        if !status.success() {
            return None;
        }
    }
    Some(percentile(&mut samples, 0.5))
}

/// Like [`one_run`], after giving the engine's warm pool time to refill (an engine between
/// requests); measures the execution's own path with a ready instance.
async fn pooled_run(engine: &Engine, w: &Workload) -> Result<Duration, String> {
    for _ in 0..100 {
        if engine.warm_pool_stats().idle > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    one_run(engine, w).await
}

/// `true` through the native backend in a fresh sandbox, p50 and p90, or why it cannot run.
async fn native_overhead(
    engine: &Engine,
    iterations: usize,
) -> Result<(Duration, Duration), String> {
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations.max(1) {
        let started = Instant::now();
        let sandbox = engine
            .sandbox(config().with_backend(Backend::Native))
            .await
            .map_err(|e| e.to_string())?;
        let r = sandbox
            .execute(ExecutionRequest::new(Language::Shell, "true"))
            .await
            .map_err(|e| e.to_string())?;
        sandbox.terminate().await;
        if r.status != Status::Ok {
            return Err(format!("{}: {}", r.status, r.stderr.trim()));
        }
        samples.push(started.elapsed());
    }
    Ok((percentile(&mut samples, 0.5), percentile(&mut samples, 0.9)))
}

async fn throughput(
    engine: &Engine,
    w: &'static Workload,
    concurrency: usize,
) -> Result<f64, String> {
    let total = (concurrency * 4).max(100);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (engine, next) = (engine.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < total {
                one_run(&engine, w).await?;
            }
            Ok::<(), String>(())
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores, {cpu}")
}

pub(crate) async fn bench(args: BenchArgs) -> ExitCode {
    if args.server {
        return crate::bench_server::run(
            args.iterations,
            &args.concurrency,
            args.output.as_deref(),
        )
        .await;
    }
    // The default engine (warm pools on) for the pooled and throughput figures; one without
    // pools for the plain warm figures.
    let engines = Engine::new(EngineConfig::default()).and_then(|pooled| {
        Engine::new(EngineConfig::default().with_warm_pool(0)).map(|plain| (pooled, plain))
    });
    let (engine, plain_engine) = match engines {
        Ok(e) => e,
        Err(e) => {
            eprintln!("soulbox: {e}");
            return ExitCode::from(crate::run::EXIT_ENGINE);
        }
    };
    let mut report = String::new();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let _ = writeln!(
        report,
        "Machine: {}. Allocator: {}. Command: `{command}`.\n",
        machine(),
        if engine.uses_pooling() {
            "pooling + copy-on-write"
        } else {
            "on-demand"
        }
    );

    // Sandbox creation and idle memory.
    let mut creates = Vec::new();
    for _ in 0..1000 {
        let started = Instant::now();
        if let Ok(sb) = engine.sandbox(config()).await {
            creates.push(started.elapsed());
            sb.terminate().await;
        }
    }
    let before = rss_bytes();
    let mut idle = Vec::new();
    for _ in 0..1000 {
        if let Ok(sb) = engine.sandbox(config()).await {
            idle.push(sb);
        }
    }
    let per_idle = rss_bytes().saturating_sub(before) / idle.len().max(1) as u64;
    for sb in idle {
        sb.terminate().await;
    }
    let _ = writeln!(report, "| engine | p50 |\n|---|---|");
    let _ = writeln!(
        report,
        "| create + terminate a sandbox | {} |",
        ms(percentile(&mut creates, 0.5))
    );
    let _ = writeln!(
        report,
        "| resident memory per idle sandbox | {:.1} KiB |",
        per_idle as f64 / 1024.0
    );
    let bare = peer("/bin/true", &[], 50);
    match native_overhead(&engine, 50).await {
        Ok((p50, p90)) => {
            let _ = writeln!(
                report,
                "| native backend: fresh sandbox + `true` (p90 {}) | {} (bare fork+exec {}) |",
                ms(p90),
                ms(p50),
                bare.map_or_else(|| "?".to_owned(), ms)
            );
        }
        Err(e) => {
            let _ = writeln!(
                report,
                "| native backend | not available here: {} |",
                e.lines().next().unwrap_or("")
            );
        }
    }
    let _ = writeln!(report);

    let mut header = String::from(
        "| runtime | program | new process p50 | warm p50 | warm p99 | pooled p50 | pooled p99 |",
    );
    let mut rule = String::from("|---|---|---|---|---|---|---|");
    for c in &args.concurrency {
        let _ = write!(header, " runs/s @{c} |");
        rule.push_str("---|");
    }
    let _ = writeln!(report, "{header}\n{rule}");
    let mut cold_p50: Vec<(&str, &str, Duration)> = Vec::new();
    for w in WORKLOADS {
        if !args.only.is_empty() && !args.only.iter().any(|o| o == w.name) {
            continue;
        }
        eprintln!("bench: {} / {} ...", w.name, w.case);
        if let Err(e) = one_run(&engine, w).await {
            let first = e.lines().next().unwrap_or("");
            let _ = writeln!(
                report,
                "| {} | {} | not available: {first} |",
                w.name, w.case
            );
            continue;
        }
        let _ = one_run(&plain_engine, w).await;
        let mut warm = Vec::with_capacity(args.iterations);
        let mut pooled = Vec::with_capacity(args.iterations);
        for _ in 0..args.iterations {
            if let Ok(d) = one_run(&plain_engine, w).await {
                warm.push(d);
            }
            if let Ok(d) = pooled_run(&engine, w).await {
                pooled.push(d);
            }
        }
        let cold = match cold_process(w, args.processes) {
            Ok((p50, _)) => {
                cold_p50.push((w.name, w.case, p50));
                ms(p50)
            }
            Err(e) => format!("failed: {e}"),
        };
        let mut row = format!(
            "| {} | {} | {cold} | {} | {} | {} | {} |",
            w.name,
            w.case,
            ms(percentile(&mut warm, 0.5)),
            ms(percentile(&mut warm, 0.99)),
            ms(percentile(&mut pooled, 0.5)),
            ms(percentile(&mut pooled, 0.99))
        );
        for c in &args.concurrency {
            match throughput(&engine, w, *c).await {
                Ok(rate) => {
                    let _ = write!(row, " {rate:.0} |");
                }
                Err(e) => {
                    let _ = write!(row, " failed: {} |", e.lines().next().unwrap_or(""));
                }
            }
        }
        let _ = writeln!(report, "{row}");
    }

    let _ = writeln!(report, "\n| native peer (new process) | p50 |\n|---|---|");
    let mut peers = Vec::new();
    for (label, argv) in PEERS {
        let program = resolve(argv[0]);
        let figure = peer(&program, &argv[1..], args.processes);
        peers.push((*label, figure));
        let shown = figure.map_or_else(|| "not installed".to_owned(), ms);
        let via = if program == argv[0] {
            String::new()
        } else {
            format!(" (run as {program})")
        };
        let _ = writeln!(report, "| `{label}`{via} | {shown} |");
    }
    // New-process hello against the native interpreter of the same language.
    let pairs = [
        ("python", "hello", "python3 -c 'print(1+1)'"),
        ("javascript", "hello", "node -e 'console.log(1+1)'"),
        ("ruby", "hello", "ruby -e 'puts 1+1'"),
    ];
    let mut ratios = String::new();
    for (name, case, peer_label) in pairs {
        let ours = cold_p50
            .iter()
            .find(|(n, c, _)| *n == name && *c == case)
            .map(|(_, _, d)| *d);
        let theirs = peers
            .iter()
            .find(|(l, _)| *l == peer_label)
            .and_then(|(_, d)| *d);
        if let (Some(ours), Some(theirs)) = (ours, theirs) {
            let _ = writeln!(
                ratios,
                "| `soulbox run -l {name}` hello vs `{peer_label}` | {} vs {} | {:.2}x |",
                ms(ours),
                ms(theirs),
                ours.as_secs_f64() / theirs.as_secs_f64()
            );
        }
    }
    if !ratios.is_empty() {
        let _ = writeln!(
            report,
            "\n| new process, same program | SoulBox vs native | ratio (lower is faster) |\n|---|---|---|\n{ratios}"
        );
    }
    let stats = engine.warm_pool_stats();
    let _ = writeln!(
        report,
        "\nWarm pool of the pooled engine: {} hits, {} misses.",
        stats.hits, stats.misses
    );
    print!("{report}");
    if let Some(path) = args.output
        && let Err(e) = std::fs::write(&path, &report)
    {
        eprintln!("soulbox: cannot write {}: {e}", path.display());
        return ExitCode::from(crate::run::EXIT_ENGINE);
    }
    ExitCode::SUCCESS
}
