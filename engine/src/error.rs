//! Host-side errors: what went wrong on *our* side of the wall, and what to do about it.
//!
//! A guest that misbehaves (loops, traps, floods, runs out of memory) is *not* an error: it is an
//! [`ExecutionResult`](crate::ExecutionResult) with a [`Status`](crate::Status). `SoulBoxError`
//! is for bad requests, missing runtimes or toolchains, and host I/O failures.

use std::path::PathBuf;

use crate::{ApiError, ErrorKind, Language};

/// Everything that can fail on the host side of a sandbox.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SoulBoxError {
    /// The request itself is malformed (empty code, bad argument, ...).
    #[error("invalid request: {0}")]
    InvalidRequest(String),

    /// A language name or file extension that SoulBox does not know.
    #[error("unknown language `{given}`; expected one of: {accepted}")]
    UnknownLanguage {
        /// What the caller wrote.
        given: String,
        /// The names SoulBox accepts.
        accepted: &'static str,
    },

    /// The language is known but nothing in this build can run it on the chosen backend.
    #[error("{language} is not available on the {backend} backend: {reason}")]
    Unsupported {
        /// The language asked for.
        language: Language,
        /// The backend that was asked (or chosen automatically).
        backend: &'static str,
        /// Why, and what to do instead.
        reason: String,
    },

    /// The bytes handed in as WebAssembly are neither a valid module nor valid WAT text.
    #[error("invalid WebAssembly: {0}")]
    InvalidModule(String),

    /// A workspace path that is absolute outside `/work`, escapes the workspace, or is otherwise unusable.
    #[error("invalid workspace path `{path}`: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// Why it was refused.
        reason: &'static str,
    },

    /// A file the caller asked for does not exist in the workspace.
    #[error("no such file in the workspace: `{0}`")]
    FileNotFound(String),

    /// A workspace path that cannot be read or written by the host: a symbolic link (links made
    /// in a sandbox are never followed), a FIFO, socket or device, or a file over the size limit.
    #[error("cannot use `{path}` in the workspace: {reason}")]
    UnusableFile {
        /// The path as given.
        path: String,
        /// What it is, or why it was refused.
        reason: String,
    },

    /// The sandbox is not in a state that allows the operation: paused (call `resume()`), or
    /// terminated (create a new sandbox).
    #[error("sandbox is {state}: {action} is not possible; {}", state_hint(*state))]
    InvalidState {
        /// Current lifecycle state.
        state: crate::SandboxState,
        /// What was attempted.
        action: &'static str,
    },

    /// Host I/O failed (workspace, cache, ...).
    #[error("{context}: {source}")]
    Io {
        /// What SoulBox was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The module cache directory could not be used.
    #[error("module cache at {path} is unusable: {reason}")]
    Cache {
        /// Cache location.
        path: PathBuf,
        /// Why.
        reason: String,
    },

    /// A compile toolchain (rustc, clang, the WASI sysroot, the guest crates, bwrap) is missing;
    /// the message names the command that installs it.
    #[error("cannot compile: {0}")]
    ToolchainMissing(String),
    /// A language runtime could not be found, fetched, verified or driven. The message names the
    /// runtime, the package and its registry, and what to try.
    #[error(transparent)]
    Runtime(#[from] soulbox_runtimes::RuntimeError),

    /// The native backend was asked for, but this host cannot give the isolation it requires.
    #[error(
        "the native backend cannot isolate the program on this host: missing {missing}. Run as root, \
         or enable unprivileged user namespaces and delegate a cgroup to this user; or accept weaker \
         isolation (SandboxConfig::allow_weaker_isolation, `--allow-weaker-isolation`) - every result \
         then lists the isolation in effect"
    )]
    IsolationUnavailable {
        /// What the host cannot give.
        missing: String,
    },

    /// Setting up the native sandbox failed on the host's side (a mount, a namespace, a cgroup).
    #[error("setting up the native sandbox failed while {step}: {source}")]
    NativeSetup {
        /// What SoulBox was doing.
        step: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A session can no longer run code: an earlier execution timed out, trapped, ran out of
    /// fuel or memory, or was stopped, so its interpreter state cannot be trusted.
    #[error(
        "session is poisoned: {0}; its state cannot be trusted - call reset() to start a fresh interpreter"
    )]
    SessionPoisoned(String),

    /// A session's interpreter could not be started (or restarted).
    #[error("cannot start the session: {0}")]
    SessionStart(String),

    /// A session snapshot file was made by something this build cannot restore (another file
    /// format, SoulBox or wasmtime version, engine configuration, runtime or runtime module), or
    /// does not fit this sandbox (memory larger than its limit). Nothing was written.
    #[error(
        "cannot restore the snapshot {}: {what} differs (the file has {found}; here: {expected})",
        path.display()
    )]
    SnapshotMismatch {
        /// The snapshot file.
        path: PathBuf,
        /// What differs (`"engine version"`, `"runtime module"`, `"memory size"`, ...).
        what: &'static str,
        /// What the file says.
        found: String,
        /// What this engine, runtime or sandbox has.
        expected: String,
    },

    /// A session snapshot file is not a snapshot, is truncated or damaged (checksum), or holds
    /// something unsafe (a path outside its directory). Nothing was written.
    #[error("the snapshot {} is unusable: {reason}", path.display())]
    SnapshotCorrupt {
        /// The snapshot file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// Wasmtime refused the engine configuration or failed to set up an instance for reasons
    /// that are not the guest's fault.
    #[error("wasm engine error: {0}")]
    Engine(String),
}

impl SoulBoxError {
    /// What kind of failure this is, as data ([`ErrorKind`]), for a door that sends errors over
    /// a network.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidRequest(_) => ErrorKind::InvalidRequest,
            Self::UnknownLanguage { .. } => ErrorKind::UnknownLanguage,
            Self::Unsupported { .. } => ErrorKind::Unsupported,
            Self::InvalidModule(_) => ErrorKind::InvalidModule,
            Self::InvalidPath { .. } => ErrorKind::InvalidPath,
            Self::FileNotFound(_) => ErrorKind::FileNotFound,
            Self::UnusableFile { .. } => ErrorKind::UnusableFile,
            Self::InvalidState { .. } => ErrorKind::InvalidState,
            Self::Io { .. } => ErrorKind::Io,
            Self::Cache { .. } => ErrorKind::Cache,
            Self::ToolchainMissing(_) => ErrorKind::ToolchainMissing,
            Self::Runtime(soulbox_runtimes::RuntimeError::Package(e)) => match **e {
                soulbox_runtimes::packages::PackageError::BadSpec { .. } => {
                    ErrorKind::InvalidRequest
                }
                _ => ErrorKind::Package,
            },
            Self::Runtime(_) => ErrorKind::Runtime,
            Self::IsolationUnavailable { .. } => ErrorKind::IsolationUnavailable,
            Self::NativeSetup { .. } => ErrorKind::NativeSetup,
            Self::SessionPoisoned(_) => ErrorKind::SessionPoisoned,
            Self::SessionStart(_) => ErrorKind::SessionStart,
            Self::SnapshotMismatch { .. } => ErrorKind::SnapshotMismatch,
            Self::SnapshotCorrupt { .. } => ErrorKind::SnapshotCorrupt,
            Self::Engine(_) => ErrorKind::Engine,
        }
    }

    /// Wraps an I/O error with a description of what SoulBox was doing.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

/// The error as data: its [`kind`](SoulBoxError::kind) and its full message.
impl From<&SoulBoxError> for ApiError {
    fn from(err: &SoulBoxError) -> Self {
        ApiError::new(err.kind(), err.to_string())
    }
}

/// Parsing a [`Language`] fails with the data crate's [`UnknownLanguage`](crate::UnknownLanguage);
/// in the engine it is [`SoulBoxError::UnknownLanguage`], with the same message.
impl From<crate::UnknownLanguage> for SoulBoxError {
    fn from(err: crate::UnknownLanguage) -> Self {
        SoulBoxError::UnknownLanguage {
            given: err.given,
            accepted: err.accepted,
        }
    }
}

/// What to do about a refused operation in `state`.
fn state_hint(state: crate::SandboxState) -> &'static str {
    match state {
        crate::SandboxState::Paused => "call resume() first",
        crate::SandboxState::Terminated => "create a new sandbox",
        _ => "wait until the sandbox is running",
    }
}

/// Result alias for SoulBox host operations.
pub type Result<T, E = SoulBoxError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_become_data_with_their_kind_and_message() {
        let err = SoulBoxError::InvalidRequest("code is empty".into());
        let data = ApiError::from(&err);
        assert_eq!(data.kind, ErrorKind::InvalidRequest);
        assert_eq!(data.message, "invalid request: code is empty");
        let io = SoulBoxError::io("reading x", std::io::Error::other("boom"));
        assert_eq!(io.kind(), ErrorKind::Io);
        assert_eq!(ApiError::from(&io).message, "reading x: boom");
        let state = SoulBoxError::InvalidState {
            state: crate::SandboxState::Paused,
            action: "execute",
        };
        assert_eq!(state.kind(), ErrorKind::InvalidState);
    }

    #[test]
    fn an_unknown_language_is_the_engine_error_it_always_was() {
        fn parse(s: &str) -> Result<Language> {
            Ok(s.parse::<Language>()?)
        }
        match parse("cobol") {
            Err(err @ SoulBoxError::UnknownLanguage { .. }) => {
                assert_eq!(err.kind(), ErrorKind::UnknownLanguage);
                let msg = err.to_string();
                assert!(msg.starts_with("unknown language `cobol`"), "{msg}");
                assert!(msg.contains("python (py)"), "{msg}");
            }
            other => panic!("expected UnknownLanguage, got {other:?}"),
        }
        assert_eq!(parse("py").ok(), Some(Language::Python));
    }
}
