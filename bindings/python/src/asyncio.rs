//! The async API: `SoulBox` (the seed's name), its sessions and its event streams.

use std::path::PathBuf;
use std::sync::Arc;

use futures::StreamExt;
use pyo3::exceptions::PyStopAsyncIteration;
use pyo3::prelude::*;

use crate::bridge::{Bytes, Data, awaitable, future};
use crate::config::PySandboxConfig;
use crate::error::Outcome;
use crate::result::{PyExecutionResult, PyFileInfo, PyInstallReport, event_object};
use crate::target::{self, EventStream, SessionTarget, Snapshot, Target};
use crate::tools;

/// A sandbox for asyncio code: the engine embedded in this process (``SoulBox(config)``) or a
/// ``soulbox serve`` (``SoulBox.connect(url, token=...)``), with the same methods either way::
///
///     async with SoulBox(SandboxConfig(memory_limit=512 * 1024 * 1024, timeout=30)) as sandbox:
///         result = await sandbox.execute_code(language="python", code="print(6 * 7)")
///         print(result.stdout, result.execution_time, result.memory_usage)
///
/// The sandbox is created on ``async with`` or on first use, and ended by ``close()`` (or
/// leaving the ``async with``). A guest never holds the GIL: other tasks and threads keep running.
#[pyclass(frozen, module = "soulbox._native", name = "SoulBox")]
pub struct SoulBox {
    pub target: Arc<Target>,
}

pub fn config_of(config: Option<PyRef<'_, PySandboxConfig>>) -> soulbox::SandboxConfig {
    config.map_or_else(PySandboxConfig::default_config, |c| c.inner.clone())
}

/// A snapshot argument: a `Snapshot` or the path of a snapshot file.
#[derive(FromPyObject)]
pub enum SnapshotArg {
    /// A `Snapshot` returned by `Session.snapshot`.
    Snapshot(Py<PySnapshot>),
    /// A snapshot file written earlier.
    Path(PathBuf),
}

impl SnapshotArg {
    pub fn resolve(self) -> Arc<Snapshot> {
        match self {
            SnapshotArg::Snapshot(s) => s.get().inner.clone(),
            SnapshotArg::Path(p) => Arc::new(Snapshot::from_path(p)),
        }
    }
}

#[pymethods]
impl SoulBox {
    /// An embedded sandbox with ``config`` (default limits when omitted).
    #[new]
    #[pyo3(signature = (config=None))]
    fn new(config: Option<PyRef<'_, PySandboxConfig>>) -> Self {
        SoulBox {
            target: Target::embedded(config_of(config)),
        }
    }

    /// A sandbox on the SoulBox server at ``url`` (``http://host:7070``; ``https://`` for TLS),
    /// authenticated with ``token``. The same methods as an embedded one.
    #[staticmethod]
    #[pyo3(signature = (url, *, token=None, config=None))]
    fn connect(
        url: String,
        token: Option<String>,
        config: Option<PyRef<'_, PySandboxConfig>>,
    ) -> Self {
        SoulBox {
            target: Target::remote(url, token, config_of(config)),
        }
    }

    /// Creates an embedded sandbox now: ``sandbox = await SoulBox.create(config)``.
    #[staticmethod]
    #[pyo3(signature = (config=None))]
    fn create<'py>(
        py: Python<'py>,
        config: Option<PyRef<'py, PySandboxConfig>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let target = Target::embedded(config_of(config));
        awaitable(py, async move {
            target.start().await?;
            Ok(SoulBox { target })
        })
    }

    fn __aenter__<'py>(slf: Py<Self>, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let target = slf.get().target.clone();
        awaitable(py, async move {
            target.start().await?;
            Ok(slf)
        })
    }

    #[pyo3(signature = (*_exc))]
    fn __aexit__<'py>(
        &self,
        py: Python<'py>,
        _exc: &Bound<'py, pyo3::types::PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let target = self.target.clone();
        awaitable(py, async move { target.close().await })
    }

    /// Creates the sandbox now (otherwise the first call does).
    fn start<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let target = self.target.clone();
        awaitable(py, async move { target.start().await })
    }

    /// Ends the sandbox: a running execution stops and the workspace is removed (unless it was
    /// given in the config). Later calls raise ``InvalidState``.
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let target = self.target.clone();
        awaitable(py, async move { target.close().await })
    }

    /// Runs ``code`` (``str``, or ``bytes`` for a wasm module) in ``language`` (a name or file
    /// extension: ``python``, ``javascript``/``js``, ``ruby``, ``rust``, ``c``, ``cpp``,
    /// ``wasm``...) and returns an ``ExecutionResult``. An unknown language raises
    /// ``UnknownLanguage`` (a ``ValueError``).
    fn execute_code<'py>(
        &self,
        py: Python<'py>,
        language: &str,
        code: Data,
    ) -> PyResult<Bound<'py, PyAny>> {
        let language = target::language(language).map_err(|f| f.into_pyerr(py))?;
        let target = self.target.clone();
        let code = code.into_bytes();
        awaitable(py, async move {
            target
                .execute(language, code)
                .await
                .map(PyExecutionResult::new)
        })
    }

    /// Runs ``code`` and yields events as the guest produces them: ``OutputEvent``
    /// (``kind`` ``"stdout"``/``"stderr"``), then ``ArtifactEvent`` (``"image"``/``"artifact"``),
    /// then the ``ExecutionResult`` (``kind == "result"``)::
    ///
    ///     async for event in sandbox.stream_execute("python", code):
    ///         ...
    fn stream_execute(&self, py: Python<'_>, language: &str, code: Data) -> PyResult<AsyncEvents> {
        let language = target::language(language).map_err(|f| f.into_pyerr(py))?;
        Ok(AsyncEvents::new(Pending::Execute {
            target: self.target.clone(),
            language,
            code: code.into_bytes(),
        }))
    }

    /// Writes ``data`` (``str`` or ``bytes``) to ``path`` in the workspace.
    fn write_file<'py>(
        &self,
        py: Python<'py>,
        path: String,
        data: Data,
    ) -> PyResult<Bound<'py, PyAny>> {
        let target = self.target.clone();
        let data = data.into_bytes();
        awaitable(py, async move { target.write_file(path, data).await })
    }

    /// Reads a workspace file as ``bytes``.
    fn read_file<'py>(&self, py: Python<'py>, path: String) -> PyResult<Bound<'py, PyAny>> {
        let target = self.target.clone();
        awaitable(py, async move { target.read_file(path).await.map(Bytes) })
    }

    /// Lists a workspace directory (``"."`` is the workspace root) as ``FileInfo`` entries.
    #[pyo3(signature = (path=".".to_owned()))]
    fn list_files<'py>(&self, py: Python<'py>, path: String) -> PyResult<Bound<'py, PyAny>> {
        let target = self.target.clone();
        awaitable(py, async move {
            let files = target.list_files(path).await?;
            Ok(files.into_iter().map(PyFileInfo::new).collect::<Vec<_>>())
        })
    }

    /// Removes a workspace file or empty directory.
    fn remove_file<'py>(&self, py: Python<'py>, path: String) -> PyResult<Bound<'py, PyAny>> {
        let target = self.target.clone();
        awaitable(py, async move { target.remove_file(path).await })
    }

    /// Registers a host tool guest code can call (``soulbox.call_tool(name, **arguments)`` in
    /// Python guests) and ``tools()`` / ``execute_tool_call`` offer a model. ``parameters`` is
    /// the JSON Schema of the arguments (default: an object with no declared properties); calls
    /// are checked against it before ``handler`` runs. ``handler`` (sync or ``async def``) gets
    /// the arguments as keyword arguments and returns a JSON-serialisable value; an exception
    /// reaches the guest as a ``soulbox.ToolError`` with its message. Without ``handler``,
    /// returns a decorator::
    ///
    ///     @sandbox.register_tool("weather", "Current weather in a city",
    ///                            {"type": "object", "properties": {"city": {"type": "string"}}})
    ///     def weather(city):
    ///         return {"city": city, "temp_c": 21}
    ///
    /// Creates the sandbox if it does not exist yet. Embedded sandboxes only (``Unsupported``
    /// over gRPC).
    #[pyo3(signature = (name, description=String::new(), parameters=None, handler=None))]
    fn register_tool<'py>(
        slf: &Bound<'py, Self>,
        name: String,
        description: String,
        parameters: Option<Bound<'py, PyAny>>,
        handler: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let target = slf.get().target.clone();
        tools::register(
            slf.as_any(),
            &target,
            name,
            description,
            parameters,
            handler,
        )
    }

    /// SoulBox's abilities (``run_code``, ``write_file``, ``read_file``, ``list_files``) and
    /// the registered tools as an OpenAI-style ``tools`` list, ready for a chat-completions
    /// request: ``[{"type": "function", "function": {"name", "description", "parameters"}}]``.
    fn tools<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        tools::tools(py, &self.target)
    }

    /// Runs a tool call a model made - ``name`` and its ``arguments`` (the JSON text the model
    /// sent, or a ``dict``) - and returns the answer as a ``dict`` ready to send back as the
    /// tool message (``json.dumps`` it). Failures are answers too: ``{"error": ..., "kind": ...}``.
    #[pyo3(signature = (name, arguments=None))]
    fn execute_tool_call<'py>(
        &self,
        py: Python<'py>,
        name: String,
        arguments: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let arguments = tools::arguments(py, arguments.as_ref())?;
        awaitable(py, tools::execute(&self.target, name, arguments))
    }

    /// Installs one package for ``language``'s guests in this sandbox; see
    /// ``install_packages``. Returns an ``InstallReport``.
    #[pyo3(signature = (language, spec, *, offline=false))]
    fn install_package<'py>(
        &self,
        py: Python<'py>,
        language: &str,
        spec: String,
        offline: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.install_packages(py, language, vec![spec], offline)
    }

    /// Installs ``specs`` (resolved together) for ``language``'s guests in this sandbox:
    /// Python requirement specifiers (``"idna"``, ``"attrs>=23"``), npm specs for
    /// ``"javascript"``, ``.gem`` files for ``"ruby"`` (a host path embedded, a workspace path
    /// remote). Later executions and sessions' later cells import them. Wheels only, nothing
    /// built or run on the host; what the runtime ships counts as installed. ``offline``:
    /// from the cache only. Returns an ``InstallReport``; a refused package raises
    /// ``PackageError`` with the reason, a malformed spec ``ConfigError``.
    #[pyo3(signature = (language, specs, *, offline=false))]
    fn install_packages<'py>(
        &self,
        py: Python<'py>,
        language: &str,
        specs: Vec<String>,
        offline: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let language = target::language(language).map_err(|f| f.into_pyerr(py))?;
        let target = self.target.clone();
        awaitable(py, async move {
            target
                .install_packages(language, specs, offline)
                .await
                .map(PyInstallReport::new)
        })
    }

    /// Suspends the sandbox: executions and writes raise ``InvalidState`` until ``resume()``.
    fn pause<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let target = self.target.clone();
        awaitable(py, async move { target.pause().await })
    }

    /// Lets a paused sandbox run code again.
    fn resume<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let target = self.target.clone();
        awaitable(py, async move { target.resume().await })
    }

    /// The lifecycle state: ``"created"`` (not used yet), ``"running"``, ``"paused"``,
    /// ``"terminated"``.
    fn state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let target = self.target.clone();
        awaitable(py, async move { target.state().await })
    }

    /// Starts a session in ``language`` (``python``, ``javascript``, ``ruby``): one interpreter
    /// whose variables persist from one ``await session.run(cell)`` to the next.
    fn session<'py>(&self, py: Python<'py>, language: &str) -> PyResult<Bound<'py, PyAny>> {
        let language = target::language(language).map_err(|f| f.into_pyerr(py))?;
        let target = self.target.clone();
        awaitable(py, async move {
            target.session(language).await.map(Session::new)
        })
    }

    /// A session restored from ``snapshot`` (a ``Snapshot`` or, embedded, a snapshot file path).
    fn restore<'py>(&self, py: Python<'py>, snapshot: SnapshotArg) -> PyResult<Bound<'py, PyAny>> {
        let snapshot = snapshot.resolve();
        let target = self.target.clone();
        awaitable(py, async move {
            target.restore(&snapshot).await.map(Session::new)
        })
    }

    /// The sandbox's id once it exists (``None`` before first use).
    #[getter]
    fn id(&self) -> Option<String> {
        self.target.id()
    }

    /// Whether this sandbox lives on a server.
    #[getter]
    fn remote(&self) -> bool {
        self.target.is_remote()
    }

    /// The configuration it was created with.
    #[getter]
    fn config(&self) -> PySandboxConfig {
        PySandboxConfig {
            inner: self.target.config().clone(),
        }
    }

    fn __repr__(&self) -> String {
        let mode = if self.target.is_remote() {
            "remote"
        } else {
            "embedded"
        };
        format!("SoulBox({mode}, id={:?})", self.target.id())
    }
}

/// A live interpreter in a sandbox (from ``await sandbox.session(language)``); its state
/// persists across ``run`` calls. A cell that breaks a limit poisons the session
/// (``SessionPoisoned`` on the next call) until ``reset()``.
#[pyclass(frozen, module = "soulbox._native", name = "Session")]
pub struct Session {
    inner: Arc<SessionTarget>,
}

impl Session {
    fn new(inner: SessionTarget) -> Session {
        Session {
            inner: Arc::new(inner),
        }
    }
}

#[pymethods]
impl Session {
    /// Runs one cell; returns its ``ExecutionResult`` (``value`` holds the last expression's
    /// text form, when it had one).
    fn run<'py>(&self, py: Python<'py>, code: Data) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        let code = code.into_bytes();
        awaitable(py, async move {
            inner.run(code).await.map(PyExecutionResult::new)
        })
    }

    /// A new session with a copy of this one's interpreter state.
    fn fork<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        awaitable(py, async move { inner.fork().await.map(Session::new) })
    }

    /// Replaces the interpreter with a fresh one (clears a poisoned session).
    fn reset<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        awaitable(py, async move { inner.reset().await })
    }

    /// Saves the interpreter state and workspace files. Embedded: to ``path`` (a temporary
    /// file living as long as the returned ``Snapshot`` when omitted). Remote: on the server.
    #[pyo3(signature = (path=None))]
    fn snapshot<'py>(&self, py: Python<'py>, path: Option<PathBuf>) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        awaitable(py, async move {
            inner
                .snapshot(path)
                .await
                .map(|s| PySnapshot { inner: Arc::new(s) })
        })
    }

    /// Frees the interpreter; later calls raise ``InvalidState``.
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        awaitable(py, async move { inner.close().await })
    }

    fn __aenter__<'py>(slf: Py<Self>, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        awaitable(py, async move { Outcome::Ok(slf) })
    }

    #[pyo3(signature = (*_exc))]
    fn __aexit__<'py>(
        &self,
        py: Python<'py>,
        _exc: &Bound<'py, pyo3::types::PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.close(py)
    }

    /// The session's language.
    #[getter]
    fn language(&self) -> &'static str {
        self.inner.language()
    }

    /// The runtime serving it (``python``, ``quickjs-session``, ``ruby``).
    #[getter]
    fn runtime(&self) -> String {
        self.inner.runtime().to_owned()
    }

    fn __repr__(&self) -> String {
        format!(
            "Session(language='{}', runtime='{}')",
            self.language(),
            self.inner.runtime()
        )
    }
}

/// A saved session (``await session.snapshot()``), to give to ``sandbox.restore``.
#[pyclass(frozen, module = "soulbox._native", name = "Snapshot")]
pub struct PySnapshot {
    pub inner: Arc<Snapshot>,
}

#[pymethods]
impl PySnapshot {
    /// The snapshot file (embedded), or ``None`` (remote).
    #[getter]
    fn path(&self) -> Option<PathBuf> {
        self.inner.path().map(|p| p.to_path_buf())
    }
    /// The server's id (remote), or ``None`` (embedded).
    #[getter]
    fn id(&self) -> Option<String> {
        self.inner.id().map(str::to_owned)
    }
    /// Size in bytes.
    #[getter]
    fn size(&self) -> u64 {
        self.inner.size()
    }
    fn __repr__(&self) -> String {
        match (self.inner.path(), self.inner.id()) {
            (Some(p), _) => format!("Snapshot(path={:?}, size={})", p, self.inner.size()),
            (None, id) => format!(
                "Snapshot(id={:?}, size={})",
                id.unwrap_or_default(),
                self.inner.size()
            ),
        }
    }
}

/// What a stream does before its first event.
pub enum Pending {
    /// Start an execution.
    Execute {
        target: Arc<Target>,
        language: soulbox::Language,
        code: Vec<u8>,
    },
}

/// A stream's progress: not started, running, or finished.
pub enum StreamState {
    Pending(Pending),
    Running(EventStream),
    Done,
}

impl StreamState {
    /// The next event, or `None` at the end (after the result, or after an error was raised).
    pub async fn next(&mut self) -> Outcome<Option<soulbox::StreamOutput>> {
        if let StreamState::Pending(_) = self {
            let StreamState::Pending(Pending::Execute {
                target,
                language,
                code,
            }) = std::mem::replace(self, StreamState::Done)
            else {
                return Ok(None);
            };
            *self = StreamState::Running(target.stream(language, code).await?);
        }
        let StreamState::Running(stream) = self else {
            return Ok(None);
        };
        match stream.next().await {
            None => {
                *self = StreamState::Done;
                Ok(None)
            }
            Some(Err(failure)) => {
                *self = StreamState::Done;
                Err(failure)
            }
            Some(Ok(event)) => {
                if let soulbox::StreamOutput::Exit(_) = event {
                    *self = StreamState::Done;
                }
                Ok(Some(event))
            }
        }
    }
}

/// One stream event on its way to Python.
pub struct Event(pub soulbox::StreamOutput);

impl<'py> IntoPyObject<'py> for Event {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        Ok(event_object(py, self.0)?.into_bound(py))
    }
}

/// What `__anext__` resolves to: an event, or the end (raised as `StopAsyncIteration`).
pub enum NextEvent {
    Event(Event),
    End,
}

impl<'py> IntoPyObject<'py> for NextEvent {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        match self {
            NextEvent::Event(event) => event.into_pyobject(py),
            NextEvent::End => Err(PyStopAsyncIteration::new_err(())),
        }
    }
}

/// The events of one execution, for ``async for``. Leaving the loop early (or ``aclose()``)
/// stops the guest.
#[pyclass(frozen, module = "soulbox._native", name = "AsyncEvents")]
pub struct AsyncEvents {
    state: Arc<tokio::sync::Mutex<StreamState>>,
}

impl AsyncEvents {
    fn new(pending: Pending) -> Self {
        AsyncEvents {
            state: Arc::new(tokio::sync::Mutex::new(StreamState::Pending(pending))),
        }
    }
}

#[pymethods]
impl AsyncEvents {
    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let state = self.state.clone();
        future(py, async move {
            Ok(match state.lock().await.next().await? {
                Some(event) => NextEvent::Event(Event(event)),
                None => NextEvent::End,
            })
        })
    }

    /// Stops the execution if it is still running.
    fn aclose<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let state = self.state.clone();
        awaitable(py, async move {
            *state.lock().await = StreamState::Done;
            Outcome::Ok(())
        })
    }
}
