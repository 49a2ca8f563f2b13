//! A live guest: one interpreter instance kept in its own long-lived store, running one cell
//! after another. Every cell gets the same limits machinery as a one-shot run (fresh fuel, a
//! wall-clock deadline, its own output capture); the memory limit covers the guest's whole life.

use std::path::Path;
use std::sync::Arc;

use soulbox_runtimes::Invocation;
use tokio::sync::mpsc::UnboundedSender;
use wasmtime::{Instance, Trap};

use super::{GuestSetup, GuestStore, arm, driver_preopens, guest_store, outcome, under_deadline};
use crate::outcome::Outcome;
use crate::runtime::PreparedRuntime;
use crate::signals::RunSignals;
use crate::{Result, SandboxConfig, SoulBoxError, Status, Stdin, StreamOutput};

/// A store for a session's guest: the driver's argv, environment and directories, no stdin, no
/// stream (each cell attaches its own). Shared by opening and forking a session.
fn session_store(
    engine: &crate::Engine,
    config: &SandboxConfig,
    workspace: &Path,
    invocation: &Invocation,
    env: Vec<(String, String)>,
    signals: &Arc<RunSignals>,
) -> Result<GuestStore> {
    guest_store(
        engine,
        GuestSetup {
            argv: &invocation.argv,
            env: invocation.env.iter().cloned().chain(env).collect(),
            stdin: Stdin::Empty,
            workspace,
            preopens: driver_preopens(invocation).collect(),
            config,
            events: None,
            signals: signals.clone(),
        },
    )
}

/// One interpreter instance that outlives executions.
pub(crate) struct LiveGuest {
    guest: GuestStore,
    instance: Instance,
    runtime: Arc<PreparedRuntime>,
    /// Keeps the runtime's private directories (its writable root) alive with the instance.
    invocation: Invocation,
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
        engine: &crate::Engine,
        runtime: Arc<PreparedRuntime>,
        config: &SandboxConfig,
        workspace: &Path,
        env: Vec<(String, String)>,
        signals: Arc<RunSignals>,
    ) -> Result<LiveGuest> {
        let mut invocation = runtime.driver.prepare_session()?;
        invocation.caller_env = env.clone();
        let mut guest = session_store(engine, config, workspace, &invocation, env, &signals)?;
        let fuel = arm(&mut guest.store, config, signals.clone())?;
        let store = &mut guest.store;
        let pre = runtime.pre.clone();
        let driver = runtime.driver.clone();
        let start = async {
            let instance = pre.instantiate_async(&mut *store).await?;
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
        })
    }

    /// An independent copy of this guest between cells: a fresh instance of the same module,
    /// in a new store with its own WASI context (same preopen layout, so descriptors of the
    /// preopened directories match), whose linear memory is overwritten with a copy of this
    /// one's and whose private directory is a copy of this one's. Exported mutable globals are
    /// copied too; the driver vouches for the rest ([`Driver::supports_fork`]).
    ///
    /// [`Driver::supports_fork`]: soulbox_runtimes::Driver::supports_fork
    pub(crate) async fn fork(
        &mut self,
        engine: &crate::Engine,
        config: &SandboxConfig,
        workspace: &Path,
        env: Vec<(String, String)>,
        signals: Arc<RunSignals>,
    ) -> Result<LiveGuest> {
        let runtime = self.runtime.clone();
        let mut invocation = runtime.driver.prepare_session()?;
        invocation.caller_env = env.clone();
        if let (Some(from), Some(to)) = (self.invocation.private_dir(), invocation.private_dir()) {
            copy_tree(from, to)
                .map_err(|e| SoulBoxError::io("copying the session's private directory", e))?;
        }
        let mut guest = session_store(engine, config, workspace, &invocation, env, &signals)?;
        arm(&mut guest.store, config, signals.clone())?;
        let store = &mut guest.store;
        let pre = runtime.pre.clone();
        let instance = under_deadline(config, &signals, pre.instantiate_async(&mut *store))
            .await
            .map_err(|e| SoulBoxError::SessionStart(format!("instantiating the fork: {e:#}")))?;
        let copy_error = |what: &str, e: &dyn std::fmt::Display| {
            SoulBoxError::SessionStart(format!("copying {what} into the fork: {e}"))
        };
        let exports: Vec<(String, wasmtime::Extern)> = self
            .instance
            .exports(&mut self.guest.store)
            .map(|e| (e.name().to_owned(), e.into_extern()))
            .collect();
        for (name, export) in exports {
            match export {
                wasmtime::Extern::Memory(from) => {
                    let to = instance
                        .get_memory(&mut *store, &name)
                        .ok_or_else(|| copy_error("memory", &name))?;
                    let want = from.size(&self.guest.store);
                    let have = to.size(&*store);
                    if want > have {
                        to.grow_async(&mut *store, want - have)
                            .await
                            .map_err(|e| copy_error("memory", &format!("{e:#}")))?;
                    }
                    let bytes = from.data(&self.guest.store);
                    let target = to.data_mut(&mut *store);
                    let Some(target) = target.get_mut(..bytes.len()) else {
                        return Err(copy_error("memory", &"the fork's memory is smaller"));
                    };
                    target.copy_from_slice(bytes);
                }
                wasmtime::Extern::Global(from)
                    if from.ty(&self.guest.store).mutability() == wasmtime::Mutability::Var =>
                {
                    let value = from.get(&mut self.guest.store);
                    let to = instance
                        .get_global(&mut *store, &name)
                        .ok_or_else(|| copy_error("a global", &name))?;
                    to.set(&mut *store, value)
                        .map_err(|e| copy_error("a global", &format!("{e:#}")))?;
                }
                _ => {}
            }
        }
        Ok(LiveGuest {
            guest,
            instance,
            runtime,
            invocation,
        })
    }

    /// Runs one cell. Limits are reported as the outcome's status, like a one-shot run; an
    /// uncaught exception is status `error`.
    pub(crate) async fn cell(
        &mut self,
        code: &[u8],
        config: &SandboxConfig,
        signals: Arc<RunSignals>,
        events: Option<UnboundedSender<StreamOutput>>,
    ) -> Result<CellOutcome> {
        self.guest.stdout.restart(signals.clone(), events.clone());
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
                outcome.exit_code = Some(1);
            } else if outcome.status == Status::Ok {
                value = end.value;
            }
        }
        Ok(CellOutcome { outcome, value })
    }
}

/// Copies the directory tree `from` into `to` (files and directories; symlinks are skipped, the
/// guest cannot make them outside its preopens anyway).
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            std::fs::create_dir_all(&target)?;
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
