//! Answers, bounded: an answer is made whole in memory (a sync answer
//! holds up to `REPLY_BYTE_BUDGET` of blocks) and stays there until the
//! client has read it, so a client that reads slowly holds it as long as
//! it likes. Every answer past `SMALL` is counted against a node-wide
//! budget and a per-source-group budget of bytes being sent, until its
//! body is dropped (sent, or its connection closed); one that would pass
//! a budget is dropped at once and the client gets 503. However many
//! connections strangers hold, answers waiting on them stay under the
//! budgets. (Streamed answers, `/blockchain.json` of a long chain and
//! `/v1/events`, hold a few chunks at most and are not counted.)

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::body::{Frame, SizeHint};

use super::super::metrics::Metrics;
use super::super::protocol::REPLY_BYTE_BUDGET;
use super::api::ApiError;
use super::budget::{Budget, Held};
use super::server::{ClientAddr, SourceGroup};

/// Answers smaller than this are not counted: the connection cap bounds
/// them (a status, an entry, a receipt).
pub const SMALL: u64 = 64 * 1024;

/// Routes that answer with many blocks (`GET`).
const MANY_BLOCKS: [&str; 2] = ["/v1/sync", "/v1/blocks"];

/// The largest answer of many blocks: the reply budget, passed by one
/// block at most (256 KiB of entries on a network's defaults; a larger
/// answer is still counted once made).
const LARGEST: usize = REPLY_BYTE_BUDGET + (1 << 20);

/// What the answer middleware holds.
pub struct Answers {
    pub budget: Arc<Budget>,
    pub metrics: Arc<Metrics>,
}

/// Middleware: counts a large answer against the budgets while it is
/// sent, or refuses it.
pub async fn bounded(
    State(answers): State<Arc<Answers>>,
    request: Request,
    next: Next,
) -> Response {
    let group = request
        .extensions()
        .get::<ClientAddr>()
        .map_or(SourceGroup::of(IpAddr::from([0, 0, 0, 0])), |c| c.group());
    // A route answering with many blocks is refused before its answer is
    // made when there is no room for the largest: strangers whose answers
    // wait on them cannot keep the node making more (and the peers
    // syncing from it waiting behind those).
    let many_blocks =
        request.method() == Method::GET && MANY_BLOCKS.contains(&request.uri().path());
    if many_blocks && !answers.budget.has_room(group, LARGEST) {
        return refused(&answers.metrics);
    }
    let response = next.run(request).await;
    let Some(size) = hyper::body::Body::size_hint(response.body()).exact() else {
        return response;
    };
    if size < SMALL {
        return response;
    }
    let mut held = answers.budget.start(group);
    if !held.grow(usize::try_from(size).unwrap_or(usize::MAX)) {
        return refused(&answers.metrics);
    }
    let (parts, body) = response.into_parts();
    // The answer is in memory already: one frame, taken without a copy.
    let Ok(rest) = axum::body::to_bytes(body, usize::MAX).await else {
        return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "an answer failed")
            .into_response();
    };
    Response::from_parts(parts, Body::new(Counted { rest, _held: held }))
}

fn refused(metrics: &Metrics) -> Response {
    metrics.answers_refused.inc();
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "the node is sending too many large answers at once; try again shortly",
    )
    .into_response()
}

/// Bytes of an answer handed to the connection at a time: it asks for
/// more only as it sends, so the count holds until the end is sent.
const CHUNK: usize = 64 * 1024;

/// What is left of an answer to send, and the bytes it holds of the
/// budget, given back when the last chunk is taken or the client leaves.
/// (Handed over whole, the answer would leave the body at once and sit in
/// the connection's queue, counted by nobody.)
struct Counted {
    rest: Bytes,
    _held: Held,
}

impl hyper::body::Body for Counted {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let rest = &mut self.get_mut().rest;
        if rest.is_empty() {
            return Poll::Ready(None);
        }
        let chunk = rest.split_to(rest.len().min(CHUNK));
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.rest.len() as u64)
    }
}
