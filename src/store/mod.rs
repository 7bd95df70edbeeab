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
//! reached). The view `chain` joins the first two, `pending` the pool
//! and the entries' lines. Tables point to an entry by its row number
//! (`entries.key`), not its id: see `schema::ENTRY_TABLES`.
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
//! - `db`: the handles: `Store` (the writer) and `StoreReader`.

mod blocks;
mod db;
mod entries;
mod error;
mod meta;
mod peers;
pub mod pool;
mod schema;
mod write;

pub use blocks::{
    BlockMatch, BlockReads, ChainTime, HexPrefix, Reorg, StoredBlock, Tip, TreeEntry,
};
pub use db::{DB_FILE, Durability, Store, StoreReader};
pub use entries::{EntryReads, EntryRecord, EntryState, EntryStatus, Rows};
pub use error::StoreError;
pub use peers::{PeerAddress, PeerStore};
pub use pool::{EntryKey, PoolLimits, PoolStats};
pub use write::{Inserted, PoolMoves, WriteTx};

#[cfg(test)]
mod tests {
    use super::blocks::BLOCKS_BY_PREFIX;
    use super::entries::ENTRIES_BY_PREFIX;
    use super::*;
    use crate::consensus::Network;
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
                .any(|step| step.starts_with("SEARCH e USING") && step.contains("(id>? AND id<?)")),
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
