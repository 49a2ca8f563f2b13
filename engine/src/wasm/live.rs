//! A live guest: one interpreter instance kept in its own long-lived store, running one cell
//! after another. Every cell gets the same limits machinery as a one-shot run (fresh fuel, a
//! wall-clock deadline, its own output capture); the memory limit covers the guest's whole life.

use std::path::Path;
use std::sync::Arc;

use soulbox_runtimes::Invocation;
use soulbox_runtimes::packages::layer::Layer;
use tokio::sync::mpsc::UnboundedSender;
use wasmtime::{Instance, Trap};

use super::snapshot::{self, Captured, GlobalValue, MemoryImage, PAGE, Payload};
use super::{
    GuestSetup, GuestStore, PreparedRuntime, WasmBackend, arm, driver_preopens, guest_store,
    outcome, under_deadline, warm_guest_store,
};
use crate::guest::GuestContext;
use crate::outcome::Outcome;
use crate::stop::RunSignals;
use crate::{Result, SandboxConfig, SoulBoxError, Status, Stdin, StreamOutput};

/// A session guest's WASI setup: the driver's argv, its environment before the caller's, and
/// its directories. `guest` is the session's context for this start (no stdin and no stream:
/// each cell attaches its own output).
fn session_setup<'a>(invocation: &'a Invocation, guest: GuestContext<'a>) -> GuestSetup<'a> {
    let env = invocation.env.iter().cloned().chain(guest.env).collect();
    GuestSetup {
        argv: &invocation.argv,
        guest: GuestContext {
            env,
            stdin: Stdin::Empty,
            events: None,
            ..guest
        },
        preopens: driver_preopens(invocation).collect(),
    }
}

/// A session's guest, or why there is none.
pub(crate) enum SessionState {
    Live(Box<LiveGuest>),
    /// Why the session cannot run code any more.
    Poisoned(String),
    /// The sandbox was terminated: the instance is gone.
    Closed,
}

/// A session's state, shared with its sandbox so `terminate` can free the instance.
pub(crate) type SessionSlot = tokio::sync::Mutex<SessionState>;

/// One interpreter instance that outlives executions.
pub(crate) struct LiveGuest {
    guest: GuestStore,
    instance: Instance,
    runtime: Arc<PreparedRuntime>,
    /// Keeps the runtime's private directories (its writable root) alive with the instance.
    invocation: Invocation,
    /// The sandbox's package generation this guest has seen (see `packages.rs`).
    pub(crate) packages_seen: u64,
}

/// How a cell ended, plus its final expression's value.
pub(crate) struct CellOutcome {
    pub outcome: Outcome,
    pub value: Option<String>,
}

impl LiveGuest {
    /// Instantiates `runtime` and lets its driver start the session, under the same limits as one
    /// execution. A start that fails for any reason (including a limit) is an error.
    pub(crate) async fn open(
        backend: &WasmBackend,
        runtime: Arc<PreparedRuntime>,
        context: GuestContext<'_>,
    ) -> Result<LiveGuest> {
        let mut invocation = runtime.driver.prepare_session(context.packages.as_ref())?;
        invocation.caller_env = context.env.clone();
        let (config, signals) = (context.config, context.signals.clone());
        let (mut guest, warm) =
            warm_guest_store(backend, session_setup(&invocation, context), &runtime)?;
        let fuel = arm(&mut guest.store, config, signals.clone())?;
        let store = &mut guest.store;
        let pre = runtime.pre.clone();
        let driver = runtime.driver.clone();
        let start = async {
            let instance = match warm {
                Some(instance) => instance,
                None => pre.instantiate_async(&mut *store).await?,
            };
            driver
                .open_session(&mut *store, instance, &invocation)
                .await?;
            Ok(instance)
        };
        let started = under_deadline(config, &signals, start).await;
        let instance = match started {
            Ok(instance) => instance,
            Err(e) => {
                let explain = |trap: Trap| runtime.driver.explain_trap(trap);
                let failed = outcome(&guest, Err(e), &signals, config, fuel, &explain);
                let mut reason = failed
                    .error
                    .unwrap_or_else(|| format!("the interpreter exited ({})", failed.status));
                let stderr = String::from_utf8_lossy(&failed.stderr);
                if !stderr.trim().is_empty() {
                    reason = format!("{reason}; its stderr: {}", stderr.trim());
                }
                return Err(SoulBoxError::SessionStart(reason));
            }
        };
        Ok(LiveGuest {
            guest,
            instance,
            runtime,
            invocation,
            packages_seen: 0,
        })
    }

    /// Makes the packages of the sandbox's layer (`packages`, as it is now) visible to the
    /// live interpreter, under the cell limits.
    pub(crate) async fn refresh_packages(
        &mut self,
        packages: &Layer,
        config: &SandboxConfig,
        signals: Arc<RunSignals>,
    ) -> Result<()> {
        arm(&mut self.guest.store, config, signals.clone())?;
        let call = self.runtime.driver.refresh_packages(
            &mut self.guest.store,
            self.instance,
            &self.invocation,
            packages,
        );
        under_deadline(config, &signals, call).await.map_err(|e| {
            SoulBoxError::Engine(format!("making new packages visible to the session: {e:#}"))
        })
    }

    /// A fresh instance of this guest's module in a new store with its own WASI context (same
    /// preopen layout, so descriptors of the preopened directories match) and a new private
    /// directory, not yet initialised: fork and restore overwrite its state.
    async fn blank(
        backend: &WasmBackend,
        runtime: Arc<PreparedRuntime>,
        context: GuestContext<'_>,
        fill_private: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<LiveGuest> {
        let invocation = runtime.driver.prepare_session(context.packages.as_ref())?;
        if let Some(dir) = invocation.private_dir() {
            fill_private(dir)?;
        }
        let (config, signals) = (context.config, context.signals.clone());
        let mut guest = guest_store(backend, session_setup(&invocation, context))?;
        arm(&mut guest.store, config, signals.clone())?;
        let store = &mut guest.store;
        let pre = runtime.pre.clone();
        let instance = under_deadline(config, &signals, pre.instantiate_async(&mut *store))
            .await
            .map_err(|e| SoulBoxError::SessionStart(format!("instantiating the copy: {e:#}")))?;
        Ok(LiveGuest {
            guest,
            instance,
            runtime,
            invocation,
            packages_seen: 0,
        })
    }

    /// An independent copy of this guest between cells: a [`blank`](Self::blank) instance
    /// whose linear memory is overwritten with a copy of this one's, whose private directory is
    /// a copy of this one's, and whose exported mutable globals and driver state (Ruby's handle
    /// table) are copied; the driver vouches for the rest ([`Driver::supports_fork`]).
    ///
    /// [`Driver::supports_fork`]: soulbox_runtimes::Driver::supports_fork
    pub(crate) async fn fork(
        &mut self,
        backend: &WasmBackend,
        context: GuestContext<'_>,
    ) -> Result<LiveGuest> {
        let from_dir = self.invocation.private_dir().map(Path::to_path_buf);
        let mut fork = LiveGuest::blank(
            backend,
            self.runtime.clone(),
            context,
            |to| match &from_dir {
                Some(from) => copy_tree(from, to)
                    .map_err(|e| SoulBoxError::io("copying the session's private directory", e)),
                None => Ok(()),
            },
        )
        .await?;
        fork.guest.store.data_mut().driver = self.guest.store.data().driver.clone();
        let captured = self.capture()?;
        let memories = captured
            .memories
            .iter()
            .map(|(name, bytes)| MemoryImage {
                name: name.clone(),
                bytes: bytes.len() as u64,
                pages: vec![(0, *bytes)],
            })
            .collect::<Vec<_>>();
        fork.load(memories, &captured.globals, false).await?;
        Ok(fork)
    }

    /// The guest's state between cells: every exported memory, every exported mutable global
    /// (numbers only; a reference-typed one is an error), and the driver's state encoded.
    pub(crate) fn capture(&mut self) -> Result<Captured<'_>> {
        let exports: Vec<(String, wasmtime::Extern)> = self
            .instance
            .exports(&mut self.guest.store)
            .map(|e| (e.name().to_owned(), e.into_extern()))
            .collect();
        let mut globals = Vec::new();
        let mut memories = Vec::new();
        for (name, export) in exports {
            match export {
                wasmtime::Extern::Memory(memory) => memories.push((name, memory)),
                wasmtime::Extern::Global(global)
                    if global.ty(&self.guest.store).mutability() == wasmtime::Mutability::Var =>
                {
                    let value = global.get(&mut self.guest.store);
                    let value = GlobalValue::from_val(&value).ok_or_else(|| {
                        SoulBoxError::Engine(format!(
                            "global `{name}` holds a reference, which cannot be copied"
                        ))
                    })?;
                    globals.push((name, value));
                }
                _ => {}
            }
        }
        let driver = self.guest.store.data().driver.encode();
        let store = &self.guest.store;
        let memories = memories
            .into_iter()
            .map(|(name, memory)| (name, memory.data(store)))
            .collect();
        Ok(Captured {
            memories,
            globals,
            driver,
        })
    }

    /// Overwrites this (blank) instance's state: each named memory grown to its size and
    /// filled from `(offset, bytes)` chunks (with `zero_rest`, every other non-zero page is
    /// cleared: a file skips all-zero pages, the fresh instance has its data segments there),
    /// then the globals.
    async fn load(
        &mut self,
        memories: Vec<MemoryImage<'_>>,
        globals: &[(String, GlobalValue)],
        zero_rest: bool,
    ) -> Result<()> {
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            SoulBoxError::SessionStart(format!("loading {what} into the new instance: {e}"))
        };
        let store = &mut self.guest.store;
        for MemoryImage {
            name,
            bytes: size,
            pages: chunks,
        } in memories
        {
            let memory = self
                .instance
                .get_memory(&mut *store, &name)
                .ok_or_else(|| fail("memory", &format!("the module has no memory `{name}`")))?;
            let want = size / PAGE as u64;
            let have = memory.size(&*store);
            if want > have {
                memory
                    .grow_async(&mut *store, want - have)
                    .await
                    .map_err(|e| fail("memory", &format!("{e:#}")))?;
            } else if want < have {
                return Err(fail(
                    "memory",
                    &format!("`{name}` starts larger ({have} pages) than the copy ({want})"),
                ));
            }
            let target = memory.data_mut(&mut *store);
            let mut next = 0usize;
            for (offset, bytes) in chunks {
                let end = offset.saturating_add(bytes.len());
                if offset < next || end > target.len() {
                    return Err(fail("memory", &"a chunk lies outside the memory"));
                }
                if zero_rest && let Some(gap) = target.get_mut(next..offset) {
                    clear_nonzero(gap);
                }
                if let Some(slot) = target.get_mut(offset..end) {
                    slot.copy_from_slice(bytes);
                }
                next = end;
            }
            if zero_rest && let Some(gap) = target.get_mut(next..) {
                clear_nonzero(gap);
            }
        }
        for (name, value) in globals {
            let global = self
                .instance
                .get_global(&mut *store, name)
                .ok_or_else(|| fail("a global", &format!("the module has no global `{name}`")))?;
            global
                .set(&mut *store, value.to_val())
                .map_err(|e| fail("a global", &format!("`{name}`: {e:#}")))?;
        }
        Ok(())
    }

    /// A guest restored from a snapshot's payload: a [`blank`](Self::blank) instance with the
    /// file's private root, memories, globals and driver state.
    pub(crate) async fn restore(
        backend: &WasmBackend,
        runtime: Arc<PreparedRuntime>,
        context: GuestContext<'_>,
        payload: Payload<'_>,
    ) -> Result<LiveGuest> {
        let Payload {
            memories,
            globals,
            driver,
            private,
            workspace: _,
        } = payload;
        let mut guest = LiveGuest::blank(backend, runtime, context, |to| {
            let dir = snapshot::open_dir(to)?;
            snapshot::restore_tree(&dir, &private)
                .map_err(|e| SoulBoxError::io("restoring the session's private root", e))
        })
        .await?;
        guest.load(memories, &globals, true).await?;
        guest.guest.store.data_mut().driver = driver;
        Ok(guest)
    }

    /// The session's private directory on the host (the python driver's writable `/`).
    pub(crate) fn private_dir(&self) -> Option<&Path> {
        self.invocation.private_dir()
    }

    /// Runs one cell. Limits are reported as the outcome's status, like a one-shot run; an
    /// uncaught exception is status `error`.
    pub(crate) async fn cell(
        &mut self,
        code: &[u8],
        config: &SandboxConfig,
        signals: Arc<RunSignals>,
        events: Option<UnboundedSender<StreamOutput>>,
        channel: Arc<soulbox_host::HostChannel>,
    ) -> Result<CellOutcome> {
        self.guest.stdout.restart(signals.clone(), events.clone());
        self.guest.store.data_mut().channel = Some(channel);
        self.guest.stderr.restart(signals.clone(), events);
        let fuel = arm(&mut self.guest.store, config, signals.clone())?;
        let max_value = usize::try_from(config.max_output_bytes).unwrap_or(usize::MAX);
        let call = self.runtime.driver.session_cell(
            &mut self.guest.store,
            self.instance,
            &self.invocation,
            code,
            max_value,
        );
        let ended = under_deadline(config, &signals, call).await;
        // Between cells nothing may reach the host: the channel was this cell's.
        self.guest.store.data_mut().channel = None;
        let (result, end) = match ended {
            Ok(end) => (Ok(()), Some(end)),
            Err(e) => (Err(e), None),
        };
        let explain = |trap: Trap| self.runtime.driver.explain_trap(trap);
        let mut outcome = outcome(&self.guest, result, &signals, config, fuel, &explain);
        // The cell is over: its stream must end even though the capture lives on.
        self.guest.stdout.detach();
        self.guest.stderr.detach();
        let memory_hit = self.guest.store.data().limiter.limit_hit();
        let mut value = None;
        if let Some(end) = end {
            if memory_hit && outcome.status == Status::Ok {
                // The interpreter turned the refused growth into an exception (MemoryError),
                // perhaps caught by the cell: the session still hit its memory limit.
                outcome.status = Status::MemoryLimit;
                outcome.error = Some(format!(
                    "the session needed more memory than its limit of {} bytes",
                    config.memory_limit
                ));
            } else if end.failed && outcome.status == Status::Ok {
                outcome.status = Status::Error;
                outcome.exit_code = Some(end.exit_code.unwrap_or(1));
            } else if outcome.status == Status::Ok {
                if end.exit_code.is_some() {
                    outcome.exit_code = end.exit_code;
                }
                value = end.value;
            }
        }
        Ok(CellOutcome { outcome, value })
    }
}

/// Zeroes `bytes` page by page, writing only pages that are not zero already (a write would
/// give a copy-on-write page its own copy for nothing).
fn clear_nonzero(bytes: &mut [u8]) {
    for page in bytes.chunks_mut(PAGE) {
        if !snapshot::is_zero(page) {
            page.fill(0);
        }
    }
}

/// Copies the session's private directory `from` (which the guest could write) into the fork's
/// fresh one `to`, through the workspace's audited helpers: no link followed or copied, FIFOs
/// and devices skipped, files opened `O_NONBLOCK`.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    let open = |p: &Path| cap_std::fs::Dir::open_ambient_dir(p, cap_std::ambient_authority());
    crate::workspace::guest_fs::copy_tree(&open(from)?, &open(to)?)
}
