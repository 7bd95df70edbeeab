//! What `GET /metrics` reports, in the Prometheus text format (0.0.4).
//!
//! Every metric family is a named field of `Metrics`, declared once with
//! its name, help and label names, so a call site cannot misspell a metric
//! into a new one: `metrics.blocks_accepted.inc(["mined"])`. Values that
//! mirror the node's state (tip height, peers up, hash rate) are not kept
//! here; the `/metrics` handler reads them at scrape time as `Gauge`s.
//!
//! Why not the `prometheus-client` crate: it writes only the OpenMetrics
//! format (its own content type, `# EOF`, counter names rewritten with
//! `_total`), which would change what this node has always served to
//! scrapers and `curl`; the typed fields here give the same protection
//! against typos in a hundred lines.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, MutexGuard};

/// Upper bounds (seconds) of the HTTP latency histogram buckets.
const LATENCY_BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

/// A counter family with `N` labels.
pub struct Counter<const N: usize> {
    name: &'static str,
    help: &'static str,
    labels: [&'static str; N],
    values: Mutex<BTreeMap<[String; N], f64>>,
}

impl<const N: usize> Counter<N> {
    const fn new(name: &'static str, help: &'static str, labels: [&'static str; N]) -> Self {
        Counter {
            name,
            help,
            labels,
            values: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn inc(&self, values: [&str; N]) {
        self.add(values, 1.0);
    }

    pub fn add(&self, values: [&str; N], by: f64) {
        *lock(&self.values)
            .entry(values.map(str::to_owned))
            .or_default() += by;
    }

    fn render(&self, out: &mut String) {
        header(out, self.name, self.help, "counter");
        let values = lock(&self.values);
        if N == 0 && values.is_empty() {
            let _ = writeln!(out, "{} 0", self.name);
        }
        for (labels, value) in values.iter() {
            let _ = writeln!(
                out,
                "{}{} {}",
                self.name,
                label_text(&self.labels, labels, None),
                number(*value)
            );
        }
    }
}

#[derive(Default)]
struct Buckets {
    counts: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// A latency histogram family with `N` labels.
pub struct Histogram<const N: usize> {
    name: &'static str,
    help: &'static str,
    labels: [&'static str; N],
    values: Mutex<BTreeMap<[String; N], Buckets>>,
}

impl<const N: usize> Histogram<N> {
    const fn new(name: &'static str, help: &'static str, labels: [&'static str; N]) -> Self {
        Histogram {
            name,
            help,
            labels,
            values: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn observe(&self, values: [&str; N], seconds: f64) {
        let mut all = lock(&self.values);
        let h = all.entry(values.map(str::to_owned)).or_default();
        for (count, bound) in h.counts.iter_mut().zip(LATENCY_BUCKETS) {
            if seconds <= bound {
                *count += 1;
            }
        }
        h.count += 1;
        h.sum += seconds;
    }

    fn render(&self, out: &mut String) {
        header(out, self.name, self.help, "histogram");
        let name = self.name;
        for (labels, h) in lock(&self.values).iter() {
            for (count, bound) in h.counts.iter().zip(LATENCY_BUCKETS) {
                let le = bound.to_string();
                let labels = label_text(&self.labels, labels, Some(&le));
                let _ = writeln!(out, "{name}_bucket{labels} {count}");
            }
            let inf = label_text(&self.labels, labels, Some("+Inf"));
            let plain = label_text(&self.labels, labels, None);
            let _ = writeln!(out, "{name}_bucket{inf} {}", h.count);
            let _ = writeln!(out, "{name}_sum{plain} {}", number(h.sum));
            let _ = writeln!(out, "{name}_count{plain} {}", h.count);
        }
    }
}

/// The node's counters and histograms.
pub struct Metrics {
    pub blocks_accepted: Counter<1>,
    pub blocks_rejected: Counter<1>,
    pub reorgs: Counter<0>,
    pub reorg_depth: Counter<0>,
    pub sync_rounds: Counter<0>,
    pub sync_blocks: Counter<0>,
    pub relayed_blocks: Counter<1>,
    pub relayed_entries: Counter<1>,
    pub entries_accepted: Counter<1>,
    pub entries_rejected: Counter<1>,
    pub entries_evicted: Counter<0>,
    pub entries_confirmed: Counter<0>,
    pub entries_returned: Counter<0>,
    pub http_requests: Counter<2>,
    pub connections_refused: Counter<0>,
    pub connections_evicted: Counter<0>,
    pub bodies_refused: Counter<1>,
    pub peer_failures: Counter<0>,
    pub peers_dropped: Counter<0>,
    pub address_exchanges: Counter<0>,
    pub address_exchange_bytes: Counter<0>,
    pub http_latency: Histogram<1>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            blocks_accepted: Counter::new(
                "jbc_blocks_accepted_total",
                "Blocks accepted into the store, by where they came from.",
                ["source"],
            ),
            blocks_rejected: Counter::new(
                "jbc_blocks_rejected_total",
                "Blocks refused, by reason.",
                ["reason"],
            ),
            reorgs: Counter::new(
                "jbc_reorgs_total",
                "Tip changes that took blocks off the main chain.",
                [],
            ),
            reorg_depth: Counter::new(
                "jbc_reorg_depth_blocks_total",
                "Blocks taken off the main chain by reorgs, summed.",
                [],
            ),
            sync_rounds: Counter::new(
                "jbc_sync_rounds_total",
                "Sync rounds run (every few seconds, or on an unknown parent).",
                [],
            ),
            sync_blocks: Counter::new(
                "jbc_sync_blocks_total",
                "Blocks fetched from peers by sync.",
                [],
            ),
            relayed_blocks: Counter::new(
                "jbc_relayed_blocks_total",
                "Blocks sent to peers, by outcome.",
                ["outcome"],
            ),
            relayed_entries: Counter::new(
                "jbc_relayed_entry_batches_total",
                "Batches of new entries sent to peers, by outcome.",
                ["outcome"],
            ),
            entries_accepted: Counter::new(
                "jbc_entries_accepted_total",
                "New entries put in the pool, by where they came from.",
                ["source"],
            ),
            entries_rejected: Counter::new(
                "jbc_entries_rejected_total",
                "Entries refused, by reason.",
                ["reason"],
            ),
            entries_evicted: Counter::new(
                "jbc_entries_evicted_total",
                "Pending entries evicted, oldest first, because the pool was full.",
                [],
            ),
            entries_confirmed: Counter::new(
                "jbc_entries_confirmed_total",
                "Entries that left the pool because a main-chain block carries them.",
                [],
            ),
            entries_returned: Counter::new(
                "jbc_entries_returned_total",
                "Entries put back in the pool because a reorg took their block away.",
                [],
            ),
            http_requests: Counter::new(
                "jbc_http_requests_total",
                "HTTP requests served, by route and status.",
                ["route", "status"],
            ),
            connections_refused: Counter::new(
                "jbc_connections_refused_total",
                "Connections closed at once: too many open, or from one source group.",
                [],
            ),
            connections_evicted: Counter::new(
                "jbc_connections_evicted_total",
                "Connections closed to make room for a newcomer from a smaller source group.",
                [],
            ),
            bodies_refused: Counter::new(
                "jbc_bodies_refused_total",
                "Request bodies refused: too slow, or past the budget of bytes in flight.",
                ["reason"],
            ),
            peer_failures: Counter::new(
                "jbc_peer_failures_total",
                "Syncs with a peer that failed (it is then backed off).",
                [],
            ),
            peers_dropped: Counter::new(
                "jbc_peers_dropped_total",
                "Peers dropped for a while: invalid blocks, or too many failures.",
                [],
            ),
            address_exchanges: Counter::new(
                "jbc_address_exchanges_total",
                "Address lists read from peers (GET /v1/addresses).",
                [],
            ),
            address_exchange_bytes: Counter::new(
                "jbc_address_exchange_bytes_total",
                "Bytes of address lists read from peers.",
                [],
            ),
            http_latency: Histogram::new(
                "jbc_http_request_duration_seconds",
                "HTTP request latency, by route.",
                ["route"],
            ),
        }
    }
}

/// A value read from the node's state at scrape time (a gauge, or a
/// counter kept elsewhere, such as the miner's hash count).
pub struct Gauge {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: &'static str,
    pub label: Option<(&'static str, &'static str)>,
    pub value: f64,
}

impl Gauge {
    pub fn new(name: &'static str, help: &'static str, value: f64) -> Gauge {
        Gauge {
            name,
            help,
            kind: "gauge",
            label: None,
            value,
        }
    }

    pub fn counter(name: &'static str, help: &'static str, value: f64) -> Gauge {
        Gauge {
            kind: "counter",
            ..Gauge::new(name, help, value)
        }
    }

    pub fn with_label(mut self, name: &'static str, value: &'static str) -> Gauge {
        self.label = Some((name, value));
        self
    }
}

impl Metrics {
    /// The text exposition: the counters and histograms, then `gauges`
    /// read from the node's state.
    pub fn render(&self, gauges: &[Gauge]) -> String {
        let mut out = String::new();
        for counter in [
            &self.blocks_accepted,
            &self.blocks_rejected,
            &self.relayed_blocks,
            &self.relayed_entries,
            &self.entries_accepted,
            &self.entries_rejected,
            &self.bodies_refused,
        ] {
            counter.render(&mut out);
        }
        for counter in [
            &self.reorgs,
            &self.reorg_depth,
            &self.sync_rounds,
            &self.sync_blocks,
            &self.entries_evicted,
            &self.entries_confirmed,
            &self.entries_returned,
            &self.connections_refused,
            &self.connections_evicted,
            &self.peer_failures,
            &self.peers_dropped,
            &self.address_exchanges,
            &self.address_exchange_bytes,
        ] {
            counter.render(&mut out);
        }
        self.http_requests.render(&mut out);
        self.http_latency.render(&mut out);
        let mut last_family = "";
        for gauge in gauges {
            if gauge.name != last_family {
                header(&mut out, gauge.name, gauge.help, gauge.kind);
                last_family = gauge.name;
            }
            let labels = match gauge.label {
                Some((name, value)) => label_text(&[name], &[value.to_owned()], None),
                None => String::new(),
            };
            let _ = writeln!(out, "{}{labels} {}", gauge.name, number(gauge.value));
        }
        out
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A counter left half-updated by a panic elsewhere is still a number.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

fn label_text(names: &[&str], values: &[String], le: Option<&str>) -> String {
    let mut parts: Vec<String> = names
        .iter()
        .zip(values)
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() {
        return String::new();
    }
    format!("{{{}}}", parts.join(","))
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let m = Metrics::default();
        m.blocks_accepted.inc(["mined"]);
        m.blocks_accepted.inc(["mined"]);
        m.blocks_rejected.inc(["say \"no\""]);
        m.http_latency.observe(["/"], 0.003);
        let text = m.render(&[Gauge::new("jbc_tip_height", "Height of the tip.", 7.0)]);
        assert!(
            text.contains("jbc_blocks_accepted_total{source=\"mined\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("reason=\"say \\\"no\\\"\""), "{text}");
        assert!(
            text.contains(
                "jbc_http_request_duration_seconds_bucket{route=\"/\",le=\"0.0025\"} 0\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("jbc_http_request_duration_seconds_bucket{route=\"/\",le=\"0.005\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE jbc_tip_height gauge\njbc_tip_height 7\n"),
            "{text}"
        );
        assert!(text.contains("\njbc_reorgs_total 0\n"), "{text}");
    }
}
