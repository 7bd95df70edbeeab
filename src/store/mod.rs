//! The chain store: every valid block this node ever accepted, in SQLite.
//!
//! Tables, named for someone reading them with the `sqlite3` tool: `blocks`
//! (the block tree: every block, main chain and side branches, with its
//! cumulative work), `main_chain` (index -> block, the chain this node
//! follows), `meta` (the network file and the tip), `entries` (every entry
//! known here, by id), `block_entries` (which block carries which entry),
//! `pool` (entries waiting for a block), `evicted_entries`,
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
//!
//! - `schema`: the tables, and the upgrades from older versions.
//! - `blocks`: the block tree and the main chain (`BlockReads`).
//! - `entries` and `pool`: entries, which blocks carry them, and the pool
//!   of pending ones (`EntryReads`).
//! - `write`: `WriteTx`, one atomic change.
//! - `peers`: the address book and dropped peers, behind their own handle
//!   (`PeerStore`).

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::consensus::Network;

mod blocks;
mod entries;
mod peers;
pub mod pool;
mod schema;
mod write;

pub use blocks::{BlockMatch, BlockReads, ChainTime, Reorg, StoredBlock, Tip, TreeEntry};
pub use entries::{EntryReads, EntryRecord, EntryState, EntryStatus};
pub use peers::{PeerAddress, PeerStore};
pub use pool::{PoolLimits, PoolStats};
pub use write::{Inserted, PoolMoves, WriteTx};

/// The file inside the data directory.
pub const DB_FILE: &str = "chain.sqlite3";

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
        "the chain store {path} has schema version {found}; this jbc understands {}",
        schema::SCHEMA_VERSION
    )]
    UnknownSchema { path: PathBuf, found: String },
    #[error("the chain store is damaged: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

pub(crate) type Result<T, E = StoreError> = std::result::Result<T, E>;

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

impl EntryReads for Store {}

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
        schema::prepare(&tx, &path, network)?;
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
        schema::stored_network(&reader.conn, &path).map(Some)
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

/// A row of the `meta` table (the network file, the tip, the version).
pub(crate) fn meta(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |row| row.get(0))
        .optional()?)
}

/// Sets a row of the `meta` table.
pub(crate) fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")?
        .execute([key, value])?;
    Ok(())
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

/// Reads through any connection (for the steps of `open`).
pub(crate) struct Borrowed<'a>(&'a Connection);

impl BlockReads for Borrowed<'_> {
    fn conn(&self) -> &Connection {
        self.0
    }
}

pub(crate) fn conn_tip(conn: &Connection) -> Result<Tip> {
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

impl EntryReads for StoreReader {}

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

#[cfg(test)]
mod tests {
    use super::blocks::BLOCKS_BY_PREFIX;
    use super::entries::ENTRIES_BY_PREFIX;
    use super::*;
    use rusqlite::params;

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
