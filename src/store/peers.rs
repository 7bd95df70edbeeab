//! The node's memory of other nodes, in the same SQLite file as the chain
//! but behind its own handle and connection, so that the chain's writer
//! carries nothing of the network: the address book (`peer_addresses`:
//! nodes heard of and reached) and peers dropped for a while
//! (`peer_bans`, kept across restarts). Written with `synchronous=NORMAL`:
//! losing the last save to a power cut costs a few addresses, nothing
//! acknowledged.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior, params};

use super::db::DB_FILE;
use super::error::{Result, StoreError};

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

/// The address book and the dropped peers of the store in a data
/// directory (opened after the store made its tables).
pub struct PeerStore {
    conn: Connection,
}

impl PeerStore {
    pub fn open(dir: &Path) -> Result<PeerStore> {
        let path = dir.join(DB_FILE);
        let conn = Connection::open(&path).map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(PeerStore { conn })
    }

    /// Peers dropped until a time (unix seconds), with why.
    pub fn peer_bans(&self) -> Result<Vec<(String, u64, String)>> {
        let mut stmt = self
            .conn
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
    pub fn peer_addresses(&self) -> Result<Vec<PeerAddress>> {
        let mut stmt = self.conn.prepare_cached(
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

    /// Remembers that `url` is not to be asked before `until` (unix
    /// seconds), and why.
    pub fn save_ban(&mut self, url: &str, until: u64, reason: &str) -> Result<()> {
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
        // Immediate, as the chain's writes are (`Store::write`).
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
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
}
