//! What a guest sees of the world: output pipes that never trap the host when full, and
//! virtual clocks, so that a run is a function of its inputs alone.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

/// Keeps the first `cap` bytes written and notes that more were tried. A full pipe answers
/// the guest with a closed stream (an I/O error it can see), where wasmtime's memory pipe
/// would trap the whole run.
#[derive(Debug, Clone)]
pub(crate) struct CappedPipe {
    cap: usize,
    buf: Arc<Mutex<BytesMut>>,
    overflowed: Arc<AtomicBool>,
}

impl CappedPipe {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            cap,
            buf: Arc::default(),
            overflowed: Arc::default(),
        }
    }

    pub(crate) fn contents(&self) -> Bytes {
        self.buf
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .freeze()
    }

    pub(crate) fn overflowed(&self) -> bool {
        self.overflowed.load(Ordering::Relaxed)
    }

    /// Appends what fits; `false` when something did not.
    fn push(&self, bytes: &[u8]) -> bool {
        let mut buf = self.buf.lock().unwrap_or_else(PoisonError::into_inner);
        let room = self.cap.saturating_sub(buf.len());
        let n = bytes.len().min(room);
        buf.extend_from_slice(&bytes[..n]);
        if n < bytes.len() {
            self.overflowed.store(true, Ordering::Relaxed);
            return false;
        }
        true
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for CappedPipe {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        if self.push(&bytes) {
            Ok(())
        } else {
            Err(StreamError::Closed)
        }
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        if self.overflowed() {
            return Err(StreamError::Closed);
        }
        // Room for any chunk: a write past the cap is cut and remembered, not refused up
        // front, so the run can say its output was too large.
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CappedPipe {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for CappedPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.push(buf) {
            Poll::Ready(Ok(buf.len()))
        } else {
            Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()))
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for CappedPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedPipe {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

/// A clock that starts at a fixed time and moves one microsecond per reading. A guest can
/// measure and order events, but what it reads depends only on what it did, never on the
/// host, so two orchestrators running the same job agree.
#[derive(Debug, Clone)]
pub(crate) struct VirtualClock {
    start: Duration,
    reads: Arc<AtomicU64>,
}

impl VirtualClock {
    pub(crate) fn new(start: Duration) -> Self {
        Self {
            start,
            reads: Arc::default(),
        }
    }

    fn tick(&self) -> Duration {
        let n = self.reads.fetch_add(1, Ordering::Relaxed);
        self.start + Duration::from_micros(n)
    }
}

impl HostWallClock for VirtualClock {
    fn resolution(&self) -> Duration {
        Duration::from_micros(1)
    }

    fn now(&self) -> Duration {
        self.tick()
    }
}

impl HostMonotonicClock for VirtualClock {
    fn resolution(&self) -> u64 {
        1_000
    }

    fn now(&self) -> u64 {
        u64::try_from(self.tick().as_nanos()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_pipe_keeps_the_head_and_says_so() {
        let p = CappedPipe::new(5);
        assert!(p.push(b"abc"));
        assert!(!p.overflowed());
        assert!(!p.push(b"defg"));
        assert_eq!(p.contents(), Bytes::from_static(b"abcde"));
        assert!(p.overflowed());
    }

    #[test]
    fn the_clock_moves_only_when_read() {
        let c = VirtualClock::new(Duration::from_secs(10));
        assert_eq!(HostWallClock::now(&c), Duration::from_secs(10));
        assert_eq!(
            HostMonotonicClock::now(&c),
            10_000_001_000,
            "second reading, 1 µs later"
        );
    }
}
