//! Unpacking a package archive (a wheel's zip, an npm or gem `.tar.gz`) that came from a
//! registry, which SoulBox treats as hostile: only regular files and directories under plain
//! relative names are written, into a fresh staging directory the installer made; links,
//! absolute names, `..`, duplicate names and device files are refused, and the number of
//! entries, each file's size and the total size are capped - counting the bytes actually
//! decompressed, not what the archive declares (a declared size over the cap is refused before
//! anything is read).

// Audited for the wall rule (scripts/wall-audited.txt): writes only into the installer's own fresh staging directory, entry names checked to be plain relative paths, files created with O_EXCL.
#![allow(clippy::disallowed_methods)]

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

/// Caps on what one archive may unpack to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Entries (files and directories).
    pub max_entries: usize,
    /// Bytes of one file.
    pub max_file_bytes: u64,
    /// Bytes of all files together.
    pub max_total_bytes: u64,
}

impl Caps {
    /// The defaults: 5,000 entries, 64 MiB a file, 256 MiB in all (the largest pure-Python
    /// wheels and npm packages agents install are far below this).
    pub const DEFAULT: Caps = Caps {
        max_entries: 5_000,
        max_file_bytes: 64 << 20,
        max_total_bytes: 256 << 20,
    };
}

/// The kinds of archive packages come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// A zip (Python wheel).
    Zip,
    /// A gzip-compressed tar; with `strip_first`, every entry's first directory (npm's
    /// `package/`) is removed.
    TarGz { strip_first: bool },
}

/// What was unpacked.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Unpacked {
    /// Relative paths of the regular files written.
    pub files: Vec<String>,
    /// Their total size.
    pub bytes: u64,
}

/// Why an archive was refused (the caller adds which package it was).
pub(crate) type Refusal = String;

/// Checks that `name` is a plain relative path (no root, no `..`, no NUL, not empty) and
/// returns it normalised (`.` components dropped).
pub(crate) fn plain_relative(name: &str) -> Result<PathBuf, Refusal> {
    if name.contains('\0') || name.contains('\\') {
        return Err(format!("entry {name:?} has a NUL or backslash in its name"));
    }
    let mut out = PathBuf::new();
    for component in Path::new(name).components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(format!(
                    "entry {name:?} climbs out with `..` (path traversal)"
                ));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!("entry {name:?} is an absolute path"));
            }
        }
    }
    if out.as_os_str().is_empty() {
        return Err(format!("entry {name:?} has an empty name"));
    }
    Ok(out)
}

struct Writer<'a> {
    dest: &'a Path,
    caps: Caps,
    entries: usize,
    out: Unpacked,
}

impl Writer<'_> {
    fn count(&mut self, name: &str) -> Result<(), Refusal> {
        self.entries += 1;
        if self.entries > self.caps.max_entries {
            return Err(format!(
                "it has more than {} entries (stopped at {name:?})",
                self.caps.max_entries
            ));
        }
        Ok(())
    }

    fn declared(&self, name: &str, size: u64) -> Result<(), Refusal> {
        if size > self.caps.max_file_bytes {
            return Err(format!(
                "entry {name:?} declares {size} bytes, over the {}-byte cap for one file",
                self.caps.max_file_bytes
            ));
        }
        if self.out.bytes.saturating_add(size) > self.caps.max_total_bytes {
            return Err(format!(
                "it unpacks to more than {} bytes (at {name:?})",
                self.caps.max_total_bytes
            ));
        }
        Ok(())
    }

    fn dir(&mut self, relative: &Path) -> Result<(), Refusal> {
        std::fs::create_dir_all(self.dest.join(relative))
            .map_err(|e| format!("creating {}: {e}", relative.display()))
    }

    /// Writes one file, counting the bytes that really come out of the decompressor.
    fn file(&mut self, name: &str, relative: &Path, reader: &mut impl Read) -> Result<(), Refusal> {
        let path = self.dest.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("creating the directory of {name:?}: {e}"))?;
        }
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => format!("entry {name:?} appears twice"),
                _ => format!("creating {name:?}: {e}"),
            })?;
        let room = self
            .caps
            .max_file_bytes
            .min(self.caps.max_total_bytes.saturating_sub(self.out.bytes));
        let mut limited = reader.take(room.saturating_add(1));
        let written = std::io::copy(&mut limited, &mut out)
            .map_err(|e| format!("unpacking {name:?}: {e}"))?;
        if written > room {
            return Err(format!(
                "entry {name:?} unpacks to more than its cap ({room} bytes left of {} for one file, {} in all)",
                self.caps.max_file_bytes, self.caps.max_total_bytes
            ));
        }
        out.flush().map_err(|e| format!("writing {name:?}: {e}"))?;
        self.out.bytes += written;
        self.out.files.push(relative.to_string_lossy().into_owned());
        Ok(())
    }
}

/// Unpacks `archive` into `dest` (an empty directory the caller made) under `caps`.
pub(crate) fn unpack(
    archive: &Path,
    format: Format,
    dest: &Path,
    caps: Caps,
) -> Result<Unpacked, Refusal> {
    let file = File::open(archive).map_err(|e| format!("opening the archive: {e}"))?;
    let reader = std::io::BufReader::new(file);
    let mut writer = Writer {
        dest,
        caps,
        entries: 0,
        out: Unpacked::default(),
    };
    match format {
        Format::Zip => unpack_zip(reader, &mut writer)?,
        Format::TarGz { strip_first } => {
            unpack_tar(
                flate2::read::GzDecoder::new(reader),
                strip_first,
                &mut writer,
            )?;
        }
    }
    Ok(writer.out)
}

fn unpack_zip(reader: impl Read + std::io::Seek, writer: &mut Writer<'_>) -> Result<(), Refusal> {
    let mut zip =
        zip::ZipArchive::new(reader).map_err(|e| format!("it is not a readable zip: {e}"))?;
    if zip.len() > writer.caps.max_entries {
        return Err(format!(
            "it has {} entries, over the cap of {}",
            zip.len(),
            writer.caps.max_entries
        ));
    }
    for i in 0..zip.len() {
        let mut entry = zip
            .by_index(i)
            .map_err(|e| format!("reading entry {i}: {e}"))?;
        let name = entry.name().to_owned();
        writer.count(&name)?;
        let relative = plain_relative(&name)?;
        let kind = entry.unix_mode().map(|m| m & 0o170000);
        if entry.is_symlink() || kind == Some(0o120000) {
            return Err(format!("entry {name:?} is a symbolic link"));
        }
        if entry.is_dir() {
            writer.dir(&relative)?;
            continue;
        }
        if kind.is_some_and(|k| k != 0 && k != 0o100000) {
            return Err(format!("entry {name:?} is not a regular file"));
        }
        writer.declared(&name, entry.size())?;
        writer.file(&name, &relative, &mut entry)?;
    }
    Ok(())
}

fn unpack_tar(
    reader: impl Read,
    strip_first: bool,
    writer: &mut Writer<'_>,
) -> Result<(), Refusal> {
    let mut tar = tar::Archive::new(reader);
    let entries = tar
        .entries()
        .map_err(|e| format!("it is not a readable tar: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("reading the tar: {e}"))?;
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        }
        let raw = entry.path_bytes();
        let name = String::from_utf8_lossy(&raw).into_owned();
        writer.count(&name)?;
        let stripped = if strip_first {
            let first = name.split('/').next().unwrap_or_default();
            if first.is_empty() || first == ".." {
                return Err(format!("entry {name:?} is outside the package directory"));
            }
            match name.split_once('/') {
                Some((_, rest)) if !rest.is_empty() => rest,
                _ if kind.is_dir() => continue,
                _ => return Err(format!("entry {name:?} is outside the package directory")),
            }
        } else {
            name.as_str()
        };
        let relative = plain_relative(stripped)?;
        if kind.is_symlink() || kind.is_hard_link() {
            let target = entry
                .link_name_bytes()
                .map(|t| String::from_utf8_lossy(&t).into_owned())
                .unwrap_or_default();
            return Err(format!(
                "entry {name:?} is a {} to {target:?}",
                if kind.is_symlink() {
                    "symbolic link"
                } else {
                    "hard link"
                }
            ));
        }
        if kind.is_dir() {
            writer.dir(&relative)?;
            continue;
        }
        if !(kind.is_file() || kind == tar::EntryType::Continuous) {
            return Err(format!("entry {name:?} is not a regular file ({kind:?})"));
        }
        let declared = entry.header().size().unwrap_or(u64::MAX);
        writer.declared(&name, declared)?;
        writer.file(&name, &relative, &mut entry)?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests build hostile archives on the host on purpose
mod tests {
    use super::*;
    use std::io::Cursor;

    fn zip_with(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in entries {
            out.start_file(*name, options)
                .unwrap_or_else(|e| panic!("{e}"));
            out.write_all(data).unwrap_or_else(|e| panic!("{e}"));
        }
        out.finish().unwrap_or_else(|e| panic!("{e}")).into_inner()
    }

    fn tar_gz_with(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        build(&mut builder);
        let tar = builder.into_inner().unwrap_or_else(|e| panic!("{e}"));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap_or_else(|e| panic!("{e}"));
        gz.finish().unwrap_or_else(|e| panic!("{e}"))
    }

    fn file_header(size: u64) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_size(size);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header
    }

    /// Unpacks `bytes` in a fresh directory and returns the error, checking nothing was written
    /// outside the staging directory.
    fn refused(bytes: &[u8], format: Format, caps: Caps) -> String {
        let base = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let archive = base.path().join("archive");
        std::fs::write(&archive, bytes).unwrap_or_else(|e| panic!("{e}"));
        let stage = base.path().join("a/b/stage");
        std::fs::create_dir_all(&stage).unwrap_or_else(|e| panic!("{e}"));
        let result = unpack(&archive, format, &stage, caps);
        let mut names: Vec<String> = std::fs::read_dir(base.path())
            .unwrap_or_else(|e| panic!("{e}"))
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["a", "archive"],
            "something was written beside the stage"
        );
        assert!(!base.path().join("a/evil").exists());
        assert!(!Path::new("/tmp/soulbox-evil").exists());
        match result {
            Err(e) => e,
            Ok(u) => panic!("the archive was accepted: {u:?}"),
        }
    }

    #[test]
    fn a_plain_wheel_unpacks() {
        let base = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let archive = base.path().join("w.whl");
        std::fs::write(
            &archive,
            zip_with(&[
                ("pkg/__init__.py", b"x = 1\n"),
                ("pkg-1.0.dist-info/METADATA", b""),
            ]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let stage = base.path().join("stage");
        std::fs::create_dir(&stage).unwrap_or_else(|e| panic!("{e}"));
        let out =
            unpack(&archive, Format::Zip, &stage, Caps::DEFAULT).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.files.len(), 2);
        assert_eq!(out.bytes, 6);
        assert_eq!(
            std::fs::read(stage.join("pkg/__init__.py")).unwrap_or_default(),
            b"x = 1\n"
        );
    }

    #[test]
    fn zip_path_traversal_and_absolute_names_are_refused() {
        let e = refused(
            &zip_with(&[("../../evil", b"x")]),
            Format::Zip,
            Caps::DEFAULT,
        );
        assert!(e.contains("path traversal"), "{e}");
        let e = refused(
            &zip_with(&[("/tmp/soulbox-evil", b"x")]),
            Format::Zip,
            Caps::DEFAULT,
        );
        assert!(e.contains("absolute path"), "{e}");
    }

    #[test]
    fn tar_path_traversal_symlinks_and_hardlinks_out_are_refused() {
        let traversal = tar_gz_with(|b| {
            let mut h = file_header(1);
            // `set_path` refuses `..`, as a careful writer would; a hostile one writes the bytes.
            h.as_old_mut().name[..17].copy_from_slice(b"package/../../evi");
            h.set_cksum();
            b.append(&h, &b"x"[..]).unwrap_or_else(|e| panic!("{e}"));
        });
        let e = refused(
            &traversal,
            Format::TarGz { strip_first: true },
            Caps::DEFAULT,
        );
        assert!(e.contains("path traversal"), "{e}");
        for kind in [tar::EntryType::Symlink, tar::EntryType::Link] {
            let link = tar_gz_with(|b| {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(kind);
                h.set_size(0);
                b.append_link(&mut h, "package/index.js", "/etc/passwd")
                    .unwrap_or_else(|e| panic!("{e}"));
            });
            let e = refused(&link, Format::TarGz { strip_first: true }, Caps::DEFAULT);
            assert!(e.contains("link to \"/etc/passwd\""), "{e}");
        }
        let absolute = tar_gz_with(|b| {
            let mut h = file_header(1);
            h.as_old_mut().name[..17].copy_from_slice(b"/tmp/soulbox-evil");
            h.set_cksum();
            b.append(&h, &b"x"[..]).unwrap_or_else(|e| panic!("{e}"));
        });
        let e = refused(
            &absolute,
            Format::TarGz { strip_first: false },
            Caps::DEFAULT,
        );
        assert!(e.contains("absolute path"), "{e}");
    }

    #[test]
    fn ten_thousand_files_are_refused() {
        let names: Vec<String> = (0..10_000).map(|i| format!("pkg/f{i}.py")).collect();
        let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
        let e = refused(&zip_with(&entries), Format::Zip, Caps::DEFAULT);
        assert!(e.contains("10000 entries, over the cap of 5000"), "{e}");
        let many = tar_gz_with(|b| {
            for name in &names {
                let mut h = file_header(0);
                b.append_data(&mut h, format!("package/{name}"), &b""[..])
                    .unwrap_or_else(|e| panic!("{e}"));
            }
        });
        let e = refused(&many, Format::TarGz { strip_first: true }, Caps::DEFAULT);
        assert!(e.contains("more than 5000 entries"), "{e}");
    }

    #[test]
    fn a_gibibyte_declared_or_decompressed_is_refused() {
        // A tar entry declaring 1 GiB: refused before a byte is read.
        let mut tar = Vec::new();
        let mut h = file_header(1 << 30);
        h.set_path("package/big.bin")
            .unwrap_or_else(|e| panic!("{e}"));
        h.set_cksum();
        tar.extend_from_slice(h.as_bytes());
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap_or_else(|e| panic!("{e}"));
        let bomb = gz.finish().unwrap_or_else(|e| panic!("{e}"));
        let e = refused(&bomb, Format::TarGz { strip_first: true }, Caps::DEFAULT);
        assert!(e.contains("declares 1073741824 bytes"), "{e}");
        // A zip of highly compressible data beyond the cap: refused while decompressing.
        let zeros = vec![0u8; 3 << 20];
        let caps = Caps {
            max_file_bytes: 1 << 20,
            ..Caps::DEFAULT
        };
        let e = refused(&zip_with(&[("pkg/zeros", &zeros)]), Format::Zip, caps);
        assert!(e.contains("over the 1048576-byte cap"), "{e}");
        // Many files that each fit but together do not.
        let caps = Caps {
            max_total_bytes: 5 << 20,
            ..Caps::DEFAULT
        };
        let e = refused(
            &zip_with(&[("pkg/a", &zeros), ("pkg/b", &zeros)]),
            Format::Zip,
            caps,
        );
        assert!(e.contains("more than 5242880 bytes"), "{e}");
    }

    #[test]
    fn zip_symlinks_are_refused() {
        let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
        out.add_symlink(
            "pkg/link",
            "/etc/passwd",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let bytes = out.finish().unwrap_or_else(|e| panic!("{e}")).into_inner();
        let e = refused(&bytes, Format::Zip, Caps::DEFAULT);
        assert!(e.contains("symbolic link"), "{e}");
    }
}
