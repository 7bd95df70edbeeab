//! Entries in the store: every entry known here (`entries`), which block
//! carries which (`block_entries`), and where one stands (pending,
//! confirmed on the main chain, evicted). `EntryReads` is the read side;
//! the pool of pending entries is `pool`.

use rusqlite::{Connection, OptionalExtension, params};

use super::blocks::{BlockReads, HexPrefix, height, parse_hash};
use super::error::{Result, StoreError};
use super::pool::{self, EntryKey};
use crate::consensus::entry::CheckedEntry;
use crate::consensus::{BlockHash, EntryId, Height};

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

/// Entries by the start of their id (?1 to ?2, on the id's index), those
/// pending or confirmed on the main chain, ?3 at most.
pub(crate) const ENTRIES_BY_PREFIX: &str = "
    SELECT e.id FROM entries e
    WHERE e.id >= ?1 AND e.id < ?2
      AND (EXISTS (SELECT 1 FROM pool p WHERE p.entry = e.key)
           OR EXISTS (SELECT 1 FROM block_entries be
                      JOIN blocks b ON b.id = be.block_id
                      JOIN main_chain m ON m.block_index = b.block_index
                      WHERE be.entry = e.key AND m.block_id = b.id))
    ORDER BY e.id LIMIT ?3";

/// Reads of entries and the pool (every block reader is one).
pub trait EntryReads: BlockReads {
    /// How many entries this store has forgotten (evicted from the pool
    /// and carried by no block), ever. A row number read from the pool
    /// still holds the entry it held while this count stays the same: only
    /// a forgotten row's number is ever given again.
    fn entries_forgotten(&self) -> Result<u64> {
        let count: Option<i64> = self
            .conn()
            .prepare_cached(
                "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'entries_forgotten'",
            )?
            .query_row([], |row| row.get(0))
            .optional()?;
        Ok(count.unwrap_or(0).max(0) as u64)
    }

    /// Up to `limit` ids starting with `prefix` of the entries this node
    /// can tell about (pending, or confirmed on the main chain: what
    /// `entry` finds), in id order. A range on the primary key.
    fn entries_by_prefix(&self, prefix: &HexPrefix, limit: usize) -> Result<Vec<EntryId>> {
        let mut stmt = self.conn().prepare_cached(ENTRIES_BY_PREFIX)?;
        let params = params![
            prefix.as_str(),
            HexPrefix::end(prefix.as_str()),
            i64::try_from(limit).unwrap_or(i64::MAX)
        ];
        stmt.query_and_then(params, |row| parse_hash(&row.get::<_, String>(0)?))?
            .collect()
    }

    /// The lowest main-chain index of a block carrying this entry: where
    /// it is confirmed (on the article's network the first inclusion
    /// counts).
    fn confirmed_index(&self, id: &EntryId) -> Result<Option<Height>> {
        let index: Option<i64> = self
            .conn()
            .prepare_cached(
                // From the entry to its blocks to the main chain, in that
                // order (CROSS JOIN): left to itself, SQLite's min()
                // walks the whole main chain for an entry on none of it.
                "SELECT min(m.block_index) FROM entries e
                 CROSS JOIN block_entries be ON be.entry = e.key
                 CROSS JOIN blocks b ON b.id = be.block_id
                 CROSS JOIN main_chain m ON m.block_index = b.block_index AND m.block_id = b.id
                 WHERE e.id = ?1",
            )?
            .query_row([id.hex().as_str()], |row| row.get(0))?;
        index.map(height).transpose()
    }

    /// The first of `ids` confirmed on the main chain, if any: one query
    /// for all of a block's entries (the ids go in as one JSON list, in id
    /// order: the id's index is then read page after page, not all over;
    /// the first by place is picked from what it finds, usually nothing).
    fn first_confirmed(&self, ids: &[EntryId]) -> Result<Option<EntryId>> {
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_unstable_by_key(|&at| ids[at]);
        let mut list = String::with_capacity(ids.len() * 67 + 2);
        list.push('[');
        for (i, &at) in order.iter().enumerate() {
            if i > 0 {
                list.push(',');
            }
            list.push('"');
            list.push_str(ids[at].hex().as_str());
            list.push('"');
        }
        list.push(']');
        let mut stmt = self.conn().prepare_cached(
            // As in `confirmed_index`: entry -> its blocks -> main chain.
            "SELECT j.key FROM json_each(?1) j
             CROSS JOIN entries e ON e.id = j.value
             CROSS JOIN block_entries be ON be.entry = e.key
             CROSS JOIN blocks b ON b.id = be.block_id
             CROSS JOIN main_chain m ON m.block_index = b.block_index AND m.block_id = b.id",
        )?;
        let mut rows = stmt.query([list])?;
        let mut first: Option<usize> = None;
        while let Some(row) = rows.next()? {
            if let Some(&at) = order.get(row.get::<_, i64>(0)? as usize) {
                first = Some(first.map_or(at, |f| f.min(at)));
            }
        }
        Ok(first.map(|at| ids[at]))
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
             JOIN block_entries be ON be.entry = e.key
             JOIN blocks b ON b.id = be.block_id
             JOIN main_chain m ON m.block_index = b.block_index AND m.block_id = b.id
             WHERE e.author = ?1
             ORDER BY m.block_index DESC, be.position DESC LIMIT ?2 OFFSET ?3",
        )?;
        let params = params![author, limit as i64, offset as i64];
        stmt.query_and_then(params, |row| {
            Ok(EntryRecord {
                id: parse_hash(&row.get::<_, String>(0)?)?,
                line: row.get(1)?,
                status: EntryStatus::Confirmed {
                    index: height(row.get(2)?)?,
                    hash: parse_hash(&row.get::<_, String>(3)?)?,
                },
            })
        })?
        .collect()
    }

    /// Hands every pending entry's canonical line to `f`, in arrival
    /// order, until `f` returns false (a compact block filled from the
    /// pool reads it once, without holding it).
    fn for_each_pending_line(&self, f: impl FnMut(&str, EntryKey) -> bool) -> Result<()> {
        Ok(pool::for_each_line(self.conn(), f)?)
    }

    /// Pending entries in arrival order after `after` (a `seq`).
    fn pending_entries(&self, after: i64, limit: usize) -> Result<Vec<pool::Pending>> {
        Ok(pool::pending(self.conn(), after, limit)?)
    }

    /// The place of entry `id` among the entries of the stored block
    /// `hash`, if that block carries it.
    fn entry_position(&self, id: &EntryId, hash: &BlockHash) -> Result<Option<u64>> {
        let position: Option<i64> = self
            .conn()
            .prepare_cached(
                "SELECT be.position FROM entries e
                 CROSS JOIN block_entries be ON be.entry = e.key
                 CROSS JOIN blocks b ON b.id = be.block_id
                 WHERE e.id = ?3 AND b.hash_key = ?1 AND b.hash = ?2",
            )?
            .query_row(
                params![
                    super::blocks::hash_key(hash),
                    hash.hex().as_str(),
                    id.hex().as_str()
                ],
                |row| row.get(0),
            )
            .optional()?;
        Ok(position.map(|p| p.max(0) as u64))
    }

    /// Entries stamping a file of this SHA-256 digest (ids in id order,
    /// `limit` at most), whatever they stand: `entry` says where.
    fn entries_by_digest(&self, digest: &[u8; 32], limit: usize) -> Result<Vec<EntryId>> {
        let hex = crate::consensus::entry::hex(digest);
        let mut stmt = self.conn().prepare_cached(
            "SELECT id FROM entries
             WHERE line LIKE '{\"sha256\":%' AND substr(line, 12, 64) = ?1
             ORDER BY id LIMIT ?2",
        )?;
        stmt.query_and_then(params![hex, limit as i64], |row| {
            parse_hash(&row.get::<_, String>(0)?)
        })?
        .collect()
    }

    /// The lines that travel beside the stored block `hash` (its body):
    /// its entries in order. Only a block whose data commits to its
    /// entries has one; for the others this is their valid entries.
    fn block_body(&self, hash: &BlockHash) -> Result<Vec<String>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT e.line FROM blocks b
             JOIN block_entries be ON be.block_id = b.id
             JOIN entries e ON e.key = be.entry
             WHERE b.hash_key = ?1 AND b.hash = ?2 ORDER BY be.position",
        )?;
        let hex = hash.hex();
        let params = params![super::blocks::hash_key(hash), hex.as_str()];
        let lines = stmt.query_map(params, |row| row.get(0))?;
        Ok(lines.collect::<rusqlite::Result<_>>()?)
    }

    /// The oldest pending entries that fit in `budget` bytes of a block.
    fn entries_for_block(&self, budget: usize) -> Result<Vec<(String, EntryKey)>> {
        Ok(pool::for_block(self.conn(), budget)?)
    }
}

/// Records an entry's text (once) and that a block carries it. `rows`
/// (by place, when the block was rebuilt from the pool) names the row of
/// each entry seen there; unless they are `Rows::Current`, each is checked
/// to still hold its entry.
pub(crate) fn insert_block_entries(
    conn: &Connection,
    block_id: i64,
    entries: &[crate::consensus::entry::BlockEntry],
    rows: &[Option<EntryKey>],
    trust: Rows,
) -> Result<()> {
    let mut carries = conn.prepare_cached(
        "INSERT INTO block_entries (block_id, position, entry) VALUES (?1, ?2, ?3)",
    )?;
    // The row named, if it still holds this entry: one lookup by row
    // number, where rows of one block sit together, instead of a probe of
    // the id's index, where they are spread all over it.
    let mut holds = conn.prepare_cached("SELECT 1 FROM entries WHERE key = ?1 AND id = ?2")?;
    let row =
        |found: &crate::consensus::entry::BlockEntry| rows.get(found.position).copied().flatten();
    // Those with a row in row order, then the others in id order: either
    // index is then read and written page after page, not all over.
    let mut sorted: Vec<&crate::consensus::entry::BlockEntry> = entries.iter().collect();
    sorted.sort_unstable_by_key(|found| (row(found).map(|k| k.0), found.entry.id()));
    for found in sorted {
        let position = found.position as i64;
        if let Some(EntryKey(key)) = row(found)
            && (trust == Rows::Current
                || holds.exists(params![key, found.entry.id().hex().as_str()])?)
        {
            carries.execute(params![block_id, position, key])?;
            continue;
        }
        let key = insert_entry(conn, &found.entry)?;
        carries.execute(params![block_id, position, key])?;
    }
    Ok(())
}

/// Whether rows read from the pool are taken as they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rows {
    /// Read while `entries_forgotten` was what it is now: each row still
    /// holds the entry it held (half the cost of linking a block's
    /// entries was checking that, row by row).
    Current,
    /// Read before some entry was forgotten: each is looked at first.
    Checked,
}

/// Records an entry's text, unless it is known already; its row number
/// (`entries.key`) either way.
pub(crate) fn insert_entry(conn: &Connection, entry: &CheckedEntry) -> Result<i64> {
    let id = entry.id().hex();
    let known: Option<i64> = conn
        .prepare_cached("SELECT key FROM entries WHERE id = ?1")?
        .query_row([id.as_str()], |row| row.get(0))
        .optional()?;
    if let Some(key) = known {
        return Ok(key);
    }
    let author = entry.entry().author.as_ref().map(|a| a.key.to_string());
    let line = entry.line();
    conn.prepare_cached("INSERT INTO entries (id, line, author, bytes) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![id.as_str(), line, author, line.len() as i64])?;
    Ok(conn.last_insert_rowid())
}
