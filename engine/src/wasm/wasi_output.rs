//! Guest stdout/stderr as the wasm backend writes them: [`CapturedOutput`] is handed to WASI as
//! both streams. Writing past the cap traps the guest at once (status `output_limit`).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

use super::deadline::Stopped;
use crate::output::CapturedOutput;
use crate::stop::StopReason;

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for CapturedOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        if self.append(&bytes) {
            Ok(())
        } else {
            Err(StreamError::Trap(wasmtime::Error::new(Stopped(
                StopReason::OutputLimit,
            ))))
        }
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        if self.limit_reached() {
            return Err(StreamError::Trap(wasmtime::Error::new(Stopped(
                StopReason::OutputLimit,
            ))));
        }
        // Always ready: the cap is enforced on write, so a guest asking for room gets a large
        // permit and a single write beyond the cap still trips the limit.
        Ok(1 << 20)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CapturedOutput {
    async fn ready(&mut self) {}
}

impl AsyncWrite for CapturedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.append(buf) {
            Poll::Ready(Ok(buf.len()))
        } else {
            Poll::Ready(Err(std::io::Error::other("output limit reached")))
        }
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::output::Channel;
    use crate::stop::RunSignals;

    #[test]
    fn a_write_past_the_cap_traps_the_guest() {
        let signals = Arc::new(RunSignals::default());
        let mut out = CapturedOutput::new(Channel::Stdout, 4, signals, None);
        assert!(out.write(Bytes::from_static(b"four")).is_ok());
        assert!(out.write(Bytes::from_static(b"!")).is_err());
        assert!(out.check_write().is_err());
    }
}
