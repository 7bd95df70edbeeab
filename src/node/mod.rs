//! The running node: wiring and lifecycle. `run` opens the store, serves
//! HTTP on a listener it is given (so tests bind `127.0.0.1:0`), starts
//! sync, relay and (with `--mine`) the miner, and on shutdown stops them in
//! order: stop taking requests, stop the miner, let a write in flight
//! finish, close the store.
//!
//! - `state`: `Shared`, the node's state behind methods; `submit` is the
//!   one door for blocks.
//! - `protocol`: the `/v1` answers, one type each for both sides.
//! - `http`: the routes (the original's and `/v1`), thin, and the explorer.
//! - `net`: peers, the outgoing client, sync and relay.
//! - `chain_json`: `/blockchain.json`, kept ready.
//! - `mining`: the miner thread, restarted on every tip change.
//! - `events`, `metrics`: what the node tells people watching it.
//! - `shutdown`: Ctrl-C and SIGTERM.

mod chain_json;
mod events;
mod http;
mod metrics;
mod mining;
mod net;
pub mod protocol;
pub mod shutdown;
mod state;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

pub use events::NodeEvent;
pub use net::client::{ClientError, NODE_ID_HEADER, PeerClient, Timeouts};
pub use net::peers::{PeerUrlError, normalize_url};
pub use state::{NodeConfig, NodeError, SyncProgress};

use crate::chain::ChainState;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Peer(#[from] PeerUrlError),
    #[error(transparent)]
    Client(#[from] ClientError),
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
    let client = PeerClient::new(new_node_id(), config.timeouts)?;
    let (data_dir, params) = (config.data_dir.clone(), config.params.clone());
    let limits = config.pool_limits;
    let chain = tokio::task::spawn_blocking(move || {
        let mut chain = ChainState::open(&data_dir, params)?;
        chain.set_pool_limits(limits);
        Ok::<_, StoreError>(chain)
    })
    .await
    .map_err(|e| RunError::Task(e.to_string()))??;
    let (stop_tx, stop_rx) = watch::channel(false);
    let shared = Arc::new(state::Shared::new(config, chain, client, stop_rx));
    let tip = shared.tip();
    let address = listener.local_addr().map_err(RunError::Serve)?;
    tracing::info!(
        address = %address,
        node_id = %shared.node_id(),
        tip = tip.index.0,
        hash = %tip.hash.short(16),
        difficulty = shared.params().difficulty().zeros(),
        "node started"
    );
    for url in peers {
        // No early sync round: the startup round below covers these.
        shared.add_peer(&url, false);
    }

    // Sync first, then mine: no point mining on a chain a peer has beaten.
    let sync_task = {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            net::sync::round(&shared).await;
            if shared.config().mine && !shared.is_shutting_down() {
                shared.set_mining(true);
            }
            net::sync::run(shared).await;
        })
    };

    let mut server_stop = shared.watch_shutdown();
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let served = axum::serve(listener, http::router(Arc::clone(&shared)))
        .with_graceful_shutdown(async move {
            let _ = server_stop.wait_for(|stop| *stop).await;
        })
        .await;

    // Shutdown: the server has stopped taking requests. Stop the miner
    // (its thread sees the flag within a batch of nonces) and sync (a
    // request in flight is dropped; a store write in flight finishes).
    tracing::info!("shutting down");
    shared.mining().set_enabled(false);
    if let Some(miner) = shared.mining().take_thread() {
        let _ = tokio::task::spawn_blocking(move || miner.join()).await;
    }
    let mut sync_task = sync_task;
    if tokio::time::timeout(Duration::from_secs(2), &mut sync_task)
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
