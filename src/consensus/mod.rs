//! The consensus core: what a block is, what makes it valid, and how chains
//! compare. Pure: no I/O, no clock, no database, no network, no async. Every
//! function here is a function of its arguments, so the rules can be tested
//! against the spec's vectors alone. CI checks that this directory never
//! mentions the crates or `std` modules that would break that.
//!
//! - `hash`: `BlockHash`, hex only at the edges.
//! - `block`: `Block`, the canonical header string and its hash.
//! - `pow`: `Difficulty`, `Target`, `Work`.
//! - `network`: the network: genesis, difficulty rule, entry rules.
//! - `retarget`: the rule of networks with a target block time, and the
//!   time rules it needs.
//! - `entry`: entries, and the block data format that carries them.
//! - `validate`: block alone, block against parent, whole chain.
//! - `chain`: a whole chain in memory, ordered by work.

pub mod block;
pub mod chain;
pub mod entry;
pub mod hash;
pub mod network;
pub mod pow;
pub mod retarget;
#[cfg(test)]
pub(crate) mod test_vectors;
pub mod validate;

pub use block::{Block, Height, Nonce, Timestamp};
pub use chain::Chain;
pub use entry::{Entry, EntryId, EntryRules};
pub use hash::{BlockHash, HashParseError};
pub use network::{DifficultyRule, Network, Template};
pub use pow::{Difficulty, DifficultyError, Target, Work};
pub use retarget::{RetargetRule, TimeWindow};
pub use validate::{
    ChainChecker, ChainValidationError, CheckedBlock, IntoChecked, ParentContext, ParentLink,
    ValidatedBlock, ValidationError,
};
