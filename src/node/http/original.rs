//! The original's two routes: `GET /blockchain.json` (the whole main
//! chain, the original's only way to sync) and `POST /mined` (a block, as
//! an original miner posts it).

use std::ops::ControlFlow;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;

use crate::consensus::Height;
use crate::store::{BlockReads, StoreError, StoreReader};
use crate::wire::Numbers;

use super::super::handles::Node;
use super::super::protocol::PostStatus;
use super::api::{ApiResult, json, post_status, raw_json, submit_posted};

/// `GET /blockchain.json`: the whole main chain, genesis first, in the
/// original's form. From the cache (`chain_json`) when the chain is small
/// enough; otherwise streamed from one consistent read of the store, so a
/// long chain never sits in memory whole.
pub async fn blockchain_json(State(node): State<Arc<Node>>) -> ApiResult {
    let cache = Arc::clone(&node);
    if let Some(body) = node.chain.read(move |r| cache.chain_json.body(r)).await? {
        return Ok(raw_json(body));
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    // Read in the background; the body streams as chunks arrive.
    tokio::spawn(async move {
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
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let outcome = submit_posted(&node, &headers, body).await?;
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
