//! Results, artifacts, file entries and stream events as Python objects.
//!
//! Each wraps the engine's data and converts a field only when Python reads it, so a result
//! nobody inspects costs no copies.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use soulbox::{Artifact, ExecutionResult, FileInfo, StreamOutput};

/// Everything an execution produced. A guest that broke a limit is a result with a ``status``
/// (``"timeout"``, ``"memory_limit"``, ...), never an exception.
#[pyclass(frozen, module = "soulbox._native", name = "ExecutionResult")]
pub struct PyExecutionResult {
    inner: ExecutionResult,
}

impl PyExecutionResult {
    pub fn new(inner: ExecutionResult) -> Self {
        PyExecutionResult { inner }
    }
}

#[pymethods]
impl PyExecutionResult {
    /// How it ended: ``ok``, ``error`` (non-zero exit), ``timeout``, ``memory_limit``,
    /// ``fuel_exhausted``, ``output_limit``, ``disk_limit``, ``trap``, ``compile_error``, ``killed``.
    #[getter]
    fn status(&self) -> &'static str {
        self.inner.status.name()
    }
    /// True when the guest ran to completion and exited 0.
    #[getter]
    fn ok(&self) -> bool {
        self.inner.is_ok()
    }
    /// Guest stdout (UTF-8, invalid bytes replaced), capped at ``max_output_bytes``.
    #[getter]
    fn stdout(&self) -> &str {
        &self.inner.stdout
    }
    /// Guest stderr (UTF-8, invalid bytes replaced), capped at ``max_output_bytes``.
    #[getter]
    fn stderr(&self) -> &str {
        &self.inner.stderr
    }
    /// The guest's exit code, or ``None`` when the engine stopped it.
    #[getter]
    fn exit_code(&self) -> Option<i32> {
        self.inner.exit_code
    }
    /// Wall-clock time of the execution in milliseconds.
    #[getter]
    fn execution_time(&self) -> f64 {
        self.inner.execution_time.as_secs_f64() * 1000.0
    }
    /// Peak guest memory in bytes.
    #[getter]
    fn memory_usage(&self) -> u64 {
        self.inner.memory_usage
    }
    /// Instructions consumed (wasm fuel units; 0 on the native path).
    #[getter]
    fn fuel_consumed(&self) -> u64 {
        self.inner.fuel_consumed
    }
    /// Files the run created or changed in the workspace.
    #[getter]
    fn artifacts(&self) -> Vec<PyArtifact> {
        self.inner
            .artifacts
            .iter()
            .cloned()
            .map(PyArtifact::new)
            .collect()
    }
    /// For a status other than ``ok``/``error``: what happened, in words.
    #[getter]
    fn error(&self) -> Option<&str> {
        self.inner.error.as_deref()
    }
    /// The isolation layers in effect for this run (``wasm``, ``wasi-preview1``, ...).
    #[getter]
    fn isolation(&self) -> Vec<String> {
        self.inner.isolation.clone()
    }
    /// In a session: the text form of the cell's final expression, if it had one.
    #[getter]
    fn value(&self) -> Option<&str> {
        self.inner.value.as_deref()
    }
    /// The host tools the guest called, in order: dicts with ``name``, ``arguments`` (JSON
    /// text, cut to 4 KiB), ``duration`` (milliseconds), ``ok`` and ``error`` (when not ok).
    #[getter]
    fn tool_calls<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        records(py, serde_json::to_value(&self.inner.tool_calls))
    }
    /// The HTTP requests the guest asked the host for, allowed or refused: dicts with
    /// ``method``, ``url``, ``allowed``, ``status``, ``bytes`` and ``error``.
    #[getter]
    fn network<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        records(py, serde_json::to_value(&self.inner.network))
    }
    /// ``"result"``: the kind of stream event this is (the last one of ``stream_execute``).
    #[getter]
    fn kind(&self) -> &'static str {
        "result"
    }

    /// The result as a dict of plain Python values (artifact bytes included when attached).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let r = &self.inner;
        let d = PyDict::new(py);
        d.set_item("status", r.status.name())?;
        d.set_item("stdout", &r.stdout)?;
        d.set_item("stderr", &r.stderr)?;
        d.set_item("exit_code", r.exit_code)?;
        d.set_item("execution_time", self.execution_time())?;
        d.set_item("memory_usage", r.memory_usage)?;
        d.set_item("fuel_consumed", r.fuel_consumed)?;
        let artifacts = PyList::empty(py);
        for a in &r.artifacts {
            artifacts.append(artifact_dict(py, a)?)?;
        }
        d.set_item("artifacts", artifacts)?;
        d.set_item("error", r.error.as_deref())?;
        d.set_item("isolation", r.isolation.clone())?;
        d.set_item("value", r.value.as_deref())?;
        d.set_item(
            "tool_calls",
            records(py, serde_json::to_value(&r.tool_calls))?,
        )?;
        d.set_item("network", records(py, serde_json::to_value(&r.network))?)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "ExecutionResult(status='{}', exit_code={}, execution_time={:.3}, stdout={:?})",
            self.inner.status.name(),
            self.inner
                .exit_code
                .map_or_else(|| "None".to_owned(), |c| c.to_string()),
            self.execution_time(),
            truncate(&self.inner.stdout, 60),
        )
    }
}

/// Records (tool calls, network requests) as a list of plain dicts, from their JSON form.
fn records<'py>(
    py: Python<'py>,
    json: serde_json::Result<serde_json::Value>,
) -> PyResult<Bound<'py, PyAny>> {
    let value = json.map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
    crate::tools::Json(value).into_pyobject(py)
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn artifact_dict<'py>(py: Python<'py>, a: &Artifact) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("path", &a.path)?;
    d.set_item("mime_type", &a.mime_type)?;
    d.set_item("size", a.size)?;
    d.set_item("data", a.data.as_deref().map(|b| PyBytes::new(py, b)))?;
    Ok(d)
}

/// A file an execution created or changed in the workspace.
#[pyclass(frozen, module = "soulbox._native", name = "Artifact")]
pub struct PyArtifact {
    inner: Artifact,
}

impl PyArtifact {
    fn new(inner: Artifact) -> Self {
        PyArtifact { inner }
    }
}

#[pymethods]
impl PyArtifact {
    /// Path relative to the workspace (``/work`` in the guest).
    #[getter]
    fn path(&self) -> &str {
        &self.inner.path
    }
    /// MIME type, sniffed from the content or the extension.
    #[getter]
    fn mime_type(&self) -> &str {
        &self.inner.mime_type
    }
    /// Size in bytes.
    #[getter]
    fn size(&self) -> u64 {
        self.inner.size
    }
    /// The file's bytes, or ``None`` when they were over ``max_artifact_bytes`` (read them with
    /// ``read_file``).
    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.inner.data.as_deref().map(|b| PyBytes::new(py, b))
    }
    /// Whether it is an image (``image/*``).
    #[getter]
    fn is_image(&self) -> bool {
        self.inner.is_image()
    }
    /// The artifact as a dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        artifact_dict(py, &self.inner)
    }
    fn __repr__(&self) -> String {
        format!(
            "Artifact(path={:?}, mime_type={:?}, size={})",
            self.inner.path, self.inner.mime_type, self.inner.size
        )
    }
}

/// An entry of a workspace listing.
#[pyclass(frozen, module = "soulbox._native", name = "FileInfo")]
pub struct PyFileInfo {
    inner: FileInfo,
}

impl PyFileInfo {
    pub fn new(inner: FileInfo) -> Self {
        PyFileInfo { inner }
    }
}

#[pymethods]
impl PyFileInfo {
    /// Path relative to the workspace, ``/``-separated.
    #[getter]
    fn path(&self) -> &str {
        &self.inner.path
    }
    /// Size in bytes (0 for directories).
    #[getter]
    fn size(&self) -> u64 {
        self.inner.size
    }
    /// Whether this is a directory.
    #[getter]
    fn is_dir(&self) -> bool {
        self.inner.is_dir
    }
    fn __repr__(&self) -> String {
        format!(
            "FileInfo(path={:?}, size={}, is_dir={})",
            self.inner.path,
            self.inner.size,
            if self.inner.is_dir { "True" } else { "False" }
        )
    }
}

/// One package installed in a sandbox.
#[pyclass(frozen, module = "soulbox._native", name = "InstalledPackage")]
pub struct PyInstalledPackage {
    inner: soulbox_client::InstalledPackage,
}

#[pymethods]
impl PyInstalledPackage {
    /// ``"python"``, ``"npm"`` or ``"gem"``.
    #[getter]
    fn ecosystem(&self) -> &str {
        &self.inner.ecosystem
    }
    /// The name as the registry spells it.
    #[getter]
    fn name(&self) -> &str {
        &self.inner.name
    }
    /// The exact version.
    #[getter]
    fn version(&self) -> &str {
        &self.inner.version
    }
    /// The registry's digest of the archive: ``"sha256:<hex>"`` or ``"sha512:<hex>"``.
    #[getter]
    fn digest(&self) -> &str {
        &self.inner.digest
    }
    fn __repr__(&self) -> String {
        format!(
            "InstalledPackage(ecosystem={:?}, name={:?}, version={:?}, digest={:?})",
            self.inner.ecosystem, self.inner.name, self.inner.version, self.inner.digest
        )
    }
}

/// What ``install_package`` / ``install_packages`` did.
#[pyclass(frozen, module = "soulbox._native", name = "InstallReport")]
pub struct PyInstallReport {
    inner: soulbox_client::PackageInstall,
}

impl PyInstallReport {
    pub fn new(inner: soulbox_client::PackageInstall) -> Self {
        PyInstallReport { inner }
    }
}

fn packages(list: &[soulbox_client::InstalledPackage]) -> Vec<PyInstalledPackage> {
    list.iter()
        .map(|p| PyInstalledPackage { inner: p.clone() })
        .collect()
}

#[pymethods]
impl PyInstallReport {
    /// Packages laid out in the sandbox by this call (the request's and their dependencies).
    #[getter]
    fn installed(&self) -> Vec<PyInstalledPackage> {
        packages(&self.inner.installed)
    }
    /// Packages the request needed that the sandbox had already.
    #[getter]
    fn already(&self) -> Vec<PyInstalledPackage> {
        packages(&self.inner.already)
    }
    /// Requested distributions the runtime ships, as ``(name, version)``: nothing to install.
    #[getter]
    fn shipped(&self) -> Vec<(String, String)> {
        self.inner.shipped.clone()
    }
    /// Whether everything came from the machine-wide cache (no registry client ran).
    #[getter(from_cache)]
    fn cached(&self) -> bool {
        self.inner.from_cache
    }
    /// One line for people.
    #[getter]
    fn summary(&self) -> &str {
        &self.inner.summary
    }
    fn __repr__(&self) -> String {
        format!("InstallReport({:?})", self.inner.summary)
    }
}

/// A chunk the guest wrote to stdout or stderr, as soon as it wrote it.
#[pyclass(frozen, module = "soulbox._native", name = "OutputEvent")]
pub struct PyOutputEvent {
    stderr: bool,
    data: bytes::Bytes,
}

#[pymethods]
impl PyOutputEvent {
    /// ``"stdout"`` or ``"stderr"``.
    #[getter]
    fn kind(&self) -> &'static str {
        if self.stderr { "stderr" } else { "stdout" }
    }
    /// The chunk as text (invalid UTF-8 replaced; a character split across chunks is replaced
    /// too - join ``data`` for exact bytes).
    #[getter]
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
    /// The chunk's bytes.
    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.data)
    }
    fn __repr__(&self) -> String {
        format!(
            "OutputEvent(kind='{}', text={:?})",
            self.kind(),
            self.text()
        )
    }
}

/// A file the run created or changed: ``kind`` is ``"image"`` for ``image/*`` files,
/// ``"artifact"`` otherwise.
#[pyclass(frozen, module = "soulbox._native", name = "ArtifactEvent")]
pub struct PyArtifactEvent {
    image: bool,
    artifact: Artifact,
}

#[pymethods]
impl PyArtifactEvent {
    /// ``"image"`` or ``"artifact"``.
    #[getter]
    fn kind(&self) -> &'static str {
        if self.image { "image" } else { "artifact" }
    }
    /// The file.
    #[getter]
    fn artifact(&self) -> PyArtifact {
        PyArtifact::new(self.artifact.clone())
    }
    fn __repr__(&self) -> String {
        format!(
            "ArtifactEvent(kind='{}', path={:?})",
            self.kind(),
            self.artifact.path
        )
    }
}

/// The Python object for one stream event; the final one is the `ExecutionResult` itself.
pub fn event_object(py: Python<'_>, event: StreamOutput) -> PyResult<Py<PyAny>> {
    Ok(match event {
        StreamOutput::Stdout(data) => Py::new(
            py,
            PyOutputEvent {
                stderr: false,
                data,
            },
        )?
        .into_any(),
        StreamOutput::Stderr(data) => Py::new(py, PyOutputEvent { stderr: true, data })?.into_any(),
        StreamOutput::Image(artifact) => Py::new(
            py,
            PyArtifactEvent {
                image: true,
                artifact,
            },
        )?
        .into_any(),
        StreamOutput::Artifact(artifact) => Py::new(
            py,
            PyArtifactEvent {
                image: false,
                artifact,
            },
        )?
        .into_any(),
        StreamOutput::Exit(result) => Py::new(py, PyExecutionResult::new(*result))?.into_any(),
    })
}
