//! Entries over HTTP: `POST /v1/entries` (one entry, or a list), `GET
//! /v1/entries/{id}` and its receipt `GET /v1/entries/{id}/proof`, `GET
//! /v1/entries?pending`, `GET /v1/entries?author=KEY` and `GET
//! /v1/entries?digest=SHA256`. Every entry is checked against the network's
//! rules before anything is stored; one bad entry in a list refuses the
//! whole list, naming its place and field.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::Value;

use crate::consensus::entry::{AuthorKey, CheckedEntry, EntryError, hex_array};
use crate::consensus::{EntryId, Network};
use crate::receipts::{self, DEFAULT_BLOCKS_AFTER, MAX_BLOCKS_AFTER, ReceiptError};
use crate::store::{BlockReads, EntryReads, EntryRecord, EntryState, EntryStatus};

use super::super::chain::NodeError;
use super::super::handles::Node;
use super::super::notify::Source;
use super::super::protocol::{
    BlockRef, EntriesReply, EntryReply, EntryStatusWord, PendingEntry, SubmittedEntry,
};
use super::api::{ApiError, ApiResult, PostedBy, QueryMap, json, number_param, query_map};
use super::server::ClientAddr;

/// Most entries in one `POST /v1/entries`.
pub const MAX_ENTRIES_PER_POST: usize = 1000;
/// Most entries in one listing.
const MAX_LISTED: u64 = 1000;

/// `POST /v1/entries`: `{"text": "..."}` (or `{"sha256": ...}`, with
/// `author`, `sig`, `stamp` as needed) or a list of such objects.
pub async fn submit(
    State(node): State<Arc<Node>>,
    client: Option<axum::Extension<ClientAddr>>,
    sender: PostedBy,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let body = body?;
    let network = node.chain.params().clone();
    let checked = tokio::task::spawn_blocking(move || check_body(&body, &network))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    let (entries, single) = checked.map_err(|(error, reason)| {
        node.metrics
            .entries_rejected
            .with_label_values(&[reason])
            .inc();
        error
    })?;
    let PostedBy(peer) = sender;
    let outcome = node
        .chain
        .submit_entries(
            entries,
            Source::Posted {
                peer,
                client: client.map(|c| c.0.0),
            },
        )
        .await?;
    let any_new = outcome
        .added
        .iter()
        .any(|(_, state)| *state == EntryState::New);
    let code = if any_new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    if single {
        let (id, state) = outcome.added[0];
        let status = match state {
            EntryState::Confirmed(_) => EntryStatusWord::Confirmed,
            _ => EntryStatusWord::Pending,
        };
        let new = state == EntryState::New;
        return Ok(json(code, &SubmittedEntry { id, status, new }));
    }
    let ids: Vec<EntryId> = outcome.added.iter().map(|(id, _)| *id).collect();
    Ok(json(code, &ids))
}

type Refusal = (ApiError, &'static str);

/// The checked entries of a request body, and whether it was one entry
/// (rather than a list); or the answer refusing it, with the metric reason.
fn check_body(body: &[u8], network: &Network) -> Result<(Vec<CheckedEntry>, bool), Refusal> {
    let bad = |message: String, reason| (ApiError::bad_request(message), reason);
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| bad(format!("not valid JSON: {e}"), "malformed"))?;
    let (items, single) = match &value {
        Value::Array(items) => (items.iter().collect::<Vec<_>>(), false),
        other => (vec![other], true),
    };
    if items.is_empty() {
        return Err(bad("an empty list holds no entry".into(), "empty_list"));
    }
    if items.len() > MAX_ENTRIES_PER_POST {
        return Err(bad(
            format!(
                "a list holds at most {MAX_ENTRIES_PER_POST} entries, this one {}",
                items.len()
            ),
            "too_many",
        ));
    }
    let rules = network.entry_rules();
    let genesis = network.genesis_hash();
    let mut checked = Vec::with_capacity(items.len());
    for (position, item) in items.into_iter().enumerate() {
        match CheckedEntry::from_json(item, rules, &genesis) {
            Ok(entry) => checked.push(entry),
            Err(error) => {
                let reason = rejection_reason(&error);
                let message = match single {
                    true => error.to_string(),
                    false => format!("entry {position} of the list: {error}"),
                };
                let status = match error {
                    EntryError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                    EntryError::BadSignature | EntryError::MissingStamp { .. } => {
                        StatusCode::UNPROCESSABLE_ENTITY
                    }
                    _ => StatusCode::BAD_REQUEST,
                };
                return Err((ApiError::new(status, message), reason));
            }
        }
    }
    Ok((checked, single))
}

/// The metric label for why an entry was refused.
pub fn rejection_reason(error: &EntryError) -> &'static str {
    match error {
        EntryError::NotJson(_) => "malformed",
        EntryError::NoContent => "no_content",
        EntryError::EmptyText => "empty_text",
        EntryError::BadField { .. } => "bad_field",
        EntryError::UnknownField(_) => "unknown_field",
        EntryError::HalfSigned(_) => "half_signed",
        EntryError::TooLarge { .. } => "too_large",
        EntryError::BadSignature => "bad_signature",
        EntryError::MissingStamp { .. } => "missing_stamp",
        EntryError::NotCanonical { .. } => "not_canonical",
        _ => "invalid",
    }
}

/// An entry record as answered, with its confirmations under `tip_index`.
fn reply(record: EntryRecord, tip_index: u64) -> EntryReply {
    let entry = serde_json::from_str(&record.line).unwrap_or(Value::String(record.line));
    let (status, entry, block, confirmations, evicted_at) = match record.status {
        EntryStatus::Pending => (EntryStatusWord::Pending, entry, None, None, None),
        EntryStatus::Evicted { at } => {
            (EntryStatusWord::Evicted, Value::Null, None, None, Some(at))
        }
        EntryStatus::Confirmed { index, hash } => (
            EntryStatusWord::Confirmed,
            entry,
            Some(BlockRef { index, hash }),
            Some(tip_index.saturating_sub(index.0) + 1),
            None,
        ),
    };
    EntryReply {
        id: record.id,
        status,
        entry,
        block,
        confirmations,
        evicted_at,
    }
}

/// `GET /v1/entries/{id}`.
pub async fn entry_by_id(State(node): State<Arc<Node>>, Path(id): Path<String>) -> ApiResult {
    let id: EntryId = id
        .parse()
        .map_err(|e| ApiError::bad_request(format!("an entry id is a hash: {e}")))?;
    let (record, tip) = node
        .chain
        .read(move |r| Ok((r.entry(&id)?, r.recorded_tip()?)))
        .await?;
    let record = record.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no entry {id} here: neither pending nor confirmed on the main chain"),
        )
    })?;
    Ok(json(StatusCode::OK, &reply(record, tip.index.0)))
}

/// `GET /v1/entries/{id}/proof[?confirmations=N]`: the entry's receipt
/// (`jbc-receipt/1`, text) with N confirmations, counted as
/// `GET /v1/entries/{id}` counts them: its block and N-1 after it (fewer
/// when the chain is shorter; by default up to the tip,
/// `DEFAULT_BLOCKS_AFTER` after it at most).
pub async fn proof(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    query: QueryMap,
) -> ApiResult {
    let id: EntryId = id
        .parse()
        .map_err(|e| ApiError::bad_request(format!("an entry id is a hash: {e}")))?;
    let pairs = query_map(query)?;
    let after = match number_param(&pairs, "confirmations")? {
        None => DEFAULT_BLOCKS_AFTER,
        Some(n @ 1..) if n <= MAX_BLOCKS_AFTER + 1 => n - 1,
        Some(_) => {
            return Err(ApiError::bad_request(format!(
                "confirmations is from 1 (the entry's block alone) to {}",
                MAX_BLOCKS_AFTER + 1
            )));
        }
    };
    let network = node.chain.params().clone();
    let made = node
        .chain
        .read(move |r| Ok(receipts::make(r, &network, &id, after)))
        .await?;
    match made {
        Ok(receipt) => Ok((
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            receipt.to_text(),
        )
            .into_response()),
        Err(e @ ReceiptError::Unknown(_)) => Err(ApiError::new(StatusCode::NOT_FOUND, e)),
        Err(e @ ReceiptError::Pending(_)) => Err(ApiError::new(StatusCode::CONFLICT, e)),
        Err(ReceiptError::Store(e)) => Err(NodeError::from(e).into()),
    }
}

/// `GET /v1/entries?pending[&after=SEQ][&limit=N]` (oldest first) or
/// `GET /v1/entries?author=KEY[&offset=N][&limit=N]` (newest first).
pub async fn list(State(node): State<Arc<Node>>, query: QueryMap) -> ApiResult {
    let pairs = query_map(query)?;
    let limit = number_param(&pairs, "limit")?
        .unwrap_or(100)
        .clamp(1, MAX_LISTED) as usize;
    if pairs.contains_key("pending") {
        let after = number_param(&pairs, "after")?.unwrap_or(0) as i64;
        let pool = node.chain.pool();
        let pending = node
            .chain
            .read(move |r| r.pending_entries(after, limit))
            .await?;
        let entries = pending
            .into_iter()
            .map(|p| PendingEntry {
                id: p.id,
                entry: serde_json::from_str(&p.line).unwrap_or(Value::String(p.line)),
                seq: p.seq,
            })
            .collect();
        let reply = EntriesReply {
            entries,
            pool: Some(pool),
        };
        return Ok(json(StatusCode::OK, &reply));
    }
    let (records, tip) = if let Some(author) = pairs.get("author") {
        let key: AuthorKey = author.parse().map_err(ApiError::bad_request)?;
        let offset = number_param(&pairs, "offset")?.unwrap_or(0) as usize;
        node.chain
            .read(move |r| {
                let records = r.author_entries(&key.to_string(), offset, limit)?;
                Ok((records, r.recorded_tip()?))
            })
            .await?
    } else if let Some(digest) = pairs.get("digest") {
        let digest = hex_array::<32>("digest", digest).map_err(ApiError::bad_request)?;
        node.chain
            .read(move |r| {
                let mut records = Vec::new();
                for id in r.entries_by_digest(&digest, limit)? {
                    records.extend(r.entry(&id)?);
                }
                Ok((records, r.recorded_tip()?))
            })
            .await?
    } else {
        return Err(ApiError::bad_request(
            "ask for ?pending (the pool, oldest first), ?author=KEY (an author's confirmed entries) \
             or ?digest=SHA256 (the entries stamping a file of that digest)",
        ));
    };
    let entries = records
        .into_iter()
        .map(|record| reply(record, tip.index.0))
        .collect();
    Ok(json(
        StatusCode::OK,
        &EntriesReply {
            entries,
            pool: None,
        },
    ))
}
