//! The WebAssembly backend: runs a compiled WASI preview1 command, or an interpreter through its
//! [`Driver`](soulbox_runtimes::Driver), under the sandbox's limits. Both take the same path
//! below; a driver only adds its argv/env/directories and replaces the `_start` call.
//!
//! - wall clock: epoch interruption ([`deadline`]), plus an async timeout for guests blocked in a
//!   host call;
//! - CPU: fuel, always counted, limited when the config says so;
//! - memory: [`memory::MemoryLimiter`] on every linear-memory and table growth;
//! - output: [`CapturedOutput`] caps and streams stdout/stderr (`output.rs` hands it to WASI);
//! - files: only the workspace, preopened through WASI (cap-std) at `/work` and as the current
//!   directory.

mod backend;
pub(crate) mod config;
mod deadline;
mod disk;
mod fs_guard;
pub(crate) mod live;
mod memory;
mod module_cache;
mod pool;
pub(crate) mod preinit;
mod shadow;
pub(crate) mod snapshot;
mod wasi_output;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use soulbox_runtimes::{DriverHost, DriverState, Invocation};
use wasmtime::{Linker, Module, Store, Trap};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

pub(crate) use backend::{Parts as WasmParts, PreparedRuntime, WasmBackend};
pub(crate) use deadline::deadline_after;
use deadline::{under_deadline, until};
use memory::MemoryLimiter;
pub(crate) use memory::declared_memory;
pub(crate) use module_cache::ModuleCache;
pub use pool::WarmPoolStats;
pub(crate) use pool::WarmPools;

use crate::guest::GuestContext;
use crate::outcome::Outcome;
use crate::output::CapturedOutput;
use crate::stop::{RunSignals, StopReason};
use crate::workspace::GUEST_WORKDIR;
use crate::{Result, SandboxConfig, SoulBoxError, Status, Stdin};

/// Fuel handed to the VM at a time; the guest also yields to the executor at each refill.
const FUEL_SLICE: u64 = 10_000_000;

/// Store data of one guest.
pub(crate) struct GuestState {
    wasi: WasiP1Ctx,
    limiter: MemoryLimiter,
    driver: DriverState,
    /// What the guest may still write to disk (reset by [`arm`] for each execution).
    disk: disk::DiskBudget,
    /// The host directories behind the guest's directory descriptors (see [`fs_guard`]).
    dirs: fs_guard::HostDirs,
    /// The current execution's host channel (tools, allow-listed HTTP), if it has one.
    pub(crate) channel: Option<Arc<soulbox_host::HostChannel>>,
}

impl GuestState {
    /// Store data around a WASI context, with `memory_limit` bytes of linear memory allowed.
    /// Its directory descriptors are unknown to the guards (no path call is allowed to climb
    /// or open a special file) until [`adopt`](Self::adopt) or [`build_guest`] sets them.
    pub(crate) fn new(wasi: WasiP1Ctx, memory_limit: u64) -> Self {
        Self {
            wasi,
            limiter: MemoryLimiter::new(memory_limit),
            driver: DriverState::default(),
            disk: disk::DiskBudget::new(0, 0),
            dirs: fs_guard::HostDirs::default(),
            channel: None,
        }
    }

    /// Hands a warm instance's store to one execution: its WASI context and the host
    /// directories behind it, its memory limit (the memory the instance already has counts),
    /// fresh driver state.
    fn adopt(&mut self, wasi: WasiP1Ctx, dirs: fs_guard::HostDirs, memory_limit: u64) {
        let current = self.limiter.current();
        self.wasi = wasi;
        self.dirs = dirs;
        self.limiter = MemoryLimiter::starting_at(memory_limit, current);
        self.driver = DriverState::default();
        self.disk = disk::DiskBudget::new(0, 0);
        self.channel = None;
    }
}

impl DriverHost for GuestState {
    fn driver_state(&mut self) -> &mut DriverState {
        &mut self.driver
    }

    fn host_channel(&self) -> Option<Arc<soulbox_host::HostChannel>> {
        self.channel.clone()
    }
}

/// An interpreter run: the prepared runtime and what its driver decided for this run.
pub(crate) struct DriverRun {
    pub runtime: Arc<PreparedRuntime>,
    pub invocation: Invocation,
}

/// What the wasm backend runs: a WASI command module, or an interpreter through its driver.
pub(crate) enum WasmProgram {
    /// A compiled WASI command module and its argv (program name first).
    Module { module: Module, argv: Vec<String> },
    /// An interpreter from the runtime catalogue.
    Interpreter(Box<DriverRun>),
}

/// Plain WASI preview1, asynchronous: what the engine's own boot of a pre-initialised image
/// links against, and the base the disk-budget wrappers shadow.
pub(crate) fn wasi_linker(engine: &wasmtime::Engine) -> Result<Linker<GuestState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_async(&mut linker, |s: &mut GuestState| &mut s.wasi)
        .map_err(|e| SoulBoxError::Engine(format!("linking WASI: {e:#}")))?;
    Ok(linker)
}

/// The linker shared by all guests of an engine: `base` (plain WASI) with the calls that
/// consume disk or could leave the guest's directories shadowed ([`shadow`]).
pub(crate) fn linker(base: &Linker<GuestState>) -> Result<Linker<GuestState>> {
    shadow::linker(base)
}

/// A directory other than the workspace that a runtime needs (read-only unless stated).
#[derive(Debug, Clone)]
pub(crate) struct Preopen {
    pub host: std::path::PathBuf,
    pub guest: String,
    pub writable: bool,
}

/// Everything one wasm run needs.
pub(crate) struct WasmRun<'a> {
    /// What runs.
    pub program: WasmProgram,
    /// Limits, workspace, environment, stdin, output and stop signals.
    pub guest: GuestContext<'a>,
    /// When the run must end (the execution's timeout, less what compiling the module took).
    pub deadline: Instant,
}

/// The isolation a wasm run has: the wasm wall itself, WASI preview1 (no sockets), and a
/// filesystem that is only the workspace (plus read-only runtime files).
const WASM_ISOLATION: [&str; 3] = ["wasm", "wasi-preview1-no-sockets", "workspace-only-fs"];

/// A store for one guest, with WASI (argv, env, stdin, workspace and extra preopens) wired to
/// fresh output captures. Shared by one-shot runs and sessions.
pub(crate) struct GuestStore {
    pub store: Store<GuestState>,
    pub stdout: CapturedOutput,
    pub stderr: CapturedOutput,
}

/// What WASI gets for a guest: its argv, its context (whose `env` here is the runtime's
/// variables, then the caller's - later wins) and the driver's directories.
pub(crate) struct GuestSetup<'a> {
    pub argv: &'a [String],
    pub guest: GuestContext<'a>,
    pub preopens: Vec<Preopen>,
}

pub(crate) fn guest_store(backend: &WasmBackend, setup: GuestSetup<'_>) -> Result<GuestStore> {
    build_guest(backend, setup, None).map(|(guest, _)| guest)
}

/// Like [`guest_store`], on a warm instance of `runtime` from the engine's pool when one is ready
/// (see [`pool`]); the instance comes back with the store, else the caller instantiates.
pub(crate) fn warm_guest_store(
    backend: &WasmBackend,
    setup: GuestSetup<'_>,
    runtime: &Arc<PreparedRuntime>,
) -> Result<(GuestStore, Option<wasmtime::Instance>)> {
    let warm = backend
        .pools
        .take(backend, runtime, setup.guest.config.memory_limit);
    build_guest(backend, setup, warm)
}

fn build_guest(
    backend: &WasmBackend,
    setup: GuestSetup<'_>,
    warm: Option<pool::Warm>,
) -> Result<(GuestStore, Option<wasmtime::Instance>)> {
    let GuestSetup {
        argv,
        guest,
        preopens,
    } = setup;
    let config = guest.config;
    let (stdout, stderr) =
        CapturedOutput::pair(config.max_output_bytes, &guest.signals, guest.events);
    let wasi = wasi_ctx(
        argv,
        &guest.env,
        guest.stdin,
        guest.workspace,
        &preopens,
        (&stdout, &stderr),
    )?;
    let dirs = fs_guard::HostDirs::for_preopens(
        preopen_layout(guest.workspace, &preopens)
            .into_iter()
            .map(|(host, _, _)| host),
    )
    .map_err(|e| SoulBoxError::io("opening the guest's directories", e))?;
    let channel = guest.channel;
    let (store, instance) = match warm {
        Some(mut warm) => {
            warm.store.data_mut().adopt(wasi, dirs, config.memory_limit);
            warm.store.data_mut().channel = channel;
            (warm.store, Some(warm.instance))
        }
        None => {
            let mut state = GuestState::new(wasi, config.memory_limit);
            state.dirs = dirs;
            state.channel = channel;
            let mut store = Store::new(&backend.engine, state);
            store.limiter(|s| &mut s.limiter);
            // Refuelling in slices makes the count visible to the host even when the guest is
            // stopped mid-loop (the VM keeps its live counter in a register between refuels).
            store
                .fuel_async_yield_interval(Some(FUEL_SLICE))
                .map_err(|e| SoulBoxError::Engine(format!("setting fuel: {e:#}")))?;
            (store, None)
        }
    };
    Ok((
        GuestStore {
            store,
            stdout,
            stderr,
        },
        instance,
    ))
}

/// WASI for a guest: argv, environment, stdin, output, and the preopened directories in the one
/// order every guest of a runtime shares (the workspace at `/work` and as `.`, then the driver's
/// directories). A pre-initialised image remembers the descriptor number of each preopened path,
/// so this order must be the same when the image is made and when it runs.
pub(crate) fn wasi_ctx(
    argv: &[String],
    env: &[(String, String)],
    stdin: Stdin,
    workspace: &Path,
    preopens: &[Preopen],
    (stdout, stderr): (&CapturedOutput, &CapturedOutput),
) -> Result<WasiP1Ctx> {
    let mut wasi = WasiCtxBuilder::new();
    wasi.args(argv)
        .stdout(stdout.clone())
        .stderr(stderr.clone());
    for (key, value) in env {
        wasi.env(key, value);
    }
    match stdin {
        Stdin::Empty => {}
        Stdin::Bytes(bytes) => {
            wasi.stdin(MemoryInputPipe::new(bytes));
        }
        Stdin::Inherit => {
            wasi.inherit_stdin();
        }
    }
    for (host, guest, perms) in preopen_layout(workspace, preopens) {
        wasi.preopened_dir(host, guest, perms).map_err(|e| {
            SoulBoxError::Engine(format!("preopening {} at {guest}: {e:#}", host.display()))
        })?;
    }
    Ok(wasi.build_p1())
}

/// The preopened directories of a guest in descriptor order: the workspace at `/work` and as
/// `.`, then the driver's directories.
fn preopen_layout<'a>(
    workspace: &'a Path,
    preopens: &'a [Preopen],
) -> Vec<(&'a Path, &'a str, FsPerms)> {
    let mut layout = vec![
        (workspace, GUEST_WORKDIR, FsPerms::ReadWrite),
        (workspace, ".", FsPerms::ReadWrite),
    ];
    layout.extend(preopens.iter().map(|p| {
        let perms = if p.writable {
            FsPerms::ReadWrite
        } else {
            FsPerms::ReadOnly
        };
        (p.host.as_path(), p.guest.as_str(), perms)
    }));
    layout
}

/// Arms the per-execution limits on `store`: a fresh fuel budget and a wall-clock deadline
/// (the config's timeout from now) reported through `signals`. Returns the fuel handed out.
pub(crate) fn arm(
    store: &mut Store<GuestState>,
    config: &SandboxConfig,
    signals: Arc<RunSignals>,
) -> Result<u64> {
    arm_until(
        store,
        config,
        signals,
        deadline_after(Instant::now(), config.timeout),
    )
}

/// [`arm`] with the deadline given.
pub(crate) fn arm_until(
    store: &mut Store<GuestState>,
    config: &SandboxConfig,
    signals: Arc<RunSignals>,
    deadline: Instant,
) -> Result<u64> {
    store.data_mut().disk = disk::DiskBudget::new(config.max_disk_bytes, config.max_disk_entries);
    let initial_fuel = config.fuel.unwrap_or(u64::MAX);
    store
        .set_fuel(initial_fuel)
        .map_err(|e| SoulBoxError::Engine(format!("setting fuel: {e:#}")))?;
    store.set_epoch_deadline(1);
    let pause = deadline::throttle_pause(config.cpu_quota, config::EPOCH_TICK);
    store.epoch_deadline_callback(move |_| deadline::on_epoch_tick(&signals, deadline, pause));
    Ok(initial_fuel)
}

/// The outcome of an execution on `guest` that ended with `result`.
pub(crate) fn outcome(
    guest: &GuestStore,
    result: wasmtime::Result<()>,
    signals: &RunSignals,
    config: &SandboxConfig,
    initial_fuel: u64,
    explain: &dyn Fn(Trap) -> Option<String>,
) -> Outcome {
    let fuel_left = guest.store.get_fuel().unwrap_or(0);
    let limiter = &guest.store.data().limiter;
    let (status, exit_code, error) = classify(
        result,
        signals.reason(),
        Hits {
            memory: limiter.limit_hit(),
            disk: guest.store.data().disk.limit_hit(),
        },
        config,
        explain,
    );
    Outcome {
        status,
        exit_code,
        stdout: guest.stdout.contents(),
        stderr: guest.stderr.contents(),
        memory_peak: limiter.peak(),
        fuel_consumed: initial_fuel.saturating_sub(fuel_left),
        error,
        isolation: isolation(),
    }
}

/// The isolation list of a wasm run.
pub(crate) fn isolation() -> Vec<String> {
    WASM_ISOLATION.iter().map(|s| (*s).to_owned()).collect()
}

/// Runs `_start` of a WASI command module.
pub(crate) async fn run(backend: &WasmBackend, mut run: WasmRun<'_>) -> Result<Outcome> {
    let (pre, driver, argv) = match &mut run.program {
        WasmProgram::Module { module, argv } => {
            let pre = backend.linker.instantiate_pre(module).map_err(|e| {
                SoulBoxError::InvalidModule(format!("cannot link the module: {e:#}"))
            })?;
            (pre, None, &*argv)
        }
        WasmProgram::Interpreter(d) => {
            d.invocation.caller_env = run.guest.env.clone();
            (d.runtime.pre.clone(), Some(&*d), &d.invocation.argv)
        }
    };
    let config = run.guest.config;
    let signals = run.guest.signals.clone();
    // The runtime's own variables first, so the caller's can override them.
    let env = driver
        .iter()
        .flat_map(|d| d.invocation.env.iter())
        .chain(run.guest.env.iter())
        .cloned()
        .collect();
    let preopens = driver
        .iter()
        .flat_map(|d| driver_preopens(&d.invocation))
        .collect();
    let setup = GuestSetup {
        argv,
        guest: GuestContext { env, ..run.guest },
        preopens,
    };
    let (mut guest, warm_instance) = match driver {
        Some(d) => warm_guest_store(backend, setup, &d.runtime)?,
        None => (guest_store(backend, setup)?, None),
    };
    let initial_fuel = arm_until(&mut guest.store, config, signals.clone(), run.deadline)?;

    let store = &mut guest.store;
    let call = async {
        let instance = match warm_instance {
            Some(instance) => instance,
            None => pre.instantiate_async(&mut *store).await?,
        };
        if let Some(d) = driver {
            return d
                .runtime
                .driver
                .enter(&mut *store, instance, &d.invocation)
                .await;
        }
        let start = instance
            .get_typed_func::<(), ()>(&mut *store, "_start")
            .map_err(|_| wasmtime::Error::new(NotACommand))?;
        start.call_async(&mut *store, ()).await
    };
    let result = until(run.deadline, &signals, call).await;
    if let Err(e) = &result
        && e.is::<NotACommand>()
    {
        return Err(SoulBoxError::InvalidModule(
            "the module has no `_start` export; SoulBox runs WASI command modules (a program with a main function)".into(),
        ));
    }
    let explain = |trap: Trap| driver.and_then(|d| d.runtime.driver.explain_trap(trap));
    Ok(outcome(
        &guest,
        result,
        &signals,
        config,
        initial_fuel,
        &explain,
    ))
}

/// The directories a driver asked for, as preopens.
pub(crate) fn driver_preopens(invocation: &Invocation) -> impl Iterator<Item = Preopen> + '_ {
    invocation.dirs.iter().map(|d| Preopen {
        host: d.host.clone(),
        guest: d.guest.clone(),
        writable: d.writable,
    })
}

#[derive(Debug, thiserror::Error)]
#[error("module has no _start export")]
struct NotACommand;

/// Maps how the call ended (plus what the engine itself stopped) onto a status.
fn disk_error(config: &SandboxConfig) -> String {
    format!(
        "the guest tried to write more than its disk limit ({} bytes, {} files and directories per execution)",
        config.max_disk_bytes, config.max_disk_entries
    )
}

/// Limits the guest ran into without being stopped (it may have handled the failure).
struct Hits {
    memory: bool,
    disk: bool,
}

fn classify(
    result: wasmtime::Result<()>,
    stopped: Option<StopReason>,
    hits: Hits,
    config: &SandboxConfig,
    explain_trap: &dyn Fn(Trap) -> Option<String>,
) -> (Status, Option<i32>, Option<String>) {
    if let Some(reason) = stopped {
        let (status, message) = reason.status(config);
        return (status, None, Some(message));
    }
    let memory_error = || {
        format!(
            "the guest needed more memory than its limit of {} bytes",
            config.memory_limit
        )
    };
    let err = match result {
        Ok(()) => return (Status::Ok, Some(0), None),
        Err(err) => err,
    };
    if let Some(exit) = err.downcast_ref::<I32Exit>() {
        return match exit.0 {
            0 => (Status::Ok, Some(0), None),
            code if hits.memory => (Status::MemoryLimit, Some(code), Some(memory_error())),
            code if hits.disk => (Status::DiskLimit, Some(code), Some(disk_error(config))),
            code => (Status::Error, Some(code), None),
        };
    }
    if err.downcast_ref::<Trap>() == Some(&Trap::OutOfFuel) {
        return (
            Status::FuelExhausted,
            None,
            Some(format!(
                "fuel exhausted after {} units",
                config.fuel.unwrap_or(u64::MAX)
            )),
        );
    }
    if hits.memory {
        return (Status::MemoryLimit, None, Some(memory_error()));
    }
    let message = match err.downcast_ref::<Trap>() {
        Some(trap) => match explain_trap(*trap) {
            // A trap's own text already starts with "wasm trap:".
            Some(explanation) => format!("{trap}: {explanation}"),
            None => format!("{trap}"),
        },
        None => format!("{err:#}"),
    };
    (Status::Trap, None, Some(message))
}
