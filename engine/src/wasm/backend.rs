//! What every wasm run needs from its engine, as one cheap-to-clone handle: Wasmtime's engine,
//! the WASI linker every guest shares, the compiled-module cache and the warm pools. The
//! backend's functions take this handle, never the [`Engine`](crate::Engine) that owns it, so
//! the wasm layer sits below the engine instead of in a loop with it.

use std::ops::Deref;
use std::sync::Arc;

use soulbox_runtimes::{Driver, Runtime, RuntimeError};
use wasmtime::{InstancePre, Linker, Module};

use super::{GuestState, ModuleCache, WarmPools};
use crate::Result;

/// A handle on the wasm backend's shared parts (see the module docs). Clones share them.
#[derive(Clone)]
pub(crate) struct WasmBackend(Arc<Parts>);

/// The parts behind a [`WasmBackend`].
pub(crate) struct Parts {
    /// Wasmtime's engine (fuel, epochs, pooling; see [`super::config`]).
    pub(crate) engine: wasmtime::Engine,
    /// WASI preview1 with the engine's shadowed calls ([`super::shadow`]).
    pub(crate) linker: Linker<GuestState>,
    /// Compiled modules, in memory and authenticated on disk.
    pub(crate) modules: ModuleCache,
    /// Instances made ahead of time for interpreters.
    pub(crate) pools: WarmPools,
}

impl Deref for WasmBackend {
    type Target = Parts;
    fn deref(&self) -> &Parts {
        &self.0
    }
}

impl WasmBackend {
    pub(crate) fn new(parts: Parts) -> Self {
        Self(Arc::new(parts))
    }

    /// Links `module` with `driver`'s imports (the rest trap if called), ready to instantiate.
    pub(crate) fn prepare(
        &self,
        runtime: &'static Runtime,
        module: &Module,
        driver: Arc<dyn Driver<GuestState>>,
        identity: String,
    ) -> Result<PreparedRuntime> {
        let mut linker = self.linker.clone();
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
}

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

impl PreparedRuntime {
    /// A stable name for exactly the module this runtime instantiates: a session snapshot
    /// records it and restores only into the same one. Defined here only: the runtime's name
    /// and its module's sha256 for the module as shipped, the image key for a pre-initialised
    /// image (its memory layout differs).
    pub(crate) fn identity(&self) -> &str {
        &self.identity
    }
}
