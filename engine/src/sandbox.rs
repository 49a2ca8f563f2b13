//! A sandbox: one isolated workspace, its limits and its lifecycle. Executions in one sandbox run
//! one at a time and share the workspace; separate sandboxes share nothing.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use futures::Stream;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::guest::GuestContext;
use crate::plan::{Plan, plan};
use crate::result_ext::ExecutionResultExt;
use crate::stop::{RunSignals, StopReason};
use crate::wasm::{self, WasmRun};
use crate::workspace::Workspace;
use crate::{
    Engine, ExecutionRequest, ExecutionResult, Language, Result, SandboxConfig, SoulBoxError,
    StreamOutput,
};
use crate::{FileInfo, SandboxState};
use crate::{ToolFunction, ToolHandler};

/// One isolated workspace with limits. Cheap to clone (clones are handles to the same sandbox).
///
/// ```no_run
/// use soulbox::{Language, Sandbox, SandboxConfig};
/// # async fn demo() -> soulbox::Result<()> {
/// let sandbox = Sandbox::create(SandboxConfig::default()).await?;
/// let result = sandbox
///     .execute_code(Language::Wasm, r#"(module (func (export "_start")))"#)
///     .await?;
/// assert!(result.is_ok());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

struct Inner {
    id: String,
    engine: Engine,
    config: SandboxConfig,
    state: Mutex<SandboxState>,
    workspace: Mutex<Option<Arc<Workspace>>>,
    /// Serialises executions (they share the workspace and its artifact snapshot).
    exec_lock: tokio::sync::Mutex<()>,
    /// Signals of the execution in progress, so `terminate` can stop it.
    running: Mutex<Option<Arc<RunSignals>>>,
    /// The sessions opened in this sandbox, so `terminate` can free their instances.
    sessions: Mutex<Vec<Weak<crate::wasm::live::SessionSlot>>>,
    /// The packages installed in this sandbox and their layer directory.
    packages: Mutex<crate::package_layer::SandboxPackages>,
    /// Tools and network its guests may reach (see `tools.rs`).
    host: crate::tools::HostOffer,
    /// How deep this sandbox is nested: 0 for one a caller created, 1 for one a component
    /// running in such a sandbox created through `executor`, ...
    nesting: u32,
    /// Sandboxes and sessions created through `executor` by components running here, alive now.
    children: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("id", &self.inner.id)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// This sandbox's execution turn: held while one execution, cell, fork, snapshot or restore
/// works on the sandbox. It registers the work's [`RunSignals`] so `terminate` can stop it, and
/// dropping it - on every path, errors included - unregisters them and lets the next one in.
pub(crate) struct Turn<'a> {
    _exclusive: tokio::sync::MutexGuard<'a, ()>,
    running: &'a Mutex<Option<Arc<RunSignals>>>,
    workspace: Arc<Workspace>,
    /// The engine's count of held turns ([`Engine::active_turns`]), decremented on drop.
    active: &'a AtomicUsize,
}

impl Turn<'_> {
    /// The sandbox's workspace, for the duration of the turn.
    pub(crate) fn workspace(&self) -> &Arc<Workspace> {
        &self.workspace
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        *lock(self.running) = None;
        self.active.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Sandbox {
    /// Creates a sandbox on the process-wide [`Engine::shared`] engine.
    pub async fn create(config: SandboxConfig) -> Result<Sandbox> {
        Engine::shared()?.sandbox(config).await
    }

    pub(crate) fn with_engine(engine: Engine, config: SandboxConfig) -> Result<Sandbox> {
        Self::nested_in(engine, config, 0)
    }

    /// A sandbox `nesting` levels below one a caller created (see `component.rs`).
    pub(crate) fn nested_in(
        engine: Engine,
        config: SandboxConfig,
        nesting: u32,
    ) -> Result<Sandbox> {
        config.validate().map_err(SoulBoxError::InvalidRequest)?;
        let workspace = match &config.persistent_storage {
            Some(dir) => Workspace::at(dir)?,
            None => Workspace::temporary()?,
        };
        let id = format!(
            "sb-{}-{}",
            std::process::id(),
            NEXT_ID.fetch_add(1, Ordering::Relaxed)
        );
        let host = crate::tools::HostOffer::new(&config)?;
        Ok(Sandbox {
            inner: Arc::new(Inner {
                host,
                id,
                engine,
                config,
                state: Mutex::new(SandboxState::Running),
                workspace: Mutex::new(Some(Arc::new(workspace))),
                exec_lock: tokio::sync::Mutex::new(()),
                running: Mutex::new(None),
                sessions: Mutex::new(Vec::new()),
                packages: Mutex::default(),
                nesting,
                children: Arc::default(),
            }),
        })
    }

    /// A process-unique identifier.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// Current lifecycle state.
    pub fn state(&self) -> SandboxState {
        *lock(&self.inner.state)
    }

    /// The configuration the sandbox was created with.
    pub fn config(&self) -> &SandboxConfig {
        &self.inner.config
    }

    /// The workspace directory on the host (what the guest sees as `/work`), while the sandbox lives.
    pub fn workspace_path(&self) -> Option<PathBuf> {
        lock(&self.inner.workspace)
            .as_ref()
            .map(|w| w.host_path().to_path_buf())
    }

    /// The workspace, for reading (allowed while paused).
    fn workspace(&self, action: &'static str) -> Result<Arc<Workspace>> {
        let state = self.state();
        match (state, lock(&self.inner.workspace).as_ref()) {
            (SandboxState::Running | SandboxState::Paused, Some(ws)) => Ok(ws.clone()),
            _ => Err(SoulBoxError::InvalidState { state, action }),
        }
    }

    /// The workspace, for changing it (only while running).
    fn writable_workspace(&self, action: &'static str) -> Result<Arc<Workspace>> {
        self.check_running(action)?;
        self.workspace(action)
    }

    /// `Err(InvalidState)` unless the sandbox is running.
    pub(crate) fn check_running(&self, action: &'static str) -> Result<()> {
        match self.state() {
            SandboxState::Running => Ok(()),
            state => Err(SoulBoxError::InvalidState { state, action }),
        }
    }

    /// Pauses the sandbox: waits for an execution in progress to finish, then refuses
    /// executions, file writes and new, forked or restored sessions until [`resume`](Self::resume)
    /// (`Err(InvalidState)` naming the paused state). Reading files and
    /// [`Session::snapshot`](crate::Session::snapshot) still work.
    ///
    /// What this means for in-process wasm: an idle guest uses no CPU whether paused or not
    /// (nothing runs between executions), and its memory stays allocated. To free a session's
    /// memory, snapshot it to disk and drop it (or terminate the sandbox); restore it later with
    /// [`restore_session`](Self::restore_session). Pausing an already paused sandbox does
    /// nothing; a terminated one cannot be paused.
    pub async fn pause(&self) -> Result<()> {
        let _turn = self.inner.exec_lock.lock().await;
        let mut state = lock(&self.inner.state);
        match *state {
            SandboxState::Running | SandboxState::Paused => {
                *state = SandboxState::Paused;
                Ok(())
            }
            other => Err(SoulBoxError::InvalidState {
                state: other,
                action: "pause",
            }),
        }
    }

    /// Resumes a paused sandbox (a running one stays running); a terminated one cannot resume.
    pub async fn resume(&self) -> Result<()> {
        let mut state = lock(&self.inner.state);
        match *state {
            SandboxState::Running | SandboxState::Paused => {
                *state = SandboxState::Running;
                Ok(())
            }
            other => Err(SoulBoxError::InvalidState {
                state: other,
                action: "resume",
            }),
        }
    }

    /// Runs `code` in `language` with no arguments and empty stdin.
    pub async fn execute_code(
        &self,
        language: Language,
        code: impl AsRef<[u8]>,
    ) -> Result<ExecutionResult> {
        self.execute(ExecutionRequest::new(language, code.as_ref()))
            .await
    }

    /// Runs a full request. A guest breaking a limit is `Ok` with a non-`ok` status; `Err` means the
    /// host could not run it at all (bad request, missing runtime, I/O failure).
    pub async fn execute(&self, request: ExecutionRequest) -> Result<ExecutionResult> {
        self.execute_inner(request, None).await
    }

    /// Runs `code` and streams stdout/stderr chunks as the guest writes them, then artifacts, then
    /// the final [`StreamOutput::Exit`]. A host error ends the stream with `Err`. Dropping the
    /// stream cancels the execution.
    pub fn stream_execute(
        &self,
        language: Language,
        code: impl AsRef<[u8]>,
    ) -> impl Stream<Item = Result<StreamOutput>> + Send + 'static {
        self.stream(ExecutionRequest::new(language, code.as_ref()))
    }

    /// Streaming form of [`execute`](Self::execute).
    pub fn stream(
        &self,
        request: ExecutionRequest,
    ) -> impl Stream<Item = Result<StreamOutput>> + Send + 'static {
        let (tx, rx) = unbounded_channel();
        let sandbox = self.clone();
        let exec: ExecFuture =
            Box::pin(async move { sandbox.execute_inner(request, Some(tx)).await });
        futures::stream::unfold(StreamState::Running { exec, rx }, next_event)
    }

    async fn execute_inner(
        &self,
        request: ExecutionRequest,
        events: Option<UnboundedSender<StreamOutput>>,
    ) -> Result<ExecutionResult> {
        let signals = Arc::new(RunSignals::default());
        let turn = self.begin("execute", signals.clone()).await?;
        let workspace = turn.workspace();
        let config = &self.inner.config;
        let started = Instant::now();
        let packages = self.packages().view();
        // Planning may compile (seconds, for C++): `terminate` stops it like a running guest.
        let planned = tokio::select! {
            planned = plan(&self.inner.engine, config, &request, packages.as_ref()) => Some(planned),
            () = killed(&signals) => None,
        };
        let plan = match planned {
            Some(Ok(plan)) if signals.reason() != Some(StopReason::Killed) => plan,
            Some(Err(e)) => return Err(e),
            _ => return Ok(ExecutionResult::killed_before_run(started.elapsed())),
        };
        let channel = self.host_channel();
        let mut env: Vec<(String, String)> = config
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        env.extend(request.env.iter().cloned());
        // What runs is tracked from just before it starts; a refused or uncompiled one made nothing.
        let (outcome, isolation_before, tracking) = match plan {
            Plan::Refused {
                status,
                error,
                isolation,
            } => {
                return Ok(ExecutionResult::refused(
                    status,
                    error,
                    isolation,
                    started.elapsed(),
                ));
            }
            Plan::CompileFailed {
                diagnostics,
                reason,
                isolation,
            } => {
                // Streaming callers see the diagnostics where the program's stderr would be.
                if let Some(events) = &events {
                    let _ = events.send(StreamOutput::Stderr(diagnostics.clone().into()));
                }
                return Ok(ExecutionResult::compile_failed(
                    diagnostics,
                    reason,
                    isolation,
                    started.elapsed(),
                ));
            }
            Plan::Wasm {
                program,
                spent,
                isolation,
            } => {
                let tracking = workspace.track()?;
                let run = WasmRun {
                    program,
                    guest: GuestContext {
                        config,
                        workspace: workspace.host_path(),
                        env,
                        stdin: request.stdin,
                        events,
                        signals,
                        packages: None,
                        channel: Some(channel.clone()),
                    },
                    // Compiling a guest's module took part of its timeout; the run gets the rest.
                    deadline: wasm::deadline_after(
                        Instant::now(),
                        config.timeout.saturating_sub(spent),
                    ),
                };
                (
                    wasm::run(self.inner.engine.wasm(), run).await,
                    isolation,
                    tracking,
                )
            }
            Plan::Component {
                component,
                argv,
                spent,
                isolation,
            } => {
                let tracking = workspace.track()?;
                let run = crate::wasip2::ComponentRun {
                    component,
                    argv,
                    guest: GuestContext {
                        config,
                        workspace: workspace.host_path(),
                        env,
                        stdin: request.stdin,
                        events,
                        signals,
                        packages: None,
                        channel: Some(channel.clone()),
                    },
                    deadline: wasm::deadline_after(
                        Instant::now(),
                        config.timeout.saturating_sub(spent),
                    ),
                    // The component's sandboxes are nested in this one (`component.rs`).
                    executor: Arc::new(self.clone()),
                };
                let engine = &self.inner.engine;
                let outcome =
                    crate::wasip2::run(&engine.wasm().engine, engine.component_linker(), run).await;
                (outcome, isolation, tracking)
            }
            #[cfg(target_os = "linux")]
            Plan::Native(program) => {
                let tracking = workspace.track()?;
                let run = crate::native::NativeRun {
                    program,
                    guest: GuestContext {
                        config,
                        workspace: workspace.host_path(),
                        env,
                        stdin: request.stdin,
                        events,
                        signals,
                        packages: None,
                        channel: None,
                    },
                    workspace_dir: workspace.dir(),
                };
                (crate::native::run(run).await, Vec::new(), tracking)
            }
        };
        let mut outcome = outcome?;
        let artifacts = tracking.artifacts(config)?;
        outcome.isolation = isolation_before
            .into_iter()
            .chain(outcome.isolation)
            .collect();
        let mut result = outcome.into_result(started.elapsed(), artifacts, None);
        crate::tools::record(&mut result, &channel);
        Ok(result)
    }

    /// How deep this sandbox is nested (0: created by a caller).
    pub(crate) fn nesting(&self) -> u32 {
        self.inner.nesting
    }

    /// The count of this sandbox's live nested sandboxes and sessions.
    pub(crate) fn children(&self) -> &Arc<AtomicUsize> {
        &self.inner.children
    }

    /// Remembers a session so `terminate` can free it.
    pub(crate) fn register_session(&self, slot: &Arc<crate::wasm::live::SessionSlot>) {
        let mut sessions = lock(&self.inner.sessions);
        sessions.retain(|s| s.strong_count() > 0);
        sessions.push(Arc::downgrade(slot));
    }

    /// Takes this sandbox's execution turn for `action`: waits for any execution in progress,
    /// checks the sandbox is running and registers `signals` so `terminate` can stop the guest.
    pub(crate) async fn begin(
        &self,
        action: &'static str,
        signals: Arc<RunSignals>,
    ) -> Result<Turn<'_>> {
        self.begin_in(action, signals, false).await
    }

    /// [`begin`](Self::begin) for work that only reads the sandbox, allowed while paused.
    pub(crate) async fn begin_allowing_paused(
        &self,
        action: &'static str,
        signals: Arc<RunSignals>,
    ) -> Result<Turn<'_>> {
        self.begin_in(action, signals, true).await
    }

    async fn begin_in(
        &self,
        action: &'static str,
        signals: Arc<RunSignals>,
        allow_paused: bool,
    ) -> Result<Turn<'_>> {
        let exclusive = self.inner.exec_lock.lock().await;
        let workspace = self.workspace(action)?;
        match self.state() {
            SandboxState::Running => {}
            SandboxState::Paused if allow_paused => {}
            state => return Err(SoulBoxError::InvalidState { state, action }),
        }
        *lock(&self.inner.running) = Some(signals);
        let active = self.inner.engine.turn_counter();
        active.fetch_add(1, Ordering::SeqCst);
        Ok(Turn {
            _exclusive: exclusive,
            running: &self.inner.running,
            workspace,
            active,
        })
    }

    /// The sandbox's packages (see `packages.rs`).
    pub(crate) fn packages(
        &self,
    ) -> std::sync::MutexGuard<'_, crate::package_layer::SandboxPackages> {
        lock(&self.inner.packages)
    }

    /// Registers a host tool its guests can call (Python `soulbox.call_tool(name, **args)`,
    /// JavaScript `soulbox.callTool(name, args)`, Ruby `SoulBox.call_tool(name, args)`,
    /// components through WIT `soulbox:sandbox/tools`). The guest's arguments are checked
    /// against `function.parameters` (JSON Schema) before `handler` runs; what it returns (or
    /// the error message) goes back to the guest, and every call is recorded in the result's
    /// `tool_calls`. Caps: `max_tool_calls`, `max_host_call_bytes`, `tool_timeout`. A tool of the
    /// same name is replaced; an execution already running keeps the tools it started with.
    ///
    /// ```no_run
    /// # async fn demo() -> soulbox::Result<()> {
    /// use serde_json::json;
    /// use soulbox::{Language, Sandbox, SandboxConfig, ToolFunction};
    /// let sandbox = Sandbox::create(SandboxConfig::default()).await?;
    /// sandbox.register_tool(
    ///     ToolFunction::new("weather", "Weather in a city",
    ///         json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})),
    ///     |args: serde_json::Value| async move { Ok(json!({"city": args["city"], "temp_c": 21})) },
    /// )?;
    /// let result = sandbox
    ///     .execute_code(Language::Python, "import soulbox; print(soulbox.tools.weather(city='Paris'))")
    ///     .await?;
    /// assert_eq!(result.tool_calls.len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn register_tool(&self, function: ToolFunction, handler: impl ToolHandler) -> Result<()> {
        self.inner.host.register(function, handler)
    }

    /// Removes a registered tool; whether there was one of that name.
    pub fn unregister_tool(&self, name: &str) -> bool {
        self.inner.host.unregister(name)
    }

    /// The registered tools' descriptions, sorted by name.
    pub fn registered_tools(&self) -> Vec<ToolFunction> {
        self.inner.host.list()
    }

    /// A fresh host channel (tools, allow-listed HTTP) for one execution or cell.
    pub(crate) fn host_channel(&self) -> Arc<soulbox_host::HostChannel> {
        self.inner.host.channel()
    }

    /// The engine this sandbox runs on.
    pub(crate) fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Writes a file into the workspace (parents created). `path` is relative to the workspace or
    /// starts with `/work/`.
    pub async fn write_file(&self, path: &str, data: impl AsRef<[u8]>) -> Result<()> {
        self.writable_workspace("write a file")?
            .write_file(path, data.as_ref())
    }

    /// Reads a file from the workspace.
    pub async fn read_file(&self, path: &str) -> Result<Vec<u8>> {
        self.workspace("read a file")?.read_file(path)
    }

    /// At most `max` bytes from the start of a workspace file, and its size (the agent tools'
    /// capped `read_file`).
    pub(crate) async fn read_file_head(&self, path: &str, max: u64) -> Result<(Vec<u8>, u64)> {
        self.workspace("read a file")?.read_head(path, max)
    }

    /// Lists files and directories under `path` (`""` for the whole workspace), recursively.
    pub async fn list_files(&self, path: &str) -> Result<Vec<FileInfo>> {
        self.workspace("list files")?.list_files(path, 10_000)
    }

    /// Creates a directory (and its missing parents) in the workspace.
    pub async fn make_dir(&self, path: &str) -> Result<()> {
        self.writable_workspace("make a directory")?.make_dir(path)
    }

    /// Renames (moves) a file or directory within the workspace, creating the destination's
    /// parents; an existing file at the destination is replaced.
    pub async fn rename_file(&self, from: &str, to: &str) -> Result<()> {
        self.writable_workspace("move a file")?.rename(from, to)
    }

    /// Removes a file or directory (recursively) from the workspace.
    pub async fn remove_file(&self, path: &str) -> Result<()> {
        self.writable_workspace("remove a file")?.remove_file(path)
    }

    /// Ends the sandbox: a running execution stops with status `killed`, the workspace is removed
    /// (unless it was supplied by the caller), every session's interpreter instance is freed
    /// (its store, memory and private root), and every later call is refused with
    /// `InvalidState`. Idempotent; allowed from any state.
    pub async fn terminate(&self) {
        *lock(&self.inner.state) = SandboxState::Terminated;
        if let Some(signals) = lock(&self.inner.running).as_ref() {
            signals.stop(StopReason::Killed);
        }
        // Wait for a running execution to notice, then drop the workspace.
        let _turn = self.inner.exec_lock.lock().await;
        let workspace = lock(&self.inner.workspace).take();
        // Removing a directory tree can take milliseconds (ext4 with online discard, network
        // filesystems); nobody needs to wait for it, so it happens on a blocking thread.
        if let Some(workspace) = workspace {
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => drop(handle.spawn_blocking(move || drop(workspace))),
                Err(_) => drop(workspace),
            }
        }
        // Free the sessions' instances. The turn is released first: a session holds its own
        // lock while it waits for the turn, and sees the terminated state once it gets it.
        drop(_turn);
        let sessions = std::mem::take(&mut *lock(&self.inner.sessions));
        for slot in sessions.iter().filter_map(Weak::upgrade) {
            *slot.lock().await = crate::wasm::live::SessionState::Closed;
        }
    }

    /// The directory of a caller-supplied workspace, if any.
    pub fn persistent_storage(&self) -> Option<&Path> {
        self.inner.config.persistent_storage.as_deref()
    }
}

/// Resolves once the run has been asked to stop by `terminate`.
async fn killed(signals: &RunSignals) {
    while signals.reason() != Some(StopReason::Killed) {
        tokio::time::sleep(crate::wasm::config::EPOCH_TICK).await;
    }
}

type ExecFuture = Pin<Box<dyn std::future::Future<Output = Result<ExecutionResult>> + Send>>;

enum StreamState {
    Running {
        exec: ExecFuture,
        rx: UnboundedReceiver<StreamOutput>,
    },
    Finishing {
        pending: std::collections::VecDeque<Result<StreamOutput>>,
    },
    Done,
}

async fn next_event(state: StreamState) -> Option<(Result<StreamOutput>, StreamState)> {
    match state {
        StreamState::Running { mut exec, mut rx } => {
            tokio::select! {
                biased;
                Some(event) = rx.recv() => Some((Ok(event), StreamState::Running { exec, rx })),
                result = &mut exec => {
                    let mut pending = std::collections::VecDeque::new();
                    while let Ok(event) = rx.try_recv() {
                        pending.push_back(Ok(event));
                    }
                    match result {
                        Ok(result) => {
                            for artifact in &result.artifacts {
                                pending.push_back(Ok(if artifact.is_image() {
                                    StreamOutput::Image(artifact.clone())
                                } else {
                                    StreamOutput::Artifact(artifact.clone())
                                }));
                            }
                            pending.push_back(Ok(StreamOutput::Exit(Box::new(result))));
                        }
                        Err(e) => pending.push_back(Err(e)),
                    }
                    Box::pin(next_event(StreamState::Finishing { pending })).await
                }
            }
        }
        StreamState::Finishing { mut pending } => {
            let event = pending.pop_front()?;
            let next = if pending.is_empty() {
                StreamState::Done
            } else {
                StreamState::Finishing { pending }
            };
            Some((event, next))
        }
        StreamState::Done => None,
    }
}

impl Engine {
    /// Creates a sandbox with its own workspace and limits.
    pub async fn sandbox(&self, config: SandboxConfig) -> Result<Sandbox> {
        Sandbox::with_engine(self.clone(), config)
    }
}
