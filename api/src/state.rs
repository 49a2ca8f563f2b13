//! The lifecycle states of a sandbox, as data (the engine and every door report them).

use serde::{Deserialize, Serialize};

/// Lifecycle of a sandbox: `Creating` -> `Running` <-> `Paused`, and from either to
/// `Terminated` (final). See `Sandbox::pause` for what pausing means for in-process wasm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SandboxState {
    /// Being set up.
    Creating,
    /// Ready to execute.
    Running,
    /// Suspended: executions, file writes and new or restored sessions are refused until
    /// `Sandbox::resume`; reads and session snapshots are allowed.
    Paused,
    /// Ended: workspace removed (unless caller-supplied), nothing more can run.
    Terminated,
}

impl std::fmt::Display for SandboxState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SandboxState::Creating => "creating",
            SandboxState::Running => "running",
            SandboxState::Paused => "paused",
            SandboxState::Terminated => "terminated",
        })
    }
}
