//! Host-side failures as Python exceptions.
//!
//! The exception classes are defined in Python (`soulbox/errors.py`), so that `ConfigError` can
//! be both a `SoulBoxError` and a `ValueError` and `FileNotFound` both a `SoulBoxError` and a
//! `FileNotFoundError`. Rust code carries a [`Failure`] (no GIL needed, `Send`) and turns it into
//! the exception when it holds the GIL again. A guest breaking a limit is never a failure: it is a
//! result with a status.

use pyo3::prelude::*;
use pyo3::types::PyTuple;
use soulbox::{ApiError, ErrorKind, SoulBoxError};
use tonic::Code;

/// A host-side failure on its way to Python: which exception class, and the engine's message.
#[derive(Debug, Clone)]
pub struct Failure {
    class: &'static str,
    message: String,
}

impl Failure {
    /// A bad argument found by the bindings themselves (before the engine saw the request).
    pub fn config(message: impl Into<String>) -> Failure {
        Failure {
            class: "ConfigError",
            message: message.into(),
        }
    }

    /// An operation on a sandbox or session that was closed.
    pub fn closed(what: &str) -> Failure {
        Failure {
            class: "InvalidState",
            message: format!("the {what} is closed; create a new one"),
        }
    }

    /// An operation the chosen mode (embedded or remote) does not offer.
    pub fn unsupported(message: impl Into<String>) -> Failure {
        Failure {
            class: "Unsupported",
            message: message.into(),
        }
    }

    /// A bug on SoulBox's side (a panic in the engine or the bindings), caught so the caller
    /// gets an exception rather than an operation that never ends.
    pub fn internal(what: String) -> Failure {
        Failure {
            class: "SoulBoxError",
            message: format!("internal error in SoulBox (please report it): {what}"),
        }
    }

    fn from_api(err: ApiError) -> Failure {
        Failure {
            class: class_of(err.kind),
            message: err.message,
        }
    }

    /// The Python exception (an instance of the class in `soulbox.errors`), with `kind` set to
    /// the engine's error kind name.
    pub fn into_pyerr(self, py: Python<'_>) -> PyErr {
        let build = || -> PyResult<PyErr> {
            let class = py.import("soulbox.errors")?.getattr(self.class)?;
            let args = PyTuple::new(py, [self.message.as_str()])?;
            Ok(PyErr::from_value(class.call1(args)?))
        };
        match build() {
            Ok(err) => err,
            // Only if the package's Python half is missing or broken: still the message.
            Err(_) => pyo3::exceptions::PyRuntimeError::new_err(self.message),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<SoulBoxError> for Failure {
    fn from(err: SoulBoxError) -> Failure {
        Failure::from_api(ApiError::from(&err))
    }
}

impl From<soulbox_client::Error> for Failure {
    fn from(err: soulbox_client::Error) -> Failure {
        let mut failure = Failure::from_api(err.to_api_error());
        let transport = matches!(
            err.code(),
            Code::Unavailable
                | Code::Unauthenticated
                | Code::PermissionDenied
                | Code::DeadlineExceeded
        );
        if err.kind() == ErrorKind::Other || (err.kind() == ErrorKind::Io && transport) {
            // Not the engine's error: the server could not be reached or refused the token.
            failure.class = "RemoteError";
        }
        failure
    }
}

/// The exception class (in `soulbox.errors`) for each engine error kind.
fn class_of(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidRequest | ErrorKind::InvalidModule => "ConfigError",
        ErrorKind::UnknownLanguage => "UnknownLanguage",
        ErrorKind::InvalidPath => "InvalidPath",
        ErrorKind::FileNotFound => "FileNotFound",
        ErrorKind::UnusableFile => "UnusableFile",
        ErrorKind::InvalidState => "InvalidState",
        ErrorKind::Unsupported => "Unsupported",
        ErrorKind::Runtime | ErrorKind::ToolchainMissing => "RuntimeMissing",
        ErrorKind::Package => "PackageError",
        ErrorKind::IsolationUnavailable | ErrorKind::NativeSetup => "IsolationUnavailable",
        ErrorKind::SessionPoisoned => "SessionPoisoned",
        ErrorKind::SessionStart => "SessionError",
        ErrorKind::SnapshotMismatch | ErrorKind::SnapshotCorrupt => "SnapshotError",
        ErrorKind::Io | ErrorKind::Cache | ErrorKind::Engine | ErrorKind::Other => "SoulBoxError",
        // `ErrorKind` is non-exhaustive: a kind added later is still a SoulBoxError.
        _ => "SoulBoxError",
    }
}

/// Result of an operation whose failure is a [`Failure`].
pub type Outcome<T> = std::result::Result<T, Failure>;
