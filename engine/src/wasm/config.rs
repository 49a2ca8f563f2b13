//! The WebAssembly configuration every part of the engine shares: Wasmtime's settings (and the
//! throwaway engine's for pre-initialisation), the epoch tick that paces deadlines, and the
//! table, stack and memory-image constants the limits rely on. Kept apart so the backend's
//! modules depend on it rather than on the [`Engine`](crate::Engine) that uses it.

use std::time::Duration;

/// How often the epoch advances. Deadlines, output-limit and terminate requests take effect within
/// one tick; a running guest also yields to the async executor once per tick.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Largest table a guest may have (function tables of big interpreters hold 10^5 entries).
pub(crate) const MAX_TABLE_ELEMENTS: usize = 1 << 20;
/// Native stack a guest may use, and the fiber stack that holds it (plus room for host calls).
///
/// Sized for CPython's C-level recursion: CPython stops it by watching its *linear-memory* stack
/// (a window of 1020 KiB under SoulBox, see `soulbox_runtimes::stack`), but every wasm frame
/// also takes native stack, up to ~12x as much for `repr` of nested lists (measured: 32,000
/// levels use the whole window and 8-12 MiB natively). 24 MiB keeps CPython's `RecursionError`
/// ahead of a native overflow with a 2x margin. It is address space until a guest recurses: the
/// pooling allocator reserves it per slot and touches only what is used.
const MAX_WASM_STACK: usize = 24 << 20;
const ASYNC_STACK: usize = 26 << 20;

/// Initial heaps up to this size always get a copy-on-write memory image, however sparse their
/// data (wasmtime's default, 16 MiB, left the 70 MiB Ruby image to be copied in at every
/// instantiation). It bounds what compiling a hostile module with sparse data can allocate.
pub(crate) const DENSE_IMAGE_LIMIT: u64 = 128 << 20;

/// Wasmtime settings (`pooling`: the pooling allocator sized for that many instances, else
/// on-demand allocation). The compatibility hash of the resulting engine keys the module cache, so
/// anything here that changes generated code also invalidates cached `.cwasm` files.
pub(crate) fn wasm_config(pooling: Option<u32>) -> wasmtime::Config {
    let mut c = wasmtime::Config::new();
    c.epoch_interruption(true)
        .consume_fuel(true)
        .wasm_exceptions(true)
        .max_wasm_stack(MAX_WASM_STACK)
        .async_stack_size(ASYNC_STACK)
        .memory_init_cow(true)
        .memory_guaranteed_dense_image_size(DENSE_IMAGE_LIMIT);
    if let Some(max_instances) = pooling {
        let n = max_instances.max(1);
        let mut pool = wasmtime::PoolingAllocationConfig::new();
        pool.total_core_instances(n)
            .total_memories(n)
            .total_tables(n)
            .total_stacks(n)
            .max_memories_per_module(1)
            .max_tables_per_module(4)
            .table_elements(MAX_TABLE_ELEMENTS)
            .max_memory_size(4 << 30)
            .max_core_instance_size(16 << 20)
            // Keep a little of each slot's memory mapped between uses: resetting it is then a
            // memset instead of a page-fault storm on the next instantiation.
            .linear_memory_keep_resident(1 << 20)
            .table_keep_resident(64 << 10);
        c.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    }
    c
}

/// Settings for the throwaway engine that boots an interpreter once to make a pre-initialised
/// image: the same wasm features and stacks as guests get, no fuel or epochs (the boot is the
/// engine's own code), and Cranelift without optimisation (the module runs once; compiling it
/// fast matters more).
pub(crate) fn preinit_config() -> wasmtime::Config {
    let mut c = wasm_config(None);
    c.epoch_interruption(false)
        .consume_fuel(false)
        .cranelift_opt_level(wasmtime::OptLevel::None);
    c
}
