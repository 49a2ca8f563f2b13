//! What a backend reports when a run ends, before the sandbox adds artifacts and timing.
//! Every backend (wasm, native) produces this same shape, so the rest of the flow is shared.

use crate::Status;

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
