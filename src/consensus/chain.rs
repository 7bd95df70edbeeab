//! `Chain`: a whole chain held in memory, as the original's `Chain` class.
//!
//! Used where a chain arrives whole (an original peer's `/blockchain.json`)
//! and in the seed's tests: the original's model, on a network of fixed
//! difficulty. Chains compare by length; there every block proves the same
//! work, so that is most work, the original's "longer is better" (`work`
//! gives the exact figure on any network).
//! Equal-work chains with different blocks are not ordered: neither is
//! better, and the node keeps the one it saw first. The running node does
//! not keep its chain in memory; see `crate::chain` for that.

use std::cmp::Ordering;

use super::block::Block;
use super::network::Network;
use super::pow::Work;
use super::validate::{ChainChecker, ChainValidationError, check_chain};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Chain {
    blocks: Vec<Block>,
}

impl Chain {
    pub fn new(blocks: Vec<Block>) -> Chain {
        Chain { blocks }
    }

    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Appends without checking, as the original's `add_block`; call
    /// `validate` before trusting the result.
    pub fn add_block(&mut self, block: Block) {
        self.blocks.push(block);
    }

    pub fn tip(&self) -> Option<&Block> {
        self.blocks.last()
    }

    pub fn validate(&self, params: &Network) -> Result<(), ChainValidationError> {
        check_chain(&self.blocks, params)
    }

    /// Total work of the chain on `network`, when it is valid there.
    pub fn work(&self, network: &Network) -> Result<Work, ChainValidationError> {
        let mut checker = ChainChecker::from_genesis(network);
        for block in &self.blocks {
            checker.check(block.clone())?;
        }
        Ok(checker.work())
    }
}

impl PartialOrd for Chain {
    fn partial_cmp(&self, other: &Chain) -> Option<Ordering> {
        match self.blocks.len().cmp(&other.blocks.len()) {
            Ordering::Equal if self == other => Some(Ordering::Equal),
            Ordering::Equal => None,
            unequal => Some(unequal),
        }
    }
}
