//! What the chain announces when it changes (btcd's chain notifications):
//! one typed event per submit of blocks or entries, published by
//! `ChainHandle` to every subscriber, in order, once the change is
//! committed; and, before that, one for a single block found valid that
//! will be the new tip, which relay passes on while the store writes it. Relay (`net`), the metrics, the live events and the log
//! subscribe to it; nothing reads back from the store what an event
//! already carries.

use std::sync::Arc;

use crate::chain::BatchOutcome;
use crate::consensus::{BlockAndBody, BlockHash};
use crate::store::{PoolMoves, PoolStats, Reorg, Tip};

use super::net::scope::{SourceGroup, ip_of};

/// Where blocks or entries came from, for logs, metrics and relay.
#[derive(Clone, Debug)]
pub enum Source {
    /// Mined by this node.
    Miner,
    /// Posted to us; `peer` is the sender's URL when it is one of our
    /// peers, `client` the address it came from (where known).
    Posted {
        peer: Option<String>,
        client: Option<std::net::IpAddr>,
    },
    /// Fetched by sync from this peer.
    Sync { peer: String },
}

impl Source {
    pub fn label(&self) -> &'static str {
        match self {
            Source::Miner => "mined",
            Source::Posted { .. } => "posted",
            Source::Sync { .. } => "synced",
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Source::Miner => "mined here".into(),
            Source::Posted {
                peer: Some(url), ..
            } => format!("relayed by {url}"),
            Source::Posted { peer: None, .. } => "posted over HTTP".into(),
            Source::Sync { peer } => format!("synced from {peer}"),
        }
    }

    /// Whose share of the pool its entries count in: the network a
    /// client posts from (its `SourceGroup`: a public /24 or /64, or one
    /// address of this machine or a private network),
    /// the peer sync fetched them from, or this node.
    pub fn pool_source(&self) -> String {
        match self {
            Source::Posted {
                client: Some(ip), ..
            } => SourceGroup::of(*ip).to_string(),
            Source::Posted {
                peer: Some(url), ..
            }
            | Source::Sync { peer: url } => match ip_of(url) {
                Some(ip) => SourceGroup::of(ip).to_string(),
                None => format!("peer {url}"),
            },
            Source::Posted { .. } | Source::Miner => "local".into(),
        }
    }

    /// The peer it came from, if any: relay skips it.
    pub fn peer(&self) -> Option<&str> {
        match self {
            Source::Posted { peer, .. } => peer.as_deref(),
            Source::Sync { peer } => Some(peer),
            Source::Miner => None,
        }
    }
}

/// Something the chain did.
#[derive(Clone, Debug)]
pub enum ChainEvent {
    /// A single block found valid that will be the new tip, before it is
    /// written (`Blocks` follows once it is).
    Valid(Arc<BlockValid>),
    Blocks(Arc<BlocksStored>),
    Entries(Arc<EntriesAdded>),
}

/// A block found valid, on its way to the store as the new tip.
#[derive(Debug)]
pub struct BlockValid {
    pub block: Arc<BlockAndBody>,
    pub source: Source,
}

/// A submit of blocks ended: what it stored, where the tip went, what
/// was refused and how entries moved.
#[derive(Debug)]
pub struct BlocksStored {
    pub source: Source,
    /// One block was submitted (posted or mined), not a sync batch.
    pub single: bool,
    /// The blocks stored, in order, with their bodies.
    pub stored: Vec<Arc<BlockAndBody>>,
    /// The tip after the submit, when it moved, and the total reorg.
    pub tip_moved: Option<(Tip, Reorg)>,
    /// Why the first refused block was refused (a metric label).
    pub refused: Option<&'static str>,
    pub moves: PoolMoves,
    pub pool: PoolStats,
    /// The block already announced by a `Valid` event, if any.
    pub told_valid: Option<BlockHash>,
}

impl BlocksStored {
    pub fn new(
        outcome: &BatchOutcome,
        source: Source,
        single: bool,
        refused: Option<&'static str>,
        pool: PoolStats,
    ) -> BlocksStored {
        BlocksStored {
            source,
            single,
            stored: outcome.stored.clone(),
            tip_moved: outcome.tip_moved,
            refused,
            moves: outcome.entries,
            pool,
            told_valid: None,
        }
    }

    /// The block to tell peers and people about: a single new block
    /// (even on a side branch), or the new tip of a sync batch that ended
    /// well (peers behind sync from us for the rest).
    pub fn announced(&self) -> Option<(&Arc<BlockAndBody>, bool)> {
        let tip = self.tip_moved.map(|(tip, _)| tip.hash);
        if self.single {
            let block = self.stored.last()?;
            return Some((block, tip == Some(block.block.hash)));
        }
        let tip = tip.filter(|_| self.refused.is_none())?;
        let block = self.stored.iter().rev().find(|b| b.block.hash == tip)?;
        Some((block, true))
    }
}

/// Entries entered the pool.
#[derive(Debug)]
pub struct EntriesAdded {
    pub source: Source,
    /// The canonical lines of the new ones (not those known before).
    pub lines: Arc<Vec<String>>,
    /// Entries evicted to make room.
    pub evicted: u64,
    pub pool: PoolStats,
}
