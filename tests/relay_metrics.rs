//! The relay counters of `/metrics` on real node processes: what a node
//! sent its peers to spread blocks and entries
//! (`jbc_relay_sent_total{kind}`, `jbc_relay_sent_bytes_total{kind}`)
//! moves by one send per block per peer and by the bytes of the bodies as
//! the wire module writes them, and by one send per `POST /v1/entries`.

mod common;

use std::time::Duration;

use jbc::consensus::Entry;
use jbc::consensus::entry::Content;

use common::process::ProcessNode;

/// (sends, bytes) of `kind` the node counted so far.
fn sent(node: &ProcessNode, kind: &str) -> (u64, u64) {
    (
        node.metric(&format!("jbc_relay_sent_total{{kind=\"{kind}\"}}")),
        node.metric(&format!("jbc_relay_sent_bytes_total{{kind=\"{kind}\"}}")),
    )
}

#[test]
fn a_node_counts_the_sends_and_bytes_it_relays() {
    let network = common::strict_network(1, "relay metrics", 0);
    let dir = tempfile::tempdir().unwrap();
    let network_file = dir.path().join("network.json");
    std::fs::write(&network_file, jbc::wire::network::to_json(&network)).unwrap();
    let global = ["--network", network_file.to_str().unwrap()];
    // The receiver dials nobody, so it does not listen to the sender's
    // tips either (those bytes would count too): only relay goes out.
    let receiver = ProcessNode::start(&dir.path().join("receiver"), &global, &["--no-discovery"]);
    // The sender is the one given a peer: a node relays to the peers in its
    // list (and to itself never, should it learn its own address).
    let sender = ProcessNode::start(
        &dir.path().join("sender"),
        &global,
        &["--peer", &receiver.url],
    );
    common::wait_until(
        "the sender to have its peer up",
        Duration::from_secs(30),
        || {
            sender
                .get("/v1/peers")
                .is_some_and(|answer| common::peers_up_in(&answer) == [receiver.url.clone()])
        },
    );
    assert_eq!(sent(&sender, "block"), (0, 0));
    assert_eq!(sent(&sender, "entries"), (0, 0));

    // An entry posted to the sender goes on to the receiver in one POST of
    // a JSON list of its canonical line.
    let line = Entry::new(Content::Text("relayed entry".into())).encoding();
    let (code, answer) = common::post_at(sender.port, "/v1/entries", &line).unwrap();
    assert_eq!(code, 201, "{answer}");
    let entries_body = format!("[{line}]").len() as u64;
    common::wait_until(
        "the entry's relay to be counted",
        Duration::from_secs(30),
        || sent(&sender, "entries") != (0, 0),
    );
    assert_eq!(sent(&sender, "entries"), (1, entries_body));

    // A block carrying that entry, posted with its body, goes on to the
    // receiver once, in compact form (the receiver holds the entry), as
    // `wire::compact` writes it (its length is the same whatever the salt).
    let block = common::block_with_entries(&network, network.genesis(), &[line]);
    let json = jbc::wire::block_and_body_to_json(&block);
    let (code, answer) = common::post_at(
        sender.port,
        "/v1/blocks",
        std::str::from_utf8(&json).unwrap(),
    )
    .unwrap();
    assert_eq!(code, 201, "{answer}");
    let hash = block.block.hash.to_string();
    receiver.wait_status(
        "the block to reach the receiver",
        Duration::from_secs(30),
        |s| s["tip"]["hash"] == hash.as_str(),
    );
    common::wait_until(
        "the block's relay to be counted",
        Duration::from_secs(30),
        || sent(&sender, "block") != (0, 0),
    );
    let compact = jbc::wire::compact::CompactBlock::of(&block, jbc::wire::compact::Salt([0; 8]));
    assert_eq!(sent(&sender, "block"), (1, compact.to_json().len() as u64));
    // Nothing else went out for it.
    assert_eq!(sent(&sender, "entries"), (1, entries_body));
}

/// A node that dialled nobody pushes nothing, but the tip announcements it
/// sends to a node listening to it count as bytes spent spreading blocks:
/// exactly one `tip` event, as framed, for one new block.
#[test]
fn tip_announcements_to_a_listening_node_count_as_block_bytes() {
    let network = common::strict_network(1, "announcement metrics", 0);
    let dir = tempfile::tempdir().unwrap();
    let network_file = dir.path().join("network.json");
    std::fs::write(&network_file, jbc::wire::network::to_json(&network)).unwrap();
    let global = ["--network", network_file.to_str().unwrap()];
    let announcer = ProcessNode::start(&dir.path().join("a"), &global, &["--no-discovery"]);
    let listener = ProcessNode::start(
        &dir.path().join("b"),
        &global,
        &["--no-discovery", "--peer", &announcer.url],
    );
    // The listener's stream starts with the tip as it is.
    common::wait_until(
        "the listener to hear the first tip",
        Duration::from_secs(30),
        || sent(&announcer, "block").1 > 0,
    );
    let before = sent(&announcer, "block");
    let block = common::block_with_entries(&network, network.genesis(), &[]);
    let json = jbc::wire::block_and_body_to_json(&block);
    let (code, answer) = common::post_at(
        announcer.port,
        "/v1/blocks",
        std::str::from_utf8(&json).unwrap(),
    )
    .unwrap();
    assert_eq!(code, 201, "{answer}");
    let hash = block.block.hash.to_string();
    listener.wait_status(
        "the block to reach the listener",
        Duration::from_secs(30),
        |s| s["tip"]["hash"] == hash.as_str(),
    );
    let status = announcer.status().expect("the announcer answers");
    let event = serde_json::json!({
        "type": "tip",
        "index": 1,
        "hash": hash,
        "chain_work": status["tip"]["chain_work"],
        "fork_index": 0,
        "disconnected": 0,
        "connected": 1,
    });
    let framed = serde_json::to_string(&event).unwrap().len() as u64 + 8;
    let after = sent(&announcer, "block");
    assert_eq!(after.0, before.0, "the announcer pushed nothing");
    assert_eq!(after.1 - before.1, framed, "one tip event: {event}");
}
