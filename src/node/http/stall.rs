//! A connection's writes, bounded in time: a client must take its answer
//! at `HttpLimits::min_read_rate` on average while a write waits for it
//! (its socket buffer full), or it is dropped; one that takes nothing at
//! all is dropped after `HttpLimits::write_stall_timeout`. So neither its
//! connection nor its answer (counted against the answer budgets until
//! sent: `answers`) is held for as long as it likes, by a client that
//! stopped reading or one that drips a few bytes now and then. Nothing is
//! counted while a connection waits for its next request.
//!
//! The rule is a credit of time: it starts at the stall timeout, runs down
//! while a write waits, and every byte the client takes meanwhile buys
//! back `1 / min_read_rate` seconds of it (never more than the timeout);
//! at zero the write fails. A client reading at the rate or faster never
//! loses any.
//!
//! "Takes" is read from the socket, not from our writes: the kernel lets a
//! waiting write go on only once a third of the send buffer is free, and
//! that buffer grows to 4 MiB, so a client reading 20 KB/s steadily may
//! see no write of ours go through for a minute. While a write waits, the
//! guard looks every tenth of the timeout at how many bytes the socket
//! still holds unacknowledged (`SIOCOUTQ`); what went is what the client
//! took. Where the socket cannot tell, the bytes of our writes that went
//! through count instead.

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

/// What a client must keep up with while its answer waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadPace {
    /// Most time it may take nothing (and most credit it may hold).
    pub stall: Duration,
    /// Bytes a second it must take, on average.
    pub min_rate: u64,
}

/// `inner` with its writes watched (see the module's documentation).
pub struct StallGuard<S> {
    inner: S,
    pace: ReadPace,
    /// Time left before a waiting write fails.
    credit: Duration,
    /// While a write waits.
    waiting: Option<Waiting>,
    /// Counts the connections dropped for it.
    stalled: IntCounter,
}

struct Waiting {
    /// When the credit was last brought up to date.
    counted: Instant,
    /// What the socket held unacknowledged then.
    unsent: Option<u64>,
    /// When to look at the socket next.
    look: Pin<Box<Sleep>>,
}

impl<S: Unsent> StallGuard<S> {
    pub fn new(inner: S, pace: ReadPace, stalled: IntCounter) -> StallGuard<S> {
        StallGuard {
            inner,
            pace,
            credit: pace.stall,
            waiting: None,
            stalled,
        }
    }

    /// Brings the credit up to date: the time waited since it last was,
    /// less what the client took meanwhile (`accepted` bytes of ours just
    /// went into the socket).
    fn count(&mut self, now: Instant, accepted: u64) {
        let Some(waiting) = self.waiting.as_mut() else {
            return;
        };
        let unsent = self.inner.unsent();
        let taken = match (waiting.unsent, unsent) {
            (Some(before), Some(after)) => (before + accepted).saturating_sub(after),
            _ => accepted,
        };
        let bought = Duration::from_secs_f64(taken as f64 / self.pace.min_rate.max(1) as f64);
        let waited = now.duration_since(waiting.counted);
        // The wait first, then what was taken in it: a client that takes a
        // large burst now and then keeps what the burst bought, up to the
        // stall timeout, for the wait to come.
        self.credit = (self.credit.saturating_sub(waited) + bought).min(self.pace.stall);
        waiting.counted = now;
        waiting.unsent = unsent;
    }

    /// What a write came to (`accepted`: the bytes it put in the socket):
    /// done (the wait, if any, is over), or waiting (the credit runs down;
    /// at zero the write fails).
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        write: Poll<io::Result<T>>,
        accepted: impl Fn(&T) -> u64,
    ) -> Poll<io::Result<T>> {
        if let Poll::Ready(result) = &write {
            let accepted = result.as_ref().map_or(0, accepted);
            self.count(Instant::now(), accepted);
            self.waiting = None;
            return write;
        }
        let every = self.pace.stall / 10;
        if self.waiting.is_none() {
            self.waiting = Some(Waiting {
                counted: Instant::now(),
                unsent: self.inner.unsent(),
                look: Box::pin(tokio::time::sleep(every.min(self.credit))),
            });
        }
        loop {
            let waiting = self.waiting.as_mut().expect("set above");
            if waiting.look.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let now = Instant::now();
            self.count(now, 0);
            if self.credit.is_zero() {
                self.waiting = None;
                self.stalled.inc();
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the client took its answer slower than {} bytes a second",
                        self.pace.min_rate
                    ),
                )));
            }
            let next = now + every.min(self.credit);
            let waiting = self.waiting.as_mut().expect("set above");
            waiting.look.as_mut().reset(next);
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

impl<S: AsyncWrite + Unsent + Unpin> AsyncWrite for StallGuard<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let write = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, write, |&n| n as u64)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let write = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch(cx, write, |&n| n as u64)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let flush = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(cx, flush, |_| 0)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    /// A pipe knows nothing of its other end: our writes that went through
    /// count.
    impl Unsent for DuplexStream {
        fn unsent(&self) -> Option<u64> {
            None
        }
    }

    const PACE: ReadPace = ReadPace {
        stall: Duration::from_secs(30),
        min_rate: 4096,
    };

    /// Writes `total` bytes through a guarded pipe of 64 bytes whose other
    /// end takes `chunk` bytes every `every` (never, for `None`); what the
    /// write came to, when, and the stalled count.
    async fn write_to(
        total: usize,
        reader: Option<(usize, Duration)>,
    ) -> (io::Result<()>, Duration, u64) {
        let (near, mut far) = tokio::io::duplex(64);
        let stalled = IntCounter::new("stalled", "test").unwrap();
        let mut guarded = StallGuard::new(near, PACE, stalled.clone());
        let reading = tokio::spawn(async move {
            let Some((chunk, every)) = reader else {
                return std::future::pending().await;
            };
            let mut buf = vec![0u8; chunk];
            loop {
                tokio::time::sleep(every).await;
                if far.read_exact(&mut buf).await.is_err() {
                    return;
                }
            }
        });
        let started = Instant::now();
        let bytes = vec![7u8; total];
        let write = guarded.write_all(&bytes);
        let result = tokio::time::timeout(Duration::from_secs(3600), write)
            .await
            .expect("the write still waits after an hour");
        reading.abort();
        (result, started.elapsed(), stalled.get())
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_nobody_reads_fails_after_the_stall_timeout() {
        let (result, took, stalled) = write_to(1024, None).await;
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::TimedOut);
        assert_eq!(took, PACE.stall);
        assert_eq!(stalled, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_reader_at_the_rate_is_kept_however_long_it_takes() {
        // 64 bytes every 15 ms: 4,267 bytes a second, for about 4 minutes.
        let (result, took, stalled) =
            write_to(1 << 20, Some((64, Duration::from_millis(15)))).await;
        result.unwrap();
        assert!(took > Duration::from_secs(200), "{took:?}");
        assert_eq!(stalled, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_reader_taking_bursts_above_the_rate_is_kept() {
        // 256 KiB every 29 s in a pipe of 256 KiB: 9 KB/s on average,
        // nothing at all for 29 s at a time.
        let (near, mut far) = tokio::io::duplex(256 * 1024);
        let stalled = IntCounter::new("stalled", "test").unwrap();
        let mut guarded = StallGuard::new(near, PACE, stalled.clone());
        let reading = tokio::spawn(async move {
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                tokio::time::sleep(Duration::from_secs(29)).await;
                if far.read_exact(&mut buf).await.is_err() {
                    return;
                }
            }
        });
        let bytes = vec![7u8; 6 * 256 * 1024];
        let write = guarded.write_all(&bytes);
        tokio::time::timeout(Duration::from_secs(3600), write)
            .await
            .expect("the write still waits after an hour")
            .unwrap();
        reading.abort();
        assert_eq!(stalled.get(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_reader_that_drips_is_dropped() {
        // 64 bytes a second: each under the stall timeout, all of them far
        // below the rate. The credit of 30 s buys back 1/64 of itself.
        let (result, took, stalled) = write_to(1 << 20, Some((64, Duration::from_secs(1)))).await;
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::TimedOut);
        assert!(
            took > PACE.stall && took < PACE.stall * 11 / 10,
            "dropped after {took:?}"
        );
        assert_eq!(stalled, 1);
    }
}
