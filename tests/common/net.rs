//! Nodes in this process on real sockets (each with its own temp dir),
//! HTTP helpers that panic with the URL, waiting on a condition with a
//! deadline, and a TCP proxy that counts what crosses it.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use jbc::consensus::{Block, BlockAndBody, Network};
use jbc::node::{NodeConfig, RunError};
use serde_json::Value;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use super::chains::preload;

/// A bound listener and its URL, so nodes can know each other's URLs
/// before any of them starts.
pub async fn bind() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("address"));
    (listener, url)
}

/// Settings for tests: quick sync rounds, one mining thread.
pub fn config(dir: &Path, params: &Network) -> NodeConfig {
    let mut config = NodeConfig::new(dir.to_owned(), params.clone());
    config.sync_interval = Duration::from_millis(300);
    config.threads = 1;
    config.timeouts.request = Duration::from_secs(5);
    config
}

/// A node running in this process on a real socket, with its data in a
/// temp dir it owns.
pub struct TestNode {
    pub url: String,
    pub dir: TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), RunError>>>,
}

impl TestNode {
    /// Starts a node on `listener` with its data in `dir` (which `preload`
    /// may have filled), the settings of `config`, then `configure`.
    pub fn start(
        listener: TcpListener,
        dir: TempDir,
        params: &Network,
        configure: impl FnOnce(&mut NodeConfig),
    ) -> TestNode {
        // Node logs go to the test's captured output: shown on failure. (A
        // benchmark sets its own quieter subscriber first.)
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_max_level(tracing::Level::DEBUG)
            .try_init();
        let url = format!("http://{}/", listener.local_addr().expect("address"));
        let mut node_config = config(dir.path(), params);
        configure(&mut node_config);
        let (tx, rx) = oneshot::channel::<()>();
        let shown = url.clone();
        let task = tokio::spawn(async move {
            let outcome = jbc::node::run(listener, node_config, async move {
                let _ = rx.await;
            })
            .await;
            // Said at once: a request to a node that never started fails
            // with "connection refused", which does not say why.
            if let Err(e) = &outcome {
                eprintln!("the node at {shown} stopped: {e}");
            }
            outcome
        });
        TestNode {
            url,
            dir,
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub async fn status(&self) -> Value {
        get_json(&format!("{}v1/status", self.url)).await
    }

    /// The tip's index and hash, from `/v1/status`.
    pub async fn tip(&self) -> (u64, String) {
        let status = self.status().await;
        (
            status["tip"]["index"].as_u64().unwrap_or(0),
            status["tip"]["hash"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    }

    /// The operator's token, from the cookie file the node writes in its
    /// data directory as it starts.
    pub async fn token(&self) -> String {
        let dir = self.dir.path();
        wait_for(
            "the node's cookie file",
            Duration::from_secs(10),
            || async { jbc::node::operator::read_token(dir).is_ok() },
        )
        .await;
        jbc::node::operator::read_token(dir).expect("the node's cookie file")
    }

    /// A request as the node's operator.
    pub async fn as_operator(
        &self,
        method: reqwest::Method,
        path: &str,
        body: String,
    ) -> (u16, Value) {
        let token = self.token().await;
        operator_request(method, &format!("{}{path}", self.url), &token, body).await
    }

    pub async fn set_mining(&self, on: bool) {
        let body = serde_json::json!({ "mine": on }).to_string();
        let (status, answer) = self
            .as_operator(reqwest::Method::POST, "v1/mining", body)
            .await;
        assert_eq!(status, 200, "{answer}");
    }

    pub async fn add_peer(&self, url: &str) {
        let body = serde_json::json!({ "url": url }).to_string();
        let (status, answer) = self
            .as_operator(reqwest::Method::POST, "v1/peers", body)
            .await;
        assert!(status == 200 || status == 201, "{status}: {answer}");
    }

    /// Posts a block to `/v1/blocks`; the status code and the answer.
    /// Posts a block (with its body, if it has one).
    pub async fn post_block(&self, block: &(impl Clone + Into<BlockAndBody>)) -> (u16, Value) {
        let url = format!("{}v1/blocks", self.url);
        post_json(
            &url,
            jbc::wire::block_and_body_to_json(&block.clone().into()),
        )
        .await
    }

    /// Stops the node and waits until its store is closed.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("node task")
                .expect("node stopped cleanly");
        }
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// GET and parse JSON; panics with the URL on failure.
pub async fn get_json(url: &str) -> Value {
    let response = reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {}", chain(&e)));
    let text = response
        .text()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {}", chain(&e)));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {url}: {e}: {text}"))
}

/// Sends a request; the status code and the answer as JSON (a non-JSON
/// answer comes back as a JSON string). Panics with the URL when the
/// request cannot be made at all.
pub async fn request(method: reqwest::Method, url: &str, body: Option<Vec<u8>>) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method.clone(), url);
    if let Some(body) = body {
        request = request.body(body);
    }
    send(request, &method, url).await
}

/// An error and its causes, each after a colon: reqwest's own message
/// ("error sending request") says nothing of why.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// Sends a request; the status and the answer as JSON (or as a string).
async fn send(
    request: reqwest::RequestBuilder,
    method: &reqwest::Method,
    url: &str,
) -> (u16, Value) {
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {}", chain(&e)));
    let status = response.status().as_u16();
    let text = response
        .text()
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {}", chain(&e)));
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// A request with the operator's token.
pub async fn operator_request(
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: String,
) -> (u16, Value) {
    let request = reqwest::Client::new()
        .request(method.clone(), url)
        .bearer_auth(token)
        .body(body);
    send(request, &method, url).await
}

/// POST `body`; the status code and the answer as JSON.
pub async fn post_json(url: &str, body: impl Into<Vec<u8>>) -> (u16, Value) {
    request(reqwest::Method::POST, url, Some(body.into())).await
}

/// GET and return the raw body; panics with the URL on failure.
pub async fn get_bytes(url: &str) -> Vec<u8> {
    let response = reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {}", chain(&e)));
    let body = response
        .bytes()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {}", chain(&e)));
    body.to_vec()
}

/// Waits for `condition` to hold, checking every 2 ms, up to `limit`.
pub async fn wait_for<F, Fut>(what: &str, limit: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if condition().await {
            return;
        }
        if Instant::now() > deadline {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// What crossed a `counting_proxy`.
#[derive(Clone, Default)]
pub struct Counts {
    requests: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
}

impl Counts {
    /// HTTP requests sent through the proxy.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    /// Bytes in both directions, headers included.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::SeqCst)
    }
}

/// A TCP proxy in front of `upstream` (host:port) that counts HTTP
/// requests and bytes in both directions. Returns its base URL.
pub async fn counting_proxy(upstream: String) -> (String, Counts) {
    let (listener, url) = bind().await;
    let counts = Counts::default();
    let shared = counts.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let counts = shared.clone();
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                let (mut client_read, mut client_write) = client.split();
                let (mut server_read, mut server_write) = server.split();
                let up = copy_counting(&mut client_read, &mut server_write, &counts, true);
                let down = copy_counting(&mut server_read, &mut client_write, &counts, false);
                tokio::join!(up, down);
            });
        }
    });
    (url, counts)
}

async fn copy_counting(
    from: &mut tokio::net::tcp::ReadHalf<'_>,
    to: &mut tokio::net::tcp::WriteHalf<'_>,
    counts: &Counts,
    requests: bool,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        counts.bytes.fetch_add(n as u64, Ordering::SeqCst);
        if requests {
            // A request line ends with the protocol version.
            let text = String::from_utf8_lossy(&buf[..n]);
            let lines = text.matches(" HTTP/1.1\r\n").count() as u64;
            counts.requests.fetch_add(lines, Ordering::SeqCst);
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// A running node holding `chain` (on an easy network of its own).
pub struct Fixture {
    pub node: TestNode,
    pub params: Network,
    pub chain: Vec<Block>,
}

/// Starts a node whose store holds `len` blocks on a fresh easy network.
pub async fn node_with_chain(len: u64, label: &str) -> Fixture {
    let params = super::easy_params(1, label);
    let chain = super::blocks_on(&params, params.genesis(), len, label);
    let dir = tempfile::tempdir().unwrap();
    preload(dir.path(), &params, &chain);
    let (listener, _) = bind().await;
    let node = TestNode::start(listener, dir, &params, |_| {});
    Fixture {
        node,
        params,
        chain,
    }
}

/// Seconds a fresh node (in this process, node start included) takes to
/// sync `chain` from one peer that holds it.
pub async fn fresh_sync_seconds(network: &Network, chain: &[Block]) -> f64 {
    let dir_a = tempfile::tempdir().expect("temp dir");
    preload(dir_a.path(), network, chain);
    let (la, url_a) = bind().await;
    let never = Duration::from_secs(3600);
    let _a = TestNode::start(la, dir_a, network, |c| c.sync_interval = never);
    let want = (
        chain.len() as u64,
        chain.last().map(|b| b.hash.to_string()).unwrap_or_default(),
    );
    let (lb, _) = bind().await;
    let started = std::time::Instant::now();
    let b = TestNode::start(lb, tempfile::tempdir().expect("temp dir"), network, |c| {
        c.peers = vec![url_a.clone()];
        c.sync_interval = never;
    });
    wait_for(
        "the fresh node to sync",
        Duration::from_secs(600),
        || async { b.tip().await == want },
    )
    .await;
    started.elapsed().as_secs_f64()
}

/// Serves `router` on a free loopback port in the background; its base URL.
pub async fn serve(router: axum::Router) -> String {
    let (listener, url) = bind().await;
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    url
}

/// `count` nodes in a line, each peered with the next only (discovery
/// off, so the line stays a line), the last one answering.
pub async fn line_of_nodes(network: &Network, count: usize) -> Vec<TestNode> {
    let mut listeners = Vec::new();
    for _ in 0..count {
        listeners.push(bind().await);
    }
    let urls: Vec<String> = listeners.iter().map(|(_, u)| u.clone()).collect();
    let mut nodes = Vec::new();
    for (i, (listener, _)) in listeners.into_iter().enumerate() {
        let next = urls.get(i + 1).cloned();
        let dir = tempfile::tempdir().expect("temp dir");
        nodes.push(TestNode::start(listener, dir, network, |c| {
            c.peers = next.into_iter().collect();
            c.sync_interval = Duration::from_secs(3600);
            c.discover = false;
        }));
    }
    let last = &urls[count - 1];
    wait_for("the line of nodes", Duration::from_secs(30), || async {
        reqwest::get(format!("{last}v1/status")).await.is_ok()
    })
    .await;
    nodes
}

/// Every event a node's `/v1/events` stream sends, as JSON, with the
/// moment it was read; until the stream ends or the receiver is dropped.
pub async fn events(
    url: &str,
) -> reqwest::Result<tokio::sync::mpsc::UnboundedReceiver<(Value, Instant)>> {
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    let mut stream = reqwest::get(format!("{url}v1/events")).await?;
    tokio::spawn(async move {
        let mut pending = String::new();
        while let Ok(Some(chunk)) = stream.chunk().await {
            pending.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = pending.find("\n\n") {
                let event: String = pending.drain(..end + 2).collect();
                let now = Instant::now();
                for data in event.lines().filter_map(|l| l.strip_prefix("data:")) {
                    if let Ok(value) = serde_json::from_str(data.trim())
                        && sender.send((value, now)).is_err()
                    {
                        return;
                    }
                }
            }
        }
    });
    Ok(receiver)
}
