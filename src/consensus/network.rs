//! The network: its genesis block and its rules (the difficulty, and what
//! entries may be). Two nodes are on the same network when they agree on
//! all of it, which `Network::id` sums up in one hash. A chain whose first
//! block differs from the genesis here is rejected, and the store refuses
//! to open a data directory made for another network.
//!
//! The article's network is built in (`Network::seed`): its block 0 at 5
//! leading zeros, with the original's rules exactly (`EntryRules::ORIGINAL`:
//! a block is valid by the original rules alone). Networks made with
//! `jbc network new` check entries strictly. The network file that
//! describes one lives in `crate::wire::network`.

use super::block::{Block, Height, Nonce, Timestamp};
use super::entry::EntryRules;
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
pub struct Network {
    /// A label for people; not part of the network's identity.
    name: String,
    genesis: Block,
    difficulty: Difficulty,
    target: Target,
    block_work: Work,
    entries: EntryRules,
}

impl Network {
    /// Checks that `genesis` is a genesis block (index 0, no parent) whose
    /// hash is right and meets the difficulty: the original never checked
    /// genesis proof of work; we do.
    pub fn new(
        name: String,
        genesis: Block,
        difficulty: Difficulty,
        entries: EntryRules,
    ) -> Result<Network, ValidationError> {
        let target = difficulty.target();
        if genesis.index != Height(0) {
            return Err(ValidationError::WrongIndex {
                hash: genesis.hash,
                expected: Height(0),
                found: genesis.index,
            });
        }
        check_block(&genesis, &target)?;
        Ok(Network {
            name,
            genesis,
            difficulty,
            target,
            block_work: target.work(),
            entries,
        })
    }

    /// A network with the original's rules: a genesis and a difficulty (what
    /// `--genesis` and `--difficulty` describe).
    pub fn original(genesis: Block, difficulty: Difficulty) -> Result<Network, ValidationError> {
        Network::new(String::new(), genesis, difficulty, EntryRules::ORIGINAL)
    }

    /// The seed's network: block 0 of the article at 5 leading zeros.
    pub fn seed() -> Network {
        Network::original(seed_genesis(), SEED_DIFFICULTY)
            .expect("the seed's genesis meets the seed's difficulty (tested)")
    }

    /// One hash for everything two nodes must agree on: the genesis and
    /// every rule (not the name).
    pub fn id(&self) -> BlockHash {
        let rules = &self.entries;
        BlockHash::of(
            format!(
                "jbc-network/1\ngenesis {}\nleading_zeros {}\nstrict {}\nmax_entry_bytes {}\nmax_block_data_bytes {}\nstamp_bits {}",
                self.genesis.hash,
                self.difficulty.zeros(),
                rules.strict,
                rules.max_entry_bytes,
                rules.max_block_data_bytes,
                rules.stamp_bits
            )
            .as_bytes(),
        )
    }

    pub fn name(&self) -> &str {
        &self.name
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

    pub fn entry_rules(&self) -> &EntryRules {
        &self.entries
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
        let params = Network::seed();
        assert_eq!(params.genesis_hash().to_string(), SEED_GENESIS_HASH);
        let checked = Network::original(seed_genesis(), Difficulty::new(5).unwrap()).unwrap();
        assert_eq!(checked, params);
        assert_eq!(params.block_work().to_string(), "1048576");
        assert!(!params.entry_rules().strict);
        // The id covers the rules, not the name.
        let strict = EntryRules {
            strict: true,
            ..EntryRules::ORIGINAL
        };
        let other = Network::new("x".into(), seed_genesis(), SEED_DIFFICULTY, strict).unwrap();
        assert_ne!(other.id(), params.id());
        let renamed = Network::new("y".into(), seed_genesis(), SEED_DIFFICULTY, strict).unwrap();
        assert_eq!(renamed.id(), other.id());
    }

    #[test]
    fn genesis_must_meet_the_difficulty() {
        // The seed's genesis has exactly 5 zeros: not enough for 6.
        let err = Network::original(seed_genesis(), Difficulty::new(6).unwrap()).unwrap_err();
        assert!(matches!(err, ValidationError::InsufficientWork { .. }));
        let mut not_zero = seed_genesis();
        not_zero.index = Height(1);
        assert!(matches!(
            Network::original(not_zero, Difficulty::new(1).unwrap()),
            Err(ValidationError::WrongIndex { .. })
        ));
    }
}
