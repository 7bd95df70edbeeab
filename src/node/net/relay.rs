//! Relay: one task per peer that sends it, in order, what was queued for it
//! (`Peers::queue_relay`, fed by the chain's events: `tasks`). A jbc peer gets blocks on `POST /v1/blocks` and
//! new entries on `POST /v1/entries`, several queued batches of entries
//! joined into one request; a peer that speaks only the original protocol
//! gets blocks on `POST /mined` with numbers, as an original miner sends,
//! and never entries. A peer whose kind is not known yet is tried on
//! `/v1/blocks` (or `/v1/entries`) first and recorded as original if that
//! route is missing.
//!
//! A slow or dead peer only delays its own queue (bounded; overflow is
//! dropped and the peer syncs later), never the others.
//!
//! What goes out is counted as it is attempted (`jbc_relay_sent_total`,
//! `jbc_relay_sent_bytes_total`: the request bodies), whatever the answer,
//! so a network's cost of spreading a block can be read off its nodes.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::consensus::{Block, BlockAndBody};
use crate::wire;

use super::client::PeerError;
use super::handle::Net;
use super::peers::{PeerKind, Relay};

/// Answers to relayed items are small; anything bigger is not an answer.
const ANSWER_CAP: usize = 64 * 1024;
/// Most entries joined into one `POST /v1/entries`.
const ENTRIES_PER_POST: usize = 500;

/// Starts the relay task of the peer at `url`.
pub fn spawn_worker(net: Arc<Net>, url: String, mut queue: mpsc::Receiver<Relay>) {
    tokio::spawn(async move {
        let mut shutdown = net.shutdown.watch();
        let mut next: Option<Relay> = None;
        loop {
            let item = match next.take() {
                Some(item) => item,
                None => tokio::select! {
                    item = queue.recv() => match item {
                        Some(item) => item,
                        None => break,
                    },
                    _ = shutdown.changed() => break,
                },
            };
            let (what, result) = match item {
                Relay::Block(block) => ("block", send_block(&net, &url, &block).await),
                Relay::Entries(lines) => {
                    // Join what else is already queued, up to a limit; a
                    // block met on the way goes next, in order.
                    let mut batch: Vec<String> = lines.as_ref().clone();
                    while batch.len() < ENTRIES_PER_POST {
                        match queue.try_recv() {
                            Ok(Relay::Entries(more)) => batch.extend(more.iter().cloned()),
                            Ok(block) => {
                                next = Some(block);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    ("entries", send_entries(&net, &url, &batch).await)
                }
            };
            let outcome = match result {
                Ok(status) => {
                    tracing::debug!(peer = %url, what, status, "relayed");
                    "sent"
                }
                Err(e) => {
                    tracing::debug!(peer = %url, what, "relay failed: {e}");
                    "failed"
                }
            };
            let metrics = &net.metrics;
            match what {
                "block" => metrics.relayed_blocks.with_label_values(&[outcome]).inc(),
                _ => metrics.relayed_entries.with_label_values(&[outcome]).inc(),
            }
        }
    });
}

/// Sends one block (with its body to a jbc peer; an original peer gets
/// the block alone); the HTTP status of the answer.
async fn send_block(net: &Net, url: &str, block: &BlockAndBody) -> Result<u16, PeerError> {
    let kind = net.peers.kind(url);
    if kind != PeerKind::Myself {
        // One send per block per peer, even when an unknown peer turns out
        // to be an original and gets it again on /mined (both bodies count
        // as bytes).
        net.metrics.relay_sent.with_label_values(&[BLOCK]).inc();
    }
    match kind {
        PeerKind::Myself => Ok(0),
        PeerKind::Original => post_mined(net, url, &block.block).await,
        PeerKind::Jbc | PeerKind::Unknown => {
            let body = wire::block_and_body_to_json(block);
            count_bytes(net, BLOCK, &body);
            let (status, _) = net
                .client
                .post_json(&format!("{url}v1/blocks"), body, ANSWER_CAP)
                .await?;
            if kind == PeerKind::Unknown && net.peers.learn_from_answer(url, status) {
                return post_mined(net, url, &block.block).await;
            }
            Ok(status)
        }
    }
}

async fn post_mined(net: &Net, url: &str, block: &Block) -> Result<u16, PeerError> {
    let body = wire::block_to_json_numbers(block);
    count_bytes(net, BLOCK, &body);
    let (status, _) = net
        .client
        .post_json(&format!("{url}mined"), body, ANSWER_CAP)
        .await?;
    Ok(status)
}

/// The `kind` label of the relay counters.
const BLOCK: &str = "block";
const ENTRIES: &str = "entries";

/// Counts a request body about to go out.
fn count_bytes(net: &Net, kind: &str, body: &[u8]) {
    net.metrics
        .relay_sent_bytes
        .with_label_values(&[kind])
        .inc_by(body.len() as u64);
}

/// Sends entries (canonical lines) as one JSON list to a jbc peer, or to a
/// peer whose kind is not known yet (an original answers 404 and is never
/// sent entries again). Waiting to learn the kind first would lose the
/// entries submitted in the moment before.
async fn send_entries(net: &Net, url: &str, lines: &[String]) -> Result<u16, PeerError> {
    let kind = net.peers.kind(url);
    if !matches!(kind, PeerKind::Jbc | PeerKind::Unknown) {
        return Ok(0);
    }
    let mut body = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum::<usize>() + 2);
    body.push(b'[');
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(line.as_bytes());
    }
    body.push(b']');
    net.metrics.relay_sent.with_label_values(&[ENTRIES]).inc();
    count_bytes(net, ENTRIES, &body);
    let (status, _) = net
        .client
        .post_json(&format!("{url}v1/entries"), body, ANSWER_CAP)
        .await?;
    if kind == PeerKind::Unknown {
        net.peers.learn_from_answer(url, status);
    }
    Ok(status)
}
