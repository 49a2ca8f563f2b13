//! A live guest: one interpreter instance kept in its own long-lived store, running one cell
//! after another. Every cell gets the same limits machinery as a one-shot run (fresh fuel, a
//! wall-clock deadline, its own output capture); the memory limit covers the guest's whole life.

use std::path::Path;
use std::sync::Arc;

use soulbox_runtimes::Invocation;
use tokio::sync::mpsc::UnboundedSender;
use wasmtime::{Instance, Trap};

use super::interrupt::RunSignals;
use super::{GuestSetup, GuestStore, arm, driver_preopens, guest_store, outcome, under_deadline};
use crate::outcome::Outcome;
use crate::runtime::PreparedRuntime;
use crate::{Result, SandboxConfig, SoulBoxError, Status, Stdin, StreamOutput};

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
        let invocation = runtime.driver.prepare_session()?;
        let env = invocation.env.iter().cloned().chain(env).collect();
        let mut guest = guest_store(
            engine,
            GuestSetup {
                argv: &invocation.argv,
                env,
                stdin: Stdin::Empty,
                workspace,
                preopens: driver_preopens(&invocation).collect(),
                config,
                events: None,
                signals: signals.clone(),
            },
        )?;
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
