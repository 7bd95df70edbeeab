//! What `GET /metrics` reports, in the Prometheus text format (0.0.4),
//! written by the `prometheus` crate (without its protobuf support).
//!
//! Every metric family is a named field of `Metrics`, declared once with
//! its name, help and label names, so a call site cannot misspell a metric
//! into a new one: `metrics.blocks_accepted.with_label_values(&["mined"])`.
//! Counters of what happens to the chain are kept by `on_chain_event` (the
//! metrics subscribe to the chain's events); values that mirror the node's
//! state (tip height, peers up, hash rate) are set from a `Scrape` when
//! `/metrics` is read.

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus::core::Collector;
use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use super::notify::ChainEvent;
use super::protocol::DifficultyInfo;
use crate::store::{PoolStats, Tip};

/// Upper bounds (seconds) of the HTTP latency histogram buckets.
const LATENCY_BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

/// Declares `Metrics`: each family once, as a field with its type, label
/// names (none for a single metric), name and help; `Metrics::register`
/// makes and registers them all.
macro_rules! metrics {
    ($(
        $(#[$doc:meta])*
        $vis:vis $field:ident: $ty:ident $([$($label:literal),*])? = $name:literal,
            $help:literal;
    )*) => {
        /// The node's metrics.
        pub struct Metrics {
            registry: Registry,
            /// The most blocks one reorg took off the main chain since start.
            deepest_reorg: AtomicU64,
            $($(#[$doc])* $vis $field: $ty,)*
        }

        impl Metrics {
            fn register(registry: Registry) -> Metrics {
                Metrics {
                    $($field: register(&registry, $name, $help, &[$($($label),*)?]),)*
                    deepest_reorg: AtomicU64::new(0),
                    registry,
                }
            }
        }
    };
}

metrics! {
    pub blocks_accepted: IntCounterVec["source"] = "jbc_blocks_accepted_total",
        "Blocks accepted into the store, by where they came from.";
    pub blocks_rejected: IntCounterVec["reason"] = "jbc_blocks_rejected_total",
        "Blocks refused, by reason.";
    pub reorgs: IntCounter = "jbc_reorgs_total",
        "Tip changes that took blocks off the main chain.";
    pub reorg_depth: IntCounter = "jbc_reorg_depth_blocks_total",
        "Blocks taken off the main chain by reorgs, summed.";
    pub sync_rounds: IntCounter = "jbc_sync_rounds_total",
        "Sync rounds run (every few seconds, or on an unknown parent).";
    pub sync_blocks: IntCounter = "jbc_sync_blocks_total",
        "Blocks fetched from peers by sync.";
    pub relayed_blocks: IntCounterVec["outcome"] = "jbc_relayed_blocks_total",
        "Blocks sent to peers, by outcome.";
    pub relayed_entries: IntCounterVec["outcome"] = "jbc_relayed_entry_batches_total",
        "Batches of new entries sent to peers, by outcome.";
    /// Bytes of request bodies sent to spread blocks and entries, by kind.
    pub relay_sent_bytes: IntCounterVec["kind"] = "jbc_relay_sent_bytes_total",
        "Bytes sent to peers to spread blocks (POST /v1/blocks, /v1/blocks/compact and /mined bodies, tip announcements to listening nodes) and entries (POST /v1/entries bodies), by kind.";
    /// Sends of blocks (one per block per peer) and of entries (one per
    /// POST), by kind.
    pub relay_sent: IntCounterVec["kind"] = "jbc_relay_sent_total",
        "Relay sends attempted, by kind: block (one per block per peer) or entries (one per POST /v1/entries).";
    /// Compact blocks received, by what the pool made of them.
    pub compact_received: IntCounterVec["outcome"] = "jbc_compact_blocks_received_total",
        "Compact blocks received (POST /v1/blocks/compact), by outcome: complete (every entry from the pool or sent along), missing (entries asked for), mismatch (the rebuilt entries missed the root: the whole block asked for), mostly_missing (more than half lacking: the whole block asked for), known, parent_unknown.";
    /// Entries a compact block's receiver had to ask for.
    pub compact_entries_asked: IntCounter = "jbc_compact_entries_asked_total",
        "Entries of compact blocks this node lacked and asked the sender for.";
    /// Posted blocks answered from the hash their sender named.
    pub blocks_known_unparsed: IntCounter = "jbc_blocks_known_unparsed_total",
        "Blocks posted (POST /v1/blocks or /v1/blocks/compact) whose sender named them in x-jbc-block and that this node already held: answered already_known without parsing the body.";
    pub entries_accepted: IntCounterVec["source"] = "jbc_entries_accepted_total",
        "New entries put in the pool, by where they came from.";
    pub entries_rejected: IntCounterVec["reason"] = "jbc_entries_rejected_total",
        "Entries refused, by reason.";
    pub entries_evicted: IntCounter = "jbc_entries_evicted_total",
        "Pending entries evicted because the pool was full (the largest source's first).";
    pub entries_confirmed: IntCounter = "jbc_entries_confirmed_total",
        "Entries that left the pool because a main-chain block carries them.";
    pub entries_returned: IntCounter = "jbc_entries_returned_total",
        "Entries put back in the pool because a reorg took their block away.";
    pub http_requests: IntCounterVec["route", "status"] = "jbc_http_requests_total",
        "HTTP requests served, by route and status.";
    pub connections_refused: IntCounter = "jbc_connections_refused_total",
        "Connections closed at once: too many open, or from one source group.";
    pub connections_evicted: IntCounter = "jbc_connections_evicted_total",
        "Connections closed to make room for a newcomer from a smaller source group.";
    pub connections_stalled: IntCounter = "jbc_connections_stalled_total",
        "Connections closed because the client took its answer too slowly: nothing for 30 s, or under 4 KiB/s on average, while the answer waited (the defaults).";
    pub bodies_refused: IntCounterVec["reason"] = "jbc_bodies_refused_total",
        "Request bodies refused: too slow, or past the budget of bytes in flight.";
    pub answers_refused: IntCounter = "jbc_answers_refused_total",
        "Large answers refused (503): past the budget of bytes being sent.";
    pub peer_failures: IntCounter = "jbc_peer_failures_total",
        "Syncs with a peer that failed (it is then backed off).";
    pub peers_dropped: IntCounter = "jbc_peers_dropped_total",
        "Peers dropped for a while: invalid blocks, or too many failures.";
    pub address_exchanges: IntCounter = "jbc_address_exchanges_total",
        "Address lists read from peers (GET /v1/addresses).";
    pub address_exchange_bytes: IntCounter = "jbc_address_exchange_bytes_total",
        "Bytes of address lists read from peers.";
    pub http_latency: HistogramVec["route"] = "jbc_http_request_duration_seconds",
        "HTTP request latency, by route.";

    // The gauges set from a `Scrape`.
    tip_height: IntGauge = "jbc_tip_height",
        "Index of the tip of the main chain.";
    chain_work: Gauge = "jbc_chain_work",
        "Cumulative work of the main chain (approximate as a float).";
    peers: IntGaugeVec["state"] = "jbc_peers",
        "Peers by state.";
    syncing: IntGauge = "jbc_syncing",
        "1 while a sync round runs.";
    mining: IntGauge = "jbc_mining",
        "1 while the node mines.";
    hash_rate: Gauge = "jbc_hash_rate",
        "Hashes per second over the last second.";
    hashes: IntCounter = "jbc_hashes_total",
        "Hashes tried by this node's miner.";
    pool_entries: IntGauge = "jbc_pool_entries",
        "Entries waiting for a block.";
    pool_bytes: IntGauge = "jbc_pool_bytes",
        "Bytes of entries waiting for a block.";
    uptime: Gauge = "jbc_uptime_seconds",
        "Seconds since the node started.";
    reorg_deepest: IntGauge = "jbc_reorg_deepest_blocks",
        "The most blocks one reorg took off the main chain since the node started.";
    /// Only where they mean something (no labels: shown once set).
    hashes_per_block: GaugeVec[] = "jbc_difficulty_hashes_per_block",
        "Hashes the next block takes on average (the work of its target).";
    target_log2: GaugeVec[] = "jbc_target_log2",
        "Log2 of the next block's target (256 minus its leading zero bits, roughly).";
    block_time_mean: GaugeVec[] = "jbc_block_time_mean_seconds",
        "Mean time between the last blocks of the main chain (up to 100).";
    block_time_target: GaugeVec[] = "jbc_block_time_target_seconds",
        "The network's target time between blocks.";
}

/// What the node is at the moment `/metrics` is read.
pub struct Scrape {
    pub tip: Tip,
    pub peers_up: usize,
    pub peers_down: usize,
    pub syncing: bool,
    pub mining: bool,
    pub hash_rate: f64,
    pub hashes: u64,
    pub pool: PoolStats,
    pub uptime_seconds: f64,
    pub difficulty: Option<DifficultyInfo>,
}

/// A metric family made from its name, help and label names.
trait Family: Collector + Clone + 'static {
    fn make(name: &str, help: &str, labels: &[&str]) -> prometheus::Result<Self>;
}

/// `Family` for single metrics (no labels) and for families by label.
macro_rules! family {
    (single: $($single:ident),*; labelled: $($labelled:ident),*) => {
        $(impl Family for $single {
            fn make(name: &str, help: &str, _: &[&str]) -> prometheus::Result<Self> {
                $single::new(name, help)
            }
        })*
        $(impl Family for $labelled {
            fn make(name: &str, help: &str, labels: &[&str]) -> prometheus::Result<Self> {
                $labelled::new(Opts::new(name, help), labels)
            }
        })*
    };
}

family!(single: IntCounter, IntGauge, Gauge; labelled: IntCounterVec, IntGaugeVec, GaugeVec);

impl Family for HistogramVec {
    fn make(name: &str, help: &str, labels: &[&str]) -> prometheus::Result<Self> {
        let opts = HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec());
        HistogramVec::new(opts, labels)
    }
}

/// Makes a family and registers it.
fn register<F: Family>(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> F {
    let family = F::make(name, help, labels).expect("a valid name");
    registry
        .register(Box::new(family.clone()))
        .expect("metric names are distinct");
    family
}

impl Default for Metrics {
    fn default() -> Metrics {
        let metrics = Metrics::register(Registry::new());
        // Both kinds shown from the start, at 0, for whoever reads deltas.
        for kind in ["block", "entries"] {
            metrics.relay_sent_bytes.with_label_values(&[kind]);
            metrics.relay_sent.with_label_values(&[kind]);
        }
        metrics
    }
}

impl Metrics {
    /// Counts what the chain did.
    pub fn on_chain_event(&self, event: &ChainEvent) {
        match event {
            ChainEvent::Blocks(stored) => {
                if !stored.stored.is_empty() {
                    self.blocks_accepted
                        .with_label_values(&[stored.source.label()])
                        .inc_by(stored.stored.len() as u64);
                }
                if let Some(reason) = stored.refused {
                    self.blocks_rejected.with_label_values(&[reason]).inc();
                }
                if let Some((_, reorg)) = stored.tip_moved
                    && reorg.disconnected > 0
                {
                    self.reorgs.inc();
                    self.reorg_depth.inc_by(reorg.disconnected);
                    self.deepest_reorg
                        .fetch_max(reorg.disconnected, Ordering::Relaxed);
                }
                self.entries_confirmed.inc_by(stored.moves.confirmed);
                self.entries_returned.inc_by(stored.moves.returned);
                self.entries_evicted.inc_by(stored.moves.evicted);
            }
            ChainEvent::Valid(_) => {}
            ChainEvent::Entries(added) => {
                self.entries_accepted
                    .with_label_values(&[added.source.label()])
                    .inc_by(added.lines.len() as u64);
                self.entries_evicted.inc_by(added.evicted);
            }
        }
    }

    /// The text `/metrics` answers, with the node's state as it is now.
    pub fn render(&self, now: &Scrape) -> String {
        self.tip_height.set(now.tip.index.0 as i64);
        self.chain_work.set(now.tip.chain_work.as_f64());
        for (label, count) in [("up", now.peers_up), ("down", now.peers_down)] {
            self.peers.with_label_values(&[label]).set(count as i64);
        }
        self.syncing.set(now.syncing.into());
        self.mining.set(now.mining.into());
        self.hash_rate.set(now.hash_rate);
        // A counter follows the miner's own count: add what is new.
        self.hashes
            .inc_by(now.hashes.saturating_sub(self.hashes.get()));
        self.pool_entries.set(now.pool.entries as i64);
        self.pool_bytes.set(now.pool.bytes as i64);
        self.uptime.set(now.uptime_seconds);
        self.reorg_deepest
            .set(self.deepest_reorg.load(Ordering::Relaxed) as i64);
        if let Some(pace) = &now.difficulty {
            let set =
                |gauge: &GaugeVec, value: f64| gauge.with_label_values::<&str>(&[]).set(value);
            set(&self.hashes_per_block, pace.hashes_per_block);
            set(&self.target_log2, target_log2(&pace.target));
            if let Some(mean) = pace.mean_block_time_ms {
                set(&self.block_time_mean, mean / 1000.0);
            }
            if let Some(wanted) = pace.block_time_ms {
                set(&self.block_time_target, wanted as f64 / 1000.0);
            }
        }
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("the text encoder writes to memory");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

/// Log2 of a target written as 64 hex digits.
fn target_log2(hex: &str) -> f64 {
    let zeros = hex.bytes().take_while(|b| *b == b'0').count();
    let rest = &hex[zeros..(zeros + 13).min(hex.len())];
    let lead = u64::from_str_radix(rest, 16).unwrap_or(0) as f64;
    if lead == 0.0 {
        return 0.0;
    }
    let digits_after = (hex.len() - zeros - rest.len()) as f64;
    lead.log2() + 4.0 * digits_after
}
