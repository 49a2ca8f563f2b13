//! The audited way into directories a guest can write: the workspace, a session's private root,
//! a compiler's scratch directory.
//!
//! Everything there may have been made by hostile code, so the host never follows a link in it
//! and never trusts a name to be what it looks like:
//!
//! - paths are resolved by `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` from a directory
//!   descriptor (a [`cap_std::fs::Dir`]): no absolute path, no `..` leading out, no symbolic
//!   link anywhere on the way, the last component included (`O_NOFOLLOW`). Kernels without
//!   `openat2` get the same rule by a walk of `openat(O_NOFOLLOW)` one component at a time
//!   (`..` is then refused outright);
//! - files are opened `O_NONBLOCK` (a FIFO or a device cannot stall the host), the descriptor's
//!   type is checked with `fstat` (regular files only) and its size capped before anything is
//!   read, and the read itself stops at the cap (a file still growing cannot exceed it);
//! - files are written through `O_CREAT | O_NOFOLLOW` in a parent opened the same way, and
//!   checked to be regular files before any byte is written.
//!
//! Nothing else in the engine opens, reads or writes a path in those directories.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path};

use cap_std::fs::Dir;
use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// Why a file in a guest-writable directory was not read (or written).
#[derive(Debug, thiserror::Error)]
pub(crate) enum GuestFileError {
    /// Nothing by that name.
    #[error("no such file")]
    NotFound,
    /// The name (or a directory on the way) is a symbolic link, which is never followed.
    #[error("it is a symbolic link or lies behind one; links in the sandbox are never followed")]
    Symlink,
    /// The path leads outside the directory.
    #[error("the path leads outside the sandbox's directory")]
    Escapes,
    /// A FIFO, socket, device or directory where a regular file was expected.
    #[error("it is {kind}, not a regular file")]
    NotRegular {
        /// What it is instead.
        kind: &'static str,
    },
    /// Not a directory where one was expected.
    #[error("it is not a directory")]
    NotADirectory,
    /// Larger than the caller allows.
    #[error("it is larger than the {max} bytes allowed ({size} bytes)")]
    TooLarge {
        /// Its size as far as known (at least `max + 1`).
        size: u64,
        /// The cap.
        max: u64,
    },
    /// Any other I/O failure.
    #[error("{0}")]
    Io(std::io::Error),
}

impl From<GuestFileError> for std::io::Error {
    fn from(e: GuestFileError) -> Self {
        use std::io::ErrorKind;
        match e {
            GuestFileError::Io(e) => e,
            GuestFileError::NotFound => std::io::Error::new(ErrorKind::NotFound, e.to_string()),
            GuestFileError::Symlink | GuestFileError::Escapes => {
                std::io::Error::new(ErrorKind::PermissionDenied, e.to_string())
            }
            GuestFileError::NotRegular { .. } => {
                std::io::Error::new(ErrorKind::InvalidInput, e.to_string())
            }
            GuestFileError::NotADirectory => {
                std::io::Error::new(ErrorKind::NotADirectory, e.to_string())
            }
            GuestFileError::TooLarge { .. } => {
                std::io::Error::new(ErrorKind::FileTooLarge, e.to_string())
            }
        }
    }
}

fn from_errno(errno: Errno) -> GuestFileError {
    match errno {
        Errno::NOENT => GuestFileError::NotFound,
        // RESOLVE_NO_SYMLINKS and O_NOFOLLOW both answer ELOOP for a link.
        Errno::LOOP => GuestFileError::Symlink,
        Errno::XDEV => GuestFileError::Escapes,
        // open(2) of a socket, or of a FIFO for writing without a reader (O_NONBLOCK).
        Errno::NXIO => GuestFileError::NotRegular {
            kind: "a socket or a FIFO",
        },
        other => GuestFileError::Io(other.into()),
    }
}

/// A regular file opened inside a guest-writable directory, with its size when opened.
#[derive(Debug)]
pub(crate) struct GuestFile {
    file: File,
    len: u64,
}

impl GuestFile {
    /// Its size when it was opened.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The open file (positioned at its start until read).
    pub(crate) fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Reads the whole file, at most `max` bytes: a file that grew past `max` since it was
    /// opened is [`GuestFileError::TooLarge`].
    pub(crate) fn read_all(mut self, max: u64) -> Result<Vec<u8>, GuestFileError> {
        let mut bytes = Vec::with_capacity(usize::try_from(self.len.min(max)).unwrap_or(0));
        (&mut self.file)
            .take(max.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(GuestFileError::Io)?;
        if bytes.len() as u64 > max {
            return Err(GuestFileError::TooLarge {
                size: bytes.len() as u64,
                max,
            });
        }
        Ok(bytes)
    }

    /// Reads at most `max` bytes from the start (a prefix, for sniffing a type).
    pub(crate) fn read_head(mut self, max: u64) -> Result<Vec<u8>, GuestFileError> {
        let mut bytes = Vec::new();
        (&mut self.file)
            .take(max)
            .read_to_end(&mut bytes)
            .map_err(GuestFileError::Io)?;
        Ok(bytes)
    }
}

/// Opens the regular file at `path` (relative) under `dir` for reading: no symlink followed,
/// `O_NONBLOCK`, a regular file by `fstat`, at most `max` bytes long.
pub(crate) fn open_regular(dir: &Dir, path: &Path, max: u64) -> Result<GuestFile, GuestFileError> {
    let fd = open_beneath(
        dir.as_fd(),
        path,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let len = check_regular(&fd)?;
    if len > max {
        return Err(GuestFileError::TooLarge { size: len, max });
    }
    Ok(GuestFile {
        file: File::from(fd),
        len,
    })
}

/// [`open_regular`] then [`GuestFile::read_all`]: the whole file, at most `max` bytes.
pub(crate) fn read_regular(dir: &Dir, path: &Path, max: u64) -> Result<Vec<u8>, GuestFileError> {
    open_regular(dir, path, max)?.read_all(max)
}

/// Opens the directory at `path` (relative; empty for `dir` itself) under `dir`, following no
/// symlink on the way.
pub(crate) fn open_dir(dir: &Dir, path: &Path) -> Result<Dir, GuestFileError> {
    if path.as_os_str().is_empty() {
        return dir.try_clone().map_err(GuestFileError::Io);
    }
    let opened = open_beneath(
        dir.as_fd(),
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    );
    match opened {
        Ok(fd) => Ok(Dir::from_std_file(File::from(fd))),
        // O_DIRECTORY answers ENOTDIR for a link as for a file: say which it is.
        Err(GuestFileError::Io(e)) if e.kind() == std::io::ErrorKind::NotADirectory => {
            let entry = open_beneath(
                dir.as_fd(),
                path,
                OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            let stat = rustix::fs::fstat(&entry).map_err(|e| GuestFileError::Io(e.into()))?;
            match rustix::fs::FileType::from_raw_mode(stat.st_mode) {
                rustix::fs::FileType::Symlink => Err(GuestFileError::Symlink),
                _ => Err(GuestFileError::NotADirectory),
            }
        }
        Err(e) => Err(e),
    }
}

/// Opens the directory entry `name` of `dir` (one component, as listed by `entries`), which
/// must be a directory and not a link to one.
pub(crate) fn open_subdir(dir: &Dir, name: &OsStr) -> std::io::Result<Dir> {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    Ok(Dir::from_std_file(File::from(fd)))
}

/// Opens the directory entry `name` of `dir` (one component) as a regular file for reading,
/// as [`open_regular`] does.
pub(crate) fn open_entry(dir: &Dir, name: &OsStr, max: u64) -> Result<GuestFile, GuestFileError> {
    open_regular(dir, Path::new(name), max)
}

/// The parent directory of `path` (opened without following links) and `path`'s last name.
pub(crate) fn open_parent<'p>(
    dir: &Dir,
    path: &'p Path,
) -> Result<(Dir, &'p OsStr), GuestFileError> {
    let name = path.file_name().ok_or(GuestFileError::NotFound)?;
    let parent = path.parent().unwrap_or(Path::new(""));
    Ok((open_dir(dir, parent)?, name))
}

/// Creates the directories of `path` (relative) under `dir` that are missing, following no
/// symlink (a link where a directory should be is an error), and opens the last one.
pub(crate) fn create_dir_all(dir: &Dir, path: &Path) -> Result<Dir, GuestFileError> {
    let mut current = dir.try_clone().map_err(GuestFileError::Io)?;
    for part in plain_components(path)? {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(&current, part, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => {
                match rustix::fs::mkdirat(&current, part, Mode::from_raw_mode(0o777)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(from_errno(e)),
                }
                rustix::fs::openat(&current, part, flags, Mode::empty()).map_err(from_errno)?
            }
            Err(Errno::NOTDIR) => {
                return Err(GuestFileError::NotRegular {
                    kind: "a file where a directory was expected",
                });
            }
            Err(e) => return Err(from_errno(e)),
        };
        current = Dir::from_std_file(File::from(fd));
    }
    Ok(current)
}

/// Writes `bytes` to `path` (relative) under `dir`, creating missing parent directories:
/// nothing on the way is followed if it is a link, and an existing entry at `path` is replaced
/// only if it is a regular file (truncated) - a FIFO, socket, device, directory or link there
/// is an error.
pub(crate) fn write_file(dir: &Dir, path: &Path, bytes: &[u8]) -> Result<(), GuestFileError> {
    let name = path.file_name().ok_or(GuestFileError::NotFound)?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => create_dir_all(dir, p)?,
        _ => dir.try_clone().map_err(GuestFileError::Io)?,
    };
    create_file(&parent, name)?
        .write_all(bytes)
        .map_err(GuestFileError::Io)
}

/// Creates (or truncates) the regular file `name` (one component) in `dir` for writing; a link,
/// FIFO, socket, device or directory of that name is an error and is left alone.
pub(crate) fn create_file(dir: &Dir, name: &OsStr) -> Result<File, GuestFileError> {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::WRONLY
            | OFlags::CREATE
            | OFlags::NOFOLLOW
            | OFlags::NONBLOCK
            | OFlags::NOCTTY
            | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o666),
    )
    .map_err(from_errno)?;
    // Truncate only once the descriptor is known to be a regular file.
    check_regular(&fd)?;
    let file = File::from(fd);
    file.set_len(0).map_err(GuestFileError::Io)?;
    Ok(file)
}

/// Deepest nesting [`copy_tree`] copies.
const MAX_COPY_DEPTH: usize = 64;

/// Copies the regular files and directories under `from` into `to` (both guest-writable):
/// links are neither followed nor copied, FIFOs, sockets and devices are skipped, files are
/// opened `O_NONBLOCK` and streamed, and nothing is written through a link found in `to`.
pub(crate) fn copy_tree(from: &Dir, to: &Dir) -> std::io::Result<()> {
    copy_dir(from, to, 0)
}

fn copy_dir(from: &Dir, to: &Dir, depth: usize) -> std::io::Result<()> {
    if depth > MAX_COPY_DEPTH {
        return Err(std::io::Error::other(format!(
            "the directory tree is nested more than {MAX_COPY_DEPTH} deep"
        )));
    }
    for entry in from.entries()? {
        let entry = entry?;
        let name = entry.file_name();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            let source = open_subdir(from, &name)?;
            let target = create_dir_all(to, Path::new(&name))?;
            copy_dir(&source, &target, depth + 1)?;
        } else if kind.is_file() {
            let mut source = open_entry(from, &name, u64::MAX)?;
            let mut target = create_file(to, &name)?;
            std::io::copy(source.file(), &mut target)?;
        }
    }
    Ok(())
}

/// Whether the symbolic link `name` in `parent`, found at `path` (relative to `root`), leads
/// outside `root`: its target is absolute, or resolving it (as the kernel would, through any
/// other links) climbs above `root`, or it is part of a loop. A dangling link is judged by its
/// text: it escapes if its `..` components climb above `root` from where it lies. Without
/// `openat2`, every link with an absolute target or a `..` component counts as escaping.
pub(crate) fn symlink_escapes(
    root: &Dir,
    parent: &Dir,
    name: &OsStr,
    path: &Path,
) -> std::io::Result<bool> {
    use std::os::unix::ffi::OsStrExt;
    let target = rustix::fs::readlinkat(parent, name, Vec::new())?;
    let target = Path::new(OsStr::from_bytes(target.as_bytes()));
    if target.is_absolute() {
        return Ok(true);
    }
    let resolved = rustix::fs::openat2(
        root,
        path,
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
    );
    match resolved {
        Ok(_) => Ok(false),
        Err(Errno::XDEV | Errno::LOOP) => Ok(true),
        Err(Errno::NOSYS | Errno::PERM) => Ok(target
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))),
        Err(_) => {
            // Dangling (or unreadable): judge the text from the link's own directory.
            let mut depth = path.components().count().saturating_sub(1) as i64;
            for part in target.components() {
                match part {
                    Component::ParentDir => depth -= 1,
                    Component::Normal(_) => depth += 1,
                    _ => {}
                }
                if depth < 0 {
                    return Ok(true);
                }
            }
            Ok(false)
        }
    }
}

/// The file type of an open descriptor; `Ok(size)` for a regular file.
fn check_regular(fd: &OwnedFd) -> Result<u64, GuestFileError> {
    use rustix::fs::FileType;
    let stat = rustix::fs::fstat(fd).map_err(|e| GuestFileError::Io(e.into()))?;
    let kind = match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile => return Ok(u64::try_from(stat.st_size).unwrap_or(0)),
        FileType::Directory => "a directory",
        FileType::Symlink => "a symbolic link",
        FileType::Fifo => "a FIFO",
        FileType::Socket => "a socket",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        FileType::Unknown => "of an unknown type",
    };
    Err(GuestFileError::NotRegular { kind })
}

/// The components of a relative path that may only go down: plain names (`.` ignored).
fn plain_components(path: &Path) -> Result<Vec<&OsStr>, GuestFileError> {
    let mut parts = Vec::new();
    for part in path.components() {
        match part {
            Component::Normal(name) => parts.push(name),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(GuestFileError::Escapes);
            }
        }
    }
    Ok(parts)
}

/// Opens `path` under `start` with `flags`: `openat2` with `RESOLVE_BENEATH |
/// RESOLVE_NO_SYMLINKS`, or, where the kernel has no `openat2`, one `openat(O_NOFOLLOW)` per
/// component.
fn open_beneath(
    start: BorrowedFd<'_>,
    path: &Path,
    flags: OFlags,
    mode: Mode,
) -> Result<OwnedFd, GuestFileError> {
    if path.as_os_str().is_empty() {
        return Err(GuestFileError::NotFound);
    }
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
    // openat2 fails with EAGAIN when a rename elsewhere raced the lookup: retry a few times.
    for _ in 0..4 {
        match rustix::fs::openat2(start, path, flags, mode, resolve) {
            Ok(fd) => return Ok(fd),
            Err(Errno::AGAIN) => continue,
            // No openat2 here (old kernel, or a seccomp profile that refuses it).
            Err(Errno::NOSYS | Errno::PERM) => return open_walk(start, path, flags, mode),
            Err(e) => return Err(from_errno(e)),
        }
    }
    Err(GuestFileError::Io(std::io::Error::other(
        "the path kept changing while it was opened",
    )))
}

/// The `openat2`-less way: each directory opened `O_DIRECTORY | O_NOFOLLOW`, the last
/// component with `flags` (which carry `O_NOFOLLOW`); `..` is refused.
fn open_walk(
    start: BorrowedFd<'_>,
    path: &Path,
    flags: OFlags,
    mode: Mode,
) -> Result<OwnedFd, GuestFileError> {
    let parts = plain_components(path)?;
    let Some((last, dirs)) = parts.split_last() else {
        return Err(GuestFileError::NotFound);
    };
    let mut held: Option<OwnedFd> = None;
    for part in dirs {
        let base = held.as_ref().map_or(start, AsFd::as_fd);
        let fd = rustix::fs::openat(
            base,
            *part,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            // A link where a directory should be: O_DIRECTORY | O_NOFOLLOW says ENOTDIR or ELOOP.
            Errno::NOTDIR => GuestFileError::Symlink,
            other => from_errno(other),
        })?;
        held = Some(fd);
    }
    let base = held.as_ref().map_or(start, AsFd::as_fd);
    rustix::fs::openat(base, *last, flags | OFlags::NOFOLLOW, mode).map_err(from_errno)
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests plant hostile files on the host on purpose
mod tests {
    use super::*;
    use cap_std::ambient_authority;

    fn setup() -> (tempfile::TempDir, Dir) {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let dir = Dir::open_ambient_dir(tmp.path(), ambient_authority())
            .unwrap_or_else(|e| panic!("{e}"));
        (tmp, dir)
    }

    fn mkfifo(path: &Path) {
        use std::os::unix::ffi::OsStrExt;
        let c =
            std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
    }

    #[test]
    fn reads_regular_files_only_and_never_follows_links() -> std::io::Result<()> {
        let (tmp, dir) = setup();
        let secret = tempfile::NamedTempFile::new()?;
        std::fs::write(secret.path(), "secret")?;
        std::fs::create_dir(tmp.path().join("sub"))?;
        std::fs::write(tmp.path().join("sub/ok.txt"), "fine")?;
        std::os::unix::fs::symlink(secret.path(), tmp.path().join("out"))?;
        std::os::unix::fs::symlink("sub/ok.txt", tmp.path().join("inside"))?;
        std::os::unix::fs::symlink("sub", tmp.path().join("subl"))?;
        mkfifo(&tmp.path().join("fifo"));

        assert_eq!(
            read_regular(&dir, Path::new("sub/ok.txt"), 100).ok(),
            Some(b"fine".to_vec())
        );
        for link in ["out", "inside", "subl/ok.txt"] {
            let err = read_regular(&dir, Path::new(link), 100);
            assert!(
                matches!(err, Err(GuestFileError::Symlink)),
                "{link}: {err:?}"
            );
        }
        let err = read_regular(&dir, Path::new("fifo"), 100);
        assert!(
            matches!(err, Err(GuestFileError::NotRegular { kind: "a FIFO" })),
            "{err:?}"
        );
        let err = read_regular(&dir, Path::new("sub"), 100);
        assert!(
            matches!(err, Err(GuestFileError::NotRegular { .. })),
            "{err:?}"
        );
        let err = read_regular(&dir, Path::new("../etc/passwd"), 100);
        assert!(matches!(err, Err(GuestFileError::Escapes)), "{err:?}");
        let err = read_regular(&dir, Path::new("sub/ok.txt"), 3);
        assert!(
            matches!(err, Err(GuestFileError::TooLarge { size: 4, max: 3 })),
            "{err:?}"
        );
        let err = read_regular(&dir, Path::new("missing"), 3);
        assert!(matches!(err, Err(GuestFileError::NotFound)), "{err:?}");
        Ok(())
    }

    #[test]
    fn the_walk_without_openat2_follows_the_same_rules() -> std::io::Result<()> {
        let (tmp, dir) = setup();
        std::fs::create_dir(tmp.path().join("sub"))?;
        std::fs::write(tmp.path().join("sub/ok.txt"), "fine")?;
        std::os::unix::fs::symlink("/etc", tmp.path().join("etc"))?;
        std::os::unix::fs::symlink("sub/ok.txt", tmp.path().join("inside"))?;
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let open = |p: &str| open_walk(dir.as_fd(), Path::new(p), flags, Mode::empty());
        assert!(open("sub/ok.txt").is_ok());
        assert!(matches!(open("etc/passwd"), Err(GuestFileError::Symlink)));
        assert!(matches!(open("inside"), Err(GuestFileError::Symlink)));
        assert!(matches!(
            open("sub/../sub/ok.txt"),
            Err(GuestFileError::Escapes)
        ));
        Ok(())
    }

    #[test]
    fn writes_refuse_links_and_special_files() -> std::io::Result<()> {
        let (tmp, dir) = setup();
        let outside = tempfile::tempdir()?;
        std::os::unix::fs::symlink(outside.path(), tmp.path().join("up"))?;
        std::os::unix::fs::symlink(outside.path().join("f"), tmp.path().join("f"))?;
        mkfifo(&tmp.path().join("fifo"));

        write_file(&dir, Path::new("a/b/c.txt"), b"x").map_err(std::io::Error::from)?;
        assert_eq!(std::fs::read(tmp.path().join("a/b/c.txt"))?, b"x");
        write_file(&dir, Path::new("a/b/c.txt"), b"shorter?").map_err(std::io::Error::from)?;
        write_file(&dir, Path::new("a/b/c.txt"), b"y").map_err(std::io::Error::from)?;
        assert_eq!(std::fs::read(tmp.path().join("a/b/c.txt"))?, b"y");
        assert!(write_file(&dir, Path::new("up/x"), b"x").is_err());
        assert!(write_file(&dir, Path::new("f"), b"x").is_err());
        assert!(matches!(
            write_file(&dir, Path::new("fifo"), b"x"),
            Err(GuestFileError::NotRegular { .. })
        ));
        assert!(write_file(&dir, Path::new("../x"), b"x").is_err());
        assert_eq!(std::fs::read_dir(outside.path())?.count(), 0);
        Ok(())
    }

    #[test]
    fn copies_take_regular_files_and_directories_only() -> std::io::Result<()> {
        let (from_tmp, from) = setup();
        let (to_tmp, to) = setup();
        let outside = tempfile::tempdir()?;
        std::fs::create_dir_all(from_tmp.path().join("a/b"))?;
        std::fs::write(from_tmp.path().join("a/b/f.txt"), "copied")?;
        std::os::unix::fs::symlink("/etc/passwd", from_tmp.path().join("a/link"))?;
        mkfifo(&from_tmp.path().join("a/fifo"));
        // A link waiting in the target where a directory of the source goes.
        std::os::unix::fs::symlink(outside.path(), to_tmp.path().join("a"))?;
        assert!(
            copy_tree(&from, &to).is_err(),
            "a link in the target is not written through"
        );
        std::fs::remove_file(to_tmp.path().join("a"))?;
        copy_tree(&from, &to)?;
        assert_eq!(std::fs::read(to_tmp.path().join("a/b/f.txt"))?, b"copied");
        assert!(std::fs::symlink_metadata(to_tmp.path().join("a/link")).is_err());
        assert!(std::fs::symlink_metadata(to_tmp.path().join("a/fifo")).is_err());
        assert_eq!(std::fs::read_dir(outside.path())?.count(), 0);
        Ok(())
    }

    #[test]
    fn escaping_links_are_told_apart_from_inner_ones() -> std::io::Result<()> {
        let (tmp, dir) = setup();
        std::fs::create_dir_all(tmp.path().join("a/b"))?;
        std::fs::write(tmp.path().join("a/file"), "x")?;
        let link = |target: &str, at: &str| std::os::unix::fs::symlink(target, tmp.path().join(at));
        link("/etc/passwd", "abs")?;
        link("../../..", "a/b/up")?;
        link("file", "a/ok")?;
        link("../file", "a/b/ok")?;
        link("b/../file", "a/ok2")?;
        // Points at the workspace root itself: fine on its own ...
        link("../..", "a/b/root")?;
        // ... but `..` after it climbs out, although the text alone looks inside.
        link("root/..", "a/b/sneaky")?;
        link("missing/../../..", "a/dangling")?;
        link("missing/x", "a/dangling_ok")?;
        link("loop", "loop")?;
        let escapes = |parent: &str, name: &str| {
            let p = open_dir(&dir, Path::new(parent)).map_err(std::io::Error::from)?;
            let rel = Path::new(parent).join(name);
            symlink_escapes(&dir, &p, OsStr::new(name), &rel)
        };
        assert!(escapes("", "abs")?);
        assert!(escapes("a/b", "up")?);
        assert!(!escapes("a", "ok")?);
        assert!(!escapes("a/b", "ok")?);
        assert!(!escapes("a", "ok2")?);
        assert!(!escapes("a/b", "root")?);
        assert!(escapes("a/b", "sneaky")?);
        assert!(escapes("a", "dangling")?);
        assert!(!escapes("a", "dangling_ok")?);
        assert!(escapes("", "loop")?);
        Ok(())
    }
}
