//! Network parameters: the pinned genesis block and the difficulty.
//!
//! Two nodes are on the same network when they agree on both. A chain whose
//! first block differs from the genesis here is rejected, and the store
//! refuses to open a data directory made with other parameters. The default
//! is the seed article's network: its block 0 at 5 leading zeros.

use super::block::{Block, Height, Nonce, Timestamp};
use super::hash::BlockHash;
use super::pow::{Difficulty, Target, Work};
use super::validate::{ValidationError, check_block};

/// The seed article's block 0.
pub const SEED_GENESIS_DATA: &str = "First block data";
pub const SEED_GENESIS_TIMESTAMP: u128 = 1508895381;
pub const SEED_GENESIS_NONCE: u64 = 631412;
pub const SEED_GENESIS_HASH: &str =
    "000002f9c703dc80340c08462a0d6acdac9d0e10eb4190f6e57af6bb0850d03c";
/// The seed's `NUM_ZEROS`.
pub const SEED_DIFFICULTY: Difficulty = Difficulty::const_new(5);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    genesis: Block,
    difficulty: Difficulty,
    target: Target,
    block_work: Work,
}

impl Params {
    /// Checks that `genesis` is a genesis block (index 0, no parent) whose
    /// hash is right and meets the difficulty: the original never checked
    /// genesis proof of work; we do.
    pub fn new(genesis: Block, difficulty: Difficulty) -> Result<Params, ValidationError> {
        let target = difficulty.target();
        if genesis.index != Height(0) {
            return Err(ValidationError::WrongIndex {
                hash: genesis.hash,
                expected: Height(0),
                found: genesis.index,
            });
        }
        check_block(&genesis, &target)?;
        Ok(Params {
            genesis,
            difficulty,
            target,
            block_work: target.work(),
        })
    }

    /// The seed's network: block 0 of the article at 5 leading zeros.
    pub fn seed() -> Params {
        Params::new(seed_genesis(), SEED_DIFFICULTY)
            .expect("the seed's genesis meets the seed's difficulty (tested)")
    }

    pub fn genesis(&self) -> &Block {
        &self.genesis
    }

    pub fn genesis_hash(&self) -> BlockHash {
        self.genesis.hash
    }

    pub fn difficulty(&self) -> Difficulty {
        self.difficulty
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The work every block of this network proves (one difficulty for all).
    pub fn block_work(&self) -> Work {
        self.block_work
    }
}

/// The seed article's block 0, built from its fields.
pub fn seed_genesis() -> Block {
    Block::with_computed_hash(
        Height(0),
        None,
        SEED_GENESIS_DATA.to_owned(),
        Timestamp(SEED_GENESIS_TIMESTAMP),
        Nonce(SEED_GENESIS_NONCE),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_params_are_consistent() {
        let params = Params::seed();
        assert_eq!(params.genesis_hash().to_string(), SEED_GENESIS_HASH);
        let checked = Params::new(seed_genesis(), Difficulty::new(5).unwrap()).unwrap();
        assert_eq!(checked, params);
        assert_eq!(params.block_work().to_string(), "1048576");
    }

    #[test]
    fn genesis_must_meet_the_difficulty() {
        // The seed's genesis has exactly 5 zeros: not enough for 6.
        let err = Params::new(seed_genesis(), Difficulty::new(6).unwrap()).unwrap_err();
        assert!(matches!(err, ValidationError::InsufficientWork { .. }));
        let mut not_zero = seed_genesis();
        not_zero.index = Height(1);
        assert!(matches!(
            Params::new(not_zero, Difficulty::new(1).unwrap()),
            Err(ValidationError::WrongIndex { .. })
        ));
    }
}
