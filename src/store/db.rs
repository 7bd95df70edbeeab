//! The handles on a data directory's database: `Store`, the one writer
//! (it holds the directory's lock), which hands out write transactions
//! (`WriteTx`) and read-only handles (`StoreReader`, one per thread; WAL
//! lets them read while the writer writes).

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::blocks::{BlockReads, Borrowed, Tip};
use super::entries::EntryReads;
use super::error::{Result, StoreError};
use super::meta::connect;
use super::pool::{self, PoolStats};
use super::schema;
use super::write::{PoolMoves, WriteTx};
use crate::consensus::Network;

/// The file inside the data directory.
pub const DB_FILE: &str = "chain.sqlite3";

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
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        schema::prepare(&tx, &path, network)?;
        tx.commit()?;
        let tip = Borrowed(&conn).recorded_tip()?;
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
        // Immediate: the write lock from the start. The address book
        // (`PeerStore`) writes to the same file from its own connection; a
        // transaction that read first and then wrote after it committed
        // would fail at once with "database is locked", where waiting for
        // the lock (`busy_timeout`) is what is wanted.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
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
        super::meta::stable_plans(&conn)?;
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
