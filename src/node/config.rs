//! `NodeConfig`: what `jbc node`'s flags resolve to, and the defaults a
//! node in a test starts from.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::consensus::Network;
use crate::store::PoolLimits;

use super::http::server::HttpLimits;
use super::net::client::Timeouts;

/// Settings of a running node (what `jbc node` flags resolve to).
#[derive(Clone)]
pub struct NodeConfig {
    pub data_dir: PathBuf,
    pub params: Network,
    pub peers: Vec<String>,
    pub mine: bool,
    pub threads: usize,
    /// Text for mined blocks; `None`: data.txt in the data dir, else a
    /// line naming the node.
    pub mining_data: Option<String>,
    pub sync_interval: Duration,
    pub timeouts: Timeouts,
    /// How long a peer that sent an invalid block is ignored.
    pub ignore_period: Duration,
    /// Told (blocks done, blocks to go in all) while a sync fetches many
    /// blocks, so a terminal can draw a progress bar.
    pub sync_progress: Option<SyncProgress>,
    /// How big the pool of pending entries may grow.
    pub pool_limits: PoolLimits,
    /// What the HTTP front door allows (connections, time, body bytes).
    pub http: HttpLimits,
    /// How long a peer that failed too often in a row is dropped.
    pub drop_period: Duration,
    /// The first wait after a peer fails; each failure doubles it.
    pub backoff_base: Duration,
    /// How long mining waits at startup for the first sync with each peer.
    pub startup_sync_wait: Duration,
    /// Told, once the node listens, the operator's token (for the link a
    /// terminal shows; never logged).
    pub on_start: Option<OnStart>,
    /// The open-file limits (soft before raising, soft, hard), to log.
    pub open_files: Option<(u64, u64, u64)>,
    /// Where other nodes reach this one (`None`: from the address it
    /// listens on; a node listening on every address is then known by the
    /// IP others see it at).
    pub advertise: Option<String>,
    /// Find peers through other peers, and keep up to `max_outbound` of
    /// them besides the ones the operator gave.
    pub discover: bool,
    pub max_outbound: usize,
    /// Ports this node dials for an address it was told of.
    pub dial_ports: (u16, u16),
    /// Host names answered besides IP addresses, localhost and the
    /// advertised host, by a node listening on loopback (`--allow-host`).
    pub allow_hosts: Vec<String>,
    /// Milliseconds added to the system clock (`--clock-offset`): the
    /// clock the miner stamps blocks with and blocks from the future are
    /// judged by.
    pub clock_offset_ms: i64,
}

/// Told the operator's token once the node listens.
pub type OnStart = Arc<dyn Fn(&str) + Send + Sync>;

/// A callback for long syncs: (blocks stored so far, total expected).
pub type SyncProgress = Arc<dyn Fn(u64, u64) + Send + Sync>;

impl NodeConfig {
    pub fn new(data_dir: PathBuf, params: Network) -> NodeConfig {
        NodeConfig {
            data_dir,
            params,
            peers: Vec::new(),
            mine: false,
            threads: crate::miner::default_threads(),
            mining_data: None,
            sync_interval: Duration::from_secs(3),
            timeouts: Default::default(),
            ignore_period: Duration::from_secs(60),
            sync_progress: None,
            pool_limits: PoolLimits::default(),
            http: HttpLimits::default(),
            drop_period: Duration::from_secs(600),
            backoff_base: Duration::from_secs(1),
            startup_sync_wait: Duration::from_secs(2),
            on_start: None,
            open_files: None,
            advertise: None,
            discover: true,
            max_outbound: 16,
            dial_ports: (1024, 65535),
            allow_hosts: Vec::new(),
            clock_offset_ms: 0,
        }
    }
}
