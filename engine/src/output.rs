//! Guest stdout/stderr, for every backend: captured up to a cap, and forwarded chunk by chunk to
//! a stream as the guest writes. A write past the cap flags [`StopReason::OutputLimit`] on the
//! run's signals; the output up to the cap is kept.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::mpsc::UnboundedSender;

use crate::StreamOutput;
use crate::signals::{RunSignals, StopReason};

/// Which of the two output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Channel {
    Stdout,
    Stderr,
}

#[derive(Debug)]
struct Shared {
    buffer: Vec<u8>,
}

/// A capped, optionally streamed capture of one guest output stream. Cheap to clone; clones share
/// the buffer.
#[derive(Clone)]
pub(crate) struct CapturedOutput {
    channel: Channel,
    cap: usize,
    shared: Arc<Mutex<Shared>>,
    signals: Arc<RunSignals>,
    events: Option<UnboundedSender<StreamOutput>>,
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
            shared: Arc::new(Mutex::new(Shared { buffer: Vec::new() })),
            signals,
            events,
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

    /// Everything captured so far.
    pub(crate) fn contents(&self) -> Vec<u8> {
        match self.shared.lock() {
            Ok(s) => s.buffer.clone(),
            Err(poisoned) => poisoned.into_inner().buffer.clone(),
        }
    }

    /// Appends `data`, keeping at most `cap` bytes in total. Returns false when some of it did not
    /// fit (the limit is then flagged on the run's signals).
    pub(crate) fn append(&self, data: &[u8]) -> bool {
        let mut shared = match self.shared.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        let room = self.cap.saturating_sub(shared.buffer.len());
        let taken = &data[..data.len().min(room)];
        shared.buffer.extend_from_slice(taken);
        drop(shared);
        if !taken.is_empty()
            && let Some(events) = &self.events
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
            self.signals.stop(StopReason::OutputLimit);
            return false;
        }
        true
    }

    /// Whether this run already stopped for overflowing an output stream.
    pub(crate) fn limit_reached(&self) -> bool {
        self.signals.reason() == Some(StopReason::OutputLimit)
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
