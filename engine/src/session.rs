//! Sessions: one live interpreter per session, so variables, imports and definitions persist
//! from one execution (a *cell*) to the next, like a notebook.
//!
//! A session belongs to a [`Sandbox`]: its cells share the sandbox's workspace (files persist
//! too), take turns with the sandbox's other executions and are stopped by
//! [`Sandbox::terminate`]. Limits are those of the sandbox's config: timeout and fuel per
//! cell, memory for the interpreter's whole life.
//!
//! A cell that times out, traps, runs out of fuel or memory, overflows its output or is
//! stopped leaves the interpreter in a state that cannot be trusted: the session is *poisoned*
//! and every later [`Session::execute`] returns [`SoulBoxError::SessionPoisoned`] until
//! [`Session::reset`]. An exception in a cell is only status `error`; the state is kept.

use std::sync::Arc;
use std::time::Instant;

use soulbox_runtimes::Runtime;
use tokio::sync::mpsc::UnboundedSender;

use crate::StreamOutput;
use crate::runtime::{self, PreparedRuntime};
use crate::signals::RunSignals;
use crate::wasm::session::LiveGuest;
use crate::workspace::Snapshot;
use crate::{ExecutionResult, Language, Result, Sandbox, SoulBoxError, Status};

enum State {
    Live(Box<LiveGuest>),
    /// Why the session cannot run code any more.
    Poisoned(String),
}

/// A persistent interpreter in a sandbox. Made by [`Sandbox::session`].
///
/// ```no_run
/// use soulbox::{Language, Sandbox, SandboxConfig};
/// # async fn demo() -> soulbox::Result<()> {
/// let sandbox = Sandbox::create(SandboxConfig::default()).await?;
/// let session = sandbox.session(Language::Python).await?;
/// session.execute("x = 41").await?;
/// let r = session.execute("x + 1").await?;
/// assert_eq!(r.value.as_deref(), Some("42"));
/// # Ok(()) }
/// ```
pub struct Session {
    sandbox: Sandbox,
    language: Language,
    runtime: Arc<PreparedRuntime>,
    state: tokio::sync::Mutex<State>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("sandbox", &self.sandbox.id())
            .field("language", &self.language)
            .field("runtime", &self.runtime.driver.runtime().name)
            .finish_non_exhaustive()
    }
}

impl Session {
    pub(crate) async fn open(sandbox: Sandbox, language: Language) -> Result<Session> {
        let selected: &'static Runtime =
            runtime::select_for_session(sandbox.config(), language)?
                .ok_or_else(|| unsupported(language, "it is not run by an interpreter".into()))?;
        let runtime = sandbox
            .engine()
            .prepared_runtime(selected, sandbox.config())
            .await?;
        if !runtime.driver.supports_sessions() {
            return Err(unsupported(
                language,
                format!(
                    "runtime `{}` cannot keep an interpreter alive between executions yet; \
                     sessions are available for Python, JavaScript and Ruby (runtimes `python`, \
                     `quickjs-session`, `ruby`)",
                    selected.name
                ),
            ));
        }
        let live = start(&sandbox, &runtime).await?;
        Ok(Session {
            sandbox,
            language,
            runtime,
            state: tokio::sync::Mutex::new(State::Live(Box::new(live))),
        })
    }

    /// The language of this session.
    pub fn language(&self) -> Language {
        self.language
    }

    /// The runtime serving it (for example `python`).
    pub fn runtime_name(&self) -> &'static str {
        self.runtime.driver.runtime().name
    }

    /// The sandbox this session runs in.
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// Whether the session is poisoned (see the module docs); [`reset`](Self::reset) clears it.
    pub async fn is_poisoned(&self) -> bool {
        matches!(*self.state.lock().await, State::Poisoned(_))
    }

    /// Runs one cell on the live interpreter. Its output, status, resource use and the workspace
    /// files it changed come back as for a one-shot execution, plus
    /// [`value`](ExecutionResult::value): the text form of the cell's final expression.
    ///
    /// `Err(SessionPoisoned)` when an earlier cell broke a limit; `Err(InvalidState)` when the
    /// sandbox is paused or terminated.
    pub async fn execute(&self, code: impl AsRef<[u8]>) -> Result<ExecutionResult> {
        self.execute_inner(code.as_ref(), None).await
    }

    /// [`execute`](Self::execute), also sending each stdout/stderr chunk to `events` as the
    /// guest writes it (as [`StreamOutput::Stdout`]/[`StreamOutput::Stderr`]); the full result is
    /// still returned at the end.
    pub async fn execute_streaming(
        &self,
        code: impl AsRef<[u8]>,
        events: UnboundedSender<StreamOutput>,
    ) -> Result<ExecutionResult> {
        self.execute_inner(code.as_ref(), Some(events)).await
    }

    async fn execute_inner(
        &self,
        code: &[u8],
        events: Option<UnboundedSender<StreamOutput>>,
    ) -> Result<ExecutionResult> {
        let mut state = self.state.lock().await;
        let live = match &mut *state {
            State::Live(live) => live,
            State::Poisoned(reason) => return Err(SoulBoxError::SessionPoisoned(reason.clone())),
        };
        let started = Instant::now();
        let signals = Arc::new(RunSignals::default());
        let (turn, workspace) = self.sandbox.begin("execute", signals.clone()).await?;
        let config = self.sandbox.config();
        let ran = async {
            let snapshot = Snapshot::take(workspace.dir())
                .map_err(|e| SoulBoxError::io("scanning the workspace before the run", e))?;
            let cell = live.cell(code, config, signals, events).await?;
            let artifacts = snapshot
                .changes(
                    workspace.dir(),
                    config.max_artifacts,
                    config.max_artifact_bytes,
                )
                .map_err(|e| SoulBoxError::io("collecting artifacts", e))?;
            Ok::<_, SoulBoxError>((cell, artifacts))
        }
        .await;
        self.sandbox.end();
        drop(turn);
        let (cell, artifacts) = ran?;
        let outcome = cell.outcome;
        if !matches!(outcome.status, Status::Ok | Status::Error) {
            let why = outcome
                .error
                .clone()
                .unwrap_or_else(|| outcome.status.name().to_owned());
            *state = State::Poisoned(format!(
                "a cell ended with status {} ({why})",
                outcome.status
            ));
        }
        Ok(outcome.into_result(started.elapsed(), artifacts, cell.value))
    }

    /// An independent copy of this session's interpreter (variables, imports, definitions), in
    /// the same sandbox: the two diverge from here on, while still sharing the sandbox's
    /// workspace files. Made between cells by copying the instance's linear memory into a fresh
    /// instance of the same module (see DESIGN.md for what is and is not captured). Python and
    /// JavaScript (`quickjs-session`).
    pub async fn fork(&self) -> Result<Session> {
        if !self.runtime.driver.supports_fork() {
            return Err(unsupported(
                self.language,
                format!(
                    "runtime `{}` cannot fork a live session yet",
                    self.runtime_name()
                ),
            ));
        }
        let mut state = self.state.lock().await;
        let live = match &mut *state {
            State::Live(live) => live,
            State::Poisoned(reason) => return Err(SoulBoxError::SessionPoisoned(reason.clone())),
        };
        let signals = Arc::new(RunSignals::default());
        let (turn, workspace) = self
            .sandbox
            .begin("fork a session", signals.clone())
            .await?;
        let forked = live
            .fork(
                self.sandbox.engine(),
                self.sandbox.config(),
                workspace.host_path(),
                sandbox_env(&self.sandbox),
                signals,
            )
            .await;
        self.sandbox.end();
        drop(turn);
        Ok(Session {
            sandbox: self.sandbox.clone(),
            language: self.language,
            runtime: self.runtime.clone(),
            state: tokio::sync::Mutex::new(State::Live(Box::new(forked?))),
        })
    }

    /// Throws the interpreter away and starts a fresh one (variables and imports are lost;
    /// workspace files stay). Clears poisoning.
    pub async fn reset(&self) -> Result<()> {
        let mut state = self.state.lock().await;
        // Free the old instance before starting the new one: the memory limit is per session.
        *state = State::Poisoned("the session is being reset".into());
        let live = start(&self.sandbox, &self.runtime).await?;
        *state = State::Live(Box::new(live));
        Ok(())
    }
}

/// Starts a live interpreter for `sandbox`, taking the sandbox's execution turn.
async fn start(sandbox: &Sandbox, runtime: &Arc<PreparedRuntime>) -> Result<LiveGuest> {
    let signals = Arc::new(RunSignals::default());
    let (turn, workspace) = sandbox.begin("start a session", signals.clone()).await?;
    let env = sandbox_env(sandbox);
    let live = LiveGuest::open(
        sandbox.engine(),
        runtime.clone(),
        sandbox.config(),
        workspace.host_path(),
        env,
        signals,
    )
    .await;
    sandbox.end();
    drop(turn);
    live
}

fn unsupported(language: Language, reason: String) -> SoulBoxError {
    SoulBoxError::Unsupported {
        language,
        backend: "wasm",
        reason: format!("sessions: {reason}"),
    }
}

fn sandbox_env(sandbox: &Sandbox) -> Vec<(String, String)> {
    sandbox
        .config()
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
