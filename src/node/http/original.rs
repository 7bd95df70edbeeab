//! The original's two routes: `GET /blockchain.json` (the whole main
//! chain, the original's only way to sync) and `POST /mined` (a block, as
//! an original miner posts it).

use std::net::IpAddr;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::consensus::Height;
use crate::store::{BlockReads, StoreError, StoreReader};
use crate::wire::Numbers;

use super::super::handles::Node;
use super::super::protocol::PostStatus;
use super::api::{ApiError, ApiResult, PostedBy, json, post_status, raw_json, submit_posted};
use super::budget::{Budget, Held};
use super::server::{ClientAddr, SourceGroup};

/// Chains being made or sent at once: each reads the store on a blocking
/// thread (the threads every other read and every write need too), and a
/// long chain's stream holds its read until its client has taken it all.
const CHAIN_TURNS: usize = 4;
/// ... of which for one source group.
const CHAIN_TURNS_PER_GROUP: usize = 2;
/// How long a request waits for a turn before it is answered 503.
const TURN_WAIT: Duration = Duration::from_secs(10);

/// The turns of `GET /blockchain.json`, one node's. A request takes one
/// before anything is read for it: one whose client left while it waited
/// costs nothing, and however many strangers ask at once, the store's
/// other readers and its writer find threads free.
pub struct ChainTurns {
    all: Arc<Semaphore>,
    by_group: Arc<Budget>,
}

/// A turn, given back on drop.
pub struct Turn {
    _all: OwnedSemaphorePermit,
    _group: Held,
}

impl ChainTurns {
    pub fn new() -> Arc<ChainTurns> {
        Arc::new(ChainTurns {
            all: Arc::new(Semaphore::new(CHAIN_TURNS)),
            // The total is the semaphore's, waited for.
            by_group: Budget::new(usize::MAX, CHAIN_TURNS_PER_GROUP),
        })
    }

    async fn take(&self, group: SourceGroup) -> Result<Turn, ApiError> {
        let mut held = self.by_group.start(group);
        if !held.grow(1) {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the node is sending the chain {CHAIN_TURNS_PER_GROUP} times to your network \
                     already; try again when one is done"
                ),
            ));
        }
        let waited = tokio::time::timeout(TURN_WAIT, Arc::clone(&self.all).acquire_owned()).await;
        match waited {
            Ok(Ok(all)) => Ok(Turn {
                _all: all,
                _group: held,
            }),
            _ => Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the node is sending the chain to too many clients at once; try again shortly",
            )),
        }
    }
}

/// `GET /blockchain.json`: the whole main chain, genesis first, in the
/// original's form. From the cache (`chain_json`) when the chain is small
/// enough; otherwise streamed from one consistent read of the store, so a
/// long chain never sits in memory whole.
pub async fn blockchain_json(
    State(node): State<Arc<Node>>,
    Extension(turns): Extension<Arc<ChainTurns>>,
    client: Option<Extension<ClientAddr>>,
) -> ApiResult {
    let group = client.map_or(SourceGroup::of(IpAddr::from([0, 0, 0, 0])), |c| c.group());
    let turn = turns.take(group).await?;
    let cache = Arc::clone(&node);
    // The turn goes with the read: a client leaving does not stop a read
    // begun, and the next request waits for it.
    let (cached, turn) = node
        .chain
        .read(move |r| Ok((cache.chain_json.body(r)?, turn)))
        .await?;
    if let Some(body) = cached {
        return Ok(raw_json(body));
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    // Read in the background; the body streams as chunks arrive, the turn
    // held until the last one is sent or the client leaves.
    tokio::spawn(async move {
        let _turn = turn;
        if let Err(e) = node.chain.read(move |r| stream_chain(r, &tx)).await {
            tracing::warn!("serving /blockchain.json failed: {e}");
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok(raw_json(Body::from_stream(stream)))
}

/// Sends the main chain as the original's JSON in chunks, until the end
/// or until the client leaves.
fn stream_chain(
    reader: &StoreReader,
    tx: &tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> Result<(), StoreError> {
    const CHUNK: usize = 256 * 1024;
    let mut buf = Vec::with_capacity(CHUNK + 1024);
    buf.push(b'[');
    let mut first = true;
    let mut gone = false;
    reader.for_each_main_text(Height(0), |block| {
        if !first {
            buf.extend_from_slice(b", ");
        }
        first = false;
        block.write_json(Numbers::AsStrings, &mut buf);
        if buf.len() >= CHUNK {
            let chunk = std::mem::replace(&mut buf, Vec::with_capacity(CHUNK + 1024));
            if tx.blocking_send(Ok(Bytes::from(chunk))).is_err() {
                gone = true; // the client left
                return Ok::<_, StoreError>(ControlFlow::Break(()));
            }
        }
        Ok(ControlFlow::Continue(()))
    })?;
    if !gone {
        buf.push(b']');
        let _ = tx.blocking_send(Ok(Bytes::from(buf)));
    }
    Ok(())
}

/// `POST /mined`'s answer: `{"received": true}` for a valid block, new or
/// known, as the original answers.
#[derive(Serialize)]
struct MinedReply {
    received: bool,
    status: PostStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// `POST /mined`: the original's route.
pub async fn mined(
    State(node): State<Arc<Node>>,
    sender: PostedBy,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let outcome = submit_posted(&node, sender, body).await?;
    let (code, status, error) = post_status(&outcome);
    // The original knows no 422: an invalid block is a bad request.
    let code = match code {
        StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
        code if code.is_success() => StatusCode::OK,
        code => code,
    };
    let reply = MinedReply {
        received: error.is_none(),
        status,
        error,
    };
    Ok(json(code, &reply))
}
