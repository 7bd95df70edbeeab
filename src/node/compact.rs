//! A compact block received (`wire::compact`): its entries rebuilt from
//! the pool, or the places this node lacks named so the sender can send
//! just those. Before the pool is read the block must be worth it: of the
//! committed format, one short id per entry, a child of this node's tip
//! (any other is asked for whole, checked in full before anything is
//! kept) with its hash right and under the target the tip's child needs,
//! and scanned for at most twice (its short ids, then with the entries
//! this node lacked): a stranger cannot make this node scan its pool
//! without real proof of work, nor more than twice with one block. The rebuilt block is checked on its own right here
//! (stage 1: its entries and their root), off the chain's writer: when it
//! fails (a short id matched the wrong entry, by chance or by a lying
//! sender), the sender is asked for the whole block, as when more than
//! half the entries are missing (then cheaper than the places and the
//! short ids sent again with them); the block as mined is what counts
//! against a sender. Then the checked block goes through the one door,
//! `ChainHandle::submit`, as any other.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use super::chain::{ChainHandle, NodeError};
use super::lock;
use crate::chain::{FromPool, PendingSeen};
use crate::consensus::entry::{Committed, EntryError};
use crate::consensus::header::check_block;
use crate::consensus::{BlockAndBody, BlockHash, CheckedBlock, ValidationError};
use crate::store::{BlockReads, EntryReads};
use crate::wire::compact::{CompactBlock, Filling};

/// Scans of the pool one block may have: its short ids, then again with
/// the entries this node said it lacked.
const SCANS_PER_BLOCK: u8 = 2;

/// Blocks whose scans are remembered, the latest.
const REMEMBERED: usize = 64;

/// What a node's compact blocks share: one pool scan at a time (strangers
/// posting compact blocks queue up instead of each holding a core), and
/// how many scans each recent block had.
pub struct Rebuilds {
    turn: tokio::sync::Semaphore,
    scans: Mutex<VecDeque<(BlockHash, u8)>>,
}

impl Default for Rebuilds {
    fn default() -> Rebuilds {
        Rebuilds {
            turn: tokio::sync::Semaphore::new(1),
            scans: Mutex::new(VecDeque::new()),
        }
    }
}

impl Rebuilds {
    /// Counts a scan for `hash`; false when it had its share.
    fn may_scan(&self, hash: BlockHash) -> bool {
        let mut scans = lock(&self.scans);
        if let Some((_, count)) = scans.iter_mut().find(|(h, _)| *h == hash) {
            if *count >= SCANS_PER_BLOCK {
                return false;
            }
            *count += 1;
            return true;
        }
        if scans.len() == REMEMBERED {
            scans.pop_front();
        }
        scans.push_back((hash, 1));
        true
    }
}

/// What a compact block came to.
#[derive(Debug)]
pub enum Rebuilt {
    /// The block with its entries, checked on its own, ready to submit.
    Block(FromPool),
    /// This node has the block already.
    Known,
    /// This node lacks the block's parent (and reads no pool for it).
    ParentUnknown,
    /// The entries at these places are not in the pool: ask for them.
    Missing(Vec<u32>),
    /// The rebuilt entries do not make a valid block (they miss its root,
    /// most likely): ask for the block.
    Mismatch,
    /// More than half the entries are missing: ask for the block.
    MostlyMissing,
    /// Not a child of this node's tip, or scanned for twice already: ask
    /// for the block (the pool is not read).
    NotScanned,
}

/// Why a compact block was refused before the pool was read.
#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    #[error(
        "a compact block is for blocks whose data commits to their entries (jbc-entries/2); post this one to /v1/blocks"
    )]
    NotCommitted,
    #[error("the block's data: {0}")]
    BadData(EntryError),
    #[error("the block says it has {count} entries, and {short_ids} short ids came")]
    CountMismatch { count: u64, short_ids: usize },
    #[error("{0}")]
    Header(ValidationError),
    #[error(transparent)]
    Node(#[from] NodeError),
}

/// Rebuilds `compact` from what it carries and the pool.
pub async fn rebuild(
    chain: &Arc<ChainHandle>,
    rebuilds: &Rebuilds,
    compact: CompactBlock,
) -> Result<Rebuilt, CompactError> {
    let committed = match Committed::parse(&compact.block.data) {
        None => return Err(CompactError::NotCommitted),
        Some(Err(e)) => return Err(CompactError::BadData(e)),
        Some(Ok(committed)) => committed,
    };
    if committed.count != compact.short_ids.len() as u64 {
        return Err(CompactError::CountMismatch {
            count: committed.count,
            short_ids: compact.short_ids.len(),
        });
    }
    let template = chain.template();
    let on_tip = compact.block.prev_hash == Some(template.prev_hash);
    let target = match on_tip {
        true => template.target,
        false => chain.params().easiest_target(),
    };
    check_block(&compact.block, &target).map_err(CompactError::Header)?;
    let (hash, parent) = (compact.block.hash, compact.block.prev_hash);
    let scan = on_tip && rebuilds.may_scan(hash);
    let mut filling = Filling::new(&compact);
    let params = chain.params().clone();
    let _turn = rebuilds.turn.acquire().await;
    let rebuilt = chain
        .read(move |reader| {
            // One snapshot: the pool as it was at this tip.
            reader.snapshot(|reader| {
                if reader.contains(&hash)? {
                    return Ok(Rebuilt::Known);
                }
                if !parent.map_or(Ok(false), |p| reader.contains(&p))? {
                    return Ok(Rebuilt::ParentUnknown);
                }
                if !scan {
                    return Ok(Rebuilt::NotScanned);
                }
                let forgotten = reader.entries_forgotten()?;
                if filling.wants_more() {
                    reader.for_each_pending_line(|line, row| {
                        filling.offer(line, row);
                        filling.wants_more()
                    })?;
                }
                Ok(match filling.finish() {
                    // Lacking most of them, the whole block costs less than the
                    // short ids sent again beside every missing entry.
                    Err(missing) if missing.len() as u64 * 2 > committed.count => {
                        Rebuilt::MostlyMissing
                    }
                    Err(missing) => Rebuilt::Missing(missing),
                    Ok(filled) => {
                        let block = BlockAndBody {
                            block: compact.block,
                            body: filled.lines,
                        };
                        let seen = PendingSeen {
                            tip: reader.tip()?.hash,
                            rows: filled.tags,
                            forgotten,
                        };
                        match CheckedBlock::new(block, &params) {
                            Ok(block) => Rebuilt::Block(FromPool { block, seen }),
                            Err(_) => Rebuilt::Mismatch,
                        }
                    }
                })
            })
        })
        .await?;
    Ok(rebuilt)
}
