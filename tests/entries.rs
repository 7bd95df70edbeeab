//! Entries over real sockets: submitted to one node, spread to every node,
//! mined into blocks, returned to the pool by reorgs, kept across restarts
//! and kills, bounded, signed, refused when bad, and carried by an
//! original node (a stand-in written in Python from the spec).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::net::{TestNode, bind, get_bytes, get_json, post_json, preload, request, wait_for};
use common::{block_with_entries, blocks_on, easy_params, jbc_bin, strict_network};
use jbc::consensus::entry::{Content, leading_zero_bits};
use jbc::consensus::{Block, Entry, Network};
use serde_json::{Value, json};

const LONG: Duration = Duration::from_secs(30);
const NEVER: Duration = Duration::from_secs(3600);

fn text(t: &str) -> Entry {
    Entry::new(Content::Text(t.into()))
}

fn lines(entries: &[Entry]) -> Vec<String> {
    entries.iter().map(Entry::encoding).collect()
}

async fn submit(url: &str, entry: &Entry) -> (u16, Value) {
    post_json(&format!("{url}v1/entries"), entry.encoding()).await
}

async fn entry_status(url: &str, entry: &Entry) -> (u16, Value) {
    request(
        reqwest::Method::GET,
        &format!("{url}v1/entries/{}", entry.id()),
        None,
    )
    .await
}

async fn pending_ids(url: &str) -> Vec<String> {
    let pending = get_json(&format!("{url}v1/entries?pending&limit=1000")).await;
    pending["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Runs the `jbc` binary (a real process) without blocking the runtime.
async fn jbc(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || Command::new(jbc_bin()).args(&args).output().unwrap())
        .await
        .unwrap()
}

fn out(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A node with `chain` preloaded on `network`, syncing only at startup.
async fn node_on(network: &Network, chain: &[Block]) -> TestNode {
    let dir = tempfile::tempdir().unwrap();
    preload(dir.path(), network, chain);
    let (listener, _) = bind().await;
    TestNode::start(listener, dir, network, |c| c.sync_interval = NEVER)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_submitted_at_one_end_of_a_line_is_confirmed_everywhere() {
    let network = strict_network(3, "line of three", 0);
    let ((la, url_a), (lb, url_b), (lc, url_c)) = (bind().await, bind().await, bind().await);
    let a = TestNode::start(la, tempfile::tempdir().unwrap(), &network, |c| {
        c.peers = vec![url_b.clone()]
    });
    let b = TestNode::start(lb, tempfile::tempdir().unwrap(), &network, |c| {
        c.peers = vec![url_a.clone(), url_c.clone()]
    });
    let c = TestNode::start(lc, tempfile::tempdir().unwrap(), &network, |c| {
        c.peers = vec![url_b.clone()];
        c.mine = true;
    });
    // Submitted with the CLI to A, which does not mine.
    let submitted = jbc(vec![
        "submit".into(),
        "invoice 2026-117 paid".into(),
        "--node".into(),
        a.url.clone(),
    ])
    .await;
    assert!(submitted.status.success(), "{}", out(&submitted.stderr));
    let id = out(&submitted.stdout).trim().to_owned();
    assert_eq!(id, text("invoice 2026-117 paid").id().to_string());
    // C mines it; all three see it confirmed in the same block.
    for node in [&a, &b, &c] {
        wait_for("the entry to be confirmed", LONG, || async {
            get_json(&format!("{}v1/entries/{id}", node.url)).await["status"] == json!("confirmed")
        })
        .await;
    }
    c.set_mining(false).await;
    wait_for("A and B to reach C's tip", LONG, || async {
        let tip = c.tip().await;
        a.tip().await == tip && b.tip().await == tip
    })
    .await;
    let on_c = get_json(&format!("{}v1/entries/{id}", c.url)).await;
    let on_a = get_json(&format!("{}v1/entries/{id}", a.url)).await;
    assert_eq!(on_a["block"], on_c["block"]);
    assert_eq!(on_a["confirmations"], on_c["confirmations"]);
    // `jbc entry` on A names the block and counts its confirmations.
    let shown = jbc(vec![
        "entry".into(),
        id.clone(),
        "--node".into(),
        a.url.clone(),
    ])
    .await;
    assert!(shown.status.success(), "{}", out(&shown.stderr));
    let printed = out(&shown.stdout);
    let block = on_a["block"]["index"].as_u64().unwrap();
    assert!(
        printed.starts_with(&format!("confirmed in block {block} (")),
        "{printed}"
    );
    let confirmations = get_json(&format!("{}v1/entries/{id}", a.url)).await["confirmations"]
        .as_u64()
        .unwrap();
    assert!(
        printed.contains(&format!("{confirmations} confirmation")),
        "{printed}"
    );
    assert!(pending_ids(&a.url).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_reaches_a_peer_this_node_has_not_met_yet() {
    // A knows B's URL but has not reached it yet (B was not up when A
    // tried), and B does not know A: the entry must still reach B.
    let network = strict_network(1, "not met yet", 0);
    let (closed, url_b) = bind().await;
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let (la, _) = bind().await;
    let a = TestNode::start(la, tempfile::tempdir().unwrap(), &network, |c| {
        c.peers = vec![url_b.clone()]
    });
    wait_for("A to find B down", LONG, || async {
        let state = a.status().await["peers"][0]["state"].clone();
        state == json!("down") || state == json!("backoff")
    })
    .await;
    let lb = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let b = TestNode::start(lb, tempfile::tempdir().unwrap(), &network, |c| {
        c.sync_interval = NEVER
    });
    let entry = text("sent before the two met");
    let (status, answer) = submit(&a.url, &entry).await;
    assert!(status == 200 || status == 201, "{status} {answer}");
    wait_for("the entry to reach B", LONG, || async {
        pending_ids(&b.url).await == vec![entry.id().to_string()]
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorg_puts_entries_back_and_the_winning_branch_confirms_them() {
    let network = strict_network(1, "reorg entries", 0);
    let chain = blocks_on(&network, network.genesis(), 5, "base");
    let node = node_on(&network, &chain).await;
    let url = &node.url;
    let entries = [text("one"), text("two"), text("three")];
    for entry in &entries {
        assert_eq!(submit(url, entry).await.0, 201);
    }
    assert_eq!(pending_ids(url).await.len(), 3);
    // Block 6 carries them: they leave the pool.
    let x6 = block_with_entries(&network, &chain[4], &lines(&entries));
    assert_eq!(node.post_block(&x6).await.0, 201);
    assert!(pending_ids(url).await.is_empty());
    let (_, status) = entry_status(url, &entries[1]).await;
    assert_eq!(status["block"]["index"], json!(6), "{status}");
    // A longer branch without them wins: they are pending again.
    let branch = blocks_on(&network, &chain[4], 2, "winner");
    for block in &branch {
        node.post_block(block).await;
    }
    assert_eq!(node.tip().await, (7, branch[1].hash.to_string()));
    let mut back = pending_ids(url).await;
    back.sort();
    let mut want: Vec<String> = entries.iter().map(|e| e.id().to_string()).collect();
    want.sort();
    assert_eq!(back, want);
    assert_eq!(
        entry_status(url, &entries[0]).await.1["status"],
        json!("pending")
    );
    // The winning branch confirms them again.
    let y8 = block_with_entries(&network, &branch[1], &lines(&entries));
    assert_eq!(node.post_block(&y8).await.0, 201);
    assert!(pending_ids(url).await.is_empty());
    let (_, status) = entry_status(url, &entries[2]).await;
    assert_eq!(status["block"]["hash"], json!(y8.block.hash.to_string()));
    // Once confirmed, an entry may not come again on this chain (strict).
    let again = block_with_entries(&network, &y8.block, &lines(&entries[..1]));
    let (code, answer) = node.post_block(&again).await;
    assert_eq!(code, 422, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("already confirmed"),
        "{answer}"
    );
    let metrics = String::from_utf8(get_bytes(&format!("{url}metrics")).await).unwrap();
    assert!(
        metrics.contains("jbc_entries_returned_total 3\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("jbc_entries_confirmed_total 6\n"),
        "{metrics}"
    );
}

/// A `jbc node` process on a free port; waits until it answers.
fn node_process(args: &[String]) -> (common::Reaped, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = common::Reaped(
        Command::new(jbc_bin())
            .args(args)
            .args(["node", "--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // The first log line says it started; then it answers.
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    for line in lines.by_ref() {
        if line.unwrap().contains("node started") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    (child, format!("http://127.0.0.1:{port}/"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_entries_survive_a_restart_and_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let network = strict_network(2, "survivor", 0);
    let file = dir.path().join("network.json");
    std::fs::write(&file, jbc::wire::network::to_json(&network)).unwrap();
    let first = vec![
        "--network".to_owned(),
        file.display().to_string(),
        "--data-dir".to_owned(),
        dir.path().join("node").display().to_string(),
    ];
    // Later starts need no network flag: the data directory remembers.
    let later = first[2..].to_vec();
    let entries: Vec<Entry> = (0..5).map(|i| text(&format!("keep me {i}"))).collect();
    let (mut child, url) = node_process(&first);
    wait_for("the node", LONG, || async {
        reqwest::get(format!("{url}v1/status")).await.is_ok()
    })
    .await;
    for entry in &entries {
        assert_eq!(submit(&url, entry).await.0, 201);
    }
    child.kill().unwrap(); // SIGKILL, right after the answers
    child.wait().unwrap();
    let (mut child, url) = node_process(&later);
    wait_for("the node again", LONG, || async {
        reqwest::get(format!("{url}v1/status")).await.is_ok()
    })
    .await;
    let want: Vec<String> = entries.iter().map(|e| e.id().to_string()).collect();
    assert_eq!(pending_ids(&url).await, want, "after SIGKILL");
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    assert!(child.wait().unwrap().success());
    let (mut child, url) = node_process(&later);
    wait_for("the node once more", LONG, || async {
        reqwest::get(format!("{url}v1/status")).await.is_ok()
    })
    .await;
    assert_eq!(pending_ids(&url).await, want, "after a clean restart");
    let status = get_json(&format!("{url}v1/status")).await;
    assert_eq!(status["network"]["id"], json!(network.id().to_string()));
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_pool_evicts_the_oldest_and_duplicates_change_nothing() {
    let network = strict_network(1, "small pool", 0);
    let chain = blocks_on(&network, network.genesis(), 2, "base");
    let dir = tempfile::tempdir().unwrap();
    preload(dir.path(), &network, &chain);
    let (listener, _) = bind().await;
    let node = TestNode::start(listener, dir, &network, |c| {
        c.sync_interval = NEVER;
        c.pool_limits.max_entries = 5;
    });
    let url = &node.url;
    let entries: Vec<Entry> = (0..7).map(|i| text(&format!("entry {i}"))).collect();
    for entry in &entries {
        let (code, answer) = submit(url, entry).await;
        assert_eq!(
            (code, answer["new"].clone()),
            (201, json!(true)),
            "{answer}"
        );
    }
    let kept: Vec<String> = entries[2..].iter().map(|e| e.id().to_string()).collect();
    assert_eq!(pending_ids(url).await, kept);
    // The evicted are not forgotten: their submitters can learn it.
    let (code, evicted) = entry_status(url, &entries[0]).await;
    assert_eq!(
        (code, evicted["status"].clone()),
        (200, json!("evicted")),
        "{evicted}"
    );
    let metrics = String::from_utf8(get_bytes(&format!("{url}metrics")).await).unwrap();
    assert!(
        metrics.contains("jbc_entries_evicted_total 2\n"),
        "{metrics}"
    );
    // A pending duplicate: the same id, 200, nothing changes.
    let (code, answer) = submit(url, &entries[6]).await;
    assert_eq!(code, 200);
    assert_eq!(answer["id"], json!(entries[6].id().to_string()));
    assert_eq!(answer["new"], json!(false));
    assert_eq!(pending_ids(url).await, kept);
    // A confirmed duplicate: answered as confirmed, the pool untouched.
    let block = block_with_entries(&network, &chain[1], &lines(&entries[2..3]));
    assert_eq!(node.post_block(&block).await.0, 201);
    let (code, answer) = submit(url, &entries[2]).await;
    assert_eq!((code, answer["status"].clone()), (200, json!("confirmed")));
    assert_eq!(pending_ids(url).await, kept[1..].to_vec());
    // A list with duplicates inside answers every id, in order.
    let batch = format!("[{},{}]", entries[3].encoding(), entries[3].encoding());
    let (code, ids) = post_json(&format!("{url}v1/entries"), batch).await;
    assert_eq!(code, 200, "{ids}");
    assert_eq!(
        ids,
        json!([entries[3].id().to_string(), entries[3].id().to_string()])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_entries_verify_and_cannot_be_altered_or_replayed() {
    let network = strict_network(1, "signed", 0);
    let elsewhere = strict_network(1, "another network", 0);
    let chain = blocks_on(&network, network.genesis(), 2, "base");
    let node = node_on(&network, &chain).await;
    let other = node_on(&elsewhere, &[]).await;
    let secret = [42u8; 32];
    let author = jbc::consensus::entry::public_key(&secret).to_string();
    let signed = text("release v1.2 approved").signed(&secret, &network.genesis_hash());
    assert_eq!(submit(&node.url, &signed).await.0, 201);
    // One byte changed: refused.
    let mut altered = signed.clone();
    altered.content = Content::Text("release v1.3 approved".into());
    let (code, answer) = submit(&node.url, &altered).await;
    assert_eq!(code, 422, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("signature"),
        "{answer}"
    );
    // Replayed on another network: refused there.
    let (code, _) = submit(&other.url, &signed).await;
    assert_eq!(code, 422);
    assert!(pending_ids(&other.url).await.is_empty());
    // Mined: the author's entries are listed, newest first.
    let second = text("release v1.3 approved").signed(&secret, &network.genesis_hash());
    let b3 = block_with_entries(&network, &chain[1], &lines(std::slice::from_ref(&signed)));
    let b4 = block_with_entries(&network, &b3.block, &lines(std::slice::from_ref(&second)));
    assert_eq!(node.post_block(&b3).await.0, 201);
    assert_eq!(node.post_block(&b4).await.0, 201);
    let listed = get_json(&format!("{}v1/entries?author={author}", node.url)).await;
    let listed = listed["entries"].as_array().unwrap();
    let ids: Vec<&str> = listed.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![second.id().to_string(), signed.id().to_string()]);
    assert_eq!(listed[1]["block"]["index"], json!(3));
    assert_eq!(listed[1]["entry"]["author"], json!(author));
    let page = get_json(&format!(
        "{}v1/entries?author={author}&offset=1&limit=1",
        node.url
    ))
    .await;
    assert_eq!(page["entries"][0]["id"], json!(signed.id().to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_entry_gets_a_4xx_and_changes_nothing() {
    let network = strict_network(1, "bad input", 8);
    let chain = blocks_on(&network, network.genesis(), 2, "base");
    let node = node_on(&network, &chain).await;
    let url = &node.url;
    let before = get_bytes(&format!("{url}blockchain.json")).await;
    let unstamped = (0..)
        .map(|i| text(&format!("no stamp {i}")))
        .find(|e| leading_zero_bits(&e.id()) < 8)
        .unwrap();
    let stamped = text("stamped").stamped(8);
    let mut bad_sig = text("signed").signed(&[1; 32], &network.genesis_hash());
    bad_sig.content = Content::Text("signed!".into());
    let bad_sig = bad_sig.stamped(8);
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (br#"{"text": ""}"#.to_vec(), 400, "text"),
        (
            format!(r#"{{"text": "{}"}}"#, "x".repeat(5000)).into_bytes(),
            413,
            "bytes",
        ),
        (b"{\"text\": \"\xff\xfe\"}".to_vec(), 400, "JSON"),
        (br#"{"text": 5}"#.to_vec(), 400, "text"),
        (br#"{"sha256": "abc"}"#.to_vec(), 400, "sha256"),
        (br#"{"text": "x", "stamp": -1}"#.to_vec(), 400, "stamp"),
        (br#"{"text": "x", "author": "00"}"#.to_vec(), 400, "sig"),
        (br#"{"text": "x", "colour": "red"}"#.to_vec(), 400, "colour"),
        (br#"{"note": "no content"}"#.to_vec(), 400, "note"),
        (unstamped.encoding().into_bytes(), 422, "stamp"),
        (bad_sig.encoding().into_bytes(), 422, "signature"),
        (b"[]".to_vec(), 400, "empty"),
        (
            format!("[{}, {}]", stamped.encoding(), unstamped.encoding()).into_bytes(),
            422,
            "entry 1 of the list",
        ),
        (
            format!("[{}]", vec![stamped.encoding(); 1001].join(",")).into_bytes(),
            400,
            "1000",
        ),
        (vec![b' '; 2 * 1024 * 1024], 413, "limit"),
        (b"not json".to_vec(), 400, "JSON"),
    ];
    for (body, want, says) in cases {
        let shown = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
        let (code, answer) = post_json(&format!("{url}v1/entries"), body).await;
        assert_eq!(code, want, "{shown}: {answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(says), "{shown}: {error}");
    }
    assert!(pending_ids(url).await.is_empty());
    assert_eq!(get_bytes(&format!("{url}blockchain.json")).await, before);
    // The stamped entry alone is fine.
    assert_eq!(submit(url, &stamped).await.0, 201);
    for path in ["v1/entries", "v1/entries/xyz", "v1/entries?author=zz"] {
        let (code, answer) = request(reqwest::Method::GET, &format!("{url}{path}"), None).await;
        assert_eq!(code, 400, "{path}: {answer}");
    }
    let unknown = format!("{url}v1/entries/{}", "ab".repeat(32));
    assert_eq!(request(reqwest::Method::GET, &unknown, None).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_original_node_accepts_and_serves_blocks_with_entries_unchanged() {
    // A network with the original's rules, which an original can run.
    let network = easy_params(3, "with an original");
    let dir = tempfile::tempdir().unwrap();
    let original = common::original::start(&network, dir.path(), None);
    let (listener, _) = bind().await;
    let node = TestNode::start(listener, tempfile::tempdir().unwrap(), &network, |c| {
        c.peers = vec![original.url.clone()];
    });
    let entries = [
        text("caf\u{e9} au lait, \u{1f600}"),
        Entry::new(Content::Sha256([7; 32])),
        text("signed").signed(&[3; 32], &network.genesis_hash()),
    ];
    for entry in &entries {
        assert_eq!(submit(&node.url, entry).await.0, 201);
    }
    node.set_mining(true).await;
    // Wait until the original holds a block carrying all three.
    let want = entries[2].encoding();
    wait_for("the original to hold our entries", LONG, || async {
        let chain = get_bytes(&format!("{}blockchain.json", original.url)).await;
        String::from_utf8_lossy(&chain).contains(&want.replace('"', "\\\""))
    })
    .await;
    node.set_mining(false).await;
    let served = get_bytes(&format!("{}blockchain.json", original.url)).await;
    let served = jbc::wire::chain_from_slice(&served).unwrap();
    let carrier = served
        .iter()
        .find(|b| b.data.contains(&want))
        .expect("a block with the entries");
    // Unchanged: the block the original serves is ours, byte for byte.
    let ours = get_json(&format!("{}v1/blocks/{}", node.url, carrier.hash)).await;
    assert_eq!(
        jbc::wire::block_from_value(&ours["block"]).unwrap(),
        *carrier
    );
    assert!(carrier.data.is_ascii(), "{}", carrier.data);
    let listed: Vec<&Value> = ours["entries"].as_array().unwrap().iter().collect();
    assert_eq!(listed.len(), 3);
    assert!(
        listed.iter().all(|e| e["valid"] == json!(true)),
        "{listed:?}"
    );
    // And our node indexes them as confirmed.
    for entry in &entries {
        assert_eq!(
            entry_status(&node.url, entry).await.1["status"],
            json!("confirmed")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_pays_the_stamp_and_signs_with_a_key_only_its_owner_reads() {
    use std::os::unix::fs::PermissionsExt;
    let network = strict_network(1, "stamped cli", 12);
    let node = node_on(&network, &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("me.key");
    let key_arg = key.display().to_string();
    let made = jbc(vec!["key".into(), "new".into(), key_arg.clone()]).await;
    assert!(made.status.success(), "{}", out(&made.stderr));
    let public = out(&made.stdout).trim().to_owned();
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Never overwritten; `show` reads the same key.
    let again = jbc(vec!["key".into(), "new".into(), key_arg.clone()]).await;
    assert!(!again.status.success());
    let shown = jbc(vec!["key".into(), "show".into(), key_arg.clone()]).await;
    assert_eq!(out(&shown.stdout).trim(), public);
    // The network wants 12 bits of stamp: `jbc submit` finds them, signs.
    let submitted = jbc(vec![
        "submit".into(),
        "--key".into(),
        key_arg,
        "release v1.2 approved".into(),
        "--node".into(),
        node.url.clone(),
    ])
    .await;
    assert!(submitted.status.success(), "{}", out(&submitted.stderr));
    let id = out(&submitted.stdout).trim().to_owned();
    let id_hash: jbc::consensus::EntryId = id.parse().unwrap();
    assert!(leading_zero_bits(&id_hash) >= 12);
    let status = get_json(&format!("{}v1/entries/{id}", node.url)).await;
    assert_eq!(status["status"], json!("pending"));
    assert_eq!(status["entry"]["author"], json!(public));
    // A document's digest, without sending the document.
    let doc = dir.path().join("contract.pdf");
    std::fs::write(&doc, b"the contract").unwrap();
    let notarised = jbc(vec![
        "submit".into(),
        "--file".into(),
        doc.display().to_string(),
        "--node".into(),
        node.url.clone(),
    ])
    .await;
    assert!(notarised.status.success(), "{}", out(&notarised.stderr));
    let id = out(&notarised.stdout).trim().to_owned();
    let status = get_json(&format!("{}v1/entries/{id}", node.url)).await;
    let digest = {
        use sha2::{Digest, Sha256};
        jbc::consensus::entry::hex(&Sha256::digest(b"the contract"))
    };
    assert_eq!(status["entry"]["sha256"], json!(digest));
    // Nobody listening: a clear error.
    let nowhere = jbc(vec![
        "entry".into(),
        id,
        "--node".into(),
        "http://127.0.0.1:9/".into(),
    ])
    .await;
    assert!(!nowhere.status.success());
    assert!(
        out(&nowhere.stderr).contains("cannot reach the node"),
        "{}",
        out(&nowhere.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_entry_makes_a_block_invalid_only_on_a_strict_network() {
    let strict = strict_network(1, "strict blocks", 0);
    // The same genesis and difficulty with the original's rules.
    let original = Network::original(
        strict.genesis().clone(),
        strict.difficulty().as_leading_zeros().unwrap(),
    )
    .unwrap();
    let mut forged = text("signed").signed(&[9; 32], &strict.genesis_hash());
    forged.content = Content::Text("altered".into());
    let good = text("fine");
    let carried = lines(&[good.clone(), forged.clone()]);
    let block = block_with_entries(&strict, strict.genesis(), &carried);
    let on_strict = node_on(&strict, &[]).await;
    let (code, answer) = on_strict.post_block(&block).await;
    assert_eq!(code, 422, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("signature"),
        "{answer}"
    );
    assert_eq!(on_strict.tip().await.0, 0);
    // By the original's rules the block (inline: its data carries the
    // entries) is valid; the bad entry is shown as invalid and not indexed,
    // the good one is.
    let block = block_with_entries(&original, original.genesis(), &carried).block;
    let on_original = node_on(&original, &[]).await;
    assert_eq!(on_original.post_block(&block).await.0, 201);
    let shown = get_json(&format!("{}v1/blocks/{}", on_original.url, block.hash)).await;
    assert_eq!(shown["entries"][0]["valid"], json!(true));
    assert_eq!(shown["entries"][1]["valid"], json!(false));
    assert_eq!(
        entry_status(&on_original.url, &good).await.1["status"],
        json!("confirmed")
    );
    assert_eq!(entry_status(&on_original.url, &forged).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jbc_entry_takes_the_start_of_an_id_and_names_the_candidates_when_it_is_ambiguous() {
    let network = easy_params(1, "entry prefixes");
    let chain = blocks_on(&network, network.genesis(), 2, "prefixes");
    let node = node_on(&network, &chain).await;
    let (twin_a, twin_b, shared) = common::twin_entries();
    let entry = text("invoice 2026-118 paid");
    for e in [&entry, &twin_a, &twin_b] {
        assert_eq!(submit(&node.url, e).await.0, 201);
    }
    let entry_cmd = |id: &str| {
        jbc(vec![
            "entry".into(),
            id.into(),
            "--node".into(),
            node.url.clone(),
        ])
    };
    // Eight digits (upper case too) find it, pending, then in its block.
    let start = entry.id().short(8);
    let shown = entry_cmd(&start.to_uppercase()).await;
    assert!(shown.status.success(), "{}", out(&shown.stderr));
    assert_eq!(
        out(&shown.stdout),
        "pending\n{\"text\":\"invoice 2026-118 paid\"}\n"
    );
    let block = block_with_entries(&network, &chain[1], &[entry.encoding()]);
    assert_eq!(node.post_block(&block).await.0, 201);
    let shown = entry_cmd(&start).await;
    assert!(shown.status.success(), "{}", out(&shown.stderr));
    assert!(
        out(&shown.stdout).starts_with(&format!(
            "confirmed in block 3 ({}), 1 confirmation\n",
            block.block.hash
        )),
        "{}",
        out(&shown.stdout)
    );
    // Two ids start with the same eight digits: both named, nothing shown.
    let ambiguous = entry_cmd(shared).await;
    assert!(!ambiguous.status.success());
    assert!(ambiguous.stdout.is_empty());
    let error = out(&ambiguous.stderr);
    assert!(error.contains(&format!("{shared} is ambiguous")), "{error}");
    for twin in [&twin_a, &twin_b] {
        assert!(error.contains(&twin.id().to_string()), "{error}");
    }
    // The first digit where they differ settles it.
    let digits = (8..=64)
        .find(|&n| twin_a.id().short(n) != twin_b.id().short(n))
        .unwrap();
    let longer = twin_a.id().short(digits);
    let shown = entry_cmd(&longer).await;
    assert!(shown.status.success(), "{}", out(&shown.stderr));
    assert!(out(&shown.stdout).contains("twin 19535"));
    // Nothing there, and not an id at all: said plainly.
    let nothing = entry_cmd("deadbeef").await;
    assert!(
        out(&nothing.stderr).contains("no entry id starts with deadbeef"),
        "{}",
        out(&nothing.stderr)
    );
    for bad in ["3be0", "not-an-id"] {
        let refused = entry_cmd(bad).await;
        assert!(!refused.status.success());
        assert!(
            out(&refused.stderr).contains(&format!("\"{bad}\" is")),
            "{}",
            out(&refused.stderr)
        );
    }
}
