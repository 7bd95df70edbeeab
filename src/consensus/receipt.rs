//! Receipts: a proof, in a small text file, that an entry is in a block of
//! a network and that blocks with a known amount of work were built on
//! it, checked with nothing but the file (no node, no network). The
//! format is `jbc-receipt/1`, specified for independent verifiers in
//! `docs/RECEIPTS.md`:
//!
//! ```text
//! jbc-receipt/1
//! rules jbc-network/1              the network's rules, a line each: its id
//! rules genesis 00000b3f...        is SHA-256 of them joined by newlines
//! rules ...
//! genesis 1764700000000 88123 "jbc devnet"
//! entry {"text":"invoice 2026-117 paid"}
//! leaf 3 of 5000                   the entry's place among the block's
//! path 5b1c...                     and its RFC 6962 path to their root
//! context 0000a3...  1764... ...   (block-time networks) the target and the
//!                                  timestamps before the entry's block
//! prev 00000e1d...                 the hash of the block before it
//! block 412 1764700000123 9912 "jbc-entries/2\nnote ..."
//! block 413 ...                    the blocks after it
//! checksum 9f2c...                 SHA-256 of every byte above
//! ```
//!
//! What checking proves: the rules and genesis are those of the network
//! whose id they hash to; the entry is valid there; it is at its place
//! under the root the first block's data commits to (or, on a network whose
//! blocks carry entries inline, in that data); each block's hash,
//! computed from its fields and the hash before it, meets the target the
//! network's rule gives it; the timestamps keep the rules (after the
//! genesis, not in the verifier's future, past the median where the rule
//! has one). The work of those targets is what the receipt is worth:
//! everything else in it follows from the hashes. The one thing taken on
//! the maker's word is the context of the first block on a block-time
//! network (the target of the block before it and its timestamps); a
//! false context only changes the targets the hashes must meet, so the
//! work counted is still work done. The checksum catches a file damaged by
//! accident, not a forger: against a forger stands the work.
//!
//! This module reads only its arguments (the verifier's clock is one).

use sha2::{Digest, Sha256};

use super::block::{Block, Height, Nonce, Timestamp};
use super::context::{ParentContext, ParentLink};
use super::entry::{
    BlockEntries, CheckedEntry, Commit, Committed, Content, Entry, EntryError, block_entries, hex,
    json_string,
};
use super::hash::BlockHash;
use super::merkle::{self, PathError};
use super::network::{IdTextError, Network};
use super::pow::{Target, Work};
use super::retarget::{TimeWindow, WINDOW_SPAN};
use super::validate::BlockAndBody;

/// The first line of a receipt.
pub const RECEIPT_FORMAT: &str = "jbc-receipt/1";

/// A receipt bigger than this is not read (one of a block's entries and
/// 100,000 blocks after it is about 8 MB).
pub const MAX_RECEIPT_BYTES: usize = 16 * 1024 * 1024;

/// How far ahead of the verifier's clock a block of a network without a
/// time rule may be dated (the original's networks date blocks by the
/// miner's clock and check nothing).
pub const FIXED_MAX_FUTURE_MS: u64 = 2 * 60 * 60 * 1000;

/// The fields of a header that are not links: the hash is computed, and
/// the previous hash is the block before's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderFields {
    pub index: Height,
    pub timestamp: Timestamp,
    pub nonce: Nonce,
    pub data: String,
}

impl HeaderFields {
    pub fn of(block: &Block) -> HeaderFields {
        HeaderFields {
            index: block.index,
            timestamp: block.timestamp,
            nonce: block.nonce,
            data: block.data.clone(),
        }
    }

    /// The block with these fields after `prev`.
    fn block(&self, prev: Option<BlockHash>) -> Block {
        Block::with_computed_hash(
            self.index,
            prev,
            self.data.clone(),
            self.timestamp,
            self.nonce,
        )
    }
}

/// On a block-time network: the target of the block before the entry's,
/// and the timestamps of up to `WINDOW_SPAN` blocks ending with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeContext {
    pub target: Target,
    pub times: Vec<Timestamp>,
}

/// A receipt, read or to be written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The network's `id_text`.
    pub rules: String,
    pub genesis: HeaderFields,
    /// The entry's canonical line.
    pub entry: String,
    /// Its place among the block's entries, and how many there are.
    pub position: u64,
    pub count: u64,
    /// Its RFC 6962 audit path (empty where blocks carry entries inline).
    pub path: Vec<merkle::Node>,
    pub context: Option<TimeContext>,
    /// The hash of the block before the entry's block.
    pub prev: BlockHash,
    /// The entry's block, then the blocks after it.
    pub blocks: Vec<HeaderFields>,
}

/// Why a receipt does not prove what it says. Each names what failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReceiptError {
    #[error("line {line} of the receipt: {problem}")]
    Malformed { line: usize, problem: String },
    #[error(
        "this is not a receipt this program reads: its first line is {0:?}, not {RECEIPT_FORMAT}"
    )]
    Version(String),
    #[error(
        "the receipt was changed after it was made: its bytes hash to {computed}, its checksum line says {stated}"
    )]
    Checksum { stated: String, computed: String },
    #[error("the network rules it carries: {0}")]
    Rules(IdTextError),
    #[error("its entry is not valid on this network: {0}")]
    Entry(EntryError),
    #[error("it has no block: the entry's block is missing")]
    NoBlocks,
    #[error("the entry's block cannot be the genesis block")]
    GenesisBlock,
    #[error("it says the block has {stated} entries, but the block's data commits to {committed}")]
    CountMismatch { stated: u64, committed: u64 },
    #[error(
        "the entry, its place or its path was changed: they lead to the root {computed}, but block {index} commits to {committed}"
    )]
    NotCommitted {
        index: Height,
        computed: String,
        committed: String,
    },
    #[error("the entry's path: {0}")]
    Path(PathError),
    #[error(
        "block {index} does not commit to entries by a Merkle root (its data is not jbc-entries/2)"
    )]
    NoRoot { index: Height },
    #[error("block {index}: its entries break the network's rules: {error}")]
    BlockEntries { index: Height, error: EntryError },
    #[error("entry {position} of block {index}'s data is not this entry")]
    NotInData { index: Height, position: u64 },
    #[error("this network's blocks carry their entries in their data: a path means nothing here")]
    PathOnInline,
    #[error(
        "block {found} follows block {after} in the receipt: the blocks between them are missing"
    )]
    Gap { after: Height, found: Height },
    #[error(
        "block {index}: its hash {hash} does not meet its target {target}: one of its fields was changed, or it does not follow the block before it"
    )]
    AboveTarget {
        index: Height,
        hash: BlockHash,
        target: Target,
    },
    #[error(
        "block {index}: its timestamp {timestamp} is not after {median}, the median of the 11 before it (was a digit moved between timestamp and nonce?)"
    )]
    TooEarly {
        index: Height,
        timestamp: Timestamp,
        median: Timestamp,
    },
    #[error(
        "block {index}: its timestamp {timestamp} is before the genesis block's, {genesis} (was a digit moved between timestamp and nonce?)"
    )]
    BeforeGenesis {
        index: Height,
        timestamp: Timestamp,
        genesis: Timestamp,
    },
    #[error(
        "block {index}: its timestamp {timestamp} is in the future of this computer's clock ({now}) (was a digit moved between timestamp and nonce?)"
    )]
    InTheFuture {
        index: Height,
        timestamp: Timestamp,
        now: Timestamp,
    },
    #[error("this network's targets follow the clock: a context line is needed")]
    MissingContext,
    #[error("this network's target is fixed: a context line means nothing here")]
    UnexpectedContext,
    #[error("the context's target {target} is easier than the network allows ({max})")]
    ContextTarget { target: Target, max: Target },
    #[error("the receipt's entry is {found}, not {given}")]
    OtherEntry { given: String, found: String },
    #[error("the receipt is for a block of network {found}, not of network {expected}")]
    OtherNetwork {
        expected: BlockHash,
        found: BlockHash,
    },
    #[error("block {0} is not among the receipt's blocks (nor the one before them)")]
    NoCheckpoint(BlockHash),
    #[error(
        "the receipt's blocks prove about {work} hashes of work, less than the {min} asked for"
    )]
    TooLittleWork { work: f64, min: f64 },
}

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
    /// The receipt of the entry at `position` among the entries of
    /// `block` (beside it, or in its data), whose parent's context is
    /// `context`, with the blocks `after` it. `None` when there is no
    /// entry at `position`.
    pub fn make(
        network: &Network,
        block: &BlockAndBody,
        position: usize,
        context: &ParentContext,
        after: &[Block],
    ) -> Option<Receipt> {
        let header = &block.block;
        let (entry, count, path) = match network.entry_rules().commit {
            Commit::Merkle => {
                let leaves: Vec<merkle::Node> = block
                    .body
                    .iter()
                    .map(|line| merkle::leaf(line.as_bytes()))
                    .collect();
                let path = merkle::path(&leaves, position)?;
                (block.body[position].clone(), block.body.len(), path)
            }
            Commit::Inline => {
                BlockEntries::parse(&header.data)?.ok()?;
                let lines: Vec<&str> = header.data.split('\n').skip(2).collect();
                (lines.get(position)?.to_string(), lines.len(), Vec::new())
            }
        };
        Some(Receipt {
            rules: network.id_text(),
            genesis: HeaderFields::of(network.genesis()),
            entry,
            position: position as u64,
            count: count as u64,
            path,
            context: network.retarget().map(|_| TimeContext {
                target: context.target,
                times: context.times.to_vec(),
            }),
            prev: header.prev_hash?,
            blocks: std::iter::once(header)
                .chain(after)
                .map(HeaderFields::of)
                .collect(),
        })
    }

    /// The receipt as a file.
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(1024 + self.blocks.len() * 160);
        let mut line = |text: String| {
            out.push_str(&text);
            out.push('\n');
        };
        line(RECEIPT_FORMAT.to_owned());
        for rule in self.rules.split('\n') {
            line(format!("rules {rule}"));
        }
        line(format!("genesis {}", fields(&self.genesis, false)));
        line(format!("entry {}", self.entry));
        line(format!("leaf {} of {}", self.position, self.count));
        for node in &self.path {
            line(format!("path {}", hex(node)));
        }
        if let Some(context) = &self.context {
            let times: Vec<String> = context.times.iter().map(|t| t.to_string()).collect();
            line(format!("context {} {}", context.target, times.join(" ")));
        }
        line(format!("prev {}", self.prev));
        for block in &self.blocks {
            line(format!("block {}", fields(block, true)));
        }
        let checksum = hex(&Sha256::digest(out.as_bytes()));
        out.push_str(&format!("checksum {checksum}\n"));
        out
    }

    /// Reads a receipt: its layout, its checksum and the form of every
    /// value (one receipt has one text). Nothing it claims is checked
    /// yet: that is `verify`.
    pub fn parse(text: &str) -> Result<Receipt, ReceiptError> {
        let malformed = |line: usize, problem: &str| ReceiptError::Malformed {
            line,
            problem: problem.to_owned(),
        };
        if text.len() > MAX_RECEIPT_BYTES {
            return Err(malformed(
                1,
                &format!("the file is larger than {MAX_RECEIPT_BYTES} bytes"),
            ));
        }
        let first = text.split('\n').next().unwrap_or_default();
        if first != RECEIPT_FORMAT {
            return Err(ReceiptError::Version(first.chars().take(40).collect()));
        }
        let Some(body) = text.strip_suffix('\n') else {
            return Err(malformed(
                text.split('\n').count(),
                "the file does not end with a newline (was it cut short?)",
            ));
        };
        let lines: Vec<&str> = body.split('\n').collect();
        if let Some(n) = lines.iter().position(|l| l.ends_with('\r')) {
            return Err(malformed(
                n + 1,
                "the line ends with a carriage return (the file was given Windows line endings)",
            ));
        }
        // The checksum first: a damaged file says so, whatever else it breaks.
        let last = lines.len();
        let stated = lines[last - 1]
            .strip_prefix("checksum ")
            .ok_or_else(|| malformed(last, "the last line should be the checksum"))?;
        let sealed = &text[..text.len() - lines[last - 1].len() - 1];
        let computed = hex(&Sha256::digest(sealed.as_bytes()));
        if stated != computed {
            return Err(ReceiptError::Checksum {
                stated: stated.to_owned(),
                computed,
            });
        }
        let mut reader = Lines {
            lines: &lines[..last - 1],
            at: 1,
        };
        let mut rules = Vec::new();
        while let Some(rule) = reader.optional("rules") {
            rules.push(rule);
        }
        if rules.is_empty() {
            return Err(reader.error("the network's rules (rules lines) should come here"));
        }
        let genesis = reader.fields("genesis", false)?;
        let entry = reader.expect("entry")?.to_owned();
        let (position, count) = {
            let value = reader.expect("leaf")?;
            let parsed = value.split_once(" of ").and_then(|(position, count)| {
                Some((decimal(position)? as u64, decimal(count)? as u64))
            });
            parsed.ok_or_else(|| reader.error_before("leaf should read: leaf POSITION of COUNT"))?
        };
        let mut path = Vec::new();
        while let Some(node) = reader.optional("path") {
            path.push(
                hash_hex(node)
                    .ok_or_else(|| reader.error_before("a path step is 64 lowercase hex digits"))?
                    .as_bytes()
                    .to_owned(),
            );
        }
        let context = match reader.optional("context") {
            None => None,
            Some(value) => {
                let mut parts = value.split(' ');
                let target = parts
                    .next()
                    .and_then(|t| t.parse::<Target>().ok().filter(|p| p.to_string() == t))
                    .ok_or_else(|| {
                        reader.error_before("the context starts with a target (64 hex digits)")
                    })?;
                let times = parts
                    .map(|t| decimal(t).map(Timestamp))
                    .collect::<Option<Vec<_>>>()
                    .filter(|times| !times.is_empty() && times.len() <= WINDOW_SPAN)
                    .ok_or_else(|| {
                        reader.error_before(&format!(
                            "the context's target is followed by 1 to {WINDOW_SPAN} timestamps"
                        ))
                    })?;
                Some(TimeContext { target, times })
            }
        };
        let prev = hash_hex(reader.expect("prev")?)
            .ok_or_else(|| reader.error_before("prev is a block hash: 64 lowercase hex digits"))?;
        let mut blocks = Vec::new();
        while !reader.done() {
            blocks.push(reader.fields("block", true)?);
        }
        if blocks.is_empty() {
            return Err(ReceiptError::NoBlocks);
        }
        Ok(Receipt {
            rules: rules.join("\n"),
            genesis,
            entry,
            position,
            count,
            path,
            context,
            prev,
            blocks,
        })
    }

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
                let committed = match Committed::parse(&block.data) {
                    Some(Ok(committed)) => committed,
                    _ => return Err(ReceiptError::NoRoot { index }),
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

/// `index timestamp nonce "data"` (the genesis block's without its index).
fn fields(block: &HeaderFields, with_index: bool) -> String {
    let mut text = String::new();
    if with_index {
        text.push_str(&format!("{} ", block.index));
    }
    text.push_str(&format!(
        "{} {} {}",
        block.timestamp,
        block.nonce,
        json_string(&block.data)
    ));
    text
}

/// Reads a receipt's lines in order, numbering them for errors.
struct Lines<'a> {
    lines: &'a [&'a str],
    /// The index of the next line (the first, the format, is read).
    at: usize,
}

impl<'a> Lines<'a> {
    fn done(&self) -> bool {
        self.at >= self.lines.len()
    }

    /// The value of the next line if it starts with `key`.
    fn optional(&mut self, key: &str) -> Option<&'a str> {
        let line = self.lines.get(self.at)?;
        let value = line.strip_prefix(key)?.strip_prefix(' ')?;
        self.at += 1;
        Some(value)
    }

    fn expect(&mut self, key: &str) -> Result<&'a str, ReceiptError> {
        self.optional(key)
            .ok_or_else(|| self.error(&format!("a {key} line should come here")))
    }

    /// `[index] timestamp nonce "data"`.
    fn fields(&mut self, key: &str, with_index: bool) -> Result<HeaderFields, ReceiptError> {
        let value = self.expect(key)?;
        let what = match with_index {
            true => "block INDEX TIMESTAMP NONCE \"DATA\"",
            false => "genesis TIMESTAMP NONCE \"DATA\"",
        };
        let mut parts = value.splitn(if with_index { 4 } else { 3 }, ' ');
        let mut number = || parts.next().and_then(decimal);
        let index = match with_index {
            true => number().and_then(|n| u64::try_from(n).ok()),
            false => Some(0),
        };
        let timestamp = number();
        let nonce = number().and_then(|n| u64::try_from(n).ok());
        let data = parts.next().and_then(|json| {
            let data = serde_json::from_str::<String>(json).ok()?;
            (json_string(&data) == json).then_some(data)
        });
        match (index, timestamp, nonce, data) {
            (Some(index), Some(timestamp), Some(nonce), Some(data)) => Ok(HeaderFields {
                index: Height(index),
                timestamp: Timestamp(timestamp),
                nonce: Nonce(nonce),
                data,
            }),
            _ => Err(self.error_before(&format!(
                "{key} should read: {what} (whole numbers without leading zeros, the data as a JSON string)"
            ))),
        }
    }

    /// An error about the next line.
    fn error(&self, problem: &str) -> ReceiptError {
        ReceiptError::Malformed {
            line: self.at + 1,
            problem: problem.to_owned(),
        }
    }

    /// An error about the line just read.
    fn error_before(&self, problem: &str) -> ReceiptError {
        ReceiptError::Malformed {
            line: self.at,
            problem: problem.to_owned(),
        }
    }
}

/// A whole number in canonical decimal (no sign, no leading zero).
fn decimal(text: &str) -> Option<u128> {
    let canonical = text == "0" || (!text.is_empty() && !text.starts_with('0'));
    if !canonical || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// 64 lowercase hex digits.
fn hash_hex(text: &str) -> Option<BlockHash> {
    text.parse::<BlockHash>()
        .ok()
        .filter(|hash| hash.to_string() == text)
}
