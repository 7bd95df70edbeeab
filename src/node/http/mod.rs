//! The HTTP API, thin: each handler turns a request into a call on
//! `Shared` or a store read, and the result into one of `protocol`'s
//! answers. Every body is capped, every bad input gets a 4xx with
//! `{"error": "..."}`, and nothing here can panic on input.
//! `docs/API.md` documents each route with an example.
//!
//! - `original`: the original's two routes, `/blockchain.json` and `/mined`.
//! - `v1`: ours: status, blocks, search, sync, peers, mining.
//! - `entries`: submitting and finding entries.
//! - `explorer`: what people watching see: the page, `/v1/events`,
//!   `/v1/tree`, `/metrics`.
//! - `server`: the front door (connections, time limits); `body`: request
//!   bodies within budgets.
//!
//! The operator's routes (mining, adding and removing peers, stopping)
//! take an `Operator`: a request that proves it with the cookie token.

pub mod body;
mod entries;
mod explorer;
pub mod host;
mod original;
pub mod server;
mod v1;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, MatchedPath, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::chain::{AddError, BatchOutcome};
use crate::store::Durability;
use crate::wire;

use super::net::client::NODE_ID_HEADER;
use super::net::trouble::{PeerFault, Trouble};
use super::protocol::ErrorReply;
use super::state::{NodeError, Shared, Source};

/// A block is a few hundred bytes; 1 MiB leaves room for generous `data`.
pub const MAX_BODY: usize = 1024 * 1024;

pub fn router(shared: Arc<Shared>, hosts: host::HostPolicy) -> Router {
    Router::new()
        .route("/blockchain.json", get(original::blockchain_json))
        .route("/mined", post(original::mined))
        .route("/v1/status", get(v1::status))
        .route("/v1/blocks", get(v1::blocks_range).post(v1::post_block))
        .route("/v1/blocks/{hash}", get(v1::block_by_hash))
        .route("/v1/search", get(v1::search))
        .route("/v1/sync", get(v1::sync))
        .route(
            "/v1/peers",
            get(v1::peers).post(v1::add_peer).delete(v1::remove_peer),
        )
        .route("/v1/addresses", get(v1::addresses))
        .route("/v1/addresses/book", get(v1::address_book))
        .route("/v1/mining", post(v1::set_mining))
        .route("/v1/shutdown", post(v1::shutdown))
        .route("/v1/entries", get(entries::list).post(entries::submit))
        .route("/v1/entries/{id}", get(entries::entry_by_id))
        .route("/v1/events", get(explorer::events))
        .route("/v1/tree", get(explorer::tree))
        .route("/v1/pace", get(explorer::pace))
        .route("/", get(explorer::page))
        .route("/explorer/app.js", get(explorer::script))
        .route("/explorer/style.css", get(explorer::style))
        .route("/metrics", get(explorer::metrics))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&shared),
            body::bounded,
        ))
        .layer(middleware::from_fn_with_state(Arc::clone(&shared), track))
        .layer(middleware::from_fn_with_state(Arc::new(hosts), check_host))
        .with_state(shared)
}

/// Refuses a request for a host this node does not answer to (see
/// `host`), before any route runs.
async fn check_host(
    State(hosts): State<Arc<host::HostPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    let named = request
        .headers()
        .get(header::HOST)
        .map(|v| v.to_str().unwrap_or(""));
    if hosts.allows(named) {
        return next.run(request).await;
    }
    ApiError::new(
        StatusCode::MISDIRECTED_REQUEST,
        "this node listens on loopback and answers only to requests for its IP address, \
         localhost, its --advertise host or a name given with --allow-host; this request named \
         another host (what a web page reading the node through DNS rebinding sends). Start \
         the node with --allow-host NAME to answer to that name",
    )
    .into_response()
}

/// An error answer: a status and `{"error": message}`.
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl std::fmt::Display) -> ApiError {
        ApiError {
            status,
            message: message.to_string(),
        }
    }

    pub fn bad_request(message: impl std::fmt::Display) -> ApiError {
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
        json(
            self.status,
            &ErrorReply {
                error: self.message,
            },
        )
    }
}

type ApiResult = Result<Response, ApiError>;

/// A JSON answer from one of `protocol`'s types.
fn json(status: StatusCode, reply: &impl Serialize) -> Response {
    (status, axum::Json(reply)).into_response()
}

/// A JSON answer written by hand (straight from the store).
fn raw_json(body: impl Into<Body>) -> Response {
    let body: Body = body.into();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
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
    let metrics = shared.metrics();
    metrics.http_requests.inc([&route, &status]);
    metrics
        .http_latency
        .observe([&route], started.elapsed().as_secs_f64());
    response
}

/// Proof that a request comes from the node's operator: it carries
/// `Authorization: Bearer TOKEN` with the token of the cookie file.
pub struct Operator;

impl axum::extract::FromRequestParts<Arc<Shared>> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        shared: &Arc<Shared>,
    ) -> Result<Operator, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token);
        match token {
            Some(token) if shared.is_operator(token.trim()) => Ok(Operator),
            Some(_) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "that token is not this node's operator token",
            )),
            None => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "only the node's operator may do this: send Authorization: Bearer TOKEN, \
                 the token being in the .cookie file of the node's data directory \
                 (jbc commands read it for you)",
            )),
        }
    }
}

/// True when the request carries the operator's token (for routes that
/// answer everyone, and the operator with more).
fn is_operator(headers: &HeaderMap, shared: &Shared) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .is_some_and(|token| shared.is_operator(token.trim()))
}

/// The token of `Authorization: Bearer TOKEN`, the scheme in any case
/// (RFC 7235: schemes are case-insensitive).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such route; see docs/API.md")
}

/// A small JSON request body of type `T` (a control request, not a
/// block); `expected` shows the right shape in the error.
fn json_body<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
    expected: &str,
) -> Result<T, ApiError> {
    serde_json::from_slice(&body?)
        .map_err(|e| ApiError::bad_request(format!("expected {expected}: {e}")))
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

/// Parses and submits one posted block (to `/mined` or `/v1/blocks`), and
/// draws the consequences for the peer that sent it, if it is one.
async fn submit_posted(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<BatchOutcome, ApiError> {
    let body = body?;
    let block = wire::block_from_slice(&body).map_err(|e| {
        shared.metrics().blocks_rejected.inc(["malformed"]);
        ApiError::bad_request(e)
    })?;
    let peer = headers
        .get(NODE_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|id| shared.peers().url_of_node(id));
    let source = Source::Posted {
        peer: peer.clone(),
        client: None,
    };
    let outcome = shared
        .submit(vec![block], source, Durability::Acknowledged)
        .await?;
    match (&outcome.error, &peer) {
        // We lack its parent: sync (with everyone; cheap when up to date).
        (Some((_, AddError::ParentUnknown { .. })), _) => shared.request_sync(),
        (Some((_, error)), Some(url)) if error.is_invalid() => {
            let fault = PeerFault::new(
                Trouble::InvalidBlock,
                format!("it sent an invalid block: {error}"),
            );
            shared.ignore_peer(url, fault).await;
        }
        (None, Some(url)) => {
            // The sender has this block, so its tip is at least ours now.
            if let Some((tip, _)) = outcome.tip_moved {
                shared.peers().saw_tip(url, tip);
            }
        }
        _ => {}
    }
    Ok(outcome)
}
