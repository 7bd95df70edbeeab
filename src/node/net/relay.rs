//! Relay: one task per peer that sends it, in order, the blocks queued for
//! it (`Peers::queue_relay`). A jbc peer gets `POST /v1/blocks`; a peer that
//! speaks only the original protocol gets `POST /mined` with numbers, as an
//! original miner sends. A peer whose kind is not known yet is tried on
//! `/v1/blocks` first and recorded as original if that route is missing.
//!
//! A slow or dead peer only delays its own queue (bounded; overflow is
//! dropped and the peer syncs later), never the others.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::consensus::Block;
use crate::wire;

use super::super::state::Shared;
use super::client::PeerError;
use super::peers::PeerKind;

/// Answers to relayed blocks are small; anything bigger is not an answer.
const ANSWER_CAP: usize = 64 * 1024;

/// Starts the relay task of the peer at `url`.
pub fn spawn_worker(shared: Arc<Shared>, url: String, mut queue: mpsc::Receiver<Arc<Block>>) {
    tokio::spawn(async move {
        let mut shutdown = shared.watch_shutdown();
        loop {
            let block = tokio::select! {
                block = queue.recv() => match block {
                    Some(block) => block,
                    None => break,
                },
                _ = shutdown.changed() => break,
            };
            let outcome = match send(&shared, &url, &block).await {
                Ok(status) => {
                    tracing::debug!(peer = %url, index = block.index.0, status, "relayed block");
                    "sent"
                }
                Err(e) => {
                    tracing::debug!(peer = %url, index = block.index.0, "relay failed: {e}");
                    "failed"
                }
            };
            shared.metrics().relayed_blocks.inc([outcome]);
        }
    });
}

/// Sends one block; the HTTP status of the answer.
async fn send(shared: &Shared, url: &str, block: &Block) -> Result<u16, PeerError> {
    let kind = shared
        .peers()
        .with(url, |p| p.kind)
        .unwrap_or(PeerKind::Unknown);
    match kind {
        PeerKind::Myself => Ok(0),
        PeerKind::Original => post_mined(shared, url, block).await,
        PeerKind::Jbc | PeerKind::Unknown => {
            let (status, _) = shared
                .client()
                .post_json(
                    &format!("{url}v1/blocks"),
                    wire::block_to_json(block),
                    ANSWER_CAP,
                )
                .await?;
            if kind == PeerKind::Unknown && (status == 404 || status == 405) {
                shared.peers().with(url, |p| p.kind = PeerKind::Original);
                return post_mined(shared, url, block).await;
            }
            Ok(status)
        }
    }
}

async fn post_mined(shared: &Shared, url: &str, block: &Block) -> Result<u16, PeerError> {
    let (status, _) = shared
        .client()
        .post_json(
            &format!("{url}mined"),
            wire::block_to_json_numbers(block),
            ANSWER_CAP,
        )
        .await?;
    Ok(status)
}
