//! Our routes under `/v1`: status, blocks (read and post), search, sync,
//! peers, addresses and mining. Each answer is one of `protocol`'s types.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use crate::consensus::entry::{BlockEntries, COMMITTED_FORMAT_LINE, Entry};
use crate::consensus::{BlockAndBody, BlockHash, Height, Network};
use crate::search::{self, Kind, Query};
use crate::store::{BlockReads, EntryReads};
use crate::wire::BlockText;
use crate::wire::compact::CompactBlock;

use super::super::compact::{self, CompactError, Rebuilt};
use super::super::handles::Node;
use super::super::net::client::ADVERTISE_HEADER;
use super::super::net::peers::normalize_url;
use super::super::protocol::{
    AddPeerReply, AddPeerRequest, AddressBookReply, AddressesReply, BlockReply, EntryInBlock,
    KnownAddress, MAX_BLOCKS_PER_REPLY, MiningReply, MiningRequest, PeersReply, PostBlockReply,
    PostStatus, SearchReply, parse_locator, write_blocks_reply, write_sync_reply,
};
use super::super::status;
use super::api::{
    ApiError, ApiResult, Operator, PostedBy, QueryMap, is_operator, json, json_body,
    named_block_held, number_param, post_status, query_map, raw_json, submit_block, submit_posted,
};
use super::server::ClientAddr;
use crate::clock::unix_seconds;

/// `GET /v1/status`. A node that asks and says where it listens
/// (`x-jbc-advertise`) is noted in the address book.
pub async fn status(
    State(node): State<Arc<Node>>,
    client: Option<axum::Extension<ClientAddr>>,
    headers: HeaderMap,
) -> ApiResult {
    let advertised = headers.get(ADVERTISE_HEADER).and_then(|v| v.to_str().ok());
    if let (Some(advertised), Some(axum::Extension(ClientAddr(ip)))) = (advertised, client) {
        node.net.heard_inbound(ip, advertised);
    }
    Ok(json(StatusCode::OK, &status::status(&node)))
}

/// `GET /v1/addresses`: the node addresses this node vouches for, for
/// peers that look for more.
pub async fn addresses(State(node): State<Arc<Node>>) -> ApiResult {
    let reply = node.net.read_book(|book| AddressesReply {
        version: book.version(),
        addresses: book.shareable(),
    });
    Ok(json(StatusCode::OK, &reply))
}

/// `GET /v1/addresses/book` (operator only): the whole address book.
pub async fn address_book(_operator: Operator, State(node): State<Arc<Node>>) -> ApiResult {
    let connected = node.net.peers.urls();
    let now = unix_seconds();
    let addresses = node.net.read_book(|book| {
        book.all()
            .into_iter()
            .map(|a| KnownAddress {
                connected: connected.contains(&a.url),
                table: if a.tried { "tried" } else { "new" }.into(),
                last_success_s_ago: a.last_success.map(|t| now.saturating_sub(t)),
                url: a.url,
                source: a.source,
                manual: a.manual,
                failures: a.failures,
            })
            .collect()
    });
    Ok(json(StatusCode::OK, &AddressBookReply { addresses }))
}

/// The answer to a posted block: the HTTP status, the `status` word and
/// why it was refused (as `post_status` gives them), with this node's tip.
fn block_reply(
    node: &Node,
    (code, status, error): (StatusCode, PostStatus, Option<String>),
    missing: Vec<u32>,
) -> Response {
    let tip = node.chain.tip();
    json(
        code,
        &PostBlockReply {
            status,
            error,
            missing,
            tip,
        },
    )
}

/// A block this node holds, named in the request: answered unread.
const KNOWN: (StatusCode, PostStatus, Option<String>) =
    (StatusCode::OK, PostStatus::AlreadyKnown, None);

/// `POST /v1/blocks`: the status code tells the outcome.
pub async fn post_block(
    State(node): State<Arc<Node>>,
    sender: PostedBy,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    if named_block_held(&node, &headers).await? {
        return Ok(block_reply(&node, KNOWN, vec![]));
    }
    let outcome = submit_posted(&node, sender, body).await?;
    Ok(block_reply(&node, post_status(&outcome), vec![]))
}

/// `POST /v1/blocks/compact`: a block as short ids of its entries
/// (`wire::compact`). Answers as `POST /v1/blocks` once the block is
/// rebuilt; otherwise `missing_entries` (with their places) or
/// `send_block`, both 200.
pub async fn post_compact_block(
    State(node): State<Arc<Node>>,
    sender: PostedBy,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    if named_block_held(&node, &headers).await? {
        return Ok(block_reply(&node, KNOWN, vec![]));
    }
    let metrics = &node.metrics;
    let refused = |reason: &str, e: &dyn std::fmt::Display| {
        metrics.blocks_rejected.with_label_values(&[reason]).inc();
        ApiError::bad_request(e)
    };
    let compact = CompactBlock::from_slice(&body?).map_err(|e| refused("malformed", &e))?;
    let rebuilt = compact::rebuild(&node.chain, &node.rebuilds, compact).await;
    let reply = |code, status, missing| Ok(block_reply(&node, (code, status, None), missing));
    let outcome = |word: &str| metrics.compact_received.with_label_values(&[word]).inc();
    let block = match rebuilt {
        Ok(Rebuilt::Block(block)) => block,
        Ok(Rebuilt::Known) => {
            outcome("known");
            return Ok(block_reply(&node, KNOWN, vec![]));
        }
        Ok(Rebuilt::ParentUnknown) => {
            outcome("parent_unknown");
            node.net.request_sync();
            return reply(StatusCode::CONFLICT, PostStatus::ParentUnknown, vec![]);
        }
        Ok(Rebuilt::Missing(places)) => {
            outcome("missing");
            metrics.compact_entries_asked.inc_by(places.len() as u64);
            return reply(StatusCode::OK, PostStatus::MissingEntries, places);
        }
        Ok(rebuilt @ (Rebuilt::Mismatch | Rebuilt::MostlyMissing | Rebuilt::NotScanned)) => {
            outcome(match rebuilt {
                Rebuilt::Mismatch => "mismatch",
                Rebuilt::MostlyMissing => "mostly_missing",
                _ => "not_scanned",
            });
            return reply(StatusCode::OK, PostStatus::SendBlock, vec![]);
        }
        Err(CompactError::Node(e)) => return Err(e.into()),
        Err(e @ CompactError::Header(_)) => {
            metrics
                .blocks_rejected
                .with_label_values(&["invalid"])
                .inc();
            return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e));
        }
        Err(e) => return Err(refused("malformed", &e)),
    };
    outcome("complete");
    let outcome = submit_block(&node, sender, block).await?;
    Ok(block_reply(&node, post_status(&outcome), vec![]))
}

/// Answers of many blocks (`/v1/blocks`, `/v1/sync`) being made at once,
/// at most: each grows up to `REPLY_BYTE_BUDGET` before the answer budget
/// (`answers`) can count it.
static BUILDS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

/// `GET /v1/blocks?from=I&limit=N`: a main-chain range.
pub async fn blocks_range(State(node): State<Arc<Node>>, query: QueryMap) -> ApiResult {
    let pairs = query_map(query)?;
    let from = number_param(&pairs, "from")?.unwrap_or(0);
    let limit = number_param(&pairs, "limit")?
        .unwrap_or(100)
        .min(MAX_BLOCKS_PER_REPLY as u64) as usize;
    let _turn = BUILDS.acquire().await;
    let body = node
        .chain
        .read(move |r| write_blocks_reply(r, Height(from), limit))
        .await?;
    Ok(raw_json(body))
}

/// `GET /v1/blocks/{hash}`: any stored block, main chain or side branch.
pub async fn block_by_hash(State(node): State<Arc<Node>>, Path(hash): Path<String>) -> ApiResult {
    let hash: BlockHash = hash.parse().map_err(ApiError::bad_request)?;
    let found = node
        .chain
        .read(move |r| {
            let Some(stored) = r.block(&hash)? else {
                return Ok(None);
            };
            let on_main = r.main_hash_at(stored.block.index)? == Some(hash);
            let body = match stored.block.data.starts_with(COMMITTED_FORMAT_LINE) {
                true => r.block_body(&hash)?,
                false => Vec::new(),
            };
            Ok(Some((stored, body, on_main)))
        })
        .await?;
    let not_here = || ApiError::new(StatusCode::NOT_FOUND, format!("no block {hash} here"));
    let (stored, body, main_chain) = found.ok_or_else(not_here)?;
    let entries = entries_in_block(&stored.block.data, &body, node.chain.params());
    let block = BlockAndBody {
        block: stored.block,
        body,
    };
    let reply = BlockReply {
        block: BlockText::from_block_and_body(&block),
        chain_work: stored.chain_work,
        main_chain,
        entries,
    };
    Ok(json(StatusCode::OK, &reply))
}

/// `GET /v1/search?q=TEXT[&kind=block|entry]`: a height, or a block hash
/// or an entry id (or its first 8 or more hex digits).
pub async fn search(State(node): State<Arc<Node>>, query: QueryMap) -> ApiResult {
    let pairs = query_map(query)?;
    let kind = pairs.get("kind").map_or(Ok(Kind::Any), |kind| kind.parse());
    let kind = kind.map_err(ApiError::bad_request)?;
    let text = pairs.get("q").ok_or_else(|| {
        ApiError::bad_request(
            "the q parameter is missing: ?q=HEIGHT, or ?q= a block hash or an entry id \
             (or its first 8 or more hex digits)",
        )
    })?;
    let query = Query::parse(text, kind).map_err(ApiError::bad_request)?;
    let found = node
        .chain
        .read(move |r| r.snapshot(|r| search::find(r, &query)))
        .await?;
    Ok(json(StatusCode::OK, &SearchReply::from(found)))
}

/// Each entry line of a block (in its data, or its body where the data
/// commits to them), checked against the network's rules (one by one: a
/// repeated entry is not flagged here).
fn entries_in_block(data: &str, body: &[String], network: &Network) -> Vec<EntryInBlock> {
    let lines: Vec<&str> = match BlockEntries::parse(data) {
        Some(Ok(_)) => data.split('\n').skip(2).collect(),
        _ => body.iter().map(String::as_str).collect(),
    };
    lines
        .into_iter()
        .map(|line| (Entry::parse_line(line), line))
        .map(|(parsed, line)| {
            let entry = serde_json::from_str(line).unwrap_or(Value::String(line.to_owned()));
            let checked = parsed.map(|e| {
                let valid = e.check(network.entry_rules(), &network.genesis_hash());
                (e.id(), e.author.is_some(), valid)
            });
            let (id, signed, error) = match checked {
                Ok((id, signed, valid)) => (Some(id), signed, valid.err().map(|e| e.to_string())),
                Err(e) => (None, false, Some(e.to_string())),
            };
            EntryInBlock {
                id,
                entry,
                signed,
                valid: error.is_none(),
                error,
            }
        })
        .collect()
}

/// `GET /v1/sync?locator=H1,H2,...&limit=N`: the main-chain blocks after
/// the first locator hash that is on our main chain.
pub async fn sync(State(node): State<Arc<Node>>, query: QueryMap) -> ApiResult {
    let pairs = query_map(query)?;
    let limit = number_param(&pairs, "limit")?
        .unwrap_or(MAX_BLOCKS_PER_REPLY as u64)
        .min(MAX_BLOCKS_PER_REPLY as u64) as usize;
    let locator = pairs.get("locator").ok_or_else(|| {
        ApiError::bad_request("the locator parameter is missing: locator=HASH,HASH,...")
    })?;
    let hashes = parse_locator(locator).map_err(ApiError::bad_request)?;
    let tip = node.chain.tip();
    let _turn = BUILDS.acquire().await;
    let found = node
        .chain
        .read(move |r| {
            for hash in &hashes {
                if let Some((index, _)) = r.summary(hash)?
                    && r.main_hash_at(index)? == Some(*hash)
                {
                    return Ok(Some(write_sync_reply(r, tip, index, limit)?));
                }
            }
            Ok(None)
        })
        .await?;
    let Some(body) = found else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "none of the locator hashes is on this node's main chain (is it another network?)",
        ));
    };
    Ok(raw_json(body))
}

pub async fn peers(State(node): State<Arc<Node>>, headers: HeaderMap) -> ApiResult {
    // What each peer did wrong, in detail, is the operator's to read.
    let reply = PeersReply {
        peers: node.net.peers.snapshot(is_operator(&headers, &node)),
    };
    Ok(json(StatusCode::OK, &reply))
}

/// `POST /v1/peers` with `{"url": "http://host:port/"}` (operator only).
pub async fn add_peer(
    _operator: Operator,
    State(node): State<Arc<Node>>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let request: AddPeerRequest = json_body(body, r#"{"url": "http://host:port/"}"#)?;
    let url = normalize_url(&request.url).map_err(ApiError::bad_request)?;
    let added = node
        .net
        .add_peer(&url)
        .map_err(|e| ApiError::new(StatusCode::CONFLICT, e))?;
    let code = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json(code, &AddPeerReply { url, added }))
}

/// `DELETE /v1/peers` with `{"url": "http://host:port/"}` (operator only).
pub async fn remove_peer(
    _operator: Operator,
    State(node): State<Arc<Node>>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let request: AddPeerRequest = json_body(body, r#"{"url": "http://host:port/"}"#)?;
    let url = normalize_url(&request.url).map_err(ApiError::bad_request)?;
    if !node.net.remove_peer(&url) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("{url} is not a peer of this node"),
        ));
    }
    Ok(json(StatusCode::OK, &AddPeerReply { url, added: false }))
}

/// `POST /v1/shutdown` (operator only): stops the node as Ctrl-C does.
pub async fn shutdown(_operator: Operator, State(node): State<Arc<Node>>) -> ApiResult {
    node.shutdown.request();
    Ok(json(
        StatusCode::ACCEPTED,
        &serde_json::json!({ "stopping": true }),
    ))
}

/// `POST /v1/mining` with `{"mine": true|false}` (operator only).
pub async fn set_mining(
    _operator: Operator,
    State(node): State<Arc<Node>>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let MiningRequest { mine } = json_body(body, r#"{"mine": true} or {"mine": false}"#)?;
    if mine {
        node.mining.set(true);
    } else {
        // Answer once the miner has really stopped.
        node.mining.stop().await;
    }
    let reply = MiningReply {
        mining: mine,
        tip: node.chain.tip(),
    };
    Ok(json(StatusCode::OK, &reply))
}
