//! The component backend: runs a WebAssembly **component** - a `wasi:cli/command` built for WASI
//! preview 2 (`wasm32-wasip2`, or any component exporting `wasi:cli/run`) - under the same
//! limits and statuses as the preview 1 modules of [`crate::wasm`]:
//!
//! - memory: the same [`MemoryLimiter`] on every core memory and table of the component;
//! - fuel and the wall-clock deadline: the same per-store fuel budget and epoch callback
//!   ([`crate::wasm::arm_limits`]), plus the async timeout for a guest blocked in a host call;
//! - output: the same [`CapturedOutput`] as stdout/stderr (writing past the cap traps:
//!   `output_limit`);
//! - files: the workspace preopened through `wasmtime-wasi` (cap-std) at `/work` and as `.`;
//! - network: `wasi:sockets` is linked (the standard library imports it) but TCP, UDP and name
//!   lookups are off and every address is refused; HTTP goes through `soulbox:sandbox/http`,
//!   the sandbox's allow-list;
//! - SoulBox's own imports (`wit/`): `tools` and `http` served by the execution's
//!   [`HostChannel`], `executor` by the sandbox itself (nested sandboxes, limits clamped to its
//!   own - see `crate::component`).
//!
//! Not enforced for components (stated in the result's isolation list and docs/limits.md):
//! the disk budget (`max_disk_bytes`, `max_disk_entries`) and the special-file/escaping-link
//! guards, which wrap WASI preview 1 calls only.

use std::sync::Arc;
use std::time::Instant;

use soulbox_host::component::{ExecutorHost, GuestHost};
use soulbox_host::{ExecutorBackend, HostChannel};
use wasmtime::Store;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::guest::GuestContext;
use crate::outcome::Outcome;
use crate::output::CapturedOutput;
use crate::wasm::{FUEL_SLICE, Hits, MemoryLimiter};
use crate::workspace::GUEST_WORKDIR;
use crate::{Result, SoulBoxError, Stdin};

/// The isolation a component run has. `workspace-read-only`: the disk budget and the
/// filesystem guard are WASI preview 1 wrappers, so rather than let a component grow files
/// unbudgeted or plant links, its workspace is read-only (see the module docs).
const COMPONENT_ISOLATION: [&str; 5] = [
    "wasm",
    "component-model",
    "wasi-preview2-sockets-denied",
    "workspace-only-fs",
    "workspace-read-only",
];

/// Store data of one component run.
pub(crate) struct ComponentState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: MemoryLimiter,
    channel: Arc<HostChannel>,
    executor: Arc<dyn ExecutorBackend>,
}

impl WasiView for ComponentState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The linker every component run shares (one per engine): WASI preview 2 plus SoulBox's
/// `tools`, `http` and `executor`.
pub(crate) fn linker(engine: &wasmtime::Engine) -> Result<Linker<ComponentState>> {
    let link = |what: &str, e: wasmtime::Error| {
        SoulBoxError::Engine(format!("linking {what} for components: {e:#}"))
    };
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| link("WASI preview 2", e))?;
    soulbox_host::component::add_guest_to_linker(&mut linker, |s: &mut ComponentState| GuestHost {
        channel: &s.channel,
    })
    .map_err(|e| link("soulbox:sandbox/tools and http", e))?;
    soulbox_host::component::add_executor_to_linker(&mut linker, |s: &mut ComponentState| {
        ExecutorHost {
            table: &mut s.table,
            backend: &*s.executor,
        }
    })
    .map_err(|e| link("soulbox:sandbox/executor", e))?;
    Ok(linker)
}

/// Whether `binary` is a component rather than a core module.
pub(crate) fn is_component(binary: &[u8]) -> bool {
    wasmparser::Parser::is_component(binary)
}

/// Compiles a component (Cranelift; blocking - the caller runs it on a blocking thread under
/// the execution's deadline).
pub(crate) fn compile(engine: &wasmtime::Engine, binary: &[u8]) -> Result<Component> {
    Component::new(engine, binary)
        .map_err(|e| SoulBoxError::InvalidModule(format!("the component does not compile: {e:#}")))
}

/// Everything one component run needs.
pub(crate) struct ComponentRun<'a> {
    /// The compiled component.
    pub component: Component,
    /// Its argv, program name first.
    pub argv: Vec<String>,
    /// Limits, workspace, environment, stdin, output and stop signals.
    pub guest: GuestContext<'a>,
    /// When the run must end.
    pub deadline: Instant,
    /// Creates the sandboxes the component asks for through `executor`.
    pub executor: Arc<dyn ExecutorBackend>,
}

/// Runs `wasi:cli/run` of a component.
pub(crate) async fn run(
    engine: &wasmtime::Engine,
    linker: &Linker<ComponentState>,
    run: ComponentRun<'_>,
) -> Result<Outcome> {
    let ComponentRun {
        component,
        argv,
        guest,
        deadline,
        executor,
    } = run;
    // The component reaches the execution's channel through its WIT imports (`tools`, `http`).
    let channel = guest.channel.clone().ok_or_else(|| {
        SoulBoxError::Engine("a component run was started without its host channel".into())
    })?;
    let config = guest.config;
    let signals = guest.signals.clone();
    let (stdout, stderr) =
        CapturedOutput::pair(config.max_output_bytes, &guest.signals, guest.events);
    let mut wasi = WasiCtxBuilder::new();
    wasi.args(&argv)
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    for (key, value) in &guest.env {
        wasi.env(key, value);
    }
    match guest.stdin {
        Stdin::Empty => {}
        Stdin::Bytes(bytes) => {
            wasi.stdin(MemoryInputPipe::new(bytes));
        }
        Stdin::Inherit => {
            wasi.inherit_stdin();
        }
    }
    for name in [GUEST_WORKDIR, "."] {
        // Read-only: preview 2's filesystem has no disk budget or link guard here yet.
        wasi.preopened_dir(guest.workspace, name, FsPerms::ReadOnly)
            .map_err(|e| {
                SoulBoxError::Engine(format!(
                    "preopening {} at {name}: {e:#}",
                    guest.workspace.display()
                ))
            })?;
    }
    let pre = linker.instantiate_pre(&component).map_err(|e| {
        SoulBoxError::InvalidModule(format!(
            "cannot link the component: {e:#} (SoulBox gives components WASI preview 2 and \
             soulbox:sandbox/{{tools,http,executor}}@0.1.0)"
        ))
    })?;
    let command = CommandPre::new(pre).map_err(|e| {
        SoulBoxError::InvalidModule(format!(
            "the component is not a command: it must export wasi:cli/run (a program with a \
             main function): {e:#}"
        ))
    })?;
    let mut store = Store::new(
        engine,
        ComponentState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(config.memory_limit),
            channel,
            executor,
        },
    );
    store.limiter(|s| &mut s.limiter);
    store
        .fuel_async_yield_interval(Some(FUEL_SLICE))
        .map_err(|e| SoulBoxError::Engine(format!("setting fuel: {e:#}")))?;
    let initial_fuel = crate::wasm::arm_limits(&mut store, config, signals.clone(), deadline)?;
    let call = async {
        let command = command.instantiate_async(&mut store).await?;
        match command.wasi_cli_run().call_run(&mut store).await? {
            Ok(()) => Ok(()),
            // `run` returning an error is how a preview 2 program exits non-zero.
            Err(()) => Err(wasmtime::Error::new(I32Exit(1))),
        }
    };
    let result = crate::wasm::until(deadline, &signals, call).await;
    let fuel_left = store.get_fuel().unwrap_or(0);
    let limiter = &store.data().limiter;
    let (status, exit_code, error) = crate::wasm::classify(
        result,
        signals.reason(),
        Hits {
            memory: limiter.limit_hit(),
            disk: false,
        },
        config,
        &|_| None,
    );
    Ok(Outcome {
        status,
        exit_code,
        stdout: stdout.contents(),
        stderr: stderr.contents(),
        memory_peak: limiter.peak(),
        fuel_consumed: initial_fuel.saturating_sub(fuel_left),
        error,
        isolation: isolation(),
    })
}

/// The isolation list of a component run.
pub(crate) fn isolation() -> Vec<String> {
    COMPONENT_ISOLATION
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}
