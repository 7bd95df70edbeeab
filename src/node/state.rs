//! `Shared`: the running node's state, behind methods, as mini-redis keeps
//! its `Db`. It holds the chain (one writer, behind a mutex, used only from
//! blocking threads), a pool of read-only store connections, the current
//! tip (a watch channel, so the miner and the live feed learn of changes at
//! once), the peers, the miner's status, events, metrics and the shutdown
//! flag. Its fields are private: other modules act on the node through the
//! methods here (`submit`, `add_peer`, `set_mining`, `ignore_peer`, ...) and
//! read its parts through accessors.
//!
//! `submit` is the one door through which blocks enter, whatever their
//! source: it stores them, publishes the new tip, logs, counts, and queues
//! new blocks for relay to every peer but the one they came from.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{Notify, watch};

use crate::chain::{Accepted, AddError, BatchOutcome, ChainState, EntriesOutcome, Pace};
use crate::consensus::entry::CheckedEntry;
use crate::consensus::{IntoChecked, Network, Template, ValidationError};
use crate::store::pool::{PoolLimits, PoolStats};
use crate::store::{
    BlockReads, Durability, EntryState, PeerAddress, PeerStore, PoolMoves, StoreError, StoreReader,
    Tip,
};

/// A peer from the address book that failed this often without ever
/// answering gives its place back.
const DISCOVERED_FAILURES_BEFORE_LEAVING: u32 = 3;

use super::chain_json::ChainJson;
use super::events::Events;
use super::http::body::BodyBudget;
use super::http::server::{HttpLimits, SourceGroup};
use super::metrics::Metrics;
use super::mining::{self, MiningStatus};
use super::net::addresses::{AddressBook, DialPolicy};
use super::net::client::{PeerClient, Timeouts};
use super::net::discovery;
use super::net::peers::{FAILURES_BEFORE_DROP, PeerKind, Peers, PeersFull, Relay, normalize_url};
use super::net::relay;
use super::net::scope::Scope;
use super::net::sync;
use super::net::trouble::{PeerFault, Trouble};
use super::operator::Cookie;
use super::protocol::{DifficultyInfo, MiningInfo, NetworkInfo, StatusReply};

/// Where a block came from, for logs, metrics and relay.
#[derive(Clone, Debug)]
pub enum Source {
    /// Mined by this node.
    Miner,
    /// Posted to us; `peer` is the sender's URL when it is one of our
    /// peers, `client` the address it came from (where known).
    Posted {
        peer: Option<String>,
        client: Option<std::net::IpAddr>,
    },
    /// Fetched by sync from this peer.
    Sync { peer: String },
}

impl Source {
    pub fn label(&self) -> &'static str {
        match self {
            Source::Miner => "mined",
            Source::Posted { .. } => "posted",
            Source::Sync { .. } => "synced",
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Source::Miner => "mined here".into(),
            Source::Posted {
                peer: Some(url), ..
            } => format!("relayed by {url}"),
            Source::Posted { peer: None, .. } => "posted over HTTP".into(),
            Source::Sync { peer } => format!("synced from {peer}"),
        }
    }

    /// Whose share of the pool its entries count in: the network a
    /// client posts from (an IPv4 /24, an IPv6 /64, one loopback address),
    /// the peer sync fetched them from, or this node.
    pub fn pool_source(&self) -> String {
        match self {
            Source::Posted {
                client: Some(ip), ..
            } => SourceGroup::of(*ip).to_string(),
            Source::Posted {
                peer: Some(url), ..
            }
            | Source::Sync { peer: url } => match super::ip_of(url) {
                Some(ip) => SourceGroup::of(ip).to_string(),
                None => format!("peer {url}"),
            },
            Source::Posted { .. } | Source::Miner => "local".into(),
        }
    }

    fn peer(&self) -> Option<&str> {
        match self {
            Source::Posted { peer, .. } => peer.as_deref(),
            Source::Sync { peer } => Some(peer),
            Source::Miner => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("the node is shutting down")]
    ShuttingDown,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a storage task failed: {0}")]
    Task(String),
}

/// Settings of a running node (what `jbc node` flags resolve to).
#[derive(Clone)]
pub struct NodeConfig {
    pub data_dir: PathBuf,
    pub params: Network,
    pub peers: Vec<String>,
    pub mine: bool,
    pub threads: usize,
    /// Text for mined blocks; `None`: data.txt in the data dir, else a
    /// line naming the node.
    pub mining_data: Option<String>,
    pub sync_interval: Duration,
    pub timeouts: Timeouts,
    /// How long a peer that sent an invalid block is ignored.
    pub ignore_period: Duration,
    /// Told (blocks done, blocks to go in all) while a sync fetches many
    /// blocks, so a terminal can draw a progress bar.
    pub sync_progress: Option<SyncProgress>,
    /// How big the pool of pending entries may grow.
    pub pool_limits: PoolLimits,
    /// What the HTTP front door allows (connections, time, body bytes).
    pub http: HttpLimits,
    /// How long a peer that failed too often in a row is dropped.
    pub drop_period: Duration,
    /// The first wait after a peer fails; each failure doubles it.
    pub backoff_base: Duration,
    /// How long mining waits at startup for the first sync with each peer.
    pub startup_sync_wait: Duration,
    /// Told, once the node listens, the operator's token (for the link a
    /// terminal shows; never logged).
    pub on_start: Option<OnStart>,
    /// The open-file limits (soft before raising, soft, hard), to log.
    pub open_files: Option<(u64, u64, u64)>,
    /// Where other nodes reach this one (`None`: from the address it
    /// listens on; a node listening on every address is then known by the
    /// IP others see it at).
    pub advertise: Option<String>,
    /// Find peers through other peers, and keep up to `max_outbound` of
    /// them besides the ones the operator gave.
    pub discover: bool,
    pub max_outbound: usize,
    /// Ports this node dials for an address it was told of.
    pub dial_ports: (u16, u16),
    /// Host names answered besides IP addresses, localhost and the
    /// advertised host, by a node listening on loopback (`--allow-host`).
    pub allow_hosts: Vec<String>,
    /// Milliseconds added to the system clock (`--clock-offset`): the
    /// clock the miner stamps blocks with and blocks from the future are
    /// judged by.
    pub clock_offset_ms: i64,
}

/// Told the operator's token once the node listens.
pub type OnStart = Arc<dyn Fn(&str) + Send + Sync>;

/// A callback for long syncs: (blocks stored so far, total expected).
pub type SyncProgress = Arc<dyn Fn(u64, u64) + Send + Sync>;

impl NodeConfig {
    pub fn new(data_dir: PathBuf, params: Network) -> NodeConfig {
        NodeConfig {
            data_dir,
            params,
            peers: Vec::new(),
            mine: false,
            threads: crate::miner::default_threads(),
            mining_data: None,
            sync_interval: Duration::from_secs(3),
            timeouts: Default::default(),
            ignore_period: Duration::from_secs(60),
            sync_progress: None,
            pool_limits: PoolLimits::default(),
            http: HttpLimits::default(),
            drop_period: Duration::from_secs(600),
            backoff_base: Duration::from_secs(1),
            startup_sync_wait: Duration::from_secs(2),
            on_start: None,
            open_files: None,
            advertise: None,
            discover: true,
            max_outbound: 16,
            dial_ports: (1024, 65535),
            allow_hosts: Vec::new(),
            clock_offset_ms: 0,
        }
    }
}

pub struct Shared {
    config: NodeConfig,
    node_id: String,
    started: Instant,
    chain: Mutex<Option<ChainState>>,
    store_path: PathBuf,
    readers: Mutex<Vec<StoreReader>>,
    tip: watch::Sender<Tip>,
    /// The next block's target and the recent block times, updated with
    /// the tip.
    pace: Mutex<Option<Pace>>,
    /// What the pool holds; the miner watches it for new entries.
    pool: watch::Sender<PoolStats>,
    events: Events,
    peers: Peers,
    client: PeerClient,
    mining: MiningStatus,
    metrics: Arc<Metrics>,
    chain_json: ChainJson,
    body_budget: BodyBudget,
    /// The operator's credential.
    cookie: Cookie,
    /// Peers dropped for a while, kept across restarts: url -> (until, why).
    bans: Mutex<HashMap<String, (SystemTime, PeerFault)>>,
    /// Bumped to make every peer's sync loop try now (a block arrived
    /// whose parent we lack).
    sync_requests: watch::Sender<u64>,
    /// Where the address book and dropped peers are kept.
    peer_store: Mutex<Option<PeerStore>>,
    /// Every node address heard of or reached (`net::addresses`), what
    /// may be dialled, and a bell rung when the book learns an address.
    addresses: Mutex<AddressBook>,
    dial_policy: Mutex<DialPolicy>,
    addresses_learned: Notify,
    /// Syncs in flight.
    syncing: AtomicUsize,
    /// The most blocks one reorg took off the main chain since start.
    deepest_reorg: AtomicU64,
    /// Told each time a peer's first sync attempt ends (for startup).
    first_syncs: Notify,
    shutdown: watch::Sender<bool>,
}

/// Counts a sync in flight (`Shared::syncing`).
pub struct SyncingGuard<'a>(&'a AtomicUsize);

impl Drop for SyncingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Read connections kept for reuse.
const READER_POOL: usize = 4;

/// What a node knows of other nodes when it starts: the saved address
/// book, and which addresses it must not dial.
pub struct Known {
    pub addresses: Vec<PeerAddress>,
    pub policy: DialPolicy,
    pub store: PeerStore,
}

impl Shared {
    pub fn new(
        config: NodeConfig,
        chain: ChainState,
        client: PeerClient,
        cookie: Cookie,
        bans: Vec<(String, u64, String)>,
        known: Known,
    ) -> Shared {
        let tip = chain.tip();
        let pool = chain.store().pool();
        let pace = chain.pace().ok();
        warn_if_out_of_reach(pace.as_ref());
        let bans = bans
            .into_iter()
            .map(|(url, until, reason)| {
                let until = SystemTime::UNIX_EPOCH + Duration::from_secs(until);
                (url, (until, PeerFault::from_stored(&reason)))
            })
            .collect();
        Shared {
            mining: MiningStatus::new(config.threads),
            store_path: chain.store().path().to_owned(),
            node_id: client.node_id().to_owned(),
            client,
            config,
            started: Instant::now(),
            chain: Mutex::new(Some(chain)),
            readers: Mutex::new(Vec::new()),
            tip: watch::channel(tip).0,
            pace: Mutex::new(pace),
            pool: watch::channel(pool).0,
            events: Events::default(),
            peers: Peers::default(),
            metrics: Arc::new(Metrics::default()),
            chain_json: ChainJson::default(),
            body_budget: BodyBudget::default(),
            cookie,
            bans: Mutex::new(bans),
            addresses: Mutex::new(AddressBook::load(known.addresses)),
            peer_store: Mutex::new(Some(known.store)),
            dial_policy: Mutex::new(known.policy),
            addresses_learned: Notify::new(),
            sync_requests: watch::channel(0).0,
            syncing: AtomicUsize::new(0),
            deepest_reorg: AtomicU64::new(0),
            first_syncs: Notify::new(),
            shutdown: watch::channel(false).0,
        }
    }

    // ---------------------------------------------------------------- parts

    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    pub fn params(&self) -> &Network {
        &self.config.params
    }

    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    pub fn events(&self) -> &Events {
        &self.events
    }

    pub fn peers(&self) -> &Peers {
        &self.peers
    }

    pub fn client(&self) -> &PeerClient {
        &self.client
    }

    pub fn mining(&self) -> &MiningStatus {
        &self.mining
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The metrics, to share with the HTTP front door.
    pub fn metrics_handle(&self) -> Arc<Metrics> {
        Arc::clone(&self.metrics)
    }

    pub fn body_budget(&self) -> &BodyBudget {
        &self.body_budget
    }

    /// True when `token` is the operator's.
    pub fn is_operator(&self, token: &str) -> bool {
        self.cookie.accepts(token)
    }

    /// The operator's token (for the link `jbc node` prints).
    pub fn operator_token(&self) -> &str {
        self.cookie.token()
    }

    pub fn chain_json(&self) -> &ChainJson {
        &self.chain_json
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// The most blocks one reorg took off the main chain since start.
    pub fn deepest_reorg(&self) -> u64 {
        self.deepest_reorg.load(Ordering::Relaxed)
    }

    pub fn tip(&self) -> Tip {
        *self.tip.borrow()
    }

    pub fn watch_tip(&self) -> watch::Receiver<Tip> {
        self.tip.subscribe()
    }

    pub fn pool(&self) -> PoolStats {
        *self.pool.borrow()
    }

    pub fn watch_pool(&self) -> watch::Receiver<PoolStats> {
        self.pool.subscribe()
    }

    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    pub fn watch_shutdown(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Stops the node (as Ctrl-C does).
    pub fn request_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    // ----------------------------------------------------------------- sync

    /// Asks every peer's sync loop to try now (a block arrived whose
    /// parent we lack).
    pub fn request_sync(&self) {
        self.sync_requests.send_modify(|n| *n += 1);
    }

    pub fn watch_sync_requests(&self) -> watch::Receiver<u64> {
        self.sync_requests.subscribe()
    }

    /// Counts a sync in flight while the guard lives.
    pub fn syncing(&self) -> SyncingGuard<'_> {
        self.syncing.fetch_add(1, Ordering::Relaxed);
        SyncingGuard(&self.syncing)
    }

    pub fn is_syncing(&self) -> bool {
        self.syncing.load(Ordering::Relaxed) > 0
    }

    /// Says a peer's first sync attempt ended (whatever its outcome).
    pub fn first_sync_done(&self) {
        self.first_syncs.notify_waiters();
    }

    /// Waits until every peer was tried once, or `limit` passes: mining
    /// should not start on a chain a peer has beaten, nor wait for a peer
    /// that stalls.
    pub async fn wait_first_syncs(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let told = self.first_syncs.notified();
            if self.peers.all_tried() {
                return;
            }
            if tokio::time::timeout_at(deadline, told).await.is_err() {
                return;
            }
        }
    }

    // ---------------------------------------------------------------- peers

    /// Adds a peer the operator gave (a normalized URL), remembered in
    /// the address book, and starts its relay task and its sync loop
    /// (which tries it at once). True if new.
    pub fn add_peer(self: &Arc<Self>, url: &str) -> Result<bool, PeersFull> {
        let added = self.start_peer(url, false)?;
        // The operator named a peer in this kind of network: nodes heard
        // of there may be dialled too.
        if let Some(ip) = super::ip_of(url) {
            lock(&self.dial_policy).scopes.add(Scope::of(ip));
        }
        self.with_addresses(|book| book.add_manual(url, discovery::unix_now()));
        Ok(added)
    }

    /// Adds a peer the operator gave without recording it in the address
    /// book (a node without discovery).
    pub fn add_peer_for_this_run(self: &Arc<Self>, url: &str) -> Result<bool, PeersFull> {
        self.start_peer(url, false)
    }

    /// Adds a peer from the address book (it takes one of the
    /// `max_outbound` places).
    pub fn add_discovered_peer(self: &Arc<Self>, url: &str) -> Result<bool, PeersFull> {
        self.start_peer(url, true)
    }

    fn start_peer(self: &Arc<Self>, url: &str, automatic: bool) -> Result<bool, PeersFull> {
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
        relay::spawn_worker(Arc::clone(self), url.to_owned(), queue);
        sync::spawn_peer(Arc::clone(self), url.to_owned());
        tracing::info!(peer = url, "peer added");
        Ok(true)
    }

    /// Removes a peer (the operator's word): its tasks end, and the
    /// address book forgets it. True if it was there.
    pub fn remove_peer(&self, url: &str) -> bool {
        let removed = self.peers.remove(url);
        self.with_addresses(|book| book.forget(url));
        if removed {
            tracing::info!(peer = url, "peer removed");
        }
        removed
    }

    // ------------------------------------------------------------ addresses

    pub fn with_addresses<T>(&self, f: impl FnOnce(&mut AddressBook) -> T) -> T {
        f(&mut lock(&self.addresses))
    }

    /// Resolves when the address book learns an address.
    pub async fn addresses_changed(&self) {
        self.addresses_learned.notified().await
    }

    /// Puts the addresses a peer (`source`) listed in the book, those the
    /// dial policy allows. How many were new.
    pub fn heard_addresses(&self, urls: &[String], source: &str, from_loopback: bool) -> usize {
        let admitted: Vec<String> = {
            let policy = lock(&self.dial_policy);
            urls.iter()
                .filter_map(|url| policy.admit(url, from_loopback))
                .collect()
        };
        let now = discovery::unix_now();
        let new = self.with_addresses(|book| {
            admitted
                .iter()
                .filter(|url| book.heard(url, source, now))
                .count()
        });
        if new > 0 {
            self.addresses_learned.notify_waiters();
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
        let admitted = lock(&self.dial_policy).admit(url.as_str(), ip.is_loopback());
        let Some(url) = admitted else {
            return;
        };
        let source = format!("inbound {ip}");
        let new = self.with_addresses(|book| book.heard(&url, &source, discovery::unix_now()));
        if new {
            self.addresses_learned.notify_waiters();
        }
        if self.peers.retry_now(&url) {
            // It is back (a healed network, a restart): sync with it now.
            self.request_sync();
        }
    }

    /// The peer at `url` turned out to be this node: never dial it again.
    pub fn found_myself(&self, url: &str) {
        lock(&self.dial_policy).own.insert(url.to_owned());
        self.with_addresses(|book| book.forget(url));
        if self.peers.with(url, |p| p.automatic) == Some(true) {
            self.peers.remove(url);
        }
    }

    /// Writes what changed in the address book to the store.
    pub async fn save_addresses(self: &Arc<Self>) {
        let (changed, removed) = self.with_addresses(AddressBook::take_changes);
        if changed.is_empty() && removed.is_empty() {
            return;
        }
        let shared = Arc::clone(self);
        let saved = tokio::task::spawn_blocking(move || match lock(&shared.peer_store).as_mut() {
            Some(store) => store.save_addresses(&changed, &removed),
            None => Ok(()),
        })
        .await;
        if let Ok(Err(e)) = saved {
            tracing::warn!("cannot save the address book: {e}");
        }
    }

    /// Records that a peer answered; says so, and returns true, when it
    /// was not up before.
    pub fn peer_answered(&self, url: &str) -> bool {
        self.with_addresses(|book| book.succeeded(url, discovery::unix_now()));
        if !self.peers.mark_up(url) {
            return false;
        }
        let kind = match self.peers.with(url, |p| p.kind) {
            Some(PeerKind::Original) => "an original node",
            _ => "a jbc node",
        };
        tracing::info!(peer = url, kind, "peer up");
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
        self.metrics.peer_failures.inc([]);
        self.with_addresses(|book| book.failed(url, discovery::unix_now()));
        let (automatic, answered_before) = self
            .peers
            .with(url, |p| (p.automatic, p.answered_before()))
            .unwrap_or((false, false));
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
        self.metrics.peers_dropped.inc([]);
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
        let shared = Arc::clone(self);
        let (url, reason) = (url.to_owned(), fault.to_stored());
        let saved = tokio::task::spawn_blocking(move || match lock(&shared.peer_store).as_mut() {
            Some(store) => store.save_ban(&url, unix, &reason),
            None => Ok(()),
        })
        .await;
        if let Ok(Err(e)) = saved {
            tracing::warn!("cannot remember a dropped peer: {e}");
        }
    }

    // --------------------------------------------------------------- mining

    /// Switches mining on or off, starting the miner thread on first use.
    pub fn set_mining(self: &Arc<Self>, on: bool) {
        if on {
            mining::ensure_started(self);
        }
        if self.mining.set_enabled(on) {
            self.events.mining(on);
        }
    }

    /// Switches mining off and waits (up to 5 s) until the miner has
    /// stopped and stored any block it found meanwhile: after this, no more
    /// blocks.
    pub async fn stop_mining(self: &Arc<Self>) {
        self.set_mining(false);
        self.mining.wait_idle(Duration::from_secs(5)).await;
    }

    // --------------------------------------------------------------- status

    /// The `/v1/status` answer (also the explorer's first paint).
    pub fn status(&self) -> StatusReply {
        let params = self.params();
        let hashes_per_thread = self.mining.per_thread();
        StatusReply {
            software: format!("jbc {}", env!("CARGO_PKG_VERSION")),
            node_id: self.node_id.clone(),
            network: NetworkInfo {
                genesis_hash: params.genesis_hash(),
                difficulty: params.difficulty().zeros(),
                rule: params.difficulty().to_string(),
                id: Some(params.id()),
                entry_rules: Some(*params.entry_rules()),
                name: params.name().to_owned(),
            },
            tip: self.tip(),
            peers: self.peers.snapshot(false),
            mining: MiningInfo {
                enabled: self.mining.is_enabled(),
                threads: self.mining.threads(),
                hash_rate: self.mining.rate(),
                hash_rate_per_thread: self.mining.rates_per_thread(),
                hashes: hashes_per_thread.iter().sum(),
                hashes_per_thread,
            },
            syncing: self.is_syncing(),
            addresses_version: Some(self.with_addresses(|book| book.version())),
            difficulty: self.difficulty_info(),
            pool: self.pool(),
            uptime_seconds: self.uptime().as_secs(),
        }
    }

    /// True when the tip's child needs more than 2^20 block times of the
    /// network's measured hash rate (`Pace::out_of_reach`).
    pub fn next_block_out_of_reach(&self) -> bool {
        lock(&self.pace).is_some_and(|pace| pace.out_of_reach())
    }

    /// The chain's pace as `/v1/status` tells it.
    pub fn difficulty_info(&self) -> Option<DifficultyInfo> {
        let pace = (*lock(&self.pace))?;
        let retarget = self.params().retarget();
        Some(DifficultyInfo {
            rule: match retarget {
                Some(rule) => rule.version.name().into(),
                None => "fixed".into(),
            },
            target: pace.next_target.to_string(),
            hashes_per_block: pace.next_target.work().as_f64(),
            block_time_ms: retarget.map(|rule| rule.block_time_ms),
            mean_block_time_ms: pace.mean_block_time_ms,
            measured_blocks: pace.measured_blocks,
            network_hashes_per_second: pace.hashes_per_second,
            next_block_expected_ms: pace.next_block_expected_ms(),
            warning: pace.out_of_reach().then(|| out_of_reach_warning(&pace)),
        })
    }

    // ---------------------------------------------------------------- store

    /// What a miner needs to build on the tip.
    pub async fn template(self: &Arc<Self>) -> Result<Template, NodeError> {
        let tip = self.tip();
        let network = self.params().clone();
        self.read(move |r| {
            let (context, _) = r.parent_context(&tip.hash, &network)?.ok_or_else(|| {
                StoreError::Corrupt(format!("the tip {} is not stored", tip.hash))
            })?;
            Ok(network.template(&context))
        })
        .await
    }

    /// Runs `f` with a read-only store connection on a blocking thread.
    pub async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&StoreReader) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, NodeError> {
        let shared = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let reader = match lock(&shared.readers).pop() {
                Some(reader) => reader,
                None => StoreReader::open(&shared.store_path)?,
            };
            let result = f(&reader);
            let mut pool = lock(&shared.readers);
            if pool.len() < READER_POOL {
                pool.push(reader);
            }
            Ok(result?)
        })
        .await
        .map_err(|e| NodeError::Task(e.to_string()))?
    }

    /// Stores blocks (validating each), then tells everyone what changed.
    pub async fn submit<B: IntoChecked + Send + 'static>(
        self: &Arc<Self>,
        blocks: Vec<B>,
        source: Source,
        durability: Durability,
    ) -> Result<BatchOutcome, NodeError> {
        let shared = Arc::clone(self);
        let (outcome, new_block) = tokio::task::spawn_blocking(move || {
            let single = blocks.len() == 1;
            let mut guard = lock(&shared.chain);
            let chain = guard.as_mut().ok_or(NodeError::ShuttingDown)?;
            let outcome = chain.add_blocks(blocks, durability);
            // Publish the tip while still holding the lock: two submits that
            // finish close together must not publish their tips out of order.
            if outcome.tip_moved.is_some() {
                let pace = chain.pace().ok();
                warn_if_out_of_reach(pace.as_ref());
                *lock(&shared.pace) = pace;
                shared.tip.send_replace(chain.tip());
            }
            shared.pool.send_replace(chain.store().pool());
            let new_block = announced_block(chain, &outcome, single)?;
            Ok::<_, NodeError>((outcome, new_block))
        })
        .await
        .map_err(|e| NodeError::Task(e.to_string()))??;
        self.after_submit(&outcome, &source, new_block);
        Ok(outcome)
    }

    /// Puts checked entries in the pool (durably), then relays the new ones
    /// to every peer but the one they came from.
    pub async fn submit_entries(
        self: &Arc<Self>,
        entries: Vec<CheckedEntry>,
        source: Source,
    ) -> Result<EntriesOutcome, NodeError> {
        let shared = Arc::clone(self);
        let pool_source = source.pool_source();
        let (outcome, lines) = tokio::task::spawn_blocking(move || {
            let mut guard = lock(&shared.chain);
            let chain = guard.as_mut().ok_or(NodeError::ShuttingDown)?;
            let outcome = chain.add_entries(&entries, &pool_source)?;
            shared.pool.send_replace(outcome.pool);
            let lines: Vec<String> = entries
                .into_iter()
                .zip(&outcome.added)
                .filter(|(_, (_, state))| *state == EntryState::New)
                .map(|(entry, _)| entry.line().to_owned())
                .collect();
            Ok::<_, NodeError>((outcome, lines))
        })
        .await
        .map_err(|e| NodeError::Task(e.to_string()))??;
        let metrics = &self.metrics;
        metrics
            .entries_accepted
            .add([source.label()], lines.len() as f64);
        metrics.entries_evicted.add([], outcome.evicted as f64);
        let moves = PoolMoves {
            evicted: outcome.evicted,
            ..PoolMoves::default()
        };
        self.events
            .pool_changed(outcome.pool, lines.len() as u64, moves);
        if !lines.is_empty() {
            let item = Relay::Entries(Arc::new(lines));
            self.peers.queue_relay(&item, source.peer());
        }
        Ok(outcome)
    }

    fn after_submit(&self, outcome: &BatchOutcome, source: &Source, new_block: Option<Announced>) {
        if outcome.added > 0 {
            self.metrics
                .blocks_accepted
                .add([source.label()], outcome.added as f64);
        }
        if let Some((_, error)) = &outcome.error {
            self.metrics.blocks_rejected.inc([rejection_reason(error)]);
        }
        if let Some((_, reorg)) = &outcome.tip_moved
            && reorg.disconnected > 0
        {
            self.metrics.reorgs.inc([]);
            self.metrics.reorg_depth.add([], reorg.disconnected as f64);
            self.deepest_reorg
                .fetch_max(reorg.disconnected, Ordering::Relaxed);
        }
        let moves = outcome.entries;
        self.metrics
            .entries_confirmed
            .add([], moves.confirmed as f64);
        self.metrics.entries_returned.add([], moves.returned as f64);
        self.metrics.entries_evicted.add([], moves.evicted as f64);
        self.events.pool_changed(self.pool(), 0, moves);
        if let Some(Announced {
            block,
            main_chain,
            single,
        }) = new_block
        {
            if single {
                self.events
                    .block_accepted(&block, &source.describe(), main_chain);
            } else {
                tracing::debug!(
                    blocks = outcome.added,
                    source = %source.describe(),
                    tip = block.index.0,
                    "sync stored a batch"
                );
            }
            self.peers
                .queue_relay(&Relay::Block(Arc::new(block)), source.peer());
        }
        if let Some((tip, reorg)) = &outcome.tip_moved {
            self.events.tip_moved(tip, reorg);
        }
    }

    /// Closes the store: waits for a write in flight, then drops the writer
    /// and the readers. Later writes get `NodeError::ShuttingDown`.
    pub fn close_store(&self) {
        if let Some(mut chain) = lock(&self.chain).take() {
            if let Err(e) = chain.checkpoint() {
                tracing::warn!("final checkpoint failed: {e}");
            }
            drop(chain);
        }
        lock(&self.readers).clear();
        lock(&self.peer_store).take();
    }
}

/// The block a submit announces and relays.
struct Announced {
    block: crate::consensus::Block,
    main_chain: bool,
    single: bool,
}

/// A single new block is announced and relayed; for a sync batch, only the
/// new tip (peers behind will sync from us).
fn announced_block(
    chain: &ChainState,
    outcome: &BatchOutcome,
    single: bool,
) -> Result<Option<Announced>, NodeError> {
    let (hash, main_chain) = match (single, outcome.last, outcome.tip_moved) {
        (true, Some(Accepted::TipMoved { tip, .. }), _) => (tip.hash, true),
        (true, Some(Accepted::SideBranch { hash, .. }), _) => (hash, false),
        (false, _, Some((tip, _))) if outcome.error.is_none() => (tip.hash, true),
        _ => return Ok(None),
    };
    use crate::store::BlockReads;
    let stored = chain
        .store()
        .block(&hash)?
        .expect("a block just stored in this transaction is in the store");
    Ok(Some(Announced {
        block: stored.block,
        main_chain,
        single,
    }))
}

/// What `/v1/status` and the log say when the next block is out of reach.
fn out_of_reach_warning(pace: &Pace) -> String {
    let expected_s = pace.next_block_expected_ms().unwrap_or(f64::INFINITY) / 1000.0;
    let block_s = pace.block_time_ms.unwrap_or(0) as f64 / 1000.0;
    format!(
        "the next block needs about {expected_s:.3e} s at the network's measured hash rate \
         ({:.3e} hashes/s), more than 2^20 block times of {block_s} s: this network has \
         stopped. A block dated far in the past after an idle period does this under the \
         retarget rule asert-per-block/1; networks made by `jbc network new` since use \
         asert-median/2, which cannot stop this way",
        pace.hashes_per_second.unwrap_or(0.0)
    )
}

/// Logs, loudly, a pace whose next block is out of reach.
fn warn_if_out_of_reach(pace: Option<&Pace>) {
    if let Some(pace) = pace.filter(|pace| pace.out_of_reach()) {
        tracing::error!("{}", out_of_reach_warning(pace));
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Nothing here is left half-updated by a panic in a way that matters.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The metric label for why a block was refused.
pub fn rejection_reason(error: &AddError) -> &'static str {
    match error {
        AddError::ParentUnknown { .. } => "parent_unknown",
        AddError::Store(_) => "store_error",
        AddError::Invalid(e) => match e {
            ValidationError::HashMismatch { .. } => "hash_mismatch",
            ValidationError::InsufficientWork { .. } => "insufficient_work",
            ValidationError::MissingPrevHash { .. } => "missing_prev_hash",
            ValidationError::GenesisWithPrevHash { .. } => "genesis_with_prev_hash",
            ValidationError::WrongIndex { .. } => "wrong_index",
            ValidationError::WrongPrevHash { .. } => "wrong_prev_hash",
            ValidationError::WrongGenesis { .. } => "wrong_genesis",
            ValidationError::EmptyChain => "empty_chain",
            ValidationError::BadEntries { .. } => "bad_entries",
            ValidationError::EntryConfirmedTwice { .. } => "entry_confirmed_twice",
            ValidationError::KnownInvalid { .. } => "known_invalid",
            ValidationError::TimestampTooEarly { .. } => "timestamp_too_early",
            ValidationError::TooFarInFuture { .. } => "too_far_in_future",
            ValidationError::BadRule(_) => "bad_rule",
        },
    }
}
