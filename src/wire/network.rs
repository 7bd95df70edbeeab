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
//! `difficulty` takes one of three forms: `{"leading_zeros": N}` (the
//! original's rule), `{"target": "64 hex digits"}` (a fixed target), or a
//! target block time, where the target follows the clock
//! (`consensus::retarget`; all times in milliseconds):
//!
//! ```json
//! "difficulty": {"rule": "asert-median/2", "block_time_ms": 2000, "halflife_ms": 40000,
//!                "max_future_ms": 20000, "initial_target": "0000...", "max_target": "00..."}
//! ```
//!
//! A file without `rule` follows version 1 (`asert-per-block/1`): files
//! written before version 2 existed keep their network, and their id.
//!
//! Unknown fields are refused (a typo must not silently change a rule).
//! This module converts; `consensus::Network::new` checks the genesis.

use serde::{Deserialize, Serialize};

use crate::consensus::retarget::RuleVersion;
use crate::consensus::{
    Commit, Difficulty, DifficultyRule, EntryRules, Network, RetargetRule, Target, ValidationError,
};

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
    difficulty: DifficultyFile,
    entries: EntriesRule,
}

/// The three forms in one object, so that a misspelt field is named in
/// the error (an untagged enum would only say "no form matched").
#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DifficultyFile {
    /// Leading hex zeros a block hash needs, as the original states it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    leading_zeros: Option<u64>,
    /// A fixed target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target: Option<String>,
    /// The retarget rule's version (`consensus::retarget::RuleVersion`);
    /// absent in files written before version 2, which keep version 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    block_time_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    halflife_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_future_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    initial_target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_target: Option<String>,
}

impl DifficultyFile {
    fn of(rule: &DifficultyRule) -> DifficultyFile {
        match (rule, rule.as_leading_zeros()) {
            (_, Some(difficulty)) => DifficultyFile {
                leading_zeros: Some(u64::from(difficulty.zeros())),
                ..DifficultyFile::default()
            },
            (DifficultyRule::Fixed(target), None) => DifficultyFile {
                target: Some(target.to_string()),
                ..DifficultyFile::default()
            },
            (DifficultyRule::Retarget(rule), None) => DifficultyFile {
                rule: match rule.version {
                    RuleVersion::PerBlock1 => None,
                    version => Some(version.name().to_owned()),
                },
                block_time_ms: Some(rule.block_time_ms),
                halflife_ms: Some(rule.halflife_ms),
                max_future_ms: Some(rule.max_future_ms),
                initial_target: Some(rule.initial_target.to_string()),
                max_target: Some(rule.max_target.to_string()),
                ..DifficultyFile::default()
            },
        }
    }

    fn rule(&self) -> Result<DifficultyRule, NetworkFileError> {
        let err = |text: String| NetworkFileError::Difficulty(text);
        let target = |field: &str, text: &Option<String>| -> Result<Target, NetworkFileError> {
            let text = text
                .as_deref()
                .ok_or_else(|| err(format!("difficulty.{field} is missing")))?;
            text.parse()
                .map_err(|e| err(format!("difficulty.{field} is not a target: {e}")))
        };
        let retarget = [
            self.rule.is_some(),
            self.block_time_ms.is_some(),
            self.halflife_ms.is_some(),
            self.max_future_ms.is_some(),
            self.initial_target.is_some(),
            self.max_target.is_some(),
        ];
        let forms = [
            self.leading_zeros.is_some(),
            self.target.is_some(),
            retarget.contains(&true),
        ];
        if forms.iter().filter(|f| **f).count() != 1 {
            return Err(err(
                "difficulty must be one of {\"leading_zeros\": N}, {\"target\": HEX} or a \
                 target block time (rule, block_time_ms, halflife_ms, max_future_ms, \
                 initial_target, max_target)"
                    .into(),
            ));
        }
        if let Some(zeros) = self.leading_zeros {
            let difficulty = Difficulty::new(zeros).map_err(|e| err(e.to_string()))?;
            return Ok(DifficultyRule::leading_zeros(difficulty));
        }
        if self.target.is_some() {
            return Ok(DifficultyRule::Fixed(target("target", &self.target)?));
        }
        let number = |field: &str, value: Option<u64>| {
            value.ok_or_else(|| err(format!("difficulty.{field} is missing")))
        };
        let version = match self.rule.as_deref() {
            None => RuleVersion::PerBlock1,
            Some(name) => RuleVersion::from_name(name).ok_or_else(|| {
                err(format!(
                    "difficulty.rule {name:?} is not a rule this jbc knows ({:?} or {:?})",
                    RuleVersion::Median2.name(),
                    RuleVersion::PerBlock1.name()
                ))
            })?,
        };
        Ok(DifficultyRule::Retarget(RetargetRule {
            version,
            block_time_ms: number("block_time_ms", self.block_time_ms)?,
            halflife_ms: number("halflife_ms", self.halflife_ms)?,
            max_future_ms: number("max_future_ms", self.max_future_ms)?,
            initial_target: target("initial_target", &self.initial_target)?,
            max_target: target("max_target", &self.max_target)?,
        }))
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntriesRule {
    strict: bool,
    max_entry_bytes: usize,
    max_block_data_bytes: usize,
    stamp_bits: u8,
    /// How blocks carry their entries; absent (inline) in files made
    /// before receipts, which keep their meaning and their id.
    #[serde(default, skip_serializing_if = "is_inline")]
    commit: Commit,
}

fn is_inline(commit: &Commit) -> bool {
    *commit == Commit::Inline
}

/// The network as a file, for people to read (pretty JSON).
pub fn to_json(network: &Network) -> String {
    let rules = network.entry_rules();
    let file = File {
        format: FORMAT.to_owned(),
        name: network.name().to_owned(),
        genesis: BlockText::from_block(network.genesis()),
        difficulty: DifficultyFile::of(network.difficulty()),
        entries: EntriesRule {
            strict: rules.strict,
            max_entry_bytes: rules.max_entry_bytes,
            max_block_data_bytes: rules.max_block_data_bytes,
            stamp_bits: rules.stamp_bits,
            commit: rules.commit,
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
    let difficulty = file.difficulty.rule()?;
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
        commit: file.entries.commit,
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

    #[test]
    fn the_retarget_rules_version_is_named_and_a_file_without_it_is_version_1() {
        use crate::consensus::{RetargetRule, retarget::RuleVersion};
        let seed = Network::seed();
        let rule = RetargetRule::new(1000, seed.difficulty().genesis_target());
        assert_eq!(rule.version, RuleVersion::Median2);
        let network = Network::new(
            "v2".into(),
            seed.genesis().clone(),
            DifficultyRule::Retarget(rule),
            EntryRules::ORIGINAL,
        )
        .unwrap();
        let text = to_json(&network);
        assert!(text.contains("\"rule\": \"asert-median/2\""), "{text}");
        assert_eq!(from_json(text.as_bytes()).unwrap(), network);
        // Without the field: version 1, another network (another id).
        let old = text.replace("\"rule\": \"asert-median/2\",", "");
        let old = from_json(old.as_bytes()).unwrap();
        let DifficultyRule::Retarget(old_rule) = old.difficulty() else {
            panic!("a retarget network");
        };
        assert_eq!(old_rule.version, RuleVersion::PerBlock1);
        assert_ne!(old.id(), network.id());
        // Version 1 is written as it was before versions existed, so its
        // file (and id) round-trips unchanged.
        assert!(!to_json(&old).contains("\"rule\""));
        let unknown = text.replace("asert-median/2", "asert-median/9");
        let err = from_json(unknown.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("asert-median/9"), "{err}");
    }
}
