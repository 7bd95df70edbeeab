//! The one error of the rules: `ValidationError`, what a block broke,
//! naming the block and the values. Each stage of `validate` (and the
//! header check of `header`) returns it; `blames_sender` says whether the
//! sender broke a rule or the block may be fine later.

use super::block::{Height, Timestamp};
use super::entry::{EntryError, EntryId};
use super::hash::BlockHash;
use super::pow::Target;
use super::retarget::RetargetRuleError;

/// A rule a block broke. The messages name the block and the values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("block {index}: stated hash {stated} is not the hash of its header ({computed})")]
    HashMismatch {
        index: Height,
        stated: BlockHash,
        computed: BlockHash,
    },
    #[error("block {index}: hash {hash} does not meet the target {target}")]
    InsufficientWork {
        index: Height,
        hash: BlockHash,
        target: Target,
    },
    #[error("block {index}: prev_hash is empty, which only a genesis block (index 0) may have")]
    MissingPrevHash { index: Height },
    #[error("block 0 must be a genesis block with an empty prev_hash, found prev_hash {prev_hash}")]
    GenesisWithPrevHash { prev_hash: BlockHash },
    #[error("block {hash}: index is {found}, expected {expected} (one more than its parent)")]
    WrongIndex {
        hash: BlockHash,
        expected: Height,
        found: Height,
    },
    #[error("block {index}: prev_hash is {found}, expected the parent's hash {expected}")]
    WrongPrevHash {
        index: Height,
        expected: BlockHash,
        found: BlockHash,
    },
    #[error("genesis block {found} is not this network's genesis {expected}")]
    WrongGenesis {
        expected: BlockHash,
        found: BlockHash,
    },
    #[error("a chain needs at least its genesis block; this one is empty")]
    EmptyChain,
    #[error("block {index}: its entries break this network's rules: {error}")]
    BadEntries { index: Height, error: EntryError },
    /// Not the sender's fault: an original node passes on a block without
    /// the entries beside it (see `blames_sender`).
    #[error(
        "block {index} ({hash}) commits to {count} entries that did not come with it; a jbc node that has them can send them"
    )]
    MissingEntries {
        index: Height,
        hash: BlockHash,
        count: u64,
    },
    #[error("block {index}: entry {id} is already confirmed on this chain")]
    EntryConfirmedTwice { index: Height, id: EntryId },
    #[error("block {hash} is known to be invalid, or builds on one that is")]
    KnownInvalid { hash: BlockHash },
    #[error(
        "block {index}: timestamp {timestamp} is not after {median}, the median of the 11 blocks before it"
    )]
    TimestampTooEarly {
        index: Height,
        timestamp: Timestamp,
        median: Timestamp,
    },
    /// Not the sender's fault: the block may be fine once our clock
    /// catches up (see `blames_sender`).
    #[error(
        "block {index} ({hash}): its timestamp is {ahead_ms} ms ahead of this node's clock, more than the {max_future_ms} ms allowed; it may be accepted later"
    )]
    TooFarInFuture {
        index: Height,
        hash: BlockHash,
        ahead_ms: u64,
        max_future_ms: u64,
    },
    #[error(
        "a network whose blocks commit to their entries by a Merkle root must check entries strictly"
    )]
    LaxCommitted,
    #[error("the network's retarget rule is unusable: {0}")]
    BadRule(RetargetRuleError),
}

impl ValidationError {
    /// True when whoever sent the block broke a rule. A block from the
    /// future did not (yet): the sender's clock may just run ahead of
    /// ours, or the block be early by a moment. Nor did a block sent
    /// without its entries: it may be valid with them.
    pub fn blames_sender(&self) -> bool {
        !matches!(
            self,
            ValidationError::TooFarInFuture { .. } | ValidationError::MissingEntries { .. }
        )
    }
}
