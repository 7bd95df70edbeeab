//! The HTTP API of one node: every route's answer, and every kind of bad
//! input answered with a 4xx JSON error that changes nothing.

mod common;

use common::blocks_on;
use common::net::{get_bytes, get_json, node_with_chain, post_json, request};
use jbc::consensus::Block;
use serde_json::{Value, json};

async fn get(url: String) -> (u16, Value) {
    request(reqwest::Method::GET, &url, None).await
}

async fn post(url: String, body: impl Into<Vec<u8>>) -> (u16, Value) {
    post_json(&url, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blockchain_json_is_the_original_format() {
    let f = node_with_chain(30, "api").await;
    let body = reqwest::get(format!("{}blockchain.json", f.node.url))
        .await
        .unwrap();
    assert_eq!(body.headers()["content-type"], "application/json");
    let value: Value = serde_json::from_str(&body.text().await.unwrap()).unwrap();
    let items = value.as_array().unwrap();
    assert_eq!(items.len(), 31);
    assert_eq!(items[0]["prev_hash"], json!(""));
    for item in items {
        for key in ["index", "timestamp", "data", "prev_hash", "nonce", "hash"] {
            assert!(item[key].is_string(), "{key} of {item}");
        }
    }
    let blocks = jbc::wire::blocks_from_value(&value).unwrap();
    assert_eq!(&blocks[1..], &f.chain[..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_blocks_and_sync_answer_as_documented() {
    let f = node_with_chain(30, "api").await;
    let url = &f.node.url;
    let status = get_json(&format!("{url}v1/status")).await;
    assert_eq!(status["tip"]["index"], json!(30));
    assert_eq!(status["tip"]["hash"], json!(f.chain[29].hash.to_string()));
    assert_eq!(
        status["tip"]["chain_work"],
        json!(f.params.genesis_work().times(31).to_string())
    );
    assert_eq!(
        status["network"]["genesis_hash"],
        json!(f.params.genesis_hash().to_string())
    );
    assert_eq!(status["network"]["difficulty"], json!(1));
    assert!(status["software"].as_str().unwrap().starts_with("jbc "));
    assert_eq!(status["node_id"].as_str().unwrap().len(), 32);
    assert_eq!(status["mining"]["enabled"], json!(false));

    let (code, range) = get(format!("{url}v1/blocks?from=10&limit=5")).await;
    assert_eq!(code, 200);
    let blocks = jbc::wire::blocks_from_value(&range["blocks"]).unwrap();
    assert_eq!(blocks, f.chain[9..14].to_vec());
    let (_, capped) = get(format!("{url}v1/blocks?from=0&limit=999999")).await;
    assert_eq!(capped["blocks"].as_array().unwrap().len(), 31);

    let hash = f.chain[4].hash;
    let (code, one) = get(format!("{url}v1/blocks/{hash}")).await;
    assert_eq!(code, 200);
    assert_eq!(one["main_chain"], json!(true));
    assert_eq!(
        jbc::wire::block_from_value(&one["block"]).unwrap(),
        f.chain[4]
    );

    // A locator whose first hash we do not know, then block 20: the reply
    // starts after 20.
    let unknown = "ab".repeat(32);
    let (code, sync) = get(format!(
        "{url}v1/sync?locator={unknown},{},{}&limit=3",
        f.chain[19].hash,
        f.params.genesis_hash()
    ))
    .await;
    assert_eq!(code, 200, "{sync}");
    assert_eq!(sync["fork_index"], json!(20));
    let blocks = jbc::wire::blocks_from_value(&sync["blocks"]).unwrap();
    assert_eq!(blocks, f.chain[20..23].to_vec());
    assert_eq!(sync["tip"]["index"], json!(30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posted_blocks_get_a_status_for_each_outcome() {
    let f = node_with_chain(5, "api").await;
    let url = &f.node.url;
    let next = blocks_on(&f.params, &f.chain[4], 2, "next");
    let side = blocks_on(&f.params, &f.chain[3], 1, "side").remove(0);

    let (code, answer) = post(
        format!("{url}v1/blocks"),
        jbc::wire::block_to_json(&next[0]),
    )
    .await;
    assert_eq!(
        (code, answer["status"].clone()),
        (201, json!("tip_moved")),
        "{answer}"
    );
    assert_eq!(answer["tip"]["index"], json!(6));
    let (code, answer) = post(
        format!("{url}v1/blocks"),
        jbc::wire::block_to_json(&next[0]),
    )
    .await;
    assert_eq!(
        (code, answer["status"].clone()),
        (200, json!("already_known"))
    );
    let (code, answer) = post(format!("{url}v1/blocks"), jbc::wire::block_to_json(&side)).await;
    assert_eq!(
        (code, answer["status"].clone()),
        (202, json!("side_branch"))
    );
    let orphan = blocks_on(&f.params, &next[1], 1, "orphan").remove(0);
    let (code, answer) = post(format!("{url}v1/blocks"), jbc::wire::block_to_json(&orphan)).await;
    assert_eq!(
        (code, answer["status"].clone()),
        (409, json!("parent_unknown"))
    );
    let mut bad = next[1].clone();
    bad.nonce.0 += 1;
    let (code, answer) = post(format!("{url}v1/blocks"), jbc::wire::block_to_json(&bad)).await;
    assert_eq!((code, answer["status"].clone()), (422, json!("invalid")));
    assert!(
        answer["error"].as_str().unwrap().contains("hash"),
        "{answer}"
    );

    // The original's route: numbers, and {"received": true}.
    let (code, answer) = post(
        format!("{url}mined"),
        jbc::wire::block_to_json_numbers(&next[1]),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(answer["received"], json!(true));
    let (code, answer) = post(
        format!("{url}mined"),
        jbc::wire::block_to_json_numbers(&bad),
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(answer["received"], json!(false));
    assert_eq!(f.node.tip().await, (7, next[1].hash.to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_json_4xx_and_changes_nothing() {
    let f = node_with_chain(5, "api").await;
    let url = &f.node.url;
    let before = get_bytes(&format!("{url}blockchain.json")).await;
    let huge = vec![b'x'; 2 * 1024 * 1024];
    let valid = String::from_utf8(jbc::wire::block_to_json(
        &blocks_on(&f.params, &f.chain[4], 1, "x")[0],
    ))
    .unwrap();
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("mined", b"{not json".to_vec(), 400),
        ("mined", b"[]".to_vec(), 400),
        ("mined", b"".to_vec(), 400),
        (
            "v1/blocks",
            valid
                .replace("\"index\": \"6\"", "\"index\": -6")
                .into_bytes(),
            400,
        ),
        (
            "v1/blocks",
            valid
                .replace("\"index\": \"6\"", "\"index\": 6.5")
                .into_bytes(),
            400,
        ),
        (
            "v1/blocks",
            valid
                .replace("\"index\": \"6\"", "\"index\": [6]")
                .into_bytes(),
            400,
        ),
        (
            "v1/blocks",
            valid.replace("\"nonce\"", "\"nonse\"").into_bytes(),
            400,
        ),
        (
            "v1/blocks",
            valid.replace("\"hash\": \"", "\"hash\": \"zz").into_bytes(),
            400,
        ),
        ("v1/blocks", huge.clone(), 413),
        ("mined", huge, 413),
        ("v1/peers", b"{\"url\": \"not a url\"}".to_vec(), 400),
        ("v1/peers", b"{\"uri\": \"http://x/\"}".to_vec(), 400),
        ("v1/peers", b"\xff\xfe".to_vec(), 400),
        ("v1/mining", b"{\"mine\": \"yes\"}".to_vec(), 400),
    ];
    for (route, body, want) in cases {
        // The operator's routes are sent as the operator: their bad bodies
        // are what is tried here (a stranger is refused before reading).
        let (code, answer) = if route == "v1/peers" || route == "v1/mining" {
            let body = String::from_utf8_lossy(&body).into_owned();
            f.node.as_operator(reqwest::Method::POST, route, body).await
        } else {
            post(format!("{url}{route}"), body).await
        };
        assert_eq!(code, want, "{route}: {answer}");
        assert!(
            answer["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{route}: {answer}"
        );
    }
    let gets = [
        ("v1/blocks?from=abc", 400),
        ("v1/blocks?limit=-1", 400),
        ("v1/blocks/xyz", 400),
        (&*format!("v1/blocks/{}", "cd".repeat(32)), 404),
        ("v1/sync", 400),
        ("v1/sync?locator=nothex", 400),
        (
            &*format!("v1/sync?locator={}", vec!["ab".repeat(32); 102].join(",")),
            400,
        ),
        (&*format!("v1/sync?locator={}", "ab".repeat(32)), 404),
        ("no/such/route", 404),
    ];
    for (path, want) in gets {
        let (code, answer) = get(format!("{url}{path}")).await;
        assert_eq!(code, want, "{path}: {answer}");
        assert!(answer["error"].is_string(), "{path}: {answer}");
    }
    let after = get_bytes(&format!("{url}blockchain.json")).await;
    assert_eq!(before, after);
    let peers = get_json(&format!("{url}v1/peers")).await;
    assert_eq!(peers["peers"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_can_be_added_once() {
    let f = node_with_chain(1, "api").await;
    let url = &f.node.url;
    let add = |body: &'static str| {
        f.node
            .as_operator(reqwest::Method::POST, "v1/peers", body.to_owned())
    };
    let (code, answer) = add(r#"{"url": "http://127.0.0.1:9"}"#).await;
    assert_eq!(code, 201, "{answer}");
    assert_eq!(answer["url"], json!("http://127.0.0.1:9/"));
    let (code, answer) = add(r#"{"url": "http://127.0.0.1:9/"}"#).await;
    assert_eq!((code, answer["added"].clone()), (200, json!(false)));
    let peers = get_json(&format!("{url}v1/peers")).await;
    assert_eq!(peers["peers"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blockchain_json_follows_extensions_and_reorgs() {
    let f = node_with_chain(10, "api").await;
    let url = &f.node.url;
    let served = || async {
        let body = get_bytes(&format!("{url}blockchain.json")).await;
        jbc::wire::chain_from_slice(&body).unwrap()
    };
    let genesis = f.params.genesis().clone();
    let mut expected: Vec<Block> = std::iter::once(genesis).chain(f.chain.clone()).collect();
    assert_eq!(served().await, expected);
    // The tip moves forward by one: the answer grows by that block.
    let next = blocks_on(&f.params, &f.chain[9], 1, "next").remove(0);
    post(format!("{url}v1/blocks"), jbc::wire::block_to_json(&next)).await;
    expected.push(next);
    assert_eq!(served().await, expected);
    // A branch from block 5 overtakes: the answer is the new main chain.
    let branch = blocks_on(&f.params, &f.chain[4], 7, "branch");
    for block in &branch {
        post(format!("{url}v1/blocks"), jbc::wire::block_to_json(block)).await;
    }
    expected.truncate(6);
    expected.extend(branch);
    assert_eq!(expected.len(), 13);
    assert_eq!(served().await, expected);
}
