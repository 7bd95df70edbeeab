//! The chain store: every valid block this node ever accepted, in SQLite.
//!
//! Three tables, named for someone reading them with the `sqlite3` tool:
//! `blocks` (the block tree: every block, main chain and side branches, with
//! its cumulative work), `main_chain` (index -> block, the chain this node
//! follows) and `meta` (network parameters and the tip). The view `chain`
//! joins the first two.
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

use crate::consensus::{
    Block, BlockHash, Height, Network, ValidatedBlock, Work, validate::validate_genesis,
};
use crate::wire::BlockText;

/// The file inside the data directory.
pub const DB_FILE: &str = "chain.sqlite3";
const SCHEMA_VERSION: &str = "1";

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
    chain_work  TEXT NOT NULL          -- work from genesis to this block, 80 hex digits
);
CREATE INDEX IF NOT EXISTS blocks_by_index ON blocks (block_index);
-- Hashes are random, so an index on them is written all over at every
-- insert; indexing 8 bytes instead of 64 keeps that small.
CREATE INDEX IF NOT EXISTS blocks_by_hash_key ON blocks (hash_key);
CREATE TABLE IF NOT EXISTS main_chain (
    block_index INTEGER PRIMARY KEY,   -- 0 .. tip index, no gaps
    block_id    INTEGER NOT NULL       -- blocks.id
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,            -- schema_version, genesis_hash, difficulty, tip_hash
    value TEXT NOT NULL
);
CREATE VIEW IF NOT EXISTS chain AS
    SELECT b.* FROM main_chain m JOIN blocks b ON b.id = m.block_id ORDER BY m.block_index;
";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
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
         but this node runs with {expected} (use another --data-dir, or the same --genesis/--difficulty as before)"
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

/// A block of the tree for drawing it: where it is and whether it is on
/// the main chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeEntry {
    pub block: Block,
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

    /// Index and cumulative work of a stored block: what a child needs.
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

    fn block_count(&self) -> Result<u64> {
        let count: i64 = self
            .conn()
            .query_row("SELECT count(*) FROM blocks", [], |row| row.get(0))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }
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
    path: PathBuf,
    tip: Tip,
}

impl BlockReads for Store {
    fn conn(&self) -> &Connection {
        &self.conn
    }
}

impl Store {
    /// Opens (or creates) the store in `dir`. A new store starts with the
    /// network's genesis; an existing one must have been made with the same
    /// genesis and difficulty.
    pub fn open(dir: &Path, params: &Network) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
        let path = dir.join(DB_FILE);
        let mut conn = connect(&path).map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        let tx = conn.transaction()?;
        tx.execute_batch(SCHEMA)
            .map_err(|source| StoreError::Open {
                path: path.clone(),
                source,
            })?;
        match meta(&tx, "schema_version")? {
            None => create(&tx, params)?,
            Some(version) if version != SCHEMA_VERSION => {
                return Err(StoreError::UnknownSchema {
                    path,
                    found: version,
                });
            }
            Some(_) => check_network(&tx, &path, params)?,
        }
        tx.commit()?;
        let tip = conn_tip(&conn)?;
        Ok(Store { conn, path, tip })
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
        let pending_tip = self.tip;
        let tx = self.conn.transaction()?;
        Ok(WriteTx {
            tx,
            committed_tip: &mut self.tip,
            pending_tip,
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

/// A new store: the network's genesis as block 0 and tip, and what the
/// network is, so that the store is never opened with another one.
fn create(tx: &Connection, params: &Network) -> Result<()> {
    let genesis = validate_genesis(params.genesis().clone(), params)
        .expect("a network's genesis is its own genesis");
    insert_block(tx, &genesis, params.block_work())?;
    tx.execute(
        "INSERT INTO main_chain (block_index, block_id) VALUES (0, last_insert_rowid())",
        [],
    )?;
    set_meta(tx, "schema_version", SCHEMA_VERSION)?;
    set_meta(tx, "genesis_hash", &params.genesis_hash().to_string())?;
    set_meta(tx, "difficulty", &params.difficulty().zeros().to_string())?;
    set_meta(tx, "tip_hash", &params.genesis_hash().to_string())?;
    Ok(())
}

/// An existing store must be of the network `params` describe.
fn check_network(tx: &Connection, path: &Path, params: &Network) -> Result<()> {
    let expected = [
        ("genesis_hash", "genesis", params.genesis_hash().to_string()),
        (
            "difficulty",
            "difficulty",
            params.difficulty().zeros().to_string(),
        ),
    ];
    for (key, what, expected) in expected {
        match meta(tx, key)? {
            Some(found) if found != expected => {
                return Err(StoreError::OtherNetwork {
                    path: path.to_owned(),
                    what,
                    found,
                    expected,
                });
            }
            _ => {}
        }
    }
    Ok(())
}

fn conn_tip(conn: &Connection) -> Result<Tip> {
    struct Borrowed<'a>(&'a Connection);
    impl BlockReads for Borrowed<'_> {
        fn conn(&self) -> &Connection {
            self.0
        }
    }
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
    pub index: Height,
    pub hash: BlockHash,
    pub prev_hash: Option<BlockHash>,
    pub chain_work: Work,
}

/// One atomic change: insert blocks, move the tip, then `commit`. Dropped
/// without `commit`, it changes nothing.
pub struct WriteTx<'a> {
    tx: rusqlite::Transaction<'a>,
    committed_tip: &'a mut Tip,
    pending_tip: Tip,
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

    /// Stores a block in the tree. Returns `None` (and changes nothing) when
    /// a block with this hash is already stored: the first version of a
    /// hash is the block, forever.
    pub fn insert(&mut self, block: &ValidatedBlock, chain_work: Work) -> Result<Option<Inserted>> {
        if !insert_block(&self.tx, block, chain_work)? {
            return Ok(None);
        }
        let block = block.block();
        Ok(Some(Inserted {
            id: self.tx.last_insert_rowid(),
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
        let old_tip_index = i64::try_from(self.pending_tip.index.0).unwrap_or(i64::MAX);
        let disconnected = (old_tip_index - fork_index).max(0) as u64;
        self.tx
            .prepare_cached("DELETE FROM main_chain WHERE block_index > ?1")?
            .execute([fork_index])?;
        let mut add = self
            .tx
            .prepare_cached("INSERT INTO main_chain (block_index, block_id) VALUES (?1, ?2)")?;
        for (index, id) in branch.iter().rev() {
            add.execute([index, id])?;
        }
        self.pending_tip = new_tip;
        Ok(Reorg {
            fork_index: height(fork_index)?,
            disconnected,
            connected: branch.len() as u64,
        })
    }

    pub fn commit(self) -> Result<()> {
        let WriteTx {
            tx,
            committed_tip,
            pending_tip,
        } = self;
        if pending_tip != *committed_tip {
            set_meta(&tx, "tip_hash", &pending_tip.hash.to_string())?;
        }
        tx.commit()?;
        *committed_tip = pending_tip;
        Ok(())
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

fn insert_block(conn: &Connection, block: &ValidatedBlock, chain_work: Work) -> Result<bool> {
    let block = block.block();
    let hash = block.hash.hex();
    let hash = hash.as_str();
    let key = hash_key(&block.hash);
    let mut exists =
        conn.prepare_cached("SELECT 1 FROM blocks WHERE hash_key = ?1 AND hash = ?2")?;
    if exists.exists(params![key, hash])? {
        return Ok(false);
    }
    let index = i64::try_from(block.index.0).map_err(|_| {
        StoreError::Corrupt(format!("index {} is beyond the store's range", block.index))
    })?;
    let mut stmt = conn.prepare_cached(
        "INSERT INTO blocks
            (hash, hash_key, block_index, prev_hash, data, timestamp, nonce, chain_work)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    let changed = stmt.execute(params![
        hash,
        key,
        index,
        block.prev_hash.map(|h| h.hex()).as_deref().unwrap_or(""),
        block.data,
        block.timestamp.0.to_string(),
        block.nonce.0.to_string(),
        chain_work.to_hex(),
    ])?;
    Ok(changed == 1)
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
