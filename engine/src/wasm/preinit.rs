//! Pre-initialised images: an interpreter booted once, then snapshotted into a new module.
//!
//! Booting CPython with numpy, pandas and matplotlib takes more than a second; booting Ruby
//! about 90 ms. Both do the same work every time, so SoulBox does it once per install:
//!
//! 1. `wasmtime-wizer` instruments the runtime's module (exports its globals and memory);
//! 2. the instrumented module runs on a throwaway engine (Cranelift without optimisation: it runs
//!    once), in the same WASI layout as every later run: the workspace at `/work` and `.`, then
//!    the driver's directories, in that order;
//! 3. the driver boots it ([`Driver::preinitialise`]): `_initialize`, the helper module, the
//!    preloaded packages (Python); `_initialize` and `ruby-init` (Ruby);
//! 4. Wizer snapshots linear memory and globals into data segments of a new module, which the
//!    engine compiles and caches like any module: `$SOULBOX_HOME/modules/<key>-<engine>-<format>.cwasm`,
//!    mmapped and checked on load, with `<key>` derived from the runtime's sha256, the boot
//!    recipe, the directory layout and the Wizer version (change any and a new image is made).
//!
//! Every execution still gets a fresh instance of the image: with the pooling allocator its
//! memory is a copy-on-write mapping of the snapshot, so nothing is shared between runs.
//!
//! What a snapshot freezes, and how each is handled:
//! - the preopen table (descriptor number per guest path): guaranteed identical by
//!   [`wasi_ctx`](super::wasi_ctx), which lays out every guest the same way; the host
//!   directories behind the paths differ per run, as they should;
//! - the environment: the driver re-applies the caller's variables before any code runs;
//! - random seeds (`random`, numpy's global generator, `tempfile` names, Ruby's `rand`): the
//!   driver reseeds from WASI `random_get` before any code runs;
//! - Python's string-hash secret and Ruby's hash seed: fixed per image (made on each machine,
//!   from that machine's entropy) and NOT changed per run: hash order is the same in every run on
//!   one install; hash-flooding resistance across runs is reduced accordingly. Runs that need a
//!   fresh secret can turn images off ([`EngineConfig::preinit`](crate::EngineConfig::preinit)).
//!
//! A build that fails leaves a `.failed` note next to the cache and the runtime boots from
//! scratch as before; delete the note to try again.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use soulbox_runtimes::{Driver, Invocation};
use wasmtime::{Linker, Module, Store, Val};
use wasmtime_wizer::{InstanceState, SnapshotVal, ValType, Wizer};

use super::{GuestState, Preopen, driver_preopens, wasi_ctx};
use crate::output::CapturedOutput;
use crate::stop::RunSignals;
use crate::{Result, SoulBoxError, Stdin};

/// Version of this procedure; part of every image key.
const IMAGE_FORMAT: &str = "soulbox-image-v1 wasmtime-wizer-48.0.8";
/// Memory the boot may use.
const BOOT_MEMORY: u64 = 2 << 30;
/// Output kept from the boot, for error messages.
const BOOT_OUTPUT: u64 = 64 << 10;

/// The cache key of the image of the module with `module_sha256` made with `recipe` in the layout of `invocation`.
pub(crate) fn image_key(module_sha256: &str, recipe: &str, invocation: &Invocation) -> String {
    let mut h = Sha256::new();
    for part in [IMAGE_FORMAT, module_sha256, recipe] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for dir in &invocation.dirs {
        h.update(dir.guest.as_bytes());
        h.update([0]);
    }
    format!("image-{}", hex::encode(h.finalize()))
}

/// Where a failed build leaves its note.
pub(crate) fn failure_note(home: &Path, key: &str) -> PathBuf {
    home.join("modules").join(format!("{key}.failed"))
}

/// Makes the image: boots `module` with `driver` and snapshots it. Blocking (its own
/// single-threaded executor); call it from a blocking thread.
pub(crate) fn build(
    module: &[u8],
    driver: Arc<dyn Driver<GuestState>>,
    invocation: &Invocation,
) -> Result<Vec<u8>> {
    let executor = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| SoulBoxError::io("starting the image builder", e))?;
    executor.block_on(build_async(module, driver, invocation))
}

async fn build_async(
    module: &[u8],
    driver: Arc<dyn Driver<GuestState>>,
    invocation: &Invocation,
) -> Result<Vec<u8>> {
    let name = driver.runtime().name;
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        SoulBoxError::Engine(format!(
            "pre-initialising {name}: {what}: {e}; runs will boot it from scratch"
        ))
    };
    let mut wizer = Wizer::new();
    // The image no longer exports `_initialize`: it has run, and must not run again.
    wizer.init_func("_initialize").keep_init_func(false);
    let (cx, instrumented) = wizer
        .instrument(module)
        .map_err(|e| fail("instrumenting the module", &format!("{e:#}")))?;

    let engine = wasmtime::Engine::new(&super::config::preinit_config())
        .map_err(|e| fail("configuring wasmtime", &format!("{e:#}")))?;
    let compiled = Module::new(&engine, &instrumented)
        .map_err(|e| fail("compiling the instrumented module", &format!("{e:#}")))?;
    drop(instrumented);
    let mut linker: Linker<GuestState> = super::wasi_linker(&engine)?;
    driver.link(&mut linker)?;
    linker
        .define_unknown_imports_as_traps(&compiled)
        .map_err(|e| fail("linking", &format!("{e:#}")))?;

    let workspace = tempfile::Builder::new()
        .prefix("soulbox-image-work-")
        .tempdir()
        .map_err(|e| SoulBoxError::io("creating the image builder's workspace", e))?;
    let signals = Arc::new(RunSignals::default());
    let (stdout, stderr) = CapturedOutput::pair(BOOT_OUTPUT, &signals, None);
    let preopens: Vec<Preopen> = driver_preopens(invocation).collect();
    let wasi = wasi_ctx(
        &invocation.argv,
        &invocation.env,
        Stdin::Empty,
        workspace.path(),
        &preopens,
        (&stdout, &stderr),
    )?;
    let mut store = Store::new(&engine, GuestState::new(wasi, BOOT_MEMORY));
    store.limiter(|s| &mut s.limiter);
    let instance = linker
        .instantiate_async(&mut store, &compiled)
        .await
        .map_err(|e| fail("instantiating", &format!("{e:#}")))?;
    if let Err(e) = driver.preinitialise(&mut store, instance, invocation).await {
        let output = String::from_utf8_lossy(&stderr.contents()).into_owned();
        return Err(fail(
            "booting",
            &format!("{e:#}; its stderr: {}", output.trim()),
        ));
    }
    let mut state = Snapshotting {
        store: &mut store,
        instance,
    };
    wizer
        .snapshot(&cx, &mut state)
        .await
        .map_err(|e| fail("snapshotting", &format!("{e:#}")))
}

/// What Wizer reads the booted instance through.
struct Snapshotting<'a> {
    store: &'a mut Store<GuestState>,
    instance: wasmtime::Instance,
}

impl InstanceState for Snapshotting<'_> {
    async fn global_get(&mut self, name: &str, _type_hint: ValType) -> SnapshotVal {
        // Wizer asks only for globals its instrumentation exported, with their declared types.
        let value = self
            .instance
            .get_global(&mut *self.store, name)
            .map(|g| g.get(&mut *self.store));
        match value {
            Some(Val::I32(x)) => SnapshotVal::I32(x),
            Some(Val::I64(x)) => SnapshotVal::I64(x),
            Some(Val::F32(x)) => SnapshotVal::F32(x),
            Some(Val::F64(x)) => SnapshotVal::F64(x),
            Some(Val::V128(x)) => SnapshotVal::V128(x.as_u128()),
            // Not reachable for a module Wizer accepted (it refuses reference-typed mutable
            // globals); an I32 zero keeps the snapshot well-formed if it ever were.
            _ => SnapshotVal::I32(0),
        }
    }

    async fn memory_contents(&mut self, name: &str, contents: impl FnOnce(&[u8]) + Send) {
        match self.instance.get_memory(&mut *self.store, name) {
            Some(memory) => contents(memory.data(&*self.store)),
            None => contents(&[]),
        }
    }
}
