//! Host-side errors as data: what kind of failure, and the message that says what to do.
//!
//! The engine's own error type (`soulbox::SoulBoxError`) carries sources (I/O errors, runtime
//! errors) that cannot cross a network; [`ApiError`] is what a door sends instead. A guest that
//! breaks a limit is never an error: it is an [`ExecutionResult`](crate::ExecutionResult) with a
//! [`Status`](crate::Status).

use serde::{Deserialize, Serialize};

use crate::UnknownLanguage;

/// What kind of host-side failure an [`ApiError`] reports; one kind per variant of the engine's
/// `SoulBoxError`. Serialised in snake_case (`invalid_request`, `runtime`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request itself is malformed (empty code, bad argument, invalid configuration, ...).
    InvalidRequest,
    /// A language name or file extension that SoulBox does not know.
    UnknownLanguage,
    /// The language is known but nothing can run it on the chosen backend.
    Unsupported,
    /// The bytes handed in as WebAssembly are neither a valid module nor valid WAT text.
    InvalidModule,
    /// A workspace path that escapes the workspace or is otherwise unusable.
    InvalidPath,
    /// A file asked for does not exist in the workspace.
    FileNotFound,
    /// A workspace entry that cannot be read or written (a link, a FIFO, a device, too large).
    UnusableFile,
    /// The sandbox's lifecycle state does not allow the operation (paused, terminated).
    InvalidState,
    /// Host I/O failed.
    Io,
    /// The module cache could not be used.
    Cache,
    /// A compile toolchain is missing.
    ToolchainMissing,
    /// A language runtime could not be found, fetched, verified or driven.
    Runtime,
    /// The host cannot give the native backend the isolation it requires.
    IsolationUnavailable,
    /// Setting up the native sandbox failed on the host's side.
    NativeSetup,
    /// A session can no longer run code after an earlier failure; reset it.
    SessionPoisoned,
    /// A session's interpreter could not be started.
    SessionStart,
    /// A session snapshot was made by something this build cannot restore.
    SnapshotMismatch,
    /// A session snapshot file is damaged or unsafe.
    SnapshotCorrupt,
    /// The wasm engine failed for reasons that are not the guest's fault.
    Engine,
    /// A package install was refused or failed (not found, native code, only an sdist,
    /// conflict, digest mismatch, registry unreachable, offline and not cached, ...).
    Package,
    /// A kind this build does not know (sent by a newer peer).
    #[serde(other)]
    Other,
}

impl ErrorKind {
    /// The snake_case name used in JSON (`invalid_request`, `runtime`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::UnknownLanguage => "unknown_language",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::InvalidModule => "invalid_module",
            ErrorKind::InvalidPath => "invalid_path",
            ErrorKind::FileNotFound => "file_not_found",
            ErrorKind::UnusableFile => "unusable_file",
            ErrorKind::InvalidState => "invalid_state",
            ErrorKind::Io => "io",
            ErrorKind::Cache => "cache",
            ErrorKind::ToolchainMissing => "toolchain_missing",
            ErrorKind::Runtime => "runtime",
            ErrorKind::IsolationUnavailable => "isolation_unavailable",
            ErrorKind::NativeSetup => "native_setup",
            ErrorKind::SessionPoisoned => "session_poisoned",
            ErrorKind::SessionStart => "session_start",
            ErrorKind::SnapshotMismatch => "snapshot_mismatch",
            ErrorKind::SnapshotCorrupt => "snapshot_corrupt",
            ErrorKind::Engine => "engine",
            ErrorKind::Package => "package",
            ErrorKind::Other => "other",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A host-side error as data: its kind, and the full message (which says what to do).
///
/// ```
/// use soulbox_api::{ApiError, ErrorKind};
/// let err = ApiError::new(ErrorKind::InvalidRequest, "invalid request: code is empty");
/// assert_eq!(err.to_string(), "invalid request: code is empty");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// The message, as the engine's error displays it.
    pub message: String,
}

impl ApiError {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

impl From<UnknownLanguage> for ApiError {
    fn from(err: UnknownLanguage) -> Self {
        ApiError::new(ErrorKind::UnknownLanguage, err.to_string())
    }
}
