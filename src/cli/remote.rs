//! Talking to a running node: its URL, one request at a time with an
//! answer read as one of `protocol`'s types (or its error said plainly),
//! and the operator's token for the routes that need it.

use anyhow::{Context, Result, bail};
use serde::de::DeserializeOwned;

use jbc::consensus::EntryId;
use jbc::node::protocol::{ErrorReply, SearchHit, SearchReply};
use jbc::search::{Kind, Query};

/// The node `jbc` commands talk to by default.
pub const LOCAL_NODE: &str = "http://127.0.0.1:5000/";

/// A node's base URL, with the trailing slash the routes are joined to.
pub fn base_url(node: &str) -> Result<String> {
    jbc::node::normalize_url(node).context("--node")
}

/// Sends a request to a node and reads its answer as `T` (or its error).
pub async fn call<T: DeserializeOwned>(request: reqwest::RequestBuilder, node: &str) -> Result<T> {
    let body = answer(request, node).await?;
    serde_json::from_slice(&body)
        .with_context(|| format!("the node at {node} answered something that is not jbc's"))
}

/// Sends a request to a node and reads its answer as text (or its error).
pub async fn call_text(request: reqwest::RequestBuilder, node: &str) -> Result<String> {
    let body = answer(request, node).await?;
    String::from_utf8(body)
        .with_context(|| format!("the node at {node} answered something that is not text"))
}

/// The body of a successful answer; an error answer as an error.
async fn answer(request: reqwest::RequestBuilder, node: &str) -> Result<Vec<u8>> {
    let response = request.send().await.with_context(|| {
        format!("cannot reach the node at {node} (is `jbc node` running there? pick one with --node URL)")
    })?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .with_context(|| format!("reading the answer of {node}"))?;
    if !status.is_success() {
        let message = serde_json::from_slice::<ErrorReply>(&body)
            .map_or_else(|_| String::from_utf8_lossy(&body).into_owned(), |e| e.error);
        bail!("the node at {node} answered {status}: {message}");
    }
    Ok(body.to_vec())
}

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub fn client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .no_proxy()
        .build()
        .context("cannot build an HTTP client")
}

/// The entry id `text` stands for: itself when it is a whole id, else the
/// one id the node knows that starts with it.
pub async fn resolve_entry(client: &reqwest::Client, node: &str, text: &str) -> Result<EntryId> {
    if let Ok(id) = text.parse::<EntryId>() {
        return Ok(id);
    }
    // Checked here first: a typo is explained without asking the node,
    // and what is sent is hex digits only (nothing to escape in the URL).
    Query::parse(text, Kind::Entry)?;
    let digits = text.trim().to_ascii_lowercase();
    let request = client.get(format!("{node}v1/search?q={digits}&kind=entry"));
    let reply: SearchReply = call(request, node).await?;
    match reply {
        SearchReply::Entry(found) => Ok(found.id),
        SearchReply::Nothing => bail!(
            "no entry id starts with {digits} at {node}: the node knows no such entry, \
             pending or confirmed on its main chain"
        ),
        SearchReply::Ambiguous { candidates, more } => {
            let mut ids: Vec<String> = candidates
                .iter()
                .filter_map(|hit| match hit {
                    SearchHit::Entry(entry) => Some(format!("  {}", entry.id)),
                    SearchHit::Block(_) => None,
                })
                .collect();
            if more {
                ids.push("  and more".into());
            }
            bail!(
                "{digits} is ambiguous at {node}: these entry ids start with it (give more \
                 digits):\n{}",
                ids.join("\n")
            )
        }
        SearchReply::Block(block) => bail!(
            "the node at {node} answered block {} to a search for entries",
            block.index
        ),
    }
}
