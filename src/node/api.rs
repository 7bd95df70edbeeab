//! The HTTP API: the original's two routes (`/blockchain.json`, `/mined`)
//! and ours under `/v1`. Thin: each handler turns a request into a call on
//! `Shared` or a store read and the result into JSON. Every body is capped,
//! every bad input gets a 4xx with `{"error": "..."}`, and nothing here can
//! panic on input. `docs/API.md` documents each route with an example.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::chain::{Accepted, AddError, BatchOutcome};
use crate::consensus::{BlockHash, Height};
use crate::store::{BlockReads, Durability, RawBlock, StoreError};
use crate::wire;

use super::client::NODE_ID_HEADER;
use super::protocol::{MAX_BLOCKS_PER_REPLY, MAX_LOCATOR, REPLY_BYTE_BUDGET, TipDto};
use super::state::{NodeError, Shared, Source};

/// A block is a few hundred bytes; 1 MiB leaves room for generous `data`.
pub const MAX_BODY: usize = 1024 * 1024;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/blockchain.json", get(blockchain_json))
        .route("/mined", post(mined))
        .route("/v1/status", get(status))
        .route("/v1/blocks", get(blocks_range).post(post_block))
        .route("/v1/blocks/{hash}", get(block_by_hash))
        .route("/v1/sync", get(sync))
        .route("/v1/peers", get(peers).post(add_peer))
        .route("/v1/mining", post(set_mining))
        .route("/v1/events", get(events))
        .route("/v1/tree", get(tree))
        .route("/", get(explorer_page))
        .route("/explorer/app.js", get(explorer_js))
        .route("/explorer/style.css", get(explorer_css))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(Arc::clone(&shared), track))
        .with_state(shared)
}

/// An error answer: a status and `{"error": message}` (plus extra fields).
pub struct ApiError {
    status: StatusCode,
    body: Value,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl std::fmt::Display) -> ApiError {
        ApiError {
            status,
            body: json!({ "error": message.to_string() }),
        }
    }

    fn bad_request(message: impl std::fmt::Display) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> ApiError {
        let status = match e {
            NodeError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e)
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> ApiError {
        let status = rejection.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            format!("the body is larger than the {MAX_BODY}-byte limit")
        } else {
            rejection.body_text()
        };
        ApiError::new(status, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

type ApiResult = Result<Response, ApiError>;

fn json_response(status: StatusCode, value: Value) -> Response {
    (status, axum::Json(value)).into_response()
}

/// Counts requests by route and status, and their latency.
async fn track(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    shared.metrics.inc(
        "jbc_http_requests_total",
        &[("route", route.as_str()), ("status", status.as_str())],
    );
    shared.metrics.observe_latency(
        "jbc_http_request_duration_seconds",
        &[("route", route.as_str())],
        started.elapsed().as_secs_f64(),
    );
    response
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such route; see docs/API.md")
}

/// `GET /blockchain.json`: the whole main chain, genesis first, in the
/// original's form. From the cache (`chain_json`) when the chain is small
/// enough; otherwise streamed from one consistent read of the store, so a
/// long chain never sits in memory whole.
async fn blockchain_json(State(shared): State<Arc<Shared>>) -> ApiResult {
    let cache = Arc::clone(&shared);
    if let Some(body) = shared.read(move |r| cache.chain_json.body(r)).await? {
        return Ok(raw_json_response(body));
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let read_chain = move |reader: &crate::store::StoreReader| {
        const CHUNK: usize = 256 * 1024;
        let mut buf = Vec::with_capacity(CHUNK + 1024);
        buf.push(b'[');
        let mut first = true;
        let mut gone = false;
        reader.for_each_main_raw(Height(0), |raw| {
            if !first {
                buf.extend_from_slice(b", ");
            }
            first = false;
            write_raw(raw, &mut buf);
            if buf.len() >= CHUNK {
                let chunk = Bytes::from(std::mem::replace(
                    &mut buf,
                    Vec::with_capacity(CHUNK + 1024),
                ));
                if tx.blocking_send(Ok(chunk)).is_err() {
                    gone = true; // the client left
                    return std::ops::ControlFlow::Break(());
                }
            }
            std::ops::ControlFlow::Continue(())
        })?;
        if !gone {
            buf.push(b']');
            let _ = tx.blocking_send(Ok(Bytes::from(buf)));
        }
        Ok(())
    };
    // Read in the background; the body streams as chunks arrive.
    tokio::spawn(async move {
        if let Err(e) = shared.read(read_chain).await {
            tracing::warn!("serving /blockchain.json failed: {e}");
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut response = Body::from_stream(stream).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

/// Appends a stored row as the original's JSON block.
pub(super) fn write_raw(raw: &RawBlock<'_>, out: &mut Vec<u8>) {
    wire::write_text_json(
        &wire::BlockText {
            index: &raw.index.to_string(),
            timestamp: raw.timestamp,
            data: raw.data,
            prev_hash: raw.prev_hash,
            nonce: raw.nonce,
            hash: raw.hash,
        },
        out,
    );
}

/// Appends `"blocks": [...]` with up to `limit` main-chain blocks from
/// `from`, stopping early past the reply byte budget.
fn write_blocks_field(
    reader: &impl BlockReads,
    from: Height,
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<(), StoreError> {
    out.extend_from_slice(b"\"blocks\": [");
    let start = out.len();
    let mut count = 0;
    reader.for_each_main_raw(from, |raw| {
        if count > 0 {
            out.extend_from_slice(b", ");
        }
        write_raw(raw, out);
        count += 1;
        if count >= limit || out.len() - start >= REPLY_BYTE_BUDGET {
            std::ops::ControlFlow::Break(())
        } else {
            std::ops::ControlFlow::Continue(())
        }
    })?;
    out.push(b']');
    Ok(())
}

fn raw_json_response(body: impl Into<Body>) -> Response {
    let body: Body = body.into();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Parses and submits one posted block.
async fn submit_posted(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<BatchOutcome, ApiError> {
    let body = body?;
    let block = wire::block_from_slice(&body).map_err(|e| {
        shared
            .metrics
            .inc("jbc_blocks_rejected_total", &[("reason", "malformed")]);
        ApiError::bad_request(e)
    })?;
    let peer = headers
        .get(NODE_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|id| shared.peers.url_of_node(id));
    let outcome = shared
        .submit(
            vec![block],
            Source::Posted { peer: peer.clone() },
            Durability::Acknowledged,
        )
        .await?;
    if let Some((_, AddError::ParentUnknown { .. })) = &outcome.error {
        // We lack its parent: sync (with everyone; cheap when up to date).
        shared.sync_wanted.notify_one();
    }
    if let (Some(Accepted::TipMoved { tip, .. }), Some(url)) = (outcome.last, &peer) {
        // The sender has this block, so its tip is at least ours now.
        shared.peers.with(url, |p| {
            if p.tip.is_none_or(|t| t.chain_work < tip.chain_work) {
                p.tip = Some(super::peers::PeerTip {
                    index: tip.index,
                    hash: tip.hash,
                    chain_work: tip.chain_work,
                });
            }
        });
    }
    if let Some((_, error)) = &outcome.error
        && error.is_invalid()
        && let Some(url) = &peer
    {
        let period = shared.config.ignore_period;
        shared
            .peers
            .ignore(url, period, format!("it sent an invalid block: {error}"));
        shared.events.peer_changed(
            url,
            "ignored",
            &format!("it sent an invalid block: {error}"),
        );
    }
    Ok(outcome)
}

/// The answer to a posted block: status code and `status` word.
fn outcome_status(outcome: &BatchOutcome) -> (StatusCode, &'static str, Option<String>) {
    match (&outcome.error, outcome.last) {
        (Some((_, e @ AddError::ParentUnknown { .. })), _) => {
            (StatusCode::CONFLICT, "parent_unknown", Some(e.to_string()))
        }
        (Some((_, e @ AddError::Invalid(_))), _) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            Some(e.to_string()),
        ),
        (Some((_, e)), _) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "error",
            Some(e.to_string()),
        ),
        (None, Some(Accepted::TipMoved { .. })) => (StatusCode::CREATED, "tip_moved", None),
        (None, Some(Accepted::SideBranch { .. })) => (StatusCode::ACCEPTED, "side_branch", None),
        (None, _) => (StatusCode::OK, "already_known", None),
    }
}

/// `POST /mined`: the original's route. `{"received": true}` for a valid
/// block, new or known.
async fn mined(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let outcome = submit_posted(&shared, &headers, body).await?;
    let (code, status, error) = outcome_status(&outcome);
    Ok(match error {
        None => json_response(
            StatusCode::OK,
            json!({ "received": true, "status": status }),
        ),
        Some(error) => {
            let code = if code == StatusCode::UNPROCESSABLE_ENTITY {
                StatusCode::BAD_REQUEST
            } else {
                code
            };
            json_response(
                code,
                json!({ "received": false, "status": status, "error": error }),
            )
        }
    })
}

/// `POST /v1/blocks`: the status code tells the outcome.
async fn post_block(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let outcome = submit_posted(&shared, &headers, body).await?;
    let (code, status, error) = outcome_status(&outcome);
    let tip = TipDto::from(shared.tip());
    Ok(match error {
        None => json_response(code, json!({ "status": status, "tip": tip })),
        Some(error) => json_response(
            code,
            json!({ "status": status, "error": error, "tip": tip }),
        ),
    })
}

async fn status(State(shared): State<Arc<Shared>>) -> ApiResult {
    Ok(json_response(StatusCode::OK, status_value(&shared)))
}

/// The `/v1/status` document (also the explorer's first paint).
pub fn status_value(shared: &Shared) -> Value {
    let params = shared.params();
    let per_thread = shared.mining.per_thread();
    json!({
        "software": format!("jbc {}", env!("CARGO_PKG_VERSION")),
        "node_id": shared.node_id,
        "network": {
            "genesis_hash": params.genesis_hash().to_string(),
            "difficulty": params.difficulty().zeros(),
        },
        "tip": TipDto::from(shared.tip()),
        "peers": shared.peers.snapshot(),
        "mining": {
            "enabled": shared.mining.is_enabled(),
            "threads": shared.mining.threads.load(std::sync::atomic::Ordering::Relaxed),
            "hash_rate": shared.mining.rate(),
            "hash_rate_per_thread": shared.mining.rates_per_thread(),
            "hashes": per_thread.iter().sum::<u64>(),
            "hashes_per_thread": per_thread,
        },
        "syncing": shared.syncing.load(std::sync::atomic::Ordering::Relaxed),
        "uptime_seconds": shared.started.elapsed().as_secs(),
    })
}

/// Query parameters; a malformed query string is a 400 with a JSON error.
type QueryMap = Result<Query<HashMap<String, String>>, QueryRejection>;

fn query_map(query: QueryMap) -> Result<HashMap<String, String>, ApiError> {
    query
        .map(|Query(map)| map)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

fn number_param(params: &HashMap<String, String>, name: &str) -> Result<Option<u64>, ApiError> {
    match params.get(name) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| {
            ApiError::bad_request(format!(
                "query parameter {name} must be a non-negative whole number, not {v:?}"
            ))
        }),
    }
}

/// `GET /v1/blocks?from=I&limit=N`: a main-chain range.
async fn blocks_range(State(shared): State<Arc<Shared>>, query: QueryMap) -> ApiResult {
    let pairs = query_map(query)?;
    let from = number_param(&pairs, "from")?.unwrap_or(0);
    let limit = number_param(&pairs, "limit")?
        .unwrap_or(100)
        .min(MAX_BLOCKS_PER_REPLY as u64) as usize;
    let body = shared
        .read(move |r| {
            let mut body = b"{".to_vec();
            write_blocks_field(r, Height(from), limit, &mut body)?;
            body.push(b'}');
            Ok(body)
        })
        .await?;
    Ok(raw_json_response(body))
}

/// `GET /v1/blocks/{hash}`: any stored block, main chain or side branch.
async fn block_by_hash(State(shared): State<Arc<Shared>>, Path(hash): Path<String>) -> ApiResult {
    let hash: BlockHash = hash.parse().map_err(ApiError::bad_request)?;
    let found = shared
        .read(move |r| {
            let Some(stored) = r.block(&hash)? else {
                return Ok(None);
            };
            let on_main = r.main_hash_at(stored.block.index)? == Some(hash);
            Ok(Some((stored, on_main)))
        })
        .await?;
    let Some((stored, on_main)) = found else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no block {hash} here"),
        ));
    };
    Ok(json_response(
        StatusCode::OK,
        json!({
            "block": wire::block_to_value(&stored.block),
            "chain_work": stored.chain_work.to_string(),
            "main_chain": on_main,
        }),
    ))
}

/// `GET /v1/sync?locator=H1,H2,...&limit=N`: the main-chain blocks after
/// the first locator hash that is on our main chain.
async fn sync(State(shared): State<Arc<Shared>>, query: QueryMap) -> ApiResult {
    let pairs = query_map(query)?;
    let limit = number_param(&pairs, "limit")?
        .unwrap_or(MAX_BLOCKS_PER_REPLY as u64)
        .min(MAX_BLOCKS_PER_REPLY as u64) as usize;
    let Some(locator) = pairs.get("locator") else {
        return Err(ApiError::bad_request(
            "the locator parameter is missing: locator=HASH,HASH,...",
        ));
    };
    let hashes = locator
        .split(',')
        .filter(|h| !h.is_empty())
        .map(str::parse::<BlockHash>)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::bad_request(format!("bad locator: {e}")))?;
    if hashes.is_empty() || hashes.len() > MAX_LOCATOR {
        return Err(ApiError::bad_request(format!(
            "a locator has 1 to {MAX_LOCATOR} hashes, this one {}",
            hashes.len()
        )));
    }
    let tip = serde_json::to_vec(&TipDto::from(shared.tip())).unwrap_or_default();
    let found = shared
        .read(move |r| {
            for hash in &hashes {
                if let Some((index, _)) = r.summary(hash)?
                    && r.main_hash_at(index)? == Some(*hash)
                {
                    let mut body = b"{\"tip\": ".to_vec();
                    body.extend_from_slice(&tip);
                    body.extend_from_slice(format!(", \"fork_index\": {index}, ").as_bytes());
                    write_blocks_field(r, index.next(), limit, &mut body)?;
                    body.push(b'}');
                    return Ok(Some(body));
                }
            }
            Ok(None)
        })
        .await?;
    let Some(body) = found else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "none of the locator hashes is on this node's main chain (is it another network?)",
        ));
    };
    Ok(raw_json_response(body))
}

async fn peers(State(shared): State<Arc<Shared>>) -> ApiResult {
    Ok(json_response(
        StatusCode::OK,
        json!({ "peers": shared.peers.snapshot() }),
    ))
}

/// A small JSON request body (a control request, not a block).
fn json_body(body: Result<Bytes, BytesRejection>) -> Result<Value, ApiError> {
    serde_json::from_slice(&body?)
        .map_err(|e| ApiError::bad_request(format!("not valid JSON: {e}")))
}

/// `POST /v1/peers` with `{"url": "http://host:port/"}`.
async fn add_peer(
    State(shared): State<Arc<Shared>>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let value = json_body(body)?;
    let Some(url) = value.get("url").and_then(Value::as_str) else {
        return Err(ApiError::bad_request(
            "expected {\"url\": \"http://host:port/\"}",
        ));
    };
    let url = super::peers::normalize_url(url).map_err(ApiError::bad_request)?;
    let added = super::add_peer(&shared, &url, true);
    let code = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json_response(code, json!({ "url": url, "added": added })))
}

/// `POST /v1/mining` with `{"mine": true|false}`.
async fn set_mining(
    State(shared): State<Arc<Shared>>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let value = json_body(body)?;
    let Some(mine) = value.get("mine").and_then(Value::as_bool) else {
        return Err(ApiError::bad_request(
            "expected {\"mine\": true} or {\"mine\": false}",
        ));
    };
    if mine {
        super::set_mining(&shared, true);
    } else {
        // Answer once the miner has really stopped.
        super::stop_mining(&shared).await;
    }
    Ok(json_response(
        StatusCode::OK,
        json!({ "mining": mine, "tip": TipDto::from(shared.tip()) }),
    ))
}

/// `GET /metrics`: Prometheus text format.
async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    use super::metrics::Gauge;
    let tip = shared.tip();
    let (up, down) = shared.peers.count_up();
    let hashes: u64 = shared.mining.per_thread().iter().sum();
    let gauges = [
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
            f64::from(u8::from(
                shared.syncing.load(std::sync::atomic::Ordering::Relaxed),
            )),
        ),
        Gauge::new(
            "jbc_mining",
            "1 while the node mines.",
            f64::from(u8::from(shared.mining.is_enabled())),
        ),
        Gauge::new(
            "jbc_hash_rate",
            "Hashes per second over the last second.",
            shared.mining.rate(),
        ),
        Gauge::counter(
            "jbc_hashes_total",
            "Hashes tried by this node's miner.",
            hashes as f64,
        ),
        Gauge::new(
            "jbc_uptime_seconds",
            "Seconds since the node started.",
            shared.started.elapsed().as_secs_f64(),
        ),
    ];
    let text = shared.metrics.render(&gauges);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// `GET /v1/events`: server-sent events, one JSON object per event (new
/// blocks, tip moves and reorgs, peers, mining). A listener too slow to
/// keep up gets a `lagged` event and carries on.
async fn events(State(shared): State<Arc<Shared>>) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use tokio::sync::broadcast::error::RecvError;
    let receiver = shared.events.subscribe();
    let shutdown = shared.watch_shutdown();
    let stream = futures_util::stream::unfold(
        (receiver, shutdown),
        |(mut receiver, mut shutdown)| async move {
            let event = tokio::select! {
                received = receiver.recv() => match received {
                    Ok(event) => Event::default().json_data(&event).unwrap_or_default(),
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

/// The most heights `/v1/tree` draws.
const MAX_TREE_DEPTH: u64 = 200;

/// `GET /v1/tree?depth=N`: every stored block (main chain and side
/// branches) in the last N heights, for drawing forks.
async fn tree(State(shared): State<Arc<Shared>>, query: QueryMap) -> ApiResult {
    let pairs = query_map(query)?;
    let depth = number_param(&pairs, "depth")?
        .unwrap_or(30)
        .clamp(1, MAX_TREE_DEPTH);
    let tip = shared.tip();
    let from = Height(tip.index.0.saturating_sub(depth - 1));
    let entries = shared.read(move |r| r.tree(from, tip.index)).await?;
    let blocks: Vec<Value> = entries
        .iter()
        .map(|entry| {
            let mut value = wire::block_to_value(&entry.block);
            value["main_chain"] = Value::Bool(entry.on_main_chain);
            value
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        json!({ "tip": TipDto::from(tip), "blocks": blocks }),
    ))
}

/// The explorer: one page, its script and its style, compiled in.
async fn explorer_page() -> Response {
    static_file(
        "text/html; charset=utf-8",
        include_str!("explorer/index.html"),
    )
}

async fn explorer_js() -> Response {
    static_file(
        "text/javascript; charset=utf-8",
        include_str!("explorer/app.js"),
    )
}

async fn explorer_css() -> Response {
    static_file(
        "text/css; charset=utf-8",
        include_str!("explorer/style.css"),
    )
}

fn static_file(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}
