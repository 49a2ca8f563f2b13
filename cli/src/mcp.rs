//! `soulbox mcp`: SoulBox's tools for an MCP client over stdin/stdout. The client (an agent
//! app) starts this command itself; stdout carries only the protocol, messages go to stderr.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use soulbox::{Engine, EngineConfig};
use soulbox_server::{Manager, ServerConfig, Tenant};

use crate::run::{EXIT_ENGINE, usage};

#[derive(Debug, Args)]
#[command(after_help = "\
Tools: run_code, create_session, close_session, write_file, read_file, list_files. One sandbox
(made on first use) holds the workspace and sessions; it ends after the config's idle_timeout
without calls (default 5 minutes) and when the client closes stdin. Example client config:
  {\"mcpServers\": {\"soulbox\": {\"command\": \"soulbox\", \"args\": [\"mcp\"]}}}")]
pub(crate) struct McpArgs {
    /// TOML file with caps (max_memory, max_timeout, max_disk_bytes, idle_timeout,
    /// allow_native, ...; the same file as `soulbox serve --config`, see docs/server.md).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Never download a missing runtime.
    #[arg(long)]
    offline: bool,
}

pub(crate) async fn mcp(args: McpArgs) -> ExitCode {
    let config = match &args.config {
        Some(path) => match ServerConfig::load(path) {
            Ok(config) => config,
            Err(e) => return usage(e),
        },
        None => ServerConfig::default(),
    };
    let engine = match Engine::new(
        EngineConfig::default()
            .with_offline(args.offline)
            .with_quiet(true),
    ) {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("soulbox mcp: {e}");
            return ExitCode::from(EXIT_ENGINE);
        }
    };
    let grace = config.shutdown_grace;
    let manager = match Manager::new(engine, config) {
        Ok(manager) => manager,
        Err(e) => {
            eprintln!("soulbox mcp: {e}");
            return ExitCode::from(EXIT_ENGINE);
        }
    };
    let reaper = manager.spawn_reaper(Duration::from_secs(1));
    let served = soulbox_server::mcp::serve_stdio(manager.clone(), Tenant::new("local")).await;
    reaper.abort();
    manager.shutdown(grace.min(Duration::from_secs(5))).await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("soulbox mcp: {e}");
            ExitCode::from(EXIT_ENGINE)
        }
    }
}
