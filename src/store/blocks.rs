//! The block tree and the main chain: block rows (each with its chain
//! work and, where the target follows the clock, its target), the
//! `main_chain` index, the tip in `meta`, invalid blocks, and what the
//! rules need of a block's ancestors (`parent_context`). `BlockReads` is
//! the read side, shared by the writer, its transactions and read-only
//! handles; rows are handed out as `BlockText`, parsed by the one parser.

use std::ops::ControlFlow;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::error::{Result, StoreError};
use super::meta::meta;
use crate::consensus::retarget::WINDOW_SPAN;
use crate::consensus::{
    Block, BlockHash, Height, Network, ParentContext, ParentLink, Target, TimeWindow, Timestamp,
    ValidatedBlock, Work,
};
use crate::wire::BlockText;

/// The end of a main chain: this store's, or a peer's as it tells us (in
/// `/v1` answers, where `chain_work` is exact decimal text).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tip {
    pub index: Height,
    pub hash: BlockHash,
    pub chain_work: Work,
}

/// A stored block with what the store knows of its place in the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBlock {
    pub block: Block,
    pub chain_work: Work,
}

/// When a main-chain block was made and what target it met (`None`: the
/// genesis target), for charts of the chain's pace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainTime {
    pub index: Height,
    pub timestamp: Timestamp,
    pub target: Option<Target>,
}

/// A block of the tree for drawing it: where it is and whether it is on
/// the main chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeEntry {
    pub block: Block,
    pub on_main_chain: bool,
}

/// A stored block found by (the start of) its hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockMatch {
    pub index: Height,
    pub hash: BlockHash,
    pub on_main_chain: bool,
}

/// What moving the tip did to the main chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Reorg {
    /// The last block the old and new main chains share.
    pub fork_index: Height,
    /// Blocks that left the main chain (0 when the tip simply extended).
    pub disconnected: u64,
    /// Blocks that joined it.
    pub connected: u64,
}

/// Blocks by the start of their hash: ?1 and ?2 bound the first 16 digits
/// (the index), ?3 and ?4 the whole hash, ?5 the limit.
pub(crate) const BLOCKS_BY_PREFIX: &str = "
    SELECT b.block_index, b.hash, m.block_id IS NOT NULL
    FROM blocks b LEFT JOIN main_chain m
         ON m.block_index = b.block_index AND m.block_id = b.id
    WHERE substr(b.hash, 1, 16) >= ?1 AND substr(b.hash, 1, 16) < ?2
      AND b.hash >= ?3 AND b.hash < ?4
    ORDER BY substr(b.hash, 1, 16) LIMIT ?5";

/// The start of a block hash or an entry id: 1 to 64 lowercase hex
/// digits. Looked up as a range on the text, `prefix <= x < prefix + "g"`
/// (every hex digit sorts below `g`), so only the matching rows are read.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HexPrefix(String);

impl HexPrefix {
    /// `None` unless `digits` is 1 to 64 lowercase hex digits.
    pub fn new(digits: &str) -> Option<HexPrefix> {
        let hex = digits
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        (hex && (1..=64).contains(&digits.len())).then(|| HexPrefix(digits.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first text above every text that starts with this prefix.
    pub(crate) fn end(text: &str) -> String {
        format!("{text}g")
    }
}

impl std::fmt::Display for HexPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads of blocks, shared by the store, its write transactions and
/// read-only handles. Every method reads through `conn()`.
pub trait BlockReads {
    fn conn(&self) -> &Connection;

    fn block(&self, hash: &BlockHash) -> Result<Option<StoredBlock>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT CAST(block_index AS TEXT), prev_hash, data, timestamp, nonce, hash, chain_work
             FROM blocks WHERE hash_key = ?1 AND hash = ?2",
        )?;
        stmt.query_row(params![hash_key(hash), hash.hex().as_str()], |row| {
            Ok((
                text_from_row(row).and_then(|text| parse_stored(&text)),
                work_from_row(row, 6),
            ))
        })
        .optional()?
        .map(|(block, work)| {
            Ok(StoredBlock {
                block: block?,
                chain_work: work?,
            })
        })
        .transpose()
    }

    fn contains(&self, hash: &BlockHash) -> Result<bool> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT 1 FROM blocks WHERE hash_key = ?1 AND hash = ?2")?;
        Ok(stmt.exists(params![hash_key(hash), hash.hex().as_str()])?)
    }

    /// Index and cumulative work of a stored block.
    fn summary(&self, hash: &BlockHash) -> Result<Option<(Height, Work)>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT block_index, chain_work FROM blocks WHERE hash_key = ?1 AND hash = ?2",
        )?;
        stmt.query_row(params![hash_key(hash), hash.hex().as_str()], |row| {
            Ok((row.get::<_, i64>(0)?, work_from_row(row, 1)))
        })
        .optional()?
        .map(|(index, work)| Ok((height(index)?, work?)))
        .transpose()
    }

    /// What a child of the stored block `hash` is validated against (its
    /// place, target and the timestamps before it), and its cumulative
    /// work.
    fn parent_context(
        &self,
        hash: &BlockHash,
        network: &Network,
    ) -> Result<Option<(ParentContext, Work)>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT block_index, chain_work, target, timestamp, prev_hash
             FROM blocks WHERE hash_key = ?1 AND hash = ?2",
        )?;
        let row = stmt
            .query_row(params![hash_key(hash), hash.hex().as_str()], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    work_from_row(row, 1),
                    row.get::<_, Option<String>>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, String>(4)?,
                ))
            })
            .optional()?;
        let Some((index, work, target, timestamp, prev_hash)) = row else {
            return Ok(None);
        };
        let target = match target {
            Some(text) => parse_target(&text)?,
            None => network.difficulty().genesis_target(),
        };
        let mut times = TimeWindow::default();
        if network.retarget().is_some() {
            // The parent's timestamp and up to eleven before it, newest
            // first.
            let mut newest_first = vec![parse_timestamp(&timestamp)?];
            let mut prev = prev_hash;
            let mut up = self.conn().prepare_cached(
                "SELECT timestamp, prev_hash FROM blocks WHERE hash_key = ?1 AND hash = ?2",
            )?;
            while newest_first.len() < WINDOW_SPAN && !prev.is_empty() {
                let hash = parse_hash(&prev)?;
                let (time, next): (String, String) = up
                    .query_row(params![hash_key(&hash), prev.as_str()], |row| {
                        Ok((row.get(0)?, row.get(1)?))
                    })
                    .optional()?
                    .ok_or_else(|| StoreError::Corrupt(format!("block {prev} is missing")))?;
                newest_first.push(parse_timestamp(&time)?);
                prev = next;
            }
            times = TimeWindow::of(newest_first.into_iter().rev());
        }
        let context = ParentContext {
            link: ParentLink {
                index: height(index)?,
                hash: *hash,
            },
            target,
            times,
        };
        Ok(Some((context, work?)))
    }

    fn main_hash_at(&self, index: Height) -> Result<Option<BlockHash>> {
        let Ok(index) = i64::try_from(index.0) else {
            return Ok(None);
        };
        let mut stmt = self.conn().prepare_cached(
            "SELECT b.hash FROM main_chain m JOIN blocks b ON b.id = m.block_id
             WHERE m.block_index = ?1",
        )?;
        stmt.query_row([index], |row| row.get::<_, String>(0))
            .optional()?
            .map(|text| parse_hash(&text))
            .transpose()
    }

    /// Up to `limit` main-chain blocks from index `from` on, in order.
    fn main_blocks(&self, from: Height, limit: usize) -> Result<Vec<Block>> {
        let mut blocks = Vec::with_capacity(limit.min(4096));
        self.for_each_main_block(from, |block| {
            blocks.push(block);
            Ok::<_, StoreError>(if blocks.len() >= limit {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            })
        })?;
        Ok(blocks)
    }

    /// Streams main-chain blocks from `from` to the tip, in order, until `f`
    /// breaks or fails (its error is returned). One query, no per-block
    /// lookups: this is what `verify` and `export` run on.
    fn for_each_main_block<E: From<StoreError>>(
        &self,
        from: Height,
        mut f: impl FnMut(Block) -> Result<ControlFlow<()>, E>,
    ) -> Result<(), E> {
        self.for_each_main_text(from, |text| f(parse_stored(&text)?))
    }

    /// Like `for_each_main_block`, but hands out each row as the stored
    /// text, borrowed, without parsing it: for serving blocks as JSON,
    /// where parsing and re-printing every hash and number would be
    /// wasted work.
    fn for_each_main_text<E: From<StoreError>>(
        &self,
        from: Height,
        mut f: impl FnMut(BlockText<'_>) -> Result<ControlFlow<()>, E>,
    ) -> Result<(), E> {
        let Ok(from) = i64::try_from(from.0) else {
            return Ok(());
        };
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT CAST(b.block_index AS TEXT), b.prev_hash, b.data, b.timestamp, b.nonce, b.hash
                 FROM main_chain m JOIN blocks b ON b.id = m.block_id
                 WHERE m.block_index >= ?1 ORDER BY m.block_index",
            )
            .map_err(StoreError::from)?;
        let mut rows = stmt.query([from]).map_err(StoreError::from)?;
        while let Some(row) = rows.next().map_err(StoreError::from)? {
            if f(text_from_row(row)?)?.is_break() {
                break;
            }
        }
        Ok(())
    }

    /// Every stored block (main chain and side branches) with index in
    /// `from..=to`, lowest index first.
    fn tree(&self, from: Height, to: Height) -> Result<Vec<TreeEntry>> {
        let from = i64::try_from(from.0).unwrap_or(i64::MAX);
        let to = i64::try_from(to.0).unwrap_or(i64::MAX);
        let mut stmt = self.conn().prepare_cached(
            "SELECT CAST(b.block_index AS TEXT), b.prev_hash, b.data, b.timestamp, b.nonce, b.hash,
                    m.block_id IS NOT NULL
             FROM blocks b LEFT JOIN main_chain m
                  ON m.block_index = b.block_index AND m.block_id = b.id
             WHERE b.block_index BETWEEN ?1 AND ?2
             ORDER BY b.block_index, b.id",
        )?;
        stmt.query_and_then([from, to], |row| {
            Ok(TreeEntry {
                block: parse_stored(&text_from_row(row)?)?,
                on_main_chain: row.get(6)?,
            })
        })?
        .collect()
    }

    /// The timestamps and targets of main-chain blocks `from..=to`, in
    /// order: what charts of the chain's pace need (no block data read).
    fn main_chain_times(&self, from: Height, to: Height) -> Result<Vec<ChainTime>> {
        let from = i64::try_from(from.0).unwrap_or(i64::MAX);
        let to = i64::try_from(to.0).unwrap_or(i64::MAX);
        let mut stmt = self.conn().prepare_cached(
            "SELECT m.block_index, b.timestamp, b.target
             FROM main_chain m JOIN blocks b ON b.id = m.block_id
             WHERE m.block_index BETWEEN ?1 AND ?2 ORDER BY m.block_index",
        )?;
        stmt.query_and_then([from, to], |row| {
            let target = row.get_ref(2)?.as_str_or_null().ok().flatten();
            Ok(ChainTime {
                index: height(row.get(0)?)?,
                timestamp: parse_timestamp(row.get_ref(1)?.as_str().map_err(|e| {
                    StoreError::Corrupt(format!("a stored timestamp is not text: {e}"))
                })?)?,
                target: target.map(parse_target).transpose()?,
            })
        })?
        .collect()
    }

    /// Up to `limit` stored blocks (main chain or side branches) whose hash
    /// starts with `prefix`, in hash order. Reads the rows of the
    /// `blocks_by_hash_start` index that match, never the whole table.
    fn blocks_by_prefix(&self, prefix: &HexPrefix, limit: usize) -> Result<Vec<BlockMatch>> {
        let start = &prefix.as_str()[..prefix.as_str().len().min(16)];
        let mut stmt = self.conn().prepare_cached(BLOCKS_BY_PREFIX)?;
        let params = params![
            start,
            HexPrefix::end(start),
            prefix.as_str(),
            HexPrefix::end(prefix.as_str()),
            i64::try_from(limit).unwrap_or(i64::MAX)
        ];
        stmt.query_and_then(params, |row| {
            Ok(BlockMatch {
                index: height(row.get(0)?)?,
                hash: parse_hash(&row.get::<_, String>(1)?)?,
                on_main_chain: row.get(2)?,
            })
        })?
        .collect()
    }

    /// The tip as recorded in `meta` (what a reader sees; the writer keeps
    /// its own copy).
    fn recorded_tip(&self) -> Result<Tip> {
        let hash = meta(self.conn(), "tip_hash")?
            .ok_or_else(|| StoreError::Corrupt("meta has no tip_hash".into()))?;
        let hash = parse_hash(&hash)?;
        let (index, chain_work) = self
            .summary(&hash)?
            .ok_or_else(|| StoreError::Corrupt(format!("the tip {hash} is not in blocks")))?;
        Ok(Tip {
            index,
            hash,
            chain_work,
        })
    }

    /// True for a block found invalid when its branch was tried.
    fn is_known_invalid(&self, hash: &BlockHash) -> Result<bool> {
        Ok(self
            .conn()
            .prepare_cached("SELECT 1 FROM invalid_blocks WHERE hash = ?1")?
            .exists([hash.hex().as_str()])?)
    }

    fn block_count(&self) -> Result<u64> {
        let count: i64 = self
            .conn()
            .query_row("SELECT count(*) FROM blocks", [], |row| row.get(0))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }
}

/// The index key of a hash: its last 8 bytes (the first ones are mostly
/// the zeros of proof of work).
pub(crate) fn hash_key(hash: &BlockHash) -> i64 {
    i64::from_be_bytes(hash.as_bytes()[24..].try_into().expect("32 bytes"))
}

/// Writes a block row; `with_target` on networks whose target follows the
/// clock (elsewhere every block has the genesis target: NULL).
pub(crate) fn insert_block(
    conn: &Connection,
    validated: &ValidatedBlock,
    chain_work: Work,
    with_target: bool,
    certainly_new: bool,
) -> Result<bool> {
    let block = validated.block();
    let hash = block.hash.hex();
    let hash = hash.as_str();
    let key = hash_key(&block.hash);
    if !certainly_new {
        let mut exists =
            conn.prepare_cached("SELECT 1 FROM blocks WHERE hash_key = ?1 AND hash = ?2")?;
        if exists.exists(params![key, hash])? {
            return Ok(false);
        }
    }
    let index = i64::try_from(block.index.0).map_err(|_| {
        StoreError::Corrupt(format!("index {} is beyond the store's range", block.index))
    })?;
    let mut stmt = conn.prepare_cached(
        "INSERT INTO blocks
            (hash, hash_key, block_index, prev_hash, data, timestamp, nonce, chain_work, target)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    let target = with_target.then(|| validated.target().to_string());
    let changed = stmt.execute(params![
        hash,
        key,
        index,
        block.prev_hash.map(|h| h.hex()).as_deref().unwrap_or(""),
        block.data,
        block.timestamp.0.to_string(),
        block.nonce.0.to_string(),
        chain_work.to_hex(),
        target,
    ])?;
    Ok(changed == 1)
}

pub(crate) fn parse_hash(text: &str) -> Result<BlockHash> {
    text.parse()
        .map_err(|e| StoreError::Corrupt(format!("stored hash: {e}")))
}

fn parse_target(text: &str) -> Result<Target> {
    text.parse()
        .map_err(|e| StoreError::Corrupt(format!("stored target: {e}")))
}

pub(crate) fn height(index: i64) -> Result<Height> {
    u64::try_from(index)
        .map(Height)
        .map_err(|_| StoreError::Corrupt(format!("negative block_index {index}")))
}

pub(crate) fn parse_timestamp(text: &str) -> Result<Timestamp> {
    text.parse()
        .map(Timestamp)
        .map_err(|e| StoreError::Corrupt(format!("stored timestamp {text:?}: {e}")))
}

pub(crate) fn work_from_row(row: &Row<'_>, col: usize) -> Result<Work> {
    let text: String = row.get(col)?;
    Work::from_hex(&text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Columns 0-5 (block_index as text, prev_hash, data, timestamp, nonce,
/// hash), borrowed from the row.
pub(crate) fn text_from_row<'r>(row: &'r Row<'_>) -> Result<BlockText<'r>> {
    let text = |i: usize| -> Result<std::borrow::Cow<'r, str>> {
        let value = row.get_ref(i)?.as_str().map_err(|e| {
            StoreError::Corrupt(format!("column {i} of a block row is not text: {e}"))
        })?;
        Ok(std::borrow::Cow::Borrowed(value))
    };
    Ok(BlockText {
        index: text(0)?,
        prev_hash: text(1)?,
        data: text(2)?,
        timestamp: text(3)?,
        nonce: text(4)?,
        hash: text(5)?,
        entries: Vec::new(),
    })
}

/// Parses a stored row with the one parser. The row was written from a
/// validated block, so a failure here means the file was damaged.
pub(crate) fn parse_stored(text: &BlockText<'_>) -> Result<Block> {
    text.to_block()
        .map_err(|e| StoreError::Corrupt(format!("a stored block does not parse: {e}")))
}

/// Reads through any connection (for the steps of `open`).
pub(crate) struct Borrowed<'a>(pub(crate) &'a Connection);

impl BlockReads for Borrowed<'_> {
    fn conn(&self) -> &Connection {
        self.0
    }
}
