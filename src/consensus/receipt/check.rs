//! A receipt checked: what it claims against the rules of the network it
//! carries, and then against what the person checking holds and trusts.

use super::{FIXED_MAX_FUTURE_MS, HeaderFields, Receipt, ReceiptError};
use crate::consensus::block::{Block, Height};
use crate::consensus::context::{ParentContext, ParentLink};
use crate::consensus::entry::{
    BlockEntries, CheckedEntry, Commit, Committed, Content, Entry, block_entries, hex, json_string,
};
use crate::consensus::hash::BlockHash;
use crate::consensus::merkle;
use crate::consensus::network::Network;
use crate::consensus::pow::Work;
use crate::consensus::retarget::TimeWindow;

/// What a receipt proves, once checked.
#[derive(Clone, Debug)]
pub struct Verified {
    pub network: Network,
    pub entry: CheckedEntry,
    /// The entry's block.
    pub block: Block,
    /// How many blocks the receipt has after it.
    pub blocks_after: u64,
    /// The work the receipt's blocks prove, the entry's block included.
    pub work: Work,
    /// The hash of every block of the receipt, the entry's block first.
    pub hashes: Vec<BlockHash>,
    /// The hash of the block before the entry's (its `prev`).
    pub prev: BlockHash,
}

/// What the person checking holds and trusts, for `Verified::expect`.
#[derive(Clone, Debug, Default)]
pub struct Expectations {
    /// The document the entry should be (its text, or its SHA-256).
    pub holding: Option<Content>,
    /// The network the receipt should be of.
    pub network: Option<BlockHash>,
    /// A block that must be among the receipt's.
    pub checkpoint: Option<BlockHash>,
    /// Work the receipt must prove at least.
    pub min_work: Option<f64>,
}

impl Verified {
    /// Checks what the receipt proves against what the person holds.
    pub fn expect(&self, wanted: &Expectations) -> Result<(), ReceiptError> {
        if let Some(holding) = &wanted.holding
            && *holding != self.entry.entry().content
        {
            return Err(ReceiptError::OtherEntry {
                given: describe(holding),
                found: describe(&self.entry.entry().content),
            });
        }
        if let Some(expected) = wanted.network
            && expected != self.network.id()
        {
            return Err(ReceiptError::OtherNetwork {
                expected,
                found: self.network.id(),
            });
        }
        if let Some(checkpoint) = wanted.checkpoint
            && !self.hashes.contains(&checkpoint)
            && self.prev != checkpoint
        {
            return Err(ReceiptError::NoCheckpoint(checkpoint));
        }
        if let Some(min) = wanted.min_work
            && self.work.as_f64() < min
        {
            return Err(ReceiptError::TooLittleWork {
                work: self.work.as_f64(),
                min,
            });
        }
        Ok(())
    }
}

/// Content as people name it: the text, or the file's digest.
fn describe(content: &Content) -> String {
    match content {
        Content::Text(text) => format!("the text {}", json_string(text)),
        Content::Sha256(digest) => format!("the file of SHA-256 {}", hex(digest)),
    }
}
impl Receipt {
    /// Checks everything the receipt claims, with the verifier's clock
    /// (Unix milliseconds) for the timestamps. See the module comment.
    pub fn verify(&self, now_ms: u128) -> Result<Verified, ReceiptError> {
        let genesis = self.genesis.block(None);
        let genesis_time = genesis.timestamp;
        let network = Network::from_id_text(&self.rules, String::new(), genesis)
            .map_err(ReceiptError::Rules)?;
        let rules = network.entry_rules();
        let entry = Entry::parse_line(&self.entry)
            .and_then(|entry| CheckedEntry::new(entry, rules, &network.genesis_hash()))
            .map_err(ReceiptError::Entry)?;
        let first = self.blocks.first().ok_or(ReceiptError::NoBlocks)?;
        if first.index == Height(0) {
            return Err(ReceiptError::GenesisBlock);
        }
        self.check_inclusion(first, &entry, &network)?;
        // The chain: each block after the one before, meeting the target
        // the rule gives it, its timestamp within the rules.
        let mut parent = ParentContext {
            link: ParentLink {
                index: Height(first.index.0 - 1),
                hash: self.prev,
            },
            target: network.difficulty().genesis_target(),
            times: TimeWindow::default(),
        };
        match (network.retarget(), &self.context) {
            (Some(_), None) => return Err(ReceiptError::MissingContext),
            (None, Some(_)) => return Err(ReceiptError::UnexpectedContext),
            (None, None) => {}
            (Some(_), Some(context)) => {
                let max = network.easiest_target();
                if context.target.to_be_bytes() > max.to_be_bytes() {
                    return Err(ReceiptError::ContextTarget {
                        target: context.target,
                        max,
                    });
                }
                parent.target = context.target;
                parent.times = TimeWindow::of(context.times.iter().copied());
            }
        }
        let max_future = network.retarget().map_or(
            u128::from(FIXED_MAX_FUTURE_MS) / u128::from(network.timestamp_unit_ms()),
            |rule| u128::from(rule.max_future_ms),
        );
        let now = network.timestamp_at(now_ms);
        let mut work = Work::ZERO;
        let mut hashes = Vec::with_capacity(self.blocks.len());
        let mut entry_block = None;
        for fields in &self.blocks {
            let index = fields.index;
            if index.0 != parent.link.index.0.wrapping_add(1) {
                return Err(ReceiptError::Gap {
                    after: parent.link.index,
                    found: index,
                });
            }
            let block = fields.block(Some(parent.link.hash));
            let target = network.next_target(&parent);
            if !target.is_met_by(&block.hash) {
                return Err(ReceiptError::AboveTarget {
                    index,
                    hash: block.hash,
                    target,
                });
            }
            let timestamp = block.timestamp;
            if let Some(median) = parent.times.median()
                && timestamp <= median
            {
                return Err(ReceiptError::TooEarly {
                    index,
                    timestamp,
                    median,
                });
            }
            if timestamp < genesis_time {
                return Err(ReceiptError::BeforeGenesis {
                    index,
                    timestamp,
                    genesis: genesis_time,
                });
            }
            if timestamp.0 > now.0.saturating_add(max_future) {
                return Err(ReceiptError::InTheFuture {
                    index,
                    timestamp,
                    now,
                });
            }
            work = work + network.work_at(&target);
            hashes.push(block.hash);
            parent = parent.after(&block, target);
            entry_block.get_or_insert(block);
        }
        Ok(Verified {
            block: entry_block.expect("a receipt has blocks (checked)"),
            blocks_after: self.blocks.len() as u64 - 1,
            network,
            entry,
            work,
            hashes,
            prev: self.prev,
        })
    }

    /// The entry is at its place in the block: under its root, or in its
    /// data.
    fn check_inclusion(
        &self,
        block: &HeaderFields,
        entry: &CheckedEntry,
        network: &Network,
    ) -> Result<(), ReceiptError> {
        let index = block.index;
        match network.entry_rules().commit {
            Commit::Merkle => {
                let Some(Ok(committed)) = Committed::parse(&block.data) else {
                    return Err(ReceiptError::NoRoot { index });
                };
                if committed.count != self.count {
                    return Err(ReceiptError::CountMismatch {
                        stated: self.count,
                        committed: committed.count,
                    });
                }
                let leaf = merkle::leaf(entry.line().as_bytes());
                let root = merkle::root_from(leaf, self.position, self.count, &self.path)
                    .map_err(ReceiptError::Path)?;
                if root != committed.root {
                    return Err(ReceiptError::NotCommitted {
                        index,
                        computed: hex(&root),
                        committed: hex(&committed.root),
                    });
                }
            }
            Commit::Inline => {
                if !self.path.is_empty() {
                    return Err(ReceiptError::PathOnInline);
                }
                let lines: Vec<&str> = match BlockEntries::parse(&block.data) {
                    Some(Ok(_)) => block.data.split('\n').skip(2).collect(),
                    _ => Vec::new(),
                };
                if lines.len() as u64 != self.count {
                    return Err(ReceiptError::CountMismatch {
                        stated: self.count,
                        committed: lines.len() as u64,
                    });
                }
                let at = usize::try_from(self.position).ok();
                if at.and_then(|at| lines.get(at)) != Some(&entry.line()) {
                    return Err(ReceiptError::NotInData {
                        index,
                        position: self.position,
                    });
                }
                let rules = network.entry_rules();
                if rules.strict {
                    block_entries(&block.data, &[], rules, &network.genesis_hash())
                        .map_err(|error| ReceiptError::BlockEntries { index, error })?;
                }
            }
        }
        Ok(())
    }
}
