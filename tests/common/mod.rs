//! Helpers shared by the integration tests: easy networks, chains of
//! blocks, the seed vectors, and the `jbc` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use jbc::consensus::{Block, Difficulty, Height, Params, Timestamp};
use jbc::miner::{self, Job};

/// The spec's five seed blocks (0, 1, 2, 3, 3b), read from the fixture.
pub fn seed_blocks() -> Vec<Block> {
    let text = std::fs::read(fixture("seed_vectors.json")).expect("fixture");
    jbc::wire::chain_from_slice(&text).expect("seed vectors parse")
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A network at `zeros` difficulty with a genesis mined for it.
pub fn easy_params(zeros: u64, label: &str) -> Params {
    let difficulty = Difficulty::new(zeros).unwrap();
    let genesis = miner::mine_here(&Job {
        index: Height(0),
        prev_hash: None,
        data: format!("genesis of {label}"),
        timestamp: Timestamp(1_600_000_000),
        target: difficulty.target(),
    })
    .unwrap();
    Params::new(genesis, difficulty).unwrap()
}

/// `count` blocks on top of `parent`, with data naming `branch`.
pub fn blocks_on(params: &Params, parent: &Block, count: u64, branch: &str) -> Vec<Block> {
    let branch = branch.to_owned();
    miner::mine_chain_here(
        parent,
        count,
        params.target(),
        Timestamp(1_600_000_001),
        move |index| format!("{branch} #{index}"),
    )
    .unwrap()
}

/// The path of the built `jbc` binary.
pub fn jbc_bin() -> &'static str {
    env!("CARGO_BIN_EXE_jbc")
}

/// Running nodes in-process over real sockets, and a counting proxy.
pub mod net {
    use std::future::Future;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    use jbc::chain::ChainState;
    use jbc::consensus::{Block, Params};
    use jbc::node::{NodeConfig, RunError};
    use jbc::store::Durability;
    use serde_json::Value;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;
    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;

    pub struct TestNode {
        pub url: String,
        pub dir: tempfile::TempDir,
        stop: Option<oneshot::Sender<()>>,
        task: Option<JoinHandle<Result<(), RunError>>>,
    }

    /// A bound listener and its URL, so nodes can know each other's URLs
    /// before any of them starts.
    pub async fn bind() -> (TcpListener, String) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        (listener, url)
    }

    /// Settings for tests: quick sync rounds, short timeouts.
    pub fn config(dir: &std::path::Path, params: &Params) -> NodeConfig {
        let mut config = NodeConfig::new(dir.to_owned(), params.clone());
        config.sync_interval = Duration::from_millis(300);
        config.threads = 1;
        config.timeouts.request = Duration::from_secs(5);
        config
    }

    /// Puts `blocks` into the store of `dir` before a node opens it.
    pub fn preload(dir: &std::path::Path, params: &Params, blocks: &[Block]) {
        let mut chain = ChainState::open(dir, params.clone()).unwrap();
        for batch in blocks.chunks(2000) {
            let outcome = chain.add_blocks(batch.iter().cloned(), Durability::Bulk);
            assert!(outcome.error.is_none(), "{:?}", outcome.error);
        }
    }

    impl TestNode {
        /// Starts a node on `listener` with its data in `dir` (which
        /// `preload` may have filled), test settings, then `configure`.
        pub fn start(
            listener: TcpListener,
            dir: tempfile::TempDir,
            params: &Params,
            configure: impl FnOnce(&mut NodeConfig),
        ) -> TestNode {
            // Node logs go to the test's captured output: shown on failure.
            let _ = tracing_subscriber::fmt()
                .with_test_writer()
                .with_max_level(tracing::Level::DEBUG)
                .try_init();
            let mut config = config(dir.path(), params);
            configure(&mut config);
            let url = format!("http://{}/", listener.local_addr().unwrap());
            let (tx, rx) = oneshot::channel::<()>();
            let task = tokio::spawn(jbc::node::run(listener, config, async move {
                let _ = rx.await;
            }));
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

        pub async fn tip(&self) -> (u64, String) {
            let status = self.status().await;
            (
                status["tip"]["index"].as_u64().unwrap(),
                status["tip"]["hash"].as_str().unwrap().to_owned(),
            )
        }

        pub async fn set_mining(&self, on: bool) {
            let response = reqwest::Client::new()
                .post(format!("{}v1/mining", self.url))
                .body(format!("{{\"mine\": {on}}}"))
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success());
        }

        pub async fn add_peer(&self, url: &str) {
            let response = reqwest::Client::new()
                .post(format!("{}v1/peers", self.url))
                .body(serde_json::json!({ "url": url }).to_string())
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success(), "{}", response.status());
        }

        /// Stops the node and waits until its store is closed.
        pub async fn stop(&mut self) {
            if let Some(stop) = self.stop.take() {
                let _ = stop.send(());
            }
            if let Some(task) = self.task.take() {
                task.await.unwrap().unwrap();
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

    pub async fn get_json(url: &str) -> Value {
        let response = reqwest::get(url)
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        serde_json::from_str(&response.text().await.unwrap()).unwrap()
    }

    /// Waits for `condition` to hold, checking every 20 ms, up to `limit`.
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
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A TCP proxy in front of `upstream` that counts HTTP requests and
    /// bytes in both directions.
    #[derive(Clone, Default)]
    pub struct Counts {
        pub requests: Arc<AtomicU64>,
        pub bytes: Arc<AtomicU64>,
    }

    impl Counts {
        pub fn requests(&self) -> u64 {
            self.requests.load(Ordering::SeqCst)
        }
        pub fn bytes(&self) -> u64 {
            self.bytes.load(Ordering::SeqCst)
        }
    }

    pub async fn counting_proxy(upstream: String) -> (String, Counts) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
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
                    let (mut cr, mut cw) = client.split();
                    let (mut sr, mut sw) = server.split();
                    let up = async {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let n = match cr.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            counts.bytes.fetch_add(n as u64, Ordering::SeqCst);
                            let text = String::from_utf8_lossy(&buf[..n]);
                            counts.requests.fetch_add(
                                text.matches(" HTTP/1.1\r\n").count() as u64,
                                Ordering::SeqCst,
                            );
                            if sw.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                        let _ = sw.shutdown().await;
                    };
                    let down = async {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let n = match sr.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            counts.bytes.fetch_add(n as u64, Ordering::SeqCst);
                            if cw.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                        let _ = cw.shutdown().await;
                    };
                    tokio::join!(up, down);
                });
            }
        });
        (url, counts)
    }
}
