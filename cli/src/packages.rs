//! `soulbox packages`: the machine-wide package cache - list it, clear it.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::run::EXIT_ENGINE;

#[derive(Debug, Args)]
pub(crate) struct PackagesArgs {
    #[command(subcommand)]
    command: PackagesCommand,
}

#[derive(Debug, Subcommand)]
enum PackagesCommand {
    /// Show every cached package: ecosystem, name, version, digest.
    List {
        /// Print a JSON list (usable as a lock file with `soulbox run --lock`).
        #[arg(long)]
        json: bool,
    },
    /// Remove every cached package and resolution (sandboxes keep what they laid out).
    Clear,
}

pub(crate) fn packages(args: PackagesArgs) -> ExitCode {
    let home = match soulbox::default_home() {
        Ok(home) => home,
        Err(e) => {
            eprintln!("soulbox: {e}");
            return ExitCode::from(EXIT_ENGINE);
        }
    };
    match args.command {
        PackagesCommand::List { json } => match soulbox::packages::cached_packages(&home) {
            Ok(list) if json => match serde_json::to_string_pretty(&list) {
                Ok(text) => {
                    println!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("soulbox: {e}");
                    ExitCode::from(EXIT_ENGINE)
                }
            },
            Ok(list) => {
                if list.is_empty() {
                    println!("no packages cached in {}", home.display());
                }
                for p in list {
                    println!(
                        "{:<7} {:<30} {:<16} {}",
                        p.ecosystem, p.name, p.version, p.digest
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("soulbox: {e}");
                ExitCode::from(EXIT_ENGINE)
            }
        },
        PackagesCommand::Clear => match soulbox::packages::clear_package_cache(&home) {
            Ok(n) => {
                println!("removed {n} cached packages from {}", home.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("soulbox: {e}");
                ExitCode::from(EXIT_ENGINE)
            }
        },
    }
}
