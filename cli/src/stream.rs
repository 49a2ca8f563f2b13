//! Streaming a run's output to the terminal as it arrives, for local and remote runs alike.

use std::io::Write;

use futures::StreamExt;
use soulbox::{ExecutionResult, StreamOutput};

/// Writes a run's output to ours as it arrives; returns its result (`None`: the stream ended
/// without one).
pub(crate) async fn print_events<E>(
    events: impl futures::Stream<Item = Result<StreamOutput, E>>,
) -> Result<Option<ExecutionResult>, E> {
    let mut events = std::pin::pin!(events);
    let mut result = None;
    while let Some(event) = events.next().await {
        match event? {
            StreamOutput::Stdout(chunk) => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(&chunk).and_then(|_| out.flush());
            }
            StreamOutput::Stderr(chunk) => {
                let mut err = std::io::stderr().lock();
                let _ = err.write_all(&chunk).and_then(|_| err.flush());
            }
            StreamOutput::Artifact(_) | StreamOutput::Image(_) => {}
            StreamOutput::Exit(r) => result = Some(*r),
        }
    }
    Ok(result)
}
