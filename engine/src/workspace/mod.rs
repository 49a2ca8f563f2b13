//! The sandbox's workspace: one host directory that the guest sees as `/work`, and nothing else.
//!
//! Every host-side access goes through a [`cap_std::fs::Dir`] opened on that directory and the
//! audited helpers of [`guest_fs`]: a path can never reach outside it, no symbolic link the
//! guest may have made is ever followed (not even one pointing inside), files are opened
//! `O_NONBLOCK` and must be regular files, and reads are capped. The guest side is preopened
//! through WASI, which resolves with cap-std.

mod artifacts;
pub(crate) mod guest_fs;

use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir;

use artifacts::Snapshot;

use crate::{FileInfo, Result, SoulBoxError};

/// Largest file [`Workspace::read_file`] hands out (1 GiB): the bytes are held in memory.
pub(crate) const MAX_READ_BYTES: u64 = 1 << 30;

/// The path at which guests see the workspace.
pub const GUEST_WORKDIR: &str = "/work";

/// A host directory owned (or borrowed) by one sandbox.
#[derive(Debug)]
pub(crate) struct Workspace {
    host_path: PathBuf,
    dir: Dir,
    /// Present when SoulBox created the directory; dropping it removes the directory.
    _owned: Option<tempfile::TempDir>,
}

impl Workspace {
    /// A fresh private directory, removed when the workspace is dropped.
    pub(crate) fn temporary() -> Result<Self> {
        let owned = tempfile::Builder::new()
            .prefix("soulbox-ws-")
            .tempdir()
            .map_err(|e| SoulBoxError::io("creating the sandbox workspace", e))?;
        let host_path = owned.path().to_path_buf();
        let dir = open_dir(&host_path)?;
        Ok(Self {
            host_path,
            dir,
            _owned: Some(owned),
        })
    }

    /// A caller-supplied directory (created if missing), kept when the workspace is dropped.
    // Audited for the wall rule (scripts/wall-audited.txt): the caller's own --workdir path, resolved once before any guest runs; everything inside goes through cap-std.
    #[allow(clippy::disallowed_methods)]
    pub(crate) fn at(path: &Path) -> Result<Self> {
        std::fs::create_dir_all(path)
            .map_err(|e| SoulBoxError::io(format!("creating workspace {}", path.display()), e))?;
        let host_path = path
            .canonicalize()
            .map_err(|e| SoulBoxError::io(format!("resolving workspace {}", path.display()), e))?;
        let dir = open_dir(&host_path)?;
        Ok(Self {
            host_path,
            dir,
            _owned: None,
        })
    }

    /// The directory on the host (for preopening into a guest).
    pub(crate) fn host_path(&self) -> &Path {
        &self.host_path
    }

    pub(crate) fn dir(&self) -> &Dir {
        &self.dir
    }

    pub(crate) fn write_file(&self, path: &str, data: &[u8]) -> Result<()> {
        let rel = relative_path(path)?;
        guest_fs::write_file(&self.dir, &rel, data).map_err(|e| file_error(path, "writing", e))
    }

    /// The bytes of a regular file (at most [`MAX_READ_BYTES`]); a link, FIFO, socket or device
    /// is refused without being followed or opened for reading.
    pub(crate) fn read_file(&self, path: &str) -> Result<Vec<u8>> {
        let rel = relative_path(path)?;
        guest_fs::read_regular(&self.dir, &rel, MAX_READ_BYTES)
            .map_err(|e| file_error(path, "reading", e))
    }

    /// At most `max` bytes from the start of a regular file, and the file's size: for callers
    /// that show a file (to a model, say) without holding all of it. Same refusals as
    /// [`Workspace::read_file`].
    pub(crate) fn read_head(&self, path: &str, max: u64) -> Result<(Vec<u8>, u64)> {
        let rel = relative_path(path)?;
        let file = guest_fs::open_regular(&self.dir, &rel, MAX_READ_BYTES)
            .map_err(|e| file_error(path, "reading", e))?;
        let size = file.len();
        let head = file
            .read_head(max)
            .map_err(|e| file_error(path, "reading", e))?;
        Ok((head, size))
    }

    pub(crate) fn remove_file(&self, path: &str) -> Result<()> {
        let rel = relative_path(path)?;
        let (parent, name) =
            guest_fs::open_parent(&self.dir, &rel).map_err(|e| file_error(path, "removing", e))?;
        // The entry itself (a link is removed, never followed).
        let meta = parent.symlink_metadata(name).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => SoulBoxError::FileNotFound(path.to_owned()),
            _ => path_io(path, "inspecting", e),
        })?;
        let removed = if meta.is_dir() {
            parent.remove_dir_all(name)
        } else {
            parent.remove_file(name)
        };
        removed.map_err(|e| path_io(path, "removing", e))
    }

    /// Creates the directory `path` and its missing parents; a link on the way is refused.
    pub(crate) fn make_dir(&self, path: &str) -> Result<()> {
        let rel = relative_path(path)?;
        guest_fs::create_dir_all(&self.dir, &rel)
            .map(drop)
            .map_err(|e| file_error(path, "creating", e))
    }

    /// Renames the entry `from` to `to` (parents of `to` created). Neither a link on the way nor
    /// the entry itself is followed: a link is moved as a link.
    pub(crate) fn rename(&self, from: &str, to: &str) -> Result<()> {
        let from_rel = relative_path(from)?;
        let to_rel = relative_path(to)?;
        let (from_parent, from_name) = guest_fs::open_parent(&self.dir, &from_rel)
            .map_err(|e| file_error(from, "moving", e))?;
        let to_name = to_rel
            .file_name()
            .ok_or_else(|| SoulBoxError::InvalidPath {
                path: to.to_owned(),
                reason: "names no file",
            })?;
        let to_parent =
            guest_fs::create_dir_all(&self.dir, to_rel.parent().unwrap_or(Path::new("")))
                .map_err(|e| file_error(to, "moving", e))?;
        from_parent
            .rename(from_name, &to_parent, to_name)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => SoulBoxError::FileNotFound(from.to_owned()),
                _ => path_io(from, "moving", e),
            })
    }

    /// Lists files under `path` (`""` or `"/work"` for the root), recursively, without following
    /// symlinks, at most `limit` entries. Only regular files and directories are listed.
    pub(crate) fn list_files(&self, path: &str, limit: usize) -> Result<Vec<FileInfo>> {
        let rel = relative_path_or_root(path)?;
        let mut out = Vec::new();
        let start =
            guest_fs::open_dir(&self.dir, &rel).map_err(|e| file_error(path, "listing", e))?;
        let prefix = rel.to_string_lossy().replace('\\', "/");
        artifacts::walk(&start, &prefix, limit, &mut |info| {
            if let Some(is_dir) = info.kind.listed() {
                out.push(FileInfo {
                    path: info.path.clone(),
                    size: info.size,
                    is_dir,
                });
            }
        })
        .map_err(|e| path_io(path, "listing", e))?;
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }
}

fn open_dir(path: &Path) -> Result<Dir> {
    Dir::open_ambient_dir(path, ambient_authority())
        .map_err(|e| SoulBoxError::io(format!("opening workspace {}", path.display()), e))
}

fn path_io(path: &str, action: &str, e: std::io::Error) -> SoulBoxError {
    SoulBoxError::io(format!("{action} `{path}` in the workspace"), e)
}

/// A [`guest_fs`] refusal as the caller's error: a missing file, a file that is not what the
/// host will touch, or plain I/O.
fn file_error(path: &str, action: &str, e: guest_fs::GuestFileError) -> SoulBoxError {
    use guest_fs::GuestFileError as E;
    match e {
        E::NotFound => SoulBoxError::FileNotFound(path.to_owned()),
        E::Escapes => SoulBoxError::InvalidPath {
            path: path.to_owned(),
            reason: "leads outside the workspace",
        },
        E::Io(e) => path_io(path, action, e),
        refused @ (E::Symlink | E::NotRegular { .. } | E::NotADirectory | E::TooLarge { .. }) => {
            SoulBoxError::UnusableFile {
                path: path.to_owned(),
                reason: refused.to_string(),
            }
        }
    }
}

/// What one run (an execution or a session cell) changes in the workspace: the workspace is
/// scanned when tracking starts, and [`Tracking::artifacts`] compares it afterwards. Runs and
/// cells both go through this, so "scan before, collect after" is written once.
pub(crate) struct Tracking<'a> {
    workspace: &'a Workspace,
    before: Snapshot,
}

impl Workspace {
    /// Starts tracking a run's changes (scans the workspace now).
    pub(crate) fn track(&self) -> Result<Tracking<'_>> {
        let before = Snapshot::take(self.dir())
            .map_err(|e| SoulBoxError::io("scanning the workspace before the run", e))?;
        Ok(Tracking {
            workspace: self,
            before,
        })
    }
}

impl Tracking<'_> {
    /// The files the run created or changed, within the configuration's artifact caps.
    pub(crate) fn artifacts(&self, config: &crate::SandboxConfig) -> Result<Vec<crate::Artifact>> {
        self.before
            .changes(
                self.workspace.dir(),
                config.max_artifacts,
                config.max_artifact_bytes,
            )
            .map_err(|e| SoulBoxError::io("collecting artifacts", e))
    }
}

/// Turns a caller's path (`data.csv`, `out/plot.png`, `/work/data.csv`) into a path relative to
/// the workspace root. Rejects empty paths, absolute paths outside `/work`, and NUL bytes.
/// `..` is left for cap-std to judge (it refuses any that escape).
pub(crate) fn relative_path(path: &str) -> Result<PathBuf> {
    let rel = relative_path_or_root(path)?;
    if rel.as_os_str().is_empty() {
        return Err(SoulBoxError::InvalidPath {
            path: path.to_owned(),
            reason: "names the workspace itself, not a file in it",
        });
    }
    Ok(rel)
}

fn relative_path_or_root(path: &str) -> Result<PathBuf> {
    if path.contains('\0') {
        return Err(SoulBoxError::InvalidPath {
            path: path.escape_default().to_string(),
            reason: "contains a NUL byte",
        });
    }
    let stripped = if path == GUEST_WORKDIR {
        ""
    } else if let Some(rest) = path.strip_prefix("/work/") {
        rest
    } else if path.starts_with('/') {
        return Err(SoulBoxError::InvalidPath {
            path: path.to_owned(),
            reason: "absolute paths must be inside /work",
        });
    } else {
        path
    };
    let trimmed = stripped.trim_start_matches("./").trim_end_matches('/');
    Ok(PathBuf::from(if trimmed == "." { "" } else { trimmed }))
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests plant hostile files on the host on purpose
mod tests {
    use super::*;

    #[test]
    fn guest_paths_map_to_relative() {
        assert_eq!(
            relative_path("/work/a/b.txt").ok(),
            Some(PathBuf::from("a/b.txt"))
        );
        assert_eq!(relative_path("./x").ok(), Some(PathBuf::from("x")));
        assert!(relative_path("/etc/passwd").is_err());
        assert!(relative_path("/work").is_err());
        assert!(relative_path("").is_err());
        assert!(relative_path("a\0b").is_err());
    }

    #[test]
    fn file_round_trip_and_escapes_refused() -> Result<()> {
        let ws = Workspace::temporary()?;
        ws.write_file("dir/sub/file.txt", b"hello")?;
        assert_eq!(ws.read_file("/work/dir/sub/file.txt")?, b"hello");
        let listed = ws.list_files("", 100)?;
        assert!(
            listed
                .iter()
                .any(|f| f.path == "dir/sub/file.txt" && f.size == 5)
        );
        assert!(ws.read_file("../../../etc/passwd").is_err());
        assert!(ws.write_file("../escape.txt", b"x").is_err());
        assert!(matches!(
            ws.read_file("missing.txt"),
            Err(SoulBoxError::FileNotFound(_))
        ));
        ws.remove_file("dir")?;
        assert!(ws.list_files("", 100)?.is_empty());
        Ok(())
    }

    #[test]
    fn make_dir_and_rename_stay_inside_and_follow_no_links() -> Result<()> {
        let ws = Workspace::temporary()?;
        ws.make_dir("a/b/c")?;
        assert!(
            ws.list_files("a/b", 100)?
                .iter()
                .any(|f| f.path == "a/b/c" && f.is_dir)
        );
        ws.write_file("a/x.txt", b"x")?;
        ws.rename("a/x.txt", "moved/y.txt")?;
        assert_eq!(ws.read_file("moved/y.txt")?, b"x");
        assert!(matches!(
            ws.read_file("a/x.txt"),
            Err(SoulBoxError::FileNotFound(_))
        ));
        assert!(matches!(
            ws.rename("nope", "z"),
            Err(SoulBoxError::FileNotFound(_))
        ));
        assert!(ws.rename("moved/y.txt", "../../escaped.txt").is_err());
        assert!(ws.make_dir("../outside").is_err());
        let outside = tempfile::tempdir().map_err(|e| SoulBoxError::io("tempdir", e))?;
        std::os::unix::fs::symlink(outside.path(), ws.host_path().join("link"))
            .map_err(|e| SoulBoxError::io("symlink", e))?;
        assert!(ws.make_dir("link/inside").is_err());
        assert!(ws.rename("moved/y.txt", "link/y.txt").is_err());
        let left =
            std::fs::read_dir(outside.path()).map_err(|e| SoulBoxError::io("read_dir", e))?;
        assert_eq!(left.count(), 0, "nothing was made through the link");
        Ok(())
    }

    #[test]
    fn symlink_out_of_workspace_is_not_followed() -> Result<()> {
        let ws = Workspace::temporary()?;
        std::os::unix::fs::symlink("/etc/passwd", ws.host_path().join("link"))
            .map_err(|e| SoulBoxError::io("symlink", e))?;
        assert!(ws.read_file("link").is_err());
        Ok(())
    }
}
