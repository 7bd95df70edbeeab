//! The front door: accepts connections on the listener it is given and
//! bounds what whoever reaches the port can make the node hold.
//!
//! - Connections: at most `max_connections` at once, and `max_per_address`
//!   from one source group: a public IPv4 /24 or IPv6 /64 (owning many
//!   addresses of one network buys nothing), or one address of this
//!   machine or of a private network (`SourceGroup`).
//!   When the node is full, a newcomer from a group holding at least two fewer
//!   connections than the largest group (or holding none, when the largest
//!   holds one) takes the place of that group's oldest idle connection
//!   (oldest of all if none is idle), so neither a few sources holding
//!   every place nor as many sources as places, one each, can lock anyone
//!   else out; otherwise it is closed at once. Both are counted in
//!   `/metrics`.
//! - Time: a request head must arrive within `head_timeout`, which is also
//!   how long an idle keep-alive connection may wait for its next request;
//!   a body must arrive within `body_timeout` (see `body`); while an
//!   answer waits for its client, the client must take it at
//!   `min_read_rate` on average, and one that takes nothing is dropped
//!   after `write_stall_timeout` (see `stall`).
//! - Memory: request heads are read into a bounded buffer; bodies are
//!   budgeted in `body`, per source group too.
//!
//! On shutdown it stops accepting, asks every connection to finish its
//! request in flight, and waits for them (a little while at most).

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
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

use super::super::lock;
use super::super::metrics::Metrics;
pub use super::super::net::scope::SourceGroup;
use super::stall::{ReadPace, StallGuard};

/// What the front door allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    pub max_connections: usize,
    /// From one source group (`SourceGroup`).
    pub max_per_address: usize,
    /// For a request head, and for an idle keep-alive connection.
    pub head_timeout: Duration,
    /// For a request body, from its head on.
    pub body_timeout: Duration,
    /// For a client to take any byte of its answer, while one waits.
    pub write_stall_timeout: Duration,
    /// Bytes a second a client must take of its answer, on average, while
    /// one waits.
    pub min_read_rate: u64,
    /// Bytes of request bodies held at once, all clients together.
    pub body_budget: usize,
    /// The same, for one source address.
    pub body_budget_per_address: usize,
    /// Bytes of large answers being sent at once, all clients together
    /// (`answers`).
    pub answer_budget: usize,
    /// The same, for one source group.
    pub answer_budget_per_address: usize,
}

impl Default for HttpLimits {
    fn default() -> HttpLimits {
        HttpLimits {
            max_connections: 512,
            // Each peer holds one long-lived stream of our announcements
            // besides its requests, and a network on one machine comes from
            // one loopback address: 30 nodes there need more than 64.
            max_per_address: 128,
            head_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            write_stall_timeout: Duration::from_secs(30),
            // 4 KiB/s: a slow mobile link is faster; the largest answer
            // (17 MiB) is then held 70 minutes at most.
            min_read_rate: 4096,
            body_budget: 64 * 1024 * 1024,
            body_budget_per_address: 8 * 1024 * 1024,
            // Three full answers of many blocks (`REPLY_BYTE_BUDGET` and
            // a block) to one group, fifteen in all.
            answer_budget: 256 * 1024 * 1024,
            answer_budget_per_address: 64 * 1024 * 1024,
        }
    }
}

/// Who sent a request: its source address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    pub fn group(self) -> SourceGroup {
        SourceGroup::of(self.0)
    }
}

/// One open connection, as the doorkeeper sees it.
struct Connection {
    group: SourceGroup,
    /// True while a request is being answered.
    busy: Arc<AtomicBool>,
    /// Told when the connection must make room for a newcomer.
    evict: Arc<Notify>,
}

/// Open connections: each by the order it was admitted in (so the first
/// key is the oldest), and their count by source group.
#[derive(Default)]
struct Open {
    connections: BTreeMap<u64, Connection>,
    by_group: HashMap<SourceGroup, usize>,
    next: u64,
}

impl Open {
    /// Admits a connection under the next id, which it returns.
    fn insert(&mut self, connection: Connection) -> u64 {
        let id = self.next;
        self.next += 1;
        *self.by_group.entry(connection.group).or_default() += 1;
        self.connections.insert(id, connection);
        id
    }

    fn remove(&mut self, id: u64) -> Option<Connection> {
        let connection = self.connections.remove(&id)?;
        if let Some(count) = self.by_group.get_mut(&connection.group) {
            *count -= 1;
            if *count == 0 {
                self.by_group.remove(&connection.group);
            }
        }
        Some(connection)
    }

    /// The connection to close for a newcomer from a group holding
    /// `newcomer` connections: the oldest idle one (else the oldest) of the
    /// largest groups, if they hold at least two more; or, for a newcomer
    /// whose group holds none, if they hold any (else strangers from as
    /// many addresses as there are places, one each, would shut everyone
    /// else out, peers included).
    fn victim(&self, newcomer: usize) -> Option<u64> {
        let most = self.by_group.values().copied().max()?;
        if most < newcomer + 2 && !(newcomer == 0 && most > 0) {
            return None;
        }
        let of_largest = || {
            self.connections
                .iter()
                .filter(|(_, c)| self.by_group.get(&c.group) == Some(&most))
        };
        of_largest()
            .find(|(_, c)| !c.busy.load(Ordering::Relaxed))
            .or_else(|| of_largest().next())
            .map(|(id, _)| *id)
    }
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
    id: u64,
    busy: Arc<AtomicBool>,
    evict: Arc<Notify>,
}

/// What the doorkeeper did with a connection.
enum Admission {
    Admitted(Admitted),
    /// Admitted in the place of another connection, now told to close.
    AdmittedEvicting(Admitted),
    Refused,
}

impl Doorkeeper {
    fn admit(self: &Arc<Self>, address: IpAddr) -> Admission {
        let group = SourceGroup::of(address);
        let mut open = lock(&self.open);
        let from_here = open.by_group.get(&group).copied().unwrap_or(0);
        if from_here >= self.limits.max_per_address {
            return Admission::Refused;
        }
        let mut evicted = false;
        if open.connections.len() >= self.limits.max_connections {
            let Some(victim) = open.victim(from_here) else {
                return Admission::Refused;
            };
            if let Some(connection) = open.remove(victim) {
                connection.evict.notify_one();
            }
            evicted = true;
        }
        let (busy, evict) = (Arc::new(AtomicBool::new(false)), Arc::new(Notify::new()));
        let id = open.insert(Connection {
            group,
            busy: Arc::clone(&busy),
            evict: Arc::clone(&evict),
        });
        let admitted = Admitted {
            keeper: Arc::clone(self),
            id,
            busy,
            evict,
        };
        match evicted {
            true => Admission::AdmittedEvicting(admitted),
            false => Admission::Admitted(admitted),
        }
    }

    fn total(&self) -> usize {
        lock(&self.open).connections.len()
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        // Already gone from the count if it was evicted.
        lock(&self.keeper.open).remove(self.id);
        self.keeper.closed.notify_waiters();
    }
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
        let admitted = match keeper.admit(peer.ip()) {
            Admission::Admitted(admitted) => admitted,
            Admission::AdmittedEvicting(admitted) => {
                metrics.connections_evicted.inc();
                admitted
            }
            Admission::Refused => {
                metrics.connections_refused.inc();
                drop(stream);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let shutdown = shutdown.clone();
        let pace = ReadPace {
            stall: limits.write_stall_timeout,
            min_rate: limits.min_read_rate,
        };
        let stream = StallGuard::new(stream, pace, metrics.connections_stalled.clone());
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
    stream: StallGuard<tokio::net::TcpStream>,
    peer: SocketAddr,
    router: Router,
    limits: HttpLimits,
    mut shutdown: watch::Receiver<bool>,
    admitted: Admitted,
) {
    let client = ClientAddr(peer.ip());
    let busy = Arc::clone(&admitted.busy);
    let service = hyper::service::service_fn(move |mut request: Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(client);
        let request = request.map(Body::new);
        let router = router.clone();
        let busy = Arc::clone(&busy);
        async move {
            busy.store(true, Ordering::Relaxed);
            let Ok(response) = router.oneshot(request).await;
            busy.store(false, Ordering::Relaxed);
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
    let evict = Arc::clone(&admitted.evict);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(client = %peer, "connection ended: {e}");
            }
            return;
        }
        // Its place went to a newcomer from a smaller group: close now.
        _ = evict.notified() => {
            tracing::debug!(client = %peer, "connection closed to make room");
            return;
        }
        _ = shutdown.wait_for(|stop| *stop) => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(ip: &str) -> SourceGroup {
        SourceGroup::of(ip.parse().unwrap())
    }

    #[test]
    fn public_sources_count_by_network_and_private_ones_by_address() {
        assert_ne!(group("10.213.0.5"), group("10.213.0.6"));
        assert_ne!(group("192.168.1.5"), group("192.168.1.6"));
        assert_ne!(group("fe80::1"), group("fe80::2"));
        assert_eq!(group("10.213.0.5").to_string(), "10.213.0.5");
        // Carrier-grade NAT hides many customers: a network, as public.
        assert_eq!(group("100.64.0.1"), group("100.64.0.2"));
        assert_eq!(group("203.0.113.7"), group("203.0.113.200"));
        assert_ne!(group("203.0.113.7"), group("203.0.114.7"));
        assert_eq!(group("2001:db8::1"), group("2001:db8::ffff:1"));
        assert_ne!(group("2001:db8::1"), group("2001:db8:0:1::1"));
        assert_eq!(group("::ffff:203.0.113.9"), group("203.0.113.1"));
        assert_ne!(group("127.0.0.1"), group("127.0.0.2"));
        assert_eq!(group("203.0.113.7").to_string(), "203.0.113.0/24");
    }

    #[test]
    fn a_newcomer_takes_the_oldest_idle_place_of_the_largest_group() {
        let mut open = Open::default();
        let add = |open: &mut Open, ip: &str, busy: bool| {
            open.insert(Connection {
                group: group(ip),
                busy: Arc::new(AtomicBool::new(busy)),
                evict: Arc::new(Notify::new()),
            })
        };
        let _busy = add(&mut open, "198.51.100.1", true);
        let idle = add(&mut open, "198.51.100.2", false);
        add(&mut open, "198.51.100.3", false);
        let other = add(&mut open, "198.51.109.1", false);
        // The largest group holds 3: a newcomer holding none takes the
        // oldest idle of them.
        assert_eq!(open.victim(0), Some(idle));
        // A newcomer already holding 2 is not worth a place of the 3.
        assert_eq!(open.victim(2), None);
        open.remove(idle);
        assert_eq!(open.by_group[&group("198.51.100.1")], 2);
        assert_ne!(open.victim(0), Some(other));
    }

    #[test]
    fn a_newcomer_from_a_new_group_gets_in_when_every_group_holds_one() {
        let mut open = Open::default();
        let mut add = |ip: &str, busy: bool| {
            open.insert(Connection {
                group: group(ip),
                busy: Arc::new(AtomicBool::new(busy)),
                evict: Arc::new(Notify::new()),
            })
        };
        let _busy = add("198.51.100.1", true);
        let idle = add("198.51.101.1", false);
        add("198.51.102.1", false);
        // A group holding none takes the oldest idle place of all ...
        assert_eq!(open.victim(0), Some(idle));
        // ... one holding one already waits for a place.
        assert_eq!(open.victim(1), None);
    }
}
