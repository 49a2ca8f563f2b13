//! The epoch callback that enforces the wall-clock deadline and reacts to other stop requests
//! (output limit, terminate) within one epoch tick.

use std::time::Instant;

use wasmtime::UpdateDeadline;

use crate::signals::{RunSignals, StopReason};

/// The error a guest is trapped with when the engine stops it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("stopped by the engine: {0:?}")]
pub(crate) struct Stopped(pub StopReason);

/// What the epoch callback does at each tick: stop if asked to or past the deadline, otherwise
/// yield to the async executor (so many sandboxes share threads fairly) and continue.
pub(crate) fn on_epoch_tick(
    signals: &RunSignals,
    deadline: Instant,
) -> wasmtime::Result<UpdateDeadline> {
    if signals.reason().is_none() && Instant::now() >= deadline {
        signals.stop(StopReason::Timeout);
    }
    match signals.reason() {
        Some(reason) => Err(wasmtime::Error::new(Stopped(reason))),
        None => Ok(UpdateDeadline::Yield(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn tick_past_deadline_stops_with_timeout() {
        let s = RunSignals::default();
        assert!(on_epoch_tick(&s, Instant::now() + Duration::from_secs(60)).is_ok());
        assert!(on_epoch_tick(&s, Instant::now()).is_err());
        assert_eq!(s.reason(), Some(StopReason::Timeout));
    }
}
