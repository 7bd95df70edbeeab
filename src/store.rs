//! The chain store: every valid block this node ever accepted, in SQLite.
//!
//! Tables, named for someone reading them with the `sqlite3` tool: `blocks`
//! (the block tree: every block, main chain and side branches, with its
//! cumulative work), `main_chain` (index -> block, the chain this node
//! follows), `meta` (the network file and the tip), `entries` (every entry
//! known here, by id), `block_entries` (which block carries which entry),
//! `pool` (entries waiting for a block; see `crate::pool`),
//! `invalid_blocks`, `peer_bans` (peers dropped for a while, kept across
//! restarts) and `peer_addresses` (the address book: nodes heard of and
//! reached). The view `chain` joins the first two.
//!
//! Entries follow the main chain inside the store's own transactions: when
//! a block joins the main chain its entries leave the pool, and when a
//! reorg takes it off, those not in the new branch go back.
//!
//! The store knows records and transactions, not rules: it accepts only a
//! `ValidatedBlock`, and it moves the tip where it is told. Choosing the tip
//! is `crate::chain`'s job. Each change is one transaction (WAL mode,
//! `synchronous=FULL`), so a crash leaves the old tip or the new one, and a
//! committed change survives power loss. Opening reads only `meta` and the
//! tip's row: no re-validation (`ChainState::verify` does that on demand).

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};

use crate::consensus::entry::CheckedEntry;
use crate::consensus::retarget::WINDOW_SPAN;
use crate::consensus::{
    Block, BlockHash, Difficulty, EntryId, Height, Network, ParentContext, ParentLink, Target,
    TimeWindow, Timestamp, ValidatedBlock, Work, validate::validate_genesis,
};
use crate::pool::{self, PoolLimits, PoolStats};
use crate::wire::BlockText;

/// The file inside the data directory.
pub const DB_FILE: &str = "chain.sqlite3";
const SCHEMA_VERSION: &str = "4";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS blocks (
    id          INTEGER PRIMARY KEY,   -- row number, used by main_chain
    hash        TEXT NOT NULL,         -- 64 lowercase hex digits: the block's identity
    hash_key    INTEGER NOT NULL,      -- the hash's last 8 bytes: a small index to find it by
    block_index INTEGER NOT NULL,      -- the original's `index` (height); genesis is 0
    prev_hash   TEXT NOT NULL,         -- parent's hash; '' for genesis
    data        TEXT NOT NULL,
    timestamp   TEXT NOT NULL,         -- decimal; may exceed 64 bits (20-digit clock readings)
    nonce       TEXT NOT NULL,         -- decimal
    chain_work  TEXT NOT NULL,         -- work from genesis to this block, 80 hex digits
    target      TEXT                   -- 64 hex: the target the block met, on a network whose
                                       -- target follows the clock; NULL: the genesis target
);
CREATE INDEX IF NOT EXISTS blocks_by_index ON blocks (block_index);
-- Hashes are random, so an index on them is written all over at every
-- insert; indexing 8 bytes instead of 64 keeps that small.
CREATE INDEX IF NOT EXISTS blocks_by_hash_key ON blocks (hash_key);
-- Finding blocks by the start of their hash (a search box): the first 16
-- digits are past the zeros of proof of work and tell blocks apart, at a
-- quarter of the size of an index on the whole hash.
CREATE INDEX IF NOT EXISTS blocks_by_hash_start ON blocks (substr(hash, 1, 16));
CREATE TABLE IF NOT EXISTS main_chain (
    block_index INTEGER PRIMARY KEY,   -- 0 .. tip index, no gaps
    block_id    INTEGER NOT NULL       -- blocks.id
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,            -- schema_version, network (the network file), tip_hash, ...
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
    id      TEXT PRIMARY KEY,          -- 64 hex: SHA-256 of the entry's unsigned canonical form
    line    TEXT NOT NULL,             -- the canonical form, as blocks carry it
    author  TEXT,                      -- 64 hex ed25519 key of a signed entry, else NULL
    bytes   INTEGER NOT NULL           -- length of line
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_by_author ON entries (author) WHERE author IS NOT NULL;
CREATE TABLE IF NOT EXISTS block_entries (
    block_id INTEGER NOT NULL,         -- blocks.id
    position INTEGER NOT NULL,         -- the entry's place among the block's entry lines
    entry_id TEXT NOT NULL,            -- entries.id
    PRIMARY KEY (block_id, position)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS block_entries_by_entry ON block_entries (entry_id);
CREATE TABLE IF NOT EXISTS pool (
    seq      INTEGER PRIMARY KEY,      -- arrival order: the oldest is mined first
    entry_id TEXT NOT NULL UNIQUE,     -- entries.id
    line     TEXT NOT NULL,            -- entries.line, here too: a miner reads the pool in order alone
    bytes    INTEGER NOT NULL,         -- length of line
    source   TEXT NOT NULL DEFAULT ''  -- who submitted it (a network, a peer, 'returned'): the
                                       -- source holding most loses its oldest first when full
);
CREATE TABLE IF NOT EXISTS invalid_blocks (
    hash TEXT PRIMARY KEY              -- a stored block found invalid when its branch was tried
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS peer_bans (
    url    TEXT PRIMARY KEY,           -- a peer not asked until ...
    until  INTEGER NOT NULL,           -- ... this time, unix seconds
    reason TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS peer_addresses (
    url          TEXT PRIMARY KEY,     -- a node's base URL, http://host:port/
    source       TEXT NOT NULL,        -- who told us: operator, inbound <ip>, or a peer's URL
    tried        INTEGER NOT NULL,     -- 1 once this node reached it
    manual       INTEGER NOT NULL,     -- 1 when the operator gave it (--peer, POST /v1/peers)
    heard_at     INTEGER NOT NULL,     -- unix seconds
    last_success INTEGER,              -- unix seconds
    last_attempt INTEGER,
    failures     INTEGER NOT NULL      -- in a row
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS evicted_entries (
    entry_id TEXT NOT NULL UNIQUE,     -- an entry evicted from a full pool ...
    at       INTEGER NOT NULL          -- ... at this time, unix seconds (the latest 100,000 kept)
);
CREATE VIEW IF NOT EXISTS chain AS
    SELECT b.* FROM main_chain m JOIN blocks b ON b.id = m.block_id ORDER BY m.block_index;
";

/// What the pool's per-source shares need, made once the `pool` table has
/// its `source` column (after an upgrade from the third version): a count
/// of each source's entries and bytes, kept by triggers, so the largest
/// is found without reading the pool.
const POOL_SOURCES: &str = "
CREATE INDEX IF NOT EXISTS pool_by_source ON pool (source, seq);
CREATE TABLE IF NOT EXISTS pool_sources (
    source  TEXT PRIMARY KEY,
    entries INTEGER NOT NULL,
    bytes   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS pool_sources_by_bytes ON pool_sources (bytes);
CREATE TRIGGER IF NOT EXISTS pool_source_in AFTER INSERT ON pool BEGIN
    INSERT INTO pool_sources (source, entries, bytes) VALUES (NEW.source, 1, NEW.bytes)
    ON CONFLICT (source) DO UPDATE SET entries = entries + 1, bytes = bytes + NEW.bytes;
END;
CREATE TRIGGER IF NOT EXISTS pool_source_out AFTER DELETE ON pool BEGIN
    UPDATE pool_sources SET entries = entries - 1, bytes = bytes - OLD.bytes
    WHERE source = OLD.source;
    DELETE FROM pool_sources WHERE source = OLD.source AND entries <= 0;
END;
";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Locked(#[from] crate::datadir::LockError),
    #[error("cannot create the data directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the chain store {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "the chain store {path} belongs to another network: it was made with {what} {found}, \
         but this node runs with {expected} (use another --data-dir, or the same \
         --network/--genesis/--difficulty as before, or none: the store remembers its network)"
    )]
    OtherNetwork {
        path: PathBuf,
        what: &'static str,
        found: String,
        expected: String,
    },
    #[error(
        "the chain store {path} has schema version {found}; this jbc understands {SCHEMA_VERSION}"
    )]
    UnknownSchema { path: PathBuf, found: String },
    #[error("the chain store is damaged: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

type Result<T, E = StoreError> = std::result::Result<T, E>;

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

/// A node address this node knows (a row of `peer_addresses`; the node's
/// address book decides what goes in).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerAddress {
    pub url: String,
    /// Who told us: `operator`, `inbound <ip>` (the node itself, when it
    /// contacted us), or the peer URL whose list named it.
    pub source: String,
    /// Reached at least once.
    pub tried: bool,
    /// Given by the operator: always connected, never forgotten for failing.
    pub manual: bool,
    /// Unix seconds.
    pub heard_at: u64,
    pub last_success: Option<u64>,
    pub last_attempt: Option<u64>,
    /// Failures in a row.
    pub failures: u32,
}

/// A block of the tree for drawing it: where it is and whether it is on
/// the main chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeEntry {
    pub block: Block,
    pub on_main_chain: bool,
}

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
    fn end(text: &str) -> String {
        format!("{text}g")
    }
}

impl std::fmt::Display for HexPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
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
const BLOCKS_BY_PREFIX: &str = "
    SELECT b.block_index, b.hash, m.block_id IS NOT NULL
    FROM blocks b LEFT JOIN main_chain m
         ON m.block_index = b.block_index AND m.block_id = b.id
    WHERE substr(b.hash, 1, 16) >= ?1 AND substr(b.hash, 1, 16) < ?2
      AND b.hash >= ?3 AND b.hash < ?4
    ORDER BY substr(b.hash, 1, 16) LIMIT ?5";

/// Entries by the start of their id (?1 to ?2, the primary key), those
/// pending or confirmed on the main chain, ?3 at most.
const ENTRIES_BY_PREFIX: &str = "
    SELECT e.id FROM entries e
    WHERE e.id >= ?1 AND e.id < ?2
      AND (EXISTS (SELECT 1 FROM pool p WHERE p.entry_id = e.id)
           OR EXISTS (SELECT 1 FROM block_entries be
                      JOIN blocks b ON b.id = be.block_id
                      JOIN main_chain m ON m.block_index = b.block_index
                      WHERE be.entry_id = e.id AND m.block_id = b.id))
    ORDER BY e.id LIMIT ?3";

/// Read access, shared by the store, its write transactions and read-only
/// handles. Every method reads through `conn()`.
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
            Some(text) => text
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("stored target: {e}")))?,
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
        let mut rows = stmt.query([from, to])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(TreeEntry {
                block: parse_stored(&text_from_row(row)?)?,
                on_main_chain: row.get(6)?,
            });
        }
        Ok(out)
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
        let mut rows = stmt.query([from, to])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let target = match row.get_ref(2)?.as_str_or_null().ok().flatten() {
                Some(text) => Some(
                    text.parse()
                        .map_err(|e| StoreError::Corrupt(format!("stored target: {e}")))?,
                ),
                None => None,
            };
            out.push(ChainTime {
                index: height(row.get(0)?)?,
                timestamp: parse_timestamp(row.get_ref(1)?.as_str().map_err(|e| {
                    StoreError::Corrupt(format!("a stored timestamp is not text: {e}"))
                })?)?,
                target,
            });
        }
        Ok(out)
    }

    /// Up to `limit` stored blocks (main chain or side branches) whose hash
    /// starts with `prefix`, in hash order. Reads the rows of the
    /// `blocks_by_hash_start` index that match, never the whole table.
    fn blocks_by_prefix(&self, prefix: &HexPrefix, limit: usize) -> Result<Vec<BlockMatch>> {
        let start = &prefix.as_str()[..prefix.as_str().len().min(16)];
        let mut stmt = self.conn().prepare_cached(BLOCKS_BY_PREFIX)?;
        let rows = stmt.query_map(
            params![
                start,
                HexPrefix::end(start),
                prefix.as_str(),
                HexPrefix::end(prefix.as_str()),
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, bool>(2)?,
                ))
            },
        )?;
        let mut out = Vec::new();
        for row in rows {
            let (index, hash, on_main_chain) = row?;
            out.push(BlockMatch {
                index: height(index)?,
                hash: parse_hash(&hash)?,
                on_main_chain,
            });
        }
        Ok(out)
    }

    /// Up to `limit` ids starting with `prefix` of the entries this node
    /// can tell about (pending, or confirmed on the main chain: what
    /// `entry` finds), in id order. A range on the primary key.
    fn entries_by_prefix(&self, prefix: &HexPrefix, limit: usize) -> Result<Vec<EntryId>> {
        let mut stmt = self.conn().prepare_cached(ENTRIES_BY_PREFIX)?;
        let rows = stmt.query_map(
            params![
                prefix.as_str(),
                HexPrefix::end(prefix.as_str()),
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |row| row.get::<_, String>(0),
        )?;
        let mut out = Vec::new();
        for row in rows {
            out.push(parse_hash(&row?)?);
        }
        Ok(out)
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

    /// The lowest main-chain index of a block carrying this entry: where
    /// it is confirmed (on the article's network the first inclusion
    /// counts).
    fn confirmed_index(&self, id: &EntryId) -> Result<Option<Height>> {
        let index: Option<i64> = self
            .conn()
            .prepare_cached(
                "SELECT min(m.block_index) FROM block_entries be
                 JOIN main_chain m ON m.block_id = be.block_id WHERE be.entry_id = ?1",
            )?
            .query_row([id.hex().as_str()], |row| row.get(0))?;
        index.map(height).transpose()
    }

    /// What this node knows of an entry: pending, confirmed on the main
    /// chain, or neither (`None`).
    fn entry(&self, id: &EntryId) -> Result<Option<EntryRecord>> {
        let line: Option<String> = self
            .conn()
            .prepare_cached("SELECT line FROM entries WHERE id = ?1")?
            .query_row([id.hex().as_str()], |row| row.get(0))
            .optional()?;
        let Some(line) = line else {
            // Not known now; evicted from a full pool lately?
            return Ok(pool::evicted_at(self.conn(), id)?.map(|at| EntryRecord {
                id: *id,
                line: String::new(),
                status: EntryStatus::Evicted { at },
            }));
        };
        let status = match self.confirmed_index(id)? {
            Some(index) => {
                let hash = self.main_hash_at(index)?.ok_or_else(|| {
                    StoreError::Corrupt(format!("main chain has no block {index}"))
                })?;
                EntryStatus::Confirmed { index, hash }
            }
            None if pool::contains(self.conn(), id)? => EntryStatus::Pending,
            None => return Ok(None),
        };
        Ok(Some(EntryRecord {
            id: *id,
            line,
            status,
        }))
    }

    /// Confirmed entries of an author, newest first, skipping `offset`.
    fn author_entries(
        &self,
        author: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<EntryRecord>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT e.id, e.line, m.block_index, b.hash
             FROM entries e
             JOIN block_entries be ON be.entry_id = e.id
             JOIN main_chain m ON m.block_id = be.block_id
             JOIN blocks b ON b.id = be.block_id
             WHERE e.author = ?1
             ORDER BY m.block_index DESC, be.position DESC LIMIT ?2 OFFSET ?3",
        )?;
        let rows = stmt.query_map(params![author, limit as i64, offset as i64], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, String>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, line, index, hash) = row?;
            out.push(EntryRecord {
                id: parse_hash(&id)?,
                line,
                status: EntryStatus::Confirmed {
                    index: height(index)?,
                    hash: parse_hash(&hash)?,
                },
            });
        }
        Ok(out)
    }

    /// Pending entries in arrival order after `after` (a `seq`).
    fn pending_entries(&self, after: i64, limit: usize) -> Result<Vec<pool::Pending>> {
        Ok(pool::pending(self.conn(), after, limit)?)
    }

    /// The oldest pending entries that fit in `budget` bytes of a block.
    fn entries_for_block(&self, budget: usize) -> Result<Vec<String>> {
        Ok(pool::for_block(self.conn(), budget)?)
    }

    /// Peers dropped until a time (unix seconds), with why.
    fn peer_bans(&self) -> Result<Vec<(String, u64, String)>> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT url, until, reason FROM peer_bans")?;
        let rows = stmt.query_map([], |row| {
            Ok((
                row.get(0)?,
                row.get::<_, i64>(1)?.max(0) as u64,
                row.get(2)?,
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The address book as last saved.
    fn peer_addresses(&self) -> Result<Vec<PeerAddress>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT url, source, tried, manual, heard_at, last_success, last_attempt, failures
             FROM peer_addresses",
        )?;
        let unix = |v: Option<i64>| v.map(|t| t.max(0) as u64);
        let rows = stmt.query_map([], |row| {
            Ok(PeerAddress {
                url: row.get(0)?,
                source: row.get(1)?,
                tried: row.get(2)?,
                manual: row.get(3)?,
                heard_at: unix(row.get(4)?).unwrap_or(0),
                last_success: unix(row.get(5)?),
                last_attempt: unix(row.get(6)?),
                failures: row.get::<_, i64>(7)?.clamp(0, i64::from(u32::MAX)) as u32,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
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

/// Where an entry stands on this node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryStatus {
    Pending,
    Confirmed {
        index: Height,
        hash: BlockHash,
    },
    /// Evicted from a full pool at `at` (unix seconds); its record's
    /// `line` is empty (not kept).
    Evicted {
        at: u64,
    },
}

/// An entry as the store knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryRecord {
    pub id: EntryId,
    /// Its canonical encoding.
    pub line: String,
    pub status: EntryStatus,
}

/// How sure a commit must be to survive a power cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// On disk when `commit` returns (fsync): for anything the node tells
    /// someone it has (a mined block, a block answered on HTTP).
    Acknowledged,
    /// Survives a crash of the process, but a power cut may lose the last
    /// commits: for bulk sync and import, whose blocks are fetched again
    /// if lost. The next acknowledged commit makes them durable too (WAL
    /// is written in order).
    Bulk,
}

/// The writer: one per data directory (SQLite serialises writers anyway).
pub struct Store {
    conn: Connection,
    /// This process is the directory's one writer while it holds this.
    lock: crate::datadir::DirLock,
    path: PathBuf,
    /// The network's target follows the clock: rows record targets.
    with_targets: bool,
    tip: Tip,
    pool: PoolStats,
}

impl BlockReads for Store {
    fn conn(&self) -> &Connection {
        &self.conn
    }
}

impl Store {
    /// Opens (or creates) the store in `dir`. A new store starts with the
    /// network's genesis and keeps the network file; an existing one must
    /// be of the same network (a store of the first version is upgraded).
    pub fn open(dir: &Path, network: &Network) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
        // Before anything in the directory is read or written.
        let lock = crate::datadir::DirLock::acquire(dir)?;
        let path = dir.join(DB_FILE);
        let open_err = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        let mut conn = connect(&path).map_err(open_err)?;
        let tx = conn.transaction()?;
        tx.execute_batch(SCHEMA).map_err(open_err)?;
        match meta(&tx, "schema_version")?.as_deref() {
            None => create(&tx, network)?,
            Some("1") => {
                upgrade_from_v1(&tx, &path, network)?;
                upgrade_from_v2(&tx)?;
                upgrade_from_v3(&tx)?;
            }
            Some("2") => {
                check_network(&tx, &path, network)?;
                upgrade_from_v2(&tx)?;
                upgrade_from_v3(&tx)?;
            }
            Some("3") => {
                check_network(&tx, &path, network)?;
                upgrade_from_v3(&tx)?;
            }
            Some(SCHEMA_VERSION) => check_network(&tx, &path, network)?,
            Some(other) => {
                return Err(StoreError::UnknownSchema {
                    path,
                    found: other.to_owned(),
                });
            }
        }
        // New stores and stores of this version (upgrades made it).
        tx.execute_batch(POOL_SOURCES).map_err(open_err)?;
        tx.commit()?;
        let tip = conn_tip(&conn)?;
        let pool = pool::load_stats(&conn)?;
        Ok(Store {
            conn,
            lock,
            path,
            with_targets: network.retarget().is_some(),
            tip,
            pool,
        })
    }

    /// The network of the store in `dir`, if there is one: what a command
    /// without network flags runs on.
    pub fn network_in(dir: &Path) -> Result<Option<Network>> {
        let path = dir.join(DB_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let reader = StoreReader::open(&path)?;
        stored_network(&reader.conn, &path).map(Some)
    }

    /// What the pool holds (as of the last commit).
    pub fn pool(&self) -> PoolStats {
        self.pool
    }

    /// Tells the data directory's lock file where the node holding it
    /// listens (for error messages and the `jbc` control commands).
    pub fn set_holder_url(&mut self, url: &str) -> std::io::Result<()> {
        self.lock.set_url(url)
    }

    /// Remembers that `url` is not to be asked before `until` (unix
    /// seconds), and why.
    pub fn save_ban(&mut self, url: &str, until: u64, reason: &str) -> Result<()> {
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO peer_bans (url, until, reason) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![url, until as i64, reason])?;
        Ok(())
    }

    /// Writes the address book's changes (`changed` upserted, `removed`
    /// deleted) in one transaction.
    pub fn save_addresses(&mut self, changed: &[PeerAddress], removed: &[String]) -> Result<()> {
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        let tx = self.conn.transaction()?;
        {
            let mut upsert = tx.prepare_cached(
                "INSERT OR REPLACE INTO peer_addresses
                    (url, source, tried, manual, heard_at, last_success, last_attempt, failures)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            let signed = |v: Option<u64>| v.map(|t| i64::try_from(t).unwrap_or(i64::MAX));
            for a in changed {
                upsert.execute(params![
                    a.url,
                    a.source,
                    a.tried,
                    a.manual,
                    signed(Some(a.heard_at)),
                    signed(a.last_success),
                    signed(a.last_attempt),
                    a.failures,
                ])?;
            }
            let mut delete = tx.prepare_cached("DELETE FROM peer_addresses WHERE url = ?1")?;
            for url in removed {
                delete.execute([url])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn tip(&self) -> Tip {
        self.tip
    }

    /// Makes every commit so far durable, `Durability::Bulk` ones included:
    /// a checkpoint syncs the WAL to disk before copying it into the
    /// database file.
    pub fn checkpoint(&mut self) -> Result<()> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// A read-only connection to the same database, for readers on other
    /// threads (WAL lets them read while this store writes).
    pub fn reader(&self) -> Result<StoreReader> {
        StoreReader::open(&self.path)
    }

    /// Starts a write transaction. Nothing it does is visible to readers,
    /// or survives, until `commit`.
    pub fn write(&mut self, durability: Durability) -> Result<WriteTx<'_>> {
        let mode = match durability {
            Durability::Acknowledged => "FULL",
            Durability::Bulk => "NORMAL",
        };
        self.conn.pragma_update(None, "synchronous", mode)?;
        let (pending_tip, pending_pool) = (self.tip, self.pool);
        let tx = self.conn.transaction()?;
        Ok(WriteTx {
            tx,
            any_invalid: None,
            with_targets: self.with_targets,
            committed_tip: &mut self.tip,
            pending_tip,
            committed_pool: &mut self.pool,
            pending_pool,
            saved: None,
            moves: PoolMoves::default(),
        })
    }
}

/// The writer's connection, set up for durability and bulk speed.
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // WAL: readers never block the writer. FULL: a commit is on disk when
    // it returns, so what the node acknowledged survives a crash
    // (`Durability::Bulk` relaxes this per transaction).
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    // 64 MiB of page cache: the hash index is random-access, and a small
    // cache turns every insert into page reads.
    conn.pragma_update(None, "cache_size", -65536)?;
    // Checkpoint every 16k pages (64 MiB of WAL) instead of 1k: each
    // checkpoint syncs and rewrites pages, and bulk sync writes a lot.
    conn.pragma_update(None, "wal_autocheckpoint", 16384)?;
    Ok(conn)
}

/// A new store: the network's genesis as block 0 and tip, and the network
/// file, so that the store is never opened with another network.
fn create(tx: &Connection, network: &Network) -> Result<()> {
    let genesis = validate_genesis(network.genesis().clone(), network)
        .expect("a network's genesis is its own genesis");
    insert_block(tx, &genesis, network.genesis_work(), false, true)?;
    tx.execute(
        "INSERT INTO main_chain (block_index, block_id) VALUES (0, last_insert_rowid())",
        [],
    )?;
    set_meta(tx, "schema_version", SCHEMA_VERSION)?;
    set_meta(tx, "network", &crate::wire::network::to_json(network))?;
    set_meta(tx, "tip_hash", &network.genesis_hash().to_string())?;
    Ok(())
}

/// The network file kept in the store.
fn stored_network(conn: &Connection, path: &Path) -> Result<Network> {
    if meta(conn, "schema_version")?.as_deref() == Some("1") {
        return v1_network(conn);
    }
    let text = meta(conn, "network")?
        .ok_or_else(|| StoreError::Corrupt(format!("{} keeps no network", path.display())))?;
    crate::wire::network::from_json(text.as_bytes())
        .map_err(|e| StoreError::Corrupt(format!("the network kept in the store: {e}")))
}

/// An existing store must be of the network it is opened with.
fn check_network(tx: &Connection, path: &Path, network: &Network) -> Result<()> {
    let stored = stored_network(tx, path)?;
    if stored.id() == network.id() {
        return Ok(());
    }
    let (what, found, expected) = if stored.genesis_hash() != network.genesis_hash() {
        (
            "genesis",
            stored.genesis_hash().to_string(),
            network.genesis_hash().to_string(),
        )
    } else if stored.difficulty() != network.difficulty() {
        (
            "difficulty",
            stored.difficulty().to_string(),
            network.difficulty().to_string(),
        )
    } else {
        (
            "entry rules",
            stored.entry_rules().to_string(),
            network.entry_rules().to_string(),
        )
    };
    Err(StoreError::OtherNetwork {
        path: path.to_owned(),
        what,
        found,
        expected,
    })
}

/// A store of the first version kept the genesis and the difficulty: its
/// network had the original's rules.
fn v1_network(conn: &Connection) -> Result<Network> {
    let zeros: u64 = meta(conn, "difficulty")?
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| StoreError::Corrupt("meta has no difficulty".into()))?;
    let difficulty =
        Difficulty::new(zeros).map_err(|e| StoreError::Corrupt(format!("meta difficulty: {e}")))?;
    let genesis = BlockReads::main_blocks(&Borrowed(conn), Height(0), 1)?
        .pop()
        .ok_or_else(|| StoreError::Corrupt("the main chain has no block 0".into()))?;
    Network::original(genesis, difficulty)
        .map_err(|e| StoreError::Corrupt(format!("the stored genesis: {e}")))
}

/// Upgrades a store of the first version: the new tables (made by
/// `SCHEMA`), the network file instead of genesis hash and difficulty, and
/// the entries of the blocks it holds indexed.
fn upgrade_from_v1(tx: &Connection, path: &Path, network: &Network) -> Result<()> {
    check_network(tx, path, network)?;
    let mut blocks = tx.prepare(
        "SELECT id, data FROM blocks WHERE block_index > 0 AND data LIKE 'jbc-entries/%'",
    )?;
    let rows: Vec<(i64, String)> = blocks
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, data) in rows {
        let genesis = network.genesis_hash();
        if let Ok(found) =
            crate::consensus::entry::block_entries(&data, network.entry_rules(), &genesis)
        {
            insert_block_entries(tx, id, &found)?;
        }
    }
    set_meta(tx, "network", &crate::wire::network::to_json(network))?;
    tx.execute(
        "DELETE FROM meta WHERE key IN ('genesis_hash', 'difficulty')",
        [],
    )?;
    set_meta(tx, "schema_version", SCHEMA_VERSION)?;
    Ok(())
}

/// Upgrades a store of the second version: block rows gain a target
/// (NULL, the genesis target: such stores hold only fixed networks).
fn upgrade_from_v2(tx: &Connection) -> Result<()> {
    let has_target: bool = tx.query_row(
        "SELECT count(*) FROM pragma_table_info('blocks') WHERE name = 'target'",
        [],
        |row| row.get::<_, i64>(0).map(|n| n > 0),
    )?;
    if !has_target {
        tx.execute_batch("ALTER TABLE blocks ADD COLUMN target TEXT")?;
    }
    set_meta(tx, "schema_version", SCHEMA_VERSION)?;
    Ok(())
}

/// Upgrades a store of the third version: pool rows gain a source (''
/// for those already there, one share), and the per-source counts start
/// from what the pool holds.
fn upgrade_from_v3(tx: &Connection) -> Result<()> {
    let has_source: bool = tx.query_row(
        "SELECT count(*) FROM pragma_table_info('pool') WHERE name = 'source'",
        [],
        |row| row.get::<_, i64>(0).map(|n| n > 0),
    )?;
    if !has_source {
        tx.execute_batch("ALTER TABLE pool ADD COLUMN source TEXT NOT NULL DEFAULT ''")?;
    }
    tx.execute_batch(POOL_SOURCES)?;
    tx.execute_batch(
        "DELETE FROM pool_sources;
         INSERT INTO pool_sources (source, entries, bytes)
             SELECT source, count(*), total(bytes) FROM pool GROUP BY source;",
    )?;
    set_meta(tx, "schema_version", SCHEMA_VERSION)?;
    Ok(())
}

/// Reads through any connection (for the steps of `open`).
struct Borrowed<'a>(&'a Connection);

impl BlockReads for Borrowed<'_> {
    fn conn(&self) -> &Connection {
        self.0
    }
}

fn conn_tip(conn: &Connection) -> Result<Tip> {
    Borrowed(conn).recorded_tip()
}

/// A read-only handle for another thread.
pub struct StoreReader {
    conn: Connection,
}

impl BlockReads for StoreReader {
    fn conn(&self) -> &Connection {
        &self.conn
    }
}

impl StoreReader {
    pub fn open(path: &Path) -> Result<StoreReader> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| StoreError::Open {
            path: path.to_owned(),
            source,
        })?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        Ok(StoreReader { conn })
    }

    pub fn tip(&self) -> Result<Tip> {
        self.recorded_tip()
    }

    /// Runs `f` inside one read transaction: every query it makes sees the
    /// same state of the store, even if the writer commits meanwhile.
    pub fn snapshot<T>(&self, f: impl FnOnce(&StoreReader) -> Result<T>) -> Result<T> {
        let tx = self.conn.unchecked_transaction()?;
        let result = f(self);
        tx.finish()?;
        result
    }
}

/// A block just inserted, with what moving the tip to it needs.
#[derive(Clone, Copy, Debug)]
pub struct Inserted {
    id: i64,
    /// How many entries it carries (none: nothing to take from the pool).
    entries: usize,
    pub index: Height,
    pub hash: BlockHash,
    pub prev_hash: Option<BlockHash>,
    pub chain_work: Work,
}

/// One atomic change: insert blocks and entries, move the tip, then
/// `commit`. Dropped without `commit`, it changes nothing.
pub struct WriteTx<'a> {
    tx: rusqlite::Transaction<'a>,
    /// Whether any block is marked invalid, once asked: almost never, so
    /// a sync of many blocks asks the table once, not once per block.
    any_invalid: Option<bool>,
    /// Whether block rows record their target (see `insert_block`).
    with_targets: bool,
    committed_tip: &'a mut Tip,
    pending_tip: Tip,
    committed_pool: &'a mut PoolStats,
    pending_pool: PoolStats,
    /// The tip, pool and moves at the open savepoint, if one is open.
    saved: Option<(Tip, PoolStats, PoolMoves)>,
    moves: PoolMoves,
}

/// How entries moved in a transaction, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolMoves {
    /// Left the pool because a block on the main chain carries them.
    pub confirmed: u64,
    /// Came back to the pool because a reorg took their block away.
    pub returned: u64,
    /// Evicted (the pool was full).
    pub evicted: u64,
}

/// Where an entry stands, as one is added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryState {
    /// It was not pending or confirmed here; it is pending now.
    New,
    /// It was pending already.
    Pending,
    /// It is confirmed on the main chain, in the block at this index.
    Confirmed(Height),
}

impl BlockReads for WriteTx<'_> {
    fn conn(&self) -> &Connection {
        &self.tx
    }
}

impl WriteTx<'_> {
    /// The tip as it will be after `commit`.
    pub fn tip(&self) -> Tip {
        self.pending_tip
    }

    /// The pool as it will be after `commit`.
    pub fn pool(&self) -> PoolStats {
        self.pending_pool
    }

    /// Adds a checked entry to the pool, unless it is pending or confirmed
    /// on the main chain already.
    /// Adds a checked entry from `source` (who submitted it: the pool's
    /// shares are by source) to the pool, unless it is pending or
    /// confirmed already.
    pub fn add_entry(&mut self, entry: &CheckedEntry, source: &str) -> Result<EntryState> {
        let id = &entry.id();
        if pool::contains(&self.tx, id)? {
            return Ok(EntryState::Pending);
        }
        if let Some(index) = self.confirmed_index(id)? {
            return Ok(EntryState::Confirmed(index));
        }
        insert_entry(&self.tx, entry)?;
        pool::add(&self.tx, id, entry.line(), source, &mut self.pending_pool)?;
        Ok(EntryState::New)
    }

    /// Evicts the oldest pending entries until the pool is within `limits`;
    /// how many.
    pub fn evict(&mut self, limits: &PoolLimits) -> Result<u64> {
        let evicted = pool::evict(&self.tx, limits, &mut self.pending_pool)?;
        self.moves.evicted += evicted;
        Ok(evicted)
    }

    /// Marks a block as invalid (found so when its branch was tried): it,
    /// and what builds on it, is refused from now on.
    /// True for a block found invalid when its branch was tried (see
    /// `BlockReads::is_known_invalid`), asking the table only if it holds
    /// anything.
    pub fn known_invalid(&mut self, hash: &BlockHash) -> Result<bool> {
        let any = match self.any_invalid {
            Some(any) => any,
            None => {
                let any = self.tx.query_row(
                    "SELECT EXISTS (SELECT 1 FROM invalid_blocks)",
                    [],
                    |row| row.get::<_, bool>(0),
                )?;
                self.any_invalid = Some(any);
                any
            }
        };
        if !any {
            return Ok(false);
        }
        self.is_known_invalid(hash)
    }

    pub fn mark_invalid(&mut self, hash: &BlockHash) -> Result<()> {
        self.any_invalid = Some(true);
        self.tx
            .prepare_cached("INSERT OR IGNORE INTO invalid_blocks (hash) VALUES (?1)")?
            .execute([hash.hex().as_str()])?;
        Ok(())
    }

    /// Opens a savepoint: `rollback_to_savepoint` undoes everything after
    /// it (rows, tip and pool), `release_savepoint` keeps it.
    pub fn savepoint(&mut self) -> Result<()> {
        self.tx.execute_batch("SAVEPOINT try_branch")?;
        self.saved = Some((self.pending_tip, self.pending_pool, self.moves));
        Ok(())
    }

    pub fn rollback_to_savepoint(&mut self) -> Result<()> {
        self.tx
            .execute_batch("ROLLBACK TO try_branch; RELEASE try_branch")?;
        if let Some((tip, pool, moves)) = self.saved.take() {
            self.pending_tip = tip;
            self.pending_pool = pool;
            self.moves = moves;
        }
        Ok(())
    }

    pub fn release_savepoint(&mut self) -> Result<()> {
        self.tx.execute_batch("RELEASE try_branch")?;
        self.saved = None;
        Ok(())
    }

    /// The first block above `fork_index` on the main chain that carries an
    /// entry a lower main-chain block carries already, with that entry:
    /// what a reorg must not bring.
    pub fn repeated_entry_above(&self, fork_index: Height) -> Result<Option<(EntryId, Height)>> {
        let found: Option<(String, i64)> = self
            .tx
            .prepare_cached(
                "SELECT be.entry_id, m.block_index
                 FROM main_chain m JOIN block_entries be ON be.block_id = m.block_id
                 WHERE m.block_index > ?1 AND EXISTS (
                     SELECT 1 FROM block_entries be2
                     JOIN main_chain m2 ON m2.block_id = be2.block_id
                     WHERE be2.entry_id = be.entry_id AND m2.block_index < m.block_index)
                 ORDER BY m.block_index LIMIT 1",
            )?
            .query_row([fork_index.0 as i64], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        found
            .map(|(id, index)| Ok((parse_hash(&id)?, height(index)?)))
            .transpose()
    }

    /// Takes the entries of a block that joined the main chain out of the
    /// pool.
    fn confirm_entries(&mut self, block_id: i64) -> Result<()> {
        let removed = pool::remove_block(&self.tx, block_id, &mut self.pending_pool)?;
        self.moves.confirmed += removed;
        Ok(())
    }

    /// Puts the entries of a block that left the main chain back in the
    /// pool, unless the main chain (already the new one) confirms them.
    fn return_entries(&mut self, block_id: i64) -> Result<()> {
        let returned = pool::return_block(&self.tx, block_id, &mut self.pending_pool)?;
        self.moves.returned += returned;
        Ok(())
    }

    /// Stores a block in the tree. Returns `None` (and changes nothing) when
    /// a block with this hash is already stored: the first version of a
    /// hash is the block, forever.
    ///
    /// `certainly_new` skips looking for it first: the caller knows it
    /// cannot be stored yet (its parent was stored by this transaction).
    pub fn insert(
        &mut self,
        block: &ValidatedBlock,
        chain_work: Work,
        certainly_new: bool,
    ) -> Result<Option<Inserted>> {
        if !insert_block(
            &self.tx,
            block,
            chain_work,
            self.with_targets,
            certainly_new,
        )? {
            return Ok(None);
        }
        let id = self.tx.last_insert_rowid();
        insert_block_entries(&self.tx, id, block.entries())?;
        let entries = block.entries().len();
        let block = block.block();
        Ok(Some(Inserted {
            id,
            entries,
            index: block.index,
            hash: block.hash,
            prev_hash: block.prev_hash,
            chain_work,
        }))
    }

    /// Makes a block inserted in this transaction the tip. The common case,
    /// a child of the tip, is one row; anything else is `set_tip`.
    pub fn set_tip_to(&mut self, block: &Inserted) -> Result<Reorg> {
        if block.prev_hash != Some(self.pending_tip.hash) {
            return self.set_tip(&block.hash);
        }
        let index = i64::try_from(block.index.0).map_err(|_| {
            StoreError::Corrupt(format!("index {} is beyond the store's range", block.index))
        })?;
        self.tx
            .prepare_cached("INSERT INTO main_chain (block_index, block_id) VALUES (?1, ?2)")?
            .execute([index, block.id])?;
        if block.entries > 0 {
            self.confirm_entries(block.id)?;
        }
        let fork_index = self.pending_tip.index;
        self.pending_tip = Tip {
            index: block.index,
            hash: block.hash,
            chain_work: block.chain_work,
        };
        Ok(Reorg {
            fork_index,
            disconnected: 0,
            connected: 1,
        })
    }

    /// Makes the stored block `hash` the tip: back from the old tip to the
    /// fork point, then forward along the new branch.
    pub fn set_tip(&mut self, hash: &BlockHash) -> Result<Reorg> {
        let mut lookup = self.tx.prepare_cached(
            "SELECT id, block_index, prev_hash, chain_work FROM blocks WHERE hash_key = ?1 AND hash = ?2",
        )?;
        let mut on_main = self
            .tx
            .prepare_cached("SELECT block_id FROM main_chain WHERE block_index = ?1")?;
        let find = |lookup: &mut rusqlite::CachedStatement<'_>, hash: &BlockHash| {
            lookup
                .query_row(params![hash_key(hash), hash.hex().as_str()], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, String>(2)?,
                        work_from_row(row, 3),
                    ))
                })
                .optional()?
                .ok_or_else(|| StoreError::Corrupt(format!("block {hash} is not stored")))
        };

        let (mut id, mut index, mut prev, work) = find(&mut lookup, hash)?;
        let new_tip = Tip {
            index: height(index)?,
            hash: *hash,
            chain_work: work?,
        };
        // Walk back until we stand on the main chain; remember the branch.
        let mut branch = Vec::new();
        loop {
            let main_id: Option<i64> = on_main.query_row([index], |row| row.get(0)).optional()?;
            if main_id == Some(id) {
                break;
            }
            branch.push((index, id));
            if prev.is_empty() {
                return Err(StoreError::Corrupt(format!(
                    "block {hash} does not lead back to the main chain"
                )));
            }
            let parent = parse_hash(&prev)?;
            let (pid, pindex, pprev, _) = find(&mut lookup, &parent)?;
            (id, index, prev) = (pid, pindex, pprev);
        }
        let fork_index = index;
        let left: Vec<i64> = self
            .tx
            .prepare_cached("DELETE FROM main_chain WHERE block_index > ?1 RETURNING block_id")?
            .query_map([fork_index], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut add = self
            .tx
            .prepare_cached("INSERT INTO main_chain (block_index, block_id) VALUES (?1, ?2)")?;
        for (index, id) in branch.iter().rev() {
            add.execute([index, id])?;
        }
        drop((add, lookup, on_main));
        for (_, id) in &branch {
            self.confirm_entries(*id)?;
        }
        for id in &left {
            self.return_entries(*id)?;
        }
        let disconnected = left.len() as u64;
        self.pending_tip = new_tip;
        Ok(Reorg {
            fork_index: height(fork_index)?,
            disconnected,
            connected: branch.len() as u64,
        })
    }

    /// Makes the change durable (as `Durability` says); how entries moved.
    pub fn commit(self) -> Result<PoolMoves> {
        let WriteTx {
            tx,
            any_invalid: _,
            with_targets: _,
            committed_tip,
            pending_tip,
            committed_pool,
            pending_pool,
            saved: _,
            moves,
        } = self;
        if pending_tip != *committed_tip {
            set_meta(&tx, "tip_hash", &pending_tip.hash.to_string())?;
        }
        tx.commit()?;
        *committed_tip = pending_tip;
        *committed_pool = pending_pool;
        Ok(moves)
    }
}

/// The index key of a hash: its last 8 bytes (the first ones are mostly
/// the zeros of proof of work).
fn hash_key(hash: &BlockHash) -> i64 {
    let bytes = hash.as_bytes();
    let mut tail = [0u8; 8];
    tail.copy_from_slice(&bytes[24..]);
    i64::from_be_bytes(tail)
}

/// Writes a block row; `with_target` on networks whose target follows the
/// clock (elsewhere every block has the genesis target: NULL).
fn insert_block(
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

/// Records an entry's text (once) and that a block carries it.
fn insert_block_entries(
    conn: &Connection,
    block_id: i64,
    entries: &[crate::consensus::entry::BlockEntry],
) -> Result<()> {
    let mut carries = conn.prepare_cached(
        "INSERT INTO block_entries (block_id, position, entry_id) VALUES (?1, ?2, ?3)",
    )?;
    for found in entries {
        insert_entry(conn, &found.entry)?;
        carries.execute(params![
            block_id,
            found.position as i64,
            found.entry.id().hex().as_str()
        ])?;
    }
    Ok(())
}

fn insert_entry(conn: &Connection, entry: &CheckedEntry) -> Result<()> {
    let author = entry.entry().author.as_ref().map(|a| a.key.to_string());
    let line = entry.line();
    conn.prepare_cached(
        "INSERT OR IGNORE INTO entries (id, line, author, bytes) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        entry.id().hex().as_str(),
        line,
        author,
        line.len() as i64
    ])?;
    Ok(())
}

fn meta(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |row| row.get(0))
        .optional()?)
}

fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")?
        .execute([key, value])?;
    Ok(())
}

fn parse_hash(text: &str) -> Result<BlockHash> {
    text.parse()
        .map_err(|e| StoreError::Corrupt(format!("stored hash: {e}")))
}

fn height(index: i64) -> Result<Height> {
    u64::try_from(index)
        .map(Height)
        .map_err(|_| StoreError::Corrupt(format!("negative block_index {index}")))
}

fn parse_timestamp(text: &str) -> Result<Timestamp> {
    text.parse()
        .map(Timestamp)
        .map_err(|e| StoreError::Corrupt(format!("stored timestamp {text:?}: {e}")))
}

fn work_from_row(row: &Row<'_>, col: usize) -> Result<Work> {
    let text: String = row.get(col)?;
    Work::from_hex(&text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Columns 0-5 (block_index as text, prev_hash, data, timestamp, nonce,
/// hash), borrowed from the row.
fn text_from_row<'r>(row: &'r Row<'_>) -> Result<BlockText<'r>> {
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
    })
}

/// Parses a stored row with the one parser. The row was written from a
/// validated block, so a failure here means the file was damaged.
fn parse_stored(text: &BlockText<'_>) -> Result<Block> {
    text.to_block()
        .map_err(|e| StoreError::Corrupt(format!("a stored block does not parse: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan SQLite makes for `sql`: one line per step.
    fn plan(store: &Store, sql: &str, params: impl rusqlite::Params) -> Vec<String> {
        let mut stmt = store
            .conn()
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        stmt.query_map(params, |row| row.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn prefix_lookups_read_an_index_never_a_whole_table() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &Network::seed()).unwrap();
        let blocks = plan(
            &store,
            BLOCKS_BY_PREFIX,
            params!["00000a3c", "00000a3cg", "00000a3c", "00000a3cg", 11],
        );
        assert!(
            blocks
                .iter()
                .any(|step| step.contains("USING INDEX blocks_by_hash_start")),
            "{blocks:?}"
        );
        let entries = plan(
            &store,
            ENTRIES_BY_PREFIX,
            params!["30400b93", "30400b93g", 11],
        );
        assert!(
            entries
                .iter()
                .any(|step| step.starts_with("SEARCH e USING PRIMARY KEY")),
            "{entries:?}"
        );
        for step in blocks.iter().chain(&entries) {
            // An automatic index is built by reading the whole table.
            assert!(
                !step.starts_with("SCAN") && !step.contains("AUTOMATIC"),
                "{step} in {blocks:?} {entries:?}"
            );
        }
    }

    #[test]
    fn a_prefix_is_lowercase_hex_of_1_to_64_digits() {
        assert!(HexPrefix::new("0").is_some());
        assert!(HexPrefix::new(&"f".repeat(64)).is_some());
        for bad in ["", "ABCDEF12", "0x12", &"0".repeat(65), "1234567g"] {
            assert_eq!(HexPrefix::new(bad), None, "{bad}");
        }
    }
}
