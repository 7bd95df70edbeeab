//! `WriteTx`: one atomic change to the store. Blocks are inserted (only
//! `ValidatedBlock`s), the tip is moved where the caller says, and the pool
//! follows the main chain (entries of connected blocks leave it, of
//! disconnected ones return); entries are added and evicted; a savepoint
//! lets a branch be tried and undone. Nothing is visible to readers until
//! `commit`.

use rusqlite::{Connection, OptionalExtension, params};

use super::blocks::{
    BlockReads, Reorg, Tip, hash_key, height, insert_block, parse_hash, work_from_row,
};
use super::entries::{EntryReads, EntryState, Rows, insert_block_entries, insert_entry};
use super::error::{Result, StoreError};
use super::meta::set_meta;
use super::pool::{self, EntryKey, PoolLimits, PoolStats};
use crate::consensus::entry::CheckedEntry;
use crate::consensus::{BlockHash, EntryId, Height, ValidatedBlock, Work};

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
    pub(super) tx: rusqlite::Transaction<'a>,
    /// Whether any block is marked invalid, once asked: almost never, so
    /// a sync of many blocks asks the table once, not once per block.
    pub(super) any_invalid: Option<bool>,
    /// Whether block rows record their target (see `insert_block`).
    pub(super) with_targets: bool,
    pub(super) committed_tip: &'a mut Tip,
    pub(super) pending_tip: Tip,
    pub(super) committed_pool: &'a mut PoolStats,
    pub(super) pending_pool: PoolStats,
    /// The tip, pool and moves at the open savepoint, if one is open.
    pub(super) saved: Option<(Tip, PoolStats, PoolMoves)>,
    pub(super) moves: PoolMoves,
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

impl BlockReads for WriteTx<'_> {
    fn conn(&self) -> &Connection {
        &self.tx
    }
}

impl EntryReads for WriteTx<'_> {}

impl WriteTx<'_> {
    /// The tip as it will be after `commit`.
    pub fn tip(&self) -> Tip {
        self.pending_tip
    }

    /// The pool as it will be after `commit`.
    pub fn pool(&self) -> PoolStats {
        self.pending_pool
    }

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
        let key = insert_entry(&self.tx, entry)?;
        let bytes = entry.line().len() as u64;
        pool::add(&self.tx, key, bytes, source, &mut self.pending_pool)?;
        Ok(EntryState::New)
    }

    /// Evicts the oldest pending entries until the pool is within `limits`;
    /// how many.
    pub fn evict(&mut self, limits: &PoolLimits) -> Result<u64> {
        let evicted = pool::evict(&self.tx, limits, &mut self.pending_pool)?;
        self.moves.evicted += evicted;
        Ok(evicted)
    }

    /// True for a block found invalid when its branch was tried (see
    /// `BlockReads::is_known_invalid`), asking the table only if it holds
    /// anything.
    pub fn known_invalid(&mut self, hash: &BlockHash) -> Result<bool> {
        let any = match self.any_invalid {
            Some(any) => any,
            None => *self.any_invalid.insert(self.tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM invalid_blocks)",
                [],
                |row| row.get::<_, bool>(0),
            )?),
        };
        if !any {
            return Ok(false);
        }
        self.is_known_invalid(hash)
    }

    /// Marks a block as invalid (found so when its branch was tried): it,
    /// and what builds on it, is refused from now on.
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
                "SELECT e.id, m.block_index
                 FROM main_chain m JOIN block_entries be ON be.block_id = m.block_id
                 JOIN entries e ON e.key = be.entry
                 WHERE m.block_index > ?1 AND EXISTS (
                     SELECT 1 FROM block_entries be2
                     CROSS JOIN blocks b2 ON b2.id = be2.block_id
                     CROSS JOIN main_chain m2
                         ON m2.block_index = b2.block_index AND m2.block_id = b2.id
                     WHERE be2.entry = be.entry AND m2.block_index < m.block_index)
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

    /// Stores a block in the tree. Returns `None` (and changes nothing) when
    /// a block with this hash is already stored: the first version of a
    /// hash is the block, forever.
    ///
    /// `certainly_new` skips looking for it first: the caller knows it
    /// cannot be stored yet (its parent was stored by this transaction).
    /// `rows` names, by place, the rows of entries seen in the pool
    /// (`trust`: whether they may be taken as they are).
    pub fn insert(
        &mut self,
        block: &ValidatedBlock,
        chain_work: Work,
        certainly_new: bool,
        rows: &[Option<EntryKey>],
        trust: Rows,
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
        insert_block_entries(&self.tx, id, block.entries(), rows, trust)?;
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
        // The blocks that left the main chain put their entries back in the
        // pool, unless the main chain (already the new one) confirms them.
        for id in &left {
            self.moves.returned += pool::return_block(&self.tx, *id, &mut self.pending_pool)?;
        }
        self.pending_tip = new_tip;
        Ok(Reorg {
            fork_index: height(fork_index)?,
            disconnected: left.len() as u64,
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
