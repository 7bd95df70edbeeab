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
//! - `operator`: the credential of the node's operator (the cookie file).
//! - `events`, `metrics`: what the node tells people watching it.
//! - `shutdown`: Ctrl-C and SIGTERM.

mod chain_json;
mod events;
mod http;
mod metrics;
mod mining;
mod net;
pub mod operator;
pub mod protocol;
pub mod shutdown;
mod state;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

pub use events::NodeEvent;
pub use http::server::HttpLimits;
pub use net::client::{ClientError, NODE_ID_HEADER, PeerClient, Timeouts};
pub use net::peers::{PeerUrlError, normalize_url};
pub use state::{NodeConfig, NodeError, SyncProgress};

use crate::chain::ChainState;
use crate::store::StoreError;
use net::addresses::DialPolicy;
use net::scope::{Scope, Scopes};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Peer(#[from] PeerUrlError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("cannot write the operator's cookie file in {dir}: {source}")]
    Cookie {
        dir: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("the HTTP server failed: {0}")]
    Serve(std::io::Error),
    #[error("a startup task failed: {0}")]
    Task(String),
}

/// The IP address a base URL names, if it names one (not a host name).
pub(crate) fn ip_of(url: &str) -> Option<std::net::IpAddr> {
    let parsed = reqwest::Url::parse(url).ok()?;
    parsed.host_str()?.trim_matches(['[', ']']).parse().ok()
}

/// Where a process on this machine reaches the node listening at
/// `address` (loopback when it listens on every address).
fn local_url(address: std::net::SocketAddr) -> String {
    let ip = match address.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    format!("http://{}/", std::net::SocketAddr::new(ip, address.port()))
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
    let address = listener.local_addr().map_err(RunError::Serve)?;
    let advertise = match &config.advertise {
        Some(url) => normalize_url(url)?,
        None => advertised_url(address),
    };
    let client = PeerClient::new(new_node_id(), config.timeouts)?.advertising(&advertise);
    let (data_dir, params) = (config.data_dir.clone(), config.params.clone());
    let limits = config.pool_limits;
    let clock = crate::clock::offset_clock(config.clock_offset_ms);
    let local_url = local_url(address);
    let chain = tokio::task::spawn_blocking(move || {
        let mut chain = ChainState::open(&data_dir, params)?;
        chain.set_pool_limits(limits);
        chain.set_clock(clock);
        if let Err(e) = chain.set_holder_url(&local_url) {
            tracing::warn!("cannot note this node's URL in its data directory's lock file: {e}");
        }
        Ok::<_, StoreError>(chain)
    })
    .await
    .map_err(|e| RunError::Task(e.to_string()))??;
    let cookie = operator::Cookie::create(&config.data_dir).map_err(|source| RunError::Cookie {
        dir: config.data_dir.clone(),
        source,
    })?;
    let bans_dir = config.data_dir.clone();
    let (bans, addresses, peer_store) = tokio::task::spawn_blocking(move || {
        let store = crate::store::PeerStore::open(&bans_dir)?;
        Ok::<_, StoreError>((store.peer_bans()?, store.peer_addresses()?, store))
    })
    .await
    .map_err(|e| RunError::Task(e.to_string()))??;
    // The kinds of network dialled on others' word: those this node sits
    // on, and those of the peers its operator named.
    let mut scopes = Scopes::for_node(address.ip(), ip_of(&advertise));
    let manual = addresses.iter().filter(|a| a.manual).map(|a| &a.url);
    for ip in peers.iter().chain(manual).filter_map(|url| ip_of(url)) {
        scopes.add(Scope::of(ip));
    }
    let dial_scopes = scopes.names();
    let known = state::Known {
        addresses,
        policy: DialPolicy {
            ports: config.dial_ports,
            own: own_urls(&advertise, address),
            scopes,
        },
        store: peer_store,
    };
    let http_limits = config.http;
    let shared = Arc::new(state::Shared::new(
        config, chain, client, cookie, bans, known,
    ));
    let tip = shared.tip();
    let (files_before, files_soft, files_hard) = shared.config().open_files.unwrap_or_default();
    tracing::info!(
        address = %address,
        node_id = %shared.node_id(),
        tip = tip.index.0,
        hash = %tip.hash.short(16),
        difficulty = %shared.params().difficulty(),
        max_connections = http_limits.max_connections,
        max_per_address = http_limits.max_per_address,
        open_files_soft_before = files_before,
        open_files_soft = files_soft,
        open_files_hard = files_hard,
        advertise = %advertise,
        dial_scopes,
        "node started"
    );
    // The operator's peers: from the flags, and those given before (the
    // address book keeps them); the book's others are dialled by
    // discovery.
    // Without discovery the node uses the --peer nodes alone: the book is
    // neither read for them nor told of them.
    let discover = shared.config().discover;
    let manual = match discover {
        true => shared.with_addresses(|book| book.manual()),
        false => Vec::new(),
    };
    for url in peers.into_iter().chain(manual) {
        let added = match discover {
            true => shared.add_peer(&url),
            false => shared.add_peer_for_this_run(&url),
        };
        if let Err(e) = added {
            tracing::warn!(peer = %url, "{e}");
        }
    }
    net::discovery::spawn(&shared);

    // Sync first, then mine: no point mining on a chain a peer has beaten;
    // but a peer that stalls holds mining back for a moment at most.
    let starting = Arc::clone(&shared);
    tokio::spawn(async move {
        starting
            .wait_first_syncs(starting.config().startup_sync_wait)
            .await;
        if starting.config().mine && !starting.is_shutting_down() {
            starting.set_mining(true);
        }
    });

    let stopper = Arc::clone(&shared);
    tokio::spawn(async move {
        shutdown.await;
        stopper.request_shutdown();
    });
    if let Some(on_start) = &shared.config().on_start {
        on_start(shared.operator_token());
    }
    let hosts = http::host::HostPolicy::new(address, &advertise, &shared.config().allow_hosts);
    let router = http::router(Arc::clone(&shared), hosts);
    let metrics = shared.metrics_handle();
    http::server::serve(
        listener,
        router,
        http_limits,
        metrics,
        shared.watch_shutdown(),
    )
    .await;

    // Shutdown: the server has stopped taking requests. Stop the miner
    // (its thread sees the flag within a batch of nonces) and sync (a
    // request in flight is dropped; a store write in flight finishes).
    tracing::info!("shutting down");
    shared.mining().set_enabled(false);
    if let Some(miner) = shared.mining().take_thread() {
        let _ = tokio::task::spawn_blocking(move || miner.join()).await;
    }
    // Sync loops see the flag; a store write in flight finishes first.
    shared.save_addresses().await;
    let closing = Arc::clone(&shared);
    let _ = tokio::task::spawn_blocking(move || closing.close_store()).await;
    tracing::info!("store closed; node stopped");
    Ok(())
}

/// Where others reach a node listening on `address`: that address, or,
/// when it listens on every address, `0.0.0.0` with its port, which a
/// receiver reads as "the IP you see me at".
fn advertised_url(address: std::net::SocketAddr) -> String {
    match address.ip() {
        std::net::IpAddr::V6(ip) => format!("http://[{ip}]:{}/", address.port()),
        std::net::IpAddr::V4(ip) => format!("http://{ip}:{}/", address.port()),
    }
}

/// The URLs that lead to this very node, never to be dialled.
fn own_urls(advertise: &str, address: std::net::SocketAddr) -> std::collections::HashSet<String> {
    let port = address.port();
    let mut own: std::collections::HashSet<String> = [
        advertise.to_owned(),
        advertised_url(address),
        format!("http://localhost:{port}/"),
    ]
    .into();
    if address.ip().is_loopback() || address.ip().is_unspecified() {
        own.insert(format!("http://127.0.0.1:{port}/"));
    }
    own
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
