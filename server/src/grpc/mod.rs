//! The gRPC door (`soulbox.v1`): parses requests, authenticates (see [`crate::auth`]), and calls
//! the [`Manager`](crate::manager::Manager) and the engine. It never builds results or applies
//! limits itself. One log line per call: tenant, sandbox, method, status, duration.

pub(crate) mod files;
pub(crate) mod sandboxes;
pub(crate) mod sessions;

use std::pin::Pin;
use std::time::Instant;

use futures::{Stream, StreamExt};
use soulbox::{ExecutionResult, SoulBoxError, StreamOutput, api::ErrorKind};
use soulbox_proto::{ERROR_KIND_HEADER, v1};
use tokio::sync::mpsc::UnboundedReceiver;
use tonic::{Code, Status};

use crate::auth::Tenant;
use crate::manager::{Admission, ManagerError};

/// The stream type of `Execute` and `RunCell`.
pub(crate) type EventStream =
    Pin<Box<dyn Stream<Item = Result<v1::ExecutionEvent, Status>> + Send>>;

/// The gRPC code an engine error travels as.
fn engine_code(kind: ErrorKind) -> Code {
    match kind {
        ErrorKind::InvalidRequest
        | ErrorKind::UnknownLanguage
        | ErrorKind::InvalidModule
        | ErrorKind::InvalidPath
        | ErrorKind::UnusableFile => Code::InvalidArgument,
        ErrorKind::FileNotFound => Code::NotFound,
        ErrorKind::Unsupported => Code::Unimplemented,
        ErrorKind::InvalidState
        | ErrorKind::SessionPoisoned
        | ErrorKind::SnapshotMismatch
        | ErrorKind::SnapshotCorrupt
        | ErrorKind::ToolchainMissing
        | ErrorKind::IsolationUnavailable
        | ErrorKind::Package => Code::FailedPrecondition,
        _ => Code::Internal,
    }
}

fn with_kind(code: Code, kind: ErrorKind, message: String) -> Status {
    let mut status = Status::new(code, message);
    if let Ok(value) = kind.name().parse() {
        status.metadata_mut().insert(ERROR_KIND_HEADER, value);
    }
    status
}

/// An engine error as a gRPC status carrying its kind and message.
pub(crate) fn engine_status(err: &SoulBoxError) -> Status {
    let kind = err.kind();
    with_kind(engine_code(kind), kind, err.to_string())
}

impl From<ManagerError> for Status {
    fn from(err: ManagerError) -> Status {
        match err {
            ManagerError::NotFound { .. } => Status::not_found(err.to_string()),
            ManagerError::OverCap(m) | ManagerError::Invalid(m) => {
                with_kind(Code::InvalidArgument, ErrorKind::InvalidRequest, m)
            }
            ManagerError::Busy(m) => Status::resource_exhausted(m),
            ManagerError::ShuttingDown => Status::unavailable(err.to_string()),
            ManagerError::Engine(e) => engine_status(&e),
        }
    }
}

/// A request field that does not parse.
pub(crate) fn invalid(message: impl Into<String>) -> Status {
    with_kind(
        Code::InvalidArgument,
        ErrorKind::InvalidRequest,
        message.into(),
    )
}

/// Logs one line for a call when dropped (so a cancelled stream is logged too).
pub(crate) struct CallLog {
    method: &'static str,
    tenant: Tenant,
    sandbox: String,
    started: Instant,
    outcome: Option<String>,
    /// Run when the call ends without an outcome (the client went away mid-stream).
    on_cancel: Option<Box<dyn FnOnce() + Send>>,
}

impl CallLog {
    pub(crate) fn new(method: &'static str, tenant: &Tenant, sandbox: &str) -> CallLog {
        CallLog {
            method,
            tenant: tenant.clone(),
            sandbox: sandbox.to_owned(),
            started: Instant::now(),
            outcome: None,
            on_cancel: None,
        }
    }

    /// Names the sandbox once it is known (a create).
    pub(crate) fn set_sandbox(&mut self, id: &str) {
        id.clone_into(&mut self.sandbox);
    }

    /// Records the call's outcome (a gRPC code name or an execution status).
    pub(crate) fn finish(&mut self, outcome: impl Into<String>) {
        self.outcome = Some(outcome.into());
    }

    /// Logs a unary call's result and passes it on.
    pub(crate) fn result<T>(mut self, result: Result<T, Status>) -> Result<T, Status> {
        match &result {
            Ok(_) => self.finish("ok"),
            Err(status) => self.finish(format!("{:?}", status.code())),
        }
        result
    }
}

impl Drop for CallLog {
    fn drop(&mut self) {
        let status = match self.outcome.take() {
            Some(outcome) => outcome,
            None => {
                if let Some(cancel) = self.on_cancel.take() {
                    cancel();
                }
                "cancelled".to_owned()
            }
        };
        tracing::info!(
            tenant = self.tenant.name(),
            sandbox = %self.sandbox,
            method = self.method,
            status = %status,
            duration_ms = self.started.elapsed().as_secs_f64() * 1e3,
            "request"
        );
    }
}

/// Turns an engine event stream into the wire stream. The stream owns the admission (its
/// concurrency slot) and the log line: when the client cancels, tonic drops the stream, which
/// drops the engine's run (stopping the guest), gives the slot back and logs `cancelled`.
pub(crate) fn wire_events(
    events: impl Stream<Item = soulbox::Result<StreamOutput>> + Send + 'static,
    admission: Admission,
    mut log: CallLog,
    on_cancel: Option<Box<dyn FnOnce() + Send>>,
) -> EventStream {
    log.on_cancel = on_cancel;
    let mut held = Some((admission, log));
    Box::pin(events.map(move |event| match event {
        Ok(event) => {
            if let StreamOutput::Exit(result) = &event
                && let Some((admission, mut log)) = held.take()
            {
                log.finish(result.status.name());
                drop(admission);
            }
            Ok(soulbox_proto::event_to_wire(&event))
        }
        Err(e) => {
            if let Some((_, mut log)) = held.take() {
                log.finish(format!("{:?}", engine_code(e.kind())));
            }
            Err(engine_status(&e))
        }
    }))
}

/// The events of a run given as a future plus its output channel (what a session cell gives):
/// output chunks as they come, then the result's artifacts, then the result - the same order
/// as `Sandbox::stream`.
pub(crate) fn run_events(
    run: impl Future<Output = soulbox::Result<ExecutionResult>> + Send + 'static,
    rx: UnboundedReceiver<StreamOutput>,
) -> impl Stream<Item = soulbox::Result<StreamOutput>> + Send + 'static {
    enum State {
        Running(
            Pin<Box<dyn Future<Output = soulbox::Result<ExecutionResult>> + Send>>,
            UnboundedReceiver<StreamOutput>,
        ),
        Finishing(std::collections::VecDeque<soulbox::Result<StreamOutput>>),
    }
    let start = State::Running(Box::pin(run), rx);
    futures::stream::unfold(start, |state| async move {
        match state {
            State::Running(mut run, mut rx) => {
                tokio::select! {
                    biased;
                    Some(event) = rx.recv() => Some((Ok(event), State::Running(run, rx))),
                    result = &mut run => {
                        let mut pending = std::collections::VecDeque::new();
                        while let Ok(event) = rx.try_recv() {
                            pending.push_back(Ok(event));
                        }
                        match result {
                            Ok(result) => {
                                for artifact in &result.artifacts {
                                    pending.push_back(Ok(if artifact.is_image() {
                                        StreamOutput::Image(artifact.clone())
                                    } else {
                                        StreamOutput::Artifact(artifact.clone())
                                    }));
                                }
                                pending.push_back(Ok(StreamOutput::Exit(Box::new(result))));
                            }
                            Err(e) => pending.push_back(Err(e)),
                        }
                        let first = pending.pop_front()?;
                        Some((first, State::Finishing(pending)))
                    }
                }
            }
            State::Finishing(mut pending) => {
                let event = pending.pop_front()?;
                Some((event, State::Finishing(pending)))
            }
        }
    })
}
