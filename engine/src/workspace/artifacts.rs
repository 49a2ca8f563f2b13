//! Finding what an execution produced: a snapshot of the workspace before the run, compared with
//! the workspace after it. Walks never follow symlinks and stop at fixed caps, so a guest that
//! writes a million files or a deep tree cannot stall the host.

use std::collections::HashMap;
use std::io::Read;
use std::time::SystemTime;

use cap_std::fs::Dir;

use crate::Artifact;

/// Most directory entries looked at in one walk.
const MAX_WALK_ENTRIES: usize = 20_000;
/// Deepest directory nesting followed.
const MAX_DEPTH: usize = 32;
/// Bytes read from the start of a file to sniff its type.
const SNIFF_BYTES: u64 = 8192;

/// One entry found by [`walk`].
pub(crate) struct WalkEntry {
    pub path: String,
    pub size: u64,
    pub is_dir: bool,
    pub modified: Option<SystemTime>,
}

/// Visits regular files and directories under `dir` (depth-first, symlinks skipped), at most
/// `limit` entries. `prefix` is prepended to reported paths.
pub(crate) fn walk(
    dir: &Dir,
    prefix: &str,
    limit: usize,
    visit: &mut dyn FnMut(&WalkEntry),
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
    visit: &mut dyn FnMut(&WalkEntry),
) -> std::io::Result<()> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    for entry in dir.entries()? {
        if *seen >= limit {
            return Ok(());
        }
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let file_type = entry.file_type()?;
        if file_type.is_symlink() {
            continue;
        }
        *seen += 1;
        let meta = entry.metadata()?;
        let info = WalkEntry {
            path: path.clone(),
            size: if file_type.is_dir() { 0 } else { meta.len() },
            is_dir: file_type.is_dir(),
            modified: meta.modified().ok().map(|t| t.into_std()),
        };
        visit(&info);
        if file_type.is_dir() {
            let sub = entry.open_dir()?;
            walk_inner(&sub, &path, depth + 1, limit, seen, visit)?;
        }
    }
    Ok(())
}

/// The workspace's regular files before a run: path -> (size, modification time).
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    files: HashMap<String, (u64, Option<SystemTime>)>,
}

impl Snapshot {
    pub(crate) fn take(dir: &Dir) -> std::io::Result<Self> {
        let mut files = HashMap::new();
        walk(dir, "", MAX_WALK_ENTRIES, &mut |e| {
            if !e.is_dir {
                files.insert(e.path.clone(), (e.size, e.modified));
            }
        })?;
        Ok(Self { files })
    }

    /// Files that are new or changed since the snapshot, at most `max_count`, with bytes attached
    /// while the running total stays within `max_bytes`.
    pub(crate) fn changes(
        &self,
        dir: &Dir,
        max_count: usize,
        max_bytes: u64,
    ) -> std::io::Result<Vec<Artifact>> {
        let mut changed = Vec::new();
        walk(dir, "", MAX_WALK_ENTRIES, &mut |e| {
            if e.is_dir {
                return;
            }
            let before = self.files.get(&e.path);
            if before != Some(&(e.size, e.modified)) {
                changed.push((e.path.clone(), e.size));
            }
        })?;
        changed.sort();
        changed.truncate(max_count);
        let mut attached = 0u64;
        let mut out = Vec::with_capacity(changed.len());
        for (path, size) in changed {
            let mime_type = sniff_mime(dir, &path);
            let data = if size > 0 && attached.saturating_add(size) <= max_bytes {
                attached += size;
                dir.read(&path).ok()
            } else {
                None
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

/// MIME type by content (magic numbers), then by extension, then text vs binary.
pub(crate) fn sniff_mime(dir: &Dir, path: &str) -> String {
    let mut head = Vec::new();
    if let Ok(file) = dir.open(path) {
        let _ = file.take(SNIFF_BYTES).read_to_end(&mut head);
    }
    if let Some(kind) = infer::get(&head) {
        return kind.mime_type().to_owned();
    }
    if let Some(guess) = mime_guess::from_path(path).first() {
        return guess.essence_str().to_owned();
    }
    match std::str::from_utf8(&head) {
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
