//! The hostile side of the attack tests and of `cargo bench --bench
//! attack`: connections from a chosen loopback address, and fake peers
//! that never stop sending, claim work they do not send, or drip.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use jbc::consensus::Network;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use super::net::serve;

/// Lets this process open as many sockets as its hard limit allows.
pub fn raise_own_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// A TCP connection from a chosen loopback address (127.0.0.N).
pub async fn connect_from(source: u8, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, source)),
        0,
    ))?;
    socket.connect(to).await
}

/// `GET /v1/status` from 127.0.0.N; how long it took, or what went wrong.
pub async fn status_from(source: u8, to: SocketAddr) -> Result<Duration, String> {
    let started = Instant::now();
    let mut stream = connect_from(source, to).await.map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .await
        .map_err(|e| e.to_string())?;
    if !answer.starts_with(b"HTTP/1.1 200") {
        return Err(String::from_utf8_lossy(&answer[..answer.len().min(200)]).into_owned());
    }
    Ok(started.elapsed())
}

/// A fake original node whose `/blockchain.json` starts with the
/// network's genesis and then never ends: blocks with a wrong hash, a
/// megabyte after a megabyte. Counts what it managed to send.
pub async fn endless_original(network: &Network) -> (String, Arc<AtomicU64>) {
    let sent = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&sent);
    let genesis = jbc::wire::block_to_json(network.genesis());
    let mut bad = network.genesis().clone();
    bad.index.0 = 1;
    bad.prev_hash = Some(network.genesis_hash());
    let bad = jbc::wire::block_to_json(&bad);
    let router = Router::new().route(
        "/blockchain.json",
        get(move || {
            let counter = Arc::clone(&counter);
            let (genesis, bad) = (genesis.clone(), bad.clone());
            async move {
                let first = [b"[".as_slice(), &genesis].concat();
                let mut piece = Vec::new();
                while piece.len() < 1024 * 1024 {
                    piece.extend_from_slice(b", ");
                    piece.extend_from_slice(&bad);
                }
                let stream = futures_util::stream::unfold(Some(first), move |next| {
                    let counter = Arc::clone(&counter);
                    let piece = piece.clone();
                    async move {
                        let chunk = next.unwrap_or(piece);
                        counter.fetch_add(chunk.len() as u64, Ordering::SeqCst);
                        Some((Ok::<_, std::io::Error>(chunk), None))
                    }
                });
                Body::from_stream(stream)
            }
        }),
    );
    (serve(router).await, sent)
}

/// A fake jbc peer: its status claims far more work than anyone; its
/// `/v1/sync` sends nothing. Counts the status requests.
pub async fn claims_and_sends_nothing(network: &Network) -> (String, Arc<AtomicU64>) {
    let asked = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&asked);
    let status = json!({
        "node_id": "claimer",
        "network": {"genesis_hash": network.genesis_hash().to_string(), "difficulty": network.difficulty().zeros()},
        "tip": {"index": 1000, "hash": "ab".repeat(32), "chain_work": network.genesis_work().times(1001).to_string()},
    });
    let reply = json!({"tip": status["tip"], "fork_index": 0, "blocks": []});
    let router = Router::new()
        .route(
            "/v1/status",
            get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                let status = status.clone();
                async move { axum::Json(status) }
            }),
        )
        .route("/v1/sync", get(move || async move { axum::Json(reply) }));
    (serve(router).await, asked)
}

/// A peer that answers its status a byte a second.
pub async fn dripping_peer() -> String {
    let router = Router::new().route(
        "/v1/status",
        get(|| async {
            let stream = futures_util::stream::unfold((), |()| async {
                tokio::time::sleep(Duration::from_secs(1)).await;
                Some((Ok::<_, std::io::Error>(vec![b' ']), ()))
            });
            Body::from_stream(stream)
        }),
    );
    serve(router).await
}
