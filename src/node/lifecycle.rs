//! A node's life: `run` builds its handles (the chain, the network, the
//! miner, the HTTP front door) on a listener it is given, starts them, and
//! when `shutdown` completes stops them in order: stop taking requests,
//! stop the miner, let a write in flight finish, save the address book,
//! close the store.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use tokio::net::TcpListener;

use crate::chain::ChainState;
use crate::store::{PeerStore, StoreError};

use super::chain::ChainHandle;
use super::chain_json::ChainJson;
use super::compact::Rebuilds;
use super::config::NodeConfig;
use super::events::Events;
use super::handles::Node;
use super::http;
use super::metrics::Metrics;
use super::mining::Mining;
use super::net::addresses::DialPolicy;
use super::net::client::PeerClient;
use super::net::peers::{PeerUrlError, normalize_url};
use super::net::scope::{Scope, Scopes, ip_of};
use super::net::{self, Known, Net};
use super::operator;
use super::shutdown::Shutdown;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Peer(#[from] PeerUrlError),
    #[error(transparent)]
    Client(#[from] super::net::client::ClientError),
    #[error("cannot write the operator's cookie file in {dir}: {source}")]
    Cookie {
        dir: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("the HTTP server failed: {0}")]
    Serve(std::io::Error),
    #[error("a startup task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
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
    let (chain, store, bans, addresses) = tokio::task::spawn_blocking(move || {
        let mut chain = ChainState::open(&data_dir, params)?;
        chain.set_pool_limits(limits);
        chain.set_clock(clock);
        if let Err(e) = chain.set_holder_url(&local_url) {
            tracing::warn!("cannot note this node's URL in its data directory's lock file: {e}");
        }
        let store = PeerStore::open(&data_dir)?;
        let (bans, addresses) = (store.peer_bans()?, store.peer_addresses()?);
        Ok::<_, StoreError>((ChainHandle::new(chain)?, store, bans, addresses))
    })
    .await??;
    let chain = Arc::new(chain);
    let cookie = operator::Cookie::create(&config.data_dir).map_err(|source| RunError::Cookie {
        dir: config.data_dir.clone(),
        source,
    })?;
    // The kinds of network dialled on others' word: those this node sits
    // on, and those of the peers its operator named.
    let mut scopes = Scopes::for_node(address.ip(), ip_of(&advertise));
    let manual = addresses.iter().filter(|a| a.manual).map(|a| &a.url);
    for ip in peers.iter().chain(manual).filter_map(|url| ip_of(url)) {
        scopes.add(Scope::of(ip));
    }
    let dial_scopes = scopes.names();
    let known = Known {
        addresses,
        bans,
        policy: DialPolicy {
            ports: config.dial_ports,
            own: own_urls(&advertise, address),
            scopes,
        },
        store,
    };
    let (events, metrics) = (Events::default(), Arc::new(Metrics::default()));
    let shutdown_flag = Shutdown::default();
    // The chain's subscribers, in the order they hear of a change: the
    // metrics count it, the live events tell it (and relay, added by
    // `net::start`, passes it on).
    let counted = Arc::clone(&metrics);
    chain.subscribe(move |event| counted.on_chain_event(event));
    let told = events.clone();
    chain.subscribe(move |event| told.on_chain_event(event));
    let node_id = client.node_id().to_owned();
    let (net, new_peers) = Net::new(
        config.clone(),
        Arc::clone(&chain),
        events.clone(),
        Arc::clone(&metrics),
        shutdown_flag.clone(),
        client,
        known,
    );
    let net = Arc::new(net);
    let mining = Arc::new(Mining::new(
        &config,
        Arc::clone(&chain),
        events.clone(),
        shutdown_flag.clone(),
        &node_id,
    ));
    let http_limits = config.http;
    let node = Arc::new(Node {
        config,
        chain,
        net,
        mining,
        events,
        metrics,
        shutdown: shutdown_flag,
        cookie,
        chain_json: ChainJson::default(),
        rebuilds: Rebuilds::default(),
        started: Instant::now(),
    });
    let tip = node.chain.tip();
    let (files_before, files_soft, files_hard) = node.config.open_files.unwrap_or_default();
    tracing::info!(
        address = %address,
        node_id = %node_id,
        tip = tip.index.0,
        hash = %tip.hash.short(16),
        difficulty = %node.chain.params().difficulty(),
        max_connections = http_limits.max_connections,
        max_per_address = http_limits.max_per_address,
        open_files_soft_before = files_before,
        open_files_soft = files_soft,
        open_files_hard = files_hard,
        advertise = %advertise,
        dial_scopes,
        "node started"
    );
    net::start(&node.net, new_peers);
    // The operator's peers: from the flags, and those given before (the
    // address book keeps them); the book's others are dialled by
    // discovery. Without discovery the node uses the --peer nodes alone:
    // the book is neither read for them nor told of them.
    let discover = node.config.discover;
    let manual = discover.then(|| node.net.read_book(|book| book.manual()));
    for url in peers.into_iter().chain(manual.into_iter().flatten()) {
        let added = match discover {
            true => node.net.add_peer(&url),
            false => node.net.start_peer(&url, false),
        };
        if let Err(e) = added {
            tracing::warn!(peer = %url, "{e}");
        }
    }

    // Sync first, then mine: no point mining on a chain a peer has beaten;
    // but a peer that stalls holds mining back for a moment at most.
    let (starting, wait) = (Arc::clone(&node), node.config.startup_sync_wait);
    tokio::spawn(async move {
        starting.net.wait_first_syncs(wait).await;
        if starting.config.mine && !starting.shutdown.is_requested() {
            starting.mining.set(true);
        }
    });

    let stopper = node.shutdown.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopper.request();
    });
    if let Some(on_start) = &node.config.on_start {
        on_start(node.cookie.token());
    }
    let hosts = http::host::HostPolicy::new(address, &advertise, &node.config.allow_hosts);
    let router = http::router(Arc::clone(&node), hosts);
    http::server::serve(
        listener,
        router,
        http_limits,
        Arc::clone(&node.metrics),
        node.shutdown.watch(),
    )
    .await;

    // Shutdown: the server has stopped taking requests. Stop the miner
    // (its thread sees the flag within a batch of nonces); sync loops see
    // the flag, and a store write in flight finishes first.
    tracing::info!("shutting down");
    node.mining.join().await;
    node.net.close().await;
    let closing = Arc::clone(&node.chain);
    let _ = tokio::task::spawn_blocking(move || closing.close()).await;
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
