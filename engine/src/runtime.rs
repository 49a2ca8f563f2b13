//! Language runtimes as the engine sees them: a catalogue entry, installed on first use
//! (unless offline), compiled once (the module cache), linked once with its driver's imports,
//! and kept ready as an `InstancePre` for every later run in the process.

// Audited for the wall rule (scripts/wall-audited.txt): only $SOULBOX_HOME (runtimes, image notes; home owned and 0700).
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use soulbox_runtimes::stack::StackWindow;
use soulbox_runtimes::{Installed, Progress, Runtime, RuntimeError, catalogue, install};
use tokio::sync::OnceCell;

use crate::wasm::{GuestState, PreparedRuntime, WasmBackend, preinit};
use crate::{ExecutionRequest, Language, Result, SandboxConfig, SoulBoxError};

/// Memory a sandbox must allow beyond an image's initial heap for the image to be used; below
/// that, the runtime boots from scratch (smaller start, and the run gets the whole limit).
const IMAGE_HEADROOM: u64 = 32 << 20;

/// Both ways a runtime can start. The module as shipped is compiled and loaded only when a run
/// needs it (no image, or a memory limit below the image's heap): loading a large module's
/// metadata is a noticeable part of a new process's start.
pub(crate) struct RuntimeFlavours {
    installed: Installed,
    plain_identity: String,
    plain: OnceCell<Arc<PreparedRuntime>>,
    image: Option<Arc<PreparedRuntime>>,
}

impl RuntimeFlavours {
    /// Whether a sandbox with `config` runs the image (its heap fits the memory limit with room
    /// to spare).
    fn image_for(&self, config: &SandboxConfig) -> Option<Arc<PreparedRuntime>> {
        self.image
            .as_ref()
            .filter(|image| {
                image.initial_memory.saturating_add(IMAGE_HEADROOM) <= config.memory_limit
            })
            .cloned()
    }

    /// The identity of the flavour a sandbox with `config` would run.
    pub(crate) fn identity_for(&self, config: &SandboxConfig) -> String {
        self.image_for(config)
            .map_or_else(|| self.plain_identity.clone(), |i| i.identity.clone())
    }
}

/// The language runtimes of one engine: installed on first use (unless offline), each prepared
/// at most once even under concurrent demand.
pub(crate) struct Runtimes {
    slots: Mutex<HashMap<&'static str, Arc<OnceCell<Arc<RuntimeFlavours>>>>>,
    wasm: WasmBackend,
    home: PathBuf,
    toolchains: PathBuf,
    offline: bool,
    quiet: bool,
    preinit: bool,
}

/// How [`Runtimes`] installs and prepares: where, and whether it may fetch, talk and make images.
pub(crate) struct RuntimeSettings {
    pub home: PathBuf,
    pub toolchains: PathBuf,
    pub offline: bool,
    pub quiet: bool,
    pub preinit: bool,
}

impl Runtimes {
    pub(crate) fn new(wasm: WasmBackend, settings: RuntimeSettings) -> Self {
        let RuntimeSettings {
            home,
            toolchains,
            offline,
            quiet,
            preinit,
        } = settings;
        Self {
            slots: Mutex::default(),
            wasm,
            home,
            toolchains,
            offline,
            quiet,
            preinit,
        }
    }

    fn slot(&self, name: &'static str) -> Arc<OnceCell<Arc<RuntimeFlavours>>> {
        let mut slots = match self.slots.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        slots.entry(name).or_default().clone()
    }

    fn home(&self) -> &Path {
        &self.home
    }

    fn progress(&self) -> Progress {
        if self.quiet {
            Progress::Hidden
        } else {
            Progress::Stderr
        }
    }

    /// Installs `runtime` if it is missing (unless the engine is offline), on a blocking thread.
    /// A runtime built from sources is built (its sources fetched first unless offline) and, on
    /// every load, its module checked against the sha256 recorded when it was built.
    async fn ensure_installed(&self, runtime: &'static Runtime) -> Result<Installed> {
        let home = self.home().to_path_buf();
        let offline = self.offline;
        let progress = self.progress();
        if runtime.build.is_some() {
            let installed = crate::compile::runtime_build::ensure_built(
                &home,
                &self.toolchains,
                runtime,
                offline,
                progress,
            )
            .await?;
            return tokio::task::spawn_blocking(move || {
                install::check_built(&installed).map(|()| installed)
            })
            .await
            .map_err(|e| SoulBoxError::Engine(format!("verify task failed: {e}")))?
            .map_err(SoulBoxError::from);
        }
        tokio::task::spawn_blocking(move || install::ensure(&home, runtime, offline, progress))
            .await
            .map_err(|e| SoulBoxError::Engine(format!("install task failed: {e}")))?
            .map_err(SoulBoxError::from)
    }

    /// The runtime installed (fetched first unless offline), not compiled.
    pub(crate) async fn installed(&self, runtime: &'static Runtime) -> Result<Installed> {
        self.ensure_installed(runtime).await
    }

    /// A package installer with this engine's home, offline setting and progress.
    pub(crate) fn package_installer(&self) -> soulbox_runtimes::packages::Installer {
        soulbox_runtimes::packages::Installer::new(self.home())
            .offline(self.offline)
            .progress(self.progress())
    }

    /// The runtime installed, compiled and linked, ready to instantiate, in the flavour that
    /// suits `config`: the pre-initialised image when there is one and its heap fits the memory
    /// limit with room to spare, else the module as shipped.
    pub(crate) async fn prepared(
        &self,
        runtime: &'static Runtime,
        config: &SandboxConfig,
    ) -> Result<Arc<PreparedRuntime>> {
        let flavours = self.flavours(runtime).await?;
        match flavours.image_for(config) {
            Some(image) => Ok(image),
            None => self.plain_runtime(&flavours).await,
        }
    }

    /// The flavour whose [`identity`](PreparedRuntime::identity) is `identity`, if any (a saved
    /// session restores into exactly the module it was saved from).
    pub(crate) async fn by_identity(
        &self,
        flavours: &RuntimeFlavours,
        identity: &str,
    ) -> Result<Option<Arc<PreparedRuntime>>> {
        if let Some(image) = flavours.image.as_ref().filter(|i| i.identity == identity) {
            return Ok(Some(image.clone()));
        }
        if flavours.plain_identity == identity {
            return self.plain_runtime(flavours).await.map(Some);
        }
        Ok(None)
    }

    /// The module as shipped, compiled (or loaded from the cache) and linked on first need.
    async fn plain_runtime(&self, flavours: &RuntimeFlavours) -> Result<Arc<PreparedRuntime>> {
        let installed = &flavours.installed;
        let runtime = installed.runtime;
        let plain = flavours
            .plain
            .get_or_try_init(|| async {
                let size = std::fs::metadata(installed.module_path()).map_or(0, |m| m.len());
                let label = format!(
                    "{} {}: compiling {:.1} MB of WebAssembly (first use only)",
                    runtime.name,
                    runtime.version,
                    size as f64 / 1e6
                );
                let module = self
                    .wasm
                    .modules
                    .get_pinned(
                        &self.wasm.engine,
                        &module_key(installed),
                        {
                            let path = installed.module_path();
                            let window = soulbox_runtimes::stack::window_for(installed);
                            move || read_module(&path, window)
                        },
                        Some((self.progress(), label)),
                    )
                    .await?;
                let driver = soulbox_runtimes::driver_for::<GuestState>(installed);
                self.wasm
                    .prepare(runtime, &module, driver, flavours.plain_identity.clone())
                    .map(Arc::new)
            })
            .await?;
        Ok(plain.clone())
    }

    /// Every flavour of the runtime, prepared once per engine (the image made or loaded; the
    /// module as shipped only named until a run needs it).
    pub(crate) async fn flavours(&self, runtime: &'static Runtime) -> Result<Arc<RuntimeFlavours>> {
        let slot = self.slot(runtime.name);
        let prepared = slot
            .get_or_try_init(|| async {
                let installed = self.ensure_installed(runtime).await?;
                let image = if self.preinit {
                    self.prepared_image(&installed).await
                } else {
                    None
                };
                Ok::<_, SoulBoxError>(Arc::new(RuntimeFlavours {
                    plain_identity: format!("{}:sha256:{}", runtime.name, module_key(&installed)),
                    installed,
                    plain: OnceCell::new(),
                    image,
                }))
            })
            .await?;
        Ok(prepared.clone())
    }

    /// The runtime's pre-initialised image, made on first use (see [`crate::wasm::preinit`]).
    /// `None` when the runtime has none or making it failed (then it is said once on stderr,
    /// unless quiet, and a note keeps later processes from retrying).
    async fn prepared_image(&self, installed: &Installed) -> Option<Arc<PreparedRuntime>> {
        let runtime = installed.runtime;
        let driver = soulbox_runtimes::image_driver_for::<GuestState>(installed)?;
        let boot_driver = soulbox_runtimes::driver_for::<GuestState>(installed);
        let recipe = boot_driver.preinit_recipe()?;
        let invocation = match boot_driver.prepare_session(None) {
            Ok(invocation) => invocation,
            Err(e) => {
                self.say(&format!("{}: no pre-initialised image: {e}", runtime.name));
                return None;
            }
        };
        let key = preinit::image_key(&module_key(installed), &recipe, &invocation);
        let note = preinit::failure_note(self.home(), &key);
        if note.exists() {
            return None;
        }
        let label = format!(
            "{} {}: pre-initialising an image ({}; first use only, about a minute)",
            runtime.name,
            runtime.version,
            if runtime.language == "python" {
                "importing numpy, pandas and matplotlib"
            } else {
                "booting the interpreter"
            }
        );
        let path = installed.module_path();
        let window = soulbox_runtimes::stack::window_for(installed);
        let made = self
            .wasm
            .modules
            .get_pinned(
                &self.wasm.engine,
                &key,
                move || {
                    let bytes = read_module(&path, window)?;
                    preinit::build(&bytes, boot_driver, &invocation).map(Arc::from)
                },
                Some((self.progress(), label)),
            )
            .await
            .and_then(|module| {
                self.wasm
                    .prepare(runtime, &module, driver, format!("{}:{key}", runtime.name))
            });
        match made {
            Ok(prepared) => Some(Arc::new(prepared)),
            Err(e) => {
                self.say(&format!(
                    "{}: no pre-initialised image, every run boots the interpreter: {e} \
                     (delete {} to try again)",
                    runtime.name,
                    note.display()
                ));
                if let Some(dir) = note.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                let _ = std::fs::write(&note, format!("{e}\n"));
                None
            }
        }
    }

    /// A notice on stderr, unless the engine is quiet.
    fn say(&self, text: &str) {
        if !self.quiet {
            eprintln!("soulbox: {text}");
        }
    }

    /// Installs and prepares the named runtime (both flavours) ahead of its first run.
    pub(crate) async fn install(&self, name: &str) -> Result<()> {
        let runtime = catalogue::find(name).ok_or_else(|| RuntimeError::Unknown {
            name: name.to_owned(),
            available: catalogue::names(),
        })?;
        // Both flavours, so that a sandbox too small for the image does not compile at run time.
        let flavours = self.flavours(runtime).await?;
        self.plain_runtime(&flavours).await.map(drop)
    }
}

/// The language name the catalogue uses for `language`, if it is served by an interpreter.
pub(crate) fn catalogue_language(language: Language) -> Option<&'static str> {
    match language {
        Language::Python => Some("python"),
        Language::JavaScript => Some("javascript"),
        Language::Ruby => Some("ruby"),
        _ => None,
    }
}

/// Which runtime serves `request`: the request's own choice, else the sandbox's default runtime
/// when it is for the same language, else the language's default. `None` when the language is
/// not run by an interpreter.
pub(crate) fn select(
    config: &SandboxConfig,
    request: &ExecutionRequest,
) -> Result<Option<&'static Runtime>> {
    let Some(language) = catalogue_language(request.language) else {
        if let Some(name) = &request.runtime {
            return Err(SoulBoxError::InvalidRequest(format!(
                "runtime `{name}` was asked for, but {} code is not run by an interpreter",
                request.language
            )));
        }
        return Ok(None);
    };
    let lookup = |name: &str| {
        catalogue::find(name).ok_or_else(|| RuntimeError::Unknown {
            name: name.to_owned(),
            available: catalogue::names(),
        })
    };
    if let Some(name) = &request.runtime {
        let runtime = lookup(name)?;
        if runtime.language != language {
            return Err(SoulBoxError::InvalidRequest(format!(
                "runtime `{}` runs {}, not {}",
                runtime.name, runtime.language, request.language
            )));
        }
        return Ok(Some(runtime));
    }
    if let Some(name) = &config.runtime {
        let runtime = lookup(name)?;
        if runtime.language == language {
            return Ok(Some(runtime));
        }
    }
    Ok(catalogue::default_for(language))
}

/// Which runtime serves a session of `language`: the sandbox's default runtime when it is for
/// that language, else the language's session default (`quickjs-session` for JavaScript, whose
/// one-shot default is a command build). `None` when the language is not run by an interpreter.
pub(crate) fn select_for_session(
    config: &SandboxConfig,
    language: Language,
) -> Result<Option<&'static Runtime>> {
    let Some(name) = catalogue_language(language) else {
        return Ok(None);
    };
    if let Some(configured) = &config.runtime {
        let runtime = catalogue::find(configured).ok_or_else(|| RuntimeError::Unknown {
            name: configured.clone(),
            available: catalogue::names(),
        })?;
        if runtime.language == name {
            return Ok(Some(runtime));
        }
    }
    Ok(catalogue::session_default_for(name))
}

/// Reads a runtime's module from its install directory, with its C-stack window widened where
/// SoulBox widens it (see [`soulbox_runtimes::stack`]).
fn read_module(path: &std::path::Path, window: Option<&StackWindow>) -> Result<Arc<[u8]>> {
    let mut bytes = std::fs::read(path)
        .map_err(|e| SoulBoxError::io(format!("reading {}", path.display()), e))?;
    if let Some(window) = window {
        window.apply(&mut bytes)?;
    }
    Ok(Arc::from(bytes))
}

/// What identifies a runtime's module as the engine loads it: the pinned sha256, plus the
/// change made while loading (so compiled and pre-initialised modules of the shipped and the
/// widened bytes never share a cache entry).
fn module_key(installed: &Installed) -> String {
    match soulbox_runtimes::stack::window_for(installed) {
        Some(window) => format!("{}-{}", installed.module_sha256, window.tag()),
        None => installed.module_sha256.clone(),
    }
}
