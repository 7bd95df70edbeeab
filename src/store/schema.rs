//! The store's tables and their upgrades: what a new store is made of,
//! how a store of an older version (1 to 4) becomes one of this version in
//! place, and the check that a store is opened with its own network. The
//! `meta` table's rows are read and written here.

use std::path::Path;

use rusqlite::Connection;

use super::blocks::{BlockReads, Borrowed, insert_block};
use super::entries::{Rows, insert_block_entries};
use super::error::{Result, StoreError};
use super::meta::{meta, set_meta};
use crate::consensus::{Difficulty, Height, Network, validate::validate_genesis};

pub(crate) const SCHEMA_VERSION: &str = "5";
pub(crate) const SCHEMA: &str = "
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

/// The entry tables, made after any upgrade (`upgrade_from_v4` reshapes
/// older ones). An entry's row number (`key`) is what the other tables
/// point to: it grows with arrival, so a block's rows in `block_entries`
/// and the pool rows it removes sit together at the end of their indexes.
/// Pointing to the 64-digit id instead put them at random all over those
/// indexes, and every block rewrote pages in proportion to the whole
/// store. The id's own index is the one written at random, once per entry.
pub(crate) const ENTRY_TABLES: &str = "
CREATE TABLE IF NOT EXISTS entries (
    key     INTEGER PRIMARY KEY,       -- row number, in arrival order: what other tables point to
    id      TEXT NOT NULL UNIQUE,      -- 64 hex: SHA-256 of the entry's unsigned canonical form
    line    TEXT NOT NULL,             -- the canonical form, as blocks carry it
    author  TEXT,                      -- 64 hex ed25519 key of a signed entry, else NULL
    bytes   INTEGER NOT NULL           -- length of line
);
CREATE INDEX IF NOT EXISTS entries_by_author ON entries (author) WHERE author IS NOT NULL;
-- A file's stamp found by the file's digest: the 64 hex digits after the sha256 key
CREATE INDEX IF NOT EXISTS entries_by_digest ON entries (substr(line, 12, 64))
    WHERE line LIKE '{\"sha256\":%';
CREATE TABLE IF NOT EXISTS block_entries (
    block_id INTEGER NOT NULL,         -- blocks.id
    position INTEGER NOT NULL,         -- the entry's place among the block's entry lines
    entry    INTEGER NOT NULL,         -- entries.key
    PRIMARY KEY (block_id, position)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS block_entries_by_entry ON block_entries (entry);
CREATE TABLE IF NOT EXISTS pool (
    seq      INTEGER PRIMARY KEY,      -- arrival order: the oldest is mined first
    entry    INTEGER NOT NULL UNIQUE,  -- entries.key (its line is there)
    bytes    INTEGER NOT NULL,         -- length of its line
    source   TEXT NOT NULL DEFAULT ''  -- who submitted it (a network, a peer, 'returned'): the
                                       -- source holding most loses its oldest first when full
);
CREATE VIEW IF NOT EXISTS pending AS
    SELECT p.seq, e.id, e.line, p.source FROM pool p JOIN entries e ON e.key = p.entry
    ORDER BY p.seq;
";

/// What the pool's per-source shares need, made once the `pool` table has
/// its `source` column (after an upgrade from the third version): a count
/// of each source's entries and bytes, so the largest is found without
/// reading the pool. `pool.rs` keeps the counts, once per statement and
/// source. Older versions kept them by triggers, dropped here: a block
/// takes thousands of rows out at once, a trigger per row made that cost
/// more than the block's own rows, and a statement with a trigger saves
/// every page it touches first, in case it fails halfway.
pub(crate) const POOL_SOURCES: &str = "
CREATE INDEX IF NOT EXISTS pool_by_source ON pool (source, seq);
CREATE TABLE IF NOT EXISTS pool_sources (
    source  TEXT PRIMARY KEY,
    entries INTEGER NOT NULL,
    bytes   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS pool_sources_by_bytes ON pool_sources (bytes);
DROP TRIGGER IF EXISTS pool_source_in;
DROP TRIGGER IF EXISTS pool_source_out;
";

/// A new store: the network's genesis as block 0 and tip, and the network
/// file, so that the store is never opened with another network.
pub(crate) fn create(tx: &Connection, network: &Network) -> Result<()> {
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
pub(crate) fn stored_network(conn: &Connection, path: &Path) -> Result<Network> {
    if meta(conn, "schema_version")?.as_deref() == Some("1") {
        return v1_network(conn);
    }
    let text = meta(conn, "network")?
        .ok_or_else(|| StoreError::Corrupt(format!("{} keeps no network", path.display())))?;
    crate::wire::network::from_json(text.as_bytes())
        .map_err(|e| StoreError::Corrupt(format!("the network kept in the store: {e}")))
}

/// An existing store must be of the network it is opened with.
pub(crate) fn check_network(tx: &Connection, path: &Path, network: &Network) -> Result<()> {
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
pub(crate) fn upgrade_from_v1(tx: &Connection, path: &Path, network: &Network) -> Result<()> {
    check_network(tx, path, network)?;
    let mut blocks = tx.prepare(
        "SELECT id, data FROM blocks WHERE block_index > 0 AND data LIKE 'jbc-entries/%'",
    )?;
    let rows: Vec<(i64, String)> = blocks
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let genesis = network.genesis_hash();
    for (id, data) in rows {
        if let Ok(found) =
            crate::consensus::entry::block_entries(&data, &[], network.entry_rules(), &genesis)
        {
            insert_block_entries(tx, id, &found, &[], Rows::Checked)?;
        }
    }
    set_meta(tx, "network", &crate::wire::network::to_json(network))?;
    tx.execute_batch("DELETE FROM meta WHERE key IN ('genesis_hash', 'difficulty')")?;
    Ok(())
}

fn has_column(tx: &Connection, table: &str, column: &str) -> Result<bool> {
    let sql = "SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2";
    Ok(tx.query_row(sql, [table, column], |row| row.get::<_, i64>(0))? > 0)
}

/// Upgrades a store of the second version: block rows gain a target
/// (NULL, the genesis target: such stores hold only fixed networks).
pub(crate) fn upgrade_from_v2(tx: &Connection) -> Result<()> {
    if !has_column(tx, "blocks", "target")? {
        tx.execute_batch("ALTER TABLE blocks ADD COLUMN target TEXT")?;
    }
    Ok(())
}

/// Upgrades a store of the third version: pool rows gain a source (''
/// for those already there, one share), and the per-source counts start
/// from what the pool holds.
pub(crate) fn upgrade_from_v3(tx: &Connection) -> Result<()> {
    if !has_column(tx, "pool", "source")? {
        tx.execute_batch("ALTER TABLE pool ADD COLUMN source TEXT NOT NULL DEFAULT ''")?;
    }
    tx.execute_batch(POOL_SOURCES)?;
    tx.execute_batch(
        "DELETE FROM pool_sources;
         INSERT INTO pool_sources (source, entries, bytes)
             SELECT source, count(*), total(bytes) FROM pool GROUP BY source;",
    )?;
    Ok(())
}

/// Makes `tx`'s database a store of this version for `network`: the
/// tables of a new store (with the network's genesis), an older store
/// upgraded in place, or an existing one checked to be of `network`.
pub(crate) fn prepare(tx: &Connection, path: &Path, network: &Network) -> Result<()> {
    let open_err = |source| StoreError::Open {
        path: path.to_owned(),
        source,
    };
    tx.execute_batch(SCHEMA).map_err(open_err)?;
    match meta(tx, "schema_version")?.as_deref() {
        None => {
            tx.execute_batch(ENTRY_TABLES).map_err(open_err)?;
            create(tx, network)?;
        }
        Some(SCHEMA_VERSION) => check_network(tx, path, network)?,
        // Each upgrade takes the store one version up, the last to this one.
        Some(old @ ("1" | "2" | "3" | "4")) => {
            if old == "1" {
                // The first version had no entry tables: they start in
                // this version's shape.
                tx.execute_batch(ENTRY_TABLES).map_err(open_err)?;
                upgrade_from_v1(tx, path, network)?;
            } else {
                check_network(tx, path, network)?;
            }
            if old <= "2" {
                upgrade_from_v2(tx)?;
            }
            if old <= "3" {
                upgrade_from_v3(tx)?;
            }
            upgrade_from_v4(tx)?;
            set_meta(tx, "schema_version", SCHEMA_VERSION)?;
        }
        Some(other) => {
            return Err(StoreError::UnknownSchema {
                path: path.to_owned(),
                found: other.to_owned(),
                understood: SCHEMA_VERSION,
            });
        }
    }
    // New stores and stores of this version (upgrades made it).
    tx.execute_batch(POOL_SOURCES).map_err(open_err)?;
    Ok(())
}

/// Upgrades a store of the fourth version (or older, once its pool has
/// sources): entries get a row number, and `block_entries` and `pool`
/// point to it instead of the entry's id (see `ENTRY_TABLES`). Entries
/// are numbered in the order blocks carry them, then the pool's.
pub(crate) fn upgrade_from_v4(tx: &Connection) -> Result<()> {
    if has_column(tx, "entries", "key")? {
        // Already in this shape.
        return Ok(());
    }
    tx.execute_batch(
        "DROP TRIGGER IF EXISTS pool_source_in;
         DROP TRIGGER IF EXISTS pool_source_out;
         DROP INDEX IF EXISTS entries_by_author;
         DROP INDEX IF EXISTS entries_by_digest;
         DROP INDEX IF EXISTS block_entries_by_entry;
         DROP INDEX IF EXISTS pool_by_source;
         ALTER TABLE entries RENAME TO v4_entries;
         ALTER TABLE block_entries RENAME TO v4_block_entries;
         ALTER TABLE pool RENAME TO v4_pool;",
    )?;
    tx.execute_batch(ENTRY_TABLES)?;
    tx.execute_batch(
        "INSERT OR IGNORE INTO entries (id, line, author, bytes)
             SELECT e.id, e.line, e.author, e.bytes
             FROM v4_block_entries be JOIN v4_entries e ON e.id = be.entry_id
             ORDER BY be.block_id, be.position;
         INSERT OR IGNORE INTO entries (id, line, author, bytes)
             SELECT e.id, e.line, e.author, e.bytes
             FROM v4_entries e LEFT JOIN v4_pool p ON p.entry_id = e.id
             ORDER BY p.seq;
         INSERT INTO block_entries (block_id, position, entry)
             SELECT be.block_id, be.position, e.key
             FROM v4_block_entries be JOIN entries e ON e.id = be.entry_id;
         INSERT INTO pool (seq, entry, bytes, source)
             SELECT p.seq, e.key, p.bytes, p.source
             FROM v4_pool p JOIN entries e ON e.id = p.entry_id;
         DROP TABLE v4_entries;
         DROP TABLE v4_block_entries;
         DROP TABLE v4_pool;",
    )?;
    Ok(())
}
