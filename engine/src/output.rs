//! Guest stdout/stderr, for every backend: captured up to a cap, and forwarded chunk by chunk to
//! a stream as the guest writes. A write past the cap flags [`StopReason::OutputLimit`] on the
//! run's signals; the output up to the cap is kept.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::mpsc::UnboundedSender;

use crate::StreamOutput;
use crate::stop::{RunSignals, StopReason};

/// Which of the two output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Channel {
    Stdout,
    Stderr,
}

#[derive(Debug)]
struct Shared {
    buffer: Vec<u8>,
    signals: Arc<RunSignals>,
    events: Option<UnboundedSender<StreamOutput>>,
}

/// A capped, optionally streamed capture of one guest output stream. Cheap to clone; clones share
/// the buffer. A session's live guest keeps one capture for its whole life and
/// [`restart`](Self::restart)s it for each execution.
#[derive(Clone)]
pub(crate) struct CapturedOutput {
    channel: Channel,
    cap: usize,
    shared: Arc<Mutex<Shared>>,
}

impl CapturedOutput {
    pub(crate) fn new(
        channel: Channel,
        cap: u64,
        signals: Arc<RunSignals>,
        events: Option<UnboundedSender<StreamOutput>>,
    ) -> Self {
        Self {
            channel,
            cap: usize::try_from(cap).unwrap_or(usize::MAX),
            shared: Arc::new(Mutex::new(Shared {
                buffer: Vec::new(),
                signals,
                events,
            })),
        }
    }

    /// Captures for a run's stdout and stderr, both capped at `cap` and streamed to `events`.
    pub(crate) fn pair(
        cap: u64,
        signals: &Arc<RunSignals>,
        events: Option<UnboundedSender<StreamOutput>>,
    ) -> (Self, Self) {
        (
            Self::new(Channel::Stdout, cap, signals.clone(), events.clone()),
            Self::new(Channel::Stderr, cap, signals.clone(), events),
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        match self.shared.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Everything captured so far.
    pub(crate) fn contents(&self) -> Vec<u8> {
        self.lock().buffer.clone()
    }

    /// Starts a new execution on the same capture: empties the buffer and reports to the new
    /// execution's signals and stream.
    pub(crate) fn restart(
        &self,
        signals: Arc<RunSignals>,
        events: Option<UnboundedSender<StreamOutput>>,
    ) {
        let mut shared = self.lock();
        shared.buffer.clear();
        shared.signals = signals;
        shared.events = events;
    }

    /// Stops forwarding to the execution's stream (so its receiver sees the end) while keeping
    /// what was captured.
    pub(crate) fn detach(&self) {
        self.lock().events = None;
    }

    /// Appends `data`, keeping at most `cap` bytes in total. Returns false when some of it did not
    /// fit (the limit is then flagged on the run's signals).
    pub(crate) fn append(&self, data: &[u8]) -> bool {
        let mut shared = self.lock();
        let room = self.cap.saturating_sub(shared.buffer.len());
        let taken = &data[..data.len().min(room)];
        shared.buffer.extend_from_slice(taken);
        let signals = shared.signals.clone();
        let events = shared.events.clone();
        drop(shared);
        if !taken.is_empty()
            && let Some(events) = &events
        {
            let chunk = Bytes::copy_from_slice(taken);
            let event = match self.channel {
                Channel::Stdout => StreamOutput::Stdout(chunk),
                Channel::Stderr => StreamOutput::Stderr(chunk),
            };
            // The receiver may have gone away (caller dropped the stream): output is still captured.
            let _ = events.send(event);
        }
        if taken.len() < data.len() {
            signals.stop(StopReason::OutputLimit);
            return false;
        }
        true
    }

    /// Whether this run already stopped for overflowing an output stream.
    pub(crate) fn limit_reached(&self) -> bool {
        self.lock().signals.reason() == Some(StopReason::OutputLimit)
    }
}

impl std::fmt::Debug for CapturedOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CapturedOutput")
            .field("channel", &self.channel)
            .field("cap", &self.cap)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_output_up_to_the_cap_and_flags_the_limit() {
        let signals = Arc::new(RunSignals::default());
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let out = CapturedOutput::new(Channel::Stdout, 10, signals.clone(), Some(tx));
        assert!(out.append(b"hello "));
        assert!(!out.append(b"world!"));
        assert!(out.limit_reached());
        assert_eq!(out.contents(), b"hello worl");
        assert_eq!(signals.reason(), Some(StopReason::OutputLimit));
        assert_eq!(
            rx.try_recv().ok(),
            Some(StreamOutput::Stdout(Bytes::from_static(b"hello ")))
        );
        assert_eq!(
            rx.try_recv().ok(),
            Some(StreamOutput::Stdout(Bytes::from_static(b"worl")))
        );
    }
}
