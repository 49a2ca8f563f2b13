//! Private host directories of runs and sessions (Python's writable root, Ruby's code
//! directory), recycled.
//!
//! Making and deleting a directory tree is cheap on most filesystems but not on all: on ext4 with
//! online discard, deleting Python's five-directory root took 27 ms here, more than the whole
//! run. So a [`Scratch`] is taken from a small pool of ready directories and, when its run ends,
//! handed to a janitor thread that empties it back to its bare layout (everything the guest made
//! is removed; nothing is ever followed through a symlink) and returns it to the pool. Neither
//! making nor cleaning is on a run's path unless the pool is empty.
//!
//! Pooled directories are deleted when the process exits (an `atexit` handler), so short-lived
//! processes leave nothing behind.

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc::{Sender, channel};
use std::sync::{Mutex, MutexGuard, Once, OnceLock};

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use tempfile::TempDir;

/// Ready directories kept per layout.
const MAX_POOLED: usize = 32;

/// The bare shape of a kind of private directory.
#[derive(Debug)]
pub(crate) struct Layout {
    /// Name prefix of the temporary directory.
    pub prefix: &'static str,
    /// Directories that must exist in it (relative, `/`-separated).
    pub dirs: &'static [&'static str],
}

/// A private directory of one run or session.
#[derive(Debug)]
pub struct Scratch {
    dir: Option<TempDir>,
    layout: &'static Layout,
}

impl Scratch {
    /// A clean directory in `layout`: from the pool when one is ready, else made now.
    pub(crate) fn take(layout: &'static Layout) -> std::io::Result<Scratch> {
        let ready = pools().get_mut(layout.prefix).and_then(Vec::pop);
        let dir = match ready {
            Some(dir) => dir,
            None => {
                let dir = tempfile::Builder::new().prefix(layout.prefix).tempdir()?;
                let root = Dir::open_ambient_dir(dir.path(), ambient_authority())?;
                for sub in layout.dirs {
                    root.create_dir_all(sub)?;
                }
                dir
            }
        };
        Ok(Scratch {
            dir: Some(dir),
            layout,
        })
    }

    /// Its path on the host.
    pub fn path(&self) -> &Path {
        self.dir.as_ref().map_or(Path::new(""), TempDir::path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            match janitor() {
                // If the janitor is gone the directory comes back in the message and is deleted
                // right here.
                Some(janitor) => {
                    let _ = janitor.send((dir, self.layout));
                }
                None => drop(dir),
            }
        }
    }
}

type Pools = HashMap<&'static str, Vec<TempDir>>;

fn pools() -> MutexGuard<'static, Pools> {
    static POOLS: OnceLock<Mutex<Pools>> = OnceLock::new();
    let pools = POOLS.get_or_init(|| {
        static AT_EXIT: Once = Once::new();
        AT_EXIT.call_once(|| {
            // SAFETY: `delete_pooled` is an `extern "C"` function without arguments that never
            // unwinds (it only locks a mutex and drops directories); registering it has no other
            // precondition.
            unsafe {
                libc::atexit(delete_pooled);
            }
        });
        Mutex::new(HashMap::new())
    });
    match pools.lock() {
        Ok(p) => p,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Deletes every pooled directory (at process exit).
extern "C" fn delete_pooled() {
    let taken: Vec<TempDir> = pools().drain().flat_map(|(_, dirs)| dirs).collect();
    drop(taken);
}

type Job = (TempDir, &'static Layout);

/// The thread that empties used directories and returns them to the pool.
fn janitor() -> Option<Sender<Job>> {
    static JANITOR: OnceLock<Option<Mutex<Sender<Job>>>> = OnceLock::new();
    let sender = JANITOR.get_or_init(|| {
        let (tx, rx) = channel::<Job>();
        std::thread::Builder::new()
            .name("soulbox-scratch".into())
            .spawn(move || {
                for (dir, layout) in rx {
                    if reset(dir.path(), layout).is_ok() {
                        let mut pools = pools();
                        let pool = pools.entry(layout.prefix).or_default();
                        if pool.len() < MAX_POOLED {
                            pool.push(dir);
                            continue;
                        }
                    }
                    drop(dir);
                }
            })
            .ok()
            .map(|_| Mutex::new(tx))
    });
    let sender = sender.as_ref()?;
    let guard = match sender.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    Some(guard.clone())
}

/// Empties `path` back to `layout`: removes every entry that is not one of the layout's
/// directories (symlinks are removed, never followed), then makes sure each layout directory
/// exists.
fn reset(path: &Path, layout: &Layout) -> std::io::Result<()> {
    let root = Dir::open_ambient_dir(path, ambient_authority())?;
    empty_except(&root, "", layout)?;
    for sub in layout.dirs {
        root.create_dir_all(sub)?;
    }
    Ok(())
}

/// Whether `rel` is a layout directory or one of their ancestors.
fn kept(layout: &Layout, rel: &str) -> bool {
    layout.dirs.iter().any(|d| {
        d.strip_prefix(rel)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

fn empty_except(dir: &Dir, rel: &str, layout: &Layout) -> std::io::Result<()> {
    for entry in dir.entries()? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(text) = name.to_str() else {
            remove_entry(dir, &entry)?;
            continue;
        };
        let child = if rel.is_empty() {
            text.to_owned()
        } else {
            format!("{rel}/{text}")
        };
        // `file_type` of a directory entry describes the entry itself (a symlink is a symlink).
        if entry.file_type()?.is_dir() && kept(layout, &child) {
            // The guest no longer runs, and cap-std refuses a symlink that leads out anyway.
            let sub = dir.open_dir(&name)?;
            empty_except(&sub, &child, layout)?;
        } else {
            remove_entry(dir, &entry)?;
        }
    }
    Ok(())
}

fn remove_entry(dir: &Dir, entry: &cap_std::fs::DirEntry) -> std::io::Result<()> {
    let name = entry.file_name();
    if entry.file_type()?.is_dir() {
        dir.remove_dir_all(&name)
    } else {
        dir.remove_file(&name)
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests plant hostile files on the host on purpose
mod tests {
    use super::*;

    static LAYOUT: Layout = Layout {
        prefix: "soulbox-scratch-test-",
        dirs: &["tmp/matplotlib", "home"],
    };

    #[test]
    fn kept_covers_layout_dirs_and_their_ancestors_only() {
        assert!(kept(&LAYOUT, "tmp"));
        assert!(kept(&LAYOUT, "tmp/matplotlib"));
        assert!(kept(&LAYOUT, "home"));
        assert!(!kept(&LAYOUT, "tm"));
        assert!(!kept(&LAYOUT, "tmp/matplotlibx"));
        assert!(!kept(&LAYOUT, "tmp/other"));
        assert!(!kept(&LAYOUT, "homework"));
    }

    #[test]
    fn reset_removes_what_the_guest_made_and_follows_no_symlink() -> std::io::Result<()> {
        let outside = tempfile::tempdir()?;
        std::fs::write(outside.path().join("precious"), "keep me")?;
        let scratch = Scratch::take(&LAYOUT)?;
        let root = scratch.path().to_path_buf();
        assert!(root.join("tmp/matplotlib").is_dir() && root.join("home").is_dir());
        std::fs::write(root.join("tmp/matplotlib/cache.json"), "{}")?;
        std::fs::create_dir_all(root.join("home/a/b"))?;
        std::fs::write(root.join("home/a/b/c"), "x")?;
        std::fs::write(root.join("top"), "x")?;
        std::os::unix::fs::symlink(outside.path(), root.join("tmp/link"))?;
        // The guest replaced a layout directory with a symlink to the outside.
        std::fs::remove_dir_all(root.join("home"))?;
        std::os::unix::fs::symlink(outside.path(), root.join("home"))?;

        reset(&root, &LAYOUT)?;
        let mut left: Vec<String> = walkdir(&root);
        left.sort();
        assert_eq!(left, ["home", "tmp", "tmp/matplotlib"]);
        assert!(std::fs::symlink_metadata(root.join("home"))?.is_dir());
        assert_eq!(
            std::fs::read_to_string(outside.path().join("precious"))?,
            "keep me"
        );
        Ok(())
    }

    fn walkdir(root: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap() {
                let e = e.unwrap();
                let rel = e.path().strip_prefix(root).unwrap().display().to_string();
                if e.file_type().unwrap().is_dir() {
                    stack.push(e.path());
                }
                out.push(rel);
            }
        }
        out
    }
}
