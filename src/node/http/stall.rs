//! A connection's writes, bounded in time: a client that takes no byte of
//! its answer for `HttpLimits::write_stall_timeout` is dropped, so that
//! neither its connection nor its answer (counted against the answer
//! budgets until sent: `answers`) is held for as long as it likes. The
//! clock runs only while a write waits for the client (its socket buffer
//! full), never while a connection waits for its next request, and
//! restarts whenever the client takes bytes: a slow link keeps its
//! connection, a client that stopped reading does not (nginx's
//! `send_timeout`).
//!
//! "Takes" is read from the socket, not from our writes: the kernel lets a
//! waiting write go on only once a third of the send buffer is free, and
//! that buffer grows to 4 MiB, so a client reading 20 KB/s steadily may
//! see no write of ours go through for a minute. While a write waits, the
//! guard looks every tenth of the limit at how many bytes the socket
//! still holds unacknowledged (`SIOCOUTQ`); fewer than last time is the
//! client taking some.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use prometheus::IntCounter;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// A stream that can tell how many bytes written to it its other end has
/// not taken yet, where it knows.
pub trait Unsent {
    fn unsent(&self) -> Option<u64>;
}

impl Unsent for tokio::net::TcpStream {
    #[cfg(target_os = "linux")]
    fn unsent(&self) -> Option<u64> {
        use std::os::fd::AsRawFd;
        let mut queued: libc::c_int = 0;
        // SAFETY: SIOCOUTQ writes one int through the pointer, on a socket
        // this stream owns.
        let done = unsafe { libc::ioctl(self.as_raw_fd(), libc::TIOCOUTQ, &mut queued) };
        (done == 0).then_some(queued.max(0) as u64)
    }

    #[cfg(not(target_os = "linux"))]
    fn unsent(&self) -> Option<u64> {
        None
    }
}

/// `inner` with its writes watched (see the module's documentation).
pub struct StallGuard<S> {
    inner: S,
    limit: Duration,
    /// While a write waits: since when the client took nothing, and what
    /// the socket held then.
    waiting: Option<Waiting>,
    /// Counts the connections dropped for it.
    stalled: IntCounter,
}

struct Waiting {
    since: Instant,
    unsent: Option<u64>,
    /// When to look at the socket next.
    look: Pin<Box<Sleep>>,
}

impl<S: Unsent> StallGuard<S> {
    pub fn new(inner: S, limit: Duration, stalled: IntCounter) -> StallGuard<S> {
        StallGuard {
            inner,
            limit,
            waiting: None,
            stalled,
        }
    }

    /// What a write came to: done (the clock stops), or waiting (the clock
    /// runs while the client takes nothing; past the limit the write
    /// fails).
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        write: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if write.is_ready() {
            self.waiting = None;
            return write;
        }
        let every = self.limit / 10;
        let waiting = self.waiting.get_or_insert_with(|| Waiting {
            since: Instant::now(),
            unsent: self.inner.unsent(),
            look: Box::pin(tokio::time::sleep(every)),
        });
        while waiting.look.as_mut().poll(cx).is_ready() {
            let now = Instant::now();
            let unsent = self.inner.unsent();
            if let (Some(now_unsent), Some(before)) = (unsent, waiting.unsent)
                && now_unsent < before
            {
                waiting.since = now;
            }
            waiting.unsent = unsent;
            if now.duration_since(waiting.since) >= self.limit {
                self.waiting = None;
                self.stalled.inc();
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the client took no byte of its answer for {} s",
                        self.limit.as_secs_f64()
                    ),
                )));
            }
            waiting.look.as_mut().reset(now + every);
        }
        Poll::Pending
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

impl<S: AsyncWrite + Unsent + Unpin> AsyncWrite for StallGuard<S> {
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
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    /// A pipe knows nothing of its other end: only our writes count.
    impl Unsent for DuplexStream {
        fn unsent(&self) -> Option<u64> {
            None
        }
    }

    fn counter() -> IntCounter {
        IntCounter::new("stalled", "test").unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_nobody_reads_fails_after_the_limit() {
        // A pipe of 64 bytes whose other end is never read.
        let (near, _far) = tokio::io::duplex(64);
        let stalled = counter();
        let mut guarded = StallGuard::new(near, Duration::from_secs(30), stalled.clone());
        let started = Instant::now();
        let write = guarded.write_all(&[7u8; 1024]);
        let error = tokio::time::timeout(Duration::from_secs(3600), write)
            .await
            .expect("the write still waits after an hour")
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(30));
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
