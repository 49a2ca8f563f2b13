//! The wall-clock deadline of wasm guests: when a run must end, the epoch callback that stops
//! it within one tick (and reacts to other stop requests - output limit, terminate - as fast),
//! the CPU-quota throttle at each tick, and the timeout around a call blocked in the host.

use std::time::{Duration, Instant};

use wasmtime::UpdateDeadline;

use crate::SandboxConfig;
use crate::stop::{RunSignals, StopReason};

/// Extra time a guest blocked inside a host call (sleep, stdin) gets beyond its deadline before
/// the call itself is abandoned.
const BLOCKED_GRACE: Duration = Duration::from_millis(200);
/// The instant `timeout` after `start`, never overflowing: `validate` bounds timeouts by
/// [`MAX_TIMEOUT`](crate::MAX_TIMEOUT), and anything the clock cannot represent ends at once.
pub(crate) fn deadline_after(start: Instant, timeout: Duration) -> Instant {
    start
        .checked_add(timeout)
        .or_else(|| start.checked_add(crate::MAX_TIMEOUT))
        .unwrap_or(start)
}

/// Runs `call` under the execution's wall-clock limit (the config's timeout from now, plus the
/// grace for a guest blocked in a host call), recording a timeout on `signals` when the call is
/// abandoned.
pub(crate) async fn under_deadline<T>(
    config: &SandboxConfig,
    signals: &RunSignals,
    call: impl std::future::Future<Output = wasmtime::Result<T>>,
) -> wasmtime::Result<T> {
    let deadline = deadline_after(Instant::now(), config.timeout);
    until(deadline, signals, call).await
}

/// [`under_deadline`] with the deadline given.
pub(crate) async fn until<T>(
    deadline: Instant,
    signals: &RunSignals,
    call: impl std::future::Future<Output = wasmtime::Result<T>>,
) -> wasmtime::Result<T> {
    let abandon = deadline_after(deadline, BLOCKED_GRACE);
    match tokio::time::timeout_at(abandon.into(), call).await {
        Ok(result) => result,
        Err(_elapsed) => {
            signals.stop(StopReason::Timeout);
            Err(wasmtime::Error::new(Stopped(StopReason::Timeout)))
        }
    }
}

/// The error a guest is trapped with when the engine stops it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("stopped by the engine: {0:?}")]
pub(crate) struct Stopped(pub StopReason);

/// How long a guest with `cpu_quota` below 1.0 pauses after each tick it ran, so that it gets
/// `quota` of a core: running one tick then pausing `tick * (1 - q) / q`. `None` for a full core.
pub(crate) fn throttle_pause(cpu_quota: f64, tick: Duration) -> Option<Duration> {
    if !(cpu_quota.is_finite() && cpu_quota > 0.0 && cpu_quota < 1.0) {
        return None;
    }
    let pause = tick.as_secs_f64() * (1.0 - cpu_quota) / cpu_quota;
    Some(Duration::from_secs_f64(pause.min(1.0)))
}

/// What the epoch callback does at each tick: stop if asked to or past the deadline, otherwise
/// yield to the async executor (so many sandboxes share threads fairly) - pausing first when the
/// sandbox is throttled to less than a core - and continue.
pub(crate) fn on_epoch_tick(
    signals: &RunSignals,
    deadline: Instant,
    pause: Option<Duration>,
) -> wasmtime::Result<UpdateDeadline> {
    if signals.reason().is_none() && Instant::now() >= deadline {
        signals.stop(StopReason::Timeout);
    }
    match (signals.reason(), pause) {
        (Some(reason), _) => Err(wasmtime::Error::new(Stopped(reason))),
        (None, None) => Ok(UpdateDeadline::Yield(1)),
        (None, Some(pause)) => {
            // Never sleep past the deadline: the next tick must be able to end the run on time.
            let pause = pause.min(deadline.saturating_duration_since(Instant::now()));
            Ok(UpdateDeadline::YieldCustom(
                1,
                Box::pin(tokio::time::sleep(pause)),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_pause_gives_the_quota() {
        let tick = Duration::from_millis(10);
        assert_eq!(throttle_pause(1.0, tick), None);
        assert_eq!(throttle_pause(2.0, tick), None);
        assert_eq!(throttle_pause(0.5, tick), Some(Duration::from_millis(10)));
        assert_eq!(throttle_pause(0.25, tick), Some(Duration::from_millis(30)));
        assert_eq!(throttle_pause(1e-9, tick), Some(Duration::from_secs(1)));
        assert_eq!(throttle_pause(f64::NAN, tick), None);
    }

    #[test]
    fn tick_past_deadline_stops_with_timeout() {
        let s = RunSignals::default();
        assert!(on_epoch_tick(&s, Instant::now() + Duration::from_secs(60), None).is_ok());
        assert!(on_epoch_tick(&s, Instant::now(), None).is_err());
        assert_eq!(s.reason(), Some(StopReason::Timeout));
    }
}
