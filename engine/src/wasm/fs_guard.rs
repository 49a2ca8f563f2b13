//! What a guest may open and link inside its directories, beyond what WASI itself checks.
//!
//! WASI (cap-std underneath) confines every path to the guest's preopened directories, but two
//! things pass through it that must not:
//!
//! - **Files that block or are not files.** Opening a FIFO blocks until someone opens the other
//!   end; WASI does that open on a host thread that nothing can interrupt, so the guest's run
//!   ends at its deadline but the thread (and a CLI waiting for it) stays. A FIFO can be in a
//!   caller's `--workspace` or be left there by a native run. [`HostDirs::special_file`] stats the
//!   target first (through cap-std, relative to the same directory and with the same symlink
//!   rule as the open), and the open is refused with `ENOTSUP` unless it is a regular file or a
//!   directory (or does not exist yet). Only something outside the guest could swap the file
//!   between the stat and the open: the guest is single-threaded and waiting in this call.
//! - **Links that point out.** A symbolic link whose target is absolute, or climbs with `..`
//!   above the preopened directory it lives in, is harmless to the guest (WASI refuses to follow
//!   it) but a trap for the host user and for any later door that serves workspace files.
//!   [`HostDirs::link_allowed`] lets a target climb only with leading `..` components, at most
//!   as many as the link's directory is deep below its root (measured on the host: the real
//!   directory, walking `..` up to the root's device and inode, so symlinks on the way cannot
//!   fool it), followed by plain names. Under that rule every link stays inside the root however
//!   other links chain through it. The rule is kept when links move: renaming or hard-linking a
//!   symlink checks its target at the new place, and moving a directory to a shallower place
//!   checks every link inside it ([`HostDirs::rename_allowed`]). Refused: `EPERM`, nothing made.
//!
//! Both need the host directory behind a guest's directory descriptor, which WASI does not
//! expose: [`HostDirs`] keeps its own cap-std handle for each one - the preopens (opened from
//! the same host paths, in the same order, so at the same numbers) and every directory the guest
//! opens (mirrored after WASI opened it), following `fd_close` and `fd_renumber`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use cap_std::ambient_authority;
use cap_std::fs::{Dir, MetadataExt};

/// First descriptor number WASI gives a preopened directory (after stdin, stdout, stderr).
const FIRST_PREOPEN_FD: u32 = 3;
/// Deepest directory nesting measured; deeper is treated as unknown (links may not climb).
const MAX_DEPTH: usize = 4096;
/// Most entries looked at when a directory moves to a shallower place; more is refused.
const MAX_WALK: usize = 100_000;

/// A host directory behind a guest directory descriptor, and the root it lies under.
struct HostDir {
    dir: Dir,
    /// Device and inode of the preopened directory this one was reached from.
    root: (u64, u64),
}

/// The host directories behind a guest's directory descriptors.
#[derive(Default)]
pub(crate) struct HostDirs {
    by_fd: HashMap<u32, HostDir>,
}

/// What a guest's open would reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// A regular file, a directory, nothing yet, or something WASI will refuse anyway.
    Ordinary,
    /// A FIFO, socket or device: refused.
    Special,
    /// The directory descriptor is not one this guest has (or could not be mirrored).
    UnknownDir,
}

impl HostDirs {
    /// The mirrors of a guest's preopened directories, given in WASI's order.
    pub(crate) fn for_preopens<'a>(
        hosts: impl IntoIterator<Item = &'a Path>,
    ) -> std::io::Result<Self> {
        let mut by_fd = HashMap::new();
        for (fd, host) in (FIRST_PREOPEN_FD..).zip(hosts) {
            let dir = Dir::open_ambient_dir(host, ambient_authority())?;
            let root = identity(&dir)?;
            by_fd.insert(fd, HostDir { dir, root });
        }
        Ok(Self { by_fd })
    }

    /// What opening `path` under directory `fd` would reach (`follow`: the final component's
    /// symlink is followed, as WASI's `LOOKUP_SYMLINK_FOLLOW`).
    pub(crate) fn special_file(&self, fd: u32, path: &str, follow: bool) -> Target {
        let Some(parent) = self.by_fd.get(&fd) else {
            return Target::UnknownDir;
        };
        let meta = if follow {
            parent.dir.metadata(path)
        } else {
            parent.dir.symlink_metadata(path)
        };
        match meta {
            Ok(meta) => {
                let kind = meta.file_type();
                if kind.is_file() || kind.is_dir() || kind.is_symlink() {
                    Target::Ordinary
                } else {
                    Target::Special
                }
            }
            // Missing (it may be created) or unreachable: WASI decides, with the same view.
            Err(_) => Target::Ordinary,
        }
    }

    /// Records that the guest opened directory `path` under `parent` as descriptor `fd`.
    pub(crate) fn opened(&mut self, parent: u32, path: &str, fd: u32) {
        self.by_fd.remove(&fd);
        let Some(host) = self.by_fd.get(&parent) else {
            return;
        };
        if let Ok(dir) = host.dir.open_dir(path) {
            let root = host.root;
            self.by_fd.insert(fd, HostDir { dir, root });
        }
    }

    /// Records that the guest closed `fd`.
    pub(crate) fn closed(&mut self, fd: u32) {
        self.by_fd.remove(&fd);
    }

    /// Records that the guest renumbered `from` to `to` (closing what `to` was).
    pub(crate) fn renumbered(&mut self, from: u32, to: u32) {
        if from == to {
            return;
        }
        self.by_fd.remove(&to);
        if let Some(dir) = self.by_fd.remove(&from) {
            self.by_fd.insert(to, dir);
        }
    }

    /// Whether a symbolic link at `link` (under directory `fd`) may point at `target`.
    pub(crate) fn link_allowed(&self, fd: u32, link: &str, target: &str) -> bool {
        let Some(ups) = leading_ups(target) else {
            return false;
        };
        if ups == 0 {
            return true;
        }
        self.parent_depth(fd, link)
            .is_some_and(|depth| ups <= depth)
    }

    /// Whether renaming `from` (under `from_fd`) to `to` (under `to_fd`) keeps every symbolic
    /// link it moves inside its root.
    pub(crate) fn rename_allowed(&self, from_fd: u32, from: &str, to_fd: u32, to: &str) -> bool {
        let Some(source) = self.by_fd.get(&from_fd) else {
            return true; // WASI refuses an unknown descriptor itself.
        };
        let Ok(meta) = source.dir.symlink_metadata(from) else {
            return true; // Nothing there to move: WASI reports it.
        };
        if meta.file_type().is_symlink() {
            return match source.dir.read_link_contents(from) {
                Ok(target) => target
                    .to_str()
                    .is_some_and(|target| self.link_allowed(to_fd, to, target)),
                Err(_) => false,
            };
        }
        if !meta.is_dir() {
            return true;
        }
        let old = self.parent_depth(from_fd, from);
        let new = self.parent_depth(to_fd, to);
        if let (Some(old), Some(new)) = (old, new)
            && new >= old
        {
            return true; // Deeper or as deep: every link inside can still climb as far.
        }
        // Shallower (or unknown: assume the top): each link inside must fit its new depth.
        let Ok(moved) = source.dir.open_dir(from) else {
            return false;
        };
        let mut budget = MAX_WALK;
        links_fit(&moved, new.unwrap_or(0) + 1, &mut budget)
    }

    /// Whether hard-linking `from` (under `from_fd`, not following a final symlink unless
    /// `follow`) to `to` (under `to_fd`) keeps a linked symbolic link inside its root.
    pub(crate) fn hard_link_allowed(
        &self,
        from_fd: u32,
        from: &str,
        follow: bool,
        to_fd: u32,
        to: &str,
    ) -> bool {
        if follow {
            return true; // The link's target is linked, not the link.
        }
        let Some(source) = self.by_fd.get(&from_fd) else {
            return true;
        };
        match source.dir.symlink_metadata(from) {
            Ok(meta) if meta.file_type().is_symlink() => {
                match source.dir.read_link_contents(from) {
                    Ok(target) => target
                        .to_str()
                        .is_some_and(|target| self.link_allowed(to_fd, to, target)),
                    Err(_) => false,
                }
            }
            _ => true,
        }
    }

    /// How deep below its root the directory that would hold `path` (under `fd`) is.
    fn parent_depth(&self, fd: u32, path: &str) -> Option<usize> {
        let base = self.by_fd.get(&fd)?;
        let trimmed = path.trim_end_matches('/');
        let (parent, name) = trimmed.rsplit_once('/').unwrap_or(("", trimmed));
        if matches!(name, "" | "." | "..") {
            return None;
        }
        let dir = if parent.is_empty() {
            base.dir.try_clone().ok()?
        } else {
            base.dir.open_dir(parent).ok()?
        };
        depth_below(&dir, base.root)
    }
}

/// How many `..` a link target climbs before naming anything; `None` if it is absolute, empty
/// or climbs again after a name (which symlinks on the way could turn into an escape).
fn leading_ups(target: &str) -> Option<usize> {
    if target.is_empty() || target.starts_with('/') {
        return None;
    }
    let mut ups = 0;
    let mut named = false;
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." if named => return None,
            ".." => ups += 1,
            _ => named = true,
        }
    }
    Some(ups)
}

/// Whether every symbolic link under `dir` (itself `depth` below its root) fits the rule of
/// [`HostDirs::link_allowed`] there; false past `budget` entries. Iterative (a guest can nest
/// directories far deeper than a host call's stack could recurse), and a subdirectory is opened
/// only when its turn comes (a wide directory does not hold a descriptor per child).
fn links_fit(dir: &Dir, depth: usize, budget: &mut usize) -> bool {
    let Ok(top) = dir.try_clone() else {
        return false;
    };
    let mut pending: Vec<(Arc<Dir>, Option<std::ffi::OsString>, usize)> =
        vec![(Arc::new(top), None, depth)];
    while let Some((parent, name, depth)) = pending.pop() {
        let dir = match name {
            None => parent,
            Some(name) => match parent.open_dir(&name) {
                Ok(dir) => Arc::new(dir),
                Err(_) => return false,
            },
        };
        let Ok(entries) = dir.entries() else {
            return false;
        };
        for entry in entries {
            let Ok(entry) = entry else {
                return false;
            };
            if *budget == 0 {
                return false;
            }
            *budget -= 1;
            let Ok(kind) = entry.file_type() else {
                return false;
            };
            let name = entry.file_name();
            if kind.is_symlink() {
                let fits = dir
                    .read_link_contents(&name)
                    .ok()
                    .and_then(|t| t.to_str().and_then(leading_ups))
                    .is_some_and(|ups| ups <= depth);
                if !fits {
                    return false;
                }
            } else if kind.is_dir() {
                pending.push((dir.clone(), Some(name), depth + 1));
            }
        }
    }
    true
}

/// Device and inode of a directory.
fn identity(dir: &Dir) -> std::io::Result<(u64, u64)> {
    let meta = dir.dir_metadata()?;
    Ok((meta.dev(), meta.ino()))
}

/// How many `..` steps lead from `dir` up to the directory `root` (by device and inode);
/// `None` if the walk reaches the top of the filesystem first or goes deeper than
/// [`MAX_DEPTH`].
fn depth_below(dir: &Dir, root: (u64, u64)) -> Option<usize> {
    let mut current = dir.try_clone().ok()?;
    let mut here = identity(&current).ok()?;
    for depth in 0..MAX_DEPTH {
        if here == root {
            return Some(depth);
        }
        let parent = current.open_parent_dir(ambient_authority()).ok()?;
        let up = identity(&parent).ok()?;
        if up == here {
            return None;
        }
        (current, here) = (parent, up);
    }
    None
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests plant hostile files on the host on purpose
mod tests {
    use super::*;

    fn dirs(root: &Path) -> HostDirs {
        HostDirs::for_preopens([root]).unwrap()
    }

    #[test]
    fn targets_may_climb_only_up_front() {
        assert_eq!(leading_ups("a/b"), Some(0));
        assert_eq!(leading_ups("./../../x/./y"), Some(2));
        assert_eq!(leading_ups("a/../.."), None);
        assert_eq!(leading_ups("/etc/passwd"), None);
        assert_eq!(leading_ups(""), None);
    }

    #[test]
    fn a_link_may_climb_only_as_deep_as_it_is() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("a/b")).unwrap();
        // `a/up` leads back to the root: a deep-looking path through it is really shallow.
        std::os::unix::fs::symlink("..", root.path().join("a/up")).unwrap();
        let d = dirs(root.path());
        assert!(d.link_allowed(3, "l", "x"));
        assert!(!d.link_allowed(3, "l", "../x"));
        assert!(!d.link_allowed(3, "l", "/etc/passwd"));
        assert!(d.link_allowed(3, "a/b/l", "../../x"));
        assert!(!d.link_allowed(3, "a/b/l", "../../../etc/passwd"));
        assert!(!d.link_allowed(3, "a/up/a/up/a/l", "../../x"));
        assert!(d.link_allowed(4, "l", "x"), "a plain name is safe anywhere");
        assert!(
            !d.link_allowed(4, "l", "../x"),
            "unknown descriptor: no climbing"
        );
    }

    #[test]
    fn moving_a_directory_up_checks_the_links_inside() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("a/b/c")).unwrap();
        std::os::unix::fs::symlink("../../..", root.path().join("a/b/c/l")).unwrap();
        let d = dirs(root.path());
        assert!(d.rename_allowed(3, "a/b/c/l", 3, "a/b/c/m"));
        assert!(
            !d.rename_allowed(3, "a/b/c/l", 3, "l"),
            "the link itself moves up"
        );
        assert!(
            !d.rename_allowed(3, "a/b/c", 3, "c"),
            "its directory moves up"
        );
        assert!(d.rename_allowed(3, "a/b", 3, "a/b2"), "same depth");
        std::fs::create_dir_all(root.path().join("d/e")).unwrap();
        assert!(d.rename_allowed(3, "a", 3, "d/e/a"), "deeper");
        assert!(!d.hard_link_allowed(3, "a/b/c/l", false, 3, "l"));
        assert!(d.hard_link_allowed(3, "a/b/c/l", false, 3, "a/b/c/l2"));
    }

    #[test]
    fn special_files_are_told_apart() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("f"), "x").unwrap();
        let fifo =
            std::ffi::CString::new(root.path().join("p").as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo only creates a file.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        std::os::unix::fs::symlink("p", root.path().join("to-p")).unwrap();
        let d = dirs(root.path());
        assert_eq!(d.special_file(3, "f", true), Target::Ordinary);
        assert_eq!(d.special_file(3, "missing", true), Target::Ordinary);
        assert_eq!(d.special_file(3, "p", true), Target::Special);
        assert_eq!(d.special_file(3, "to-p", true), Target::Special);
        assert_eq!(d.special_file(3, "to-p", false), Target::Ordinary);
        assert_eq!(d.special_file(9, "p", true), Target::UnknownDir);
    }
}
