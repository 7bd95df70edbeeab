//! The network file: a network's genesis block and rules as JSON, in the
//! spirit of geth's `genesis.json`. `jbc network new` writes one; every
//! node of the network is given it (`--network FILE`), and a data
//! directory keeps a copy in its store, so later commands need no flags.
//!
//! ```json
//! {
//!   "format": "jbc-network/1",
//!   "name": "our team chain",
//!   "genesis": {"nonce": "...", "index": "0", "hash": "...", "timestamp": "...", "prev_hash": "", "data": "..."},
//!   "difficulty": {"leading_zeros": 4},
//!   "entries": {"strict": true, "max_entry_bytes": 4096, "max_block_data_bytes": 262144, "stamp_bits": 0}
//! }
//! ```
//!
//! Unknown fields are refused (a typo must not silently change a rule).
//! This module converts; `consensus::Network::new` checks the genesis.

use serde::{Deserialize, Serialize};

use crate::consensus::{Difficulty, EntryRules, Network, ValidationError};

use super::{BlockText, WireError};

/// The `format` of a network file this version reads and writes.
pub const FORMAT: &str = "jbc-network/1";

#[derive(Debug, thiserror::Error)]
pub enum NetworkFileError {
    #[error("not a network file: {0}")]
    Json(String),
    #[error("the format is {0:?}; this jbc reads {FORMAT:?}")]
    Format(String),
    #[error("its genesis is not a block: {0}")]
    Genesis(WireError),
    #[error("{0}")]
    Difficulty(String),
    #[error("its genesis is not valid for its rules: {0}")]
    Invalid(ValidationError),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File<'a> {
    format: String,
    #[serde(default)]
    name: String,
    #[serde(borrow)]
    genesis: BlockText<'a>,
    difficulty: DifficultyRule,
    entries: EntriesRule,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DifficultyRule {
    /// Leading hex zeros a block hash needs, as the original states it.
    leading_zeros: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntriesRule {
    strict: bool,
    max_entry_bytes: usize,
    max_block_data_bytes: usize,
    stamp_bits: u8,
}

/// The network as a file, for people to read (pretty JSON).
pub fn to_json(network: &Network) -> String {
    let rules = network.entry_rules();
    let file = File {
        format: FORMAT.to_owned(),
        name: network.name().to_owned(),
        genesis: BlockText::from_block(network.genesis()),
        difficulty: DifficultyRule {
            leading_zeros: u64::from(network.difficulty().zeros()),
        },
        entries: EntriesRule {
            strict: rules.strict,
            max_entry_bytes: rules.max_entry_bytes,
            max_block_data_bytes: rules.max_block_data_bytes,
            stamp_bits: rules.stamp_bits,
        },
    };
    let mut text = serde_json::to_string_pretty(&file).expect("a network serializes");
    text.push('\n');
    text
}

/// Reads a network file and checks its genesis against its rules.
pub fn from_json(bytes: &[u8]) -> Result<Network, NetworkFileError> {
    let file: File<'_> =
        serde_json::from_slice(bytes).map_err(|e| NetworkFileError::Json(e.to_string()))?;
    if file.format != FORMAT {
        return Err(NetworkFileError::Format(file.format));
    }
    let genesis = file.genesis.to_block().map_err(NetworkFileError::Genesis)?;
    let difficulty = Difficulty::new(file.difficulty.leading_zeros)
        .map_err(|e| NetworkFileError::Difficulty(e.to_string()))?;
    if file.entries.stamp_bits > 64 {
        return Err(NetworkFileError::Difficulty(format!(
            "entries.stamp_bits is {}, more than 64",
            file.entries.stamp_bits
        )));
    }
    let rules = EntryRules {
        strict: file.entries.strict,
        max_entry_bytes: file.entries.max_entry_bytes,
        max_block_data_bytes: file.entries.max_block_data_bytes,
        stamp_bits: file.entries.stamp_bits,
    };
    Network::new(file.name, genesis, difficulty, rules).map_err(NetworkFileError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_network_file_round_trips_and_names_its_mistakes() {
        let seed = Network::seed();
        let text = to_json(&seed);
        let back = from_json(text.as_bytes()).unwrap();
        assert_eq!(back, seed);
        assert_eq!(back.id(), seed.id());
        let typo = text.replace("\"stamp_bits\"", "\"stamp_bitz\"");
        let err = from_json(typo.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("stamp_bitz"), "{err}");
        let harder = text.replace("\"leading_zeros\": 5", "\"leading_zeros\": 6");
        assert!(matches!(
            from_json(harder.as_bytes()),
            Err(NetworkFileError::Invalid(_))
        ));
        let future = text.replace("jbc-network/1", "jbc-network/9");
        assert!(matches!(
            from_json(future.as_bytes()),
            Err(NetworkFileError::Format(_))
        ));
    }
}
