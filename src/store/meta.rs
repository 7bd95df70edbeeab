//! The connection the writer uses (WAL, durability, cache), and the rows
//! of the `meta` table: the version, the network file, the tip.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension};

use super::error::Result;

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

/// Plans that do not depend on bound values. Without this SQLite may plan
/// a statement again each time a value bound to it changes, when it
/// guesses the plan could depend on it: the lookup of each of a block's
/// entries on the main chain was planned again at every entry, half the
/// time of taking in a block of 5,000 entries (`cargo bench --bench node
/// -- --only propagation`: 431 ms -> 207 ms along 4 hops). No query here
/// gains from a plan made for one value.
pub(crate) fn stable_plans(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(())
}

/// The writer's connection, set up for durability and bulk speed.
pub(crate) fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    stable_plans(&conn)?;
    // 16 KiB pages for a new store (an existing one keeps its own): a
    // block of 5,000 entries writes rows into a few indexes, and bigger
    // pages mean fewer pages to split, checksum and write.
    conn.pragma_update(None, "page_size", 16384)?;
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
    // Statement journals in memory: a statement that may fail halfway
    // (a delete of a block's pool rows, an insert from a select) saves
    // the pages it changes first; past 64 KiB SQLite writes them to a
    // temporary file, which cost a block of 5,000 entries more than its
    // own rows. They hold at most one statement's pages.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(conn)
}
