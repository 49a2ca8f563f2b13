//! The compile cache: `$SOULBOX_HOME/compile-cache/<key>.wasm` (a module) or `<key>.diag` (the
//! diagnostics of a source that does not compile). The key hashes the source, language, file
//! name, toolchain versions, flags and crate set, so a change to any of them is a miss. Entries
//! are written atomically and survive restarts; the directory is kept under a size bound by
//! removing the least recently used entries.

// Audited for the wall rule (scripts/wall-audited.txt): only $SOULBOX_HOME/compile-cache (home owned and 0700).
#![allow(clippy::disallowed_methods)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// A cached compile result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cached {
    /// The module.
    Module(Vec<u8>),
    /// The compiler's diagnostics for a source that does not compile.
    Diagnostics(String),
}

/// Default bound on the cache directory.
pub(crate) const DEFAULT_MAX_BYTES: u64 = 512 * 1024 * 1024;

/// The on-disk compile cache. Never fatal: an unusable directory only costs speed.
#[derive(Debug, Clone)]
pub(crate) struct CompileCache {
    dir: PathBuf,
    max_bytes: u64,
}

impl CompileCache {
    pub(crate) fn new(dir: PathBuf, max_bytes: u64) -> Self {
        Self { dir, max_bytes }
    }

    fn path(&self, key: &str, ext: &str) -> PathBuf {
        self.dir.join(format!("{key}.{ext}"))
    }

    /// The entry for `key`, refreshing its age for the size bound.
    pub(crate) fn get(&self, key: &str) -> Option<Cached> {
        let wasm = self.path(key, "wasm");
        if let Ok(bytes) = std::fs::read(&wasm) {
            if bytes.starts_with(b"\0asm") {
                touch(&wasm);
                return Some(Cached::Module(bytes));
            }
            let _ = std::fs::remove_file(&wasm);
        }
        let diag = self.path(key, "diag");
        let text = std::fs::read_to_string(&diag).ok()?;
        touch(&diag);
        Some(Cached::Diagnostics(text))
    }

    /// Stores an entry, then trims the directory to its bound.
    pub(crate) fn put(&self, key: &str, entry: &Cached) {
        if std::fs::create_dir_all(&self.dir).is_err() {
            return;
        }
        let (path, bytes) = match entry {
            Cached::Module(m) => (self.path(key, "wasm"), m.as_slice()),
            Cached::Diagnostics(d) => (self.path(key, "diag"), d.as_bytes()),
        };
        let written = tempfile::NamedTempFile::new_in(&self.dir).and_then(|mut tmp| {
            tmp.write_all(bytes)?;
            tmp.persist(&path).map_err(|e| e.error)?;
            Ok(())
        });
        if written.is_ok() {
            self.trim();
        }
    }

    /// Removes the least recently used entries until the directory is within its bound.
    fn trim(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut files: Vec<(SystemTime, u64, PathBuf)> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let meta = e.metadata().ok()?;
                meta.is_file().then(|| {
                    (
                        meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                        meta.len(),
                        e.path(),
                    )
                })
            })
            .collect();
        let mut total: u64 = files.iter().map(|f| f.1).sum();
        if total <= self.max_bytes {
            return;
        }
        files.sort();
        for (_, size, path) in files {
            if total <= self.max_bytes {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                total = total.saturating_sub(size);
            }
        }
    }
}

fn touch(path: &Path) {
    if let Ok(file) = std::fs::File::options().append(true).open(path) {
        let _ = file.set_modified(SystemTime::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_the_bound_evicts_the_oldest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = CompileCache::new(dir.path().join("c"), 10);
        assert_eq!(cache.get("a"), None);
        let module = Cached::Module(b"\0asm\x01\0\0\0".to_vec());
        cache.put("a", &module);
        assert_eq!(cache.get("a"), Some(module.clone()));
        let old = SystemTime::now() - std::time::Duration::from_secs(60);
        if let Ok(f) = std::fs::File::options()
            .append(true)
            .open(dir.path().join("c/a.wasm"))
        {
            f.set_modified(old).expect("age the entry");
        }
        cache.put("b", &Cached::Diagnostics("error: x".into()));
        assert_eq!(cache.get("a"), None, "oldest entry evicted past the bound");
        assert_eq!(cache.get("b"), Some(Cached::Diagnostics("error: x".into())));
    }
}
