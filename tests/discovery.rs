//! Nodes finding each other on loopback (the multi-host version, with
//! partitions, is `tests/hosts.rs`): one `--peer` is enough, the address
//! book resists being stuffed, and a restarted node reconnects from what
//! it stored.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use common::easy_params;
use common::net::{TestNode, bind, get_json, serve, wait_for};
use jbc::consensus::Network;
use serde_json::{Value, json};

const LONG: Duration = Duration::from_secs(30);

/// The URLs of a node's peers that are up.
async fn peers_up(node: &TestNode) -> Vec<String> {
    common::peers_up_in(&get_json(&format!("{}v1/peers", node.url)).await)
}

async fn address_book(node: &TestNode) -> Vec<Value> {
    let (status, book) = node
        .as_operator(reqwest::Method::GET, "v1/addresses/book", String::new())
        .await;
    assert_eq!(status, 200, "{book}");
    book["addresses"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_nodes_each_given_one_peer_all_find_each_other() {
    let network = easy_params(1, "ten");
    let mut listeners = Vec::new();
    for _ in 0..10 {
        listeners.push(bind().await);
    }
    let urls: Vec<String> = listeners.iter().map(|(_, url)| url.clone()).collect();
    let started = Instant::now();
    let mut nodes = Vec::new();
    for (i, (listener, _)) in listeners.into_iter().enumerate() {
        // Node 0 knows nobody; every other node knows only node 0.
        let peers = if i == 0 {
            vec![]
        } else {
            vec![urls[0].clone()]
        };
        nodes.push(TestNode::start(
            listener,
            tempfile::tempdir().unwrap(),
            &network,
            |c| {
                c.peers = peers;
            },
        ));
    }
    for (i, node) in nodes.iter().enumerate() {
        let mut others: Vec<String> = urls.iter().filter(|u| **u != urls[i]).cloned().collect();
        others.sort();
        wait_for(
            "every node to be connected to all nine others",
            LONG,
            || async { peers_up(node).await == others },
        )
        .await;
    }
    let took = started.elapsed();
    eprintln!("10 nodes given one peer each: all connected to all in {took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
}

/// A jbc-looking peer whose address list is a flood: `count` addresses,
/// a new list (and a new version) every time it is asked.
async fn stuffer(network: &Network, count: usize) -> (String, Arc<AtomicU64>) {
    let asked = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&asked);
    let version = Arc::new(AtomicU64::new(0));
    let status_version = Arc::clone(&version);
    let status = json!({
        "node_id": "stuffer",
        "network": {"genesis_hash": network.genesis_hash().to_string(), "difficulty": network.difficulty().zeros(), "id": network.id().to_string()},
        "tip": {"index": 0, "hash": network.genesis_hash().to_string(), "chain_work": network.genesis_work().to_string()},
    });
    let router = Router::new()
        .route(
            "/v1/status",
            get(move || {
                let mut status = status.clone();
                status["addresses_version"] = json!(status_version.load(Ordering::SeqCst));
                async move { axum::Json(status) }
            }),
        )
        .route(
            "/v1/addresses",
            get(move || {
                let round = counter.fetch_add(1, Ordering::SeqCst);
                version.fetch_add(1, Ordering::SeqCst);
                let addresses: Vec<Value> = (0..count)
                    .map(|i| {
                        let n = round as usize * count + i;
                        json!({"url": format!("http://10.{}.{}.{}:5000/", n / 65536 % 256, n / 256 % 256, n % 256)})
                    })
                    .collect();
                async move { axum::Json(json!({"version": round, "addresses": addresses})) }
            }),
        );
    (serve(router).await, asked)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_stuffing_addresses_cannot_push_out_the_ones_that_worked() {
    let network = easy_params(1, "stuffed");
    let (la, url_a) = bind().await;
    let honest = TestNode::start(la, tempfile::tempdir().unwrap(), &network, |_| {});
    let (stuffer_url, asked) = stuffer(&network, 4000).await;
    let (ln, _) = bind().await;
    let node = TestNode::start(ln, tempfile::tempdir().unwrap(), &network, |c| {
        c.peers = vec![url_a.clone(), stuffer_url.clone()];
        c.sync_interval = Duration::from_millis(100);
    });
    wait_for("the honest peer to be tried", LONG, || async {
        address_book(&node)
            .await
            .iter()
            .any(|a| a["url"] == url_a.as_str() && a["table"] == "tried")
    })
    .await;
    // Let the stuffer be read many times over (a new list each time).
    wait_for("the stuffer to be read 10 times", LONG, || async {
        asked.load(Ordering::SeqCst) >= 10
    })
    .await;
    let book = address_book(&node).await;
    let stuffed = book
        .iter()
        .filter(|a| a["source"] == stuffer_url.as_str())
        .count();
    assert!(stuffed <= 64, "{stuffed} addresses from one source");
    assert!(book.len() <= 1024 + 256, "{} addresses", book.len());
    assert!(
        book.iter()
            .any(|a| a["url"] == url_a.as_str() && a["table"] == "tried" && a["connected"] == true),
        "the honest peer is still there"
    );
    // And the node dials none of the (unreachable) stuffed addresses
    // beyond its outbound places: its peers stay bounded.
    let peers = get_json(&format!("{}v1/peers", node.url)).await;
    assert!(peers["peers"].as_array().unwrap().len() <= 2 + 16);
    drop(honest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_reconnects_from_its_stored_peers_without_flags() {
    let network = easy_params(1, "restart");
    let (la, url_a) = bind().await;
    let (lb, url_b) = bind().await;
    let a = TestNode::start(la, tempfile::tempdir().unwrap(), &network, |_| {});
    let b = TestNode::start(lb, tempfile::tempdir().unwrap(), &network, |c| {
        c.peers = vec![url_a.clone()];
    });
    let (lc, _) = bind().await;
    let mut c = TestNode::start(lc, tempfile::tempdir().unwrap(), &network, |c| {
        c.peers = vec![url_a.clone()];
    });
    // C learns B through A.
    let mut both = vec![url_a.clone(), url_b.clone()];
    both.sort();
    wait_for("C to know A and B", LONG, || async {
        peers_up(&c).await == both
    })
    .await;
    // Give the book time to be saved, then stop C and start it again on
    // the same data directory with no peers given.
    wait_for("C's book to be saved", LONG, || async {
        let Ok(store) = jbc::store::PeerStore::open(c.dir.path()) else {
            return false;
        };
        store
            .peer_addresses()
            .map(|rows| rows.iter().filter(|r| r.tried).count() >= 2)
            .unwrap_or(false)
    })
    .await;
    c.stop().await;
    let dir = c.dir.path().to_owned();
    c.dir.disable_cleanup(true);
    let (lc, _) = bind().await;
    let restarted = TestNode::start(lc, tempfile::tempdir().unwrap(), &network, |config| {
        config.data_dir = dir.clone();
    });
    wait_for(
        "the restarted node to reconnect to A and B",
        LONG,
        || async { peers_up(&restarted).await == both },
    )
    .await;
    drop((a, b));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs the `jbc` binary (a real process) without blocking the runtime.
async fn jbc(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(common::jbc_bin())
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jbc_peers_lists_the_peers_and_the_address_book() {
    let network = easy_params(1, "jbc peers");
    let (la, url_a) = bind().await;
    let (lb, url_b) = bind().await;
    let _a = TestNode::start(la, tempfile::tempdir().unwrap(), &network, |_| {});
    let b = TestNode::start(lb, tempfile::tempdir().unwrap(), &network, |_| {});
    b.token().await;
    let data_dir = b.dir.path().to_str().unwrap().to_owned();
    let run = |args: &[&str]| {
        let mut all = vec!["--data-dir".to_owned(), data_dir.clone()];
        all.extend(args.iter().map(|a| a.to_string()));
        jbc(all)
    };
    let added = run(&["peers", "add", &url_a, "--node", &url_b]).await;
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&added.stdout).trim(),
        format!("added {url_a}")
    );
    wait_for("A to be reached", LONG, || async {
        address_book(&b)
            .await
            .iter()
            .any(|a| a["url"] == url_a.as_str() && a["table"] == "tried")
    })
    .await;
    let listed = run(&["peers", "--node", &url_b]).await;
    let text = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    assert!(text.contains(&format!("{url_a}  up, jbc")), "{text}");
    assert!(
        text.contains("address book: 1 reached (tried), 0 heard of (new)"),
        "{text}"
    );
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{url_a}  tried, last reached ")))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.ends_with(" s ago, connected, given by the operator"),
        "{line}"
    );
    let removed = run(&["peers", "remove", &url_a, "--node", &url_b]).await;
    assert!(removed.status.success());
    assert!(
        address_book(&b).await.is_empty(),
        "the operator's word: forgotten"
    );
}
