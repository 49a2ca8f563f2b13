//! Language runtimes as the engine sees them: a catalogue entry, installed on first use
//! (unless offline), compiled once (the module cache), linked once with its driver's imports,
//! and kept ready as an `InstancePre` for every later run in the process.

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

/// Both ways a runtime can start.
pub(crate) struct RuntimeFlavours {
    plain: Arc<PreparedRuntime>,
    image: Option<Arc<PreparedRuntime>>,
}

impl RuntimeFlavours {
    /// The flavour a sandbox with `config` runs: the image when its heap fits the memory limit
    /// with room to spare, else the module as shipped.
    pub(crate) fn for_config(&self, config: &SandboxConfig) -> Arc<PreparedRuntime> {
        match &self.image {
            Some(image)
                if image.initial_memory.saturating_add(IMAGE_HEADROOM) <= config.memory_limit =>
            {
                image.clone()
            }
            _ => self.plain.clone(),
        }
    }

    /// The flavour whose [`identity`](PreparedRuntime::identity) is `identity`, if any (a saved
    /// session restores into exactly the module it was saved from).
    pub(crate) fn by_identity(&self, identity: &str) -> Option<Arc<PreparedRuntime>> {
        std::iter::once(&self.plain)
            .chain(self.image.iter())
            .find(|p| p.identity == identity)
            .cloned()
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
    /// suits `config`.
    pub(crate) async fn prepared_runtime(
        &self,
        runtime: &'static Runtime,
        config: &SandboxConfig,
    ) -> Result<Arc<PreparedRuntime>> {
        Ok(self.runtime_flavours(runtime).await?.for_config(config))
    }

    /// Every flavour of the runtime, prepared once per engine.
    pub(crate) async fn runtime_flavours(
        &self,
        runtime: &'static Runtime,
    ) -> Result<Arc<RuntimeFlavours>> {
        let slot = self.inner().runtimes.slot(runtime.name);
        let prepared = slot
            .get_or_try_init(|| async {
                let installed = self.ensure_installed(runtime).await?;
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
                let driver = soulbox_runtimes::driver_for::<GuestState>(&installed);
                let plain = Arc::new(self.link(
                    runtime,
                    &module,
                    driver,
                    format!("{}:sha256:{}", runtime.name, installed.module_sha256),
                )?);
                let image = if self.inner().preinit {
                    self.prepared_image(&installed).await
                } else {
                    None
                };
                Ok::<_, SoulBoxError>(Arc::new(RuntimeFlavours { plain, image }))
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
        self.runtime_flavours(runtime).await.map(drop)
    }
}

/// Reads a runtime's module from its install directory.
fn read_module(path: &std::path::Path) -> Result<Arc<[u8]>> {
    std::fs::read(path)
        .map(Arc::from)
        .map_err(|e| SoulBoxError::io(format!("reading {}", path.display()), e))
}
