//! Language runtimes as the engine sees them: a catalogue entry, installed on first use
//! (unless offline), compiled once (the module cache), linked once with its driver's imports,
//! and kept ready as an `InstancePre` for every later run in the process.

// Audited for the wall rule (scripts/wall-audited.txt): only $SOULBOX_HOME (runtimes, image notes; home owned and 0700).
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use soulbox_runtimes::{Driver, Installed, Progress, Runtime, RuntimeError, catalogue, install};
use tokio::sync::OnceCell;
use wasmtime::InstancePre;

use crate::wasm::{GuestState, preinit};
use crate::{Engine, ExecutionRequest, Language, Result, SandboxConfig, SoulBoxError};

/// A runtime ready to instantiate: the module as shipped, or its pre-initialised image.
pub(crate) struct PreparedRuntime {
    pub(crate) driver: Arc<dyn Driver<GuestState>>,
    pub(crate) pre: InstancePre<GuestState>,
    /// Names exactly which module this is (the runtime's sha256, or the image's key): a saved
    /// session only fits the module it was saved from.
    pub(crate) identity: String,
    /// Linear memory the module starts with, in bytes (an image starts with its whole boot heap).
    pub(crate) initial_memory: u64,
}

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

impl PreparedRuntime {
    /// A stable name for exactly the module this runtime instantiates: a session snapshot
    /// records it and restores only into the same one. Defined here only: the runtime's name
    /// and its module's sha256 for the module as shipped, the image key for a pre-initialised
    /// image (its memory layout differs).
    pub(crate) fn identity(&self) -> &str {
        &self.identity
    }
}

/// Prepared runtimes of one engine, each prepared at most once even under concurrent demand.
#[derive(Default)]
pub(crate) struct RuntimeSet {
    slots: Mutex<HashMap<&'static str, Arc<OnceCell<Arc<RuntimeFlavours>>>>>,
}

impl RuntimeSet {
    fn slot(&self, name: &'static str) -> Arc<OnceCell<Arc<RuntimeFlavours>>> {
        let mut slots = match self.slots.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        slots.entry(name).or_default().clone()
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

impl Engine {
    fn progress(&self) -> Progress {
        if self.inner().quiet {
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
        let offline = self.inner().offline;
        let progress = self.progress();
        if runtime.build.is_some() {
            let installed = crate::compile::runtime_build::ensure_built(
                &home,
                self.toolchains(),
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

    /// The runtime installed, compiled and linked, ready to instantiate, in the flavour that
    /// suits `config`: the pre-initialised image when there is one and its heap fits the memory
    /// limit with room to spare, else the module as shipped.
    pub(crate) async fn prepared_runtime(
        &self,
        runtime: &'static Runtime,
        config: &SandboxConfig,
    ) -> Result<Arc<PreparedRuntime>> {
        let flavours = self.runtime_flavours(runtime).await?;
        match flavours.image_for(config) {
            Some(image) => Ok(image),
            None => self.plain_runtime(&flavours).await,
        }
    }

    /// The flavour whose [`identity`](PreparedRuntime::identity) is `identity`, if any (a saved
    /// session restores into exactly the module it was saved from).
    pub(crate) async fn runtime_by_identity(
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
                    .inner()
                    .modules
                    .get_pinned(
                        &self.inner().wasm,
                        &installed.module_sha256,
                        {
                            let path = installed.module_path();
                            move || read_module(&path)
                        },
                        Some((self.progress(), label)),
                    )
                    .await?;
                let driver = soulbox_runtimes::driver_for::<GuestState>(installed);
                self.link(runtime, &module, driver, flavours.plain_identity.clone())
                    .map(Arc::new)
            })
            .await?;
        Ok(plain.clone())
    }

    /// Every flavour of the runtime, prepared once per engine (the image made or loaded; the
    /// module as shipped only named until a run needs it).
    pub(crate) async fn runtime_flavours(
        &self,
        runtime: &'static Runtime,
    ) -> Result<Arc<RuntimeFlavours>> {
        let slot = self.inner().runtimes.slot(runtime.name);
        let prepared = slot
            .get_or_try_init(|| async {
                let installed = self.ensure_installed(runtime).await?;
                let image = if self.inner().preinit {
                    self.prepared_image(&installed).await
                } else {
                    None
                };
                Ok::<_, SoulBoxError>(Arc::new(RuntimeFlavours {
                    plain_identity: format!("{}:sha256:{}", runtime.name, installed.module_sha256),
                    installed,
                    plain: OnceCell::new(),
                    image,
                }))
            })
            .await?;
        Ok(prepared.clone())
    }

    /// Links `module` with `driver`'s imports (the rest trap if called).
    fn link(
        &self,
        runtime: &'static Runtime,
        module: &wasmtime::Module,
        driver: Arc<dyn Driver<GuestState>>,
        identity: String,
    ) -> Result<PreparedRuntime> {
        let mut linker = self.inner().linker.clone();
        driver.link(&mut linker)?;
        let link_error = |e: wasmtime::Error| RuntimeError::Driver {
            runtime: runtime.name,
            detail: format!("cannot link its module: {e:#}"),
        };
        linker
            .define_unknown_imports_as_traps(module)
            .map_err(link_error)?;
        let pre = linker.instantiate_pre(module).map_err(link_error)?;
        let initial_memory = module
            .exports()
            .find_map(|e| e.ty().memory().map(|m| m.minimum()))
            .unwrap_or(0)
            .saturating_mul(64 << 10);
        Ok(PreparedRuntime {
            driver,
            pre,
            identity,
            initial_memory,
        })
    }

    /// The runtime's pre-initialised image, made on first use (see [`crate::wasm::preinit`]).
    /// `None` when the runtime has none or making it failed (then it is said once on stderr,
    /// unless quiet, and a note keeps later processes from retrying).
    async fn prepared_image(&self, installed: &Installed) -> Option<Arc<PreparedRuntime>> {
        let runtime = installed.runtime;
        let driver = soulbox_runtimes::image_driver_for::<GuestState>(installed)?;
        let boot_driver = soulbox_runtimes::driver_for::<GuestState>(installed);
        let recipe = boot_driver.preinit_recipe()?;
        let invocation = match boot_driver.prepare_session() {
            Ok(invocation) => invocation,
            Err(e) => {
                self.say(&format!("{}: no pre-initialised image: {e}", runtime.name));
                return None;
            }
        };
        let key = preinit::image_key(&installed.module_sha256, &recipe, &invocation);
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
        let made = self
            .inner()
            .modules
            .get_pinned(
                &self.inner().wasm,
                &key,
                move || {
                    let bytes = read_module(&path)?;
                    preinit::build(&bytes, boot_driver, &invocation).map(Arc::from)
                },
                Some((self.progress(), label)),
            )
            .await
            .and_then(|module| {
                self.link(runtime, &module, driver, format!("{}:{key}", runtime.name))
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
        if !self.inner().quiet {
            eprintln!("soulbox: {text}");
        }
    }

    /// Fetches (unless offline), verifies and precompiles the named runtime, so a later first
    /// run does not wait for it. Progress goes to stderr unless the engine is quiet.
    pub async fn install_runtime(&self, name: &str) -> Result<()> {
        let runtime = catalogue::find(name).ok_or_else(|| RuntimeError::Unknown {
            name: name.to_owned(),
            available: catalogue::names(),
        })?;
        // Both flavours, so that a sandbox too small for the image does not compile at run time.
        let flavours = self.runtime_flavours(runtime).await?;
        self.plain_runtime(&flavours).await.map(drop)
    }
}

/// Reads a runtime's module from its install directory.
fn read_module(path: &std::path::Path) -> Result<Arc<[u8]>> {
    std::fs::read(path)
        .map(Arc::from)
        .map_err(|e| SoulBoxError::io(format!("reading {}", path.display()), e))
}
