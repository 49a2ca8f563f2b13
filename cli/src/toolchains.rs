//! `soulbox toolchains list | install`: the compilers behind `soulbox run main.rs|prog.c|prog.cpp`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use soulbox::toolchains::{self, InstallOptions};

/// Arguments of `soulbox toolchains`.
#[derive(Debug, Args)]
pub(crate) struct ToolchainsArgs {
    #[command(subcommand)]
    action: Action,
    /// Toolchain directory (default: $SOULBOX_TOOLCHAINS, else $SOULBOX_HOME/toolchains).
    #[arg(long, value_name = "DIR", global = true)]
    dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Show each toolchain part, its version and whether it is installed.
    List,
    /// Install what is missing (rustup target, apt packages when root, WASI sysroot, guest
    /// crates). Idempotent; progress on stderr.
    Install {
        /// Never use the network; print what to run instead.
        #[arg(long)]
        offline: bool,
    },
}

pub(crate) fn run(args: ToolchainsArgs) -> ExitCode {
    let dir = match args.dir {
        Some(dir) => dir,
        None => match soulbox::default_home().and_then(|home| {
            soulbox::check_home(&home)?;
            Ok(toolchains::default_toolchains_dir(&home))
        }) {
            Ok(dir) => dir,
            Err(e) => {
                eprintln!("soulbox: {e}");
                return ExitCode::from(crate::run::EXIT_ENGINE);
            }
        },
    };
    match args.action {
        Action::List => list(&dir),
        Action::Install { offline } => install(&dir, offline),
    }
}

fn list(dir: &std::path::Path) -> ExitCode {
    let parts = toolchains::toolchain_status(dir);
    for part in &parts {
        let state = if part.is_installed() {
            "installed"
        } else {
            "missing"
        };
        println!("{:<13} {:<10} {}", part.name, state, part.version);
        match (&part.location, &part.missing) {
            (Some(location), _) => println!("{:<13} at {}", "", location.display()),
            (None, Some(why)) => println!("{:<13} {why}", ""),
            (None, None) => {}
        }
    }
    if parts.iter().all(|p| p.is_installed()) {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "soulbox: some toolchains are missing; run `{}`",
            toolchains::INSTALL_COMMAND
        );
        ExitCode::from(1)
    }
}

fn install(dir: &std::path::Path, offline: bool) -> ExitCode {
    let mut progress = |line: &str| eprintln!("soulbox: {line}");
    match toolchains::install_toolchains(dir, InstallOptions { offline }, &mut progress) {
        Ok(todo) if todo.is_empty() => {
            eprintln!(
                "soulbox: all toolchains are installed under {}",
                dir.display()
            );
            ExitCode::SUCCESS
        }
        Ok(todo) => {
            eprintln!("soulbox: could not install everything here; run:");
            for command in todo {
                eprintln!("    {command}");
            }
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("soulbox: {e}");
            ExitCode::from(1)
        }
    }
}
