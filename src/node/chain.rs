//! The chain behind its handle, as mini-redis keeps its `Db`: the one
//! writer (`ChainState`, behind a mutex, used only from blocking threads),
//! a few read-only store connections, and what changes with the tip, kept
//! ready: the tip and the pool (watch channels: the miner and the status
//! learn of changes at once), the next block's template (from the new
//! tip's context, never read back) and the pace.
//!
//! `submit` is the one door through which blocks enter, whatever their
//! source, and `submit_entries` the one for entries. After each, the
//! handle publishes one `ChainEvent` to its subscribers (relay, metrics,
//! the live events), in order: every subscriber has seen a change when
//! `submit` returns.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use tokio::sync::watch;

use crate::chain::{AddError, BatchOutcome, ChainState, EntriesOutcome, NewTipFound, Pace, ToAdd};
use crate::consensus::entry::CheckedEntry;
use crate::consensus::{BlockAndBody, Network, Template, ValidationError};
use crate::store::{Durability, EntryState, PoolStats, StoreError, StoreReader, Tip};

use super::lock;
use super::notify::{BlockValid, BlocksStored, ChainEvent, EntriesAdded, Source};

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("the node is shutting down")]
    ShuttingDown,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a storage task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Read connections kept for reuse.
const READER_POOL: usize = 4;

type Subscriber = Box<dyn Fn(&ChainEvent) + Send + Sync>;

pub struct ChainHandle {
    params: Network,
    writer: Mutex<Option<ChainState>>,
    store_path: PathBuf,
    readers: Mutex<Vec<StoreReader>>,
    tip: watch::Sender<Tip>,
    /// What a child of the tip must be, published with the tip.
    template: Mutex<Template>,
    /// The next block's target and the recent block times.
    pace: Mutex<Option<Pace>>,
    pool: watch::Sender<PoolStats>,
    subscribers: RwLock<Vec<Subscriber>>,
}

impl ChainHandle {
    pub fn new(chain: ChainState) -> Result<ChainHandle, StoreError> {
        let template = chain.template()?;
        let pace = chain.pace_with(template.target).ok();
        warn_if_out_of_reach(pace.as_ref());
        Ok(ChainHandle {
            params: chain.params().clone(),
            store_path: chain.store().path().to_owned(),
            tip: watch::channel(chain.tip()).0,
            pool: watch::channel(chain.store().pool()).0,
            template: Mutex::new(template),
            pace: Mutex::new(pace),
            writer: Mutex::new(Some(chain)),
            readers: Mutex::new(Vec::new()),
            subscribers: RwLock::new(Vec::new()),
        })
    }

    /// Calls `f` with every change from now on, in order, right after it
    /// is committed (on the thread that made it: `f` must be quick and
    /// never block).
    pub fn subscribe(&self, f: impl Fn(&ChainEvent) + Send + Sync + 'static) {
        self.subscribers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Box::new(f));
    }

    fn publish(&self, event: ChainEvent) {
        let subscribers = self
            .subscribers
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        for subscriber in subscribers.iter() {
            subscriber(&event);
        }
    }

    pub fn params(&self) -> &Network {
        &self.params
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

    /// What a miner needs to build on the tip.
    pub fn template(&self) -> Template {
        *lock(&self.template)
    }

    /// The chain's pace (`None` if it could not be read).
    pub fn pace(&self) -> Option<Pace> {
        *lock(&self.pace)
    }

    /// Runs `f` with a read-only store connection on a blocking thread.
    pub async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&StoreReader) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, NodeError> {
        let chain = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let pooled = lock(&chain.readers).pop();
            let reader = pooled.map_or_else(|| StoreReader::open(&chain.store_path), Ok)?;
            let result = f(&reader);
            let mut pool = lock(&chain.readers);
            if pool.len() < READER_POOL {
                pool.push(reader);
            }
            Ok(result?)
        })
        .await?
    }

    /// Stores blocks (validating each), then tells the subscribers what
    /// changed.
    pub async fn submit<B: ToAdd + Send + 'static>(
        self: &Arc<Self>,
        blocks: Vec<B>,
        source: Source,
        durability: Durability,
    ) -> Result<BatchOutcome, NodeError> {
        let chain = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let single = blocks.len() == 1;
            let mut guard = lock(&chain.writer);
            let writer = guard.as_mut().ok_or(NodeError::ShuttingDown)?;
            // A single block (mined, posted, relayed) that will be the new
            // tip is announced as soon as it is valid, so relay passes it
            // on while it is written; a sync batch is announced once
            // stored, by its new tip.
            let mut told = None;
            let mut tell = |block: &Arc<BlockAndBody>| {
                told = Some(block.block.hash);
                let event = BlockValid {
                    block: Arc::clone(block),
                    source: source.clone(),
                };
                chain.publish(ChainEvent::Valid(Arc::new(event)));
            };
            let outcome = writer.add_blocks_telling(
                blocks,
                durability,
                single.then_some(&mut tell as &mut NewTipFound<'_>),
            );
            // Published while still holding the writer: two submits that
            // finish close together must not publish out of order.
            if let (Some((tip, _)), Some(context)) = (outcome.tip_moved, outcome.tip_context) {
                let template = chain.params.template(&context);
                let pace = writer.pace_with(template.target).ok();
                warn_if_out_of_reach(pace.as_ref());
                *lock(&chain.template) = template;
                *lock(&chain.pace) = pace;
                chain.tip.send_replace(tip);
            }
            let pool = writer.store().pool();
            chain.pool.send_replace(pool);
            if let Some((_, AddError::Store(e))) = &outcome.error {
                // The disk, not the block: the operator must hear of it.
                tracing::error!("storing a block failed: {e}");
            }
            let refused = outcome.error.as_ref().map(|(_, e)| rejection_reason(e));
            let mut event = BlocksStored::new(&outcome, source, single, refused, pool);
            event.told_valid = told;
            chain.publish(ChainEvent::Blocks(Arc::new(event)));
            Ok(outcome)
        })
        .await?
    }

    /// Puts checked entries in the pool (durably), then tells the
    /// subscribers which were new.
    pub async fn submit_entries(
        self: &Arc<Self>,
        entries: Vec<CheckedEntry>,
        source: Source,
    ) -> Result<EntriesOutcome, NodeError> {
        let chain = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let mut guard = lock(&chain.writer);
            let writer = guard.as_mut().ok_or(NodeError::ShuttingDown)?;
            let outcome = writer.add_entries(&entries, &source.pool_source())?;
            chain.pool.send_replace(outcome.pool);
            let lines: Vec<String> = entries
                .into_iter()
                .zip(&outcome.added)
                .filter(|(_, (_, state))| *state == EntryState::New)
                .map(|(entry, _)| entry.line().to_owned())
                .collect();
            let event = EntriesAdded {
                source,
                lines: Arc::new(lines),
                evicted: outcome.evicted,
                pool: outcome.pool,
            };
            chain.publish(ChainEvent::Entries(Arc::new(event)));
            Ok(outcome)
        })
        .await?
    }

    /// Closes the store: waits for a write in flight, then drops the writer
    /// and the readers. Later writes get `NodeError::ShuttingDown`.
    pub fn close(&self) {
        if let Some(mut writer) = lock(&self.writer).take()
            && let Err(e) = writer.checkpoint()
        {
            tracing::warn!("final checkpoint failed: {e}");
        }
        lock(&self.readers).clear();
    }
}

/// What `/v1/status` and the log say when the next block is out of reach.
pub fn out_of_reach_warning(pace: &Pace) -> String {
    let ratio = pace.next_work_ratio().unwrap_or(f64::INFINITY);
    let block_s = pace.block_time_ms.unwrap_or(0) as f64 / 1000.0;
    format!(
        "the next block needs {ratio:.3e} times the work of the latest blocks (about that \
         many block times of {block_s} s at the rate they were found), more than 2^20: this \
         network has stopped. A block dated far in the past after an idle period does this \
         under the retarget rule asert-per-block/1; networks made by `jbc network new` since \
         use asert-median/2, which cannot stop this way"
    )
}

/// Logs, loudly, a pace whose next block is out of reach.
fn warn_if_out_of_reach(pace: Option<&Pace>) {
    if let Some(pace) = pace.filter(|pace| pace.out_of_reach()) {
        tracing::error!("{}", out_of_reach_warning(pace));
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
            ValidationError::BadEntries { .. } => "bad_entries",
            ValidationError::EntryConfirmedTwice { .. } => "entry_confirmed_twice",
            ValidationError::KnownInvalid { .. } => "known_invalid",
            ValidationError::TimestampTooEarly { .. } => "timestamp_too_early",
            ValidationError::TooFarInFuture { .. } => "too_far_in_future",
            ValidationError::MissingEntries { .. } => "missing_entries",
            ValidationError::BadRule(_) | ValidationError::LaxCommitted => "bad_rule",
        },
    }
}
