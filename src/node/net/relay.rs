//! Relay: one task per peer that sends it, in order, what was queued for it
//! (`Peers::queue_relay`, fed by the chain's events: `tasks`). A jbc peer
//! gets blocks on `POST /v1/blocks`, or, for a block whose entries travel
//! beside it, on `POST /v1/blocks/compact` as short ids of the entries
//! (`wire::compact`) and then only the entries it lacks; and new entries
//! on `POST /v1/entries`, several queued batches of entries
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

use super::super::protocol::{PostBlockReply, PostStatus};
use crate::consensus::Block;
use crate::wire;

use super::client::PeerError;
use super::handle::Net;
use super::outgoing::OutgoingBlock;
use super::peers::{PeerKind, Relay};

/// Answers to relayed items are small; anything bigger is not an answer.
const ANSWER_CAP: usize = 64 * 1024;
/// An answer to a compact block may list every entry's place.
const COMPACT_ANSWER_CAP: usize = 1024 * 1024;
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

/// Sends one block to a peer; the HTTP status of the last answer. A jbc
/// peer gets a block carrying entries in compact form (its entries'
/// short ids), then those it lacks, or the whole block if its pool
/// rebuilt it wrong; other blocks whole. An original peer gets the block
/// alone on `/mined`.
async fn send_block(net: &Net, url: &str, outgoing: &OutgoingBlock) -> Result<u16, PeerError> {
    let kind = net.peers.kind(url);
    if kind != PeerKind::Myself {
        // One send per block per peer, however many requests it takes
        // (all their bodies count as bytes).
        net.metrics.relay_sent.with_label_values(&[BLOCK]).inc();
    }
    match kind {
        PeerKind::Myself => Ok(0),
        PeerKind::Original => post_mined(net, url, &outgoing.block.block).await,
        PeerKind::Jbc | PeerKind::Unknown => {
            if !outgoing.block.body.is_empty()
                && let Some(status) = send_compact(net, url, outgoing).await?
            {
                return Ok(status);
            }
            let body = outgoing.full().to_vec();
            count_bytes(net, BLOCK, &body);
            let hash = &outgoing.block.block.hash;
            let (status, _) = net
                .client
                .post(&format!("{url}v1/blocks"), body, ANSWER_CAP, Some(hash))
                .await?;
            if kind == PeerKind::Unknown && net.peers.learn_from_answer(url, status) {
                return post_mined(net, url, &outgoing.block.block).await;
            }
            Ok(status)
        }
    }
}

/// The compact form, then the entries the peer lacks; `None` when the
/// whole block must follow (the peer does not take compact blocks, or
/// rebuilt the entries wrong).
async fn send_compact(
    net: &Net,
    url: &str,
    outgoing: &OutgoingBlock,
) -> Result<Option<u16>, PeerError> {
    let (compact, json) = outgoing.compact();
    let target = format!("{url}v1/blocks/compact");
    let mut body = json.clone();
    // At most twice: the short ids, then with what was missing.
    for round in 0..2 {
        count_bytes(net, BLOCK, &body);
        let hash = &outgoing.block.block.hash;
        let (status, answer) = net
            .client
            .post(&target, body, COMPACT_ANSWER_CAP, Some(hash))
            .await?;
        if status == 404 || status == 405 {
            // An original, or a jbc node from before compact blocks.
            return Ok(None);
        }
        let Ok(reply) = serde_json::from_slice::<PostBlockReply>(&answer) else {
            return Ok(Some(status));
        };
        match reply.status {
            PostStatus::SendBlock => return Ok(None),
            PostStatus::MissingEntries if round == 0 => {
                let lines = &outgoing.block.body;
                let mut filled = compact.clone();
                filled.prefilled = reply
                    .missing
                    .iter()
                    .filter_map(|&p| lines.get(p as usize).map(|l| (p, l.clone())))
                    .collect();
                body = filled.to_json();
            }
            PostStatus::MissingEntries => return Ok(None),
            _ => return Ok(Some(status)),
        }
    }
    Ok(None)
}

/// Sends an original peer a block of our main chain it lacks
/// (`catch_up`), counted as any block sent.
pub async fn resend_to_original(net: &Net, url: &str, block: &Block) -> Result<u16, PeerError> {
    net.metrics.relay_sent.with_label_values(&[BLOCK]).inc();
    post_mined(net, url, block).await
}

async fn post_mined(net: &Net, url: &str, block: &Block) -> Result<u16, PeerError> {
    let body = wire::block_to_json_numbers(block);
    count_bytes(net, BLOCK, &body);
    let (status, _) = net
        .client
        .post(&format!("{url}mined"), body, ANSWER_CAP, None)
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
        .post(&format!("{url}v1/entries"), body, ANSWER_CAP, None)
        .await?;
    if kind == PeerKind::Unknown {
        net.peers.learn_from_answer(url, status);
    }
    Ok(status)
}
