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

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use soulbox_runtimes::{Runtime, catalogue};
use tokio::sync::mpsc::UnboundedSender;

pub use crate::wasm::snapshot::SnapshotInfo;

use crate::StreamOutput;
use crate::guest::GuestContext;
use crate::runtime;
use crate::stop::RunSignals;
use crate::wasm::live::{LiveGuest, SessionSlot, SessionState as State};
use crate::wasm::{PreparedRuntime, snapshot};
use crate::{ExecutionResult, Language, Result, Sandbox, SandboxState, SoulBoxError, Status};

/// Why a session cannot run code after a cell of it was cancelled halfway.
const CANCELLED_CELL: &str = "a cell was cancelled before it finished (its interpreter was \
     stopped halfway and freed); reset() the session to continue";

/// The live guest in `state`, or why there is none.
fn live(state: &mut State) -> Result<&mut LiveGuest> {
    match state {
        State::Live(live) => Ok(live),
        State::Poisoned(reason) => Err(SoulBoxError::SessionPoisoned(reason.clone())),
        State::Closed => Err(SoulBoxError::InvalidState {
            state: SandboxState::Terminated,
            action: "use a session",
        }),
    }
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
    state: Arc<SessionSlot>,
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
        // Refuse before installing or compiling anything for a sandbox that cannot run code.
        sandbox.check_running("start a session")?;
        let selected: &'static Runtime =
            runtime::select_for_session(sandbox.config(), language)?
                .ok_or_else(|| unsupported(language, "it is not run by an interpreter".into()))?;
        let runtime = sandbox
            .engine()
            .runtimes()
            .prepared(selected, sandbox.config())
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
        // The layer exists from the start, so packages installed later can be seen.
        sandbox.packages().ensure_dir(sandbox.engine().home())?;
        let live = start(&sandbox, &runtime).await?;
        Ok(Session::new(sandbox, language, runtime, live))
    }

    fn new(
        sandbox: Sandbox,
        language: Language,
        runtime: Arc<PreparedRuntime>,
        live: LiveGuest,
    ) -> Session {
        let state = Arc::new(tokio::sync::Mutex::new(State::Live(Box::new(live))));
        sandbox.register_session(&state);
        Session {
            sandbox,
            language,
            runtime,
            state,
        }
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
        if let Some((language, specs)) = crate::packages::install_magic(code) {
            return self.install_cell(language, specs, events).await;
        }
        let mut state = self.state.lock().await;
        live(&mut state)?;
        let started = Instant::now();
        let signals = Arc::new(RunSignals::default());
        let turn = self.sandbox.begin("execute", signals.clone()).await?;
        let workspace = turn.workspace();
        let config = self.sandbox.config();
        // The guest leaves its slot while the cell runs: if this future is dropped mid-cell (a
        // cancelled request), the slot says why and the half-run interpreter is freed with it,
        // instead of being offered to the next cell as if it were whole.
        let State::Live(mut guest) =
            std::mem::replace(&mut *state, State::Poisoned(CANCELLED_CELL.into()))
        else {
            return Err(SoulBoxError::SessionPoisoned(CANCELLED_CELL.into()));
        };
        let channel = self.sandbox.host_channel();
        let (generation, packages) = {
            let packages = self.sandbox.packages();
            (packages.generation(), packages.view())
        };
        let ran = async {
            if let Some(packages) = packages.filter(|_| guest.packages_seen != generation) {
                guest
                    .refresh_packages(&packages, config, signals.clone())
                    .await?;
                guest.packages_seen = generation;
            }
            let tracking = workspace.track()?;
            let cell = guest
                .cell(code, config, signals, events, channel.clone())
                .await?;
            let artifacts = tracking.artifacts(config)?;
            Ok::<_, SoulBoxError>((cell, artifacts))
        }
        .await;
        drop(turn);
        *state = State::Live(guest);
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
        let mut result = outcome.into_result(started.elapsed(), artifacts, cell.value);
        crate::tools::record(&mut result, &channel);
        Ok(result)
    }

    /// A `%pip install ...` cell (or `%npm`/`%gem`): installs into the sandbox, so this cell's
    /// successors (and every run of the sandbox) see the packages; nothing runs in the guest.
    async fn install_cell(
        &self,
        language: Language,
        specs: Vec<String>,
        events: Option<UnboundedSender<StreamOutput>>,
    ) -> Result<ExecutionResult> {
        use crate::result_ext::ExecutionResultExt;
        let started = Instant::now();
        if language != self.language {
            return Err(SoulBoxError::InvalidRequest(format!(
                "this is a {} session; its packages are installed with %{}",
                self.language,
                match self.language {
                    Language::JavaScript => "npm install",
                    Language::Ruby => "gem install",
                    _ => "pip install",
                }
            )));
        }
        let outcome = match self
            .sandbox
            .install_workspace_packages(language, &specs)
            .await
        {
            Ok(report) => Ok(report.summary()),
            Err(e @ SoulBoxError::InvalidState { .. }) => return Err(e),
            Err(e) => Err(e.to_string()),
        };
        if let Some(events) = events {
            let _ = events.send(match &outcome {
                Ok(text) => StreamOutput::Stdout(format!("{text}\n").into()),
                Err(text) => StreamOutput::Stderr(format!("{text}\n").into()),
            });
        }
        Ok(ExecutionResult::package_cell(outcome, started.elapsed()))
    }

    /// An independent copy of this session's interpreter (variables, imports, definitions), in
    /// the same sandbox: the two diverge from here on, while still sharing the sandbox's
    /// workspace files. Made between cells by copying the instance's linear memory into a fresh
    /// instance of the same module (see docs/sessions.md for what is and is not captured). Python and
    /// JavaScript (`quickjs-session`).
    pub async fn fork(&self) -> Result<Session> {
        self.copyable()?;
        let mut state = self.state.lock().await;
        let live = live(&mut state)?;
        let signals = Arc::new(RunSignals::default());
        let turn = self
            .sandbox
            .begin("fork a session", signals.clone())
            .await?;
        let workspace = turn.workspace();
        let forked = live
            .fork(
                self.sandbox.engine().wasm(),
                guest_context(&self.sandbox, workspace.host_path(), signals),
            )
            .await;
        drop(turn);
        Ok(Session::new(
            self.sandbox.clone(),
            self.language,
            self.runtime.clone(),
            forked?,
        ))
    }

    /// Writes this session to the file at `path` (replaced atomically if it exists), between
    /// cells, so [`Sandbox::restore_session`] can bring it back later, in this process or
    /// another: the interpreter's linear memory (all-zero 64 KiB pages skipped), its exported
    /// mutable globals, the driver's host-side state, the session's private root and the
    /// sandbox's workspace files (regular files and directories; symlinks are skipped). Allowed
    /// while the sandbox is paused. The file layout is described in docs/sessions.md.
    ///
    /// `Err(SessionPoisoned)` for a poisoned session; `Err(Unsupported)` for a runtime whose
    /// state cannot be copied ([`Session::fork`] has the same requirement).
    pub async fn snapshot(&self, path: impl AsRef<Path>) -> Result<SnapshotInfo> {
        let path = path.as_ref();
        self.copyable()?;
        let mut state = self.state.lock().await;
        let live = live(&mut state)?;
        let signals = Arc::new(RunSignals::default());
        let turn = self
            .sandbox
            .begin_allowing_paused("snapshot a session", signals)
            .await?;
        let workspace = turn.workspace();
        let written = (|| {
            let private = live.private_dir().map(snapshot::open_dir).transpose()?;
            let captured = live.capture()?;
            let mut header = header_for(
                self.sandbox.engine(),
                Some(&self.runtime),
                self.language,
                captured
                    .memories
                    .iter()
                    .map(|(_, bytes)| bytes.len() as u64)
                    .collect(),
            );
            header.packages = self.sandbox.installed_packages();
            snapshot::write(path, &header, &captured, private.as_ref(), workspace.dir())
        })();
        drop(turn);
        written
    }

    /// Restores a session from a file written by [`snapshot`](Self::snapshot) into `sandbox`.
    pub(crate) async fn restore(sandbox: Sandbox, path: &Path) -> Result<Session> {
        // Refuse before reading a large file into a sandbox that cannot run code.
        sandbox.check_running("restore a session")?;
        let bytes = snapshot::read_file(path, sandbox.config().memory_limit).await?;
        let header = snapshot::read_header(&bytes, path)?;
        let mismatch =
            |what: &'static str, found: &str, expected: &str| SoulBoxError::SnapshotMismatch {
                path: path.to_path_buf(),
                what,
                found: found.to_owned(),
                expected: expected.to_owned(),
            };
        // Only the engine's part of this header is compared.
        let here = header_for(sandbox.engine(), None, Language::Python, Vec::new());
        for (what, found, expected) in [
            (
                "SoulBox version",
                &header.soulbox_version,
                &here.soulbox_version,
            ),
            (
                "wasmtime version",
                &header.wasmtime_version,
                &here.wasmtime_version,
            ),
            (
                "engine configuration (compatibility hash)",
                &header.engine_compat,
                &here.engine_compat,
            ),
        ] {
            if found != expected {
                return Err(mismatch(what, found, expected));
            }
        }
        let selected = catalogue::find(&header.runtime)
            .ok_or_else(|| mismatch("runtime", &header.runtime, &catalogue::names()))?;
        let language: Language =
            header
                .language
                .parse()
                .map_err(|_| SoulBoxError::SnapshotCorrupt {
                    path: path.to_path_buf(),
                    reason: format!("unknown language `{}`", header.language),
                })?;
        if runtime::catalogue_language(language) != Some(selected.language) {
            return Err(SoulBoxError::SnapshotCorrupt {
                path: path.to_path_buf(),
                reason: format!("runtime `{}` does not run {language}", selected.name),
            });
        }
        let runtimes = sandbox.engine().runtimes();
        let flavours = runtimes.flavours(selected).await?;
        let found = runtimes
            .by_identity(&flavours, &header.runtime_identity)
            .await?;
        let runtime = match found {
            Some(runtime) => runtime,
            None => {
                let here = flavours.identity_for(sandbox.config());
                return Err(mismatch("runtime module", &header.runtime_identity, &here));
            }
        };
        if !runtime.driver.supports_sessions() || !runtime.driver.supports_fork() {
            return Err(unsupported(
                language,
                format!("runtime `{}` cannot restore a session", selected.name),
            ));
        }
        // The session's packages come back first (from the cache when they are there), so its
        // interpreter finds them where it left them.
        if !header.packages.is_empty() {
            sandbox.install_lock(&header.packages).await?;
        }
        sandbox.packages().ensure_dir(sandbox.engine().home())?;
        let total = header
            .memory_bytes
            .iter()
            .try_fold(0u64, |sum, m| sum.checked_add(*m))
            .unwrap_or(u64::MAX);
        let limit = sandbox.config().memory_limit;
        if total > limit {
            return Err(mismatch(
                "memory size",
                &format!("{total} bytes of linear memory"),
                &format!("a memory limit of {limit} bytes"),
            ));
        }
        let mut payload = snapshot::read_payload(&bytes, &header, path)?;
        let workspace_files = std::mem::take(&mut payload.workspace);
        let signals = Arc::new(RunSignals::default());
        let turn = sandbox.begin("restore a session", signals.clone()).await?;
        let workspace = turn.workspace();
        let restored = async {
            // The interpreter first, in a fresh instance and private root of its own: loading the
            // memories and globals is the last check of the file (names and sizes must fit the
            // module). Only a session that loaded writes into the sandbox's shared workspace.
            let live = LiveGuest::restore(
                sandbox.engine().wasm(),
                runtime.clone(),
                guest_context(&sandbox, workspace.host_path(), signals),
                payload,
            )
            .await?;
            snapshot::restore_tree(workspace.dir(), &workspace_files)
                .map_err(|e| SoulBoxError::io("restoring the workspace files", e))?;
            Ok::<_, SoulBoxError>(live)
        }
        .await;
        drop(turn);
        Ok(Session::new(sandbox, language, runtime, restored?))
    }

    /// Refuses runtimes whose state cannot be copied out of the instance.
    fn copyable(&self) -> Result<()> {
        if self.runtime.driver.supports_fork() {
            return Ok(());
        }
        Err(unsupported(
            self.language,
            format!(
                "runtime `{}` cannot copy a live session",
                self.runtime_name()
            ),
        ))
    }

    /// Throws the interpreter away and starts a fresh one (variables and imports are lost;
    /// workspace files stay). Clears poisoning.
    pub async fn reset(&self) -> Result<()> {
        let mut state = self.state.lock().await;
        if matches!(*state, State::Closed) {
            return live(&mut state).map(drop);
        }
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
    let turn = sandbox.begin("start a session", signals.clone()).await?;
    let workspace = turn.workspace();
    let live = LiveGuest::open(
        sandbox.engine().wasm(),
        runtime.clone(),
        guest_context(sandbox, workspace.host_path(), signals),
    )
    .await;
    drop(turn);
    live
}

/// The header a snapshot of `runtime` made on `engine` carries (with no runtime: the engine's
/// part, which a restore compares).
fn header_for(
    engine: &crate::Engine,
    runtime: Option<&PreparedRuntime>,
    language: Language,
    memory_bytes: Vec<u64>,
) -> snapshot::Header {
    snapshot::Header {
        soulbox_version: env!("CARGO_PKG_VERSION").to_owned(),
        wasmtime_version: snapshot::WASMTIME_VERSION.to_owned(),
        engine_compat: engine.wasm().modules.config_hash().to_owned(),
        runtime: runtime.map_or("", |r| r.driver.runtime().name).to_owned(),
        runtime_identity: runtime.map_or("", PreparedRuntime::identity).to_owned(),
        language: language.to_string(),
        memory_bytes,
        packages: Vec::new(),
    }
}

fn unsupported(language: Language, reason: String) -> SoulBoxError {
    SoulBoxError::Unsupported {
        language,
        backend: "wasm",
        reason: format!("sessions: {reason}"),
    }
}

/// A session guest's context for one start, fork or restore: the sandbox's limits and
/// variables, its workspace, no stdin (cells attach their own output).
fn guest_context<'a>(
    sandbox: &'a Sandbox,
    workspace: &'a Path,
    signals: Arc<RunSignals>,
) -> GuestContext<'a> {
    GuestContext {
        config: sandbox.config(),
        workspace,
        env: sandbox
            .config()
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        stdin: crate::Stdin::Empty,
        events: None,
        signals,
        packages: sandbox.packages().view(),
        channel: None,
    }
}

/// Sessions are started from their sandbox.
impl Sandbox {
    /// Starts a session: one live interpreter for `language` whose variables, imports and
    /// definitions persist across [`Session::execute`](Session::execute) calls, sharing this
    /// sandbox's workspace and limits. Supported for Python (runtime `python`) and Ruby (`ruby`).
    pub async fn session(&self, language: Language) -> Result<Session> {
        Session::open(self.clone(), language).await
    }

    /// Brings back a session written by [`Session::snapshot`](Session::snapshot) (in this
    /// process or another) into this sandbox: its interpreter state continues where it was, and
    /// the snapshot's workspace files are written into this sandbox's workspace (overwriting
    /// files of the same name; other files are left alone).
    ///
    /// Everything is checked before anything is written: `Err(SnapshotCorrupt)` for a file that
    /// is not a snapshot, is truncated or damaged, or names an unsafe path;
    /// `Err(SnapshotMismatch)` for one made by another format, SoulBox or wasmtime version,
    /// engine configuration or runtime module, or whose memory exceeds this sandbox's limit.
    pub async fn restore_session(&self, path: impl AsRef<Path>) -> Result<Session> {
        Session::restore(self.clone(), path.as_ref()).await
    }
}
