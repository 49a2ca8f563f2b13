//! Results the engine makes without running a program (a compile error, a refused module, a run
//! stopped before it started). The data type is `soulbox-api`'s; these constructors are the
//! engine's own, so they stay here, crate-private.

use std::time::Duration;

use crate::{ExecutionResult, Status};

/// Engine-only constructors of [`ExecutionResult`].
pub(crate) trait ExecutionResultExt {
    /// The result of a source that did not compile: nothing ran, the compiler's diagnostics are
    /// on stderr.
    fn compile_failed(
        diagnostics: String,
        reason: String,
        isolation: Vec<String>,
        elapsed: Duration,
    ) -> Self;

    /// The result of an execution whose module was refused before it ran: `status` names the
    /// limit (a module declaring more memory than allowed, a compile that took the whole timeout)
    /// and `error` says what happened.
    fn refused(status: Status, error: String, isolation: Vec<String>, elapsed: Duration) -> Self;

    /// The result of an execution terminated before its program started (while compiling).
    fn killed_before_run(elapsed: Duration) -> Self;

    /// The result of a session's `%pip install` (or `%npm`/`%gem`) cell, which ran nothing in
    /// the guest: `Ok` with the summary on stdout, or `Error` (exit code 1) with the reason.
    fn package_cell(outcome: std::result::Result<String, String>, elapsed: Duration) -> Self;
}

impl ExecutionResultExt for ExecutionResult {
    /// The result of a source that did not compile: nothing ran, the compiler's diagnostics are
    /// on stderr.
    fn compile_failed(
        diagnostics: String,
        reason: String,
        isolation: Vec<String>,
        elapsed: Duration,
    ) -> Self {
        Self {
            status: Status::CompileError,
            stdout: String::new(),
            stderr: diagnostics,
            exit_code: None,
            execution_time: elapsed,
            memory_usage: 0,
            fuel_consumed: 0,
            artifacts: Vec::new(),
            error: Some(reason),
            isolation,
            value: None,
            tool_calls: Vec::new(),
            network: Vec::new(),
        }
    }

    /// The result of an execution whose module was refused before it ran: `status` names the
    /// limit (a module declaring more memory than allowed, a compile that took the whole timeout)
    /// and `error` says what happened.
    fn refused(status: Status, error: String, isolation: Vec<String>, elapsed: Duration) -> Self {
        Self {
            status,
            stdout: String::new(),
            stderr: String::new(),
            exit_code: None,
            execution_time: elapsed,
            memory_usage: 0,
            fuel_consumed: 0,
            artifacts: Vec::new(),
            error: Some(error),
            isolation,
            value: None,
            tool_calls: Vec::new(),
            network: Vec::new(),
        }
    }

    fn package_cell(outcome: std::result::Result<String, String>, elapsed: Duration) -> Self {
        match outcome {
            Ok(summary) => Self {
                status: Status::Ok,
                stdout: format!("{summary}\n"),
                exit_code: Some(0),
                error: None,
                ..Self::refused(Status::Ok, String::new(), Vec::new(), elapsed)
            },
            Err(reason) => Self {
                stderr: format!("{reason}\n"),
                exit_code: Some(1),
                ..Self::refused(Status::Error, reason, Vec::new(), elapsed)
            },
        }
    }

    /// The result of an execution terminated before its program started (while compiling).
    fn killed_before_run(elapsed: Duration) -> Self {
        Self::refused(
            Status::Killed,
            "execution was terminated before the program started".into(),
            Vec::new(),
            elapsed,
        )
    }
}
