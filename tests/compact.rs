//! Compact blocks between real node processes: a block whose entries
//! travel beside it goes to a jbc peer as short ids of its entries
//! (`POST /v1/blocks/compact`); the peer fills it from its pool, asks for
//! the entries it lacks by place, and asks for the whole block when the
//! entries it rebuilt miss the block's root (a short-id collision).

mod common;

use std::time::Duration;

use jbc::consensus::entry::Content;
use jbc::consensus::{BlockAndBody, Entry};
use jbc::wire::compact::{CompactBlock, Salt, ShortId};
use serde_json::Value;

use common::process::ProcessNode;

const LONG: Duration = Duration::from_secs(30);

fn received(node: &ProcessNode, outcome: &str) -> u64 {
    node.metric(&format!(
        "jbc_compact_blocks_received_total{{outcome=\"{outcome}\"}}"
    ))
}

fn lines(label: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|i| Entry::new(Content::Text(format!("{label} {i}"))).encoding())
        .collect()
}

fn post(node: &ProcessNode, path: &str, body: &[u8]) -> (u16, Value) {
    common::post_at(node.port, path, std::str::from_utf8(body).unwrap()).expect("the node answers")
}

fn submit_entries(node: &ProcessNode, lines: &[String]) {
    let (code, answer) = post(
        node,
        "/v1/entries",
        format!("[{}]", lines.join(",")).as_bytes(),
    );
    assert_eq!(code, 201, "{answer}");
}

fn start_node(
    dir: &std::path::Path,
    network: &jbc::consensus::Network,
    args: &[&str],
) -> ProcessNode {
    let network_file = dir.join("network.json");
    if !network_file.exists() {
        std::fs::write(&network_file, jbc::wire::network::to_json(network)).unwrap();
    }
    let name = format!("node-{}", std::fs::read_dir(dir).unwrap().count());
    ProcessNode::start(
        &dir.join(name),
        &["--network", network_file.to_str().unwrap()],
        args,
    )
}

#[test]
fn a_compact_block_gets_the_entries_it_lacks_and_a_collision_gets_the_whole_block() {
    let network = common::strict_network(1, "compact", 0);
    let dir = tempfile::tempdir().unwrap();
    let node = start_node(dir.path(), &network, &["--no-discovery"]);

    // Six entries in the block; the node holds four of them.
    let six = lines("compact", 6);
    submit_entries(&node, &[&six[..1], &six[2..4], &six[5..]].concat());
    let block = common::block_with_entries(&network, network.genesis(), &six);
    let salt = Salt([7, 1, 7, 1, 7, 1, 7, 1]);
    let mut compact = CompactBlock::of(&block, salt);
    let (code, answer) = post(&node, "/v1/blocks/compact", &compact.to_json());
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["status"], "missing_entries", "{answer}");
    assert_eq!(answer["missing"], serde_json::json!([1, 4]), "{answer}");
    assert_eq!(answer["tip"]["index"], 0, "nothing stored yet: {answer}");

    // Sent again with those two: stored, the whole block as mined.
    compact.prefilled = vec![(1, six[1].clone()), (4, six[4].clone())];
    let (code, answer) = post(&node, "/v1/blocks/compact", &compact.to_json());
    assert_eq!(code, 201, "{answer}");
    assert_eq!(answer["status"], "tip_moved", "{answer}");
    let stored = node
        .get(&format!("/v1/blocks/{}", block.block.hash))
        .expect("the node answers");
    assert_eq!(
        stored["block"]["entries"],
        serde_json::json!(six),
        "{stored}"
    );
    assert_eq!(received(&node, "missing"), 1);
    assert_eq!(received(&node, "complete"), 1);
    assert_eq!(node.metric("jbc_compact_entries_asked_total"), 2);

    // Once more: known, and nothing read.
    let (code, answer) = post(&node, "/v1/blocks/compact", &compact.to_json());
    assert_eq!(
        (code, answer["status"].as_str()),
        (200, Some("already_known"))
    );

    // A collision: the node holds "p", "q" and "r"; the block carries p and
    // q, but place 1's short id is r's. The pool fills r, the root says
    // no, and the node asks for the whole block, which it then takes.
    let pqr = lines("collide", 3);
    submit_entries(&node, &pqr);
    let next = common::block_with_entries(&network, &block.block, &pqr[..2]);
    let mut colliding = CompactBlock::of(&next, salt);
    colliding.short_ids[1] = ShortId::of(&salt, &pqr[2]);
    let (code, answer) = post(&node, "/v1/blocks/compact", &colliding.to_json());
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["status"], "send_block", "{answer}");
    assert_eq!(answer["tip"]["index"], 1, "not stored: {answer}");
    assert_eq!(received(&node, "mismatch"), 1);
    let (code, answer) = post(
        &node,
        "/v1/blocks",
        &jbc::wire::block_and_body_to_json(&next),
    );
    assert_eq!(code, 201, "{answer}");
    assert_eq!(node.height(), Some(2));

    // Lacking most of a block's entries (5 of 6), the node asks for all
    // of it: cheaper than the short ids again beside 5 lines.
    let mostly_new = lines("mostly new", 6);
    submit_entries(&node, &mostly_new[..1]);
    let third = common::block_with_entries(&network, &next.block, &mostly_new);
    let (code, answer) = post(
        &node,
        "/v1/blocks/compact",
        &CompactBlock::of(&third, salt).to_json(),
    );
    assert_eq!((code, answer["status"].as_str()), (200, Some("send_block")));
    assert_eq!(received(&node, "mostly_missing"), 1);
    // One block is scanned for twice at most (its short ids, then with
    // the entries lacked): posted again and again, it is asked for whole.
    for (time, outcome) in [
        (2, "mostly_missing"),
        (1, "not_scanned"),
        (2, "not_scanned"),
    ] {
        let (code, answer) = post(
            &node,
            "/v1/blocks/compact",
            &CompactBlock::of(&third, salt).to_json(),
        );
        assert_eq!((code, answer["status"].as_str()), (200, Some("send_block")));
        assert_eq!(received(&node, outcome), time, "{outcome}");
    }
    // Nor is the pool read for a block off the tip, though it holds its
    // entry: that block is asked for whole.
    let off_tip = common::block_with_entries(&network, &block.block, &mostly_new[..1]);
    let (code, answer) = post(
        &node,
        "/v1/blocks/compact",
        &CompactBlock::of(&off_tip, salt).to_json(),
    );
    assert_eq!((code, answer["status"].as_str()), (200, Some("send_block")));
    assert_eq!(received(&node, "not_scanned"), 3);

    // Wrong shapes and wrong blocks: a 4xx that says why, nothing stored.
    let plain = BlockAndBody::from(common::blocks_on(&network, &next.block, 1, "plain").remove(0));
    let mut short = CompactBlock::of(
        &common::block_with_entries(&network, &next.block, &six),
        salt,
    );
    short.short_ids.pop();
    let mut forged = CompactBlock::of(
        &common::block_with_entries(&network, &next.block, &six),
        salt,
    );
    forged.block.nonce = jbc::consensus::Nonce(forged.block.nonce.0 + 1);
    for (body, code, says) in [
        (b"{\"block\": 1}".to_vec(), 400, "block"),
        (
            CompactBlock::of(&plain, salt).to_json(),
            400,
            "jbc-entries/2",
        ),
        (short.to_json(), 400, "6 entries, and 5 short ids"),
        (forged.to_json(), 422, "hash"),
    ] {
        let (status, answer) = post(&node, "/v1/blocks/compact", &body);
        assert_eq!(status, code, "{answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(says), "{error}");
    }
    assert_eq!(node.height(), Some(2));

    // On a parent the node lacks: 409, and no pool read for it.
    let unseen = common::blocks_on(&network, &next.block, 1, "unseen").remove(0);
    let orphan = CompactBlock::of(&common::block_with_entries(&network, &unseen, &six), salt);
    let (code, answer) = post(&node, "/v1/blocks/compact", &orphan.to_json());
    assert_eq!(
        (code, answer["status"].as_str()),
        (409, Some("parent_unknown"))
    );
    assert_eq!(received(&node, "parent_unknown"), 1);
    assert_eq!(node.height(), Some(2));
}

/// A relay post names its block (`x-jbc-block`; that relay sends it is
/// tested in `net::client`): a node holding that block answers
/// `already_known` without parsing the body, so a block reaching it from
/// several peers is parsed once.
#[test]
fn a_block_named_in_its_post_is_not_parsed_again() {
    let network = common::strict_network(1, "named", 0);
    let dir = tempfile::tempdir().unwrap();
    let receiver = start_node(dir.path(), &network, &["--no-discovery"]);
    let unparsed = || receiver.metric("jbc_blocks_known_unparsed_total");
    let naming = |hash: &jbc::consensus::BlockHash, path: &str, body: &[u8]| {
        common::post_with_headers(
            receiver.port,
            path,
            &format!("x-jbc-block: {hash}\r\n"),
            std::str::from_utf8(body).unwrap(),
        )
        .expect("the node answers")
    };
    let block =
        BlockAndBody::from(common::blocks_on(&network, network.genesis(), 1, "named").remove(0));
    let hash = block.block.hash;
    let full = jbc::wire::block_and_body_to_json(&block);

    // New to the node: parsed and stored, whatever the header says.
    let (code, answer) = naming(&hash, "/v1/blocks", &full);
    assert_eq!((code, answer["status"].as_str()), (201, Some("tip_moved")));
    assert_eq!(unparsed(), 0);

    // Held: answered from the header alone, on both routes. A body that
    // is not even JSON shows that nothing was parsed.
    for (path, body) in [
        ("/v1/blocks", full.clone()),
        ("/v1/blocks", b"not json".to_vec()),
        ("/v1/blocks/compact", b"not json".to_vec()),
    ] {
        let (code, answer) = naming(&hash, path, &body);
        assert_eq!(
            (code, answer["status"].as_str()),
            (200, Some("already_known")),
            "{path}: {answer}"
        );
    }
    assert_eq!(unparsed(), 3);
    // Without the header the same body is parsed, and refused.
    assert_eq!(post(&receiver, "/v1/blocks", b"not json").0, 400);
    // A header that is not a hash is ignored.
    let (code, _) = common::post_with_headers(
        receiver.port,
        "/v1/blocks",
        "x-jbc-block: zz\r\n",
        std::str::from_utf8(&full).unwrap(),
    )
    .unwrap();
    assert_eq!(code, 200);
    assert_eq!(unparsed(), 3);

    assert_eq!(receiver.height(), Some(1));
}

/// Relay uses the compact form: a node holding a block's entries gets it
/// as their short ids, and one lacking some gets those too, nothing more.
#[test]
fn a_relayed_block_costs_the_link_its_short_ids_and_the_missing_entries() {
    let network = common::strict_network(1, "compact relay", 0);
    let dir = tempfile::tempdir().unwrap();
    let receiver = start_node(dir.path(), &network, &["--no-discovery"]);
    let sender = start_node(
        dir.path(),
        &network,
        &["--no-discovery", "--peer", &receiver.url],
    );
    common::wait_until("the sender to have its peer up", LONG, || {
        sender
            .get("/v1/peers")
            .is_some_and(|answer| common::peers_up_in(&answer) == [receiver.url.clone()])
    });
    let block_bytes = || sender.metric("jbc_relay_sent_bytes_total{kind=\"block\"}");
    let relay = |block: &BlockAndBody, sends: u64| {
        let before = block_bytes();
        let full = jbc::wire::block_and_body_to_json(block);
        let (code, answer) = post(&sender, "/v1/blocks", &full);
        assert_eq!(code, 201, "{answer}");
        let hash = block.block.hash.to_string();
        receiver.wait_status("the block to reach the receiver", LONG, |s| {
            s["tip"]["hash"] == hash.as_str()
        });
        common::wait_until("the send to be counted", LONG, || {
            sender.metric("jbc_relay_sent_total{kind=\"block\"}") == sends
        });
        (block_bytes() - before, full.len() as u64)
    };

    // 300 entries (a file's digest each, as stamps are) gossiped through
    // the sender, then a block carrying them: one compact post.
    let gossiped = digests("gossiped", 300);
    submit_entries(&sender, &gossiped);
    common::wait_until("the entries to reach the receiver", LONG, || {
        receiver
            .status()
            .is_some_and(|s| s["pool"]["entries"] == 300)
    });
    let first = common::block_with_entries(&network, network.genesis(), &gossiped);
    let (sent, full) = relay(&first, 1);
    let compact = CompactBlock::of(&first, Salt([0; 8])).to_json();
    assert_eq!(
        sent,
        compact.len() as u64,
        "one compact post ({full} bytes whole)"
    );
    assert!(sent * 4 < full, "{sent} bytes sent for a block of {full}");
    assert_eq!(received(&receiver, "complete"), 1);

    // 100 more gossiped and 10 that only the next block carries: the
    // compact post, then the same with those 10 lines.
    let more = digests("gossiped later", 100);
    submit_entries(&sender, &more);
    common::wait_until("the entries to reach the receiver", LONG, || {
        receiver
            .status()
            .is_some_and(|s| s["pool"]["entries"] == 100)
    });
    let unseen = digests("only in the block", 10);
    let all = [more, unseen.clone()].concat();
    let second = common::block_with_entries(&network, &first.block, &all);
    let (sent, full) = relay(&second, 2);
    let mut compact = CompactBlock::of(&second, Salt([0; 8]));
    let round_one = compact.to_json().len() as u64;
    compact.prefilled = (100..110).map(|p| (p, all[p as usize].clone())).collect();
    let round_two = compact.to_json().len() as u64;
    assert_eq!(sent, round_one + round_two, "({full} bytes whole)");
    assert_eq!(received(&receiver, "missing"), 1);
    assert_eq!(received(&receiver, "complete"), 2);
    assert_eq!(receiver.metric("jbc_compact_entries_asked_total"), 10);
    assert_eq!(receiver.status().unwrap()["pool"]["entries"], 0);
}

/// Entries stamping documents: each the SHA-256 of a made-up file.
fn digests(label: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|i| {
            let digest = jbc::consensus::BlockHash::of(format!("{label} {i}").as_bytes());
            Entry::new(Content::Sha256(*digest.as_bytes())).encoding()
        })
        .collect()
}
