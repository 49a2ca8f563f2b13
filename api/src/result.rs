//! What an execution gives back: status, output, exit code, resource use and artifacts.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How an execution ended. A guest breaking a limit is a normal result with one of these,
/// never an `Err`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The guest exited with code 0.
    Ok,
    /// The guest exited with a non-zero code (an uncaught exception, `exit(1)`, ...).
    Error,
    /// The wall-clock limit was reached.
    Timeout,
    /// The guest asked for more memory than its limit.
    MemoryLimit,
    /// The instruction budget (fuel) ran out.
    FuelExhausted,
    /// The guest wrote more than `max_output_bytes` to stdout or stderr.
    OutputLimit,
    /// The guest tried to grow its files by more than `max_disk_bytes`, or to create more than
    /// `max_disk_entries` files and directories (the call failed with `ENOSPC`).
    DiskLimit,
    /// The guest trapped (unreachable, out-of-bounds access, stack overflow, ...).
    Trap,
    /// The source did not compile; nothing was run.
    CompileError,
    /// The execution was stopped from outside (sandbox terminated).
    Killed,
}

impl Status {
    /// The snake_case name used in JSON (`ok`, `timeout`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Error => "error",
            Status::Timeout => "timeout",
            Status::MemoryLimit => "memory_limit",
            Status::FuelExhausted => "fuel_exhausted",
            Status::OutputLimit => "output_limit",
            Status::DiskLimit => "disk_limit",
            Status::Trap => "trap",
            Status::CompileError => "compile_error",
            Status::Killed => "killed",
        }
    }

    /// Whether this status means a limit set by the engine was reached.
    pub fn is_limit(self) -> bool {
        matches!(
            self,
            Status::Timeout
                | Status::MemoryLimit
                | Status::FuelExhausted
                | Status::OutputLimit
                | Status::DiskLimit
        )
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A file created or changed in the workspace by an execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    /// Path relative to the workspace root (`/work` in the guest), with `/` separators.
    pub path: String,
    /// MIME type, sniffed from the content and, failing that, from the extension.
    pub mime_type: String,
    /// Size in bytes.
    pub size: u64,
    /// The bytes, when the sandbox was configured to attach them
    /// ([`SandboxConfig::with_artifact_bytes`](crate::SandboxConfig::with_artifact_bytes)); otherwise
    /// read them with the engine's `Sandbox::read_file`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub data: Option<Vec<u8>>,
}

impl Artifact {
    /// Whether the artifact is an image (`image/*`).
    pub fn is_image(&self) -> bool {
        self.mime_type.starts_with("image/")
    }
}

/// Everything an execution produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionResult {
    /// How it ended.
    pub status: Status,
    /// Guest stdout (lossy UTF-8), capped at `max_output_bytes`.
    pub stdout: String,
    /// Guest stderr (lossy UTF-8), capped at `max_output_bytes`.
    pub stderr: String,
    /// The guest's exit code when it exited by itself; `None` when the engine stopped it.
    pub exit_code: Option<i32>,
    /// Wall-clock time of the execution (compile step included when there was one).
    pub execution_time: Duration,
    /// Peak guest memory in bytes.
    pub memory_usage: u64,
    /// Instructions consumed (wasm fuel units); 0 on the native path.
    pub fuel_consumed: u64,
    /// Files created or changed in the workspace.
    pub artifacts: Vec<Artifact>,
    /// For any status but `ok`/`error`: what happened, in words (the trap message, which limit, ...).
    pub error: Option<String>,
    /// The isolation layers that were actually in effect for this run (for example `wasm`,
    /// `wasi-preview1`, `workspace-only-fs`; the native path lists namespaces, seccomp, cgroups...).
    pub isolation: Vec<String>,
    /// In a session (the engine's `Session`): the text form (Python's `repr`) of the cell's final
    /// expression, when the cell ended with one whose value is not `None`. Always `None` for
    /// one-shot executions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The host tools the guest called, in order (see the engine's `Sandbox::register_tool`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<crate::ToolCall>,
    /// The HTTP requests the guest asked the host for, allowed or refused, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network: Vec<crate::NetworkRequest>,
}

impl ExecutionResult {
    /// True when the guest ran to completion and exited 0.
    pub fn is_ok(&self) -> bool {
        self.status == Status::Ok
    }

    /// The artifact at `path` (relative to the workspace), if the run produced one.
    pub fn artifact(&self, path: &str) -> Option<&Artifact> {
        self.artifacts.iter().find(|a| a.path == path)
    }
}

/// One event of a streamed execution, in the order the guest produced them.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamOutput {
    /// A chunk the guest wrote to stdout, as soon as it wrote it.
    Stdout(bytes::Bytes),
    /// A chunk the guest wrote to stderr, as soon as it wrote it.
    Stderr(bytes::Bytes),
    /// A file the run created or changed (not an image).
    Artifact(Artifact),
    /// An image file the run created or changed (`image/*`).
    Image(Artifact),
    /// The end: the full result. Always the last event.
    Exit(Box<ExecutionResult>),
}
