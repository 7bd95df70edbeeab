//! The running node: wiring and lifecycle. `run` opens the store, serves
//! HTTP on a listener it is given (so tests bind `127.0.0.1:0`), starts
//! sync, relay and (with `--mine`) the miner, and on shutdown stops them in
//! order: stop taking requests, stop the miner, let a write in flight
//! finish, close the store.
//!
//! - `state`: `Shared`, the one door for blocks (`submit`), the tip watch.
//! - `api`: HTTP routes, thin. `protocol`: the `/v1` JSON shapes.
//!   `chain_json`: `/blockchain.json`, kept ready.
//! - `peers`: the peer list and per-peer state. `client`: capped,
//!   time-limited requests to peers.
//! - `sync`: locator sync with jbc peers, whole-chain sync with originals.
//! - `relay`: one queue and task per peer for new blocks.
//! - `mining`: the miner thread, restarted on every tip change.
//! - `events`, `metrics`: what the node tells people watching it.
//! - `shutdown`: Ctrl-C and SIGTERM.

mod api;
mod chain_json;
mod client;
mod events;
mod metrics;
mod mining;
mod peers;
mod protocol;
mod relay;
pub mod shutdown;
mod state;
mod sync;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

pub use client::Timeouts;
pub use events::NodeEvent;
pub use peers::{PeerUrlError, normalize_url};
pub use state::{NodeConfig, NodeError, SyncProgress};

use crate::chain::ChainState;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Peer(#[from] PeerUrlError),
    #[error("the HTTP server failed: {0}")]
    Serve(std::io::Error),
    #[error("a startup task failed: {0}")]
    Task(String),
}

/// Runs a node until `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    config: NodeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let peers = config
        .peers
        .iter()
        .map(|p| normalize_url(p))
        .collect::<Result<Vec<_>, _>>()?;
    let (data_dir, params) = (config.data_dir.clone(), config.params.clone());
    let chain = tokio::task::spawn_blocking(move || ChainState::open(&data_dir, params))
        .await
        .map_err(|e| RunError::Task(e.to_string()))??;
    let (stop_tx, stop_rx) = watch::channel(false);
    let shared = Arc::new(state::Shared::new(config, chain, new_node_id(), stop_rx));
    let tip = shared.tip();
    let address = listener.local_addr().map_err(RunError::Serve)?;
    tracing::info!(
        address = %address,
        node_id = %shared.node_id,
        tip = tip.index.0,
        hash = %tip.hash.short(16),
        difficulty = shared.params().difficulty().zeros(),
        "node started"
    );
    for url in peers {
        // No early sync round: the startup round below covers these.
        add_peer(&shared, &url, false);
    }

    // Sync first, then mine: no point mining on a chain a peer has beaten.
    let sync_task = {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            sync::round(&shared).await;
            if shared.config.mine && !shared.is_shutting_down() {
                set_mining(&shared, true);
            }
            sync::run(shared).await;
        })
    };

    let mut server_stop = shared.watch_shutdown();
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let served = axum::serve(listener, api::router(Arc::clone(&shared)))
        .with_graceful_shutdown(async move {
            let _ = server_stop.wait_for(|stop| *stop).await;
        })
        .await;

    // Shutdown: the server has stopped taking requests. Stop the miner
    // (its thread sees the flag within a batch of nonces) and sync (a
    // request in flight is dropped; a store write in flight finishes).
    tracing::info!("shutting down");
    shared.mining.set_enabled(false);
    let miner = shared.mining.thread.lock().ok().and_then(|mut t| t.take());
    if let Some(miner) = miner {
        let _ = tokio::task::spawn_blocking(move || miner.join()).await;
    }
    let mut sync_task = sync_task;
    if tokio::time::timeout(std::time::Duration::from_secs(2), &mut sync_task)
        .await
        .is_err()
    {
        sync_task.abort();
    }
    let closing = Arc::clone(&shared);
    let _ = tokio::task::spawn_blocking(move || closing.close_store()).await;
    tracing::info!("store closed; node stopped");
    served.map_err(RunError::Serve)
}

/// Adds a peer (normalized URL) and starts its relay task; with
/// `sync_now`, syncs with it (and the others) at once. True if new.
pub(crate) fn add_peer(shared: &Arc<state::Shared>, url: &str, sync_now: bool) -> bool {
    match shared.peers.add(url) {
        Some(queue) => {
            relay::spawn_worker(Arc::clone(shared), url.to_owned(), queue);
            tracing::info!(peer = url, "peer added");
            if sync_now {
                shared.sync_wanted.notify_one();
            }
            true
        }
        None => false,
    }
}

/// Switches mining on or off, starting the miner thread on first use.
pub(crate) fn set_mining(shared: &Arc<state::Shared>, on: bool) {
    if on {
        mining::ensure_started(shared);
    }
    if shared.mining.set_enabled(on) {
        shared.events.mining(on);
    }
}

/// Switches mining off and waits (up to 5 s) until the miner has stopped
/// and stored any block it found meanwhile: after this, no more blocks.
pub(crate) async fn stop_mining(shared: &Arc<state::Shared>) {
    set_mining(shared, false);
    shared
        .mining
        .wait_idle(std::time::Duration::from_secs(5))
        .await;
}

/// A random id for this run of the node: 16 bytes from the OS, as hex.
fn new_node_id() -> String {
    let mut bytes = [0u8; 16];
    let filled = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .is_ok();
    if !filled {
        // No /dev/urandom: time and process id are unique enough for an id
        // that only has to differ between the nodes of one network.
        let seed = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
        bytes.copy_from_slice(&crate::consensus::BlockHash::of(seed.as_bytes()).as_bytes()[..16]);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
