//! The network's tasks, started once: for every peer `Net` adds, its sync
//! loop, its relay worker and its listener (whose news wake the sync); discovery's connector and book saver; and
//! relay fed by the chain's events (a new block or new entries go to every
//! peer but the one they came from).

use std::sync::Arc;

use tokio::sync::mpsc;

use super::super::notify::ChainEvent;
use super::handle::{Net, NewPeer};
use super::outgoing::OutgoingBlock;
use super::peers::Relay;
use super::{discovery, listen, relay, sync};

/// Starts the tasks of `net`; `new_peers` is the stream `Net::new` gave.
pub fn start(net: &Arc<Net>, mut new_peers: mpsc::UnboundedReceiver<NewPeer>) {
    // A weak handle: the chain outlives nothing it is told about.
    let weak = Arc::downgrade(net);
    net.chain.subscribe(move |event| {
        if let Some(net) = weak.upgrade() {
            relay_event(&net, event);
        }
    });
    let supervisor = Arc::clone(net);
    tokio::spawn(async move {
        loop {
            let peer = tokio::select! {
                peer = new_peers.recv() => peer,
                _ = supervisor.shutdown.wait() => None,
            };
            let Some(NewPeer { url, queue }) = peer else {
                return;
            };
            relay::spawn_worker(Arc::clone(&supervisor), url.clone(), queue);
            // The peer's announcements wake its sync loop.
            let signals = Arc::new(sync::SyncSignals::default());
            listen::spawn(Arc::clone(&supervisor), url.clone(), Arc::clone(&signals));
            sync::spawn_peer(Arc::clone(&supervisor), url, signals);
        }
    });
    discovery::spawn(net);
}

/// Queues what a chain event brings for the peers: the block it
/// announces, or the new entries.
fn relay_event(net: &Net, event: &ChainEvent) {
    match event {
        ChainEvent::Valid(valid) => {
            // Being written here: a peer announcing it need not send it.
            let _ = net.claim_fetch(valid.block.block.hash);
            let item = Relay::Block(Arc::new(OutgoingBlock::new(Arc::clone(&valid.block))));
            net.peers.queue_relay(&item, valid.source.peer());
        }
        ChainEvent::Blocks(stored) => {
            if let Some((block, _)) = stored.announced()
                && stored.told_valid != Some(block.block.hash)
            {
                let item = Relay::Block(Arc::new(OutgoingBlock::new(Arc::clone(block))));
                net.peers.queue_relay(&item, stored.source.peer());
            }
        }
        ChainEvent::Entries(added) if !added.lines.is_empty() => {
            let item = Relay::Entries(Arc::clone(&added.lines));
            net.peers.queue_relay(&item, added.source.peer());
        }
        ChainEvent::Entries(_) => {}
    }
}
