//! Why the engine stopped a run, shared by every backend and by whoever may end a run from outside
//! (the output capture when a stream overflows, [`Sandbox::terminate`](crate::Sandbox::terminate)).

use std::sync::atomic::{AtomicU8, Ordering};

use tokio::sync::Notify;

use crate::{SandboxConfig, Status};

/// The engine-side reasons for stopping a guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopReason {
    Timeout,
    OutputLimit,
    Killed,
}

impl StopReason {
    fn code(self) -> u8 {
        match self {
            StopReason::Timeout => 1,
            StopReason::OutputLimit => 2,
            StopReason::Killed => 3,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(StopReason::Timeout),
            2 => Some(StopReason::OutputLimit),
            3 => Some(StopReason::Killed),
            _ => None,
        }
    }

    /// The status and message a run stopped for this reason ends with.
    pub(crate) fn status(self, config: &SandboxConfig) -> (Status, String) {
        match self {
            StopReason::Timeout => (
                Status::Timeout,
                format!("execution timed out after {:?}", config.timeout),
            ),
            StopReason::OutputLimit => (
                Status::OutputLimit,
                format!(
                    "output exceeded the limit of {} bytes per stream",
                    config.max_output_bytes
                ),
            ),
            StopReason::Killed => (Status::Killed, "execution was terminated".into()),
        }
    }
}

/// Shared between a run, its output captures and whoever may terminate it. The first reason
/// recorded wins; waiters on [`stopped`](Self::stopped) are woken when one is.
#[derive(Debug, Default)]
pub(crate) struct RunSignals {
    reason: AtomicU8,
    notify: Notify,
}

impl RunSignals {
    /// Records a reason to stop (ignored if one is already recorded).
    pub(crate) fn stop(&self, reason: StopReason) {
        if self
            .reason
            .compare_exchange(0, reason.code(), Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            self.notify.notify_waiters();
        }
    }

    /// The recorded reason, if any.
    pub(crate) fn reason(&self) -> Option<StopReason> {
        StopReason::from_code(self.reason.load(Ordering::SeqCst))
    }

    /// Resolves once a reason to stop is recorded.
    pub(crate) async fn stopped(&self) -> StopReason {
        loop {
            let notified = self.notify.notified();
            if let Some(reason) = self.reason() {
                return reason;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_reason_wins() {
        let s = RunSignals::default();
        assert_eq!(s.reason(), None);
        s.stop(StopReason::OutputLimit);
        s.stop(StopReason::Timeout);
        assert_eq!(s.reason(), Some(StopReason::OutputLimit));
    }

    #[tokio::test]
    async fn waiters_wake_on_the_first_stop() {
        let s = std::sync::Arc::new(RunSignals::default());
        let waiter = tokio::spawn({
            let s = s.clone();
            async move { s.stopped().await }
        });
        tokio::task::yield_now().await;
        s.stop(StopReason::Killed);
        assert_eq!(waiter.await.ok(), Some(StopReason::Killed));
    }
}
