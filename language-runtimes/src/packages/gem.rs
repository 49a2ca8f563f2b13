//! Ruby gems from a local `.gem` file (RubyGems itself is not reached from here; see
//! docs/packages.md). A `.gem` is a tar holding `metadata.gz` (the YAML gemspec),
//! `data.tar.gz` (the files) and `checksums.yaml.gz` (their digests): the digests are checked,
//! the gemspec read for name, version, require paths and extensions (a gem with native
//! extensions is refused), and the files unpacked hostile-archive safe into the cache.

// Audited for the wall rule (scripts/wall-audited.txt): reads the caller's .gem file (regular, size-capped) and writes only the installer's temporary directories.
#![allow(clippy::disallowed_methods)]

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::archive::{self, Format};
use super::{CachedPackage, Ecosystem, Installed, Installer, PackageError, PackageRef};
use crate::error::{Result, RuntimeError};

/// Most bytes of a `.gem` file, and of its gemspec once decompressed.
const MAX_GEM_BYTES: u64 = 64 << 20;
const MAX_META_BYTES: u64 = 1 << 20;

pub(super) fn install(installer: &Installer, specs: &[String]) -> Result<Installed> {
    let mut gems = Vec::new();
    for spec in specs {
        gems.push((spec.clone(), read_gem_file(Path::new(spec))?));
    }
    install_bytes(installer, gems)
}

/// Installs gems given as (label for messages, bytes of the `.gem`).
pub(super) fn install_bytes(
    installer: &Installer,
    gems: Vec<(String, Vec<u8>)>,
) -> Result<Installed> {
    let mut packages = Vec::new();
    let mut all_cached = true;
    for (label, bytes) in gems {
        let (package, cached) = install_one(installer, Path::new(&label), &bytes)?;
        all_cached &= cached;
        packages.push(package);
    }
    Ok(Installed {
        packages,
        shipped: Vec::new(),
        from_cache: all_cached,
    })
}

fn bad(spec: &Path, reason: impl Into<String>) -> RuntimeError {
    PackageError::BadSpec {
        spec: spec.display().to_string(),
        reason: reason.into(),
    }
    .into()
}

fn read_gem_file(path: &Path) -> Result<Vec<u8>> {
    if path.extension().is_none_or(|e| e != "gem") {
        return Err(bad(
            path,
            "gems are installed from a local .gem file (the RubyGems registry is not reachable from SoulBox's hosts yet); give the path of one",
        ));
    }
    let meta = std::fs::symlink_metadata(path)
        .map_err(|e| bad(path, format!("it cannot be read ({e})")))?;
    if !meta.is_file() || meta.len() > MAX_GEM_BYTES {
        return Err(bad(
            path,
            format!("it must be a regular file of at most {MAX_GEM_BYTES} bytes"),
        ));
    }
    std::fs::read(path).map_err(|e| bad(path, format!("it cannot be read ({e})")))
}

fn install_one(installer: &Installer, path: &Path, bytes: &[u8]) -> Result<(CachedPackage, bool)> {
    if bytes.len() as u64 > MAX_GEM_BYTES {
        return Err(bad(
            path,
            format!("it is larger than {MAX_GEM_BYTES} bytes"),
        ));
    }
    let sha256 = hex::encode(Sha256::digest(bytes));
    let mut metadata = None;
    let mut data = None;
    let mut checksums = None;
    let mut outer = tar::Archive::new(std::io::Cursor::new(bytes));
    let entries = outer
        .entries()
        .map_err(|e| bad(path, format!("it is not a gem (not a tar: {e})")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(path, format!("reading the gem: {e}")))?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let slot = match name.as_str() {
            "metadata.gz" => &mut metadata,
            "data.tar.gz" => &mut data,
            "checksums.yaml.gz" => &mut checksums,
            _ => continue,
        };
        if !entry.header().entry_type().is_file() {
            return Err(bad(path, format!("its {name} is not a regular file")));
        }
        let mut content = Vec::new();
        entry
            .by_ref()
            .take(MAX_GEM_BYTES)
            .read_to_end(&mut content)
            .map_err(|e| bad(path, format!("reading {name}: {e}")))?;
        *slot = Some(content);
    }
    let (Some(metadata), Some(data)) = (metadata, data) else {
        return Err(bad(path, "it is not a gem (no metadata.gz or data.tar.gz)"));
    };
    if let Some(checksums) = checksums {
        let text = gunzip(&checksums).map_err(|e| bad(path, format!("checksums.yaml.gz: {e}")))?;
        for (member, content) in [("metadata.gz", &metadata), ("data.tar.gz", &data)] {
            let expected = sha256_of(&text, member)
                .ok_or_else(|| bad(path, format!("checksums.yaml lists no SHA256 for {member}")))?;
            let actual = hex::encode(Sha256::digest(content));
            if expected != actual {
                return Err(PackageError::Digest {
                    package: path.display().to_string(),
                    expected: format!("sha256:{expected} for {member}"),
                    actual: format!("sha256:{actual}"),
                }
                .into());
            }
        }
    }
    let spec = gunzip(&metadata).map_err(|e| bad(path, format!("metadata.gz: {e}")))?;
    let gemspec = Gemspec::parse(&spec).map_err(|e| bad(path, e))?;
    let package = PackageRef {
        ecosystem: Ecosystem::Gem,
        name: gemspec.name.clone(),
        version: gemspec.version.clone(),
        digest: format!("sha256:{sha256}"),
        place: format!("{}-{}", gemspec.name, gemspec.version),
        require_paths: gemspec.require_paths.clone(),
    };
    if !gemspec.extensions.is_empty() {
        return Err(PackageError::Native {
            package: package.to_string(),
            reason: format!(
                "it has native extensions ({}), which would have to be compiled and cannot run in the sandbox",
                gemspec.extensions.join(", ")
            ),
        }
        .into());
    }
    if let Some(found) = installer.cached(&package) {
        return Ok((found, true));
    }
    let work = installer.work_dir()?;
    let archive_path = work.path().join("data.tar.gz");
    std::fs::write(&archive_path, &data)
        .map_err(|e| RuntimeError::io("writing the gem's data", e))?;
    let staged = work.path().join("entry");
    let tree = staged.join("tree");
    std::fs::create_dir_all(&tree).map_err(|e| RuntimeError::io("creating the staging tree", e))?;
    let unpacked = archive::unpack(
        &archive_path,
        Format::TarGz { strip_first: false },
        &tree,
        installer.caps,
    )
    .map_err(|detail| PackageError::Archive {
        package: package.to_string(),
        detail,
    })?;
    if let Some(file) = unpacked
        .files
        .iter()
        .find(|f| f.ends_with(".so") || f.ends_with(".bundle"))
    {
        return Err(PackageError::Native {
            package: package.to_string(),
            reason: format!("it holds a compiled library ({file})"),
        }
        .into());
    }
    installer.commit(&package, &staged)?;
    let found = installer
        .cached(&package)
        .ok_or_else(|| PackageError::Archive {
            package: package.to_string(),
            detail: "it is not in the cache after it was stored".into(),
        })?;
    Ok((found, false))
}

/// Writes a `.gem` file `<name>-<version>.gem` in `dir`: `files` (path, text) as its data,
/// a YAML gemspec with `lib` as require path and `extensions`, and `checksums.yaml.gz`. For
/// tests and fixtures (names are written byte for byte, so a test can make a hostile gem).
pub fn write_gem(
    dir: &Path,
    name: &str,
    version: &str,
    files: &[(&str, &str)],
    extensions: &[&str],
) -> std::io::Result<std::path::PathBuf> {
    use std::io::Write;
    let gz = |bytes: &[u8]| -> std::io::Result<Vec<u8>> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes)?;
        e.finish()
    };
    let mut data = tar::Builder::new(Vec::new());
    for (path, text) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(text.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        let name_field = &mut h.as_old_mut().name;
        let bytes = path.as_bytes();
        if bytes.len() >= name_field.len() {
            return Err(std::io::Error::other("fixture path too long"));
        }
        name_field[..bytes.len()].copy_from_slice(bytes);
        h.set_cksum();
        data.append(&h, text.as_bytes())?;
    }
    let data = gz(&data.into_inner()?)?;
    let ext = if extensions.is_empty() {
        "extensions: []\n".to_owned()
    } else {
        format!(
            "extensions:\n{}",
            extensions
                .iter()
                .map(|e| format!("- {e}\n"))
                .collect::<String>()
        )
    };
    let spec = format!(
        "--- !ruby/object:Gem::Specification\nname: {name}\nversion: !ruby/object:Gem::Version\n  version: {version}\nplatform: ruby\n{ext}require_paths:\n- lib\n"
    );
    let metadata = gz(spec.as_bytes())?;
    let checksums = gz(format!(
        "---\nSHA256:\n  metadata.gz: {}\n  data.tar.gz: {}\n",
        hex::encode(Sha256::digest(&metadata)),
        hex::encode(Sha256::digest(&data))
    )
    .as_bytes())?;
    let mut outer = tar::Builder::new(Vec::new());
    for (entry, bytes) in [
        ("metadata.gz", &metadata),
        ("data.tar.gz", &data),
        ("checksums.yaml.gz", &checksums),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        outer.append_data(&mut h, entry, bytes.as_slice())?;
    }
    let path = dir.join(format!("{name}-{version}.gem"));
    std::fs::write(&path, outer.into_inner()?)?;
    Ok(path)
}

fn gunzip(bytes: &[u8]) -> std::result::Result<String, String> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .take(MAX_META_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("not readable gzip text ({e})"))?;
    if text.len() as u64 > MAX_META_BYTES {
        return Err(format!("larger than {MAX_META_BYTES} bytes"));
    }
    Ok(text)
}

/// The SHA256 of `member` in a `checksums.yaml` (`SHA256:` then `  member: hex` lines).
fn sha256_of(text: &str, member: &str) -> Option<String> {
    let mut in_sha256 = false;
    for line in text.lines() {
        if !line.starts_with(' ') {
            in_sha256 = line.trim_end() == "SHA256:";
            continue;
        }
        if in_sha256
            && let Some((key, value)) = line.trim().split_once(':')
            && key.trim() == member
        {
            return Some(value.trim().trim_matches('\'').to_ascii_lowercase());
        }
    }
    None
}

/// The parts of a YAML gemspec SoulBox needs, read line by line (the gemspec is data from the
/// gem; it is never evaluated).
#[derive(Debug, Default, PartialEq, Eq)]
struct Gemspec {
    name: String,
    version: String,
    require_paths: Vec<String>,
    extensions: Vec<String>,
}

impl Gemspec {
    fn parse(text: &str) -> std::result::Result<Gemspec, String> {
        let mut spec = Gemspec::default();
        let mut list: Option<&str> = None;
        let mut in_version = false;
        for line in text.lines() {
            let top = !line.starts_with(' ') && !line.starts_with('-');
            if top {
                list = None;
                in_version = false;
                let (key, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.trim();
                match key {
                    "name" => spec.name = unquote(value),
                    "version" => in_version = true,
                    "require_paths" | "extensions" => {
                        list = Some(if key == "extensions" {
                            "extensions"
                        } else {
                            "require_paths"
                        });
                        if value == "[]" {
                            list = None;
                        }
                    }
                    _ => {}
                }
                continue;
            }
            let trimmed = line.trim();
            if in_version {
                if let Some(v) = trimmed.strip_prefix("version:") {
                    spec.version = unquote(v.trim());
                    in_version = false;
                }
                continue;
            }
            if let (Some(which), Some(item)) = (list, trimmed.strip_prefix("- ")) {
                let item = unquote(item.trim());
                if which == "extensions" {
                    spec.extensions.push(item);
                } else {
                    spec.require_paths.push(item);
                }
            }
        }
        let plain = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                && !s.starts_with('.')
        };
        if !plain(&spec.name) || !plain(&spec.version) {
            return Err(format!(
                "its gemspec has no usable name and version (name {:?}, version {:?})",
                spec.name, spec.version
            ));
        }
        if spec.require_paths.is_empty() {
            spec.require_paths.push("lib".into());
        }
        for dir in &spec.require_paths {
            archive::plain_relative(dir).map_err(|e| format!("require path refused: {e}"))?;
        }
        Ok(spec)
    }
}

fn unquote(s: &str) -> String {
    s.trim_matches(|c| c == '"' || c == '\'').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gemspec_gives_name_version_paths_and_extensions() {
        let yaml = "--- !ruby/object:Gem::Specification\nname: tiny\nversion: !ruby/object:Gem::Version\n  version: 1.2.3\nplatform: ruby\nextensions:\n- ext/tiny/extconf.rb\nrequire_paths:\n- lib\n- \"more\"\nsummary: x\n";
        let spec = Gemspec::parse(yaml).unwrap_or_default();
        assert_eq!(spec.name, "tiny");
        assert_eq!(spec.version, "1.2.3");
        assert_eq!(spec.require_paths, ["lib", "more"]);
        assert_eq!(spec.extensions, ["ext/tiny/extconf.rb"]);
        let hostile = "name: x\nversion: !ruby/object:Gem::Version\n  version: 1\nrequire_paths:\n- \"../../etc\"\n";
        assert!(Gemspec::parse(hostile).is_err());
        let checksums =
            "---\nSHA256:\n  metadata.gz: AB12\n  data.tar.gz: cd34\nSHA512:\n  metadata.gz: ff\n";
        assert_eq!(sha256_of(checksums, "metadata.gz").as_deref(), Some("ab12"));
        assert_eq!(sha256_of(checksums, "data.tar.gz").as_deref(), Some("cd34"));
    }
}
