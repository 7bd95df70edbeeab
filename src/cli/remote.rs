//! Talking to a running node: its URL, one request at a time with an
//! answer read as one of `protocol`'s types (or its error said plainly),
//! and the operator's token for the routes that need it.

use anyhow::{Context, Result, bail};
use serde::de::DeserializeOwned;

use jbc::node::protocol::ErrorReply;

/// The node `jbc` commands talk to by default.
pub const LOCAL_NODE: &str = "http://127.0.0.1:5000/";

/// A node's base URL, with the trailing slash the routes are joined to.
pub fn base_url(node: &str) -> Result<String> {
    jbc::node::normalize_url(node).context("--node")
}

/// Sends a request to a node and reads its answer as `T` (or its error).
pub async fn call<T: DeserializeOwned>(request: reqwest::RequestBuilder, node: &str) -> Result<T> {
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
            .map(|e| e.error)
            .unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned());
        bail!("the node at {node} answered {status}: {message}");
    }
    serde_json::from_slice(&body)
        .with_context(|| format!("the node at {node} answered something that is not jbc's"))
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
