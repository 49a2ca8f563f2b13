//! `SandboxConfig`: the engine's limits and environment, with the seed's keyword names.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use soulbox::{Backend, MIB};

use crate::error::{Failure, Outcome};

/// Artifact bytes attached to results by default in Python (the engine's own default is none):
/// results are Python objects, and a plot's bytes are what a caller usually wants.
pub const DEFAULT_ARTIFACT_BYTES: u64 = 16 * MIB;

/// Limits and environment of a sandbox. Every limit is on by default.
///
/// Sizes are bytes and times are seconds (floats allowed)::
///
///     SandboxConfig(memory_limit=512 * 1024 * 1024, cpu_quota=0.5, timeout=30)
///
/// Values that cannot work (negative, zero, above the engine's maximum) raise ``ConfigError``
/// (a ``ValueError``) here, not at the first execution.
#[pyclass(frozen, module = "soulbox._native", name = "SandboxConfig")]
#[derive(Clone)]
pub struct PySandboxConfig {
    pub inner: soulbox::SandboxConfig,
}

fn bytes(name: &str, value: Option<i64>, default: u64) -> Outcome<u64> {
    match value {
        None => Ok(default),
        Some(v) if v < 0 => Err(Failure::config(format!(
            "{name} must be a non-negative number of bytes, got {v}"
        ))),
        Some(v) => Ok(v.unsigned_abs()),
    }
}

fn seconds(name: &str, value: f64) -> Outcome<Duration> {
    if !value.is_finite() || value <= 0.0 {
        return Err(Failure::config(format!(
            "{name} must be a positive number of seconds, got {value}"
        )));
    }
    Duration::try_from_secs_f64(value)
        .map_err(|_| Failure::config(format!("{name} of {value} seconds is too large")))
}

#[pymethods]
impl PySandboxConfig {
    /// Builds a configuration; unknown keywords are a ``TypeError``, bad values a ``ConfigError``.
    #[new]
    #[pyo3(signature = (
        *, memory_limit=None, cpu_quota=1.0, timeout=30.0, fuel=None, max_output_bytes=None,
        max_disk_bytes=None, max_disk_entries=None, network_enabled=false, workspace=None,
        persistent_storage=None, env=None, backend="auto", max_artifacts=None,
        max_artifact_bytes=None, runtime=None, allow_weaker_isolation=false
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        memory_limit: Option<i64>,
        cpu_quota: f64,
        timeout: f64,
        fuel: Option<i64>,
        max_output_bytes: Option<i64>,
        max_disk_bytes: Option<i64>,
        max_disk_entries: Option<i64>,
        network_enabled: bool,
        workspace: Option<PathBuf>,
        persistent_storage: Option<PathBuf>,
        env: Option<BTreeMap<String, String>>,
        backend: &str,
        max_artifacts: Option<i64>,
        max_artifact_bytes: Option<i64>,
        runtime: Option<String>,
        allow_weaker_isolation: bool,
    ) -> PyResult<Self> {
        let build = || -> Outcome<soulbox::SandboxConfig> {
            let d = soulbox::SandboxConfig::default();
            if memory_limit.is_some_and(|m| m <= 0) {
                return Err(Failure::config(format!(
                    "memory_limit must be a positive number of bytes, got {}",
                    memory_limit.unwrap_or_default()
                )));
            }
            if workspace.is_some() && persistent_storage.is_some() {
                return Err(Failure::config(
                    "give workspace or persistent_storage (the same setting), not both",
                ));
            }
            let config = soulbox::SandboxConfig {
                memory_limit: bytes("memory_limit", memory_limit, d.memory_limit)?,
                cpu_quota,
                timeout: seconds("timeout", timeout)?,
                fuel: match fuel {
                    None => None,
                    Some(f) => Some(bytes("fuel", Some(f), 0)?),
                },
                max_output_bytes: bytes("max_output_bytes", max_output_bytes, d.max_output_bytes)?,
                max_disk_bytes: bytes("max_disk_bytes", max_disk_bytes, d.max_disk_bytes)?,
                max_disk_entries: bytes("max_disk_entries", max_disk_entries, d.max_disk_entries)?,
                network_enabled,
                persistent_storage: workspace.or(persistent_storage),
                env: env.unwrap_or_default(),
                backend: backend.parse::<Backend>().map_err(Failure::config)?,
                max_artifacts: usize::try_from(bytes(
                    "max_artifacts",
                    max_artifacts,
                    d.max_artifacts as u64,
                )?)
                .unwrap_or(usize::MAX),
                max_artifact_bytes: bytes(
                    "max_artifact_bytes",
                    max_artifact_bytes,
                    DEFAULT_ARTIFACT_BYTES,
                )?,
                runtime,
                allow_weaker_isolation,
                ..d
            };
            config.validate().map_err(Failure::config)?;
            Ok(config)
        };
        build()
            .map(|inner| PySandboxConfig { inner })
            .map_err(|f| f.into_pyerr(py))
    }

    /// Maximum bytes of guest memory.
    #[getter]
    fn memory_limit(&self) -> u64 {
        self.inner.memory_limit
    }
    /// Share of one core the guest may use (1.0 = a whole core).
    #[getter]
    fn cpu_quota(&self) -> f64 {
        self.inner.cpu_quota
    }
    /// Wall-clock limit of one execution, in seconds.
    #[getter]
    fn timeout(&self) -> f64 {
        self.inner.timeout.as_secs_f64()
    }
    /// Instruction budget of one execution (``None``: unlimited, still counted).
    #[getter]
    fn fuel(&self) -> Option<u64> {
        self.inner.fuel
    }
    /// Maximum bytes kept per output stream.
    #[getter]
    fn max_output_bytes(&self) -> u64 {
        self.inner.max_output_bytes
    }
    /// Whether the guest may reach the network (off by default).
    #[getter]
    fn network_enabled(&self) -> bool {
        self.inner.network_enabled
    }
    /// The host directory used as the workspace, if one was given.
    #[getter]
    fn workspace(&self) -> Option<PathBuf> {
        self.inner.persistent_storage.clone()
    }
    /// Which backend runs the code: ``"auto"``, ``"wasm"`` or ``"native"``.
    #[getter]
    fn backend(&self) -> &'static str {
        self.inner.backend.name()
    }
    /// Artifact bytes attached to results, in total per execution.
    #[getter]
    fn max_artifact_bytes(&self) -> u64 {
        self.inner.max_artifact_bytes
    }

    /// The configuration as a dict (times in seconds, sizes in bytes).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = &self.inner;
        let d = PyDict::new(py);
        d.set_item("memory_limit", c.memory_limit)?;
        d.set_item("cpu_quota", c.cpu_quota)?;
        d.set_item("timeout", c.timeout.as_secs_f64())?;
        d.set_item("fuel", c.fuel)?;
        d.set_item("max_output_bytes", c.max_output_bytes)?;
        d.set_item("max_disk_bytes", c.max_disk_bytes)?;
        d.set_item("max_disk_entries", c.max_disk_entries)?;
        d.set_item("network_enabled", c.network_enabled)?;
        d.set_item("workspace", c.persistent_storage.clone())?;
        d.set_item("env", c.env.clone())?;
        d.set_item("backend", c.backend.name())?;
        d.set_item("max_artifacts", c.max_artifacts)?;
        d.set_item("max_artifact_bytes", c.max_artifact_bytes)?;
        d.set_item("runtime", c.runtime.clone())?;
        d.set_item("allow_weaker_isolation", c.allow_weaker_isolation)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "SandboxConfig(memory_limit={}, cpu_quota={}, timeout={}, backend='{}')",
            self.inner.memory_limit,
            self.inner.cpu_quota,
            self.inner.timeout.as_secs_f64(),
            self.inner.backend.name()
        )
    }
}

impl PySandboxConfig {
    /// The configuration a `SoulBox()` without one uses.
    pub fn default_config() -> soulbox::SandboxConfig {
        soulbox::SandboxConfig::default().with_artifact_bytes(DEFAULT_ARTIFACT_BYTES)
    }
}
