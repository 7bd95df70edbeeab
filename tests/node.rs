//! Nodes over real HTTP on ephemeral ports, each with its own temp dir:
//! sync, relay, fork choice across nodes, hostile and silent peers, and
//! the original protocol (and what relaying to an original counts).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::routing::{get, post};
use common::net::{
    TestNode, bind, counting_proxy, get_bytes, get_json, post_json, preload, serve, wait_for,
};
use common::{blocks_on, easy_params};
use jbc::chain::ChainState;
use jbc::consensus::{Block, BlockHash, Network};
use serde_json::{Value, json};

const LONG: Duration = Duration::from_secs(30);
const NEVER: Duration = Duration::from_secs(3600);

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn block_json(block: &Block) -> Vec<u8> {
    jbc::wire::block_to_json(block)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_node_syncs_a_1000_block_chain() {
    let params = easy_params(1, "sync 1000");
    let chain = blocks_on(&params, params.genesis(), 1000, "long");
    let dir_a = tempdir();
    preload(dir_a.path(), &params, &chain);
    let (la, url_a) = bind().await;
    let a = TestNode::start(la, dir_a, &params, |_| {});
    let (lb, _) = bind().await;
    let b = TestNode::start(lb, tempdir(), &params, |c| c.peers = vec![url_a.clone()]);
    let want = (1000, chain[999].hash.to_string());
    wait_for("b to reach a's tip", LONG, || async {
        b.tip().await == want
    })
    .await;
    assert_eq!(a.tip().await, want);
    // The whole chain is there, not just the tip.
    let served = get_bytes(&format!("{}blockchain.json", b.url)).await;
    let blocks = jbc::wire::chain_from_slice(&served).unwrap();
    assert_eq!(blocks.len(), 1001);
    assert_eq!(&blocks[1..], &chain[..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_block_behind_costs_two_small_requests() {
    let params = easy_params(1, "one behind");
    let chain = blocks_on(&params, params.genesis(), 101, "main");
    let (dir_a, dir_b) = (tempdir(), tempdir());
    preload(dir_a.path(), &params, &chain);
    preload(dir_b.path(), &params, &chain[..100]);
    let (la, url_a) = bind().await;
    // Discovery off: this measures sync alone (otherwise A, told of the
    // proxy by B's list, would dial it once and find itself there).
    let _a = TestNode::start(la, dir_a, &params, |c| {
        c.sync_interval = NEVER;
        c.discover = false;
    });
    let upstream = url_a
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let (proxy_url, counts) = counting_proxy(upstream).await;
    let (lb, _) = bind().await;
    let b = TestNode::start(lb, dir_b, &params, |c| {
        c.peers = vec![proxy_url.clone()];
        c.sync_interval = NEVER; // only the startup round
        c.discover = false;
    });
    let want = (101, chain[100].hash.to_string());
    wait_for("b to catch up", LONG, || async { b.tip().await == want }).await;
    // Two for the sync; a third is the announcements b listens to.
    assert!(counts.requests() <= 3, "{} requests", counts.requests());
    assert!(
        counts.bytes() <= 4096,
        "{} bytes on the wire",
        counts.bytes()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_that_mined_apart_agree_on_the_most_work_and_keep_the_loser() {
    let params = easy_params(4, "apart");
    let (la, url_a) = bind().await;
    let (lb, url_b) = bind().await;
    let a = TestNode::start(la, tempdir(), &params, |c| c.mine = true);
    let b = TestNode::start(lb, tempdir(), &params, |c| c.mine = true);
    wait_for("a to mine 5 blocks", LONG, || async {
        a.tip().await.0 >= 5
    })
    .await;
    a.set_mining(false).await;
    let a_mined = a.tip().await.0;
    // b mines on: two blocks beyond a's count (one spare for a block a may
    // still have found while being told to stop).
    wait_for("b to pass a", LONG, || async {
        b.tip().await.0 >= a_mined + 3
    })
    .await;
    b.set_mining(false).await;
    let (a_index, a_hash) = a.tip().await;
    let b_tip = b.tip().await;
    assert!(b_tip.0 > a_index);

    a.add_peer(&url_b).await;
    b.add_peer(&url_a).await;
    wait_for("both on b's tip", LONG, || async {
        a.tip().await == b_tip && b.tip().await == b_tip
    })
    .await;
    // a's own blocks are still stored, on a side branch.
    let old = get_json(&format!("{}v1/blocks/{a_hash}", a.url)).await;
    assert_eq!(old["main_chain"], json!(false), "{old}");
    assert_eq!(old["block"]["index"], json!(a_index.to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_reaches_c_through_b() {
    let params = easy_params(1, "relay");
    let (la, _) = bind().await;
    let (lb, url_b) = bind().await;
    let (lc, url_c) = bind().await;
    let c = TestNode::start(lc, tempdir(), &params, |c| c.sync_interval = NEVER);
    let _b = TestNode::start(lb, tempdir(), &params, |c| {
        c.peers = vec![url_c.clone()];
        c.sync_interval = NEVER;
    });
    let a = TestNode::start(la, tempdir(), &params, |c| {
        c.peers = vec![url_b.clone()];
        c.sync_interval = NEVER;
    });
    let block = blocks_on(&params, params.genesis(), 1, "from a").remove(0);
    let (status, answer) = post_json(&format!("{}v1/blocks", a.url), block_json(&block)).await;
    assert_eq!(status, 201, "{answer}");
    let want = (1, block.hash.to_string());
    wait_for("the block to reach c", LONG, || async {
        c.tip().await == want
    })
    .await;
}

/// B dials A; A dials nobody, so relay never pushes anything to B, and
/// B's sync rounds are an hour apart: B hears of A's new block only from
/// the announcements it listens to on the link it opened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_in_nobodys_list_hears_of_a_block_from_the_peer_it_dialled() {
    let params = easy_params(1, "news both ways");
    let (la, url_a) = bind().await;
    let (lb, _) = bind().await;
    let a = TestNode::start(la, tempdir(), &params, |c| {
        c.sync_interval = NEVER;
        c.discover = false;
    });
    let b = TestNode::start(lb, tempdir(), &params, |c| {
        c.peers = vec![url_a.clone()];
        c.sync_interval = NEVER;
        c.discover = false;
    });
    wait_for("b's first sync with a", LONG, || async {
        let peers = get_json(&format!("{}v1/peers", b.url)).await;
        common::peers_up_in(&peers).contains(&url_a)
    })
    .await;
    let chain = blocks_on(&params, params.genesis(), 2, "from a");
    for block in &chain {
        let (status, answer) = post_json(&format!("{}v1/blocks", a.url), block_json(block)).await;
        assert_eq!(status, 201, "{answer}");
        let want = (block.index.0, block.hash.to_string());
        wait_for("the block to reach b", LONG, || async {
            b.tip().await == want
        })
        .await;
    }
    let peers = get_json(&format!("{}v1/peers", a.url)).await;
    assert!(
        common::peers_up_in(&peers).is_empty(),
        "a dials nobody: {peers}"
    );
}

/// A peer that announces a block and never delivers it: the block comes
/// from another peer that announced it too, once the first one's claim on
/// the fetch lapses. C's sync rounds are an hour apart, so nothing but the
/// announcements can bring it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_announced_and_never_sent_is_fetched_from_another_announcer() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let params = easy_params(1, "announced, never sent");
    let block = blocks_on(&params, params.genesis(), 1, "real").remove(0);
    // The liar: its status always fails; its announcements say what the
    // test tells it to.
    let (say, said) = tokio::sync::watch::channel(String::new());
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&asked);
    let liar = Router::new()
        .route(
            "/v1/status",
            get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async { (axum::http::StatusCode::SERVICE_UNAVAILABLE, "busy") }
            }),
        )
        .route(
            "/v1/events",
            get(move || {
                let said = said.clone();
                async move {
                    let stream = futures_util::stream::unfold(said, |mut said| async move {
                        said.changed().await.ok()?;
                        let text = said.borrow_and_update().clone();
                        Some((Ok::<_, std::convert::Infallible>(Bytes::from(text)), said))
                    });
                    axum::body::Body::from_stream(stream)
                }
            }),
        );
    let liar_url = serve(liar).await;
    let (lh, url_h) = bind().await;
    let (lc, _) = bind().await;
    let honest = TestNode::start(lh, tempdir(), &params, |c| {
        c.sync_interval = NEVER;
        c.discover = false;
    });
    let c = TestNode::start(lc, tempdir(), &params, |c| {
        c.peers = vec![liar_url.clone(), url_h.clone()];
        c.sync_interval = NEVER;
        c.discover = false;
    });
    wait_for("c's first sync with the honest peer", LONG, || async {
        let peers = get_json(&format!("{}v1/peers", c.url)).await;
        common::peers_up_in(&peers).contains(&url_h)
    })
    .await;
    // The liar announces the block first, with more work than anyone has;
    // c claims the fetch from it, and asks its status again.
    let before = asked.load(Ordering::SeqCst);
    let announcement = format!(
        "data: {{\"type\":\"tip\",\"index\":1,\"hash\":\"{}\",\"chain_work\":\"999999999999\",\"fork_index\":0,\"disconnected\":0,\"connected\":1}}\n\n",
        block.hash
    );
    wait_for("c to act on the liar's announcement", LONG, || {
        let _ = say.send(announcement.clone());
        async { asked.load(Ordering::SeqCst) > before }
    })
    .await;
    // Once more, so that the liar's claim is fresh (it lapses after 2 s)
    // when the honest peer announces the block.
    let _ = say.send(announcement.clone());
    let (status, answer) = post_json(&format!("{}v1/blocks", honest.url), block_json(&block)).await;
    assert_eq!(status, 201, "{answer}");
    let want = (1, block.hash.to_string());
    wait_for(
        "the block to reach c from the honest peer",
        LONG,
        || async { c.tip().await == want },
    )
    .await;
}

/// A peer whose announcements a node hears is polled four times less
/// often: its blocks arrive through the announcements, and polling was
/// where an idle network's time went.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_heard_through_its_announcements_is_polled_less() {
    let params = easy_params(1, "quiet polls");
    let (la, url_a) = bind().await;
    let a = TestNode::start(la, tempdir(), &params, |c| c.discover = false);
    let (lb, _) = bind().await;
    let b = TestNode::start(lb, tempdir(), &params, |c| {
        c.peers = vec![url_a.clone()];
        c.discover = false;
    });
    let served = |route: &'static str| {
        let url = a.url.clone();
        async move {
            let text = String::from_utf8(get_bytes(&format!("{url}metrics")).await).unwrap();
            let series = format!("jbc_http_requests_total{{route=\"{route}\",status=\"200\"}} ");
            text.lines()
                .find_map(|l| l.strip_prefix(series.as_str())?.parse::<u64>().ok())
                .unwrap_or(0)
        }
    };
    // b listens: a block posted to a reaches it by announcement.
    wait_for("b to listen to a", LONG, || async {
        served("/v1/events").await >= 1
    })
    .await;
    let block = blocks_on(&params, params.genesis(), 1, "heard").remove(0);
    assert_eq!(a.post_block(&block).await.0, 201);
    let want = (1, block.hash.to_string());
    wait_for("the block at b", LONG, || async { b.tip().await == want }).await;
    // Over 20 sync intervals (300 ms each), b asks a's status about 5
    // times, not 20. A busy machine only makes it fewer.
    let before = served("/v1/status").await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let polls = served("/v1/status").await - before;
    assert!(polls <= 10, "b polled a {polls} times in 6 s");
}

/// `/v1/events?only=tip` starts with the tip as it is, carries only tip
/// events, and refuses a type it does not know.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_announcements_start_with_the_tip_and_carry_only_tips() {
    let params = easy_params(1, "announcements");
    let (la, _) = bind().await;
    let a = TestNode::start(la, tempdir(), &params, |c| {
        c.sync_interval = NEVER;
        c.discover = false;
    });
    let refused = reqwest::get(format!("{}v1/events?only=tip,weather", a.url))
        .await
        .expect("an answer");
    assert_eq!(refused.status(), 400);
    let text = refused.text().await.unwrap_or_default();
    assert!(text.contains("weather"), "{text}");
    let mut stream = reqwest::get(format!("{}v1/events?only=tip", a.url))
        .await
        .expect("a stream");
    let mut seen = String::new();
    let mut next_event = async || -> Value {
        loop {
            if let Some(end) = seen.find("\n\n") {
                let event: String = seen.drain(..end + 2).collect();
                if let Some(data) = event.lines().find_map(|l| l.strip_prefix("data:")) {
                    return serde_json::from_str(data.trim()).expect("JSON");
                }
                continue;
            }
            let chunk = tokio::time::timeout(LONG, stream.chunk())
                .await
                .expect("an event in time")
                .expect("the stream")
                .expect("not the end");
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    };
    let first = next_event().await;
    assert_eq!(first["type"], json!("tip"), "{first}");
    assert_eq!(first["hash"], json!(params.genesis_hash().to_string()));
    let block = blocks_on(&params, params.genesis(), 1, "a").remove(0);
    let (status, _) = post_json(&format!("{}v1/blocks", a.url), block_json(&block)).await;
    assert_eq!(status, 201);
    // The block event comes first on the unfiltered stream; here only the tip.
    let next = next_event().await;
    assert_eq!(next["type"], json!("tip"), "{next}");
    assert_eq!(next["hash"], json!(block.hash.to_string()));
}

/// A fake jbc peer claiming more work and serving a chain with a tampered
/// block.
async fn lying_peer(params: &Network) -> String {
    let mut chain = blocks_on(params, params.genesis(), 50, "lies");
    chain[9].data = "tampered".into();
    let status = json!({
        "node_id": "liar",
        "network": {"genesis_hash": params.genesis_hash().to_string(), "difficulty": params.difficulty().zeros()},
        "tip": {"index": 50, "hash": chain[49].hash.to_string(), "chain_work": params.genesis_work().times(5000).to_string()},
    });
    let blocks: Vec<Value> = chain.iter().map(jbc::wire::block_to_value).collect();
    let reply = json!({"tip": status["tip"], "fork_index": 0, "blocks": blocks});
    serve(
        Router::new()
            .route("/v1/status", get(move || async move { axum::Json(status) }))
            .route("/v1/sync", get(move || async move { axum::Json(reply) })),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_serving_an_invalid_chain_is_ignored() {
    let params = easy_params(1, "liar");
    let liar = lying_peer(&params).await;
    let honest_chain = blocks_on(&params, params.genesis(), 100, "honest");
    let dir_h = tempdir();
    preload(dir_h.path(), &params, &honest_chain);
    let (lh, url_h) = bind().await;
    let _honest = TestNode::start(lh, dir_h, &params, |_| {});
    let (ln, _) = bind().await;
    let node = TestNode::start(ln, tempdir(), &params, |c| {
        c.peers = vec![liar.clone(), url_h.clone()]
    });
    let want = (100, honest_chain[99].hash.to_string());
    wait_for("the honest chain", LONG, || async {
        node.tip().await == want
    })
    .await;
    // Each peer has its own sync loop: the liar's may still be checking
    // its blocks when the honest chain is in (it was, on a busy machine).
    let liar_entry = || async {
        let peers = get_json(&format!("{}v1/peers", node.url)).await;
        peers["peers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["url"] == json!(liar))
            .unwrap()
            .clone()
    };
    wait_for("the liar to be ignored", LONG, || async {
        liar_entry().await["state"] == json!("ignored")
    })
    .await;
    let liar_entry = liar_entry().await;
    assert!(
        liar_entry["ignored_reason"]
            .as_str()
            .unwrap()
            .contains("invalid"),
        "{liar_entry}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_peer_does_not_delay_sync_with_the_others() {
    let params = easy_params(1, "silent");
    // Accepts connections, never answers.
    let (silent, silent_url) = bind().await;
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&held);
    tokio::spawn(async move {
        while let Ok((socket, _)) = silent.accept().await {
            keep.lock().unwrap().push(socket);
        }
    });
    let chain = blocks_on(&params, params.genesis(), 200, "honest");
    let dir_h = tempdir();
    preload(dir_h.path(), &params, &chain);
    let (lh, url_h) = bind().await;
    let _honest = TestNode::start(lh, dir_h, &params, |_| {});
    let (ln, _) = bind().await;
    let node = TestNode::start(ln, tempdir(), &params, |c| {
        c.peers = vec![silent_url.clone(), url_h.clone()];
        c.timeouts.request = Duration::from_secs(20);
    });
    let want = (200, chain[199].hash.to_string());
    // Well inside the 20 s the silent peer could hold a request.
    wait_for(
        "sync from the honest peer",
        Duration::from_secs(8),
        || async { node.tip().await == want },
    )
    .await;
    assert!(
        !held.lock().unwrap().is_empty(),
        "the silent peer was never even asked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_that_links_to_nothing_never_replaces_a_block() {
    let params = easy_params(2, "overwrite");
    let chain = blocks_on(&params, params.genesis(), 5, "main");
    let dir = tempdir();
    preload(dir.path(), &params, &chain);
    let (l, _) = bind().await;
    let node = TestNode::start(l, dir, &params, |_| {});
    let before = get_bytes(&format!("{}blockchain.json", node.url)).await;
    // Valid proof of work at index 3, but its parent is nobody we know.
    let stray_parent = Block {
        hash: BlockHash::from_bytes([0x42; 32]),
        ..chain[1].clone()
    };
    let stray = blocks_on(&params, &stray_parent, 1, "stray").remove(0);
    assert_eq!(stray.index.0, 3);
    let (status, answer) = post_json(
        &format!("{}mined", node.url),
        jbc::wire::block_to_json_numbers(&stray),
    )
    .await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["received"], json!(false));
    let after = get_bytes(&format!("{}blockchain.json", node.url)).await;
    assert_eq!(before, after);
    assert_eq!(node.tip().await, (5, chain[4].hash.to_string()));
}

/// A stand-in for an original Python node: only `/blockchain.json` and
/// `/mined`, string values, and a record of what it was sent.
async fn original_peer(chain: Vec<Block>) -> (String, Arc<Mutex<Vec<Value>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&received);
    let body = jbc::wire::chain_to_json(&chain);
    let url = serve(
        Router::new()
            .route("/blockchain.json", get(move || async move { body.clone() }))
            .route(
                "/mined",
                post(move |bytes: Bytes| async move {
                    if let Ok(value) = serde_json::from_slice::<Value>(&bytes) {
                        record.lock().unwrap().push(value);
                    }
                    axum::Json(json!({"received": true}))
                }),
            ),
    )
    .await;
    (url, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_original_peer_is_synced_from_and_sent_our_mined_blocks() {
    let params = easy_params(4, "interop");
    let chain: Vec<Block> = std::iter::once(params.genesis().clone())
        .chain(blocks_on(&params, params.genesis(), 10, "original"))
        .collect();
    // The original's files have string values; check the stand-in's are.
    assert!(
        String::from_utf8(jbc::wire::chain_to_json(&chain))
            .unwrap()
            .contains("\"index\": \"10\"")
    );
    let (url, received) = original_peer(chain.clone()).await;
    let (l, _) = bind().await;
    let node = TestNode::start(l, tempdir(), &params, |c| c.peers = vec![url.clone()]);
    let want = (10, chain[10].hash.to_string());
    wait_for("the original's chain", LONG, || async {
        node.tip().await == want
    })
    .await;
    let peers = get_json(&format!("{}v1/peers", node.url)).await;
    assert_eq!(peers["peers"][0]["kind"], json!("original"), "{peers}");

    node.set_mining(true).await;
    wait_for("a mined block at the original", LONG, || async {
        !received.lock().unwrap().is_empty()
    })
    .await;
    node.set_mining(false).await;
    // The relay counters: one send per block, counted as the body an
    // original miner sends (numbers), byte for byte.
    wait_for(
        "the relay counters to match what the original got",
        LONG,
        || async {
            let metrics =
                String::from_utf8(get_bytes(&format!("{}metrics", node.url)).await).unwrap();
            let got = received.lock().unwrap().clone();
            let bytes: usize = got
                .iter()
                .map(|value| {
                    let block = jbc::wire::block_from_value(value).unwrap();
                    jbc::wire::block_to_json_numbers(&block).len()
                })
                .sum();
            metrics.contains(&format!(
                "jbc_relay_sent_total{{kind=\"block\"}} {}\n",
                got.len()
            )) && metrics.contains(&format!(
                "jbc_relay_sent_bytes_total{{kind=\"block\"}} {bytes}\n"
            ))
        },
    )
    .await;
    let first = received.lock().unwrap()[0].clone();
    // Sent as an original miner sends: numbers for index, nonce, timestamp.
    assert!(
        first["index"].is_number() && first["nonce"].is_number() && first["timestamp"].is_number(),
        "{first}"
    );
    let block = jbc::wire::block_from_value(&first).unwrap();
    assert_eq!(block.index.0, 11);
    assert_eq!(block.prev_hash, Some(chain[10].hash));
    jbc::consensus::validate::check_block(&block, &params.easiest_target()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_mining_nodes_converge_when_mining_stops() {
    let params = easy_params(4, "three miners");
    let listeners = [bind().await, bind().await, bind().await];
    let urls: Vec<String> = listeners.iter().map(|(_, u)| u.clone()).collect();
    let mut nodes = Vec::new();
    for (i, (listener, _)) in listeners.into_iter().enumerate() {
        let peers: Vec<String> = urls
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, u)| u.clone())
            .collect();
        nodes.push(TestNode::start(listener, tempdir(), &params, |c| {
            c.peers = peers;
            c.mine = true;
        }));
    }
    for node in &nodes {
        wait_for("each node to have 20 blocks", LONG, || async {
            node.tip().await.0 >= 20
        })
        .await;
    }
    // Stop two miners, then let the third put one block on top of
    // everything, so the last block is the one most-work tip (with all
    // three stopping at once, two equal-work tips could stay split: first
    // seen wins a tie, and nothing breaks it until the next block).
    nodes[1].set_mining(false).await;
    nodes[2].set_mining(false).await;
    let highest = nodes[1].tip().await.0.max(nodes[2].tip().await.0);
    wait_for("the last miner to build on top", LONG, || async {
        nodes[0].tip().await.0 > highest
    })
    .await;
    nodes[0].set_mining(false).await;
    wait_for("all three tips equal", LONG, || async {
        let t0 = nodes[0].tip().await;
        nodes[1].tip().await == t0 && nodes[2].tip().await == t0
    })
    .await;
    let tip = nodes[0].tip().await;
    for node in &mut nodes {
        node.stop().await;
        let chain = ChainState::open(node.dir.path(), params.clone()).unwrap();
        let report = chain.verify(|_| {}).unwrap();
        assert_eq!(report.tip.hash.to_string(), tip.1);
        assert_eq!(report.blocks, tip.0 + 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_recognises_itself_behind_a_peer_url() {
    let params = easy_params(1, "myself");
    let (l, url) = bind().await;
    // 127.0.0.1 and localhost are two URLs for the same node.
    let alias = url.replace("127.0.0.1", "localhost");
    let node = TestNode::start(l, tempdir(), &params, |c| c.peers = vec![alias.clone()]);
    wait_for("the alias to be recognised", LONG, || async {
        let peers = get_json(&format!("{}v1/peers", node.url)).await;
        peers["peers"][0]["kind"] == json!("myself")
    })
    .await;
    let peers = get_json(&format!("{}v1/peers", node.url)).await;
    assert_eq!(peers["peers"][0]["state"], json!("self"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_answer_is_cut_off_and_the_peer_marked_down() {
    let params = easy_params(1, "oversized");
    let huge = "x".repeat(3 * 1024 * 1024);
    let flood =
        serve(Router::new().route("/v1/status", get(move || async move { huge.clone() }))).await;
    let (l, _) = bind().await;
    let node = TestNode::start(l, tempdir(), &params, |c| c.peers = vec![flood.clone()]);
    // Down, and asked again only after a wait ("backoff" until then: the
    // moment it reads "down" between two tries is the machine's luck).
    wait_for("the flooding peer to be marked down", LONG, || async {
        let peers = get_json(&format!("{}v1/peers", node.url)).await;
        let peer = &peers["peers"][0];
        peer["failures"].as_u64() >= Some(1)
            && (peer["state"] == json!("down") || peer["state"] == json!("backoff"))
    })
    .await;
    let peers = get_json(&format!("{}v1/peers", node.url)).await;
    assert_eq!(peers["peers"][0]["last_error"], json!("bad answer"));
    let (_, told) = node
        .as_operator(reqwest::Method::GET, "v1/peers", String::new())
        .await;
    let error = told["peers"][0]["last_error_detail"].as_str().unwrap();
    assert!(error.contains("limit"), "{error}");
}
