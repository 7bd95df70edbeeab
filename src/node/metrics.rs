//! Counters and histograms for `GET /metrics`, in the Prometheus text
//! format (version 0.0.4). Gauges that mirror state (tip height, peers up,
//! hash rate) are not stored here; `render` asks for them at scrape time.
//!
//! Deliberately tiny: a map from (name, labels) to a number under one
//! short lock, no client library.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Upper bounds (seconds) of the HTTP latency histogram buckets.
const LATENCY_BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

type Key = (&'static str, Vec<(&'static str, String)>);

#[derive(Default)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// A value read from the node's state at scrape time (a gauge, or a
/// counter kept elsewhere, such as the miner's hash count).
pub struct Gauge {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: &'static str,
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

impl Gauge {
    pub fn new(name: &'static str, help: &'static str, value: f64) -> Gauge {
        Gauge {
            name,
            help,
            kind: "gauge",
            labels: Vec::new(),
            value,
        }
    }

    pub fn counter(name: &'static str, help: &'static str, value: f64) -> Gauge {
        Gauge {
            kind: "counter",
            ..Gauge::new(name, help, value)
        }
    }

    pub fn with_label(mut self, name: &'static str, value: impl Into<String>) -> Gauge {
        self.labels.push((name, value.into()));
        self
    }
}

#[derive(Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<Key, f64>>,
    histograms: Mutex<BTreeMap<Key, Histogram>>,
}

/// Help text for each metric family this node exports.
fn help(name: &str) -> &'static str {
    match name {
        "jbc_blocks_accepted_total" => "Blocks accepted into the store, by where they came from.",
        "jbc_blocks_rejected_total" => "Blocks refused, by reason.",
        "jbc_reorgs_total" => "Tip changes that took blocks off the main chain.",
        "jbc_reorg_depth_blocks_total" => "Blocks taken off the main chain by reorgs, summed.",
        "jbc_sync_rounds_total" => "Sync rounds run (every few seconds, or on an unknown parent).",
        "jbc_sync_blocks_total" => "Blocks fetched from peers by sync.",
        "jbc_relayed_blocks_total" => "Blocks sent to peers, by outcome.",
        "jbc_http_requests_total" => "HTTP requests served, by route and status.",
        "jbc_http_request_duration_seconds" => "HTTP request latency, by route.",
        _ => "",
    }
}

impl Metrics {
    fn counters(&self) -> std::sync::MutexGuard<'_, BTreeMap<Key, f64>> {
        self.counters.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn inc(&self, name: &'static str, labels: &[(&'static str, &str)]) {
        self.add(name, labels, 1.0);
    }

    pub fn add(&self, name: &'static str, labels: &[(&'static str, &str)], by: f64) {
        let key = (
            name,
            labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
        );
        *self.counters().entry(key).or_default() += by;
    }

    pub fn observe_latency(
        &self,
        name: &'static str,
        labels: &[(&'static str, &str)],
        seconds: f64,
    ) {
        let key = (
            name,
            labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
        );
        let mut histograms = self.histograms.lock().unwrap_or_else(|p| p.into_inner());
        let h = histograms.entry(key).or_default();
        for (bucket, bound) in h.buckets.iter_mut().zip(LATENCY_BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        h.count += 1;
        h.sum += seconds;
    }

    /// The text exposition: stored counters and histograms, then `gauges`
    /// read from the node's state.
    pub fn render(&self, gauges: &[Gauge]) -> String {
        let mut out = String::new();
        let mut last_family = "";
        for ((name, labels), value) in self.counters().iter() {
            if *name != last_family {
                let _ = writeln!(out, "# HELP {name} {}\n# TYPE {name} counter", help(name));
                last_family = name;
            }
            let _ = writeln!(out, "{name}{} {}", label_text(labels, None), number(*value));
        }
        let histograms = self.histograms.lock().unwrap_or_else(|p| p.into_inner());
        last_family = "";
        for ((name, labels), h) in histograms.iter() {
            if *name != last_family {
                let _ = writeln!(out, "# HELP {name} {}\n# TYPE {name} histogram", help(name));
                last_family = name;
            }
            for (count, bound) in h.buckets.iter().zip(LATENCY_BUCKETS) {
                let le = bound.to_string();
                let _ = writeln!(
                    out,
                    "{name}_bucket{} {count}",
                    label_text(labels, Some(&le))
                );
            }
            let _ = writeln!(
                out,
                "{name}_bucket{} {}",
                label_text(labels, Some("+Inf")),
                h.count
            );
            let _ = writeln!(
                out,
                "{name}_sum{} {}",
                label_text(labels, None),
                number(h.sum)
            );
            let _ = writeln!(out, "{name}_count{} {}", label_text(labels, None), h.count);
        }
        let mut last_gauge = "";
        for gauge in gauges {
            let name = gauge.name;
            if name != last_gauge {
                let _ = writeln!(
                    out,
                    "# HELP {name} {}\n# TYPE {name} {}",
                    gauge.help, gauge.kind
                );
                last_gauge = name;
            }
            let _ = writeln!(
                out,
                "{name}{} {}",
                label_text(&gauge.labels, None),
                number(gauge.value)
            );
        }
        out
    }
}

fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

fn label_text(labels: &[(&'static str, String)], le: Option<&str>) -> String {
    if labels.is_empty() && le.is_none() {
        return String::new();
    }
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
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
        m.inc("jbc_blocks_accepted_total", &[("source", "mined")]);
        m.inc("jbc_blocks_accepted_total", &[("source", "mined")]);
        m.inc("jbc_blocks_rejected_total", &[("reason", "say \"no\"")]);
        m.observe_latency(
            "jbc_http_request_duration_seconds",
            &[("route", "/")],
            0.003,
        );
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
    }
}
