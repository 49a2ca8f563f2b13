//! Compile once: compiled modules are kept in memory for the life of the [`Engine`](crate::Engine)
//! and on disk under `$SOULBOX_HOME/modules/`, keyed by the module's sha256, the wasmtime version
//! and a hash of the engine configuration (fuel and epoch instrumentation change the machine code,
//! so a `.cwasm` built under another configuration must never be loaded).
//!
//! Each cache file carries a checksum of its body; a truncated or corrupted entry is detected,
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

const MAGIC: &[u8] = b"SOULBOX-CWASM-1\n";
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
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let config_hash = format!("{:016x}", hasher.finish());
        // The compatibility hash covers the wasmtime version and every setting that changes code.
        let dir = dir.filter(|d| std::fs::create_dir_all(d).is_ok());
        Self {
            dir,
            config_hash,
            memory: Mutex::new((HashMap::new(), Vec::new())),
        }
    }

    /// The compiled module for `bytes` (binary wasm or WAT text), compiling at most once even when
    /// many sandboxes ask at the same time. Compilation runs on a blocking thread.
    pub(crate) async fn get(&self, engine: &wasmtime::Engine, bytes: Arc<[u8]>) -> Result<Module> {
        let key = format!(
            "{}-{}",
            hex::encode(Sha256::digest(&bytes)),
            self.config_hash
        );
        let slot = self.slot(&key);
        let module = slot
            .get_or_try_init(|| {
                let engine = engine.clone();
                let path = self.dir.as_ref().map(|d| d.join(format!("{key}.cwasm")));
                async move {
                    tokio::task::spawn_blocking(move || {
                        load_or_compile(&engine, path.as_deref(), &bytes)
                    })
                    .await
                    .map_err(|e| SoulBoxError::Engine(format!("compile task failed: {e}")))?
                }
            })
            .await?;
        Ok(module.clone())
    }

    /// The compiled module of a file whose sha256 is already known (a verified runtime), so
    /// neither hashing nor reading the file is needed when a compiled copy exists. `progress`
    /// reports the compilation when one is needed (it takes up to half a minute for the largest
    /// interpreters).
    pub(crate) async fn get_pinned(
        &self,
        engine: &wasmtime::Engine,
        sha256: &str,
        path: PathBuf,
        progress: Option<(Progress, String)>,
    ) -> Result<Module> {
        let key = format!("{sha256}-{}", self.config_hash);
        let slot = self.slot(&key);
        let module = slot
            .get_or_try_init(|| {
                let engine = engine.clone();
                let cached = self.dir.as_ref().map(|d| d.join(format!("{key}.cwasm")));
                async move {
                    tokio::task::spawn_blocking(move || {
                        if let Some(cached) = cached.as_deref()
                            && let Some(module) = load(&engine, cached)
                        {
                            return Ok::<_, SoulBoxError>(module);
                        }
                        let step = progress.map(|(progress, label)| progress.spinner(label));
                        let bytes = std::fs::read(&path).map_err(|e| {
                            SoulBoxError::io(format!("reading {}", path.display()), e)
                        })?;
                        let module = load_or_compile(&engine, cached.as_deref(), &bytes)?;
                        if let Some(step) = step {
                            step.finish("compiled (cached for next time)");
                        }
                        Ok(module)
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

fn load_or_compile(engine: &wasmtime::Engine, path: Option<&Path>, bytes: &[u8]) -> Result<Module> {
    if let Some(path) = path
        && let Some(module) = load(engine, path)
    {
        return Ok(module);
    }
    let module =
        Module::new(engine, bytes).map_err(|e| SoulBoxError::InvalidModule(format!("{e:#}")))?;
    if let Some(path) = path
        && let Ok(serialized) = module.serialize()
    {
        // A cache that cannot be written only costs speed; never fail the run for it.
        let _ = store(path, &serialized);
    }
    Ok(module)
}

/// Loads a cache entry if it is intact; removes it if it is not.
fn load(engine: &wasmtime::Engine, path: &Path) -> Option<Module> {
    let data = std::fs::read(path).ok()?;
    let body = verified_body(&data);
    let module = body.and_then(|body| {
        // SAFETY: `body` was written by `store` below from `Module::serialize` of this same
        // wasmtime version and engine configuration (both are part of the file name), and its
        // sha256 matched, so it is not a truncated or tampered-with file. Wasmtime additionally
        // checks the header and compatibility of the artifact before using it.
        unsafe { Module::deserialize(engine, body) }.ok()
    });
    if module.is_none() {
        let _ = std::fs::remove_file(path);
    }
    module
}

fn verified_body(data: &[u8]) -> Option<&[u8]> {
    let rest = data.strip_prefix(MAGIC)?;
    let (digest, body) = rest.split_at_checked(65)?;
    let expected = std::str::from_utf8(digest.get(..64)?).ok()?;
    (digest.get(64) == Some(&b'\n') && hex::encode(Sha256::digest(body)) == expected)
        .then_some(body)
}

fn store(path: &Path, body: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(MAGIC)?;
    tmp.write_all(hex::encode(Sha256::digest(body)).as_bytes())?;
    tmp.write_all(b"\n")?;
    tmp.write_all(body)?;
    tmp.as_file().sync_data()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_entries_are_rejected() {
        let body = b"payload";
        let mut file = MAGIC.to_vec();
        file.extend_from_slice(hex::encode(Sha256::digest(body)).as_bytes());
        file.push(b'\n');
        file.extend_from_slice(body);
        assert_eq!(verified_body(&file), Some(&body[..]));
        let mut flipped = file.clone();
        if let Some(last) = flipped.last_mut() {
            *last ^= 1;
        }
        assert_eq!(verified_body(&flipped), None);
        assert_eq!(verified_body(&file[..file.len() - 1]), None);
        assert_eq!(verified_body(b"garbage"), None);
    }
}
