//! Compile once: compiled modules are kept in memory for the life of the [`Engine`](crate::Engine)
//! and on disk under `$SOULBOX_HOME/modules/`, keyed by the module's sha256, the wasmtime version
//! and a hash of the engine configuration (fuel and epoch instrumentation change the machine code,
//! so a `.cwasm` built under another configuration must never be loaded).
//!
//! Entries are plain `.cwasm` files that Wasmtime maps into memory (no copy), each with a
//! `.check` file holding its length and xxh3 hash; a truncated or corrupted entry is detected,
//! removed and rebuilt instead of being handed to the deserializer.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use soulbox_runtimes::Progress;
use tokio::sync::OnceCell;
use wasmtime::Module;

use crate::{Result, SoulBoxError};

/// In-memory entries kept before the oldest-inserted user modules are dropped.
const MAX_IN_MEMORY: usize = 128;

type Slot = Arc<OnceCell<Module>>;

/// Compiled-module cache (memory + disk).
pub(crate) struct ModuleCache {
    dir: Option<PathBuf>,
    config_hash: String,
    memory: Mutex<(HashMap<String, Slot>, Vec<String>)>,
}

impl ModuleCache {
    /// A cache writing under `dir` (disk caching is skipped, not fatal, if it cannot be created).
    pub(crate) fn new(engine: &wasmtime::Engine, dir: Option<PathBuf>) -> Self {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        // The compatibility hash covers the wasmtime version and every setting that changes code;
        // the memory-image setting shapes artifacts too but is not part of it.
        engine.precompile_compatibility_hash().hash(&mut hasher);
        (
            "memory_guaranteed_dense_image_size",
            crate::engine::DENSE_IMAGE_LIMIT,
        )
            .hash(&mut hasher);
        let config_hash = format!("{:016x}", hasher.finish());
        let dir = dir.filter(|d| std::fs::create_dir_all(d).is_ok());
        Self {
            dir,
            config_hash,
            memory: Mutex::new((HashMap::new(), Vec::new())),
        }
    }

    /// The hash of the engine's precompile compatibility (wasmtime version and code-changing
    /// settings) that keys this cache; snapshot files record it too.
    pub(crate) fn config_hash(&self) -> &str {
        &self.config_hash
    }

    /// The compiled module for `bytes` (binary wasm or WAT text), compiling at most once even when
    /// many sandboxes ask at the same time. Compilation runs on a blocking thread.
    pub(crate) async fn get(&self, engine: &wasmtime::Engine, bytes: Arc<[u8]>) -> Result<Module> {
        let digest = hex::encode(Sha256::digest(&bytes));
        self.get_pinned(engine, &digest, move || Ok(bytes), None)
            .await
    }

    /// Like [`get`](Self::get) for a module whose sha256 is already known (a pinned runtime): when
    /// the compiled module is cached, `load_source` is never called, so a large interpreter is
    /// neither read nor hashed on the hot path. `progress` reports a compilation when one is
    /// needed (it takes up to half a minute for the largest interpreters).
    pub(crate) async fn get_pinned(
        &self,
        engine: &wasmtime::Engine,
        sha256: &str,
        load_source: impl FnOnce() -> Result<Arc<[u8]>> + Send + 'static,
        progress: Option<(Progress, String)>,
    ) -> Result<Module> {
        let key = format!("{sha256}-{}", self.config_hash);
        let slot = self.slot(&key);
        let module = slot
            .get_or_try_init(|| {
                let engine = engine.clone();
                let path = self.dir.as_ref().map(|d| d.join(format!("{key}.cwasm")));
                async move {
                    tokio::task::spawn_blocking(move || {
                        load_or_compile(&engine, path.as_deref(), load_source, progress)
                    })
                    .await
                    .map_err(|e| SoulBoxError::Engine(format!("compile task failed: {e}")))?
                }
            })
            .await?;
        Ok(module.clone())
    }

    fn slot(&self, key: &str) -> Slot {
        let mut guard = match self.memory.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let (map, order) = &mut *guard;
        if let Some(slot) = map.get(key) {
            return slot.clone();
        }
        if order.len() >= MAX_IN_MEMORY {
            let oldest = order.remove(0);
            map.remove(&oldest);
        }
        let slot = Slot::default();
        map.insert(key.to_owned(), slot.clone());
        order.push(key.to_owned());
        slot
    }
}

fn load_or_compile(
    engine: &wasmtime::Engine,
    path: Option<&Path>,
    load_source: impl FnOnce() -> Result<Arc<[u8]>>,
    progress: Option<(Progress, String)>,
) -> Result<Module> {
    if let Some(path) = path
        && let Some(module) = load(engine, path)
    {
        return Ok(module);
    }
    // One compiler per entry across processes: whoever holds `<entry>.lock` compiles (minutes
    // for an interpreter or an image); the others wait, then load what it wrote. A lock that
    // cannot be taken only costs duplicate work.
    let _lock = path.and_then(|path| {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path.with_extension("lock"))
            .ok()?;
        if let Err(std::fs::TryLockError::WouldBlock) = file.try_lock() {
            let waiting = progress.as_ref().map(|(progress, label)| {
                progress.spinner(format!("{label}: another soulbox process is compiling it"))
            });
            file.lock().ok()?;
            if let Some(step) = waiting {
                step.finish("done there");
            }
        }
        Some(file)
    });
    if let Some(path) = path
        && let Some(module) = load(engine, path)
    {
        return Ok(module);
    }
    let step = progress.map(|(progress, label)| progress.spinner(label));
    let bytes = load_source()?;
    let module =
        Module::new(engine, &bytes).map_err(|e| SoulBoxError::InvalidModule(format!("{e:#}")))?;
    if let Some(path) = path
        && let Ok(serialized) = module.serialize()
    {
        // A cache that cannot be written only costs speed; never fail the run for it.
        let _ = store(path, &serialized);
    }
    if let Some(step) = step {
        step.finish("compiled (cached for next time)");
    }
    Ok(module)
}

/// Loads a cache entry if it is intact; removes it if it is not.
///
/// Intact means its length and xxh3 match the `.check` file written with it. Hashing a 400 MB
/// image costs a noticeable part of a new process's start, so after a full check passes, a
/// `.verified` stamp records the file's identity (device, inode, size, mtime and ctime, in ns);
/// while the file still has exactly that identity the hash is not recomputed. Any write to the
/// file changes its mtime/ctime; the stamp is only written for files last changed more than
/// [`STAMP_AGE`] ago, so a change within the filesystem's timestamp granularity cannot go
/// unnoticed.
fn load(engine: &wasmtime::Engine, path: &Path) -> Option<Module> {
    let check_path = path.with_extension("check");
    let stamp_path = path.with_extension("verified");
    let intact = std::fs::read_to_string(&check_path)
        .ok()
        .is_some_and(|expected| {
            let expected = expected.trim();
            let identity = file_identity(path);
            let stamp = identity.as_ref().map(|(id, _)| format!("{expected} {id}"));
            if stamp.is_some()
                && std::fs::read_to_string(&stamp_path).ok().as_deref() == stamp.as_deref()
            {
                return true;
            }
            let ok = file_check(path).ok().as_deref() == Some(expected);
            if ok
                && let (Some(stamp), Some((_, age))) = (stamp, identity)
                && age > STAMP_AGE
            {
                let _ = write_atomic(&stamp_path, stamp.as_bytes());
            }
            ok
        });
    let module = intact
        .then(|| {
            // SAFETY: the file was written by `store` from `Module::serialize` of this same
            // wasmtime version and engine configuration (both are part of the file name), entries
            // are only ever replaced by an atomic rename (never modified in place), and its length
            // and hash match what `store` recorded, so it is neither truncated nor corrupted.
            // Wasmtime additionally checks the artifact's header and compatibility before use.
            unsafe { Module::deserialize_file(engine, path) }.ok()
        })
        .flatten();
    if module.is_none() {
        let _ = std::fs::remove_file(path);
        let _ = std::fs::remove_file(&check_path);
        let _ = std::fs::remove_file(&stamp_path);
    }
    module
}

/// How long a file must have been left alone before its check is stamped.
const STAMP_AGE: std::time::Duration = std::time::Duration::from_secs(2);

/// `"<dev> <ino> <size> <mtime ns> <ctime ns>"` of a file, and the time since its last change
/// (the later of mtime and ctime), from one `stat`.
fn file_identity(path: &Path) -> Option<(String, std::time::Duration)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    let identity = format!(
        "{} {} {} {}.{:09} {}.{:09}",
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec()
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    let changed = u64::try_from(m.mtime().max(m.ctime())).ok()?;
    let age = std::time::Duration::from_secs(now.saturating_sub(changed));
    Some((identity, age))
}

/// `"<length> <xxh3 hex>"` of a file's bytes.
fn file_check(path: &Path) -> std::io::Result<String> {
    let file = std::fs::File::open(path)?;
    // SAFETY: cache files are only replaced by rename, never written in place, so the mapping
    // does not change under us; a concurrent rename leaves this mapping on the old inode.
    let map = unsafe { memmap2::Mmap::map(&file)? };
    Ok(body_check(&map))
}

fn body_check(body: &[u8]) -> String {
    format!("{} {:016x}", body.len(), xxhash_rust::xxh3::xxh3_64(body))
}

/// Writes `body` and its check file, each atomically (temp file + rename).
fn store(path: &Path, body: &[u8]) -> std::io::Result<()> {
    let _ = std::fs::remove_file(path.with_extension("verified"));
    write_atomic(path, body)?;
    write_atomic(&path.with_extension("check"), body_check(body).as_bytes())
}

fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(data)?;
    tmp.as_file().sync_data()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_notices_any_change() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("m.cwasm");
        store(&path, b"payload")?;
        let recorded = std::fs::read_to_string(path.with_extension("check"))?;
        assert_eq!(file_check(&path)?, recorded);
        std::fs::write(&path, b"paylOad")?;
        assert_ne!(file_check(&path)?, recorded);
        std::fs::write(&path, b"payloa")?;
        assert_ne!(file_check(&path)?, recorded);
        Ok(())
    }

    #[test]
    fn concurrent_misses_of_one_entry_compile_it_once() {
        let engine = wasmtime::Engine::default();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.cwasm");
        let compiles = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (engine, path, compiles) = (engine.clone(), path.clone(), compiles.clone());
                std::thread::spawn(move || {
                    load_or_compile(
                        &engine,
                        Some(&path),
                        || {
                            compiles.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            // Long enough for the others to find the entry missing.
                            std::thread::sleep(std::time::Duration::from_millis(200));
                            Ok(Arc::from(&b"(module (func (export \"f\")))"[..]))
                        },
                        None,
                    )
                    .map(drop)
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap().unwrap();
        }
        assert_eq!(compiles.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn stamped_entry_is_rehashed_once_it_changes() -> std::io::Result<()> {
        let engine = wasmtime::Engine::default();
        let module = Module::new(&engine, "(module (func (export \"f\")))").unwrap();
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("m.cwasm");
        store(&path, &module.serialize().unwrap())?;
        let stamp = path.with_extension("verified");

        // Fresh files are not stamped (a change within the timestamp granularity could hide).
        assert!(load(&engine, &path).is_some());
        assert!(!stamp.exists());

        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(&path)?
            .set_modified(old)?;
        // ctime moved with set_modified; wait it out so the file counts as settled.
        std::thread::sleep(STAMP_AGE + std::time::Duration::from_millis(1100));
        assert!(load(&engine, &path).is_some());
        assert!(stamp.exists(), "a settled, intact file is stamped");
        assert!(load(&engine, &path).is_some(), "the stamp is accepted");

        // Corrupt one byte in place, keeping the length: the identity changes, so the stamp no
        // longer vouches for it, the hash is recomputed and the entry is dropped.
        let mut bytes = std::fs::read(&path)?;
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, &bytes)?;
        assert!(load(&engine, &path).is_none());
        assert!(!path.exists() && !stamp.exists());
        Ok(())
    }
}
