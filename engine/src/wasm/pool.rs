//! Warm pools: interpreter instances made ahead of time, each used by exactly one execution.
//!
//! For every runtime flavour (a module as shipped, or a pre-initialised image) the engine keeps
//! up to [`EngineConfig::warm_pool`](crate::EngineConfig::warm_pool) instances already
//! instantiated - memory mapped from the copy-on-write image, tables set up - in stores with no
//! WASI context yet. An execution takes one, gives its store the run's own WASI context (argv,
//! environment, workspace, output), limiter, fuel and deadline, and enters it; a background task
//! refills the pool. An instance is never returned to the pool, so nothing is shared between
//! executions: the pool only moves instantiation off the execution's path.
//!
//! A warm instance has done nothing but be created: it is made with no fuel and an expired
//! deadline, so a module that would run code while being instantiated traps at once and its
//! runtime is left out of pooling. Idle instances hold a pooling-allocator slot and
//! their mapped (mostly untouched, so not resident) memory; the total linear memory of idle
//! instances is bounded by [`EngineConfig::warm_pool_memory`](crate::EngineConfig::warm_pool_memory).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use wasmtime::{Instance, InstancePre, Store};
use wasmtime_wasi::WasiCtxBuilder;

use super::{FUEL_SLICE, GuestState, PreparedRuntime, WasmBackend};

/// One ready instance.
pub(crate) struct Warm {
    pub(crate) store: Store<GuestState>,
    pub(crate) instance: Instance,
    /// Its linear memory in bytes.
    memory: u64,
}

/// Counters of an engine's warm pools.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WarmPoolStats {
    /// Executions (and session starts) that took a ready instance.
    pub hits: u64,
    /// Executions that instantiated on their own path (pool empty, disabled, or the ready
    /// instance did not fit the sandbox's memory limit).
    pub misses: u64,
    /// Instances ready now, over all runtimes.
    pub idle: usize,
    /// Linear memory of the ready instances, in bytes (mapped copy-on-write; mostly not resident).
    pub idle_memory: u64,
}

#[derive(Default)]
struct Idle {
    by_runtime: HashMap<String, Vec<Warm>>,
    memory: u64,
    refilling: HashSet<String>,
    /// Runtimes that run code when instantiated, so they cannot be made ahead of time.
    unpoolable: HashSet<String>,
}

/// The warm pools of one engine.
pub(crate) struct WarmPools {
    per_runtime: usize,
    max_memory: u64,
    idle: Mutex<Idle>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl WarmPools {
    pub(crate) fn new(per_runtime: usize, max_memory: u64) -> Self {
        Self {
            per_runtime,
            max_memory,
            idle: Mutex::new(Idle::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn idle(&self) -> MutexGuard<'_, Idle> {
        match self.idle.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// A ready instance of `runtime` whose memory fits `memory_limit`, if one is waiting; a
    /// refill is started either way (when pools are on).
    pub(crate) fn take(
        &self,
        backend: &WasmBackend,
        runtime: &Arc<PreparedRuntime>,
        memory_limit: u64,
    ) -> Option<Warm> {
        if self.per_runtime == 0 {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let warm = {
            let mut idle = self.idle();
            let warm = idle
                .by_runtime
                .get_mut(runtime.identity())
                .and_then(Vec::pop);
            if let Some(w) = &warm {
                idle.memory = idle.memory.saturating_sub(w.memory);
            }
            warm
        };
        self.refill(backend, runtime);
        match warm {
            Some(w) if w.memory <= memory_limit => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(w)
            }
            _ => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Starts a background task that fills `runtime`'s pool up to its size (one task per
    /// runtime at a time).
    fn refill(&self, backend: &WasmBackend, runtime: &Arc<PreparedRuntime>) {
        if self.per_runtime == 0 || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let identity = runtime.identity().to_owned();
        {
            let mut idle = self.idle();
            if idle.unpoolable.contains(&identity) || !idle.refilling.insert(identity.clone()) {
                return;
            }
        }
        let backend = backend.clone();
        let runtime = runtime.clone();
        tokio::spawn(async move {
            let pools = &backend.pools;
            loop {
                let room = {
                    let idle = pools.idle();
                    let count = idle.by_runtime.get(&identity).map_or(0, Vec::len);
                    count < pools.per_runtime
                        && idle.memory.saturating_add(runtime.initial_memory) <= pools.max_memory
                };
                if !room {
                    break;
                }
                let Some(warm) = instantiate(&backend, &runtime.pre).await else {
                    pools.idle().unpoolable.insert(identity.clone());
                    break;
                };
                let mut idle = pools.idle();
                idle.memory = idle.memory.saturating_add(warm.memory);
                idle.by_runtime
                    .entry(identity.clone())
                    .or_default()
                    .push(warm);
            }
            pools.idle().refilling.remove(&identity);
        });
    }

    pub(crate) fn stats(&self) -> WarmPoolStats {
        let idle = self.idle();
        WarmPoolStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            idle: idle.by_runtime.values().map(Vec::len).sum(),
            idle_memory: idle.memory,
        }
    }
}

/// A new instance of `runtime` in a store with an empty WASI context and no limit yet (the
/// execution that takes it sets both). `None` if instantiation fails: the module runs code
/// when instantiated (a start function), or no pooling slot is free; executions then
/// instantiate on their own path (and report any error themselves).
async fn instantiate(backend: &WasmBackend, pre: &InstancePre<GuestState>) -> Option<Warm> {
    let wasi = WasiCtxBuilder::new().build_p1();
    let mut store = Store::new(&backend.engine, GuestState::new(wasi, u64::MAX));
    store.limiter(|s| &mut s.limiter);
    store.fuel_async_yield_interval(Some(FUEL_SLICE)).ok()?;
    // No fuel and an expired deadline: a module that runs code while being instantiated (a
    // start function) traps at its first instruction instead of running without its WASI
    // context and limits; such a runtime is not pooled.
    let instance = pre.instantiate_async(&mut store).await.ok()?;
    let memory = store.data().limiter.current();
    Some(Warm {
        store,
        instance,
        memory,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn ahead(wat: &str) -> Option<Warm> {
        let home = tempfile::tempdir().unwrap();
        let engine =
            crate::Engine::new(crate::EngineConfig::default().with_home(home.path())).unwrap();
        let backend = engine.wasm();
        let module = wasmtime::Module::new(&backend.engine, wat).unwrap();
        let pre = backend.linker.instantiate_pre(&module).unwrap();
        instantiate(backend, &pre).await
    }

    #[tokio::test]
    async fn a_module_is_made_ahead_only_if_instantiating_runs_no_code() {
        let plain =
            ahead("(module (memory (export \"memory\") 2) (func (export \"_start\")))").await;
        let warm = plain.expect("a module without a start function is made ahead");
        assert_eq!(warm.memory, 2 * 65536);
        let started = ahead(
            "(module (memory 1) (global $g (mut i32) (i32.const 0)) \
             (func $s (global.set $g (i32.const 1))) (start $s))",
        )
        .await;
        assert!(
            started.is_none(),
            "a start function must not run ahead of time"
        );
    }
}
