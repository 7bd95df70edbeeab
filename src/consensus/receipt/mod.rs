//! Receipts: a proof, in a small text file, that an entry is in a block of
//! a network and that blocks with a known amount of work were built on
//! it, checked with nothing but the file (no node, no network). The
//! format is `jbc-receipt/1`, specified for independent verifiers in
//! `docs/RECEIPTS.md`:
//!
//! ```text
//! jbc-receipt/1
//! rules jbc-network/1              the network's rules, a line each: its id
//! rules genesis 00000b3f...        is SHA-256 of them joined by newlines
//! rules ...
//! genesis 1764700000000 88123 "jbc devnet"
//! entry {"text":"invoice 2026-117 paid"}
//! leaf 3 of 5000                   the entry's place among the block's
//! path 5b1c...                     and its RFC 6962 path to their root
//! context 0000a3...  1764... ...   (block-time networks) the target and the
//!                                  timestamps before the entry's block
//! prev 00000e1d...                 the hash of the block before it
//! block 412 1764700000123 9912 "jbc-entries/2\nnote ..."
//! block 413 ...                    the blocks after it
//! checksum 9f2c...                 SHA-256 of every byte above
//! ```
//!
//! What checking proves: the rules and genesis are those of the network
//! whose id they hash to; the entry is valid there; it is at its place
//! under the root the first block's data commits to (or, on a network whose
//! blocks carry entries inline, in that data); each block's hash,
//! computed from its fields and the hash before it, meets the target the
//! network's rule gives it; the timestamps keep the rules (after the
//! genesis, not in the verifier's future, past the median where the rule
//! has one). The work of those targets is what the receipt is worth:
//! everything else in it follows from the hashes. The one thing taken on
//! the maker's word is the context of the first block on a block-time
//! network (the target of the block before it and its timestamps); a
//! false context only changes the targets the hashes must meet, so the
//! work counted is still work done. The checksum catches a file damaged by
//! accident, not a forger: against a forger stands the work.
//!
//! This module reads only its arguments (the verifier's clock is one):
//! the file's form is `text.rs`, its check `check.rs`.

mod check;
mod text;

pub use check::{Expectations, Verified};

use super::block::{Block, Height, Nonce, Timestamp};
use super::context::ParentContext;
use super::entry::{BlockEntries, Commit, EntryError};
use super::hash::BlockHash;
use super::merkle::{self, PathError};
use super::network::{IdTextError, Network};
use super::pow::Target;
use super::validate::BlockAndBody;

/// The first line of a receipt.
pub const RECEIPT_FORMAT: &str = "jbc-receipt/1";

/// A receipt bigger than this is not read (one of a block's entries and
/// 100,000 blocks after it is about 8 MB).
pub const MAX_RECEIPT_BYTES: usize = 16 * 1024 * 1024;

/// How far ahead of the verifier's clock a block of a network without a
/// time rule may be dated (the original's networks date blocks by the
/// miner's clock and check nothing).
pub const FIXED_MAX_FUTURE_MS: u64 = 2 * 60 * 60 * 1000;

/// The fields of a header that are not links: the hash is computed, and
/// the previous hash is the block before's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderFields {
    pub index: Height,
    pub timestamp: Timestamp,
    pub nonce: Nonce,
    pub data: String,
}

impl HeaderFields {
    pub fn of(block: &Block) -> HeaderFields {
        HeaderFields {
            index: block.index,
            timestamp: block.timestamp,
            nonce: block.nonce,
            data: block.data.clone(),
        }
    }

    /// The block with these fields after `prev`.
    fn block(&self, prev: Option<BlockHash>) -> Block {
        Block::with_computed_hash(
            self.index,
            prev,
            self.data.clone(),
            self.timestamp,
            self.nonce,
        )
    }
}

/// On a block-time network: the target of the block before the entry's,
/// and the timestamps of up to `WINDOW_SPAN` blocks ending with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeContext {
    pub target: Target,
    pub times: Vec<Timestamp>,
}

/// A receipt, read or to be written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The network's `id_text`.
    pub rules: String,
    pub genesis: HeaderFields,
    /// The entry's canonical line.
    pub entry: String,
    /// Its place among the block's entries, and how many there are.
    pub position: u64,
    pub count: u64,
    /// Its RFC 6962 audit path (empty where blocks carry entries inline).
    pub path: Vec<merkle::Node>,
    pub context: Option<TimeContext>,
    /// The hash of the block before the entry's block.
    pub prev: BlockHash,
    /// The entry's block, then the blocks after it.
    pub blocks: Vec<HeaderFields>,
}

/// Why a receipt does not prove what it says. Each names what failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReceiptError {
    #[error("line {line} of the receipt: {problem}")]
    Malformed { line: usize, problem: String },
    #[error(
        "this is not a receipt this program reads: its first line is {0:?}, not {RECEIPT_FORMAT}"
    )]
    Version(String),
    #[error(
        "the receipt was changed after it was made: its bytes hash to {computed}, its checksum line says {stated}"
    )]
    Checksum { stated: String, computed: String },
    #[error("the network rules it carries: {0}")]
    Rules(IdTextError),
    #[error("its entry is not valid on this network: {0}")]
    Entry(EntryError),
    #[error("it has no block: the entry's block is missing")]
    NoBlocks,
    #[error("the entry's block cannot be the genesis block")]
    GenesisBlock,
    #[error("it says the block has {stated} entries, but the block's data commits to {committed}")]
    CountMismatch { stated: u64, committed: u64 },
    #[error(
        "the entry, its place or its path was changed: they lead to the root {computed}, but block {index} commits to {committed}"
    )]
    NotCommitted {
        index: Height,
        computed: String,
        committed: String,
    },
    #[error("the entry's path: {0}")]
    Path(PathError),
    #[error(
        "block {index} does not commit to entries by a Merkle root (its data is not jbc-entries/2)"
    )]
    NoRoot { index: Height },
    #[error("block {index}: its entries break the network's rules: {error}")]
    BlockEntries { index: Height, error: EntryError },
    #[error("entry {position} of block {index}'s data is not this entry")]
    NotInData { index: Height, position: u64 },
    #[error("this network's blocks carry their entries in their data: a path means nothing here")]
    PathOnInline,
    #[error(
        "block {found} follows block {after} in the receipt: the blocks between them are missing"
    )]
    Gap { after: Height, found: Height },
    #[error(
        "block {index}: its hash {hash} does not meet its target {target}: one of its fields was changed, or it does not follow the block before it"
    )]
    AboveTarget {
        index: Height,
        hash: BlockHash,
        target: Target,
    },
    #[error(
        "block {index}: its timestamp {timestamp} is not after {median}, the median of the 11 before it (was a digit moved between timestamp and nonce?)"
    )]
    TooEarly {
        index: Height,
        timestamp: Timestamp,
        median: Timestamp,
    },
    #[error(
        "block {index}: its timestamp {timestamp} is before the genesis block's, {genesis} (was a digit moved between timestamp and nonce?)"
    )]
    BeforeGenesis {
        index: Height,
        timestamp: Timestamp,
        genesis: Timestamp,
    },
    #[error(
        "block {index}: its timestamp {timestamp} is in the future of this computer's clock ({now}) (was a digit moved between timestamp and nonce?)"
    )]
    InTheFuture {
        index: Height,
        timestamp: Timestamp,
        now: Timestamp,
    },
    #[error("this network's targets follow the clock: a context line is needed")]
    MissingContext,
    #[error("this network's target is fixed: a context line means nothing here")]
    UnexpectedContext,
    #[error("the context's target {target} is easier than the network allows ({max})")]
    ContextTarget { target: Target, max: Target },
    #[error("the receipt's entry is {found}, not {given}")]
    OtherEntry { given: String, found: String },
    #[error("the receipt is for a block of network {found}, not of network {expected}")]
    OtherNetwork {
        expected: BlockHash,
        found: BlockHash,
    },
    #[error("block {0} is not among the receipt's blocks (nor the one before them)")]
    NoCheckpoint(BlockHash),
    #[error(
        "the receipt's blocks prove about {work} hashes of work, less than the {min} asked for"
    )]
    TooLittleWork { work: f64, min: f64 },
}
impl Receipt {
    /// The receipt of the entry at `position` among the entries of
    /// `block` (beside it, or in its data), whose parent's context is
    /// `context`, with the blocks `after` it. `None` when there is no
    /// entry at `position`.
    pub fn make(
        network: &Network,
        block: &BlockAndBody,
        position: usize,
        context: &ParentContext,
        after: &[Block],
    ) -> Option<Receipt> {
        let header = &block.block;
        let (entry, count, path) = match network.entry_rules().commit {
            Commit::Merkle => {
                let path = merkle::path(&merkle::leaves_of(&block.body), position)?;
                (block.body[position].clone(), block.body.len(), path)
            }
            Commit::Inline => {
                BlockEntries::parse(&header.data)?.ok()?;
                let lines: Vec<&str> = header.data.split('\n').skip(2).collect();
                (lines.get(position)?.to_string(), lines.len(), Vec::new())
            }
        };
        Some(Receipt {
            rules: network.id_text(),
            genesis: HeaderFields::of(network.genesis()),
            entry,
            position: position as u64,
            count: count as u64,
            path,
            context: network.retarget().map(|_| TimeContext {
                target: context.target,
                times: context.times.to_vec(),
            }),
            prev: header.prev_hash?,
            blocks: std::iter::once(header)
                .chain(after)
                .map(HeaderFields::of)
                .collect(),
        })
    }
}
