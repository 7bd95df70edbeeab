//! What happens in a node, as events: a block accepted, the tip moving (a
//! reorg when blocks left the main chain), a peer going up or down, mining
//! switched on or off. Every event is logged here, one line each, and
//! broadcast to whoever listens (the explorer's live feed).

use serde::Serialize;
use tokio::sync::broadcast;

use super::net::trouble::{PeerFault, Trouble};
use super::notify::ChainEvent;
use crate::consensus::Block;
use crate::store::pool::PoolStats;
use crate::store::{PoolMoves, Reorg, Tip};
use crate::wire::BlockText;

/// Events kept for a slow listener before it misses some.
pub const EVENT_BACKLOG: usize = 1024;

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NodeEvent {
    Block {
        #[serde(flatten)]
        block: BlockText<'static>,
        source: String,
        /// False when it went to a side branch.
        main_chain: bool,
    },
    Tip {
        #[serde(flatten)]
        tip: Tip,
        #[serde(flatten)]
        reorg: Reorg,
    },
    /// A peer up, down or ignored, and why in a word (never what the peer
    /// sent: the log has the detail).
    Peer {
        url: String,
        state: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        trouble: Option<Trouble>,
    },
    Mining {
        mining: bool,
    },
    /// The pool changed: what it holds now, and what moved.
    Pool {
        #[serde(flatten)]
        pool: PoolStats,
        added: u64,
        confirmed: u64,
        returned: u64,
        evicted: u64,
    },
}

impl NodeEvent {
    /// Every event's `type`, as `/v1/events?only=` names them.
    pub const KINDS: [&'static str; 5] = ["block", "tip", "peer", "mining", "pool"];

    /// This event's `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            NodeEvent::Block { .. } => "block",
            NodeEvent::Tip { .. } => "tip",
            NodeEvent::Peer { .. } => "peer",
            NodeEvent::Mining { .. } => "mining",
            NodeEvent::Pool { .. } => "pool",
        }
    }
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

    /// What the chain did, as log lines and live events.
    pub fn on_chain_event(&self, event: &ChainEvent) {
        match event {
            ChainEvent::Blocks(stored) => {
                self.pool_changed(stored.pool, 0, stored.moves);
                match (stored.announced(), stored.single) {
                    (Some((block, main_chain)), true) => {
                        self.block_accepted(&block.block, &stored.source.describe(), main_chain)
                    }
                    (Some((block, _)), false) => tracing::debug!(
                        blocks = stored.stored.len(),
                        source = %stored.source.describe(),
                        tip = block.block.index.0,
                        "sync stored a batch"
                    ),
                    (None, _) => {}
                }
                if let Some((tip, reorg)) = &stored.tip_moved {
                    self.tip_moved(tip, reorg);
                }
            }
            // Told once stored, with the rest.
            ChainEvent::Valid(_) => {}
            ChainEvent::Entries(added) => {
                let moves = PoolMoves {
                    evicted: added.evicted,
                    ..PoolMoves::default()
                };
                self.pool_changed(added.pool, added.lines.len() as u64, moves);
            }
        }
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
            block: BlockText::from_block(block).into_owned(),
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
            tip: *tip,
            reorg: *reorg,
        });
    }

    pub fn peer_changed(&self, url: &str, state: &str, fault: Option<&PeerFault>) {
        let detail = fault.map(|f| f.detail.as_str()).unwrap_or("");
        match state {
            "up" => {}
            "ignored" => tracing::warn!(peer = url, detail, "peer ignored"),
            _ => tracing::warn!(peer = url, state, detail, "peer down"),
        }
        self.send(NodeEvent::Peer {
            url: url.to_owned(),
            state: state.to_owned(),
            trouble: fault.map(|f| f.trouble),
        });
    }

    /// Entries were added to the pool, or moved in or out by blocks.
    pub fn pool_changed(&self, pool: PoolStats, added: u64, moves: PoolMoves) {
        if added + moves.confirmed + moves.returned + moves.evicted == 0 {
            return;
        }
        if moves.returned > 0 || moves.evicted > 0 {
            tracing::info!(
                returned = moves.returned,
                evicted = moves.evicted,
                pending = pool.entries,
                "entries back in the pool after a reorg, or evicted"
            );
        }
        self.send(NodeEvent::Pool {
            pool,
            added,
            confirmed: moves.confirmed,
            returned: moves.returned,
            evicted: moves.evicted,
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
