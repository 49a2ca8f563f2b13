//! Sources of runtimes SoulBox builds itself: the pinned `.crate` fetched with cargo, its sha256
//! checked before any entry is read, and only the listed C files extracted under
//! `$SOULBOX_HOME/sources/`.

// Audited for the wall rule (scripts/wall-audited.txt): only $SOULBOX_HOME/sources (owned, 0700), cargo's own cache, and the installer's temporary directories.
#![allow(clippy::disallowed_methods)]

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::catalogue::{Build, Runtime};
use crate::error::{ChecksumMismatch, Result, RuntimeError};
use crate::progress::Progress;

use super::fetch::cargo_fetch;
use super::unpack::{archive_error, hash_reader};

/// Where a built runtime's extracted sources live: `$SOULBOX_HOME/sources/<package>-<version>`.
pub fn sources_dir(home: &Path, runtime: &Runtime) -> PathBuf {
    home.join("sources").join(format!(
        "{}-{}",
        runtime.package.name, runtime.package.version
    ))
}

/// Marker of a complete source extraction: holds the archive's sha256.
pub(super) const SOURCES_MARKER: &str = ".soulbox-sources";

/// The extracted sources of a built runtime: fetched with `cargo fetch` (unless `offline`), the
/// `.crate` checked against its pinned sha256, only the listed files extracted. Returns the
/// directory; a complete earlier extraction is reused (offline too).
pub fn ensure_sources(
    home: &Path,
    runtime: &'static Runtime,
    offline: bool,
    progress: Progress,
) -> Result<PathBuf> {
    let Some(build) = runtime.build else {
        return Err(RuntimeError::Driver {
            runtime: runtime.name,
            detail: "this runtime is not built from sources".into(),
        });
    };
    let dir = sources_dir(home, runtime);
    let complete = std::fs::read_to_string(dir.join(SOURCES_MARKER))
        .is_ok_and(|sha| sha.trim() == build.archive_sha256);
    if complete && build.sources.iter().all(|f| dir.join(f).is_file()) {
        return Ok(dir);
    }
    if offline {
        return Err(RuntimeError::NotInstalled {
            name: runtime.name.to_owned(),
            registry: runtime.package.registry,
        });
    }
    crate::home::prepare(home)?;
    let parent = home.join("sources");
    std::fs::create_dir_all(&parent)
        .map_err(|e| RuntimeError::io(format!("creating {}", parent.display()), e))?;
    let work = tempfile::Builder::new()
        .prefix(".fetch-")
        .tempdir_in(&parent)
        .map_err(|e| {
            RuntimeError::io(
                format!("creating a temporary directory in {}", parent.display()),
                e,
            )
        })?;
    let step = progress.spinner(format!(
        "{} {}: fetching {} {} with cargo",
        runtime.name, runtime.version, runtime.package.name, runtime.package.version
    ));
    let archive = cargo_fetch(runtime, work.path(), std::env::var_os("PATH").as_deref())?;
    let staged = work.path().join("staged");
    extract_sources(runtime, build, &archive, &staged)?;
    std::fs::write(staged.join(SOURCES_MARKER), build.archive_sha256)
        .map_err(|e| RuntimeError::io("writing the sources marker", e))?;
    if dir.exists() {
        std::fs::rename(&dir, work.path().join("old"))
            .map_err(|e| RuntimeError::io(format!("replacing {}", dir.display()), e))?;
    }
    match std::fs::rename(&staged, &dir) {
        Ok(()) => {}
        Err(_) if dir.join(SOURCES_MARKER).is_file() => {}
        Err(e) => {
            return Err(RuntimeError::io(
                format!("moving the sources into {}", dir.display()),
                e,
            ));
        }
    }
    step.finish("done");
    Ok(dir)
}

/// Checks the `.crate` against the pinned sha256 (before reading any entry), then extracts the
/// build's source files - and only them - into `staged`.
pub(super) fn extract_sources(
    runtime: &'static Runtime,
    build: &Build,
    archive: &Path,
    staged: &Path,
) -> Result<()> {
    let package = &runtime.package;
    let bad = archive_error(runtime);
    let mut file = File::open(archive)
        .map_err(|e| RuntimeError::io(format!("opening {}", archive.display()), e))?;
    let (digest, size) = hash_reader(&mut file, &mut std::io::sink())
        .map_err(|e| RuntimeError::io(format!("reading {}", archive.display()), e))?;
    if digest != build.archive_sha256 || size != package.archive_size {
        return Err(RuntimeError::Checksum(Box::new(ChecksumMismatch {
            file: archive.display().to_string(),
            package: package.name,
            expected: build.archive_sha256.to_owned(),
            expected_size: package.archive_size,
            actual: digest,
            actual_size: size,
            dir: staged.to_path_buf(),
        })));
    }
    std::fs::create_dir_all(staged)
        .map_err(|e| RuntimeError::io("creating the sources directory", e))?;
    let file = File::open(archive)
        .map_err(|e| RuntimeError::io(format!("opening {}", archive.display()), e))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
    let mut wanted: Vec<&str> = build.sources.to_vec();
    let entries = tar
        .entries()
        .map_err(|e| bad(format!("the crate is not readable: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("reading the crate: {e}")))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| bad(format!("a crate entry has a bad path: {e}")))?
            .to_string_lossy()
            .into_owned();
        let Some(name) = path
            .strip_prefix(build.source_dir)
            .and_then(|rest| rest.strip_prefix('/'))
        else {
            continue;
        };
        if let Some(i) = wanted.iter().position(|w| *w == name) {
            let name = wanted.swap_remove(i);
            let target = staged.join(name);
            let mut out = File::create(&target)
                .map_err(|e| RuntimeError::io(format!("creating {}", target.display()), e))?;
            std::io::copy(&mut entry, &mut out)
                .map_err(|e| RuntimeError::io(format!("extracting {name}"), e))?;
        }
    }
    if let Some(missing) = wanted.first() {
        return Err(bad(format!(
            "the crate has no {}/{missing}",
            build.source_dir
        )));
    }
    Ok(())
}
