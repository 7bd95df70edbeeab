//! Where a block goes in a chain: its parent (`ParentLink`), and what the
//! rules need of the chain before it (`ParentContext`: the parent's target
//! and the latest timestamps). Made for the genesis block's children and
//! carried from parent to child by `validate` (`ParentContext::after`);
//! read back from the store for a parent it has.

use super::block::{Block, Height};
use super::hash::BlockHash;
use super::pow::Target;
use super::retarget::TimeWindow;

/// Where a block's parent is: what linking to it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParentLink {
    pub index: Height,
    pub hash: BlockHash,
}

impl From<&Block> for ParentLink {
    fn from(block: &Block) -> ParentLink {
        ParentLink {
            index: block.index,
            hash: block.hash,
        }
    }
}

/// What stage 2 needs to know of a block's parent and the chain before
/// it: where the parent is, the parent's own target, and (on a network
/// with a target block time) the timestamps of the parent and up to eleven
/// blocks before it (the median of 11 now, and the one before).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParentContext {
    pub link: ParentLink,
    pub target: Target,
    pub times: TimeWindow,
}

impl ParentContext {
    /// The context of a child of `block` (this context's child), which met
    /// `target`: the link moves to it and, where times are kept, its
    /// timestamp joins them.
    pub fn after(&self, block: &Block, target: Target) -> ParentContext {
        let mut times = self.times;
        if !times.is_empty() {
            times.push(block.timestamp);
        }
        ParentContext {
            link: block.into(),
            target,
            times,
        }
    }
}
