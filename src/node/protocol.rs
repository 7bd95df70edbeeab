//! The JSON shapes of our `/v1` protocol that both sides read: what the
//! server writes and what a syncing peer parses. Blocks inside them are
//! always in the original's form (`crate::wire`).

use serde::{Deserialize, Serialize};

use crate::consensus::{BlockHash, Height, Work};
use crate::store::Tip;

use super::peers::PeerTip;

/// Most blocks in one `/v1/blocks` or `/v1/sync` answer.
pub const MAX_BLOCKS_PER_REPLY: usize = 2000;
/// Most locator hashes `/v1/sync` reads.
pub const MAX_LOCATOR: usize = 101;
/// An answer stops growing past this many bytes of blocks, whatever the
/// count (blocks carry free text, so 2000 of them can be large).
pub const REPLY_BYTE_BUDGET: usize = 16 * 1024 * 1024;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TipDto {
    pub index: u64,
    pub hash: String,
    /// Exact, in decimal.
    pub chain_work: String,
}

impl From<Tip> for TipDto {
    fn from(tip: Tip) -> TipDto {
        TipDto {
            index: tip.index.0,
            hash: tip.hash.to_string(),
            chain_work: tip.chain_work.to_string(),
        }
    }
}

impl TipDto {
    pub fn parse(&self) -> Result<PeerTip, String> {
        Ok(PeerTip {
            index: Height(self.index),
            hash: self.hash.parse::<BlockHash>().map_err(|e| e.to_string())?,
            chain_work: self.chain_work.parse::<Work>().map_err(|e| e.to_string())?,
        })
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct NetworkDto {
    pub genesis_hash: String,
    pub difficulty: u8,
}

/// What a syncing peer reads of `/v1/status` (the server writes more).
#[derive(Clone, Debug, Deserialize)]
pub struct StatusSummary {
    pub node_id: String,
    pub network: NetworkDto,
    pub tip: TipDto,
}

/// `/v1/sync`'s answer as a syncing peer reads it. The server writes the
/// same shape straight from the store (`api::sync`); its blocks are the
/// original's objects with string values.
#[derive(Debug, Deserialize)]
pub struct SyncReply {
    pub tip: TipDto,
    /// The index of the locator block found on the server's main chain.
    pub fork_index: u64,
    pub blocks: Vec<crate::wire::TextBlock>,
}
