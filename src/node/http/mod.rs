//! The HTTP API, thin: each handler turns a request into a call on
//! a handle of the node (`Node`) or a store read, and the result into one of `protocol`'s
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
//!   bodies within budgets; `stall`: clients that stop reading their
//!   answer are dropped.
//!
//! The operator's routes (mining, adding and removing peers, stopping)
//! take an `Operator`: a request that proves it with the cookie token.

mod answers;
mod api;
pub mod body;
mod budget;
mod entries;
mod explorer;
pub mod host;
mod original;
pub mod server;
mod stall;
mod v1;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};

use super::handles::Node;
use answers::Answers;
use api::{ApiError, MAX_BODY};
use body::Bodies;
use budget::Budget;

pub fn router(node: Arc<Node>, hosts: host::HostPolicy) -> Router {
    let limits = node.config.http;
    let bodies = Arc::new(Bodies {
        limits,
        budget: Budget::new(limits.body_budget, limits.body_budget_per_address),
        metrics: Arc::clone(&node.metrics),
    });
    let answers = Arc::new(Answers {
        budget: Budget::new(limits.answer_budget, limits.answer_budget_per_address),
        metrics: Arc::clone(&node.metrics),
    });
    Router::new()
        .route(
            "/blockchain.json",
            get(original::blockchain_json).layer(Extension(original::ChainTurns::new())),
        )
        .route("/mined", post(original::mined))
        .route("/v1/status", get(v1::status))
        .route("/v1/blocks", get(v1::blocks_range).post(v1::post_block))
        .route("/v1/blocks/compact", post(v1::post_compact_block))
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
        .route("/v1/entries/{id}/proof", get(entries::proof))
        .route("/v1/events", get(explorer::events))
        .route("/v1/tree", get(explorer::tree))
        .route("/v1/pace", get(explorer::pace))
        .route("/", get(explorer::page))
        .route("/explorer/app.js", get(explorer::script))
        .route("/explorer/receipt.js", get(explorer::receipt_script))
        .route("/explorer/style.css", get(explorer::style))
        .route("/metrics", get(explorer::metrics))
        .fallback(api::not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(bodies, body::bounded))
        .layer(middleware::from_fn_with_state(answers, answers::bounded))
        .layer(middleware::from_fn_with_state(Arc::clone(&node), track))
        .layer(middleware::from_fn_with_state(Arc::new(hosts), check_host))
        .with_state(node)
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

/// Counts requests by route and status, and their latency.
async fn track(State(node): State<Arc<Node>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let metrics = &node.metrics;
    metrics
        .http_requests
        .with_label_values(&[route.as_str(), status.as_str()])
        .inc();
    metrics
        .http_latency
        .with_label_values(&[route.as_str()])
        .observe(started.elapsed().as_secs_f64());
    response
}
