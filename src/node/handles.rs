//! `Node`: the handles of a running node, one per responsibility, as the
//! HTTP layer receives them: the chain (`ChainHandle`), the network
//! (`Net`), the miner (`Mining`), what people watching see (`Events`,
//! `Metrics`), the operator's credential and the shutdown flag. Nothing
//! here acts: each handle has its own methods.

use std::sync::Arc;
use std::time::Instant;

use super::chain::ChainHandle;
use super::chain_json::ChainJson;
use super::compact::Rebuilds;
use super::config::NodeConfig;
use super::events::Events;
use super::metrics::Metrics;
use super::mining::Mining;
use super::net::Net;
use super::operator::Cookie;
use super::shutdown::Shutdown;

pub struct Node {
    pub config: NodeConfig,
    pub chain: Arc<ChainHandle>,
    pub net: Arc<Net>,
    pub mining: Arc<Mining>,
    pub events: Events,
    pub metrics: Arc<Metrics>,
    pub shutdown: Shutdown,
    /// The operator's credential.
    pub cookie: Cookie,
    /// `/blockchain.json`, kept ready.
    pub chain_json: ChainJson,
    /// Compact blocks' pool scans.
    pub rebuilds: Rebuilds,
    pub started: Instant,
}
