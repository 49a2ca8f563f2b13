//! Components and SoulBox: the WIT package `soulbox:sandbox@0.1.0` (`wit/` at the repository's
//! top) served by this engine.
//!
//! - **Embedders** - any Wasmtime program whose components import
//!   `soulbox:sandbox/executor` - link it with [`add_executor_to_linker`], backed by an
//!   [`Executor`] (an [`Engine`] plus the most any sandbox it creates may get):
//!
//! ```no_run
//! use std::sync::Arc;
//! use soulbox::component::{Executor, ExecutorBackend, ExecutorHost, add_executor_to_linker};
//! use wasmtime::component::{Linker, ResourceTable};
//!
//! struct Host {
//!     table: ResourceTable,
//!     executor: Arc<dyn ExecutorBackend>,
//! }
//!
//! # fn demo(wasmtime: &wasmtime::Engine) -> Result<(), Box<dyn std::error::Error>> {
//! let engine = soulbox::Engine::shared()?;
//! let mut linker: Linker<Host> = Linker::new(wasmtime);
//! add_executor_to_linker(&mut linker, |h: &mut Host| ExecutorHost {
//!     table: &mut h.table,
//!     backend: &*h.executor,
//! })?;
//! let host = Host {
//!     table: ResourceTable::new(),
//!     executor: Arc::new(Executor::new(engine, soulbox::SandboxConfig::default())),
//! };
//! # let _ = host; Ok(()) }
//! ```
//!
//! - **Components SoulBox runs itself** (`Sandbox::execute` of `Language::Wasm` bytes that are
//!   a component, `soulbox run app.wasm`) get `executor` too, served by the sandbox running
//!   them: every sandbox such a component creates is *nested* - its limits are clamped to the
//!   parent sandbox's ([`Limits::clamp`]), they run on the WebAssembly backend only, at most [`MAX_CHILDREN`] of them (and their
//!   sessions) live at once, at most [`MAX_NESTING`] levels deep, and what `write-file` may put
//!   in one is capped by its `max_disk_bytes`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

pub use soulbox_host::component::{
    ExecutorHost, GuestHost, add_executor_to_linker, add_guest_to_linker, bindings,
};
use soulbox_host::executor::{BoxFuture, ExecutorResult};
pub use soulbox_host::executor::{
    ExecutorBackend, ExecutorError, ExecutorErrorKind, Limits, SandboxHandle, SessionHandle,
};

use crate::{
    Backend, Engine, ExecutionResult, FileInfo, Language, Sandbox, SandboxConfig, Session,
    SoulBoxError,
};

/// Most sandboxes plus sessions one parent (a sandbox, or an [`Executor`]) has alive at once
/// through `executor`.
pub const MAX_CHILDREN: usize = 8;
/// Deepest nesting: a sandbox created by a component running in a sandbox created by a
/// component ... stops here.
pub const MAX_NESTING: u32 = 3;

/// An [`ExecutorBackend`] for embedders: creates sandboxes on `engine`, each with at most the
/// `ceiling` configuration's limits (and otherwise its settings: allow-list, disk budget, ...).
pub struct Executor {
    engine: Engine,
    ceiling: SandboxConfig,
    children: Arc<AtomicUsize>,
}

impl Executor {
    /// Sandboxes on `engine`, none with more than `ceiling` allows.
    pub fn new(engine: Engine, ceiling: SandboxConfig) -> Self {
        Self {
            engine,
            ceiling,
            children: Arc::default(),
        }
    }
}

impl ExecutorBackend for Executor {
    fn create(&self, limits: Limits) -> BoxFuture<'_, ExecutorResult<Arc<dyn SandboxHandle>>> {
        Box::pin(create_child(
            &self.engine,
            &self.ceiling,
            limits,
            &self.children,
            1,
        ))
    }
}

/// The sandbox running a component serves its `executor`: the sandboxes it creates are nested
/// in it.
///
/// A guest never leaves the WebAssembly wall this way: nested sandboxes are always
/// `Backend::Wasm` (a shell script or native program asked for is refused), whatever backend the
/// parent's configuration names.
impl ExecutorBackend for Sandbox {
    fn create(&self, limits: Limits) -> BoxFuture<'_, ExecutorResult<Arc<dyn SandboxHandle>>> {
        let mut ceiling = self.config().clone();
        ceiling.backend = Backend::Wasm;
        Box::pin(async move {
            create_child(
                self.engine(),
                &ceiling,
                limits,
                self.children(),
                self.nesting().saturating_add(1),
            )
            .await
        })
    }
}

async fn create_child(
    engine: &Engine,
    ceiling: &SandboxConfig,
    limits: Limits,
    children: &Arc<AtomicUsize>,
    nesting: u32,
) -> ExecutorResult<Arc<dyn SandboxHandle>> {
    if nesting > MAX_NESTING {
        return Err(ExecutorError::new(
            ExecutorErrorKind::Unavailable,
            format!("sandboxes nest at most {MAX_NESTING} levels deep"),
        ));
    }
    let slot = Slot::take(children)?;
    let config = limits.clamp(ceiling);
    let sandbox = Sandbox::nested_in(engine.clone(), config, nesting).map_err(executor_error)?;
    Ok(Arc::new(Nested {
        sandbox,
        written: AtomicU64::new(0),
        children: children.clone(),
        _slot: slot,
    }))
}

/// One place among a parent's [`MAX_CHILDREN`], given back on drop.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(children: &Arc<AtomicUsize>) -> ExecutorResult<Self> {
        children
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < MAX_CHILDREN).then_some(n + 1)
            })
            .map_err(|_| {
                ExecutorError::new(
                    ExecutorErrorKind::Unavailable,
                    format!(
                        "at most {MAX_CHILDREN} sandboxes and sessions may be open at once; drop one first"
                    ),
                )
            })?;
        Ok(Self(children.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A sandbox created through `executor`.
struct Nested {
    sandbox: Sandbox,
    /// Bytes written through `write-file` so far (capped by the sandbox's `max_disk_bytes`).
    written: AtomicU64,
    /// The parent's count, for sessions.
    children: Arc<AtomicUsize>,
    _slot: Slot,
}

impl Drop for Nested {
    fn drop(&mut self) {
        // Dropping the handle ends the sandbox (its workspace removed, sessions freed) even if a
        // session still holds it.
        let sandbox = self.sandbox.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            drop(runtime.spawn(async move { sandbox.terminate().await }));
        }
    }
}

impl SandboxHandle for Nested {
    fn limits(&self) -> Limits {
        Limits::of(self.sandbox.config())
    }

    fn execute(
        &self,
        language: Language,
        code: String,
    ) -> BoxFuture<'_, ExecutorResult<ExecutionResult>> {
        Box::pin(async move {
            self.sandbox
                .execute_code(language, code)
                .await
                .map_err(executor_error)
        })
    }

    fn write_file(&self, path: String, data: Vec<u8>) -> BoxFuture<'_, ExecutorResult<()>> {
        Box::pin(async move {
            let max = self.sandbox.config().max_disk_bytes;
            let size = data.len() as u64;
            self.written
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                    n.checked_add(size).filter(|total| *total <= max)
                })
                .map_err(|_| {
                    ExecutorError::new(
                        ExecutorErrorKind::InvalidRequest,
                        format!(
                            "writing {size} more bytes would pass this sandbox's {max} bytes of files written through write-file (max_disk_bytes)"
                        ),
                    )
                })?;
            self.sandbox
                .write_file(&path, data)
                .await
                .map_err(executor_error)
        })
    }

    fn read_file(&self, path: String) -> BoxFuture<'_, ExecutorResult<Vec<u8>>> {
        Box::pin(async move { self.sandbox.read_file(&path).await.map_err(executor_error) })
    }

    fn list_files(&self, path: String) -> BoxFuture<'_, ExecutorResult<Vec<FileInfo>>> {
        Box::pin(async move { self.sandbox.list_files(&path).await.map_err(executor_error) })
    }

    fn session(&self, language: Language) -> BoxFuture<'_, ExecutorResult<Arc<dyn SessionHandle>>> {
        Box::pin(async move {
            let slot = Slot::take(&self.children)?;
            let session = self
                .sandbox
                .session(language)
                .await
                .map_err(executor_error)?;
            Ok(Arc::new(NestedSession {
                session,
                _slot: slot,
            }) as Arc<dyn SessionHandle>)
        })
    }
}

/// A session created through `executor`.
struct NestedSession {
    session: Session,
    _slot: Slot,
}

impl SessionHandle for NestedSession {
    fn run_cell(&self, code: String) -> BoxFuture<'_, ExecutorResult<ExecutionResult>> {
        Box::pin(async move { self.session.execute(code).await.map_err(executor_error) })
    }

    fn language(&self) -> Language {
        self.session.language()
    }
}

/// A host-side error as the component sees it.
fn executor_error(e: SoulBoxError) -> ExecutorError {
    let kind = match &e {
        SoulBoxError::InvalidRequest(_)
        | SoulBoxError::UnknownLanguage { .. }
        | SoulBoxError::InvalidModule(_)
        | SoulBoxError::InvalidPath { .. }
        | SoulBoxError::UnusableFile { .. } => ExecutorErrorKind::InvalidRequest,
        SoulBoxError::FileNotFound(_) => ExecutorErrorKind::NotFound,
        SoulBoxError::InvalidState { .. } | SoulBoxError::SessionPoisoned(_) => {
            ExecutorErrorKind::Closed
        }
        SoulBoxError::Unsupported { .. }
        | SoulBoxError::ToolchainMissing(_)
        | SoulBoxError::Runtime(_)
        | SoulBoxError::IsolationUnavailable { .. } => ExecutorErrorKind::Unavailable,
        _ => ExecutorErrorKind::Internal,
    };
    ExecutorError::new(kind, e.to_string())
}
