//! The Python package `soulbox`: its native half (`soulbox._native`).
//!
//! The engine runs inside the Python process (no server needed), or a `soulbox serve` is used
//! through the Rust client (`SoulBox.connect(url, token=...)`); both behind the same classes.
//!
//! - `SoulBox` (asyncio) and `Sandbox` (blocking) in `asyncio.rs` / `blocking.rs`: thin method
//!   wrappers, nothing but argument conversion.
//! - `target.rs`: the one place that calls the engine or the client (`Target`, `SessionTarget`);
//!   every method of both classes goes through it. No limit, result or file access is
//!   re-implemented here: the engine's flow is the only flow.
//! - `bridge.rs`: futures to asyncio awaitables (pyo3-async-runtimes), or blocking calls with
//!   the GIL released and Ctrl-C honoured.
//! - `tools.rs`: tool calling - a Python callable as a tool handler (calling convention in
//!   `soulbox/_tools.py`), JSON values between Python and the engine.
//! - `config.rs`, `result.rs`, `error.rs`: the data types as Python objects, host errors as the
//!   exception classes of `soulbox/errors.py`.
//!
//! The Python half (`python/soulbox/`) re-exports these classes, defines the exceptions and
//! ships the type stubs.

mod asyncio;
mod blocking;
mod bridge;
mod config;
mod error;
mod result;
mod target;
mod tools;

use pyo3::prelude::*;

/// The native module `soulbox._native`; import from `soulbox` instead.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<config::PySandboxConfig>()?;
    m.add_class::<result::PyExecutionResult>()?;
    m.add_class::<result::PyArtifact>()?;
    m.add_class::<result::PyFileInfo>()?;
    m.add_class::<result::PyInstalledPackage>()?;
    m.add_class::<result::PyInstallReport>()?;
    m.add_class::<result::PyOutputEvent>()?;
    m.add_class::<result::PyArtifactEvent>()?;
    m.add_class::<asyncio::SoulBox>()?;
    m.add_class::<asyncio::Session>()?;
    m.add_class::<asyncio::PySnapshot>()?;
    m.add_class::<asyncio::AsyncEvents>()?;
    m.add_class::<blocking::Sandbox>()?;
    m.add_class::<blocking::SyncSession>()?;
    m.add_class::<blocking::Events>()?;
    m.add_class::<bridge::Completions>()?;
    m.add("ENGINE_VERSION", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
