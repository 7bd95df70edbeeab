//! The front door: accepts connections on the listener it is given and
//! bounds what whoever reaches the port can make the node hold.
//!
//! - Connections: at most `max_connections` at once, and `max_per_address`
//!   from one source address; a connection over either cap is closed at
//!   once (counted in `/metrics`), so a crowd from one address cannot crowd
//!   out the others.
//! - Time: a request head must arrive within `head_timeout`, which is also
//!   how long an idle keep-alive connection may wait for its next request;
//!   a body must arrive within `body_timeout` (see `body`).
//! - Memory: request heads are read into a bounded buffer; bodies are
//!   budgeted in `body`.
//!
//! On shutdown it stops accepting, asks every connection to finish its
//! request in flight, and waits for them (a little while at most).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tower::ServiceExt;

use super::super::metrics::Metrics;

/// What the front door allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    pub max_connections: usize,
    pub max_per_address: usize,
    /// For a request head, and for an idle keep-alive connection.
    pub head_timeout: Duration,
    /// For a request body, from its head on.
    pub body_timeout: Duration,
    /// Bytes of request bodies held at once, all clients together.
    pub body_budget: usize,
    /// The same, for one source address.
    pub body_budget_per_address: usize,
}

impl Default for HttpLimits {
    fn default() -> HttpLimits {
        HttpLimits {
            max_connections: 512,
            max_per_address: 64,
            head_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            body_budget: 64 * 1024 * 1024,
            body_budget_per_address: 8 * 1024 * 1024,
        }
    }
}

/// Who sent a request: its source address (for per-address budgets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// Open connections, in all and by source address.
#[derive(Default)]
struct Open {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

struct Doorkeeper {
    limits: HttpLimits,
    open: Mutex<Open>,
    /// Told each time a connection closes (for shutdown).
    closed: Notify,
}

/// A place in the connection count, given back on drop.
struct Admitted {
    keeper: Arc<Doorkeeper>,
    address: IpAddr,
}

impl Doorkeeper {
    fn admit(self: &Arc<Self>, address: IpAddr) -> Option<Admitted> {
        let mut open = lock(&self.open);
        let from_here = open.by_address.get(&address).copied().unwrap_or(0);
        if open.total >= self.limits.max_connections || from_here >= self.limits.max_per_address {
            return None;
        }
        open.total += 1;
        open.by_address.insert(address, from_here + 1);
        Some(Admitted {
            keeper: Arc::clone(self),
            address,
        })
    }

    fn total(&self) -> usize {
        lock(&self.open).total
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = lock(&self.keeper.open);
        open.total -= 1;
        if let Some(count) = open.by_address.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.by_address.remove(&self.address);
            }
        }
        drop(open);
        self.keeper.closed.notify_waiters();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Serves `router` on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let keeper = Arc::new(Doorkeeper {
        limits,
        open: Mutex::new(Open::default()),
        closed: Notify::new(),
    });
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors, most likely: wait for some to be
                // given back rather than spin.
                tracing::warn!("cannot accept a connection: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(admitted) = keeper.admit(peer.ip()) else {
            metrics.connections_refused.inc([]);
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(connection(stream, peer, router, limits, shutdown, admitted));
    }
    // Stop: no new connections; the open ones finish their request in
    // flight (each was told), for a few seconds at most.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while keeper.total() > 0 {
        let closed = keeper.closed.notified();
        if tokio::time::timeout_at(deadline, closed).await.is_err() {
            break;
        }
    }
}

async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: HttpLimits,
    mut shutdown: watch::Receiver<bool>,
    _admitted: Admitted,
) {
    let client = ClientAddr(peer.ip());
    let service = hyper::service::service_fn(move |mut request: Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(client);
        let request = request.map(Body::new);
        let router = router.clone();
        async move {
            let response = match router.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            Ok::<_, Infallible>(response)
        }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.head_timeout)
        .keep_alive(true)
        // Request heads are small; this bounds what a client can make a
        // connection buffer before its head is complete.
        .max_buf_size(64 * 1024)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(client = %peer, "connection ended: {e}");
            }
            return;
        }
        _ = shutdown.wait_for(|stop| *stop) => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
}
