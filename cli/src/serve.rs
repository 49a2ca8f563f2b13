//! `soulbox serve`: the gRPC server (crate `soulbox-server`) on one address.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use soulbox::{Engine, EngineConfig};
use soulbox_server::{Manager, ServeOptions, ServerConfig, Tls, Tokens};

use crate::run::{EXIT_ENGINE, usage};

#[derive(Debug, Args)]
#[command(after_help = "\
Every call needs `authorization: Bearer <token>`. Tokens come from --token-file (one per line,
each its own tenant), or a token generated at first start and kept in $SOULBOX_HOME/server-token
(mode 0600; its path is printed). Listening on a non-loopback address needs --token-file (or
--insecure-no-auth). Stops on SIGTERM or SIGINT: running executions get the config's
shutdown_grace (default 30s) to finish, then are terminated and every workspace is removed.")]
pub(crate) struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the chosen one is printed).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7070")]
    listen: SocketAddr,
    /// TOML file with the server's caps (max_memory, max_timeout, max_disk_bytes, max_fuel,
    /// max_sandboxes, max_concurrent_executions, idle_timeout, ...; see docs/server.md).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// File of accepted bearer tokens, one per line (each line is its own tenant).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Accept calls without a token (every caller is one tenant). Only for trusted networks.
    #[arg(long, conflicts_with = "token_file")]
    insecure_no_auth: bool,
    /// PEM certificate chain to serve TLS with (needs --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Also serve the E2B-compatible HTTP API (control plane, envd, code interpreter) and MCP
    /// over streamable HTTP (at `/mcp`) on this address, plain HTTP/1.1: point the E2B SDK's
    /// E2B_API_URL and E2B_SANDBOX_URL here, with one of the tokens as E2B_API_KEY.
    #[arg(long, value_name = "ADDR")]
    e2b_listen: Option<SocketAddr>,
    /// Never download a missing runtime.
    #[arg(long)]
    offline: bool,
}

fn failure(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("soulbox serve: {message}");
    ExitCode::from(EXIT_ENGINE)
}

pub(crate) async fn serve(args: ServeArgs) -> ExitCode {
    let config = match &args.config {
        Some(path) => match ServerConfig::load(path) {
            Ok(config) => config,
            Err(e) => return usage(e),
        },
        None => ServerConfig::default(),
    };
    for listen in std::iter::once(args.listen).chain(args.e2b_listen) {
        if !listen.ip().is_loopback() && args.token_file.is_none() && !args.insecure_no_auth {
            return usage(format!(
                "refusing to listen on {listen} (not loopback) without --token-file; pass \
                 --insecure-no-auth to serve without authentication"
            ));
        }
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => match (std::fs::read(cert), std::fs::read(key)) {
            (Ok(cert), Ok(key)) => Some(Tls { cert, key }),
            (Err(e), _) => return usage(format!("cannot read {}: {e}", cert.display())),
            (_, Err(e)) => return usage(format!("cannot read {}: {e}", key.display())),
        },
        _ => None,
    };
    let engine = match Engine::new(
        EngineConfig::default()
            .with_offline(args.offline)
            .with_quiet(true),
    ) {
        Ok(engine) => engine,
        Err(e) => return failure(e),
    };
    let tokens = if args.insecure_no_auth {
        eprintln!("soulbox serve: WARNING: authentication is off (--insecure-no-auth)");
        Tokens::insecure()
    } else if let Some(path) = &args.token_file {
        match Tokens::from_file(path) {
            Ok(tokens) => tokens,
            Err(e) => return usage(e),
        }
    } else {
        match Tokens::generated(engine.home()) {
            Ok((tokens, path)) => {
                eprintln!("soulbox serve: token in {}", path.display());
                tokens
            }
            Err(e) => return failure(e),
        }
    };
    let manager = match Manager::new(engine, config) {
        Ok(manager) => manager,
        Err(e) => return failure(e),
    };
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(listener) => listener,
        Err(e) => return failure(format!("cannot listen on {}: {e}", args.listen)),
    };
    // Handlers first, so a SIGTERM right after the address is printed already means "stop".
    let stop = match stop_signal() {
        Ok(stop) => stop,
        Err(e) => return failure(format!("cannot install the SIGTERM/SIGINT handlers: {e}")),
    };
    let e2b_listener = match args.e2b_listen {
        Some(addr) => match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => Some(listener),
            Err(e) => return failure(format!("cannot listen on {addr}: {e}")),
        },
        None => None,
    };
    let address = listener.local_addr().map_or(args.listen, |a| a);
    let scheme = if tls.is_some() { "https" } else { "http" };
    eprintln!("soulbox serve: listening on {scheme}://{address}");
    if let Some(e2b) = &e2b_listener
        && let Ok(e2b) = e2b.local_addr()
    {
        eprintln!(
            "soulbox serve: E2B-compatible API on http://{e2b} (E2B_API_URL and E2B_SANDBOX_URL), \
             MCP on http://{e2b}/mcp"
        );
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SOULBOX_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    // One stop signal for both listeners.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        stop.await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let e2b = match e2b_listener {
        Some(listener) => {
            let e2b = soulbox_server::serve_e2b(
                manager.clone(),
                tokens.clone(),
                listener,
                stopped(stop_rx.clone()),
            );
            Some(tokio::spawn(e2b))
        }
        None => None,
    };
    let mut options = ServeOptions::new(tokens);
    options.tls = tls;
    let served = soulbox_server::serve(manager, options, listener, stopped(stop_rx)).await;
    if let Some(e2b) = e2b {
        match e2b.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return failure(format!("the E2B-compatible API failed: {e}")),
            Err(e) => return failure(format!("the E2B-compatible API failed: {e}")),
        }
    }
    match served {
        Ok(()) => {
            eprintln!("soulbox serve: stopped");
            ExitCode::SUCCESS
        }
        Err(e) => failure(e),
    }
}

/// Installs the SIGTERM and SIGINT handlers now; the future resolves on either signal.
fn stop_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}
