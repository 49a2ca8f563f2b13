//! `soulbox runtimes`: the language-runtime catalogue - list it, install from it, verify installs.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use soulbox::runtimes::{CATALOGUE, Runtime, catalogue, install};
use soulbox::{Engine, EngineConfig};

use crate::run::EXIT_ENGINE;

#[derive(Debug, Args)]
pub(crate) struct RuntimesArgs {
    #[command(subcommand)]
    command: RuntimesCommand,
}

#[derive(Debug, Subcommand)]
enum RuntimesCommand {
    /// Show every runtime: name, language, version, size, and whether it is installed.
    List,
    /// Fetch, verify and precompile runtimes (all of them when no NAME is given).
    Install {
        /// Runtime names (see `soulbox runtimes list`).
        names: Vec<String>,
    },
    /// Re-hash installed runtimes against their pinned sha256 (all installed when no NAME).
    Verify {
        /// Runtime names.
        names: Vec<String>,
    },
}

fn selected(names: &[String]) -> Result<Vec<&'static Runtime>, String> {
    if names.is_empty() {
        return Ok(CATALOGUE.iter().collect());
    }
    names
        .iter()
        .map(|name| {
            catalogue::find(name).ok_or_else(|| {
                format!(
                    "unknown runtime `{name}`; available: {}",
                    catalogue::names()
                )
            })
        })
        .collect()
}

/// Bytes a runtime occupies: the catalogue's figure, or for a runtime built here (whose size is
/// known only once built) its module's size.
fn size(home: &std::path::Path, runtime: &'static Runtime) -> u64 {
    let built = install::installed(home, runtime)
        .and_then(|i| std::fs::metadata(i.module_path()).ok())
        .map_or(0, |m| m.len());
    runtime.installed_size().max(built)
}

pub(crate) async fn runtimes(args: RuntimesArgs) -> ExitCode {
    // The same home an engine would use, refused on the same grounds (owned by someone else,
    // writable by others) before anything is listed, verified or installed.
    let home = match soulbox::default_home().and_then(|home| {
        soulbox::check_home(&home)?;
        Ok(home)
    }) {
        Ok(home) => home,
        Err(e) => {
            eprintln!("soulbox: {e}");
            return ExitCode::from(EXIT_ENGINE);
        }
    };
    match args.command {
        RuntimesCommand::List => {
            println!(
                "{:<16} {:<11} {:<8} {:>8}  {:<10} {:<30} SUMMARY",
                "NAME", "LANGUAGE", "VERSION", "SIZE", "STATUS", "PACKAGE"
            );
            for runtime in CATALOGUE {
                let status = if install::installed(&home, runtime).is_some() {
                    "installed"
                } else {
                    "-"
                };
                let language = if runtime.default_for_language {
                    format!("{}*", runtime.language)
                } else {
                    runtime.language.to_owned()
                };
                let package = format!(
                    "{} {}=={}",
                    runtime.package.registry, runtime.package.name, runtime.package.version
                );
                println!(
                    "{:<16} {:<11} {:<8} {:>6}MB  {:<10} {:<30} {}",
                    runtime.name,
                    language,
                    runtime.version,
                    size(&home, runtime).div_ceil(1_000_000),
                    status,
                    package,
                    runtime.summary
                );
            }
            println!(
                "(* the language's default; cached under {})",
                install::runtimes_dir(&home).display()
            );
            ExitCode::SUCCESS
        }
        RuntimesCommand::Install { names } => {
            let runtimes = match selected(&names) {
                Ok(r) => r,
                Err(e) => return crate::run::usage(e),
            };
            let engine = match Engine::new(EngineConfig::default()) {
                Ok(e) => e,
                Err(e) => {
                    eprintln!("soulbox: {e}");
                    return ExitCode::from(EXIT_ENGINE);
                }
            };
            let mut failed = false;
            for runtime in runtimes {
                match engine.install_runtime(runtime.name).await {
                    Ok(()) => println!("{} {}: installed", runtime.name, runtime.version),
                    Err(e) => {
                        eprintln!("soulbox: {e}");
                        failed = true;
                    }
                }
            }
            if failed {
                ExitCode::from(EXIT_ENGINE)
            } else {
                ExitCode::SUCCESS
            }
        }
        RuntimesCommand::Verify { names } => {
            let explicit = !names.is_empty();
            let runtimes = match selected(&names) {
                Ok(r) => r,
                Err(e) => return crate::run::usage(e),
            };
            let mut failed = false;
            for runtime in runtimes {
                if !explicit && install::installed(&home, runtime).is_none() {
                    continue;
                }
                match install::verify(&home, runtime) {
                    Ok(installed) => println!(
                        "{} {}: ok ({})",
                        runtime.name,
                        runtime.version,
                        installed.dir.display()
                    ),
                    Err(e) => {
                        eprintln!("soulbox: {e}");
                        failed = true;
                    }
                }
            }
            if failed {
                ExitCode::from(EXIT_ENGINE)
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}
