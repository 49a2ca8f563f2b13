//! The shared, expensive part: the Wasmtime engine, the module cache, the WASI linker and the
//! epoch ticker that enforces wall-clock deadlines. One per process is typical; cheap to clone.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::runtime::RuntimeSet;
use crate::wasm::{GuestState, ModuleCache};
use crate::{Result, Sandbox, SandboxConfig, SoulBoxError};

/// How often the epoch advances. Deadlines, output-limit and terminate requests take effect within
/// one tick; a running guest also yields to the async executor once per tick.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Settings of an [`Engine`].
#[derive(Debug, Clone, Default)]
pub struct EngineConfig {
    /// Cache directory (compiled modules, runtimes). Default: `$SOULBOX_HOME`, else
    /// `$XDG_CACHE_HOME/soulbox`, else `~/.cache/soulbox`.
    pub home: Option<PathBuf>,
    /// Never fetch a missing language runtime (a run that needs one fails with a message saying
    /// how to install it). Also on when the environment has `SOULBOX_OFFLINE=1`.
    pub offline: bool,
    /// Report runtime downloads and compilations nowhere instead of on stderr.
    pub quiet: bool,
}

impl EngineConfig {
    /// Uses `dir` as the cache directory.
    pub fn with_home(mut self, dir: impl Into<PathBuf>) -> Self {
        self.home = Some(dir.into());
        self
    }

    /// Sets [`offline`](Self::offline).
    pub fn with_offline(mut self, offline: bool) -> Self {
        self.offline = offline;
        self
    }

    /// Sets [`quiet`](Self::quiet).
    pub fn with_quiet(mut self, quiet: bool) -> Self {
        self.quiet = quiet;
        self
    }
}

/// The directory SoulBox keeps its caches in, as resolved from the environment.
pub fn default_home() -> PathBuf {
    if let Some(home) = std::env::var_os("SOULBOX_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home);
    }
    if let Some(cache) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(cache).join("soulbox");
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(home) => PathBuf::from(home).join(".cache").join("soulbox"),
        None => std::env::temp_dir().join("soulbox"),
    }
}

/// The shared engine. Create sandboxes with [`Engine::sandbox`].
///
/// ```no_run
/// # async fn demo() -> soulbox::Result<()> {
/// let engine = soulbox::Engine::new(soulbox::EngineConfig::default())?;
/// let sandbox = engine.sandbox(soulbox::SandboxConfig::default()).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

pub(crate) struct EngineInner {
    pub(crate) wasm: wasmtime::Engine,
    pub(crate) linker: wasmtime::Linker<GuestState>,
    pub(crate) modules: ModuleCache,
    pub(crate) runtimes: RuntimeSet,
    pub(crate) offline: bool,
    pub(crate) quiet: bool,
    home: PathBuf,
    ticker_stop: Arc<AtomicBool>,
}

impl Drop for EngineInner {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("home", &self.inner.home)
            .finish_non_exhaustive()
    }
}

static SHARED: Mutex<Option<Engine>> = Mutex::new(None);

impl Engine {
    /// Builds an engine: configures Wasmtime (fuel, epochs, stack sizes), the WASI linker, the
    /// module cache and the epoch ticker thread.
    pub fn new(config: EngineConfig) -> Result<Self> {
        let home = config.home.clone().unwrap_or_else(default_home);
        let mut wasm_config = wasmtime::Config::new();
        wasm_config
            .epoch_interruption(true)
            .consume_fuel(true)
            .wasm_exceptions(true)
            .max_wasm_stack(2 << 20)
            .async_stack_size(4 << 20);
        let wasm = wasmtime::Engine::new(&wasm_config)
            .map_err(|e| SoulBoxError::Engine(format!("configuring wasmtime: {e:#}")))?;
        let linker = crate::wasm::linker(&wasm)?;
        let modules = ModuleCache::new(&wasm, Some(home.join("modules")));
        let ticker_stop = Arc::new(AtomicBool::new(false));
        spawn_ticker(wasm.clone(), ticker_stop.clone())?;
        Ok(Self {
            inner: Arc::new(EngineInner {
                wasm,
                linker,
                modules,
                runtimes: RuntimeSet::default(),
                offline: config.offline
                    || std::env::var("SOULBOX_OFFLINE").is_ok_and(|v| v == "1" || v == "true"),
                quiet: config.quiet,
                home,
                ticker_stop,
            }),
        })
    }

    /// The process-wide engine used by [`Sandbox::create`], built on first use with the default
    /// [`EngineConfig`].
    pub fn shared() -> Result<Self> {
        let mut slot = match SHARED.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(engine) = slot.as_ref() {
            return Ok(engine.clone());
        }
        let engine = Engine::new(EngineConfig::default())?;
        *slot = Some(engine.clone());
        Ok(engine)
    }

    /// Creates a sandbox with its own workspace and limits.
    pub async fn sandbox(&self, config: SandboxConfig) -> Result<Sandbox> {
        Sandbox::with_engine(self.clone(), config)
    }

    /// The cache directory in use.
    pub fn home(&self) -> &Path {
        &self.inner.home
    }

    pub(crate) fn inner(&self) -> &EngineInner {
        &self.inner
    }
}

fn spawn_ticker(engine: wasmtime::Engine, stop: Arc<AtomicBool>) -> Result<()> {
    std::thread::Builder::new()
        .name("soulbox-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        })
        .map(drop)
        .map_err(|e| SoulBoxError::io("starting the epoch ticker thread", e))
}
