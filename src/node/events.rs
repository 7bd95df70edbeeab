//! What happens in a node, as events: a block accepted, the tip moving (a
//! reorg when blocks left the main chain), a peer going up or down, mining
//! switched on or off. Every event is logged here, one line each, and
//! broadcast to whoever listens (the explorer's live feed).

use serde::Serialize;
use tokio::sync::broadcast;

use crate::consensus::Block;
use crate::store::{Reorg, Tip};

/// Events kept for a slow listener before it misses some.
pub const EVENT_BACKLOG: usize = 1024;

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NodeEvent {
    Block {
        index: u64,
        hash: String,
        prev_hash: String,
        data: String,
        timestamp: String,
        nonce: String,
        source: String,
        /// False when it went to a side branch.
        main_chain: bool,
    },
    Tip {
        index: u64,
        hash: String,
        chain_work: String,
        fork_index: u64,
        disconnected: u64,
        connected: u64,
    },
    Peer {
        url: String,
        state: String,
        detail: String,
    },
    Mining {
        mining: bool,
    },
}

#[derive(Clone)]
pub struct Events {
    sender: broadcast::Sender<NodeEvent>,
}

impl Default for Events {
    fn default() -> Events {
        Events {
            sender: broadcast::channel(EVENT_BACKLOG).0,
        }
    }
}

impl Events {
    pub fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.sender.subscribe()
    }

    fn send(&self, event: NodeEvent) {
        // No listener is fine.
        let _ = self.sender.send(event);
    }

    pub fn block_accepted(&self, block: &Block, source: &str, main_chain: bool) {
        tracing::info!(
            index = block.index.0,
            hash = %block.hash.short(16),
            source,
            branch = if main_chain { "main" } else { "side" },
            "block accepted"
        );
        self.send(NodeEvent::Block {
            index: block.index.0,
            hash: block.hash.to_string(),
            prev_hash: block.prev_hash.map(|h| h.to_string()).unwrap_or_default(),
            data: block.data.clone(),
            timestamp: block.timestamp.to_string(),
            nonce: block.nonce.to_string(),
            source: source.to_owned(),
            main_chain,
        });
    }

    pub fn tip_moved(&self, tip: &Tip, reorg: &Reorg) {
        if reorg.disconnected > 0 {
            tracing::warn!(
                depth = reorg.disconnected,
                fork_index = reorg.fork_index.0,
                connected = reorg.connected,
                new_tip = tip.index.0,
                hash = %tip.hash.short(16),
                "reorg: switched to a branch with more work"
            );
        } else {
            // Moving forward: the "block accepted" or "sync ... done" line
            // already says so.
            tracing::debug!(index = tip.index.0, hash = %tip.hash.short(16), work = %tip.chain_work, blocks = reorg.connected, "tip moved");
        }
        self.send(NodeEvent::Tip {
            index: tip.index.0,
            hash: tip.hash.to_string(),
            chain_work: tip.chain_work.to_string(),
            fork_index: reorg.fork_index.0,
            disconnected: reorg.disconnected,
            connected: reorg.connected,
        });
    }

    pub fn peer_changed(&self, url: &str, state: &str, detail: &str) {
        match state {
            "up" => tracing::info!(peer = url, detail, "peer up"),
            "ignored" => tracing::warn!(peer = url, detail, "peer ignored"),
            _ => tracing::warn!(peer = url, state, detail, "peer down"),
        }
        self.send(NodeEvent::Peer {
            url: url.to_owned(),
            state: state.to_owned(),
            detail: detail.to_owned(),
        });
    }

    pub fn mining(&self, mining: bool) {
        tracing::info!(
            mining,
            "mining switched {}",
            if mining { "on" } else { "off" }
        );
        self.send(NodeEvent::Mining { mining });
    }
}
