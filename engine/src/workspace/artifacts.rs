//! Finding what an execution produced: a snapshot of the workspace before the run, compared with
//! the workspace after it. Walks never follow symlinks and stop at fixed caps, so a guest that
//! writes a million files or a deep tree cannot stall the host; only regular files are read
//! (through [`guest_fs`], `O_NONBLOCK`, type checked on the open descriptor), so a FIFO or a
//! device left in the workspace is skipped, never opened.
//!
//! After a run, symbolic links the run made that lead outside the workspace (an absolute
//! target, or one whose resolution climbs above the workspace root) are removed: the host never
//! follows them, but a person or tool opening the workspace directory later would.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::Path;
use std::time::SystemTime;

use cap_std::fs::{Dir, MetadataExt};

use super::guest_fs;
use crate::Artifact;

/// Most directory entries looked at in one walk.
const MAX_WALK_ENTRIES: usize = 20_000;
/// Deepest directory nesting followed.
const MAX_DEPTH: usize = 32;
/// Bytes read from the start of a file to sniff its type.
const SNIFF_BYTES: u64 = 8192;

/// What a walked entry is. Anything else (FIFO, socket, device) is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryKind {
    File,
    Dir,
    Symlink,
}

impl EntryKind {
    /// `Some(is_dir)` for what a listing shows (files and directories, not links).
    pub(crate) fn listed(self) -> Option<bool> {
        match self {
            Self::File => Some(false),
            Self::Dir => Some(true),
            Self::Symlink => None,
        }
    }
}

/// One entry found by [`walk`].
pub(crate) struct WalkEntry<'a> {
    pub path: String,
    pub kind: EntryKind,
    pub size: u64,
    pub modified: Option<SystemTime>,
    /// Inode number (tells a replaced link from the one that was there).
    pub ino: u64,
    /// The directory holding the entry, and its name there.
    pub parent: &'a Dir,
    pub name: &'a OsStr,
}

/// Visits regular files, directories and symlinks under `dir` (depth-first; links are reported,
/// never followed; FIFOs, sockets and devices are skipped), at most `limit` entries looked at.
/// `prefix` is prepended to reported paths.
pub(crate) fn walk(
    dir: &Dir,
    prefix: &str,
    limit: usize,
    visit: &mut dyn FnMut(&WalkEntry<'_>),
) -> std::io::Result<()> {
    let mut seen = 0usize;
    walk_inner(
        dir,
        prefix,
        0,
        limit.min(MAX_WALK_ENTRIES),
        &mut seen,
        visit,
    )
}

fn walk_inner(
    dir: &Dir,
    prefix: &str,
    depth: usize,
    limit: usize,
    seen: &mut usize,
    visit: &mut dyn FnMut(&WalkEntry<'_>),
) -> std::io::Result<()> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    for entry in dir.entries()? {
        if *seen >= limit {
            return Ok(());
        }
        let entry = entry?;
        *seen += 1;
        let name = entry.file_name();
        let shown = name.to_string_lossy();
        let path = if prefix.is_empty() {
            shown.into_owned()
        } else {
            format!("{prefix}/{shown}")
        };
        let file_type = entry.file_type()?;
        let kind = if file_type.is_symlink() {
            EntryKind::Symlink
        } else if file_type.is_dir() {
            EntryKind::Dir
        } else if file_type.is_file() {
            EntryKind::File
        } else {
            continue;
        };
        // Of the entry itself (lstat): a link's own size and time.
        let meta = entry.metadata()?;
        let info = WalkEntry {
            path,
            kind,
            size: if kind == EntryKind::File {
                meta.len()
            } else {
                0
            },
            modified: meta.modified().ok().map(|t| t.into_std()),
            ino: meta.ino(),
            parent: dir,
            name: &name,
        };
        visit(&info);
        if kind == EntryKind::Dir {
            // A directory swapped for a link since it was listed is refused, not followed.
            let sub = guest_fs::open_subdir(dir, &name)?;
            walk_inner(&sub, &info.path, depth + 1, limit, seen, visit)?;
        }
    }
    Ok(())
}

/// The workspace before a run: regular files by path -> (size, modification time), and the
/// symbolic links there (path -> inode).
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    files: HashMap<String, (u64, Option<SystemTime>)>,
    links: HashMap<String, u64>,
}

impl Snapshot {
    pub(crate) fn take(dir: &Dir) -> std::io::Result<Self> {
        let mut files = HashMap::new();
        let mut links = HashMap::new();
        walk(dir, "", MAX_WALK_ENTRIES, &mut |e| match e.kind {
            EntryKind::File => {
                files.insert(e.path.clone(), (e.size, e.modified));
            }
            EntryKind::Symlink => {
                links.insert(e.path.clone(), e.ino);
            }
            EntryKind::Dir => {}
        })?;
        Ok(Self { files, links })
    }

    /// Files that are new or changed since the snapshot, at most `max_count`, with bytes attached
    /// while the running total stays within `max_bytes`. Symbolic links made since the snapshot
    /// that lead outside the workspace are removed on the way.
    pub(crate) fn changes(
        &self,
        dir: &Dir,
        max_count: usize,
        max_bytes: u64,
    ) -> std::io::Result<Vec<Artifact>> {
        let mut changed = Vec::new();
        let mut failed = None;
        walk(dir, "", MAX_WALK_ENTRIES, &mut |e| match e.kind {
            EntryKind::File => {
                let before = self.files.get(&e.path);
                if before != Some(&(e.size, e.modified)) {
                    changed.push((e.path.clone(), e.size));
                }
            }
            EntryKind::Symlink if self.links.get(&e.path) != Some(&e.ino) => {
                if let Err(err) = remove_if_escaping(dir, e) {
                    failed.get_or_insert(err);
                }
            }
            EntryKind::Symlink | EntryKind::Dir => {}
        })?;
        if let Some(err) = failed {
            return Err(err);
        }
        changed.sort();
        changed.truncate(max_count);
        let mut attached = 0u64;
        let mut out = Vec::with_capacity(changed.len());
        for (path, _) in changed {
            // Opened once: the type is checked on the descriptor, so a FIFO or a link put in the
            // file's place since the walk is neither waited on nor followed.
            let Ok(file) = guest_fs::open_regular(dir, Path::new(&path), u64::MAX) else {
                continue;
            };
            let size = file.len();
            let (mime_type, data) = if size > 0 && attached.saturating_add(size) <= max_bytes {
                match file.read_all(size) {
                    Ok(bytes) => {
                        attached += bytes.len() as u64;
                        let head = bytes.get(..SNIFF_BYTES as usize).unwrap_or(&bytes);
                        (sniff_mime(head, &path), Some(bytes))
                    }
                    // It grew since it was opened: no bytes, type by name.
                    Err(_) => (sniff_mime(&[], &path), None),
                }
            } else {
                let head = file.read_head(SNIFF_BYTES).unwrap_or_default();
                (sniff_mime(&head, &path), None)
            };
            out.push(Artifact {
                path,
                mime_type,
                size,
                data,
            });
        }
        Ok(out)
    }
}

/// Removes the link `entry` if it leads outside the workspace `root` (never following it). A
/// link already gone is fine; failing to remove one that escapes is an error.
fn remove_if_escaping(root: &Dir, entry: &WalkEntry<'_>) -> std::io::Result<()> {
    let checked = guest_fs::symlink_escapes(root, entry.parent, entry.name, Path::new(&entry.path))
        .and_then(|escapes| {
            if escapes {
                entry.parent.remove_file(entry.name)?;
            }
            Ok(())
        });
    match checked {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// MIME type by content (`head`, the file's first bytes: magic numbers), then by extension, then
/// text vs binary.
pub(crate) fn sniff_mime(head: &[u8], path: &str) -> String {
    if let Some(kind) = infer::get(head) {
        return kind.mime_type().to_owned();
    }
    if let Some(guess) = mime_guess::from_path(path).first() {
        return guess.essence_str().to_owned();
    }
    match std::str::from_utf8(head) {
        Ok(_) => "text/plain".to_owned(),
        // A multi-byte character cut by the sniff window is still text.
        Err(e) if e.error_len().is_none() => "text/plain".to_owned(),
        Err(_) => "application/octet-stream".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::Workspace;

    const PNG_HEADER: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    #[test]
    fn detects_new_and_changed_files_only() -> crate::Result<()> {
        let ws = Workspace::temporary()?;
        ws.write_file("keep.txt", b"same")?;
        ws.write_file("edit.txt", b"old")?;
        let snap = Snapshot::take(ws.dir()).map_err(|e| crate::SoulBoxError::io("snap", e))?;
        ws.write_file("edit.txt", b"newer content")?;
        ws.write_file("plot.bin", PNG_HEADER)?;
        ws.write_file("sub/data.csv", b"a,b\n1,2\n")?;
        let arts = snap
            .changes(ws.dir(), 10, 1 << 20)
            .map_err(|e| crate::SoulBoxError::io("changes", e))?;
        let paths: Vec<_> = arts.iter().map(|a| a.path.as_str()).collect();
        assert_eq!(paths, ["edit.txt", "plot.bin", "sub/data.csv"]);
        assert_eq!(arts[1].mime_type, "image/png");
        assert_eq!(arts[2].mime_type, "text/csv");
        assert_eq!(arts[0].data.as_deref(), Some(&b"newer content"[..]));
        Ok(())
    }

    #[test]
    fn caps_count_and_attached_bytes() -> crate::Result<()> {
        let ws = Workspace::temporary()?;
        let snap = Snapshot::take(ws.dir()).map_err(|e| crate::SoulBoxError::io("snap", e))?;
        for i in 0..20 {
            ws.write_file(&format!("f{i:02}.txt"), &[b'x'; 100])?;
        }
        let arts = snap
            .changes(ws.dir(), 5, 250)
            .map_err(|e| crate::SoulBoxError::io("changes", e))?;
        assert_eq!(arts.len(), 5);
        assert_eq!(arts.iter().filter(|a| a.data.is_some()).count(), 2);
        Ok(())
    }
}
