//! What a backend reports when a run ends, before the sandbox adds artifacts and timing.
//! Every backend (wasm, native) produces this same shape, so the rest of the flow is shared.

use std::time::Duration;

use crate::{Artifact, ExecutionResult, Status};

/// How a run ended.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub status: Status,
    pub exit_code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub memory_peak: u64,
    pub fuel_consumed: u64,
    pub error: Option<String>,
    pub isolation: Vec<String>,
}

impl Outcome {
    /// The result the caller sees: this outcome plus what the sandbox adds around the run.
    pub(crate) fn into_result(
        self,
        execution_time: Duration,
        artifacts: Vec<Artifact>,
        value: Option<String>,
    ) -> ExecutionResult {
        ExecutionResult {
            status: self.status,
            stdout: String::from_utf8_lossy(&self.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&self.stderr).into_owned(),
            exit_code: self.exit_code,
            execution_time,
            memory_usage: self.memory_peak,
            fuel_consumed: self.fuel_consumed,
            artifacts,
            error: self.error,
            isolation: self.isolation,
            value,
            tool_calls: Vec::new(),
            network: Vec::new(),
        }
    }
}
