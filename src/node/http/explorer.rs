//! What people watching the node see: the explorer page (plain HTML, CSS
//! and JS compiled in), the live event stream, the block tree and
//! `/metrics`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::consensus::Height;
use crate::store::{BlockReads, Reorg};
use crate::wire::BlockText;

use super::super::events::NodeEvent;
use super::super::handles::Node;
use super::super::metrics::{Metrics, Scrape};
use super::super::net::client::NODE_ID_HEADER;
use super::super::protocol::{PacePoint, PaceReply, TreeBlock, TreeReply};
use super::super::status;
use super::api::{ApiError, ApiResult, QueryMap, json, number_param, query_map};

/// The most heights `/v1/tree` draws.
const MAX_TREE_DEPTH: u64 = 200;

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(node): State<Arc<Node>>) -> Response {
    let (peers_up, peers_down) = node.net.peers.count_up();
    let mining = node.mining.info();
    let scrape = Scrape {
        tip: node.chain.tip(),
        peers_up,
        peers_down,
        syncing: node.net.is_syncing(),
        mining: mining.enabled,
        hash_rate: mining.hash_rate,
        hashes: mining.hashes,
        pool: node.chain.pool(),
        uptime_seconds: node.started.elapsed().as_secs_f64(),
        difficulty: status::difficulty(&node),
    };
    let text = node.metrics.render(&scrape);
    let content_type = "text/plain; version=0.0.4; charset=utf-8";
    ([(header::CONTENT_TYPE, content_type)], text).into_response()
}

/// Most blocks `/v1/pace` describes.
const MAX_PACE_BLOCKS: u64 = 1000;

/// `GET /v1/pace?blocks=N`: when the latest blocks came and how hard each
/// was, for the explorer's chart (default 300 blocks).
pub async fn pace(State(node): State<Arc<Node>>, query: QueryMap) -> ApiResult {
    let pairs = query_map(query)?;
    let count = number_param(&pairs, "blocks")?
        .unwrap_or(300)
        .clamp(1, MAX_PACE_BLOCKS);
    let tip = node.chain.tip();
    // One block more than shown: the first interval needs it.
    let from = Height(tip.index.0.saturating_sub(count));
    let times = node
        .chain
        .read(move |r| r.main_chain_times(from, tip.index))
        .await?;
    let network = node.chain.params();
    let unit = network.timestamp_unit_ms() as f64;
    let genesis_target = network.difficulty().genesis_target();
    let mut points = Vec::with_capacity(times.len());
    let mut previous: Option<f64> = None;
    for time in &times {
        let time_ms = time.timestamp.0 as f64 * unit;
        points.push(PacePoint {
            index: time.index,
            time_ms,
            interval_ms: previous.map(|p| time_ms - p),
            hashes_per_block: time.target.unwrap_or(genesis_target).work().as_f64(),
        });
        previous = Some(time_ms);
    }
    if points.len() as u64 > count {
        points.remove(0);
    }
    let reply = PaceReply {
        difficulty: status::difficulty(&node),
        points,
    };
    Ok(json(StatusCode::OK, &reply))
}

/// `GET /v1/events[?only=TYPE,...]`: server-sent events, one JSON object
/// per event (new blocks, tip moves and reorgs, peers, mining, the pool),
/// or only those of the types named (peers listen with `only=tip`, and
/// get the current tip first). A listener too slow to keep up gets a
/// `lagged` event and carries on.
pub async fn events(
    State(node): State<Arc<Node>>,
    headers: axum::http::HeaderMap,
    query: QueryMap,
) -> ApiResult {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use tokio::sync::broadcast::error::RecvError;
    let pairs = query_map(query)?;
    let kind = |name: &str| {
        NodeEvent::KINDS
            .into_iter()
            .find(|kind| *kind == name)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "query parameter only lists event types ({}), not {:?}",
                    NodeEvent::KINDS.join(", "),
                    &name[..name.len().min(40)]
                ))
            })
    };
    let only: Option<Vec<&'static str>> = pairs
        .get("only")
        .map(|list| list.split(',').map(kind).collect())
        .transpose()?;
    // A node listening to our tips: what it is sent is part of what
    // spreading blocks costs (`jbc_relay_sent_bytes_total{kind="block"}`).
    let relay = headers
        .contains_key(NODE_ID_HEADER)
        .then(|| Arc::clone(&node.metrics));
    let receiver = node.events.subscribe();
    // A listener that asks for tips starts with the tip as it is: what it
    // missed while not listening.
    let first = only
        .as_ref()
        .is_some_and(|only| only.contains(&"tip"))
        .then(|| {
            let tip = node.chain.tip();
            let reorg = Reorg {
                fork_index: tip.index,
                disconnected: 0,
                connected: 0,
            };
            let event = NodeEvent::Tip { tip, reorg };
            Ok::<_, std::convert::Infallible>(sse_event(&event, relay.as_deref()))
        });
    let shutdown = node.shutdown.watch();
    let stream = futures_util::stream::unfold(
        (receiver, shutdown, only, relay),
        |(mut receiver, mut shutdown, only, relay)| async move {
            let event = loop {
                tokio::select! {
                    received = receiver.recv() => match received {
                        Ok(event) if only.as_ref().is_some_and(|only| !only.contains(&event.kind())) => {}
                        Ok(event) => break sse_event(&event, relay.as_deref()),
                        Err(RecvError::Lagged(missed)) => break Event::default().event("lagged").data(missed.to_string()),
                        Err(RecvError::Closed) => return None,
                    },
                    _ = shutdown.wait_for(|stop| *stop) => return None,
                }
            };
            Some((
                Ok::<_, std::convert::Infallible>(event),
                (receiver, shutdown, only, relay),
            ))
        },
    );
    let stream = futures_util::StreamExt::chain(futures_util::stream::iter(first), stream);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// The event as sent. A tip event sent to a listening node (`relay`) is
/// counted as bytes spent spreading blocks, as framed: "data: ", the JSON,
/// a blank line.
fn sse_event(event: &NodeEvent, relay: Option<&Metrics>) -> axum::response::sse::Event {
    if let (Some(metrics), NodeEvent::Tip { .. }) = (relay, event) {
        let json = serde_json::to_vec(event).map_or(0, |json| json.len() as u64);
        metrics
            .relay_sent_bytes
            .with_label_values(&["block"])
            .inc_by(json + 8);
    }
    axum::response::sse::Event::default()
        .json_data(event)
        .expect("an event serializes into JSON")
}

/// `GET /v1/tree?depth=N`: every stored block (main chain and side
/// branches) in the last N heights, for drawing forks.
pub async fn tree(State(node): State<Arc<Node>>, query: QueryMap) -> ApiResult {
    let pairs = query_map(query)?;
    let depth = number_param(&pairs, "depth")?
        .unwrap_or(30)
        .clamp(1, MAX_TREE_DEPTH);
    let tip = node.chain.tip();
    let from = Height(tip.index.0.saturating_sub(depth - 1));
    let entries = node.chain.read(move |r| r.tree(from, tip.index)).await?;
    let reply = TreeReply {
        tip,
        blocks: entries
            .iter()
            .map(|entry| TreeBlock {
                block: BlockText::from_block(&entry.block),
                main_chain: entry.on_main_chain,
            })
            .collect(),
    };
    Ok(json(StatusCode::OK, &reply))
}

/// The explorer: one page, its script and its style, compiled in.
pub async fn page() -> Response {
    asset("text/html", include_str!("explorer/index.html"))
}

pub async fn script() -> Response {
    asset("text/javascript", include_str!("explorer/app.js"))
}

/// The receipt verifier the `#/verify` page runs (docs/RECEIPTS.md).
pub async fn receipt_script() -> Response {
    asset("text/javascript", include_str!("explorer/receipt.js"))
}

pub async fn style() -> Response {
    asset("text/css", include_str!("explorer/style.css"))
}

/// A compiled-in file of `media_type`, in UTF-8.
fn asset(media_type: &str, body: &'static str) -> Response {
    let content_type = format!("{media_type}; charset=utf-8");
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}
