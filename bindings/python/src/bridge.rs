//! Running the engine's futures for Python: as awaitables on the asyncio loop, or blocking with
//! the GIL released (checking for Ctrl-C), on one process-wide Tokio runtime.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::error::Outcome;

/// How often a blocking call wakes to let Python handle signals (Ctrl-C).
const SIGNAL_CHECK: Duration = Duration::from_millis(50);

/// Runs `fut` on the runtime and returns an asyncio awaitable of its value. Cancelling the
/// awaitable (task cancellation, `asyncio.wait_for` timing out) drops the future, which stops
/// the guest.
pub fn awaitable<'py, T, F>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = Outcome<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    pyo3_async_runtimes::tokio::future_into_py(py, async move {
        fut.await.map_err(|f| f.into_pyerr_attached())
    })
}

/// Runs `fut` to completion with the GIL released, so other Python threads keep running. Every
/// [`SIGNAL_CHECK`] it takes the GIL back to run Python's signal handlers; a `KeyboardInterrupt`
/// (or any exception a handler raises) drops the future, which stops the guest, and propagates.
pub fn block<T, F>(py: Python<'_>, fut: F) -> PyResult<T>
where
    F: Future<Output = Outcome<T>> + Send,
    T: Send,
{
    let runtime = pyo3_async_runtimes::tokio::get_runtime();
    let mut fut = pin!(fut);
    loop {
        let step = py.detach(|| {
            runtime.block_on(async { tokio::time::timeout(SIGNAL_CHECK, fut.as_mut()).await })
        });
        match step {
            Ok(outcome) => return outcome.map_err(|f| f.into_pyerr(py)),
            Err(_elapsed) => py.check_signals()?,
        }
    }
}

/// Bytes handed to Python as `bytes` (a `Vec<u8>` would become a list of ints).
pub struct Bytes(pub Vec<u8>);

impl<'py> IntoPyObject<'py> for Bytes {
    type Target = PyBytes;
    type Output = Bound<'py, PyBytes>;
    type Error = std::convert::Infallible;

    fn into_pyobject(self, py: Python<'py>) -> Result<Self::Output, Self::Error> {
        Ok(PyBytes::new(py, &self.0))
    }
}

/// Code or file contents: `str` (sent as UTF-8) or `bytes` (a wasm module, binary data).
#[derive(FromPyObject)]
pub enum Data {
    /// Text.
    Text(String),
    /// Raw bytes (`bytes` or `bytearray`).
    Raw(pyo3::pybacked::PyBackedBytes),
}

impl Data {
    /// The bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            Data::Text(s) => s.into_bytes(),
            Data::Raw(b) => b.to_vec(),
        }
    }
}
