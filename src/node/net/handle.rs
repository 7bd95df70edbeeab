//! `Net`: the node's side of the network behind one handle (btcd's
//! `connmgr` and peer manager): the peers, the address book and what may
//! be dialled, the outgoing client, the dropped peers (remembered in the
//! store through `PeerStore`), and the bookkeeping of syncs. Everything
//! that changes a peer goes through a method here or of `Peers`; the
//! per-peer tasks are started by `tasks` when `start_peer` says so, so
//! this file spawns nothing and imports none of them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{Notify, mpsc, watch};

use crate::clock::unix_seconds;
use crate::consensus::BlockHash;
use crate::store::{PeerAddress, PeerStore};

use super::super::chain::ChainHandle;
use super::super::config::NodeConfig;
use super::super::events::Events;
use super::super::lock;
use super::super::metrics::Metrics;
use super::super::shutdown::Shutdown;
use super::addresses::{AddressBook, DialPolicy};
use super::client::PeerClient;
use super::peers::{FAILURES_BEFORE_DROP, Peers, PeersFull, Relay, normalize_url};
use super::scope::{Scope, ip_of};
use super::trouble::{PeerFault, Trouble};

/// A peer from the address book that failed this often without ever
/// answering gives its place back.
const DISCOVERED_FAILURES_BEFORE_LEAVING: u32 = 3;

/// A peer just added: its URL and the receiving end of its relay queue,
/// for `tasks` to start its sync loop and relay worker.
pub struct NewPeer {
    pub url: String,
    pub queue: mpsc::Receiver<Relay>,
}

/// What a node knows of other nodes when it starts: the saved address
/// book and dropped peers, and which addresses it must not dial.
pub struct Known {
    pub addresses: Vec<PeerAddress>,
    pub bans: Vec<(String, u64, String)>,
    pub policy: DialPolicy,
    pub store: PeerStore,
}

pub struct Net {
    pub(super) config: NodeConfig,
    pub(super) chain: Arc<ChainHandle>,
    pub(super) events: Events,
    pub(super) metrics: Arc<Metrics>,
    pub(super) shutdown: Shutdown,
    pub(super) client: PeerClient,
    /// Read by the API directly; changed only through `Peers` methods.
    pub(in crate::node) peers: Peers,
    book: Mutex<AddressBook>,
    policy: Mutex<DialPolicy>,
    /// Rung when the book learns an address (the connector dials).
    pub(super) learned: Notify,
    /// Peers dropped for a while, kept across restarts: url -> (until, why).
    bans: Mutex<HashMap<String, (SystemTime, PeerFault)>>,
    store: Mutex<Option<PeerStore>>,
    /// Bumped to make every peer's sync loop try now.
    sync_requests: watch::Sender<u64>,
    syncing: AtomicUsize,
    /// Told each time a peer's first sync attempt ends (for startup).
    first_syncs: Notify,
    started: mpsc::UnboundedSender<NewPeer>,
    /// Blocks announced by a peer whose fetch one peer's sync has claimed,
    /// until when (`claim_fetch`).
    fetches: Mutex<HashMap<BlockHash, Instant>>,
}

/// How long a peer that announced a block has to deliver it before
/// another announcer is asked.
const FETCH_CLAIM: Duration = Duration::from_secs(2);
/// Claims remembered at most (expired ones are forgotten first).
const MAX_CLAIMS: usize = 1024;

/// Counts a sync in flight (`Net::syncing`).
pub struct SyncingGuard<'a>(&'a AtomicUsize);

impl Drop for SyncingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Net {
    /// The handle, and the stream of peers to start (for `tasks`).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: NodeConfig,
        chain: Arc<ChainHandle>,
        events: Events,
        metrics: Arc<Metrics>,
        shutdown: Shutdown,
        client: PeerClient,
        known: Known,
    ) -> (Net, mpsc::UnboundedReceiver<NewPeer>) {
        let bans = known
            .bans
            .into_iter()
            .map(|(url, until, reason)| {
                let until = SystemTime::UNIX_EPOCH + Duration::from_secs(until);
                (url, (until, PeerFault::from_stored(&reason)))
            })
            .collect();
        let (started, to_start) = mpsc::unbounded_channel();
        let net = Net {
            config,
            chain,
            events,
            metrics,
            shutdown,
            client,
            peers: Peers::default(),
            book: Mutex::new(AddressBook::load(known.addresses)),
            policy: Mutex::new(known.policy),
            learned: Notify::new(),
            bans: Mutex::new(bans),
            store: Mutex::new(Some(known.store)),
            sync_requests: watch::channel(0).0,
            syncing: AtomicUsize::new(0),
            first_syncs: Notify::new(),
            started,
            fetches: Mutex::new(HashMap::new()),
        };
        (net, to_start)
    }

    pub fn node_id(&self) -> &str {
        self.client.node_id()
    }

    /// Runs `f` on the address book (for its views: the shared list, the
    /// operator's listing, the version).
    pub fn read_book<T>(&self, f: impl FnOnce(&AddressBook) -> T) -> T {
        f(&lock(&self.book))
    }

    // ---------------------------------------------------------------- peers

    /// Adds a peer the operator gave (a normalized URL), remembered in
    /// the address book, and starts it. True if new.
    pub fn add_peer(&self, url: &str) -> Result<bool, PeersFull> {
        let added = self.start_peer(url, false)?;
        // The operator named a peer in this kind of network: nodes heard
        // of there may be dialled too.
        if let Some(ip) = ip_of(url) {
            lock(&self.policy).scopes.add(Scope::of(ip));
        }
        lock(&self.book).add_manual(url, unix_seconds());
        Ok(added)
    }

    /// Adds a peer and starts it, not recorded in the address book: one
    /// the operator gave to a node without discovery, or one from the
    /// book (`automatic`: it takes one of the `max_outbound` places).
    pub fn start_peer(&self, url: &str, automatic: bool) -> Result<bool, PeersFull> {
        let Some(queue) = self.peers.add(url, automatic)? else {
            return Ok(false);
        };
        // Dropped before a restart, and still for a while?
        let ban = lock(&self.bans).get(url).cloned();
        if let Some((until, reason)) = ban
            && let Ok(left) = until.duration_since(SystemTime::now())
        {
            self.peers.ignore(url, left, reason);
        }
        let _ = self.started.send(NewPeer {
            url: url.to_owned(),
            queue,
        });
        tracing::info!(peer = url, "peer added");
        Ok(true)
    }

    /// Removes a peer (the operator's word): its tasks end, and the
    /// address book forgets it. True if it was there.
    pub fn remove_peer(&self, url: &str) -> bool {
        let removed = self.peers.remove(url);
        lock(&self.book).forget(url);
        if removed {
            tracing::info!(peer = url, "peer removed");
        }
        removed
    }

    // ------------------------------------------------------------ addresses

    /// Up to `max` addresses to dial now, not already peers.
    pub(super) fn candidates(&self, max: usize) -> Vec<String> {
        let connected = self.peers.urls();
        lock(&self.book).candidates(&connected, unix_seconds(), max)
    }

    /// Puts the addresses a peer (`source`) listed in the book, those the
    /// dial policy allows. How many were new.
    pub fn heard_addresses(&self, urls: &[String], source: &str, from_loopback: bool) -> usize {
        let admitted: Vec<String> = {
            let policy = lock(&self.policy);
            urls.iter()
                .filter_map(|url| policy.admit(url, from_loopback))
                .collect()
        };
        let now = unix_seconds();
        let new = {
            let mut book = lock(&self.book);
            admitted
                .iter()
                .filter(|url| book.heard(url, source, now))
                .count()
        };
        if new > 0 {
            self.learned.notify_waiters();
        }
        new
    }

    /// A node at `ip` asked us something and said it listens at
    /// `advertised`: the book notes it at that port of `ip`, the host the
    /// request came from, whatever host it named (so nobody can make this
    /// node dial a third host, only the one it is talking from); if it is
    /// a peer we are waiting for, we ask it now.
    pub fn heard_inbound(&self, ip: std::net::IpAddr, advertised: &str) {
        // A peer we already have, named as its operator wrote it (maybe a
        // host name): nothing new is dialled, an old peer is asked sooner.
        if let Ok(named) = normalize_url(advertised)
            && self.peers.retry_now(&named)
        {
            self.request_sync();
        }
        let Ok(mut url) = reqwest::Url::parse(advertised) else {
            return;
        };
        if url.set_ip_host(ip).is_err() {
            return;
        }
        let admitted = lock(&self.policy).admit(url.as_str(), ip.is_loopback());
        let Some(url) = admitted else {
            return;
        };
        let source = format!("inbound {ip}");
        if lock(&self.book).heard(&url, &source, unix_seconds()) {
            self.learned.notify_waiters();
        }
        if self.peers.retry_now(&url) {
            // It is back (a healed network, a restart): sync with it now.
            self.request_sync();
        }
    }

    /// The peer at `url` turned out to be this node: never dial it again.
    pub fn found_myself(&self, url: &str) {
        lock(&self.policy).own.insert(url.to_owned());
        lock(&self.book).forget(url);
        let (automatic, _) = self.peers.standing(url);
        if automatic {
            self.peers.remove(url);
        }
    }

    /// Writes what changed in the address book to the store.
    pub async fn save_addresses(self: &Arc<Self>) {
        let (changed, removed) = lock(&self.book).take_changes();
        if changed.is_empty() && removed.is_empty() {
            return;
        }
        let net = Arc::clone(self);
        let saved = tokio::task::spawn_blocking(move || match lock(&net.store).as_mut() {
            Some(store) => store.save_addresses(&changed, &removed),
            None => Ok(()),
        })
        .await;
        if let Ok(Err(e)) = saved {
            tracing::warn!("cannot save the address book: {e}");
        }
    }

    /// Saves the book one last time and lets go of the store.
    pub async fn close(self: &Arc<Self>) {
        self.save_addresses().await;
        lock(&self.store).take();
    }

    // ---------------------------------------------------------------- blame

    /// Records that a peer answered; says so, and returns true, when it
    /// was not up before.
    pub fn peer_answered(&self, url: &str) -> bool {
        lock(&self.book).succeeded(url, unix_seconds());
        if !self.peers.mark_up(url) {
            return false;
        }
        tracing::info!(peer = url, kind = %self.peers.kind(url), "peer up");
        self.events.peer_changed(url, "up", None);
        true
    }

    /// Records that a peer could not be reached (`unreachable`), answered
    /// nonsense or wasted our time: it is backed off, and dropped for a
    /// while after too many failures in a row. A peer that answered before
    /// and is only unreachable is never dropped (a network cut heals); one
    /// from the address book that never answered gives its place back.
    pub async fn peer_failed(self: &Arc<Self>, url: &str, fault: PeerFault, unreachable: bool) {
        let base = self.config.backoff_base;
        let (went_down, failures) = self.peers.mark_down(url, fault.clone(), base);
        self.metrics.peer_failures.inc();
        lock(&self.book).failed(url, unix_seconds());
        let (automatic, answered_before) = self.peers.standing(url);
        if automatic && !answered_before && failures >= DISCOVERED_FAILURES_BEFORE_LEAVING {
            self.peers.remove(url);
            tracing::debug!(
                peer = url,
                "an address from the book never answered; dialling others"
            );
            return;
        }
        if answered_before && unreachable {
            if went_down {
                self.events.peer_changed(url, "down", Some(&fault));
            }
            return;
        }
        if failures >= FAILURES_BEFORE_DROP {
            let why = PeerFault::new(
                Trouble::FailedTooOften,
                format!("{failures} failures in a row, the last: {fault}"),
            );
            self.drop_peer(url, self.config.drop_period, why).await;
        } else if went_down {
            self.events.peer_changed(url, "down", Some(&fault));
        }
    }

    /// Ignores a peer that broke a rule, for the configured period.
    pub async fn ignore_peer(self: &Arc<Self>, url: &str, fault: PeerFault) {
        self.drop_peer(url, self.config.ignore_period, fault).await;
    }

    /// Asks a peer nothing for `period`, says why, and remembers it across
    /// a restart.
    async fn drop_peer(self: &Arc<Self>, url: &str, period: Duration, fault: PeerFault) {
        self.peers.ignore(url, period, fault.clone());
        self.metrics.peers_dropped.inc();
        let told = PeerFault::new(
            fault.trouble,
            format!("{fault}; not asked for {} s", period.as_secs()),
        );
        self.events.peer_changed(url, "ignored", Some(&told));
        let until = SystemTime::now() + period;
        lock(&self.bans).insert(url.to_owned(), (until, fault.clone()));
        let unix = until
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let net = Arc::clone(self);
        let (url, reason) = (url.to_owned(), fault.to_stored());
        let saved = tokio::task::spawn_blocking(move || match lock(&net.store).as_mut() {
            Some(store) => store.save_ban(&url, unix, &reason),
            None => Ok(()),
        })
        .await;
        if let Ok(Err(e)) = saved {
            tracing::warn!("cannot remember a dropped peer: {e}");
        }
    }

    // ----------------------------------------------------------------- sync

    /// Claims the fetch of an announced block for the caller, unless
    /// another claim holds until the time returned.
    pub(super) fn claim_fetch(&self, hash: BlockHash) -> Result<(), Instant> {
        let now = Instant::now();
        let mut claims = lock(&self.fetches);
        if let Some(until) = claims.get(&hash).filter(|until| **until > now) {
            return Err(*until);
        }
        if claims.len() >= MAX_CLAIMS {
            claims.retain(|_, until| *until > now);
            if claims.len() >= MAX_CLAIMS {
                // Only under a flood of announcements: forget them all.
                claims.clear();
            }
        }
        claims.insert(hash, now + FETCH_CLAIM);
        Ok(())
    }

    /// Asks every peer's sync loop to try now (a block arrived whose
    /// parent we lack).
    pub fn request_sync(&self) {
        self.sync_requests.send_modify(|n| *n += 1);
    }

    pub(super) fn watch_sync_requests(&self) -> watch::Receiver<u64> {
        self.sync_requests.subscribe()
    }

    /// Counts a sync in flight while the guard lives.
    pub(super) fn syncing(&self) -> SyncingGuard<'_> {
        self.syncing.fetch_add(1, Ordering::Relaxed);
        SyncingGuard(&self.syncing)
    }

    pub fn is_syncing(&self) -> bool {
        self.syncing.load(Ordering::Relaxed) > 0
    }

    /// Says a peer's first sync attempt ended (whatever its outcome).
    pub(super) fn first_sync_done(&self) {
        self.first_syncs.notify_waiters();
    }

    /// Waits until every peer was tried once, or `limit` passes: mining
    /// should not start on a chain a peer has beaten, nor wait for a peer
    /// that stalls.
    pub async fn wait_first_syncs(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let told = self.first_syncs.notified();
            if self.peers.all_tried() || tokio::time::timeout_at(deadline, told).await.is_err() {
                return;
            }
        }
    }
}
