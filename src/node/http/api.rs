//! What every route shares: errors as JSON (`ApiError`), answers from
//! `protocol`'s types, query and body parsing, the operator's proof
//! (`Operator`), the peer a post comes from (`PostedBy`), and the one way
//! a posted block is submitted.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::Query;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::chain::{Accepted, AddError, BatchOutcome, ToAdd};
use crate::consensus::BlockHash;
use crate::store::{BlockReads, Durability};
use crate::wire;

use super::super::chain::NodeError;
use super::super::handles::Node;
use super::super::net::client::{BLOCK_HEADER, NODE_ID_HEADER};
use super::super::net::trouble::{PeerFault, Trouble};
use super::super::notify::Source;
use super::super::protocol::{ErrorReply, PostStatus};
use super::server::ClientAddr;

/// A block is a few hundred bytes; 1 MiB leaves room for generous `data`.
pub const MAX_BODY: usize = 1024 * 1024;

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

pub type ApiResult = Result<Response, ApiError>;

/// A JSON answer from one of `protocol`'s types.
pub fn json(status: StatusCode, reply: &impl Serialize) -> Response {
    (status, axum::Json(reply)).into_response()
}

/// A JSON answer written by hand (straight from the store).
pub fn raw_json(body: impl Into<Body>) -> Response {
    let body: Body = body.into();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Proof that a request comes from the node's operator: it carries
/// `Authorization: Bearer TOKEN` with the token of the cookie file.
pub struct Operator;

impl axum::extract::FromRequestParts<Arc<Node>> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        node: &Arc<Node>,
    ) -> Result<Operator, ApiError> {
        match bearer_token(&parts.headers) {
            Some(token) if node.cookie.accepts(token) => Ok(Operator),
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
pub fn is_operator(headers: &HeaderMap, node: &Node) -> bool {
    bearer_token(headers).is_some_and(|token| node.cookie.accepts(token))
}

/// The peer a request comes from: the one its `x-jbc-node-id` names,
/// when the request comes from that peer's own address (the IP of its
/// URL). The header alone proves nothing, since every node's id is in its
/// status for anyone to read: a stranger naming a peer would have that
/// peer ignored for the invalid blocks it posted itself, or its entries
/// counted as the peer's. A peer known by a host name is never named by a
/// post (it is blamed only for what this node fetches from it).
#[derive(Clone, Debug, Default)]
pub struct PostedBy(pub Option<String>);

impl axum::extract::FromRequestParts<Arc<Node>> for PostedBy {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        node: &Arc<Node>,
    ) -> Result<PostedBy, Self::Rejection> {
        let (Some(ClientAddr(ip)), Some(id)) = (
            parts.extensions.get::<ClientAddr>().copied(),
            parts
                .headers
                .get(NODE_ID_HEADER)
                .and_then(|v| v.to_str().ok()),
        ) else {
            return Ok(PostedBy(None));
        };
        let urls = node.net.peers.urls_of_node(id);
        Ok(PostedBy(
            urls.into_iter().find(|url| url_names_address(url, ip)),
        ))
    }
}

/// True when `url`'s host is the IP address `ip`.
fn url_names_address(url: &str, ip: IpAddr) -> bool {
    let host = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_owned()));
    host.and_then(|h| h.parse::<IpAddr>().ok())
        .is_some_and(|named| named.to_canonical() == ip.to_canonical())
}

/// The token of `Authorization: Bearer TOKEN`, the scheme in any case
/// (RFC 7235: schemes are case-insensitive).
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such route; see docs/API.md")
}

/// A small JSON request body of type `T` (a control request, not a
/// block); `expected` shows the right shape in the error.
pub fn json_body<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
    expected: &str,
) -> Result<T, ApiError> {
    serde_json::from_slice(&body?)
        .map_err(|e| ApiError::bad_request(format!("expected {expected}: {e}")))
}

/// Query parameters; a malformed query string is a 400 with a JSON error.
pub type QueryMap = Result<Query<HashMap<String, String>>, QueryRejection>;

pub fn query_map(query: QueryMap) -> Result<HashMap<String, String>, ApiError> {
    query
        .map(|Query(map)| map)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

pub fn number_param(params: &HashMap<String, String>, name: &str) -> Result<Option<u64>, ApiError> {
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
pub async fn submit_posted(
    node: &Arc<Node>,
    sender: PostedBy,
    body: Result<Bytes, BytesRejection>,
) -> Result<BatchOutcome, ApiError> {
    let block = wire::block_and_body_from_slice(&body?).map_err(|e| {
        node.metrics
            .blocks_rejected
            .with_label_values(&["malformed"])
            .inc();
        ApiError::bad_request(e)
    })?;
    submit_block(node, sender, block).await
}

/// True when the sender named the posted block in `BLOCK_HEADER` and this
/// node holds it already: the body need not be parsed. A header naming
/// another block than the body's only costs its sender that block.
pub async fn named_block_held(node: &Arc<Node>, headers: &HeaderMap) -> Result<bool, ApiError> {
    let named = headers
        .get(BLOCK_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<BlockHash>().ok());
    let Some(hash) = named else {
        return Ok(false);
    };
    let held = node
        .chain
        .read(move |reader| reader.contains(&hash))
        .await?;
    if held {
        node.metrics.blocks_known_unparsed.inc();
    }
    Ok(held)
}

/// Submits one block that came in a request, and draws the consequences
/// for the peer that sent it, if it is one.
pub async fn submit_block(
    node: &Arc<Node>,
    PostedBy(peer): PostedBy,
    block: impl ToAdd + Send + 'static,
) -> Result<BatchOutcome, ApiError> {
    let source = Source::Posted {
        peer: peer.clone(),
        client: None,
    };
    let outcome = node
        .chain
        .submit(vec![block], source, Durability::Acknowledged)
        .await?;
    match (&outcome.error, &peer) {
        // We lack its parent: sync (with everyone; cheap when up to date).
        (Some((_, AddError::ParentUnknown { .. })), _) => node.net.request_sync(),
        (Some((_, error)), Some(url)) if error.is_invalid() => {
            let fault = PeerFault::new(
                Trouble::InvalidBlock,
                format!("it sent an invalid block: {error}"),
            );
            node.net.ignore_peer(url, fault).await;
        }
        (None, Some(url)) => {
            // The sender has this block, so its tip is at least ours now.
            if let Some((tip, _)) = outcome.tip_moved {
                node.net.peers.saw_tip(url, tip);
            }
        }
        _ => {}
    }
    Ok(outcome)
}

/// What became of a posted block: the HTTP status, the `status` word and,
/// when it was refused, why.
pub fn post_status(outcome: &BatchOutcome) -> (StatusCode, PostStatus, Option<String>) {
    let Some((_, error)) = &outcome.error else {
        return match outcome.last {
            Some(Accepted::TipMoved { .. }) => (StatusCode::CREATED, PostStatus::TipMoved, None),
            Some(Accepted::SideBranch { .. }) => {
                (StatusCode::ACCEPTED, PostStatus::SideBranch, None)
            }
            _ => (StatusCode::OK, PostStatus::AlreadyKnown, None),
        };
    };
    let (code, status) = match error {
        AddError::ParentUnknown { .. } => (StatusCode::CONFLICT, PostStatus::ParentUnknown),
        e if e.is_early() => (StatusCode::TOO_EARLY, PostStatus::TooEarly),
        AddError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, PostStatus::Invalid),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, PostStatus::Error),
    };
    (code, status, Some(error.to_string()))
}
