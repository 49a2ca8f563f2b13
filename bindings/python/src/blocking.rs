//! The synchronous twin: `Sandbox` for scripts and notebooks. Same methods as `SoulBox`, each
//! blocking with the GIL released (other threads keep running) and Ctrl-C stopping the guest.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::asyncio::{Event, Pending, PySnapshot, SnapshotArg, StreamState, config_of};
use crate::bridge::{Bytes, Data, block};
use crate::config::PySandboxConfig;
use crate::error::Outcome;
use crate::result::{PyExecutionResult, PyFileInfo, PyInstallReport};
use crate::target::{self, SessionTarget, Target};
use crate::tools;

/// A sandbox for synchronous code (scripts, notebooks): the same methods as ``SoulBox``, each
/// returning when done::
///
///     with Sandbox(SandboxConfig(timeout=10)) as sandbox:
///         print(sandbox.execute_code("python", "print(6 * 7)").stdout)
///
/// While a guest runs the GIL is released, so other Python threads keep running; Ctrl-C stops
/// the guest and raises ``KeyboardInterrupt``.
#[pyclass(frozen, module = "soulbox._native", name = "Sandbox")]
pub struct Sandbox {
    target: Arc<Target>,
}

#[pymethods]
impl Sandbox {
    /// An embedded sandbox with ``config`` (default limits when omitted).
    #[new]
    #[pyo3(signature = (config=None))]
    fn new(config: Option<PyRef<'_, PySandboxConfig>>) -> Self {
        Sandbox {
            target: Target::embedded(config_of(config)),
        }
    }

    /// A sandbox on the SoulBox server at ``url``, authenticated with ``token``.
    #[staticmethod]
    #[pyo3(signature = (url, *, token=None, config=None))]
    fn connect(
        url: String,
        token: Option<String>,
        config: Option<PyRef<'_, PySandboxConfig>>,
    ) -> Self {
        Sandbox {
            target: Target::remote(url, token, config_of(config)),
        }
    }

    fn __enter__(slf: Py<Self>, py: Python<'_>) -> PyResult<Py<Self>> {
        let target = slf.get().target.clone();
        block(py, async move { target.start().await })?;
        Ok(slf)
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<()> {
        self.close(py)
    }

    /// Creates the sandbox now (otherwise the first call does).
    fn start(&self, py: Python<'_>) -> PyResult<()> {
        block(py, self.target.start())
    }

    /// Ends the sandbox; later calls raise ``InvalidState``.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        block(py, self.target.close())
    }

    /// Runs ``code`` in ``language`` and returns an ``ExecutionResult``.
    fn execute_code(
        &self,
        py: Python<'_>,
        language: &str,
        code: Data,
    ) -> PyResult<PyExecutionResult> {
        let language = target::language(language).map_err(|f| f.into_pyerr(py))?;
        block(py, self.target.execute(language, code.into_bytes())).map(PyExecutionResult::new)
    }

    /// Runs ``code`` and returns an iterator of events as the guest produces them (output,
    /// artifacts, then the ``ExecutionResult``).
    fn stream_execute(&self, py: Python<'_>, language: &str, code: Data) -> PyResult<Events> {
        let language = target::language(language).map_err(|f| f.into_pyerr(py))?;
        Ok(Events {
            state: Arc::new(tokio::sync::Mutex::new(StreamState::Pending(
                Pending::Execute {
                    target: self.target.clone(),
                    language,
                    code: code.into_bytes(),
                },
            ))),
        })
    }

    /// Writes ``data`` (``str`` or ``bytes``) to ``path`` in the workspace.
    fn write_file(&self, py: Python<'_>, path: String, data: Data) -> PyResult<()> {
        block(py, self.target.write_file(path, data.into_bytes()))
    }

    /// Reads a workspace file as ``bytes``.
    fn read_file(&self, py: Python<'_>, path: String) -> PyResult<Bytes> {
        block(py, self.target.read_file(path)).map(Bytes)
    }

    /// Lists a workspace directory as ``FileInfo`` entries.
    #[pyo3(signature = (path=".".to_owned()))]
    fn list_files(&self, py: Python<'_>, path: String) -> PyResult<Vec<PyFileInfo>> {
        let files = block(py, self.target.list_files(path))?;
        Ok(files.into_iter().map(PyFileInfo::new).collect())
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
    ) -> PyResult<tools::Json> {
        let arguments = tools::arguments(py, arguments.as_ref())?;
        block(py, tools::execute(&self.target, name, arguments))
    }

    /// Removes a workspace file or empty directory.
    fn remove_file(&self, py: Python<'_>, path: String) -> PyResult<()> {
        block(py, self.target.remove_file(path))
    }

    /// Installs one package for ``language``'s guests in this sandbox; see
    /// ``install_packages``. Returns an ``InstallReport``.
    #[pyo3(signature = (language, spec, *, offline=false))]
    fn install_package(
        &self,
        py: Python<'_>,
        language: &str,
        spec: String,
        offline: bool,
    ) -> PyResult<PyInstallReport> {
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
    fn install_packages(
        &self,
        py: Python<'_>,
        language: &str,
        specs: Vec<String>,
        offline: bool,
    ) -> PyResult<PyInstallReport> {
        let language = target::language(language).map_err(|f| f.into_pyerr(py))?;
        block(py, self.target.install_packages(language, specs, offline)).map(PyInstallReport::new)
    }

    /// Suspends the sandbox until ``resume()``.
    fn pause(&self, py: Python<'_>) -> PyResult<()> {
        block(py, self.target.pause())
    }

    /// Lets a paused sandbox run code again.
    fn resume(&self, py: Python<'_>) -> PyResult<()> {
        block(py, self.target.resume())
    }

    /// The lifecycle state (``created``, ``running``, ``paused``, ``terminated``).
    fn state(&self, py: Python<'_>) -> PyResult<String> {
        block(py, self.target.state())
    }

    /// Starts a session: an interpreter whose state persists across ``run`` calls.
    fn session(&self, py: Python<'_>, language: &str) -> PyResult<SyncSession> {
        let language = target::language(language).map_err(|f| f.into_pyerr(py))?;
        block(py, self.target.session(language)).map(SyncSession::new)
    }

    /// A session restored from ``snapshot`` (a ``Snapshot`` or a snapshot file path).
    fn restore(&self, py: Python<'_>, snapshot: SnapshotArg) -> PyResult<SyncSession> {
        let snapshot = snapshot.resolve();
        block(py, self.target.restore(&snapshot)).map(SyncSession::new)
    }

    /// The sandbox's id once it exists.
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

    /// For the overhead benchmark: runs ``code`` ``iterations`` times from Rust alone (no Python
    /// between calls) and returns each call's seconds.
    fn _time_rust_calls(
        &self,
        py: Python<'_>,
        language: &str,
        code: String,
        iterations: usize,
    ) -> PyResult<Vec<f64>> {
        let language = target::language(language).map_err(|f| f.into_pyerr(py))?;
        let target = self.target.clone();
        block(py, async move {
            let mut times = Vec::with_capacity(iterations);
            for _ in 0..iterations {
                let start = Instant::now();
                target.execute(language, code.clone().into_bytes()).await?;
                times.push(start.elapsed().as_secs_f64());
            }
            Outcome::Ok(times)
        })
    }

    fn __repr__(&self) -> String {
        let mode = if self.target.is_remote() {
            "remote"
        } else {
            "embedded"
        };
        format!("Sandbox({mode}, id={:?})", self.target.id())
    }
}

/// A session of a synchronous ``Sandbox``.
#[pyclass(frozen, module = "soulbox._native", name = "SyncSession")]
pub struct SyncSession {
    inner: Arc<SessionTarget>,
}

impl SyncSession {
    fn new(inner: SessionTarget) -> Self {
        SyncSession {
            inner: Arc::new(inner),
        }
    }
}

#[pymethods]
impl SyncSession {
    /// Runs one cell and returns its ``ExecutionResult``.
    fn run(&self, py: Python<'_>, code: Data) -> PyResult<PyExecutionResult> {
        block(py, self.inner.run(code.into_bytes())).map(PyExecutionResult::new)
    }

    /// A new session with a copy of this one's state.
    fn fork(&self, py: Python<'_>) -> PyResult<SyncSession> {
        block(py, self.inner.fork()).map(SyncSession::new)
    }

    /// Replaces the interpreter with a fresh one.
    fn reset(&self, py: Python<'_>) -> PyResult<()> {
        block(py, self.inner.reset())
    }

    /// Saves the session (see ``Session.snapshot``).
    #[pyo3(signature = (path=None))]
    fn snapshot(&self, py: Python<'_>, path: Option<PathBuf>) -> PyResult<PySnapshot> {
        block(py, self.inner.snapshot(path)).map(|s| PySnapshot { inner: Arc::new(s) })
    }

    /// Frees the interpreter.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        block(py, self.inner.close())
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<()> {
        self.close(py)
    }

    /// The session's language.
    #[getter]
    fn language(&self) -> &'static str {
        self.inner.language()
    }

    /// The runtime serving it.
    #[getter]
    fn runtime(&self) -> String {
        self.inner.runtime().to_owned()
    }
}

/// The events of one execution, for a ``for`` loop. Dropping it early stops the guest.
#[pyclass(frozen, module = "soulbox._native", name = "Events")]
pub struct Events {
    state: Arc<tokio::sync::Mutex<StreamState>>,
}

#[pymethods]
impl Events {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Event>> {
        let state = self.state.clone();
        block(py, async move { state.lock().await.next().await }).map(|e| e.map(Event))
    }

    /// Stops the execution if it is still running.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let state = self.state.clone();
        block(py, async move {
            *state.lock().await = StreamState::Done;
            Outcome::Ok(())
        })
    }
}
