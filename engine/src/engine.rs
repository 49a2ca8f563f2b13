//! The shared, expensive part: the Wasmtime engine, the module cache, the WASI linker and the
//! epoch ticker that enforces wall-clock deadlines. One per process is typical; cheap to clone.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::compile::Compiler;
use crate::compile::toolchain::default_toolchains_dir;
use crate::runtime::{RuntimeSettings, Runtimes};
use crate::wasm::config::{EPOCH_TICK, wasm_config};
use crate::wasm::{ModuleCache, WarmPoolStats, WarmPools, WasmBackend, WasmParts};
use crate::{Result, SoulBoxError};

/// Settings of an [`Engine`].
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Cache directory (compiled modules, runtimes). Default: `$SOULBOX_HOME`, else
    /// `$XDG_CACHE_HOME/soulbox`, else `~/.cache/soulbox` (see [`default_home`]). It must be
    /// owned by the current user and not writable by group or others ([`check_home`]); a
    /// missing one is created with mode 0700.
    pub home: Option<PathBuf>,
    /// Directory of the compile toolchains (WASI sysroot, Rust guest crates). Default:
    /// `$SOULBOX_TOOLCHAINS`, else `<home>/toolchains`.
    pub toolchains: Option<PathBuf>,
    /// Most guest instances alive at once when the pooling allocator is used (each execution
    /// holds one while it runs). Reserves address space, not memory.
    pub max_instances: u32,
    /// Use the pooling instance allocator with copy-on-write memory images (instantiation in
    /// microseconds). When the host refuses the address-space reservation, the engine falls back
    /// to on-demand allocation by itself.
    pub pooling: bool,
    /// Never fetch a missing language runtime (a run that needs one fails with a message saying
    /// how to install it). Also on when the environment has `SOULBOX_OFFLINE=1`.
    pub offline: bool,
    /// Report runtime downloads and compilations nowhere instead of on stderr.
    pub quiet: bool,
    /// Run Python and Ruby from pre-initialised images (interpreter booted and, for Python,
    /// numpy, pandas and matplotlib imported once at install, then snapshotted): a run starts in
    /// milliseconds instead of booting. The image is made on first use (about a minute) and
    /// cached. Off: every run boots the interpreter (fresh hash seeds per run; see docs/performance.md).
    pub preinit: bool,
    /// Instances of each runtime kept instantiated ahead of time (see
    /// [`Engine::warm_pool_stats`]); each serves exactly one execution and is replaced in the
    /// background. 0 turns warm pools off.
    pub warm_pool: usize,
    /// Most linear memory (bytes) all idle warm instances together may have mapped.
    pub warm_pool_memory: u64,
    /// Most bytes of compiled modules kept on disk (`<home>/modules`). Beyond it the least
    /// recently used entries are deleted, guests' modules before runtimes and images (the
    /// Python image alone is about 400 MB).
    pub module_cache_bytes: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            home: None,
            toolchains: None,
            max_instances: 1000,
            pooling: true,
            offline: false,
            quiet: false,
            preinit: true,
            warm_pool: 2,
            warm_pool_memory: 1 << 30,
            module_cache_bytes: 2 << 30,
        }
    }
}

impl EngineConfig {
    /// Uses `dir` as the cache directory.
    pub fn with_home(mut self, dir: impl Into<PathBuf>) -> Self {
        self.home = Some(dir.into());
        self
    }
    /// Sets [`max_instances`](Self::max_instances).
    pub fn with_max_instances(mut self, n: u32) -> Self {
        self.max_instances = n;
        self
    }
    /// Sets [`pooling`](Self::pooling).
    pub fn with_pooling(mut self, pooling: bool) -> Self {
        self.pooling = pooling;
        self
    }
    /// Uses `dir` for the compile toolchains.
    pub fn with_toolchains(mut self, dir: impl Into<PathBuf>) -> Self {
        self.toolchains = Some(dir.into());
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

    /// Sets [`warm_pool`](Self::warm_pool) (instances per runtime; 0 = off).
    pub fn with_warm_pool(mut self, per_runtime: usize) -> Self {
        self.warm_pool = per_runtime;
        self
    }

    /// Sets [`preinit`](Self::preinit).
    pub fn with_preinit(mut self, preinit: bool) -> Self {
        self.preinit = preinit;
        self
    }

    /// Sets [`module_cache_bytes`](Self::module_cache_bytes).
    pub fn with_module_cache_bytes(mut self, bytes: u64) -> Self {
        self.module_cache_bytes = bytes;
        self
    }
}

/// The directory SoulBox keeps its caches in, as resolved from the environment:
/// `$SOULBOX_HOME`, else `$XDG_CACHE_HOME/soulbox`, else `$HOME/.cache/soulbox`. An error when
/// none of them is set (there is no shared fallback another user could prepare). Engines
/// check the directory when they start ([`check_home`]).
pub fn default_home() -> Result<PathBuf> {
    Ok(soulbox_runtimes::home::resolve()?)
}

/// Makes sure `dir` can be SoulBox's home: creates it with mode 0700 if it is missing;
/// otherwise it must be a directory owned by the current user and not writable by group or
/// others (runtimes and compiled code are loaded from it), else it is refused with what to do.
/// [`Engine::new`] calls this for its home.
pub fn check_home(dir: &Path) -> Result<()> {
    Ok(soulbox_runtimes::home::prepare(dir)?)
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

struct EngineInner {
    wasm: WasmBackend,
    /// WASI preview 2 and SoulBox's WIT imports, for components (`wasip2/`).
    components: wasmtime::component::Linker<crate::wasip2::ComponentState>,
    compiler: Compiler,
    runtimes: Runtimes,
    home: PathBuf,
    pooling: bool,
    ticker_stop: Arc<AtomicBool>,
    /// Sandbox turns held right now (see [`Engine::active_turns`]).
    active_turns: AtomicUsize,
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
        let home = match config.home.clone() {
            Some(home) => home,
            None => default_home()?,
        };
        check_home(&home)?;
        let pooled = config
            .pooling
            .then(|| wasmtime::Engine::new(&wasm_config(Some(config.max_instances))).ok())
            .flatten();
        let pooling = pooled.is_some();
        let wasm = match pooled {
            Some(engine) => engine,
            None => wasmtime::Engine::new(&wasm_config(None))
                .map_err(|e| SoulBoxError::Engine(format!("configuring wasmtime: {e:#}")))?,
        };
        let linker = crate::wasm::linker(&crate::wasm::wasi_linker(&wasm)?)?;
        let components = crate::wasip2::linker(&wasm)?;
        let modules = ModuleCache::new(&wasm, Some(&home), config.module_cache_bytes)?;
        let toolchains = config
            .toolchains
            .unwrap_or_else(|| default_toolchains_dir(&home));
        let compiler = Compiler::new(toolchains.clone(), home.join("compile-cache"));
        let ticker_stop = Arc::new(AtomicBool::new(false));
        spawn_ticker(wasm.clone(), ticker_stop.clone())?;
        let wasm = WasmBackend::new(WasmParts {
            engine: wasm,
            linker,
            modules,
            pools: WarmPools::new(config.warm_pool, config.warm_pool_memory),
        });
        let runtimes = Runtimes::new(
            wasm.clone(),
            RuntimeSettings {
                home: home.clone(),
                toolchains,
                offline: config.offline
                    || std::env::var("SOULBOX_OFFLINE").is_ok_and(|v| v == "1" || v == "true"),
                quiet: config.quiet,
                preinit: config.preinit,
            },
        );
        Ok(Self {
            inner: Arc::new(EngineInner {
                wasm,
                components,
                compiler,
                runtimes,
                home,
                pooling,
                ticker_stop,
                active_turns: AtomicUsize::new(0),
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

    /// The directory compile toolchains are looked for in.
    pub fn toolchains(&self) -> &Path {
        self.inner.compiler.toolchains()
    }

    /// The cache directory in use.
    pub fn home(&self) -> &Path {
        &self.inner.home
    }

    /// Whether guests are instantiated from the pooling allocator (copy-on-write memory images),
    /// or on demand because pooling was disabled or the host refused the reservation.
    pub fn uses_pooling(&self) -> bool {
        self.inner.pooling
    }

    /// Hits, misses and idle instances of the warm pools (see [`EngineConfig::warm_pool`]).
    ///
    /// ```no_run
    /// # async fn demo() -> soulbox::Result<()> {
    /// let engine = soulbox::Engine::new(soulbox::EngineConfig::default())?;
    /// let sandbox = engine.sandbox(soulbox::SandboxConfig::default()).await?;
    /// sandbox.execute_code(soulbox::Language::JavaScript, "console.log(1)").await?;
    /// println!("{:?}", engine.warm_pool_stats());
    /// # Ok(()) }
    /// ```
    pub fn warm_pool_stats(&self) -> WarmPoolStats {
        self.inner.wasm.pools.stats()
    }

    /// Fetches (unless offline), verifies and precompiles the named runtime, so a later first
    /// run does not wait for it. Progress goes to stderr unless the engine is quiet.
    pub async fn install_runtime(&self, name: &str) -> Result<()> {
        self.inner.runtimes.install(name).await
    }

    /// The wasm backend's shared parts (Wasmtime, linker, module cache, warm pools).
    pub(crate) fn wasm(&self) -> &WasmBackend {
        &self.inner.wasm
    }

    /// The linker components run against (WASI preview 2 plus `soulbox:sandbox`).
    pub(crate) fn component_linker(
        &self,
    ) -> &wasmtime::component::Linker<crate::wasip2::ComponentState> {
        &self.inner.components
    }

    /// The language runtimes, prepared on first use.
    pub(crate) fn runtimes(&self) -> &Runtimes {
        &self.inner.runtimes
    }

    /// The Rust/C/C++ compiler.
    pub(crate) fn compiler(&self) -> &Compiler {
        &self.inner.compiler
    }

    /// How many sandboxes of this engine are working right now: executions, session cells,
    /// session starts, forks, snapshots and restores each hold their sandbox's turn while they
    /// run, and release it on every path - finishing, failing, or their future being dropped
    /// (a cancelled stream). 0 means no guest of this engine is running. For servers (drain
    /// before shutdown) and for tests that check a cancelled run left nothing behind.
    pub fn active_turns(&self) -> usize {
        self.inner.active_turns.load(Ordering::SeqCst)
    }

    /// The counter behind [`active_turns`](Self::active_turns), for the turn guard.
    pub(crate) fn turn_counter(&self) -> &AtomicUsize {
        &self.inner.active_turns
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
