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

/// The node's metrics.
pub struct Metrics {
    registry: Registry,
    pub blocks_accepted: IntCounterVec,
    pub blocks_rejected: IntCounterVec,
    pub reorgs: IntCounter,
    pub reorg_depth: IntCounter,
    pub sync_rounds: IntCounter,
    pub sync_blocks: IntCounter,
    pub relayed_blocks: IntCounterVec,
    pub relayed_entries: IntCounterVec,
    /// Bytes of request bodies sent to spread blocks and entries, by kind.
    pub relay_sent_bytes: IntCounterVec,
    /// Sends of blocks (one per block per peer) and of entries (one per
    /// POST), by kind.
    pub relay_sent: IntCounterVec,
    /// Compact blocks received, by what the pool made of them.
    pub compact_received: IntCounterVec,
    /// Entries a compact block's receiver had to ask for.
    pub compact_entries_asked: IntCounter,
    /// Posted blocks answered from the hash their sender named.
    pub blocks_known_unparsed: IntCounter,
    pub entries_accepted: IntCounterVec,
    pub entries_rejected: IntCounterVec,
    pub entries_evicted: IntCounter,
    pub entries_confirmed: IntCounter,
    pub entries_returned: IntCounter,
    pub http_requests: IntCounterVec,
    pub connections_refused: IntCounter,
    pub connections_evicted: IntCounter,
    pub bodies_refused: IntCounterVec,
    pub peer_failures: IntCounter,
    pub peers_dropped: IntCounter,
    pub address_exchanges: IntCounter,
    pub address_exchange_bytes: IntCounter,
    pub http_latency: HistogramVec,
    /// The most blocks one reorg took off the main chain since start.
    deepest_reorg: AtomicU64,
    state: StateGauges,
}

/// The gauges set from a `Scrape`.
struct StateGauges {
    tip_height: IntGauge,
    chain_work: Gauge,
    peers: IntGaugeVec,
    syncing: IntGauge,
    mining: IntGauge,
    hash_rate: Gauge,
    hashes: IntCounter,
    pool_entries: IntGauge,
    pool_bytes: IntGauge,
    uptime: Gauge,
    reorg_deepest: IntGauge,
    /// Only where they mean something (no labels: shown once set).
    hashes_per_block: GaugeVec,
    target_log2: GaugeVec,
    block_time_mean: GaugeVec,
    block_time_target: GaugeVec,
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

/// Registers each metric as it is made.
struct Maker<'a>(&'a Registry);

impl Maker<'_> {
    fn keep<M: prometheus::core::Collector + Clone + 'static>(&self, metric: M) -> M {
        self.0
            .register(Box::new(metric.clone()))
            .expect("metric names are distinct");
        metric
    }

    fn counter(&self, name: &str, help: &str) -> IntCounter {
        self.keep(IntCounter::new(name, help).expect("a valid name"))
    }

    fn counters(&self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        self.keep(IntCounterVec::new(Opts::new(name, help), labels).expect("a valid name"))
    }

    fn gauge(&self, name: &str, help: &str) -> Gauge {
        self.keep(Gauge::new(name, help).expect("a valid name"))
    }

    fn int_gauge(&self, name: &str, help: &str) -> IntGauge {
        self.keep(IntGauge::new(name, help).expect("a valid name"))
    }

    fn optional_gauge(&self, name: &str, help: &str) -> GaugeVec {
        self.keep(GaugeVec::new(Opts::new(name, help), &[]).expect("a valid name"))
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        let registry = Registry::new();
        let m = Maker(&registry);
        let state = StateGauges {
            tip_height: m.int_gauge("jbc_tip_height", "Index of the tip of the main chain."),
            chain_work: m.gauge(
                "jbc_chain_work",
                "Cumulative work of the main chain (approximate as a float).",
            ),
            peers: m.keep(
                IntGaugeVec::new(Opts::new("jbc_peers", "Peers by state."), &["state"])
                    .expect("a valid name"),
            ),
            syncing: m.int_gauge("jbc_syncing", "1 while a sync round runs."),
            mining: m.int_gauge("jbc_mining", "1 while the node mines."),
            hash_rate: m.gauge("jbc_hash_rate", "Hashes per second over the last second."),
            hashes: m.counter("jbc_hashes_total", "Hashes tried by this node's miner."),
            pool_entries: m.int_gauge("jbc_pool_entries", "Entries waiting for a block."),
            pool_bytes: m.int_gauge("jbc_pool_bytes", "Bytes of entries waiting for a block."),
            uptime: m.gauge("jbc_uptime_seconds", "Seconds since the node started."),
            reorg_deepest: m.int_gauge(
                "jbc_reorg_deepest_blocks",
                "The most blocks one reorg took off the main chain since the node started.",
            ),
            hashes_per_block: m.optional_gauge(
                "jbc_difficulty_hashes_per_block",
                "Hashes the next block takes on average (the work of its target).",
            ),
            target_log2: m.optional_gauge(
                "jbc_target_log2",
                "Log2 of the next block's target (256 minus its leading zero bits, roughly).",
            ),
            block_time_mean: m.optional_gauge(
                "jbc_block_time_mean_seconds",
                "Mean time between the last blocks of the main chain (up to 100).",
            ),
            block_time_target: m.optional_gauge(
                "jbc_block_time_target_seconds",
                "The network's target time between blocks.",
            ),
        };
        let metrics = Metrics {
            blocks_accepted: m.counters(
                "jbc_blocks_accepted_total",
                "Blocks accepted into the store, by where they came from.",
                &["source"],
            ),
            blocks_rejected: m.counters(
                "jbc_blocks_rejected_total",
                "Blocks refused, by reason.",
                &["reason"],
            ),
            reorgs: m.counter(
                "jbc_reorgs_total",
                "Tip changes that took blocks off the main chain.",
            ),
            reorg_depth: m.counter(
                "jbc_reorg_depth_blocks_total",
                "Blocks taken off the main chain by reorgs, summed.",
            ),
            sync_rounds: m.counter(
                "jbc_sync_rounds_total",
                "Sync rounds run (every few seconds, or on an unknown parent).",
            ),
            sync_blocks: m.counter(
                "jbc_sync_blocks_total",
                "Blocks fetched from peers by sync.",
            ),
            relayed_blocks: m.counters(
                "jbc_relayed_blocks_total",
                "Blocks sent to peers, by outcome.",
                &["outcome"],
            ),
            relayed_entries: m.counters(
                "jbc_relayed_entry_batches_total",
                "Batches of new entries sent to peers, by outcome.",
                &["outcome"],
            ),
            relay_sent_bytes: m.counters(
                "jbc_relay_sent_bytes_total",
                "Bytes sent to peers to spread blocks (POST /v1/blocks, /v1/blocks/compact and /mined bodies, tip announcements to listening nodes) and entries (POST /v1/entries bodies), by kind.",
                &["kind"],
            ),
            relay_sent: m.counters(
                "jbc_relay_sent_total",
                "Relay sends attempted, by kind: block (one per block per peer) or entries (one per POST /v1/entries).",
                &["kind"],
            ),
            compact_received: m.counters(
                "jbc_compact_blocks_received_total",
                "Compact blocks received (POST /v1/blocks/compact), by outcome: complete (every entry from the pool or sent along), missing (entries asked for), mismatch (the rebuilt entries missed the root: the whole block asked for), mostly_missing (more than half lacking: the whole block asked for), known, parent_unknown.",
                &["outcome"],
            ),
            compact_entries_asked: m.counter(
                "jbc_compact_entries_asked_total",
                "Entries of compact blocks this node lacked and asked the sender for.",
            ),
            blocks_known_unparsed: m.counter(
                "jbc_blocks_known_unparsed_total",
                "Blocks posted (POST /v1/blocks or /v1/blocks/compact) whose sender named them in x-jbc-block and that this node already held: answered already_known without parsing the body.",
            ),
            entries_accepted: m.counters(
                "jbc_entries_accepted_total",
                "New entries put in the pool, by where they came from.",
                &["source"],
            ),
            entries_rejected: m.counters(
                "jbc_entries_rejected_total",
                "Entries refused, by reason.",
                &["reason"],
            ),
            entries_evicted: m.counter(
                "jbc_entries_evicted_total",
                "Pending entries evicted because the pool was full (the largest source's first).",
            ),
            entries_confirmed: m.counter(
                "jbc_entries_confirmed_total",
                "Entries that left the pool because a main-chain block carries them.",
            ),
            entries_returned: m.counter(
                "jbc_entries_returned_total",
                "Entries put back in the pool because a reorg took their block away.",
            ),
            http_requests: m.counters(
                "jbc_http_requests_total",
                "HTTP requests served, by route and status.",
                &["route", "status"],
            ),
            connections_refused: m.counter(
                "jbc_connections_refused_total",
                "Connections closed at once: too many open, or from one source group.",
            ),
            connections_evicted: m.counter(
                "jbc_connections_evicted_total",
                "Connections closed to make room for a newcomer from a smaller source group.",
            ),
            bodies_refused: m.counters(
                "jbc_bodies_refused_total",
                "Request bodies refused: too slow, or past the budget of bytes in flight.",
                &["reason"],
            ),
            peer_failures: m.counter(
                "jbc_peer_failures_total",
                "Syncs with a peer that failed (it is then backed off).",
            ),
            peers_dropped: m.counter(
                "jbc_peers_dropped_total",
                "Peers dropped for a while: invalid blocks, or too many failures.",
            ),
            address_exchanges: m.counter(
                "jbc_address_exchanges_total",
                "Address lists read from peers (GET /v1/addresses).",
            ),
            address_exchange_bytes: m.counter(
                "jbc_address_exchange_bytes_total",
                "Bytes of address lists read from peers.",
            ),
            http_latency: m.keep(
                HistogramVec::new(
                    HistogramOpts::new(
                        "jbc_http_request_duration_seconds",
                        "HTTP request latency, by route.",
                    )
                    .buckets(LATENCY_BUCKETS.to_vec()),
                    &["route"],
                )
                .expect("a valid name"),
            ),
            deepest_reorg: AtomicU64::new(0),
            state,
            registry,
        };
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
        let state = &self.state;
        state.tip_height.set(now.tip.index.0 as i64);
        state.chain_work.set(now.tip.chain_work.as_f64());
        for (label, count) in [("up", now.peers_up), ("down", now.peers_down)] {
            state.peers.with_label_values(&[label]).set(count as i64);
        }
        state.syncing.set(now.syncing.into());
        state.mining.set(now.mining.into());
        state.hash_rate.set(now.hash_rate);
        // A counter follows the miner's own count: add what is new.
        state
            .hashes
            .inc_by(now.hashes.saturating_sub(state.hashes.get()));
        state.pool_entries.set(now.pool.entries as i64);
        state.pool_bytes.set(now.pool.bytes as i64);
        state.uptime.set(now.uptime_seconds);
        state
            .reorg_deepest
            .set(self.deepest_reorg.load(Ordering::Relaxed) as i64);
        if let Some(pace) = &now.difficulty {
            let set =
                |gauge: &GaugeVec, value: f64| gauge.with_label_values::<&str>(&[]).set(value);
            set(&state.hashes_per_block, pace.hashes_per_block);
            set(&state.target_log2, target_log2(&pace.target));
            if let Some(mean) = pace.mean_block_time_ms {
                set(&state.block_time_mean, mean / 1000.0);
            }
            if let Some(wanted) = pace.block_time_ms {
                set(&state.block_time_target, wanted as f64 / 1000.0);
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
