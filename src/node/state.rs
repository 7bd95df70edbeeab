//! `Shared`: the state every part of a running node sees. The chain (one
//! writer, behind a mutex, used only from blocking threads), a pool of
//! read-only store connections, the current tip (a watch channel, so the
//! miner and the live feed learn of changes at once), the peers, events,
//! metrics and the shutdown flag.
//!
//! `submit` is the one door through which blocks enter, whatever their
//! source: it stores them, publishes the new tip, logs, counts, and queues
//! new blocks for relay to every peer but the one they came from.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};

use crate::chain::{Accepted, AddError, BatchOutcome, ChainState};
use crate::consensus::{Block, Params, ValidationError};
use crate::miner::MinerStats;
use crate::store::{Durability, StoreError, StoreReader, Tip};

use super::client::PeerClient;
use super::events::Events;
use super::metrics::Metrics;
use super::peers::Peers;

/// Where a block came from, for logs, metrics and relay.
#[derive(Clone, Debug)]
pub enum Source {
    /// Mined by this node.
    Miner,
    /// Posted to us; `peer` is the sender's URL when it is one of our peers.
    Posted { peer: Option<String> },
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
            Source::Posted { peer: Some(url) } => format!("relayed by {url}"),
            Source::Posted { peer: None } => "posted over HTTP".into(),
            Source::Sync { peer } => format!("synced from {peer}"),
        }
    }

    fn peer(&self) -> Option<&str> {
        match self {
            Source::Posted { peer } => peer.as_deref(),
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

/// Whether the node mines, and how fast: the hash rate is sampled once a
/// second from the miner's counters.
pub struct MiningStatus {
    enabled: watch::Sender<bool>,
    /// True while the mining thread is not working on a block (and has
    /// stored anything it found).
    idle: watch::Sender<bool>,
    pub threads: AtomicU64,
    /// Hashes per second over the last second, per mining thread.
    rates: Mutex<Vec<f64>>,
    pub stats: Mutex<Option<Arc<MinerStats>>>,
    /// The mining thread is started on first use and then stays.
    pub thread_started: AtomicBool,
    /// Its handle, joined at shutdown.
    pub thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl MiningStatus {
    fn new(threads: usize) -> MiningStatus {
        MiningStatus {
            enabled: watch::channel(false).0,
            idle: watch::channel(true).0,
            threads: AtomicU64::new(threads as u64),
            rates: Mutex::new(Vec::new()),
            stats: Mutex::new(None),
            thread_started: AtomicBool::new(false),
            thread: Mutex::new(None),
        }
    }

    pub fn is_enabled(&self) -> bool {
        *self.enabled.borrow()
    }

    pub fn watch_enabled(&self) -> watch::Receiver<bool> {
        self.enabled.subscribe()
    }

    /// Returns true when this changed the setting.
    pub fn set_enabled(&self, enabled: bool) -> bool {
        self.enabled.send_if_modified(|current| {
            let changed = *current != enabled;
            *current = enabled;
            changed
        })
    }

    pub fn set_idle(&self, idle: bool) {
        self.idle.send_replace(idle);
    }

    /// Waits until the mining thread is idle (or `limit` passes).
    pub async fn wait_idle(&self, limit: Duration) {
        let mut idle = self.idle.subscribe();
        let _ = tokio::time::timeout(limit, idle.wait_for(|idle| *idle)).await;
    }

    /// Hashes per second, all threads.
    pub fn rate(&self) -> f64 {
        self.rates_per_thread().iter().sum()
    }

    pub fn rates_per_thread(&self) -> Vec<f64> {
        self.rates.lock().map(|r| r.clone()).unwrap_or_default()
    }

    pub fn set_rates(&self, rates: Vec<f64>) {
        if let Ok(mut slot) = self.rates.lock() {
            *slot = rates;
        }
    }

    /// Hashes tried since the node started, per thread.
    pub fn per_thread(&self) -> Vec<u64> {
        self.stats
            .lock()
            .ok()
            .and_then(|s| s.as_ref().map(|s| s.per_thread()))
            .unwrap_or_default()
    }
}

/// Settings of a running node (what `jbc node` flags resolve to).
#[derive(Clone)]
pub struct NodeConfig {
    pub data_dir: PathBuf,
    pub params: Params,
    pub peers: Vec<String>,
    pub mine: bool,
    pub threads: usize,
    /// Text for mined blocks; `None`: data.txt in the data dir, else a
    /// line naming the node.
    pub mining_data: Option<String>,
    pub sync_interval: Duration,
    pub timeouts: super::client::Timeouts,
    /// How long a peer that sent an invalid block is ignored.
    pub ignore_period: Duration,
    /// Told (blocks done, blocks to go in all) while a sync fetches many
    /// blocks, so a terminal can draw a progress bar.
    pub sync_progress: Option<SyncProgress>,
}

/// A callback for long syncs: (blocks stored so far, total expected).
pub type SyncProgress = Arc<dyn Fn(u64, u64) + Send + Sync>;

impl NodeConfig {
    pub fn new(data_dir: PathBuf, params: Params) -> NodeConfig {
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
        }
    }
}

pub struct Shared {
    pub config: NodeConfig,
    pub node_id: String,
    pub started: Instant,
    chain: Mutex<Option<ChainState>>,
    store_path: PathBuf,
    readers: Mutex<Vec<StoreReader>>,
    tip: watch::Sender<Tip>,
    pub events: Events,
    pub peers: Peers,
    pub client: PeerClient,
    pub mining: MiningStatus,
    pub metrics: Metrics,
    /// `/blockchain.json`, kept ready.
    pub chain_json: super::chain_json::ChainJson,
    /// Wakes the sync loop early (a block arrived whose parent we lack).
    pub sync_wanted: Notify,
    pub syncing: AtomicBool,
    shutdown: watch::Receiver<bool>,
}

/// Read connections kept for reuse.
const READER_POOL: usize = 4;

impl Shared {
    pub fn new(
        config: NodeConfig,
        chain: ChainState,
        node_id: String,
        shutdown: watch::Receiver<bool>,
    ) -> Shared {
        let tip = chain.tip();
        Shared {
            client: PeerClient::new(node_id.clone(), config.timeouts),
            mining: MiningStatus::new(config.threads),
            store_path: chain.store().path().to_owned(),
            config,
            node_id,
            started: Instant::now(),
            chain: Mutex::new(Some(chain)),
            readers: Mutex::new(Vec::new()),
            tip: watch::channel(tip).0,
            events: Events::default(),
            peers: Peers::default(),
            metrics: Metrics::default(),
            chain_json: Default::default(),
            sync_wanted: Notify::new(),
            syncing: AtomicBool::new(false),
            shutdown,
        }
    }

    pub fn params(&self) -> &Params {
        &self.config.params
    }

    pub fn tip(&self) -> Tip {
        *self.tip.borrow()
    }

    pub fn watch_tip(&self) -> watch::Receiver<Tip> {
        self.tip.subscribe()
    }

    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    pub fn watch_shutdown(&self) -> watch::Receiver<bool> {
        self.shutdown.clone()
    }

    /// Runs `f` with a read-only store connection on a blocking thread.
    pub async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&StoreReader) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, NodeError> {
        let shared = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let reader = match shared.readers.lock().ok().and_then(|mut pool| pool.pop()) {
                Some(reader) => reader,
                None => StoreReader::open(&shared.store_path)?,
            };
            let result = f(&reader);
            if let Ok(mut pool) = shared.readers.lock()
                && pool.len() < READER_POOL
            {
                pool.push(reader);
            }
            Ok(result?)
        })
        .await
        .map_err(|e| NodeError::Task(e.to_string()))?
    }

    /// Stores blocks (validating each), then tells everyone what changed.
    pub async fn submit(
        self: &Arc<Self>,
        blocks: Vec<Block>,
        source: Source,
        durability: Durability,
    ) -> Result<BatchOutcome, NodeError> {
        let shared = Arc::clone(self);
        let single = blocks.len() == 1;
        let last_block = blocks.last().cloned();
        let outcome = tokio::task::spawn_blocking(move || {
            let mut guard = shared
                .chain
                .lock()
                .map_err(|_| NodeError::Task("chain lock poisoned".into()))?;
            let chain = guard.as_mut().ok_or(NodeError::ShuttingDown)?;
            let outcome = chain.add_blocks(blocks, durability);
            // Publish the tip while still holding the lock: two submits that
            // finish close together must not publish their tips out of order.
            if outcome.tip_moved.is_some() {
                shared.tip.send_replace(chain.tip());
            }
            Ok::<_, NodeError>(outcome)
        })
        .await
        .map_err(|e| NodeError::Task(e.to_string()))??;
        self.after_submit(&outcome, &source, single, last_block);
        Ok(outcome)
    }

    fn after_submit(
        &self,
        outcome: &BatchOutcome,
        source: &Source,
        single: bool,
        last_block: Option<Block>,
    ) {
        let label = source.label();
        if outcome.added > 0 {
            self.metrics.add(
                "jbc_blocks_accepted_total",
                &[("source", label)],
                outcome.added as f64,
            );
        }
        if let Some((_, error)) = &outcome.error {
            self.metrics.inc(
                "jbc_blocks_rejected_total",
                &[("reason", rejection_reason(error))],
            );
        }
        if let Some((_, reorg)) = &outcome.tip_moved
            && reorg.disconnected > 0
        {
            self.metrics.inc("jbc_reorgs_total", &[]);
            self.metrics.add(
                "jbc_reorg_depth_blocks_total",
                &[],
                reorg.disconnected as f64,
            );
        }
        // A single new block is announced and relayed; for a sync batch,
        // only the new tip (peers behind will sync from us).
        let new_block = match (single, outcome.last, &last_block) {
            (true, Some(Accepted::TipMoved { .. }), Some(block)) => Some((block, true)),
            (true, Some(Accepted::SideBranch { .. }), Some(block)) => Some((block, false)),
            (false, _, Some(block))
                if outcome
                    .tip_moved
                    .is_some_and(|(tip, _)| tip.hash == block.hash) =>
            {
                Some((block, true))
            }
            _ => None,
        };
        if let Some((block, main)) = new_block {
            if single {
                self.events.block_accepted(block, &source.describe(), main);
            } else {
                tracing::debug!(
                    blocks = outcome.added,
                    source = %source.describe(),
                    tip = block.index.0,
                    "sync stored a batch"
                );
            }
            let block = Arc::new(block.clone());
            self.peers.queue_relay(&block, source.peer());
        }
        if let Some((tip, reorg)) = &outcome.tip_moved {
            self.events.tip_moved(tip, reorg);
        }
    }

    /// Closes the store: waits for a write in flight, then drops the writer
    /// and the readers. Later writes get `NodeError::ShuttingDown`.
    pub fn close_store(&self) {
        if let Ok(mut chain) = self.chain.lock()
            && let Some(mut chain) = chain.take()
        {
            if let Err(e) = chain.checkpoint() {
                tracing::warn!("final checkpoint failed: {e}");
            }
            drop(chain);
        }
        if let Ok(mut readers) = self.readers.lock() {
            readers.clear();
        }
    }
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
        },
    }
}
