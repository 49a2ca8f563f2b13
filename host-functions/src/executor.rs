//! The host side of the WIT `executor` interface as a Rust trait: what a component's
//! `sandbox.create`, `execute`, file calls and sessions are served by.
//!
//! This crate sits below the SoulBox engine, so it cannot create sandboxes itself: the engine
//! implements [`ExecutorBackend`] (`soulbox::component::Executor` for embedders, and each
//! `soulbox::Sandbox` for the components it runs, whose sandboxes are then nested in it), and
//! [`crate::component::add_executor_to_linker`] serves the WIT calls from any implementation.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use soulbox_api::{ExecutionResult, FileInfo, Language, SandboxConfig};

/// A boxed future, as the object-safe traits here return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The limits a component asks for (the WIT `types.limits`): `None` means "the ceiling's".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes of guest memory.
    pub memory_bytes: Option<u64>,
    /// Wall-clock limit of one execution.
    pub timeout: Option<Duration>,
    /// Instruction budget of one execution.
    pub fuel: Option<u64>,
    /// Most bytes kept per output stream.
    pub max_output_bytes: Option<u64>,
}

impl Limits {
    /// The limits `config` runs under (every field set, `fuel` as the config has it).
    pub fn of(config: &SandboxConfig) -> Self {
        Self {
            memory_bytes: Some(config.memory_limit),
            timeout: Some(config.timeout),
            fuel: config.fuel,
            max_output_bytes: Some(config.max_output_bytes),
        }
    }

    /// The configuration of a sandbox created under `ceiling` with these limits: every limit
    /// asked for is clamped to the ceiling's (a child never gets more memory, time, fuel or
    /// output than its parent); what is not asked for is the ceiling's. Everything else of the
    /// ceiling (tools, network allow-list, disk budget, caps of the host channel, backend) is
    /// inherited unchanged, except that a nested sandbox never gets a persistent workspace or
    /// the native backend's weaker-isolation permission.
    pub fn clamp(&self, ceiling: &SandboxConfig) -> SandboxConfig {
        let mut config = ceiling.clone();
        if let Some(memory) = self.memory_bytes {
            config.memory_limit = memory.min(ceiling.memory_limit);
        }
        if let Some(timeout) = self.timeout {
            config.timeout = timeout.min(ceiling.timeout);
        }
        config.fuel = match (self.fuel, ceiling.fuel) {
            (Some(asked), Some(parent)) => Some(asked.min(parent)),
            (Some(asked), None) => Some(asked),
            (None, parent) => parent,
        };
        if let Some(output) = self.max_output_bytes {
            config.max_output_bytes = output.min(ceiling.max_output_bytes);
        }
        config.persistent_storage = None;
        config.allow_weaker_isolation = false;
        config
    }
}

/// Kinds of executor failure (the WIT `executor.error-kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutorErrorKind {
    /// A malformed or out-of-bounds request.
    InvalidRequest,
    /// No such file or directory.
    NotFound,
    /// The sandbox or session is closed.
    Closed,
    /// The host cannot serve this (no runtime, too many sandboxes, ...).
    Unavailable,
    /// Anything else on the host's side.
    Internal,
}

/// A failed executor call: what kind, and a message for the component.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExecutorError {
    /// What kind of failure.
    pub kind: ExecutorErrorKind,
    /// What happened.
    pub message: String,
}

impl ExecutorError {
    /// An error of `kind`.
    pub fn new(kind: ExecutorErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// Result of an executor call.
pub type ExecutorResult<T> = Result<T, ExecutorError>;

/// Creates sandboxes for a component (the WIT `sandbox.create`).
pub trait ExecutorBackend: Send + Sync + 'static {
    /// Creates a sandbox under `limits` (clamped to what this backend allows).
    fn create(&self, limits: Limits) -> BoxFuture<'_, ExecutorResult<Arc<dyn SandboxHandle>>>;
}

/// One sandbox a component created (the WIT `sandbox` resource). Dropping the last handle ends
/// the sandbox.
pub trait SandboxHandle: Send + Sync + 'static {
    /// The limits in effect.
    fn limits(&self) -> Limits;
    /// Runs `code` in `language`.
    fn execute(
        &self,
        language: Language,
        code: String,
    ) -> BoxFuture<'_, ExecutorResult<ExecutionResult>>;
    /// Writes a workspace file.
    fn write_file(&self, path: String, data: Vec<u8>) -> BoxFuture<'_, ExecutorResult<()>>;
    /// Reads a workspace file.
    fn read_file(&self, path: String) -> BoxFuture<'_, ExecutorResult<Vec<u8>>>;
    /// Lists a workspace directory, recursively.
    fn list_files(&self, path: String) -> BoxFuture<'_, ExecutorResult<Vec<FileInfo>>>;
    /// Starts a session.
    fn session(&self, language: Language)
    -> BoxFuture<'_, ExecutorResult<Arc<dyn SessionHandle>>>;
}

/// A live session in a sandbox a component created (the WIT `session` resource).
pub trait SessionHandle: Send + Sync + 'static {
    /// Runs one cell.
    fn run_cell(&self, code: String) -> BoxFuture<'_, ExecutorResult<ExecutionResult>>;
    /// The session's language.
    fn language(&self) -> Language;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asked_limits_never_exceed_the_ceiling() {
        let ceiling = SandboxConfig::default()
            .with_memory_limit(64 << 20)
            .with_timeout(Duration::from_secs(5));
        let child = Limits {
            memory_bytes: Some(1 << 40),
            timeout: Some(Duration::from_secs(3600)),
            fuel: Some(1_000),
            max_output_bytes: Some(10),
        }
        .clamp(&ceiling);
        assert_eq!(child.memory_limit, 64 << 20);
        assert_eq!(child.timeout, Duration::from_secs(5));
        assert_eq!(child.fuel, Some(1_000));
        assert_eq!(child.max_output_bytes, 10);
        let mut fueled = ceiling.clone();
        fueled.fuel = Some(500);
        assert_eq!(Limits::default().clamp(&fueled).fuel, Some(500));
        let child = Limits {
            fuel: Some(1_000_000),
            ..Limits::default()
        }
        .clamp(&fueled);
        assert_eq!(child.fuel, Some(500));
        assert_eq!(Limits::default().clamp(&ceiling), {
            let mut same = ceiling.clone();
            same.persistent_storage = None;
            same
        });
    }
}
