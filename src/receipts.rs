//! A receipt of an entry made from what the store holds: the entry's block
//! on the main chain, its body (or data), the context of its parent, and
//! the main-chain blocks after it. The format and its check are
//! `consensus::receipt`; `GET /v1/entries/{id}/proof` and `jbc proof`
//! come here. One snapshot of the store: a block that arrives meanwhile
//! cannot put two chains in one receipt.

use crate::consensus::entry::COMMITTED_FORMAT_LINE;
use crate::consensus::receipt::Receipt;
use crate::consensus::{BlockAndBody, EntryId, Height, Network};
use crate::store::{BlockReads, EntryReads, EntryStatus, StoreError, StoreReader};

/// Most blocks after the entry's that a receipt carries when no number is
/// asked for (also the most that can be asked for).
pub const DEFAULT_BLOCKS_AFTER: u64 = 1000;
/// Most blocks after the entry's a receipt carries: whoever reaches the
/// port may ask for one, so what it makes us read and hold is bounded.
pub const MAX_BLOCKS_AFTER: u64 = 1000;
/// Most bytes of block data in the blocks after the entry's: a receipt
/// stops before the block that would pass this (blocks of a busy inline
/// network can each hold up to the network's data limit).
pub const MAX_DATA_BYTES_AFTER: usize = 1 << 20;

/// Why no receipt was made.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    #[error("no entry {0} here: neither pending nor confirmed on the main chain")]
    Unknown(EntryId),
    #[error(
        "entry {0} is pending: a receipt needs the block that confirms it; ask again once it is confirmed"
    )]
    Pending(EntryId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The receipt of entry `id` with up to `after` blocks after its block
/// (fewer when the main chain has fewer).
pub fn make(
    reader: &StoreReader,
    network: &Network,
    id: &EntryId,
    after: u64,
) -> Result<Receipt, ReceiptError> {
    reader.snapshot(|r| Ok(make_in(r, network, id, after)))?
}

fn make_in(
    reader: &StoreReader,
    network: &Network,
    id: &EntryId,
    after: u64,
) -> Result<Receipt, ReceiptError> {
    let record = reader.entry(id)?.ok_or(ReceiptError::Unknown(*id))?;
    let (index, hash) = match record.status {
        EntryStatus::Confirmed { index, hash } => (index, hash),
        EntryStatus::Pending => return Err(ReceiptError::Pending(*id)),
        EntryStatus::Evicted { .. } => return Err(ReceiptError::Unknown(*id)),
    };
    let corrupt = |what: String| ReceiptError::Store(StoreError::Corrupt(what));
    let block = reader
        .block(&hash)?
        .ok_or_else(|| corrupt(format!("the main chain's block {hash} is missing")))?
        .block;
    let position = reader
        .entry_position(id, &hash)?
        .ok_or_else(|| corrupt(format!("block {hash} does not carry entry {id}")))?;
    let prev = block
        .prev_hash
        .ok_or_else(|| corrupt(format!("entry {id} is in the genesis block")))?;
    let (context, _) = reader
        .parent_context(&prev, network)?
        .ok_or_else(|| corrupt(format!("the parent {prev} of block {hash} is missing")))?;
    let body = match block.data.starts_with(COMMITTED_FORMAT_LINE) {
        true => reader.block_body(&hash)?,
        false => Vec::new(),
    };
    let after = after.min(MAX_BLOCKS_AFTER) as usize;
    // Read a few blocks at a time, so that no more than the budget is
    // ever read in.
    let mut blocks_after = Vec::new();
    let mut data_bytes = 0;
    'reading: while blocks_after.len() < after {
        let from = Height(index.0 + 1 + blocks_after.len() as u64);
        let chunk = reader.main_blocks(from, (after - blocks_after.len()).min(32))?;
        if chunk.is_empty() {
            break;
        }
        for block in chunk {
            data_bytes += block.data.len();
            if data_bytes > MAX_DATA_BYTES_AFTER {
                break 'reading;
            }
            blocks_after.push(block);
        }
    }
    let block = BlockAndBody { block, body };
    Receipt::make(network, &block, position as usize, &context, &blocks_after)
        .ok_or_else(|| corrupt(format!("block {hash} has no entry at {position}")))
}
