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
//! - `error`: `ValidationError`, the rule a block broke.
//! - `header`: stage 1, a block's header on its own.
//! - `context`: a block's place in a chain (`ParentContext`).
//! - `validate`: block against parent, whole chain (and stage 1 with the
//!   block's entries: `CheckedBlock`).
//! - `chain`: a whole chain in memory, ordered by work.

pub mod block;
pub mod chain;
pub mod context;
pub mod entry;
pub mod error;
pub mod hash;
pub mod header;
pub mod merkle;
pub mod network;
pub mod pow;
pub mod receipt;
pub mod retarget;
#[cfg(test)]
pub(crate) mod test_vectors;
pub mod validate;

pub use block::{Block, Height, Nonce, Timestamp};
pub use chain::Chain;
pub use context::{ParentContext, ParentLink};
pub use entry::{Commit, Entry, EntryId, EntryRules};
pub use error::ValidationError;
pub use hash::{BlockHash, HashParseError};
pub use network::{DifficultyRule, Network, Template};
pub use pow::{Difficulty, DifficultyError, Target, Work};
pub use retarget::{RetargetRule, TimeWindow};
pub use validate::{
    BlockAndBody, ChainChecker, ChainValidationError, CheckedBlock, IntoChecked, ValidatedBlock,
};
