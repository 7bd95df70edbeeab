//! A connection's writes, bounded in time: a client that takes no byte of
//! its answer for `HttpLimits::write_stall_timeout` is dropped, so that
//! neither its connection nor its answer (counted against the answer
//! budgets until sent: `answers`) is held for as long as it likes. The
//! clock runs only while a write waits for the client (its socket buffer
//! full), never while a connection waits for its next request, and
//! restarts at every byte taken: a slow link keeps its connection, a
//! client that stopped reading does not (nginx's `send_timeout`).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use prometheus::IntCounter;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// `inner` with its writes watched (see the module's documentation).
pub struct StallGuard<S> {
    inner: S,
    limit: Duration,
    /// Runs while a write waits; `None` while nothing does.
    waiting: Option<Pin<Box<Sleep>>>,
    /// Counts the connections dropped for it.
    stalled: IntCounter,
}

impl<S> StallGuard<S> {
    pub fn new(inner: S, limit: Duration, stalled: IntCounter) -> StallGuard<S> {
        StallGuard {
            inner,
            limit,
            waiting: None,
            stalled,
        }
    }

    /// What a write came to: done (the clock stops), or waiting (the clock
    /// runs; past the limit the write fails).
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        write: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if write.is_ready() {
            self.waiting = None;
            return write;
        }
        let limit = self.limit;
        let clock = self
            .waiting
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match clock.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                self.stalled.inc();
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the client took no byte of its answer for {} s",
                        limit.as_secs_f64()
                    ),
                )))
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for StallGuard<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for StallGuard<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let write = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, write)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let write = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch(cx, write)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let flush = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(cx, flush)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn counter() -> IntCounter {
        IntCounter::new("stalled", "test").unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_nobody_reads_fails_after_the_limit() {
        // A pipe of 64 bytes whose other end is never read.
        let (near, _far) = tokio::io::duplex(64);
        let stalled = counter();
        let mut guarded = StallGuard::new(near, Duration::from_secs(30), stalled.clone());
        let write = guarded.write_all(&[7u8; 1024]);
        let error = tokio::time::timeout(Duration::from_secs(3600), write)
            .await
            .expect("the write still waits after an hour")
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(stalled.get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_reader_that_keeps_taking_bytes_is_kept() {
        let (near, mut far) = tokio::io::duplex(64);
        let stalled = counter();
        let mut guarded = StallGuard::new(near, Duration::from_secs(30), stalled.clone());
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut chunk = [0u8; 64];
            // 64 bytes every 20 s: each under the limit, all of them far
            // past it.
            while got.len() < 1024 {
                tokio::time::sleep(Duration::from_secs(20)).await;
                let n = far.read(&mut chunk).await.unwrap();
                got.extend_from_slice(&chunk[..n]);
            }
            got
        });
        guarded.write_all(&[7u8; 1024]).await.unwrap();
        assert_eq!(reader.await.unwrap(), vec![7u8; 1024]);
        assert_eq!(stalled.get(), 0);
    }
}
