//! Compile once: compiled modules are kept in memory for the life of the [`Engine`](crate::Engine)
//! and on disk under `$SOULBOX_HOME/modules/`, keyed by the module's sha256, the wasmtime version
//! and a hash of the engine configuration (fuel and epoch instrumentation change the machine code,
//! so a `.cwasm` built under another configuration must never be loaded).
//!
//! **Trust.** A cache entry is native code the engine maps executable, so it is only loaded once
//! it is shown to be one this install wrote. Each `<entry>.cwasm` has an `<entry>.check` holding
//! its length and an HMAC-SHA256 of the entry's name and bytes under a per-install secret,
//! `$SOULBOX_HOME/module-key` (32 random bytes, mode 0600, made atomically on first use; a key
//! file that is not a regular file owned by this user and closed to everyone else is refused
//! with [`SoulBoxError::Cache`] rather than trusted). Both files must be regular files owned by
//! this user, not writable by group or others, and are opened without following links or
//! blocking; the bytes checked are those of the very descriptor Wasmtime then maps. An entry
//! that fails (planted by another local user, altered in place, another install's valid entry,
//! one entry renamed to another's name) is deleted and compiled again, never loaded.
//!
//! Hashing a 400 MB image costs a noticeable part of a new process's start, so after a full
//! check passes on a file left alone for [`STAMP_AGE`], `<entry>.verified` records the file's
//! identity (device, inode, size, mtime and ctime, in ns) - itself authenticated with the same
//! key - and the hash is skipped while the identity holds (any write changes mtime/ctime).
//!
//! **Bound.** The directory is kept under [`EngineConfig::module_cache_bytes`]
//! (`crate::EngineConfig`) by deleting the least recently used entries after each new one (an
//! entry's use refreshes its `.check` file's mtime). Guest modules (`user-*`: raw wasm, WAT,
//! what Rust/C/C++ compiled to) go first; runtime modules and images only once no guest module
//! is left, and never one this process has loaded or written.

// Audited for the wall rule (scripts/wall-audited.txt): only $SOULBOX_HOME/modules (home owned and 0700; entries opened O_NOFOLLOW and authenticated).
#![allow(clippy::disallowed_methods)]

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use soulbox_runtimes::Progress;
use tokio::sync::OnceCell;
use wasmtime::Module;

use crate::{Result, SoulBoxError};

/// In-memory entries kept before the oldest-inserted user modules are dropped.
const MAX_IN_MEMORY: usize = 128;
/// The per-install secret that authenticates cache entries, in `$SOULBOX_HOME`.
const KEY_FILE: &str = "module-key";
const KEY_LEN: usize = 32;
/// Name prefix of guest-supplied modules (evicted before runtimes and images).
const USER_PREFIX: &str = "user-";
/// The entry format (what the `.check` holds), last in every entry's name: an install (or an
/// older build sharing the directory) that writes another format never mistakes this one's
/// entries for corrupt ones and rebuilds them, nor the other way round.
const ENTRY_FORMAT: &str = "mac1";
/// What the MAC of an entry and of a stamp start with, so one can never pass for the other.
const ENTRY_DOMAIN: &[u8] = b"soulbox module cache entry v1\0";
const STAMP_DOMAIN: &[u8] = b"soulbox module cache stamp v1\0";
/// How long a file must have been left alone before its check is stamped.
const STAMP_AGE: Duration = Duration::from_secs(2);
/// Largest `.check` or `.verified` file read.
const SIDECAR_MAX: u64 = 512;
/// Temporary files a crashed writer left behind are removed after this long.
const STALE_TEMP: Duration = Duration::from_secs(3600);

type Slot = Arc<OnceCell<Module>>;

/// Where entries live and what proves them.
#[derive(Clone)]
struct Disk {
    dir: PathBuf,
    key: [u8; KEY_LEN],
}

/// Compiled-module cache (memory + disk).
pub(crate) struct ModuleCache {
    disk: Option<Disk>,
    config_hash: String,
    max_bytes: u64,
    memory: Mutex<(HashMap<String, Slot>, Vec<String>)>,
    /// Entries this process loaded or wrote: never evicted by it.
    in_use: Arc<Mutex<HashSet<String>>>,
}

impl ModuleCache {
    /// A cache writing under `home/modules`, bounded to `max_bytes`. Disk caching is skipped, not
    /// fatal, if the directory or the key cannot be created; a key file that exists but cannot
    /// be trusted is an error.
    pub(crate) fn new(
        engine: &wasmtime::Engine,
        home: Option<&Path>,
        max_bytes: u64,
    ) -> Result<Self> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        // The compatibility hash covers the wasmtime version and every setting that changes code;
        // the memory-image setting shapes artifacts too but is not part of it.
        engine.precompile_compatibility_hash().hash(&mut hasher);
        (
            "memory_guaranteed_dense_image_size",
            super::config::DENSE_IMAGE_LIMIT,
        )
            .hash(&mut hasher);
        let config_hash = format!("{:016x}", hasher.finish());
        let disk = match home {
            Some(home) => open_disk(home)?,
            None => None,
        };
        Ok(Self {
            disk,
            config_hash,
            max_bytes,
            memory: Mutex::new((HashMap::new(), Vec::new())),
            in_use: Arc::default(),
        })
    }

    /// The hash of the engine's precompile compatibility (wasmtime version and code-changing
    /// settings) that keys this cache; snapshot files record it too.
    pub(crate) fn config_hash(&self) -> &str {
        &self.config_hash
    }

    /// The compiled module for a guest's binary module `bytes`, compiling at most once even when
    /// many sandboxes ask at the same time. Compilation runs on a blocking thread.
    pub(crate) async fn get(&self, engine: &wasmtime::Engine, bytes: Arc<[u8]>) -> Result<Module> {
        let digest = hex::encode(Sha256::digest(&bytes));
        self.load(
            engine,
            format!("{USER_PREFIX}{digest}-{}-{ENTRY_FORMAT}", self.config_hash),
            move || Ok(bytes),
            None,
        )
        .await
    }

    /// Like [`get`](Self::get) for a module whose sha256 is already known (a pinned runtime, an
    /// image): when the compiled module is cached, `load_source` is never called, so a large
    /// interpreter is neither read nor hashed on the hot path. `progress` reports a compilation
    /// when one is needed (it takes up to half a minute for the largest interpreters).
    pub(crate) async fn get_pinned(
        &self,
        engine: &wasmtime::Engine,
        sha256: &str,
        load_source: impl FnOnce() -> Result<Arc<[u8]>> + Send + 'static,
        progress: Option<(Progress, String)>,
    ) -> Result<Module> {
        let name = format!("{sha256}-{}-{ENTRY_FORMAT}", self.config_hash);
        self.load(engine, name, load_source, progress).await
    }

    async fn load(
        &self,
        engine: &wasmtime::Engine,
        name: String,
        load_source: impl FnOnce() -> Result<Arc<[u8]>> + Send + 'static,
        progress: Option<(Progress, String)>,
    ) -> Result<Module> {
        let slot = self.slot(&name);
        let module = slot
            .get_or_try_init(|| {
                let engine = engine.clone();
                let disk = self.disk.clone();
                let in_use = self.in_use.clone();
                let max_bytes = self.max_bytes;
                async move {
                    tokio::task::spawn_blocking(move || {
                        let entry = disk.as_ref().map(|disk| Entry::new(disk, &name));
                        if entry.is_some() {
                            lock(&in_use).insert(name.clone());
                        }
                        let (module, stored) =
                            load_or_compile(&engine, entry.as_ref(), load_source, progress)?;
                        if let (Some(disk), true) = (&disk, stored) {
                            trim(&disk.dir, max_bytes, &lock(&in_use));
                        }
                        Ok::<_, SoulBoxError>(module)
                    })
                    .await
                    .map_err(|e| SoulBoxError::Engine(format!("compile task failed: {e}")))?
                }
            })
            .await?;
        Ok(module.clone())
    }

    fn slot(&self, key: &str) -> Slot {
        let mut guard = lock(&self.memory);
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// The cache directory and its key, or `None` when the directory cannot be made or the key
/// cannot be created (caching then only costs speed). A key file that is there but untrusted is
/// an error: loading entries under it could run someone else's code, and compiling everything
/// again on every start would hide the problem.
fn open_disk(home: &Path) -> Result<Option<Disk>> {
    let dir = home.join("modules");
    if std::fs::create_dir_all(&dir).is_err() {
        return Ok(None);
    }
    match install_key(home) {
        Ok(key) => Ok(Some(Disk { dir, key })),
        Err(KeyError::Unavailable) => Ok(None),
        Err(KeyError::Untrusted(reason)) => Err(SoulBoxError::Cache {
            path: home.join(KEY_FILE),
            reason: format!(
                "{reason}; delete the file (a new key is made and cached modules are compiled \
                 again) after checking who could have written it"
            ),
        }),
    }
}

enum KeyError {
    /// No key and none can be made (read-only or foreign directory).
    Unavailable,
    /// A key file that must not be used, and why.
    Untrusted(String),
}

/// The install's key: read from `home/module-key`, or made there (atomically: written to a
/// private temporary file, then linked into place only if no other process got there first).
fn install_key(home: &Path) -> std::result::Result<[u8; KEY_LEN], KeyError> {
    let path = home.join(KEY_FILE);
    for _ in 0..2 {
        match read_key(&path) {
            Ok(key) => return Ok(key),
            Err(KeyRead::Missing) => {}
            Err(KeyRead::Bad(reason)) => return Err(KeyError::Untrusted(reason)),
        }
        let mut key = [0u8; KEY_LEN];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut random| random.read_exact(&mut key))
            .map_err(|_| KeyError::Unavailable)?;
        let made = tempfile::Builder::new()
            .prefix(".module-key")
            .tempfile_in(home)
            .and_then(|mut tmp| {
                tmp.write_all(&key)?;
                tmp.as_file().sync_all()?;
                Ok(tmp)
            })
            .map_err(|_| KeyError::Unavailable)?;
        match made.persist_noclobber(&path) {
            Ok(_) => return Ok(key),
            // Another process made it first: read theirs.
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(_) => return Err(KeyError::Unavailable),
        }
    }
    Err(KeyError::Unavailable)
}

enum KeyRead {
    Missing,
    Bad(String),
}

fn read_key(path: &Path) -> std::result::Result<[u8; KEY_LEN], KeyRead> {
    let mut file = match open_private(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(KeyRead::Missing),
        Err(e) => return Err(KeyRead::Bad(format!("it cannot be opened safely: {e}"))),
    };
    let meta = file
        .metadata()
        .map_err(|e| KeyRead::Bad(format!("it cannot be examined: {e}")))?;
    if !meta.is_file() {
        return Err(KeyRead::Bad("it is not a regular file".into()));
    }
    if meta.uid() != current_uid() {
        return Err(KeyRead::Bad(format!(
            "it is owned by uid {}, not by this user",
            meta.uid()
        )));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(KeyRead::Bad(format!(
            "others may read or write it (mode {:o}; it must be 600)",
            meta.mode() & 0o777
        )));
    }
    if meta.len() != KEY_LEN as u64 {
        return Err(KeyRead::Bad(format!(
            "it holds {} bytes, not {KEY_LEN}",
            meta.len()
        )));
    }
    let mut key = [0u8; KEY_LEN];
    file.read_exact(&mut key)
        .map_err(|e| KeyRead::Bad(format!("it cannot be read: {e}")))?;
    Ok(key)
}

fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Opens `path` for reading without following a final symlink or blocking (a FIFO planted in
/// its place cannot hang the engine).
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
}

/// Opens a cache file this user wrote: a regular file owned by this user that no one else may
/// write; `None` otherwise.
fn open_own(path: &Path) -> Option<(std::fs::File, std::fs::Metadata)> {
    let file = open_private(path).ok()?;
    let meta = file.metadata().ok()?;
    let own = meta.is_file() && meta.uid() == current_uid() && meta.mode() & 0o022 == 0;
    own.then_some((file, meta))
}

/// Reads a small sidecar file this user wrote.
fn read_sidecar(path: &Path) -> Option<String> {
    let (file, meta) = open_own(path)?;
    if meta.len() > SIDECAR_MAX {
        return None;
    }
    let mut text = String::new();
    file.take(SIDECAR_MAX).read_to_string(&mut text).ok()?;
    Some(text.trim().to_owned())
}

/// HMAC-SHA256 (RFC 2104) of the concatenated `parts` under `key`.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    for part in parts {
        inner.update(part);
    }
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// Equality that takes as long whatever the first differing byte.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// One entry's files and what authenticates them.
struct Entry {
    name: String,
    path: PathBuf,
    key: [u8; KEY_LEN],
}

impl Entry {
    fn new(disk: &Disk, name: &str) -> Self {
        Self {
            name: name.to_owned(),
            path: disk.dir.join(format!("{name}.cwasm")),
            key: disk.key,
        }
    }

    fn check_path(&self) -> PathBuf {
        self.path.with_extension("check")
    }

    fn stamp_path(&self) -> PathBuf {
        self.path.with_extension("verified")
    }

    /// `"<length> <HMAC hex>"` of an entry's bytes.
    fn check_of(&self, body: &[u8]) -> String {
        let mac = hmac_sha256(
            &self.key,
            &[ENTRY_DOMAIN, self.name.as_bytes(), b"\0", body],
        );
        format!("{} {}", body.len(), hex::encode(mac))
    }

    /// The stamp vouching that the file with `identity` matched `check`.
    fn stamp_of(&self, check: &str, identity: &str) -> String {
        let parts: [&[u8]; 6] = [
            STAMP_DOMAIN,
            self.name.as_bytes(),
            b"\0",
            check.as_bytes(),
            b"\0",
            identity.as_bytes(),
        ];
        hex::encode(hmac_sha256(&self.key, &parts))
    }

    /// Loads the entry if it is authentic; removes it if it is there but is not.
    fn load(&self, engine: &wasmtime::Engine) -> Option<Module> {
        let module = self.load_authentic(engine);
        if module.is_none() {
            let _ = std::fs::remove_file(&self.path);
            let _ = std::fs::remove_file(self.check_path());
            let _ = std::fs::remove_file(self.stamp_path());
        } else {
            touch(&self.check_path());
        }
        module
    }

    fn load_authentic(&self, engine: &wasmtime::Engine) -> Option<Module> {
        let expected = read_sidecar(&self.check_path())?;
        let (file, meta) = open_own(&self.path)?;
        let (identity, age) = file_identity(&meta);
        let stamp = self.stamp_of(&expected, &identity);
        let stamped = read_sidecar(&self.stamp_path()).is_some_and(|s| same(&s, &stamp));
        if !stamped {
            // SAFETY: the file is a regular file owned by this user and writable by no one else,
            // and entries are only ever replaced by rename, never written in place: the mapping
            // does not change while it is read.
            let map = unsafe { memmap2::Mmap::map(&file) }.ok()?;
            if !same(&self.check_of(&map), &expected) {
                return None;
            }
            if age > STAMP_AGE {
                let _ = write_atomic(&self.stamp_path(), stamp.as_bytes());
            }
        }
        // SAFETY: these are the bytes of this very descriptor, authenticated above (or by a
        // stamp made under the same key for this file's exact identity) as written by `store`
        // from `Module::serialize` of this wasmtime version and engine configuration (both in
        // the name, which the MAC covers); only this user can write the file and entries are
        // replaced by rename, never modified in place. Wasmtime also checks the header.
        unsafe { Module::deserialize_open_file(engine, file) }.ok()
    }

    /// Writes the entry and its check, each atomically (temp file + rename).
    fn store(&self, body: &[u8]) -> std::io::Result<()> {
        let _ = std::fs::remove_file(self.stamp_path());
        write_atomic(&self.path, body)?;
        write_atomic(&self.check_path(), self.check_of(body).as_bytes())
    }
}

/// The module for `entry` (loaded, or compiled from `load_source` and stored), and whether a new
/// entry was written.
fn load_or_compile(
    engine: &wasmtime::Engine,
    entry: Option<&Entry>,
    load_source: impl FnOnce() -> Result<Arc<[u8]>>,
    progress: Option<(Progress, String)>,
) -> Result<(Module, bool)> {
    if let Some(module) = entry.and_then(|e| e.load(engine)) {
        return Ok((module, false));
    }
    // One compiler per entry across processes: whoever holds `<entry>.lock` compiles (minutes
    // for an interpreter or an image); the others wait, then load what it wrote. A lock that
    // cannot be taken only costs duplicate work.
    let _lock = entry.and_then(|entry| {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(entry.path.with_extension("lock"))
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
    if let Some(module) = entry.and_then(|e| e.load(engine)) {
        return Ok((module, false));
    }
    let step = progress.map(|(progress, label)| progress.spinner(label));
    let bytes = load_source()?;
    let module =
        Module::new(engine, &bytes).map_err(|e| SoulBoxError::InvalidModule(format!("{e:#}")))?;
    // A cache that cannot be written only costs speed; never fail the run for it.
    let stored = entry.is_some_and(|entry| {
        module
            .serialize()
            .is_ok_and(|serialized| entry.store(&serialized).is_ok())
    });
    if let Some(step) = step {
        step.finish("compiled (cached for next time)");
    }
    Ok((module, stored))
}

/// `"<dev> <ino> <size> <mtime ns> <ctime ns>"` of a file, and the time since its last change
/// (the later of mtime and ctime).
fn file_identity(m: &std::fs::Metadata) -> (String, Duration) {
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
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let changed = u64::try_from(m.mtime().max(m.ctime())).unwrap_or(u64::MAX);
    (identity, Duration::from_secs(now.saturating_sub(changed)))
}

fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(data)?;
    tmp.as_file().sync_data()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Marks a use of the entry whose `.check` file is `path` (its mtime is the entry's recency).
fn touch(path: &Path) {
    if let Ok(file) = std::fs::File::options()
        .append(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    {
        let _ = file.set_modified(SystemTime::now());
    }
}

/// One entry's files on disk, for the size bound.
#[derive(Default)]
struct Stored {
    bytes: u64,
    used: Option<SystemTime>,
    has_body: bool,
}

/// Deletes least recently used entries of `dir` until its files take at most `max_bytes`:
/// guest modules first, then runtimes and images; never an entry named in `keep`.
fn trim(dir: &Path, max_bytes: u64, keep: &HashSet<String>) {
    let Ok(listing) = std::fs::read_dir(dir) else {
        return;
    };
    let mut total = 0u64;
    let mut entries: HashMap<String, Stored> = HashMap::new();
    for file in listing.flatten() {
        let Ok(meta) = file.metadata() else {
            continue;
        };
        total = total.saturating_add(meta.len());
        let name = file.file_name().to_string_lossy().into_owned();
        let modified = meta.modified().ok();
        if name.starts_with(".tmp")
            && modified
                .and_then(|m| m.elapsed().ok())
                .is_some_and(|age| age > STALE_TEMP)
            && std::fs::remove_file(file.path()).is_ok()
        {
            total = total.saturating_sub(meta.len());
            continue;
        }
        let Some((stem, ext)) = name.rsplit_once('.') else {
            continue;
        };
        if !matches!(ext, "cwasm" | "check" | "verified" | "lock") {
            continue;
        }
        let stored = entries.entry(stem.to_owned()).or_default();
        stored.bytes = stored.bytes.saturating_add(meta.len());
        match ext {
            "cwasm" => stored.has_body = true,
            "check" => stored.used = modified,
            _ => {}
        }
    }
    if total <= max_bytes {
        return;
    }
    let mut candidates: Vec<(bool, SystemTime, String, u64)> = entries
        .into_iter()
        .filter(|(stem, stored)| stored.has_body && !keep.contains(stem))
        .map(|(stem, stored)| {
            let pinned = !stem.starts_with(USER_PREFIX);
            let used = stored.used.unwrap_or(SystemTime::UNIX_EPOCH);
            (pinned, used, stem, stored.bytes)
        })
        .collect();
    candidates.sort();
    for (_, _, stem, bytes) in candidates {
        if total <= max_bytes {
            break;
        }
        for ext in ["cwasm", "check", "verified", "lock"] {
            let _ = std::fs::remove_file(dir.join(format!("{stem}.{ext}")));
        }
        total = total.saturating_sub(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAT: &[u8] = b"(module (func (export \"f\")))";

    fn disk(dir: &Path) -> Disk {
        Disk {
            dir: dir.to_owned(),
            key: [7; KEY_LEN],
        }
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2 of RFC 4231.
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn check_notices_any_change_and_binds_the_name() {
        let dir = tempfile::tempdir().unwrap();
        let d = disk(dir.path());
        let a = Entry::new(&d, "a");
        let recorded = a.check_of(b"payload");
        assert_ne!(a.check_of(b"paylOad"), recorded);
        assert_ne!(a.check_of(b"payloa"), recorded);
        assert_ne!(Entry::new(&d, "b").check_of(b"payload"), recorded);
        let other_key = Disk {
            key: [8; KEY_LEN],
            ..d.clone()
        };
        assert_ne!(Entry::new(&other_key, "a").check_of(b"payload"), recorded);
    }

    #[test]
    fn concurrent_misses_of_one_entry_compile_it_once() {
        let engine = wasmtime::Engine::default();
        let dir = tempfile::tempdir().unwrap();
        let d = disk(dir.path());
        let compiles = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (engine, d, compiles) = (engine.clone(), d.clone(), compiles.clone());
                std::thread::spawn(move || {
                    load_or_compile(
                        &engine,
                        Some(&Entry::new(&d, "m")),
                        || {
                            compiles.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            // Long enough for the others to find the entry missing.
                            std::thread::sleep(Duration::from_millis(200));
                            Ok(Arc::from(WAT))
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
        let module = Module::new(&engine, WAT).unwrap();
        let dir = tempfile::tempdir()?;
        let entry = Entry::new(&disk(dir.path()), "m");
        entry.store(&module.serialize().unwrap())?;
        let stamp = entry.stamp_path();

        // Fresh files are not stamped (a change within the timestamp granularity could hide).
        assert!(entry.load(&engine).is_some());
        assert!(!stamp.exists());

        let old = SystemTime::now() - Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(&entry.path)?
            .set_modified(old)?;
        // ctime moved with set_modified; wait it out so the file counts as settled.
        std::thread::sleep(STAMP_AGE + Duration::from_millis(1100));
        assert!(entry.load(&engine).is_some());
        assert!(stamp.exists(), "a settled, authentic file is stamped");
        assert!(entry.load(&engine).is_some(), "the stamp is accepted");

        // Corrupt one byte in place, keeping the length: the identity changes, so the stamp no
        // longer vouches for it, the MAC is recomputed and the entry is dropped.
        let mut bytes = std::fs::read(&entry.path)?;
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&entry.path, &bytes)?;
        assert!(entry.load(&engine).is_none());
        assert!(!entry.path.exists() && !stamp.exists());
        Ok(())
    }

    #[test]
    fn a_forged_stamp_does_not_vouch() -> std::io::Result<()> {
        let engine = wasmtime::Engine::default();
        let module = Module::new(&engine, WAT).unwrap();
        let dir = tempfile::tempdir()?;
        let entry = Entry::new(&disk(dir.path()), "m");
        entry.store(&module.serialize().unwrap())?;
        let mut bytes = std::fs::read(&entry.path)?;
        bytes[100] ^= 1;
        std::fs::write(&entry.path, &bytes)?;
        // Whatever a writer without the key puts in the stamp, the file is hashed.
        std::fs::write(entry.stamp_path(), "00".repeat(32))?;
        assert!(entry.load(&engine).is_none());
        Ok(())
    }

    #[test]
    fn the_key_is_made_once_private_and_refused_when_exposed() {
        use std::os::unix::fs::PermissionsExt;
        let home = tempfile::tempdir().unwrap();
        let key = install_key(home.path()).ok().unwrap();
        assert_eq!(install_key(home.path()).ok(), Some(key), "made once");
        let path = home.path().join(KEY_FILE);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let engine = wasmtime::Engine::default();
        let refused = ModuleCache::new(&engine, Some(home.path()), u64::MAX);
        let err = refused.err().unwrap().to_string();
        assert!(err.contains("mode 644") && err.contains("delete"), "{err}");
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
        assert!(matches!(
            install_key(home.path()),
            Err(KeyError::Untrusted(_))
        ));
    }

    #[test]
    fn the_bound_evicts_least_recently_used_guest_modules_first() {
        let dir = tempfile::tempdir().unwrap();
        let write = |stem: &str, bytes: usize, age_s: u64| {
            std::fs::write(dir.path().join(format!("{stem}.cwasm")), vec![0; bytes]).unwrap();
            let check = dir.path().join(format!("{stem}.check"));
            std::fs::write(&check, "x").unwrap();
            std::fs::File::options()
                .append(true)
                .open(&check)
                .unwrap()
                .set_modified(SystemTime::now() - Duration::from_secs(age_s))
                .unwrap();
        };
        write("image-old", 1000, 500);
        write("user-a", 1000, 300);
        write("user-b", 1000, 200);
        write("user-c", 1000, 100);
        let keep: HashSet<String> = ["user-a".to_owned()].into();
        trim(dir.path(), 3100, &keep);
        let left = |stem: &str| dir.path().join(format!("{stem}.cwasm")).exists();
        assert!(
            left("image-old"),
            "runtimes and images go after guest modules"
        );
        assert!(left("user-a"), "in use here");
        assert!(!left("user-b"), "least recently used guest module");
        assert!(left("user-c"));
        assert!(!dir.path().join("user-b.check").exists());
    }
}
