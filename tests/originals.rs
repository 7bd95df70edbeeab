//! An original node among jbc nodes, all real processes: it still gives
//! its blocks, still gets ours on `/mined`, and, though it forgets some of
//! what it is posted (as an original forgets a block that arrives while
//! the one before is still queued) and never syncs by itself, it ends up
//! holding every block of the main chain once blocks stop coming.

mod common;

use std::time::{Duration, Instant};

use jbc::consensus::Block;

use common::process::ProcessNode;

const LONG: Duration = Duration::from_secs(60);

fn port_of(url: &str) -> u16 {
    url.trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn chain_at(url: &str) -> Vec<Block> {
    let (code, body) = common::get_text_at(port_of(url), "/blockchain.json").expect("it answers");
    assert_eq!(code, 200, "{body}");
    jbc::wire::chain_from_slice(body.as_bytes()).expect("a chain")
}

#[test]
fn an_original_that_forgets_blocks_ends_with_every_block_of_the_main_chain() {
    let network = common::easy_params(2, "with a forgetful original");
    let dir = tempfile::tempdir().unwrap();
    // It forgets every third block posted to it.
    let original = common::original::start(&network, dir.path(), Some(3));
    // It gives blocks: two it holds before any jbc node starts.
    let its_own = common::blocks_on(&network, network.genesis(), 2, "the original's");
    for block in &its_own {
        let body = jbc::wire::block_to_json_numbers(block);
        let (code, answer) = common::post_at(
            port_of(&original.url),
            "/mined",
            std::str::from_utf8(&body).unwrap(),
        )
        .expect("it answers");
        assert_eq!((code, &answer["received"]), (200, &serde_json::json!(true)));
    }
    assert_eq!(chain_at(&original.url).len(), 3);

    let network_file = dir.path().join("network.json");
    std::fs::write(&network_file, jbc::wire::network::to_json(&network)).unwrap();
    let global = ["--network", network_file.to_str().unwrap()];
    let a = ProcessNode::start(
        &dir.path().join("a"),
        &global,
        &["--no-discovery", "--peer", &original.url],
    );
    let b = ProcessNode::start(
        &dir.path().join("b"),
        &global,
        &["--no-discovery", "--peer", &a.url],
    );
    let its_tip = its_own[1].hash.to_string();
    a.wait_status("the original's blocks at a", LONG, |s| {
        s["tip"]["hash"] == its_tip.as_str()
    });

    // Twelve new blocks reach a one after the other, as from a miner; a
    // relays each to the original (which forgets the third, and then
    // refuses the rest, which no longer extend its chain) and to b.
    let ours = common::blocks_on(&network, &its_own[1], 12, "ours");
    for block in &ours {
        let json = jbc::wire::block_to_json(block);
        let (code, answer) =
            common::post_at(a.port, "/v1/blocks", std::str::from_utf8(&json).unwrap()).unwrap();
        assert_eq!(code, 201, "{answer}");
    }
    let tip = ours.last().unwrap().hash.to_string();
    b.wait_status("b to have the tip", LONG, |s| {
        s["tip"]["hash"] == tip.as_str()
    });

    // The original ends up with exactly a's main chain.
    let deadline = Instant::now() + LONG;
    let want = chain_at(&a.url);
    assert_eq!(want.len(), 15);
    loop {
        let held = chain_at(&original.url);
        if held == want {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the original holds {} of {} blocks; a's log:\n{}",
            held.len(),
            want.len(),
            a.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
