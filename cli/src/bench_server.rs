//! `soulbox bench --server`: what the gRPC door costs. The same engine serves both columns: one
//! in-process, one through a server on 127.0.0.1 (started in this process, token auth on) and
//! the Rust client - per-execution latency in an existing sandbox, and throughput of the full
//! unit (create a sandbox, run, delete it) at several concurrencies.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use soulbox::{Engine, EngineConfig, Language, SandboxConfig, Status};
use soulbox_client::Client;
use soulbox_server::{Manager, ServeOptions, ServerConfig, Tokens};

use crate::run::EXIT_ENGINE;

const TOKEN: &str = "bench-token-0123456789abcdef0123";

const CASES: [(&str, Language, &str); 2] = [
    ("javascript", Language::JavaScript, "console.log(1+1)"),
    ("python", Language::Python, "print(1+1)"),
];

fn config() -> SandboxConfig {
    SandboxConfig::default()
        .with_memory_limit(512 * soulbox::MIB)
        .with_timeout(Duration::from_secs(60))
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

fn check(status: Status, stdout: &str) -> Result<(), String> {
    if status == Status::Ok && stdout == "2\n" {
        Ok(())
    } else {
        Err(format!("unexpected result: {status} {stdout:?}"))
    }
}

async fn local_latency(
    engine: &Engine,
    language: Language,
    code: &str,
    n: usize,
) -> Result<Duration, String> {
    let sandbox = engine.sandbox(config()).await.map_err(|e| e.to_string())?;
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let r = sandbox
            .execute_code(language, code)
            .await
            .map_err(|e| e.to_string())?;
        samples.push(started.elapsed());
        check(r.status, &r.stdout)?;
    }
    sandbox.terminate().await;
    Ok(median(&mut samples))
}

async fn remote_latency(
    client: &Client,
    language: Language,
    code: &str,
    n: usize,
) -> Result<Duration, String> {
    let sandbox = client.create(config()).await.map_err(|e| e.to_string())?;
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let r = sandbox
            .execute_code(language, code)
            .await
            .map_err(|e| e.to_string())?;
        samples.push(started.elapsed());
        check(r.status, &r.stdout)?;
    }
    sandbox.terminate().await.map_err(|e| e.to_string())?;
    Ok(median(&mut samples))
}

/// Runs per second of `unit` at `concurrency`.
async fn throughput<F, Fut>(concurrency: usize, unit: F) -> Result<f64, String>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let total = (concurrency * 2).max(64);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (unit, next) = (unit.clone(), next.clone());
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < total {
                    unit().await?;
                }
                Ok::<(), String>(())
            })
        })
        .collect();
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

pub(crate) async fn bench_server(
    iterations: usize,
    concurrency: &[usize],
) -> Result<String, String> {
    let engine =
        Engine::new(EngineConfig::default().with_quiet(true)).map_err(|e| e.to_string())?;
    let server_config = ServerConfig {
        max_concurrent_executions: 256,
        max_queued_executions: 4096,
        ..ServerConfig::default()
    };
    let manager = Manager::new(engine.clone(), server_config).map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let url = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let tokens = Tokens::new([TOKEN])?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(soulbox_server::serve(
        manager,
        ServeOptions::new(tokens),
        listener,
        async move {
            let _ = stopped.await;
        },
    ));
    let client = Client::connect(&url)
        .token(TOKEN)
        .await
        .map_err(|e| e.to_string())?;

    let mut report = String::new();
    let _ = writeln!(
        report,
        "| workload | in-process p50 | over gRPC p50 | added | ratio |"
    );
    let _ = writeln!(report, "|---|---|---|---|---|");
    for (name, language, code) in CASES {
        // Warm both paths (runtime load, pools, connections) before measuring.
        local_latency(&engine, language, code, 3).await?;
        remote_latency(&client, language, code, 3).await?;
        let local = local_latency(&engine, language, code, iterations).await?;
        let remote = remote_latency(&client, language, code, iterations).await?;
        let added = remote.as_secs_f64() - local.as_secs_f64();
        let _ = writeln!(
            report,
            "| {name} hello (execution in an existing sandbox) | {:.2} ms | {:.2} ms | {:+.2} ms | {:.2}x |",
            local.as_secs_f64() * 1e3,
            remote.as_secs_f64() * 1e3,
            added * 1e3,
            remote.as_secs_f64() / local.as_secs_f64().max(1e-9)
        );
    }
    let _ = writeln!(report);
    let _ = writeln!(
        report,
        "| workload | concurrency | in-process runs/s | over gRPC runs/s | gRPC / in-process |"
    );
    let _ = writeln!(report, "|---|---|---|---|---|");
    for (name, language, code) in CASES {
        for &c in concurrency {
            let local = {
                let engine = engine.clone();
                throughput(c, move || {
                    let engine = engine.clone();
                    async move {
                        let sandbox = engine.sandbox(config()).await.map_err(|e| e.to_string())?;
                        let r = sandbox
                            .execute_code(language, code)
                            .await
                            .map_err(|e| e.to_string())?;
                        sandbox.terminate().await;
                        check(r.status, &r.stdout)
                    }
                })
                .await?
            };
            let remote = {
                let client = client.clone();
                throughput(c, move || {
                    let client = client.clone();
                    async move {
                        let sandbox = client.create(config()).await.map_err(|e| e.to_string())?;
                        let r = sandbox
                            .execute_code(language, code)
                            .await
                            .map_err(|e| e.to_string())?;
                        sandbox.terminate().await.map_err(|e| e.to_string())?;
                        check(r.status, &r.stdout)
                    }
                })
                .await?
            };
            let _ = writeln!(
                report,
                "| {name} hello (create, run, delete) | {c} | {local:.0} | {remote:.0} | {:.0}% |",
                remote / local.max(1e-9) * 100.0
            );
        }
    }
    let _ = stop.send(());
    let _ = server.await;
    Ok(report)
}

/// The `--server` mode of `soulbox bench`: prints the Markdown tables.
pub(crate) async fn run(
    iterations: usize,
    concurrency: &[usize],
    output: Option<&std::path::Path>,
) -> ExitCode {
    match bench_server(iterations, concurrency).await {
        Ok(report) => {
            print!("{report}");
            if let Some(path) = output
                && let Err(e) = std::fs::write(path, &report)
            {
                eprintln!("soulbox bench: cannot write {}: {e}", path.display());
                return ExitCode::from(EXIT_ENGINE);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("soulbox bench --server: {e}");
            ExitCode::from(EXIT_ENGINE)
        }
    }
}
