//! The network: its genesis block and its rules (the difficulty rule:
//! fixed, or following the clock; and what entries may be). Two nodes are on the same network when they agree on
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
use super::context::ParentContext;
use super::entry::{Commit, EntryRules};
use super::error::ValidationError;
use super::hash::BlockHash;
use super::header::check_block;
use super::pow::{Difficulty, Target, Work};
use super::retarget::{RetargetRule, RuleVersion};

/// The seed article's block 0.
pub const SEED_GENESIS_DATA: &str = "First block data";
pub const SEED_GENESIS_TIMESTAMP: u128 = 1508895381;
pub const SEED_GENESIS_NONCE: u64 = 631412;
pub const SEED_GENESIS_HASH: &str =
    "000002f9c703dc80340c08462a0d6acdac9d0e10eb4190f6e57af6bb0850d03c";
/// The seed's `NUM_ZEROS`.
pub const SEED_DIFFICULTY: Difficulty = Difficulty::const_new(5);

/// How hard a block must be: the network's difficulty rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DifficultyRule {
    /// Every block meets one target: the original's rule (its network
    /// states it as leading hex zeros). Timestamps are the original's,
    /// Unix seconds, with no rule on them.
    Fixed(Target),
    /// The target follows the clock (`retarget`): timestamps are Unix
    /// milliseconds, and the time rules apply.
    Retarget(RetargetRule),
}

impl DifficultyRule {
    /// The original's rule at `difficulty` leading zeros.
    pub fn leading_zeros(difficulty: Difficulty) -> DifficultyRule {
        DifficultyRule::Fixed(difficulty.target())
    }

    /// The genesis block's target (and block 1's).
    pub fn genesis_target(&self) -> Target {
        match self {
            DifficultyRule::Fixed(target) => *target,
            DifficultyRule::Retarget(rule) => rule.initial_target,
        }
    }

    /// The easiest target any block can have: what a block alone is
    /// checked against before its parent is known.
    pub fn easiest_target(&self) -> Target {
        match self {
            DifficultyRule::Fixed(target) => *target,
            DifficultyRule::Retarget(rule) => rule.max_target,
        }
    }

    /// The fixed target as leading hex zeros, when it is exactly that.
    pub fn as_leading_zeros(&self) -> Option<Difficulty> {
        let DifficultyRule::Fixed(target) = self else {
            return None;
        };
        let zeros = BlockHash::from_bytes(target.to_be_bytes()).leading_zero_digits();
        let difficulty = Difficulty::new(u64::from(zeros)).expect("at most 64 hex digits");
        (difficulty.target() == *target).then_some(difficulty)
    }

    /// How many leading hex zeros the genesis target has: the original's
    /// way to say how hard a network is, shown to people and peers.
    pub fn zeros(&self) -> u8 {
        let target = self.genesis_target().to_be_bytes();
        BlockHash::from_bytes(target).leading_zero_digits() as u8
    }

    /// The rule as the lines `Network::id` hashes.
    fn id_lines(&self) -> String {
        match (self, self.as_leading_zeros()) {
            // The form every network had before other rules existed, so
            // their ids did not change.
            (_, Some(difficulty)) => format!("leading_zeros {}", difficulty.zeros()),
            (DifficultyRule::Fixed(target), None) => format!("target {target}"),
            (DifficultyRule::Retarget(rule), None) => format!(
                "retarget {}\nblock_time_ms {}\nhalflife_ms {}\ninitial_target {}\nmax_target {}\nmax_future_ms {}",
                rule.version,
                rule.block_time_ms,
                rule.halflife_ms,
                rule.initial_target,
                rule.max_target,
                rule.max_future_ms
            ),
        }
    }
}

/// For people: "5 leading zeros", "target 0000...", "a block every 2000
/// ms (...)".
impl std::fmt::Display for DifficultyRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self, self.as_leading_zeros()) {
            (_, Some(difficulty)) => write!(f, "{difficulty}"),
            (DifficultyRule::Fixed(target), None) => write!(f, "target {target}"),
            (DifficultyRule::Retarget(rule), None) => write!(
                f,
                "a block every {} ms ({}, half-life {} ms, starting at target {})",
                rule.block_time_ms, rule.version, rule.halflife_ms, rule.initial_target
            ),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Network {
    /// A label for people; not part of the network's identity.
    name: String,
    genesis: Block,
    difficulty: DifficultyRule,
    /// The work of a block at the genesis target: every block's on a
    /// fixed network, so computed once.
    genesis_work: Work,
    entries: EntryRules,
}

impl Network {
    /// Checks that `genesis` is a genesis block (index 0, no parent) whose
    /// hash is right and meets the genesis target (the original never
    /// checked genesis proof of work; we do), and that the rule is sound.
    pub fn new(
        name: String,
        genesis: Block,
        difficulty: DifficultyRule,
        entries: EntryRules,
    ) -> Result<Network, ValidationError> {
        if let DifficultyRule::Retarget(rule) = &difficulty {
            rule.check().map_err(ValidationError::BadRule)?;
        }
        let target = difficulty.genesis_target();
        if genesis.index != Height(0) {
            return Err(ValidationError::WrongIndex {
                hash: genesis.hash,
                expected: Height(0),
                found: genesis.index,
            });
        }
        check_block(&genesis, &target)?;
        if entries.commit == Commit::Merkle && !entries.strict {
            return Err(ValidationError::LaxCommitted);
        }
        Ok(Network {
            name,
            genesis,
            difficulty,
            genesis_work: target.work(),
            entries,
        })
    }

    /// A network with the original's rules: a genesis and a difficulty (what
    /// `--genesis` and `--difficulty` describe).
    pub fn original(genesis: Block, difficulty: Difficulty) -> Result<Network, ValidationError> {
        Network::new(
            String::new(),
            genesis,
            DifficultyRule::leading_zeros(difficulty),
            EntryRules::ORIGINAL,
        )
    }

    /// The seed's network: block 0 of the article at 5 leading zeros.
    pub fn seed() -> Network {
        Network::original(seed_genesis(), SEED_DIFFICULTY)
            .expect("the seed's genesis meets the seed's difficulty (tested)")
    }

    /// One hash for everything two nodes must agree on: the genesis and
    /// every rule (not the name).
    pub fn id(&self) -> BlockHash {
        BlockHash::of(self.id_text().as_bytes())
    }

    /// What `id` hashes: every rule, a line each (a receipt carries it, so
    /// its reader learns the rules from the id it trusts).
    pub fn id_text(&self) -> String {
        let rules = &self.entries;
        let mut text = format!(
            "jbc-network/1\ngenesis {}\n{}\nstrict {}\nmax_entry_bytes {}\nmax_block_data_bytes {}\nstamp_bits {}",
            self.genesis.hash,
            self.difficulty.id_lines(),
            rules.strict,
            rules.max_entry_bytes,
            rules.max_block_data_bytes,
            rules.stamp_bits
        );
        // Added with the format, so older networks keep their ids.
        if rules.commit == Commit::Merkle {
            text.push_str("\ncommit merkle/1");
        }
        text
    }

    /// The network whose `id_text` is `text`, with this genesis block (its
    /// fields; the text names its hash): what a receipt's reader learns
    /// from the rules it carries. Only a text exactly as `id_text` writes
    /// it is accepted, so one network has one text.
    pub fn from_id_text(text: &str, name: String, genesis: Block) -> Result<Network, IdTextError> {
        let mut lines = text.split('\n');
        let lines = &mut lines;
        if next_line(lines)? != "jbc-network/1" {
            return Err(IdTextError::Missing("jbc-network/1"));
        }
        let stated: BlockHash = value(lines, "genesis")?;
        if stated != genesis.hash {
            return Err(IdTextError::Genesis {
                stated,
                computed: genesis.hash,
            });
        }
        // The difficulty: one line, or the retarget rule's six.
        let first = next_line(lines)?;
        let difficulty = match first.split_once(' ') {
            Some(("leading_zeros", zeros)) => {
                let difficulty = zeros
                    .parse()
                    .ok()
                    .and_then(|zeros| Difficulty::new(zeros).ok())
                    .ok_or_else(|| IdTextError::Value {
                        key: "leading_zeros",
                        value: zeros.to_owned(),
                    })?;
                DifficultyRule::leading_zeros(difficulty)
            }
            Some(("target", hex)) => DifficultyRule::Fixed(parse_value("target", hex)?),
            Some(("retarget", version)) => DifficultyRule::Retarget(RetargetRule {
                version: RuleVersion::from_name(version).ok_or_else(|| IdTextError::Value {
                    key: "retarget",
                    value: version.to_owned(),
                })?,
                block_time_ms: value(lines, "block_time_ms")?,
                halflife_ms: value(lines, "halflife_ms")?,
                initial_target: value(lines, "initial_target")?,
                max_target: value(lines, "max_target")?,
                max_future_ms: value(lines, "max_future_ms")?,
            }),
            _ => {
                return Err(IdTextError::Unexpected {
                    expected: "leading_zeros, target or retarget",
                    line: first.to_owned(),
                });
            }
        };
        let mut rules = EntryRules {
            strict: value(lines, "strict")?,
            max_entry_bytes: value(lines, "max_entry_bytes")?,
            max_block_data_bytes: value(lines, "max_block_data_bytes")?,
            stamp_bits: value(lines, "stamp_bits")?,
            commit: Commit::Inline,
        };
        match lines.next() {
            None => {}
            Some("commit merkle/1") => rules.commit = Commit::Merkle,
            Some(line) => {
                return Err(IdTextError::Unexpected {
                    expected: "the end, or commit merkle/1",
                    line: line.to_owned(),
                });
            }
        }
        let network =
            Network::new(name, genesis, difficulty, rules).map_err(IdTextError::Invalid)?;
        if network.id_text() != text {
            return Err(IdTextError::NotCanonical);
        }
        Ok(network)
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

    pub fn difficulty(&self) -> &DifficultyRule {
        &self.difficulty
    }

    /// The retarget rule, on a network with a target block time.
    pub fn retarget(&self) -> Option<&RetargetRule> {
        match &self.difficulty {
            DifficultyRule::Retarget(rule) => Some(rule),
            DifficultyRule::Fixed(_) => None,
        }
    }

    /// What a block alone must meet (stage 1): see
    /// `DifficultyRule::easiest_target`.
    pub fn easiest_target(&self) -> Target {
        self.difficulty.easiest_target()
    }

    /// The work of a block at the genesis target; on a fixed network,
    /// every block's.
    pub fn genesis_work(&self) -> Work {
        self.genesis_work
    }

    /// The work a block at `target` proves (no division on a fixed
    /// network, where every block has the one target).
    pub fn work_at(&self, target: &Target) -> Work {
        match &self.difficulty {
            DifficultyRule::Fixed(_) => self.genesis_work,
            DifficultyRule::Retarget(_) => target.work(),
        }
    }

    /// The target of the child of `parent`.
    pub fn next_target(&self, parent: &ParentContext) -> Target {
        match &self.difficulty {
            DifficultyRule::Fixed(target) => *target,
            DifficultyRule::Retarget(rule) => rule.next_target(&parent.target, &parent.times),
        }
    }

    /// Milliseconds in one unit of this network's timestamps: 1000 on a
    /// fixed network (seconds, as the original), 1 on one with a target
    /// block time.
    pub fn timestamp_unit_ms(&self) -> u64 {
        match &self.difficulty {
            DifficultyRule::Fixed(_) => 1000,
            DifficultyRule::Retarget(_) => 1,
        }
    }

    /// A timestamp in this network's unit, from the Unix time in
    /// milliseconds: seconds on a fixed network (as the original),
    /// milliseconds on one with a target block time.
    pub fn timestamp_at(&self, unix_ms: u128) -> Timestamp {
        Timestamp(unix_ms / u128::from(self.timestamp_unit_ms()))
    }

    /// What a miner needs to build on `parent`.
    pub fn template(&self, parent: &ParentContext) -> Template {
        Template {
            index: parent.link.index.next(),
            prev_hash: parent.link.hash,
            target: self.next_target(parent),
            earliest: match (&self.difficulty, parent.times.median()) {
                (DifficultyRule::Retarget(_), Some(median)) => {
                    Timestamp(median.0.saturating_add(1))
                }
                _ => Timestamp(0),
            },
        }
    }

    pub fn entry_rules(&self) -> &EntryRules {
        &self.entries
    }

    /// Milliseconds until a child of `template` can carry a timestamp this
    /// node's clock (`now`) does not find too far ahead (`None`: it can
    /// now). Only when the chain's median time is ahead of `now`.
    pub fn too_early_to_mine(&self, template: &Template, now: Timestamp) -> Option<u64> {
        let rule = self.retarget()?;
        let latest = now.0.saturating_add(u128::from(rule.max_future_ms));
        let early = template.earliest.0.checked_sub(latest)?;
        (early > 0).then(|| u64::try_from(early).unwrap_or(u64::MAX))
    }
}

/// What a miner needs to build a valid child of a block: everything of
/// the header but data, timestamp and nonce, and the earliest timestamp
/// the rules allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Template {
    pub index: Height,
    pub prev_hash: BlockHash,
    pub target: Target,
    pub earliest: Timestamp,
}

impl Template {
    /// The timestamp to mine with at `now` (never before `earliest`).
    pub fn timestamp(&self, now: Timestamp) -> Timestamp {
        now.max(self.earliest)
    }
}

fn next_line<'a>(lines: &mut impl Iterator<Item = &'a str>) -> Result<&'a str, IdTextError> {
    lines.next().ok_or(IdTextError::Missing("a line"))
}

/// The value of the next line, which must read `key value`.
fn value<'a, T: std::str::FromStr>(
    lines: &mut impl Iterator<Item = &'a str>,
    key: &'static str,
) -> Result<T, IdTextError> {
    let line = lines.next().ok_or(IdTextError::Missing(key))?;
    match line.split_once(' ') {
        Some((found, text)) if found == key => parse_value(key, text),
        _ => Err(IdTextError::Unexpected {
            expected: key,
            line: line.to_owned(),
        }),
    }
}

fn parse_value<T: std::str::FromStr>(key: &'static str, text: &str) -> Result<T, IdTextError> {
    text.parse().map_err(|_| IdTextError::Value {
        key,
        value: text.to_owned(),
    })
}

/// Why a text is not a network's `id_text`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdTextError {
    #[error("the rules end before {0}")]
    Missing(&'static str),
    #[error("the rules say {line:?} where {expected} should be")]
    Unexpected {
        expected: &'static str,
        line: String,
    },
    #[error("the rules give {key} a value that is not one: {value:?}")]
    Value { key: &'static str, value: String },
    #[error(
        "the genesis block's fields hash to {computed}, not to the genesis {stated} the rules name"
    )]
    Genesis {
        stated: BlockHash,
        computed: BlockHash,
    },
    #[error("the rules do not make a network: {0}")]
    Invalid(ValidationError),
    #[error("the rules are not written as a node writes them (spacing, order or digits)")]
    NotCanonical,
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
        assert_eq!(params.genesis_work().to_string(), "1048576");
        assert!(!params.entry_rules().strict);
        // The id covers the rules, not the name.
        let strict = EntryRules {
            strict: true,
            ..EntryRules::ORIGINAL
        };
        let five = DifficultyRule::leading_zeros(SEED_DIFFICULTY);
        let other = Network::new("x".into(), seed_genesis(), five, strict).unwrap();
        assert_ne!(other.id(), params.id());
        let renamed = Network::new("y".into(), seed_genesis(), five, strict).unwrap();
        assert_eq!(renamed.id(), other.id());
    }

    #[test]
    fn the_ids_of_networks_made_before_other_rules_did_not_change() {
        // SHA-256 of the id text as every earlier version wrote it.
        assert_eq!(
            Network::seed().id().to_string(),
            "5b93f7c15debe76dff21951139bec45d1fecc70953962fae04257658b3c41d8c"
        );
        let five = DifficultyRule::leading_zeros(SEED_DIFFICULTY);
        let as_target = DifficultyRule::Fixed(SEED_DIFFICULTY.target());
        assert_eq!(as_target, five);
        assert_eq!(five.as_leading_zeros(), Some(SEED_DIFFICULTY));
        let odd = DifficultyRule::Fixed(SEED_DIFFICULTY.target().scaled(3, 0));
        assert_eq!(odd.as_leading_zeros(), None);
        assert!(odd.to_string().starts_with("target 00002"), "{odd}");
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
