//! Language runtimes as the engine sees them: a catalogue entry, installed on first use
//! (unless offline), compiled once (the module cache), linked once with its driver's imports,
//! and kept ready as an `InstancePre` for every later run in the process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use soulbox_runtimes::{Driver, Installed, Progress, Runtime, RuntimeError, catalogue, install};
use tokio::sync::OnceCell;
use wasmtime::InstancePre;

use crate::wasm::GuestState;
use crate::{Engine, ExecutionRequest, Language, Result, SandboxConfig, SoulBoxError};

/// A runtime ready to instantiate.
pub(crate) struct PreparedRuntime {
    pub(crate) driver: Arc<dyn Driver<GuestState>>,
    pub(crate) pre: InstancePre<GuestState>,
    identity: String,
}

impl PreparedRuntime {
    /// A stable name for exactly the module this runtime instantiates: a session snapshot
    /// records it and restores only into the same one. The one place that defines it: today
    /// the runtime's name and its pinned module's sha256; a pre-initialised image must change
    /// it (its memory layout differs).
    pub(crate) fn identity(&self) -> &str {
        &self.identity
    }

    fn identity_of(runtime: &Runtime) -> String {
        format!("{}:sha256:{}", runtime.name, runtime.module.sha256)
    }
}

/// Prepared runtimes of one engine, each prepared at most once even under concurrent demand.
#[derive(Default)]
pub(crate) struct RuntimeSet {
    slots: Mutex<HashMap<&'static str, Arc<OnceCell<Arc<PreparedRuntime>>>>>,
}

impl RuntimeSet {
    fn slot(&self, name: &'static str) -> Arc<OnceCell<Arc<PreparedRuntime>>> {
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

impl Engine {
    fn progress(&self) -> Progress {
        if self.inner().quiet {
            Progress::Hidden
        } else {
            Progress::Stderr
        }
    }

    /// Installs `runtime` if it is missing (unless the engine is offline), on a blocking thread.
    async fn ensure_installed(&self, runtime: &'static Runtime) -> Result<Installed> {
        let home = self.home().to_path_buf();
        let offline = self.inner().offline;
        let progress = self.progress();
        tokio::task::spawn_blocking(move || install::ensure(&home, runtime, offline, progress))
            .await
            .map_err(|e| SoulBoxError::Engine(format!("install task failed: {e}")))?
            .map_err(SoulBoxError::from)
    }

    /// The runtime installed, compiled and linked, ready to instantiate.
    pub(crate) async fn prepared_runtime(
        &self,
        runtime: &'static Runtime,
    ) -> Result<Arc<PreparedRuntime>> {
        let slot = self.inner().runtimes.slot(runtime.name);
        let prepared = slot
            .get_or_try_init(|| async {
                let installed = self.ensure_installed(runtime).await?;
                let label = format!(
                    "{} {}: compiling {:.1} MB of WebAssembly (first use only)",
                    runtime.name,
                    runtime.version,
                    runtime.module.size as f64 / 1e6
                );
                let module = self
                    .inner()
                    .modules
                    .get_pinned(
                        &self.inner().wasm,
                        runtime.module.sha256,
                        {
                            let path = installed.module_path();
                            move || {
                                std::fs::read(&path).map(Arc::from).map_err(|e| {
                                    SoulBoxError::io(format!("reading {}", path.display()), e)
                                })
                            }
                        },
                        Some((self.progress(), label)),
                    )
                    .await?;
                let driver = soulbox_runtimes::driver_for::<GuestState>(&installed);
                let mut linker = self.inner().linker.clone();
                driver.link(&mut linker)?;
                let link_error = |e: wasmtime::Error| RuntimeError::Driver {
                    runtime: runtime.name,
                    detail: format!("cannot link its module: {e:#}"),
                };
                linker
                    .define_unknown_imports_as_traps(&module)
                    .map_err(link_error)?;
                let pre = linker.instantiate_pre(&module).map_err(link_error)?;
                Ok::<_, SoulBoxError>(Arc::new(PreparedRuntime {
                    driver,
                    pre,
                    identity: PreparedRuntime::identity_of(runtime),
                }))
            })
            .await?;
        Ok(prepared.clone())
    }

    /// Fetches (unless offline), verifies and precompiles the named runtime, so a later first
    /// run does not wait for it. Progress goes to stderr unless the engine is quiet.
    pub async fn install_runtime(&self, name: &str) -> Result<()> {
        let runtime = catalogue::find(name).ok_or_else(|| RuntimeError::Unknown {
            name: name.to_owned(),
            available: catalogue::names(),
        })?;
        self.prepared_runtime(runtime).await.map(drop)
    }
}
