//! Validation in three stages, each a pure function returning a typed error:
//!
//! 1. a block alone (`check_block`): the stated hash is the hash of the
//!    header, the hash meets the network's easiest target, and
//!    genesis-ness is consistent;
//! 2. a block against its parent and the blocks before it
//!    (`validate_child`, given a `ParentContext`): index is the parent's
//!    plus one, `prev_hash` is the parent's hash, the hash meets the target
//!    the network's rule gives this block; on a network with a target block
//!    time, the timestamp is past the median of the last 11 and, when a
//!    clock reading is given, not too far ahead of it;
//! 3. a whole chain (`ChainChecker`, fed one block at a time, or
//!    `check_chain` for a slice): genesis is the network's, then every block
//!    passes 1 and 2.
//!
//! Each stage returns what it established: `CheckedBlock` after stage 1
//! (the hash was computed once and is never computed again on the way to
//! the store), `ValidatedBlock` after stage 2. Both can only be made here,
//! and the store accepts only a `ValidatedBlock`. This module reads nothing
//! but its arguments.

use super::block::{Block, Timestamp};
use super::context::{ParentContext, ParentLink};
use super::entry::{BlockEntry, Commit, EntryError, block_entries};
pub use super::error::ValidationError;
pub use super::header::check_block;
use super::network::Network;
use super::pow::{Target, Work};
use super::retarget::TimeWindow;

// The constructors of a `ParentContext` that need the network or a
// validated block (the type itself is in `context`, below the network).
impl ParentContext {
    /// The context of a child of the genesis block.
    pub fn genesis(network: &Network) -> ParentContext {
        let genesis = network.genesis();
        ParentContext {
            link: genesis.into(),
            target: network.difficulty().genesis_target(),
            times: match network.retarget() {
                Some(_) => TimeWindow::of([genesis.timestamp]),
                None => TimeWindow::default(),
            },
        }
    }

    /// The context of a child of `block`, whose parent's context this is.
    pub fn child(&self, block: &ValidatedBlock) -> ParentContext {
        self.after(block.block(), block.target)
    }
}

/// A block that passed stage 1: its stated hash is the hash of its header
/// and meets the target, it is genesis-shaped only at index 0, and its
/// entries are what the network allows. Carries what stage 1 computed (the
/// hash, the parsed entries), so nothing downstream does it again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedBlock {
    block: Block,
    entries: Vec<BlockEntry>,
    /// Whether the entries travel beside the block (`Commit::Merkle`).
    committed: bool,
}

/// A block and what travels beside it: on a network whose blocks commit
/// to their entries by a Merkle root, the entries' lines in order (the
/// body); nothing on the others, whose entries are in `data`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockAndBody {
    pub block: Block,
    pub body: Vec<String>,
}

impl From<Block> for BlockAndBody {
    fn from(block: Block) -> BlockAndBody {
        BlockAndBody {
            block,
            body: Vec::new(),
        }
    }
}

impl CheckedBlock {
    /// Runs stage 1: `check_block`, then the entries in the block's data
    /// (and, where the data commits to them, in its body).
    pub fn new(
        block: impl Into<BlockAndBody>,
        network: &Network,
    ) -> Result<CheckedBlock, ValidationError> {
        let BlockAndBody { block, body } = block.into();
        check_block(&block, &network.easiest_target())?;
        let rules = network.entry_rules();
        let entries =
            block_entries(&block.data, &body, rules, &network.genesis_hash()).map_err(|error| {
                match error {
                    // Not sent (an original node relays only the header): the
                    // block may be fine, whoever has its entries can tell.
                    EntryError::MissingBody { expected, found: 0 } => {
                        ValidationError::MissingEntries {
                            index: block.index,
                            hash: block.hash,
                            count: expected,
                        }
                    }
                    error => ValidationError::BadEntries {
                        index: block.index,
                        error,
                    },
                }
            })?;
        Ok(CheckedBlock {
            block,
            entries,
            committed: rules.commit == Commit::Merkle,
        })
    }

    pub fn block(&self) -> &Block {
        &self.block
    }

    /// The lines that travel beside the block: its entries, where its data
    /// commits to them; nothing where they are in its data.
    pub fn body(&self) -> Vec<String> {
        if !self.committed {
            return Vec::new();
        }
        self.entries
            .iter()
            .map(|found| found.entry.line().to_owned())
            .collect()
    }

    /// The valid entries the block carries, in order.
    pub fn entries(&self) -> &[BlockEntry] {
        &self.entries
    }
}

/// A block that passed stages 1 and 2 (or is the network's genesis), with
/// the target it met and the work that proves. Only this module can make
/// one, and it is the only thing the store accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatedBlock {
    checked: CheckedBlock,
    target: Target,
    work: Work,
}

impl ValidatedBlock {
    pub fn block(&self) -> &Block {
        &self.checked.block
    }

    /// The block and the lines that travel beside it
    /// (`CheckedBlock::body`).
    pub fn into_block_and_body(self) -> BlockAndBody {
        BlockAndBody {
            body: self.checked.body(),
            block: self.checked.block,
        }
    }

    /// A copy of the block and its body, while the block itself goes on
    /// to the store.
    pub fn to_block_and_body(&self) -> BlockAndBody {
        BlockAndBody {
            body: self.checked.body(),
            block: self.checked.block.clone(),
        }
    }

    pub fn entries(&self) -> &[BlockEntry] {
        &self.checked.entries
    }

    /// The target the block met (the network's rule for its place).
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The work the block proves.
    pub fn work(&self) -> Work {
        self.work
    }
}

/// A block on its way into a chain: raw (stage 1 runs now) or already
/// checked, for example by a sync task that checked a batch while the
/// previous one was being stored.
pub trait IntoChecked {
    fn into_checked(self, network: &Network) -> Result<CheckedBlock, ValidationError>;
}

impl<B: Into<BlockAndBody>> IntoChecked for B {
    fn into_checked(self, network: &Network) -> Result<CheckedBlock, ValidationError> {
        CheckedBlock::new(self, network)
    }
}

impl IntoChecked for CheckedBlock {
    fn into_checked(self, _network: &Network) -> Result<CheckedBlock, ValidationError> {
        Ok(self)
    }
}

/// Stage 2: the block against its parent.
pub fn check_link(block: &Block, parent: ParentLink) -> Result<(), ValidationError> {
    let expected = parent.index.next();
    if block.index != expected {
        return Err(ValidationError::WrongIndex {
            hash: block.hash,
            expected,
            found: block.index,
        });
    }
    match block.prev_hash {
        Some(prev) if prev == parent.hash => Ok(()),
        Some(found) => Err(ValidationError::WrongPrevHash {
            index: block.index,
            expected: parent.hash,
            found,
        }),
        None => Err(ValidationError::MissingPrevHash { index: block.index }),
    }
}

/// Stage 2 for a block that passed stage 1, whose parent is known: the
/// link, the target for this place in the chain, and the time rules.
/// `now` is the node's clock in the network's unit, when the block is
/// arriving (a chain re-verified from the store gives `None`: its blocks
/// were not from the future when they came).
pub fn validate_child(
    block: CheckedBlock,
    parent: &ParentContext,
    network: &Network,
    now: Option<Timestamp>,
) -> Result<ValidatedBlock, ValidationError> {
    let header = &block.block;
    check_link(header, parent.link)?;
    let target = network.next_target(parent);
    // On a fixed network stage 1 checked this very target already.
    if network.retarget().is_some() && !target.is_met_by(&header.hash) {
        return Err(ValidationError::InsufficientWork {
            index: header.index,
            hash: header.hash,
            target,
        });
    }
    if let Some(rule) = network.retarget() {
        let median = parent.times.median().expect("a retarget context has times");
        if header.timestamp <= median {
            return Err(ValidationError::TimestampTooEarly {
                index: header.index,
                timestamp: header.timestamp,
                median,
            });
        }
        if let Some(now) = now
            && header.timestamp.0 > now.0.saturating_add(u128::from(rule.max_future_ms))
        {
            let ahead = header.timestamp.0 - now.0;
            return Err(ValidationError::TooFarInFuture {
                index: header.index,
                hash: header.hash,
                ahead_ms: u64::try_from(ahead).unwrap_or(u64::MAX),
                max_future_ms: rule.max_future_ms,
            });
        }
    }
    Ok(ValidatedBlock {
        work: network.work_at(&target),
        target,
        checked: block,
    })
}

/// A genesis block is valid when it is this network's genesis (which
/// `Network::new` already checked against the target).
pub fn validate_genesis(
    block: Block,
    network: &Network,
) -> Result<ValidatedBlock, ValidationError> {
    let expected = network.genesis();
    if block != *expected {
        return Err(ValidationError::WrongGenesis {
            expected: expected.hash,
            found: block.hash,
        });
    }
    Ok(ValidatedBlock {
        checked: CheckedBlock {
            block,
            entries: Vec::new(),
            committed: false,
        },
        target: network.difficulty().genesis_target(),
        work: network.genesis_work(),
    })
}

/// A rule broken somewhere in a chain, with the position (0 = first block).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("block at position {position} of the chain: {error}")]
pub struct ChainValidationError {
    pub position: usize,
    pub error: ValidationError,
}

/// Stages 1 and 2 over a sequence of blocks, fed one at a time, so a chain
/// of any length is checked without holding it: `verify` streams the store
/// through one, sync streams a peer's blocks through one.
pub struct ChainChecker {
    network: Network,
    /// Whether the first block must be this network's genesis.
    from_genesis: bool,
    /// Where the sequence stands. For a run that continues a chain
    /// checked elsewhere only its `link` means anything.
    parent: Option<ParentContext>,
    position: usize,
    /// The work of the blocks checked, from genesis (from-genesis only).
    work: Work,
}

impl ChainChecker {
    /// For a whole chain: the first block must be the network's genesis,
    /// and every later one passes all of stage 2.
    pub fn from_genesis(network: &Network) -> ChainChecker {
        ChainChecker {
            network: network.clone(),
            from_genesis: true,
            parent: None,
            position: 0,
            work: Work::ZERO,
        }
    }

    /// For a run of blocks that continues a chain checked elsewhere (a sync
    /// batch): the first block is checked on its own, the others link to
    /// the one before. Whoever stores them checks each against its parent
    /// and the chain before it (which only the store has).
    pub fn continuing(network: &Network) -> ChainChecker {
        ChainChecker {
            from_genesis: false,
            ..ChainChecker::from_genesis(network)
        }
    }

    /// Checks the next block of the sequence.
    pub fn check(
        &mut self,
        block: impl Into<BlockAndBody>,
    ) -> Result<CheckedBlock, ChainValidationError> {
        let block = block.into();
        let position = self.position;
        let at = |error| ChainValidationError { position, error };
        let (checked, next) = match (&self.parent, self.from_genesis) {
            (None, true) => {
                let genesis = validate_genesis(block.block, &self.network).map_err(at)?;
                self.work = genesis.work;
                (genesis.checked, ParentContext::genesis(&self.network))
            }
            (Some(parent), true) => {
                let checked = CheckedBlock::new(block, &self.network).map_err(at)?;
                let validated = validate_child(checked, parent, &self.network, None).map_err(at)?;
                self.work = self.work + validated.work;
                let next = parent.child(&validated);
                (validated.checked, next)
            }
            (parent, false) => {
                if let Some(parent) = parent {
                    check_link(&block.block, parent.link).map_err(at)?;
                }
                let checked = CheckedBlock::new(block, &self.network).map_err(at)?;
                let link = ParentContext {
                    link: checked.block().into(),
                    target: self.network.easiest_target(),
                    times: TimeWindow::default(),
                };
                (checked, link)
            }
        };
        self.parent = Some(next);
        self.position += 1;
        Ok(checked)
    }

    /// How many blocks passed so far.
    pub fn checked(&self) -> usize {
        self.position
    }

    /// The last block that passed.
    pub fn last(&self) -> Option<ParentLink> {
        self.parent.as_ref().map(|parent| parent.link)
    }

    /// The work of the chain checked so far (from genesis; zero for a
    /// continuing run, whose start this checker does not know).
    pub fn work(&self) -> Work {
        self.work
    }
}

/// Stage 3: a whole chain, genesis first.
pub fn check_chain(blocks: &[Block], params: &Network) -> Result<(), ChainValidationError> {
    if blocks.is_empty() {
        return Err(ChainValidationError {
            position: 0,
            error: ValidationError::EmptyChain,
        });
    }
    let mut checker = ChainChecker::from_genesis(params);
    for block in blocks {
        checker.check(block.clone())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::block::{Height, Nonce, Timestamp};
    use crate::consensus::test_vectors::seed_blocks;

    #[test]
    fn seed_blocks_pass_every_stage() {
        let params = Network::seed();
        let blocks = seed_blocks();
        for block in &blocks {
            check_block(block, &params.easiest_target()).unwrap();
        }
        check_chain(&blocks[..4], &params).unwrap();
        // 3b competes with 3 on the same parent: both link to block 2.
        check_link(&blocks[4], (&blocks[2]).into()).unwrap();
        let chain_b = [&blocks[..3], &blocks[4..5]].concat();
        check_chain(&chain_b, &params).unwrap();
    }

    #[test]
    fn each_error_names_the_rule() {
        let params = Network::seed();
        let blocks = seed_blocks();

        let mut wrong_nonce = blocks[1].clone();
        wrong_nonce.nonce = Nonce(1225519);
        assert!(matches!(
            check_block(&wrong_nonce, &params.easiest_target()),
            Err(ValidationError::HashMismatch { .. })
        ));

        // Recomputing the hash after the change leaves a hash without the zeros.
        let unmined = Block::with_computed_hash(
            Height(1),
            blocks[1].prev_hash,
            "I block #1".into(),
            Timestamp(1508895386),
            Nonce(7),
        );
        assert!(matches!(
            check_block(&unmined, &params.easiest_target()),
            Err(ValidationError::InsufficientWork { .. })
        ));

        assert_eq!(
            check_link(&blocks[3], (&blocks[1]).into()),
            Err(ValidationError::WrongIndex {
                hash: blocks[3].hash,
                expected: Height(2),
                found: Height(3),
            })
        );
        let mut skipping = blocks[3].clone();
        skipping.index = Height(2);
        assert_eq!(
            check_link(&skipping, (&blocks[1]).into()),
            Err(ValidationError::WrongPrevHash {
                index: Height(2),
                expected: blocks[1].hash,
                found: blocks[2].hash,
            })
        );

        let mut genesis_with_parent = blocks[0].clone();
        genesis_with_parent.prev_hash = Some(blocks[1].hash);
        assert!(matches!(
            check_block(&genesis_with_parent, &params.easiest_target()),
            Err(ValidationError::GenesisWithPrevHash { .. })
        ));
        let mut orphan = blocks[1].clone();
        orphan.prev_hash = None;
        assert_eq!(
            check_block(&orphan, &params.easiest_target()),
            Err(ValidationError::MissingPrevHash { index: Height(1) })
        );
    }

    #[test]
    fn chain_errors_carry_the_position() {
        let params = Network::seed();
        let blocks = seed_blocks();
        assert_eq!(
            check_chain(&[], &params),
            Err(ChainValidationError {
                position: 0,
                error: ValidationError::EmptyChain
            })
        );
        let err = check_chain(&blocks[1..3], &params).unwrap_err();
        assert_eq!(err.position, 0);
        assert!(matches!(err.error, ValidationError::WrongGenesis { .. }));

        let mut tampered = blocks[..4].to_vec();
        tampered[2].data = "I block #2, changed".into();
        let err = check_chain(&tampered, &params).unwrap_err();
        assert_eq!(err.position, 2);
        assert!(matches!(err.error, ValidationError::HashMismatch { .. }));
    }

    #[test]
    fn only_the_network_genesis_is_a_valid_genesis() {
        let params = Network::seed();
        let blocks = seed_blocks();
        validate_genesis(blocks[0].clone(), &params).unwrap();
        let mut other = blocks[0].clone();
        other.data = "another network".into();
        assert!(matches!(
            validate_genesis(other, &params),
            Err(ValidationError::WrongGenesis { .. })
        ));
    }
}
