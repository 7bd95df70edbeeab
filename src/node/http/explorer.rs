//! What people watching the node see: the explorer page (plain HTML, CSS
//! and JS compiled in), the live event stream, the block tree and
//! `/metrics`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::consensus::Height;
use crate::store::BlockReads;
use crate::wire::BlockText;

use super::super::metrics::Gauge;
use super::super::protocol::{PacePoint, PaceReply, TreeBlock, TreeReply};
use super::super::state::Shared;
use super::{ApiResult, QueryMap, json, number_param, query_map};

/// The most heights `/v1/tree` draws.
const MAX_TREE_DEPTH: u64 = 200;

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let tip = shared.tip();
    let (up, down) = shared.peers().count_up();
    let mining = shared.mining();
    let hashes: u64 = mining.per_thread().iter().sum();
    let flag = |on: bool| f64::from(u8::from(on));
    let mut gauges = vec![
        Gauge::new(
            "jbc_tip_height",
            "Index of the tip of the main chain.",
            tip.index.0 as f64,
        ),
        Gauge::new(
            "jbc_chain_work",
            "Cumulative work of the main chain (approximate as a float).",
            tip.chain_work.as_f64(),
        ),
        Gauge::new("jbc_peers", "Peers by state.", up as f64).with_label("state", "up"),
        Gauge::new("jbc_peers", "Peers by state.", down as f64).with_label("state", "down"),
        Gauge::new(
            "jbc_syncing",
            "1 while a sync round runs.",
            flag(shared.is_syncing()),
        ),
        Gauge::new(
            "jbc_mining",
            "1 while the node mines.",
            flag(mining.is_enabled()),
        ),
        Gauge::new(
            "jbc_hash_rate",
            "Hashes per second over the last second.",
            mining.rate(),
        ),
        Gauge::counter(
            "jbc_hashes_total",
            "Hashes tried by this node's miner.",
            hashes as f64,
        ),
        Gauge::new(
            "jbc_pool_entries",
            "Entries waiting for a block.",
            shared.pool().entries as f64,
        ),
        Gauge::new(
            "jbc_pool_bytes",
            "Bytes of entries waiting for a block.",
            shared.pool().bytes as f64,
        ),
        Gauge::new(
            "jbc_uptime_seconds",
            "Seconds since the node started.",
            shared.uptime().as_secs_f64(),
        ),
    ];
    gauges.push(Gauge::new(
        "jbc_reorg_deepest_blocks",
        "The most blocks one reorg took off the main chain since the node started.",
        shared.deepest_reorg() as f64,
    ));
    if let Some(pace) = shared.difficulty_info() {
        gauges.push(Gauge::new(
            "jbc_difficulty_hashes_per_block",
            "Hashes the next block takes on average (the work of its target).",
            pace.hashes_per_block,
        ));
        gauges.push(Gauge::new(
            "jbc_target_log2",
            "Log2 of the next block's target (256 minus its leading zero bits, roughly).",
            target_log2(&pace.target),
        ));
        if let Some(mean) = pace.mean_block_time_ms {
            gauges.push(Gauge::new(
                "jbc_block_time_mean_seconds",
                "Mean time between the last blocks of the main chain (up to 100).",
                mean / 1000.0,
            ));
        }
        if let Some(wanted) = pace.block_time_ms {
            gauges.push(Gauge::new(
                "jbc_block_time_target_seconds",
                "The network's target time between blocks.",
                wanted as f64 / 1000.0,
            ));
        }
    }
    let text = shared.metrics().render(&gauges);
    let content_type = "text/plain; version=0.0.4; charset=utf-8";
    ([(header::CONTENT_TYPE, content_type)], text).into_response()
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

/// Most blocks `/v1/pace` describes.
const MAX_PACE_BLOCKS: u64 = 1000;

/// `GET /v1/pace?blocks=N`: when the latest blocks came and how hard each
/// was, for the explorer's chart (default 300 blocks).
pub async fn pace(State(shared): State<Arc<Shared>>, query: QueryMap) -> ApiResult {
    let pairs = query_map(query)?;
    let count = number_param(&pairs, "blocks")?
        .unwrap_or(300)
        .clamp(1, MAX_PACE_BLOCKS);
    let tip = shared.tip();
    // One block more than shown: the first interval needs it.
    let from = Height(tip.index.0.saturating_sub(count));
    let times = shared
        .read(move |r| r.main_chain_times(from, tip.index))
        .await?;
    let network = shared.params();
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
        difficulty: shared.difficulty_info(),
        points,
    };
    Ok(json(StatusCode::OK, &reply))
}

/// `GET /v1/events`: server-sent events, one JSON object per event (new
/// blocks, tip moves and reorgs, peers, mining). A listener too slow to
/// keep up gets a `lagged` event and carries on.
pub async fn events(State(shared): State<Arc<Shared>>) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use tokio::sync::broadcast::error::RecvError;
    let receiver = shared.events().subscribe();
    let shutdown = shared.watch_shutdown();
    let stream = futures_util::stream::unfold(
        (receiver, shutdown),
        |(mut receiver, mut shutdown)| async move {
            let event = tokio::select! {
                received = receiver.recv() => match received {
                    Ok(event) => Event::default()
                        .json_data(&event)
                        .expect("an event serializes into JSON"),
                    Err(RecvError::Lagged(missed)) => Event::default().event("lagged").data(missed.to_string()),
                    Err(RecvError::Closed) => return None,
                },
                _ = shutdown.wait_for(|stop| *stop) => return None,
            };
            Some((
                Ok::<_, std::convert::Infallible>(event),
                (receiver, shutdown),
            ))
        },
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// `GET /v1/tree?depth=N`: every stored block (main chain and side
/// branches) in the last N heights, for drawing forks.
pub async fn tree(State(shared): State<Arc<Shared>>, query: QueryMap) -> ApiResult {
    let pairs = query_map(query)?;
    let depth = number_param(&pairs, "depth")?
        .unwrap_or(30)
        .clamp(1, MAX_TREE_DEPTH);
    let tip = shared.tip();
    let from = Height(tip.index.0.saturating_sub(depth - 1));
    let entries = shared.read(move |r| r.tree(from, tip.index)).await?;
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
    asset(
        "text/html; charset=utf-8",
        include_str!("explorer/index.html"),
    )
}

pub async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("explorer/app.js"),
    )
}

pub async fn style() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("explorer/style.css"),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}
