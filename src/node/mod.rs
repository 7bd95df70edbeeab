//! The running node. `lifecycle::run` opens the store, serves HTTP on a
//! listener it is given (so tests bind `127.0.0.1:0`), starts the network
//! and (with `--mine`) the miner, and on shutdown stops them in order: stop
//! taking requests, stop the miner, let a write in flight finish, close
//! the store.
//!
//! The node is a few handles, each behind its own methods:
//!
//! - `chain`: `ChainHandle`, the chain: `submit` is the one door for
//!   blocks, `submit_entries` the one for entries; after each it publishes
//!   a `ChainEvent` (`notify`) that relay, metrics and the live events
//!   subscribe to. `compact`: a compact block rebuilt from the pool.
//! - `net`: `Net`, peers, the address book, sync, relay and discovery.
//! - `mining`: `Mining`, the miner thread, restarted on every tip change.
//! - `events`, `metrics`: what the node tells people watching it.
//! - `handles`: `Node`, all of these together, as the HTTP layer gets them.
//! - `http`: the routes (the original's and `/v1`), thin, and the explorer;
//!   `protocol`: the `/v1` answers, one type each for both sides; `status`:
//!   what `/v1/status` says.
//! - `config`, `operator` (the operator's cookie), `chain_json`
//!   (`/blockchain.json` kept ready), `shutdown` (signals and the flag).

mod chain;
mod chain_json;
mod compact;
mod config;
mod events;
mod handles;
mod http;
mod lifecycle;
mod metrics;
mod mining;
mod net;
mod notify;
pub mod operator;
pub mod protocol;
pub mod shutdown;
mod status;

pub use chain::NodeError;
pub use config::{NodeConfig, OnStart, SyncProgress};
pub use events::NodeEvent;
pub use http::server::HttpLimits;
pub use lifecycle::{RunError, run};
pub use net::client::{ClientError, NODE_ID_HEADER, PeerClient, Timeouts};
pub use net::peers::{PeerUrlError, normalize_url};

/// Locks `mutex` even after a panic while it was held: nothing the node
/// keeps behind a lock is left half-updated in a way that matters, so it
/// keeps serving.
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
