//! Request bodies, bounded: a body must arrive within `body_timeout`, may
//! not pass `MAX_BODY` (a `Content-Length` over it is refused before
//! reading anything), and is read into memory only as its bytes arrive,
//! each counted against a node-wide budget and a per-address budget of
//! bytes in flight. A request that would pass a budget gets 503 at once:
//! what clients hold open can never grow the node's memory past the
//! budgets, however many connections they have.

use std::net::IpAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

use super::super::metrics::Metrics;
use super::api::{ApiError, MAX_BODY};
use super::budget::Budget;
use super::server::{ClientAddr, HttpLimits, SourceGroup};

/// A body over `MAX_BODY` but under this is read and dropped before the
/// 413; a bigger one is refused without reading (and its connection
/// closed).
const DRAIN_LIMIT: usize = 4 * MAX_BODY;

/// What the body middleware holds: the limits, the budget (`body_budget`
/// in all, `body_budget_per_address` by source group), the metrics.
pub struct Bodies {
    pub limits: HttpLimits,
    pub budget: Arc<Budget>,
    pub metrics: Arc<Metrics>,
}

/// Middleware: reads the request body under the limits, then hands the
/// request on with the body in memory; the bytes stay counted until the
/// answer is made.
pub async fn bounded(State(bodies): State<Arc<Bodies>>, request: Request, next: Next) -> Response {
    let limits = bodies.limits;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let chunked = request.headers().contains_key(header::TRANSFER_ENCODING);
    if declared.unwrap_or(0) == 0 && !chunked {
        return next.run(request).await;
    }
    if declared.is_some_and(|len| len > DRAIN_LIMIT as u64) {
        return too_large();
    }
    let address = request
        .extensions()
        .get::<ClientAddr>()
        .map_or(SourceGroup::of(IpAddr::from([0, 0, 0, 0])), |c| c.group());
    let mut held = bodies.budget.start(address);
    let (parts, body) = request.into_parts();
    let mut stream = body.into_data_stream();
    let deadline = tokio::time::Instant::now() + limits.body_timeout;
    let mut bytes: Vec<u8> = Vec::new();
    let mut too_big = declared.is_some_and(|len| len > MAX_BODY as u64);
    let mut seen = 0usize;
    let refused = &bodies.metrics.bodies_refused;
    loop {
        let chunk = match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => {
                refused.with_label_values(&["too_slow"]).inc();
                return ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "the body did not arrive within {} s",
                        limits.body_timeout.as_secs()
                    ),
                )
                .into_response();
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return ApiError::bad_request(format!("reading the body failed: {e}"))
                    .into_response();
            }
            Ok(Some(Ok(chunk))) => chunk,
        };
        // A body a little over the limit is read to its end and dropped, so
        // that the client gets to read the 413 rather than a reset.
        seen += chunk.len();
        too_big |= seen > MAX_BODY;
        if too_big {
            if seen > DRAIN_LIMIT {
                return too_large();
            }
            continue;
        }
        if !held.grow(chunk.len()) {
            refused.with_label_values(&["budget"]).inc();
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the node is receiving too many bodies at once; try again shortly",
            )
            .into_response();
        }
        bytes.extend_from_slice(&chunk);
    }
    if too_big {
        return too_large();
    }
    // `held` is given back once the answer is made.
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn too_large() -> Response {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the body is larger than the {MAX_BODY}-byte limit"),
    )
    .into_response()
}
