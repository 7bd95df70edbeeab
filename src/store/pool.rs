//! The pool: entries waiting to be mined, in the `pool` table of the same
//! SQLite file as the chain, so pending entries survive a restart or a
//! kill -9 and leave the pool in the very transaction that confirms them.
//!
//! The pool is bounded by count and by bytes (`PoolLimits`). Each entry
//! remembers who submitted it (its source: a client's network, a peer, or
//! a block taken away by a reorg); when the pool is full, the source
//! holding the most bytes loses its oldest entry first, so a flood from
//! one source evicts that source's own entries and nobody else's. Evicted
//! ids are remembered (the last `EVICTED_KEPT`), so a submitter can learn
//! what became of an entry it was told was pending. It holds exactly the entries this node
//! knows that are not confirmed on its main chain: `store` keeps it so as
//! blocks join and leave the main chain, and `chain` adds what users and
//! peers submit. Miners take the oldest first (`for_block`). This module
//! knows tables and rows, not rules: entries arrive checked.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::consensus::EntryId;

/// Evicted entry ids remembered, at most (the oldest are forgotten).
pub const EVICTED_KEPT: i64 = 100_000;

/// The source of entries a reorg put back in the pool.
pub const SOURCE_RETURNED: &str = "returned";

/// How big the pool may grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolLimits {
    pub max_entries: u64,
    pub max_bytes: u64,
}

impl Default for PoolLimits {
    /// 200,000 entries or 64 MiB of canonical entry text, whichever comes
    /// first: a few hundred full blocks of backlog, a few tens of MB of disk
    /// and nothing held in memory.
    fn default() -> PoolLimits {
        PoolLimits {
            max_entries: 200_000,
            max_bytes: 64 * 1024 * 1024,
        }
    }
}

/// What the pool holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolStats {
    pub entries: u64,
    /// Canonical entry text, summed.
    pub bytes: u64,
}

/// A pending entry, as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    /// Its place in arrival order (for paging).
    pub seq: i64,
    pub id: EntryId,
    /// The canonical encoding.
    pub line: String,
}

pub(crate) fn load_stats(conn: &Connection) -> rusqlite::Result<PoolStats> {
    conn.query_row("SELECT count(*), total(bytes) FROM pool", [], |row| {
        Ok(PoolStats {
            entries: row.get::<_, i64>(0)? as u64,
            bytes: row.get::<_, f64>(1)? as u64,
        })
    })
}

pub(crate) fn contains(conn: &Connection, id: &EntryId) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "SELECT 1 FROM entries e CROSS JOIN pool p ON p.entry = e.key WHERE e.id = ?1",
    )?
    .exists([id.hex().as_str()])
}

/// Puts a known entry (its row in `entries`, and its line's length) in
/// the pool; false if already there.
pub(crate) fn add(
    conn: &Connection,
    key: i64,
    bytes: u64,
    source: &str,
    stats: &mut PoolStats,
) -> rusqlite::Result<bool> {
    let added = conn
        .prepare_cached("INSERT OR IGNORE INTO pool (entry, bytes, source) VALUES (?1, ?2, ?3)")?
        .execute(params![key, bytes as i64, source])?
        == 1;
    if added {
        let share = Share {
            entries: 1,
            bytes: bytes as i64,
        };
        give_share(conn, source, &share)?;
        stats.entries += 1;
        stats.bytes += bytes;
    }
    Ok(added)
}

/// Takes the entries a block carries out of the pool; how many were there.
pub(crate) fn remove_block(
    conn: &Connection,
    block_id: i64,
    stats: &mut PoolStats,
) -> rusqlite::Result<u64> {
    let mut stmt = conn.prepare_cached(
        "DELETE FROM pool WHERE entry IN
             (SELECT entry FROM block_entries WHERE block_id = ?1)
         RETURNING bytes, source",
    )?;
    let mut rows = stmt.query([block_id])?;
    let mut left: Vec<(String, Share)> = Vec::new();
    while let Some(row) = rows.next()? {
        let bytes = row.get::<_, i64>(0)?;
        let source = row.get_ref(1)?.as_str()?;
        // A block's entries come from a few sources: a short list will do.
        let at = match left.iter().position(|(s, _)| s == source) {
            Some(at) => at,
            None => {
                left.push((source.to_owned(), Share::default()));
                left.len() - 1
            }
        };
        left[at].1.entries += 1;
        left[at].1.bytes += bytes;
    }
    drop(rows);
    let mut removed = 0;
    for (source, share) in &left {
        take_share(conn, source, share)?;
        stats.entries -= share.entries as u64;
        stats.bytes -= share.bytes as u64;
        removed += share.entries as u64;
    }
    Ok(removed)
}

/// Entries and bytes of one source leaving the pool.
#[derive(Clone, Copy, Debug, Default)]
struct Share {
    entries: i64,
    bytes: i64,
}

/// Adds `share` to `source`'s count in `pool_sources`.
fn give_share(conn: &Connection, source: &str, share: &Share) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO pool_sources (source, entries, bytes) VALUES (?1, ?2, ?3)
         ON CONFLICT (source) DO UPDATE
         SET entries = entries + excluded.entries, bytes = bytes + excluded.bytes",
    )?
    .execute(params![source, share.entries, share.bytes])?;
    Ok(())
}

/// Takes `share` from `source`'s count in `pool_sources`, forgetting a
/// source left with nothing.
fn take_share(conn: &Connection, source: &str, share: &Share) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE pool_sources SET entries = entries - ?2, bytes = bytes - ?3 WHERE source = ?1",
    )?
    .execute(params![source, share.entries, share.bytes])?;
    conn.prepare_cached("DELETE FROM pool_sources WHERE source = ?1 AND entries <= 0")?
        .execute([source])?;
    Ok(())
}

/// Puts the entries a block carries back in the pool, in the block's
/// order, unless the main chain carries them; how many came back.
pub(crate) fn return_block(
    conn: &Connection,
    block_id: i64,
    stats: &mut PoolStats,
) -> rusqlite::Result<u64> {
    let mut stmt = conn.prepare_cached(
        "INSERT OR IGNORE INTO pool (entry, bytes, source)
         SELECT be.entry, e.bytes, ?2 FROM block_entries be JOIN entries e ON e.key = be.entry
         WHERE be.block_id = ?1 AND NOT EXISTS (
             SELECT 1 FROM block_entries be2
             CROSS JOIN blocks b ON b.id = be2.block_id
             CROSS JOIN main_chain m ON m.block_index = b.block_index AND m.block_id = b.id
             WHERE be2.entry = be.entry)
         ORDER BY be.position
         RETURNING bytes",
    )?;
    let mut rows = stmt.query(params![block_id, SOURCE_RETURNED])?;
    let mut share = Share::default();
    while let Some(row) = rows.next()? {
        share.entries += 1;
        share.bytes += row.get::<_, i64>(0)?;
    }
    drop(rows);
    if share.entries > 0 {
        give_share(conn, SOURCE_RETURNED, &share)?;
    }
    stats.entries += share.entries as u64;
    stats.bytes += share.bytes as u64;
    Ok(share.entries as u64)
}

/// Evicts entries until the pool is within `limits`, each time the oldest
/// of the source holding the most bytes; remembers their ids and forgets
/// the entries no block carries. How many were evicted.
pub(crate) fn evict(
    conn: &Connection,
    limits: &PoolLimits,
    stats: &mut PoolStats,
) -> rusqlite::Result<u64> {
    let (mut evicted, mut forgotten) = (0, 0);
    while stats.entries > limits.max_entries || stats.bytes > limits.max_bytes {
        let largest: Option<String> = conn
            .prepare_cached("SELECT source FROM pool_sources ORDER BY bytes DESC LIMIT 1")?
            .query_row([], |row| row.get(0))
            .optional()?;
        let Some(source) = largest else {
            break;
        };
        let oldest: Option<(i64, i64, String, i64)> = conn
            .prepare_cached(
                "SELECT p.seq, p.entry, e.id, p.bytes FROM pool p JOIN entries e ON e.key = p.entry
                 WHERE p.source = ?1 ORDER BY p.seq LIMIT 1",
            )?
            .query_row([&source], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .optional()?;
        let Some((seq, key, id, bytes)) = oldest else {
            break;
        };
        conn.prepare_cached("DELETE FROM pool WHERE seq = ?1")?
            .execute([seq])?;
        take_share(conn, &source, &Share { entries: 1, bytes })?;
        forgotten += conn
            .prepare_cached(
                "DELETE FROM entries WHERE key = ?1
                 AND NOT EXISTS (SELECT 1 FROM block_entries WHERE entry = ?1)",
            )?
            .execute([key])? as i64;
        conn.prepare_cached(
            "INSERT OR REPLACE INTO evicted_entries (entry_id, at) \
             VALUES (?1, CAST(strftime('%s', 'now') AS INTEGER))",
        )?
        .execute([&id])?;
        stats.entries -= 1;
        stats.bytes -= bytes as u64;
        evicted += 1;
    }
    if forgotten > 0 {
        // A forgotten row's number may be given to the next entry: reads
        // of the pool made before now may name rows that no longer hold
        // what they held (`EntryReads::entries_forgotten`).
        conn.prepare_cached(
            "INSERT INTO meta (key, value) VALUES ('entries_forgotten', ?1)
             ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + excluded.value",
        )?
        .execute([forgotten])?;
    }
    if evicted > 0 {
        conn.prepare_cached(
            "DELETE FROM evicted_entries WHERE rowid <= (SELECT max(rowid) FROM evicted_entries) - ?1",
        )?
        .execute([EVICTED_KEPT])?;
    }
    Ok(evicted)
}

/// When the entry `id` was evicted (unix seconds), if it was lately.
pub(crate) fn evicted_at(conn: &Connection, id: &EntryId) -> rusqlite::Result<Option<u64>> {
    conn.prepare_cached("SELECT at FROM evicted_entries WHERE entry_id = ?1")?
        .query_row([id.hex().as_str()], |row| row.get::<_, i64>(0))
        .optional()
        .map(|at| at.map(|at| at.max(0) as u64))
}

/// Pending entries in arrival order, after `after` (a `seq`), at most
/// `limit`.
pub fn pending(conn: &Connection, after: i64, limit: usize) -> rusqlite::Result<Vec<Pending>> {
    let mut stmt = conn.prepare_cached(
        "SELECT p.seq, e.id, e.line FROM pool p JOIN entries e ON e.key = p.entry
         WHERE p.seq > ?1 ORDER BY p.seq LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![after, limit as i64], |row| {
        Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?, row.get(2)?))
    })?;
    rows.map(|row| {
        let (seq, id, line) = row?;
        // Ids are written from `EntryId`s; a bad one is a damaged file.
        let Ok(id) = id.parse() else {
            return Err(rusqlite::Error::InvalidColumnType(
                1,
                "entry_id".into(),
                rusqlite::types::Type::Text,
            ));
        };
        Ok(Pending { seq, id, line })
    })
    .collect()
}

/// The oldest pending entries whose lines (plus a newline each) fit in
/// `budget` bytes, with their rows: what a miner puts in its next block.
pub fn for_block(conn: &Connection, budget: usize) -> rusqlite::Result<Vec<(String, EntryKey)>> {
    let mut lines = Vec::new();
    let mut used = 0usize;
    for_each_line(conn, |line, row| {
        if used + line.len() + 1 > budget {
            return false;
        }
        used += line.len() + 1;
        lines.push((line.to_owned(), row));
        true
    })?;
    Ok(lines)
}

/// An entry's row in this store (`entries.key`), as a read of the pool
/// hands it out: a block rebuilt from the pool gives it back so that
/// storing the block finds each entry by its row instead of its id. Only
/// a hint: the row is taken only while it still holds that id (an evicted
/// entry's row number may be reused).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryKey(pub(crate) i64);

/// Hands every pending line, and its row, to `f` in arrival order, until
/// it returns false.
pub fn for_each_line(
    conn: &Connection,
    mut f: impl FnMut(&str, EntryKey) -> bool,
) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(
        "SELECT e.line, e.key FROM pool p JOIN entries e ON e.key = p.entry ORDER BY p.seq",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        if !f(row.get_ref(0)?.as_str()?, EntryKey(row.get(1)?)) {
            break;
        }
    }
    Ok(())
}
