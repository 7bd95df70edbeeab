//! `ChainState`: the consensus rules applied to the store. Validates a
//! block, stores it in the block tree and moves the tip to the block with the
//! most cumulative work (first seen wins a tie), all in one transaction. On
//! a strict network it also keeps an entry from being confirmed twice on
//! one chain: checked when a block extends the tip, and when a reorg
//! connects a branch (a branch that would repeat an entry is not taken and
//! its offending block is remembered as invalid). Entries that users and
//! peers submit enter the pool here too.
//!
//! The network and the miner call `add_block` / `add_blocks` and learn from
//! the outcome whether the tip moved; they never touch the store's tip
//! themselves. Errors keep blame apart: `AddError::Invalid` is the sender's
//! fault, `ParentUnknown` means "sync first", `Store` is ours.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use crate::consensus::entry::{COMMITTED_FORMAT_LINE, CheckedEntry};
use crate::consensus::validate::validate_child;
use crate::consensus::{
    BlockAndBody, BlockHash, ChainChecker, ChainValidationError, CheckedBlock, EntryId, Height,
    IntoChecked, Network, ParentContext, Target, Timestamp, ValidationError, Work,
};
use crate::store::pool::{PoolLimits, PoolStats};
use crate::store::{
    BlockReads, Durability, EntryKey, EntryReads, EntryState, PoolMoves, Reorg, Rows, Store,
    StoreError, Tip, WriteTx,
};

/// A block to add: checked on its own, and maybe with what this node's
/// pool showed of its entries (a compact block rebuilt from the pool).
pub trait ToAdd {
    fn into_parts(
        self,
        network: &Network,
    ) -> Result<(CheckedBlock, Option<PendingSeen>), ValidationError>;
}

impl<B: IntoChecked> ToAdd for B {
    fn into_parts(
        self,
        network: &Network,
    ) -> Result<(CheckedBlock, Option<PendingSeen>), ValidationError> {
        Ok((self.into_checked(network)?, None))
    }
}

/// What a read of this node's own store showed: while the tip was `tip`,
/// the entry at each place with a row (`rows`, by place; `None` where it
/// was sent along) was pending, in that row. The pool never holds an entry
/// the main chain confirms (every write keeps it so: `add_entry` refuses
/// them, a block joining the main chain takes its entries out, a block
/// leaving it returns only those the new main chain lacks), so none of
/// those entries is confirmed on the chain up to `tip`: a child of `tip`
/// needs no confirmed-twice query for them. The rows spare the store
/// looking the entries up by id: taken as they are if no entry was
/// forgotten since they were read (`forgotten`, what
/// `EntryReads::entries_forgotten` said then), each checked otherwise.
#[derive(Clone, Debug)]
pub struct PendingSeen {
    pub tip: BlockHash,
    pub rows: Vec<Option<EntryKey>>,
    pub forgotten: u64,
}

/// A block made of what the pool showed (rebuilt from a compact block, or
/// mined here), with what it showed.
#[derive(Debug)]
pub struct FromPool<B = CheckedBlock> {
    pub block: B,
    pub seen: PendingSeen,
}

impl<B: IntoChecked> ToAdd for FromPool<B> {
    fn into_parts(
        self,
        network: &Network,
    ) -> Result<(CheckedBlock, Option<PendingSeen>), ValidationError> {
        Ok((self.block.into_checked(network)?, Some(self.seen)))
    }
}

/// What happened to a block that was accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accepted {
    /// New, and now the tip (`reorg.disconnected > 0` when branches switched).
    TipMoved { tip: Tip, reorg: Reorg },
    /// New, stored on a branch with less (or equal) work than the tip.
    SideBranch { index: Height, hash: BlockHash },
    /// A block with this hash was stored before; nothing changed.
    AlreadyKnown,
}

/// For people: "the new tip", "stored on a side branch at 35 (0000016a...)".
impl std::fmt::Display for Accepted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Accepted::TipMoved { tip, reorg } if reorg.disconnected > 0 => write!(
                f,
                "the new tip {} after a reorg of {} block(s)",
                tip.index, reorg.disconnected
            ),
            Accepted::TipMoved { tip, .. } => write!(f, "the new tip {}", tip.index),
            Accepted::SideBranch { index, hash } => write!(
                f,
                "stored on a side branch at {index} ({}): another block there has as much work or more",
                hash.short(16)
            ),
            Accepted::AlreadyKnown => f.write_str("already known"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AddError {
    #[error("invalid block: {0}")]
    Invalid(#[from] ValidationError),
    #[error("block {index} ({hash}) has a parent this node does not have: {prev_hash}")]
    ParentUnknown {
        index: Height,
        hash: BlockHash,
        prev_hash: BlockHash,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AddError {
    /// True when the block broke a rule (the sender is to blame; a block
    /// from the future is not that).
    pub fn is_invalid(&self) -> bool {
        matches!(self, AddError::Invalid(e) if e.blames_sender())
    }

    /// True when the block is from too far in the future: not stored now,
    /// worth asking for again later.
    pub fn is_early(&self) -> bool {
        matches!(
            self,
            AddError::Invalid(ValidationError::TooFarInFuture { .. })
        )
    }
}

pub use crate::clock::{Clock, offset_clock, system_clock};

/// The result of adding a batch: everything before `error` was stored.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    pub added: usize,
    pub already_known: usize,
    /// The tip after the batch, when it moved, and the total reorg.
    pub tip_moved: Option<(Tip, Reorg)>,
    /// What happened to the last block that did not fail.
    pub last: Option<Accepted>,
    /// The first block that failed (its position in the batch) and why.
    pub error: Option<(usize, AddError)>,
    /// How entries moved between the pool and the main chain.
    pub entries: PoolMoves,
    /// The blocks the batch stored (new ones), in order: what the node
    /// announces, without reading them back.
    pub stored: Vec<Arc<BlockAndBody>>,
    /// What a child of the new tip needs (its place, target and times),
    /// when the tip moved: the next template, without reading it back.
    pub tip_context: Option<ParentContext>,
}

/// The result of adding entries: for each, its id and where it stands.
#[derive(Debug)]
pub struct EntriesOutcome {
    pub added: Vec<(EntryId, EntryState)>,
    /// Old entries evicted to make room.
    pub evicted: u64,
    pub pool: PoolStats,
}

/// Blocks the mean block time of `ChainState::pace` is measured over.
pub const PACE_WINDOW: u64 = 100;

/// A next block that would take this many times the work of the latest
/// blocks (so, at the rate they were found, this many block times) is out
/// of reach: the network has stopped.
pub const OUT_OF_REACH_BLOCK_TIMES: f64 = (1u64 << 20) as f64;

/// How the chain keeps time: the next block's target and the mean time
/// between the latest blocks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pace {
    pub next_target: Target,
    /// Over the last `measured_blocks` blocks of the main chain (`None`
    /// at genesis).
    pub mean_block_time_ms: Option<f64>,
    pub measured_blocks: u64,
    /// The network's hash rate as its blocks show it: their work over the
    /// time they took (`None` until two blocks are a moment apart).
    pub hashes_per_second: Option<f64>,
    /// The mean work of the measured blocks (`None` at genesis).
    pub mean_work: Option<f64>,
    /// The wanted block time, where the target follows the clock.
    pub block_time_ms: Option<u64>,
}

impl Pace {
    /// How long the next block takes on average at the measured rate.
    pub fn next_block_expected_ms(&self) -> Option<f64> {
        let rate = self.hashes_per_second.filter(|rate| *rate > 0.0)?;
        Some(self.next_target.work().as_f64() / rate * 1000.0)
    }

    /// How many times the work of the latest blocks the next one needs.
    pub fn next_work_ratio(&self) -> Option<f64> {
        let mean = self.mean_work.filter(|mean| *mean > 0.0)?;
        Some(self.next_target.work().as_f64() / mean)
    }

    /// True when, on a network whose target follows the clock, the next
    /// block needs more than `OUT_OF_REACH_BLOCK_TIMES` times the work of
    /// the latest blocks: no honest miner will find it, and a miner should
    /// say so rather than hash in silence. Measured in work, not time: a
    /// network idle for a month has a low measured hash rate, yet its next
    /// block is as easy as ever.
    pub fn out_of_reach(&self) -> bool {
        self.block_time_ms.is_some()
            && self
                .next_work_ratio()
                .is_some_and(|ratio| ratio > OUT_OF_REACH_BLOCK_TIMES)
    }
}

/// Figures from a full re-validation.
#[derive(Clone, Copy, Debug)]
pub struct VerifyReport {
    pub blocks: u64,
    pub tip: Tip,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("the stored main chain breaks a rule at index {index}: {error}")]
    Invalid {
        index: Height,
        error: ValidationError,
    },
    #[error("the main chain has a gap: expected index {expected}, found {found}")]
    Gap { expected: Height, found: Height },
    #[error("the main chain ends at {found} but the tip is {expected}")]
    TipMismatch {
        expected: BlockHash,
        found: BlockHash,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct ChainState {
    store: Store,
    params: Network,
    pool_limits: PoolLimits,
    clock: Clock,
}

impl ChainState {
    pub fn open(data_dir: &Path, params: Network) -> Result<ChainState, StoreError> {
        Ok(ChainState {
            store: Store::open(data_dir, &params)?,
            params,
            pool_limits: PoolLimits::default(),
            clock: system_clock(),
        })
    }

    /// Tells the data directory's lock file where this node listens.
    pub fn set_holder_url(&mut self, url: &str) -> std::io::Result<()> {
        self.store.set_holder_url(url)
    }

    /// Replaces the clock blocks from the future are judged by.
    pub fn set_clock(&mut self, clock: Clock) {
        self.clock = clock;
    }

    /// Now, in the network's unit.
    fn now(&self) -> Timestamp {
        self.params.timestamp_at((self.clock)())
    }

    /// What a miner needs to build on the tip.
    pub fn template(&self) -> Result<crate::consensus::Template, StoreError> {
        let tip = self.store.tip();
        let (context, _) = self
            .store
            .parent_context(&tip.hash, &self.params)?
            .expect("the tip is stored");
        Ok(self.params.template(&context))
    }

    /// The next block's target, the recent mean block time and the hash
    /// rate it shows.
    pub fn pace(&self) -> Result<Pace, StoreError> {
        self.pace_with(self.template()?.target)
    }

    /// `pace`, given the next block's target (known already to whoever
    /// holds the tip's context).
    pub fn pace_with(&self, next_target: Target) -> Result<Pace, StoreError> {
        let tip = self.store.tip().index;
        let from = Height(tip.0.saturating_sub(PACE_WINDOW));
        let times = self.store.main_chain_times(from, tip)?;
        let measured_blocks = tip.0 - from.0;
        let unit_ms = self.params.timestamp_unit_ms() as f64;
        let span_ms = match (times.first(), times.last()) {
            (Some(first), Some(last)) if measured_blocks > 0 => {
                Some((last.timestamp.0 as f64 - first.timestamp.0 as f64) * unit_ms)
            }
            _ => None,
        };
        // The work of the blocks after the first: what the span measures.
        let work: f64 = times
            .iter()
            .skip(1)
            .map(|time| {
                let target = time
                    .target
                    .unwrap_or_else(|| self.params.difficulty().genesis_target());
                self.params.work_at(&target).as_f64()
            })
            .sum();
        let mean_work = (measured_blocks > 0).then(|| work / measured_blocks as f64);
        Ok(Pace {
            next_target,
            mean_block_time_ms: span_ms.map(|span| span / measured_blocks as f64),
            measured_blocks,
            hashes_per_second: span_ms
                .filter(|span| *span > 0.0)
                .map(|span| work / span * 1000.0),
            mean_work,
            block_time_ms: self.params.retarget().map(|rule| rule.block_time_ms),
        })
    }

    /// Bounds the pool (the default is `PoolLimits::default()`).
    pub fn set_pool_limits(&mut self, limits: PoolLimits) {
        self.pool_limits = limits;
    }

    /// Puts checked entries (with their ids) in the pool, in one
    /// transaction, durable when this returns; evicts the oldest beyond
    /// the pool's limits.
    pub fn add_entries(
        &mut self,
        entries: &[CheckedEntry],
        source: &str,
    ) -> Result<EntriesOutcome, StoreError> {
        let mut tx = self.store.write(Durability::Acknowledged)?;
        let mut added = Vec::with_capacity(entries.len());
        for entry in entries {
            added.push((entry.id(), tx.add_entry(entry, source)?));
        }
        let evicted = tx.evict(&self.pool_limits)?;
        let pool = tx.pool();
        tx.commit()?;
        Ok(EntriesOutcome {
            added,
            evicted,
            pool,
        })
    }

    pub fn params(&self) -> &Network {
        &self.params
    }

    pub fn tip(&self) -> Tip {
        self.store.tip()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Validates and stores one block, moving the tip if it now has the most
    /// work. One transaction, made durable before this returns.
    pub fn add_block(&mut self, block: impl ToAdd) -> Result<Accepted, AddError> {
        let now = self.now();
        let mut tx = self.store.write(Durability::Acknowledged)?;
        let result = add_one(
            &mut tx,
            &self.params,
            now,
            block,
            &mut None,
            &mut Vec::new(),
            &mut None,
        );
        if let Err(AddError::Store(_)) = result {
            return result;
        }
        // Commit even when the block was refused: a refused reorg leaves
        // the blocks it found invalid marked so.
        tx.evict(&self.pool_limits)?;
        tx.commit()?;
        result
    }

    /// Validates and stores blocks in order, in one transaction. Stops at the
    /// first block that fails; the ones before it are kept. A block's parent
    /// may be earlier in the same batch.
    pub fn add_blocks<B: ToAdd>(
        &mut self,
        blocks: impl IntoIterator<Item = B>,
        durability: Durability,
    ) -> BatchOutcome {
        self.add_blocks_telling(blocks, durability, None)
    }

    /// `add_blocks`, telling `on_new_tip` of each block that will be the
    /// new tip as soon as it is found valid, before it is written: relay
    /// can pass it on while the store writes it. (If the write then fails,
    /// a valid block went out that this node does not keep; it syncs it
    /// back later.)
    pub fn add_blocks_telling<B: ToAdd>(
        &mut self,
        blocks: impl IntoIterator<Item = B>,
        durability: Durability,
        mut on_new_tip: Option<&mut NewTipFound<'_>>,
    ) -> BatchOutcome {
        let mut outcome = BatchOutcome::default();
        let now = self.now();
        let params = &self.params;
        let mut tx = match self.store.write(durability) {
            Ok(tx) => tx,
            Err(e) => {
                outcome.error = Some((0, e.into()));
                return outcome;
            }
        };
        let start_tip = tx.tip();
        let mut lowest_fork: Option<Height> = None;
        let mut previous: Previous = None;
        for (position, block) in blocks.into_iter().enumerate() {
            let stored = &mut outcome.stored;
            let tell = &mut on_new_tip;
            let accepted = match add_one(&mut tx, params, now, block, &mut previous, stored, tell) {
                Ok(accepted) => accepted,
                Err(error) => {
                    outcome.error = Some((position, error));
                    break;
                }
            };
            match accepted {
                Accepted::AlreadyKnown => outcome.already_known += 1,
                Accepted::SideBranch { .. } => outcome.added += 1,
                Accepted::TipMoved { reorg, .. } => {
                    outcome.added += 1;
                    outcome.tip_context = previous.as_ref().map(|(context, _, _)| *context);
                    lowest_fork =
                        Some(lowest_fork.map_or(reorg.fork_index, |f| f.min(reorg.fork_index)));
                }
            }
            outcome.last = Some(accepted);
        }
        let end_tip = tx.tip();
        if let Err(e) = tx.evict(&self.pool_limits) {
            outcome.error = Some((0, e.into()));
            return outcome;
        }
        match tx.commit() {
            Ok(moves) => outcome.entries = moves,
            Err(e) => {
                // Nothing of the batch was kept.
                outcome.added = 0;
                outcome.last = None;
                outcome.stored.clear();
                outcome.tip_context = None;
                outcome.error = Some((0, e.into()));
                return outcome;
            }
        }
        if let Some(fork_index) = lowest_fork {
            // Successive moves within the batch add up to one move from the
            // first tip to the last, forking at the lowest fork point.
            let reorg = Reorg {
                fork_index,
                disconnected: start_tip.index.0.saturating_sub(fork_index.0),
                connected: end_tip.index.0.saturating_sub(fork_index.0),
            };
            outcome.tip_moved = Some((end_tip, reorg));
        }
        outcome
    }

    /// Makes bulk commits durable (see `Durability::Bulk`).
    pub fn checkpoint(&mut self) -> Result<(), StoreError> {
        self.store.checkpoint()
    }

    /// Re-validates the whole main chain from genesis. `progress` is called
    /// now and then with the number of blocks checked so far.
    pub fn verify(&self, mut progress: impl FnMut(u64)) -> Result<VerifyReport, VerifyError> {
        let tip = self.store.tip();
        let mut checker = ChainChecker::from_genesis(&self.params);
        self.store.for_each_main_block(Height(0), |block| {
            let expected = checker
                .last()
                .map_or(Height(0), |parent| parent.index.next());
            if block.index != expected {
                return Err(VerifyError::Gap {
                    expected,
                    found: block.index,
                });
            }
            let body = match block.data.starts_with(COMMITTED_FORMAT_LINE) {
                true => self.store.block_body(&block.hash)?,
                false => Vec::new(),
            };
            checker.check(BlockAndBody { block, body }).map_err(
                |ChainValidationError { error, .. }| VerifyError::Invalid {
                    index: expected,
                    error,
                },
            )?;
            if checker.checked().is_multiple_of(4096) {
                progress(checker.checked() as u64);
            }
            Ok(ControlFlow::Continue(()))
        })?;
        let count = checker.checked() as u64;
        progress(count);
        let last = checker.last().map(|p| p.hash);
        if last != Some(tip.hash) {
            return Err(VerifyError::TipMismatch {
                expected: tip.hash,
                found: last.unwrap_or(tip.hash),
            });
        }
        Ok(VerifyReport { blocks: count, tip })
    }
}

/// Told of a block found valid that will be the new tip, before it is
/// written (`ChainState::add_blocks_telling`).
pub type NewTipFound<'a> = dyn FnMut(&Arc<BlockAndBody>) + 'a;

/// The block added just before, in the same batch, as the context of its
/// child, with its chain work, and whether this batch stored it: usually
/// the next block's parent, so its lookup costs no query (and when this
/// batch stored it, its child cannot be stored yet: a stored block always
/// has a stored parent).
type Previous = Option<(ParentContext, Work, bool)>;

fn add_one(
    tx: &mut WriteTx<'_>,
    params: &Network,
    now: Timestamp,
    block: impl ToAdd,
    previous: &mut Previous,
    stored: &mut Vec<Arc<BlockAndBody>>,
    on_new_tip: &mut Option<&mut NewTipFound<'_>>,
) -> Result<Accepted, AddError> {
    // Cheap, pure checks first (and the one hash of the block): a malformed
    // block is invalid even if its stated hash happens to be one we know.
    let (block, seen) = block.into_parts(params)?;
    let Some(prev_hash) = block.block().prev_hash else {
        if block.block().hash == params.genesis_hash() {
            return Ok(Accepted::AlreadyKnown);
        }
        // A genesis block we do not have is another network's.
        return Err(ValidationError::WrongGenesis {
            expected: params.genesis_hash(),
            found: block.block().hash,
        }
        .into());
    };
    let (parent, certainly_new) = match previous.take() {
        Some((context, work, stored_now)) if context.link.hash == prev_hash => {
            (Some((context, work)), stored_now)
        }
        _ => (tx.parent_context(&prev_hash, params)?, false),
    };
    if tx.known_invalid(&prev_hash)? {
        let hash = block.block().hash;
        tx.mark_invalid(&hash)?;
        return Err(ValidationError::KnownInvalid { hash }.into());
    }
    // A stored block always has a stored parent, so an unknown parent also
    // means an unknown block.
    let Some((parent, parent_work)) = parent else {
        return Err(AddError::ParentUnknown {
            index: block.block().index,
            hash: block.block().hash,
            prev_hash,
        });
    };
    let validated = validate_child(block, &parent, params, Some(now))?;
    let chain_work = parent_work + validated.work();
    let (index, hash) = (validated.block().index, validated.block().hash);
    let strict = params.entry_rules().strict;
    let extends_tip = prev_hash == tx.tip().hash;
    let new_tip = extends_tip && (certainly_new || !tx.contains(&hash)?);
    if strict && new_tip {
        // The main chain below is this block's chain: an entry confirmed
        // there may not come again. Those seen pending on it are not.
        let spared: &[Option<EntryKey>] = match &seen {
            Some(seen) if seen.tip == prev_hash => &seen.rows,
            _ => &[],
        };
        let ids: Vec<EntryId> = validated
            .entries()
            .iter()
            .filter(|f| spared.get(f.position).is_none_or(Option::is_none))
            .map(|f| f.entry.id())
            .collect();
        if !ids.is_empty()
            && let Some(id) = tx.first_confirmed(&ids)?
        {
            return Err(ValidationError::EntryConfirmedTwice { index, id }.into());
        }
    }
    // A reorg on a strict network is tried under a savepoint (taken before
    // the block is stored) and kept only if no entry ends up confirmed
    // twice on the branch.
    let try_branch = strict && !extends_tip && chain_work > tx.tip().chain_work;
    if try_branch {
        tx.savepoint()?;
    }
    // Extending the tip with positive work, a new valid block is the new
    // tip once written.
    let told = match on_new_tip {
        Some(tell) if new_tip => {
            let whole = Arc::new(validated.to_block_and_body());
            tell(&whole);
            Some(whole)
        }
        _ => None,
    };
    let child = parent.child(&validated);
    let rows = seen.as_ref().map_or(&[][..], |seen| &seen.rows[..]);
    let trust = match &seen {
        Some(seen) if seen.forgotten == tx.entries_forgotten()? => Rows::Current,
        _ => Rows::Checked,
    };
    let new = certainly_new || new_tip;
    let Some(inserted) = tx.insert(&validated, chain_work, new, rows, trust)? else {
        *previous = Some((child, chain_work, false));
        if try_branch {
            tx.release_savepoint()?;
        }
        return Ok(Accepted::AlreadyKnown);
    };
    *previous = Some((child, chain_work, true));
    stored.push(told.unwrap_or_else(|| Arc::new(validated.into_block_and_body())));
    // Most work wins; on a tie the tip stays (first seen wins).
    if chain_work <= tx.tip().chain_work {
        return Ok(Accepted::SideBranch { index, hash });
    }
    let reorg = tx.set_tip_to(&inserted)?;
    if try_branch {
        if let Some((id, at)) = tx.repeated_entry_above(reorg.fork_index)? {
            tx.rollback_to_savepoint()?;
            stored.pop();
            // The block at `at` on that branch repeats an entry: it and
            // every block above it there, this one included, are invalid.
            tx.mark_invalid(&hash)?;
            mark_branch_invalid(tx, prev_hash, at)?;
            *previous = None;
            return Err(ValidationError::EntryConfirmedTwice { index: at, id }.into());
        }
        tx.release_savepoint()?;
    }
    Ok(Accepted::TipMoved {
        tip: tx.tip(),
        reorg,
    })
}

/// Marks the stored block `hash` and its ancestors down to index `from`
/// as invalid.
fn mark_branch_invalid(
    tx: &mut WriteTx<'_>,
    mut hash: BlockHash,
    from: Height,
) -> Result<(), StoreError> {
    while let Some(stored) = tx.block(&hash)? {
        if stored.block.index < from {
            break;
        }
        tx.mark_invalid(&hash)?;
        match stored.block.prev_hash {
            Some(prev) => hash = prev,
            None => break,
        }
    }
    Ok(())
}
