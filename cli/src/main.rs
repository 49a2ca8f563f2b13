//! `soulbox`: run untrusted code in a sandbox from the command line.
//!
//! The contract (exit codes, JSON shape) is documented in the README and docs/api-and-cli.md; scripts rely
//! on it.

mod bench;
mod bench_server;
mod mcp;
mod packages;
mod remote;
mod repl;
mod run;
mod runtimes;
mod serve;
mod stream;
mod toolchains;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Run untrusted code - Python, JavaScript, Ruby, Rust, C, C++ or WebAssembly - in a sandbox.
#[derive(Debug, Parser)]
#[command(name = "soulbox", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a file or a snippet and report its output, status and artifacts.
    Run(Box<run::RunArgs>),
    /// An interactive session: state persists from one cell to the next (`%%` separates cells
    /// when stdin is not a terminal).
    Repl(repl::ReplArgs),
    /// Measure start-up latency, throughput and memory per runtime, beside native peers.
    Bench(bench::BenchArgs),
    /// List or install the compilers for Rust, C and C++ guests.
    Toolchains(toolchains::ToolchainsArgs),
    /// List, install or verify the language runtimes (Python, JavaScript, Ruby interpreters).
    Runtimes(runtimes::RuntimesArgs),
    /// The machine-wide package cache (what `run --install` and `%pip install` fetched):
    /// list it or clear it.
    Packages(packages::PackagesArgs),
    /// Serve sandboxes over gRPC to many clients (`soulbox run --remote`, the Rust client, any
    /// gRPC client of proto/soulbox/v1).
    Serve(serve::ServeArgs),
    /// Serve SoulBox's tools to an MCP client over stdin/stdout (for agent apps' MCP config
    /// files): run_code, sessions, workspace files.
    Mcp(mcp::McpArgs),
}

/// Exit status for usage errors (bad flags, unknown language, missing file).
pub(crate) const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(err),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("soulbox: cannot start the async runtime: {e}");
            return ExitCode::from(run::EXIT_ENGINE);
        }
    };
    let code = match cli.command {
        Command::Run(args) => runtime.block_on(run::run(*args)),
        Command::Repl(args) => runtime.block_on(repl::repl(args)),
        Command::Bench(args) => runtime.block_on(bench::bench(args)),
        Command::Toolchains(args) => toolchains::run(args),
        Command::Runtimes(args) => runtime.block_on(runtimes::runtimes(args)),
        Command::Serve(args) => runtime.block_on(serve::serve(args)),
        Command::Mcp(args) => runtime.block_on(mcp::mcp(args)),
        Command::Packages(args) => packages::packages(args),
    };
    // Work abandoned at a deadline may still hold a blocking thread (a guest's module compile
    // that lost the race finishes in the background): the result is out, so do not wait for it
    // (dropping the runtime would, indefinitely).
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    code
}

/// How long the command waits, once it has its result, for background work to wind down.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// Help and version go to stdout with status 0; anything else is one line on stderr, status 2.
fn usage_error(err: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match err.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = err.print();
            ExitCode::SUCCESS
        }
        _ => {
            let rendered = err.render().to_string();
            let line = rendered
                .lines()
                .find(|l| l.starts_with("error:"))
                .unwrap_or("error: invalid usage");
            eprintln!("soulbox: {}", line.trim_start_matches("error: "));
            eprintln!("(see `soulbox --help`)");
            ExitCode::from(EXIT_USAGE)
        }
    }
}
