//! Running the engine's futures for Python: as awaitables on the asyncio loop, or blocking with
//! the GIL released (checking for Ctrl-C), on one process-wide Tokio runtime whose threads never
//! run Python code.

use std::collections::HashMap;
use std::future::Future;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::FutureExt;
use pyo3::IntoPyObjectExt;
use pyo3::exceptions::PyRuntimeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyBytes;

use crate::error::{Failure, Outcome};

/// How often a blocking call wakes to let Python handle signals (Ctrl-C).
const SIGNAL_CHECK: Duration = Duration::from_millis(50);

/// Returns a coroutine (`soulbox._aio.run`) that, when awaited, runs `fut` on the runtime and
/// gives its value. Nothing starts before the first await. Cancelling the task awaiting it
/// (`task.cancel()`, `asyncio.wait_for` timing out) drops the future, which stops the guest.
pub fn awaitable<'py, T, F>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = Outcome<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    let start: Start = Box::new(move |py| future(py, fut));
    let pending = Pending {
        start: Mutex::new(Some(start)),
    };
    coroutine_wrapper(py)?.call1((pending,))
}

/// What awaiting a [`Pending`] does: hand the future to the running loop.
type Start = Box<dyn for<'py> FnOnce(Python<'py>) -> PyResult<Bound<'py, PyAny>> + Send>;

/// An operation not started yet; awaitable once.
#[pyclass(frozen, module = "soulbox._native")]
pub struct Pending {
    start: Mutex<Option<Start>>,
}

#[pymethods]
impl Pending {
    fn __await__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let start = lock(&self.start).take();
        let start =
            start.ok_or_else(|| PyRuntimeError::new_err("this operation was already awaited"))?;
        start(py)?.call_method0(intern!(py, "__await__"))
    }
}

/// The process-wide Tokio runtime every operation runs on (multi-threaded: a guest runs on one
/// of its threads while others serve the rest).
fn runtime() -> PyResult<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("soulbox")
                .build()
                .map_err(|e| format!("cannot start the SoulBox runtime threads: {e}"))
        })
        .as_ref()
        .map_err(|e| PyRuntimeError::new_err(e.clone()))
}

fn coroutine_wrapper(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static WRAPPER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    WRAPPER
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(py.import("soulbox._aio")?.getattr("run")?.unbind())
        })
        .map(|w| w.bind(py))
}

fn loop_completions(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static COMPLETIONS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    COMPLETIONS
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(py.import("soulbox._aio")?.getattr("completions")?.unbind())
        })
        .map(|w| w.bind(py))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Makes the Python value of a finished operation; runs on the loop's thread, with the GIL.
type Finish = Box<dyn for<'py> FnOnce(Python<'py>) -> PyResult<Py<PyAny>> + Send>;

/// Starts `fut` on the runtime now and returns an asyncio future of the running loop for its
/// value (must be called on the loop's thread).
///
/// Runtime threads never touch Python: a finished operation is queued here and the loop is
/// woken through a socket it watches (`loop.add_reader`); the loop's own thread then makes the
/// value and resolves the future. (A runtime thread holding the GIL while the interpreter shuts
/// down would abort the process.) Cancelling the asyncio future aborts the task, which drops
/// `fut` - and so stops the guest.
pub fn future<'py, T, F>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = Outcome<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    let pair = loop_completions(py)?.call0()?;
    let event_loop = pair.get_item(0)?;
    let completions = pair.get_item(1)?;
    let completions = completions.cast::<Completions>()?;
    let py_future = event_loop.call_method0(intern!(py, "create_future"))?;
    let shared = completions.get().shared.clone();
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    lock(&shared.waiting).insert(id, py_future.clone().unbind());
    let notify = shared.clone();
    let task = runtime()?.spawn(async move {
        let outcome = guarded(fut).await;
        let finish: Finish = Box::new(move |py| match outcome {
            Ok(value) => value.into_py_any(py),
            Err(failure) => Err(failure.into_pyerr(py)),
        });
        notify.finished(id, finish);
    });
    py_future.call_method1(
        intern!(py, "add_done_callback"),
        (AbortOnCancel {
            task: task.abort_handle(),
            shared,
            id,
        },),
    )?;
    Ok(py_future)
}

/// Done-callback of an operation's asyncio future: a cancelled future aborts the task (and
/// forgets the future, which the aborted task will never report).
#[pyclass(frozen, module = "soulbox._native")]
struct AbortOnCancel {
    task: tokio::task::AbortHandle,
    shared: Arc<Shared>,
    id: u64,
}

#[pymethods]
impl AbortOnCancel {
    fn __call__(&self, future: &Bound<'_, PyAny>) -> PyResult<()> {
        if future
            .call_method0(intern!(future.py(), "cancelled"))?
            .is_truthy()?
        {
            self.task.abort();
            lock(&self.shared.waiting).remove(&self.id);
        }
        Ok(())
    }
}

/// One event loop's queue of finished operations and the socket that wakes it.
struct Shared {
    next_id: AtomicU64,
    /// Futures not resolved yet, by id; only touched with the GIL, on the loop's thread (and
    /// by `future` on the same thread).
    waiting: Mutex<HashMap<u64, Py<PyAny>>>,
    finished: Mutex<Vec<(u64, Finish)>>,
    /// Set while a wake-up byte is in flight, so a burst of completions sends one.
    woken: AtomicBool,
    wake: UnixStream,
}

impl Shared {
    fn finished(&self, id: u64, finish: Finish) {
        lock(&self.finished).push((id, finish));
        if !self.woken.swap(true, Ordering::SeqCst) {
            // Non-blocking; a full socket already holds a wake-up, so an error loses nothing.
            let _ = (&self.wake).write(&[1]);
        }
    }
}

/// The native half of `soulbox._aio.completions`: one per event loop.
#[pyclass(frozen, module = "soulbox._native", name = "_Completions")]
pub struct Completions {
    shared: Arc<Shared>,
    readable: UnixStream,
}

#[pymethods]
impl Completions {
    #[new]
    fn new() -> PyResult<Self> {
        let (readable, wake) = UnixStream::pair()?;
        readable.set_nonblocking(true)?;
        wake.set_nonblocking(true)?;
        Ok(Completions {
            shared: Arc::new(Shared {
                next_id: AtomicU64::new(0),
                waiting: Mutex::new(HashMap::new()),
                finished: Mutex::new(Vec::new()),
                woken: AtomicBool::new(false),
                wake,
            }),
            readable,
        })
    }

    /// The descriptor the loop watches.
    fn fileno(&self) -> i32 {
        self.readable.as_raw_fd()
    }

    /// Resolves the futures of every finished operation (the loop calls this when woken).
    fn drain(&self, py: Python<'_>) -> PyResult<()> {
        let mut buf = [0u8; 64];
        while matches!((&self.readable).read(&mut buf), Ok(n) if n > 0) {}
        self.shared.woken.store(false, Ordering::SeqCst);
        let finished = std::mem::take(&mut *lock(&self.shared.finished));
        for (id, finish) in finished {
            let Some(future) = lock(&self.shared.waiting).remove(&id) else {
                continue;
            };
            let future = future.bind(py);
            if future.call_method0(intern!(py, "done"))?.is_truthy()? {
                continue; // cancelled meanwhile
            }
            match finish(py) {
                Ok(value) => future.call_method1(intern!(py, "set_result"), (value,))?,
                Err(err) => {
                    future.call_method1(intern!(py, "set_exception"), (err.into_value(py),))?
                }
            };
        }
        Ok(())
    }
}

/// Runs `fut` to completion with the GIL released, so other Python threads keep running. Every
/// [`SIGNAL_CHECK`] it takes the GIL back to run Python's signal handlers; a `KeyboardInterrupt`
/// (or any exception a handler raises) drops the future, which stops the guest, and propagates.
pub fn block<T, F>(py: Python<'_>, fut: F) -> PyResult<T>
where
    F: Future<Output = Outcome<T>> + Send,
    T: Send,
{
    let runtime = runtime()?;
    let mut fut = pin!(guarded(fut));
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

/// `fut`, with a panic turned into a `SoulBoxError` instead of an operation that never
/// finishes (async) or a `PanicException` (blocking).
async fn guarded<T, F: Future<Output = Outcome<T>>>(fut: F) -> Outcome<T> {
    match AssertUnwindSafe(fut).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            Err(Failure::internal(what))
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
