//! The stall of issue 22 on real processes: a block-time network is idle
//! for a while, the first block after the gap is stamped now, and the
//! next one just after the median of the last 11 (a miner's choice, or a
//! miner whose clock is slow). Under `asert-per-block/1` the next target
//! is out of reach: the node says so and its miner stops hashing. Under
//! `asert-median/2`, the rule of every network made since, the same
//! sequence changes the next targets by a few percent and the network
//! goes on.
//!
//! What is asserted is what the code controls: the targets the rule gives
//! the blocks mined after the sequence, the node's warning and its miner's
//! pause. Nothing measures how fast this machine mines.

mod common;

use std::path::Path;
use std::time::Duration;

use common::process::ProcessNode;
use jbc::consensus::retarget::RuleVersion;
use jbc::consensus::validate::validate_child;
use jbc::consensus::{
    Block, CheckedBlock, DifficultyRule, EntryRules, Height, Network, ParentContext, RetargetRule,
    Target, Timestamp,
};
use jbc::miner::Job;

const BLOCK_MS: u64 = 200;
/// Blocks before the gap: enough to fill the median window.
const HISTORY: u64 = 20;
/// Hashes a block takes at the initial target: quick here.
const HASHES: u64 = 1 << 14;

fn now_ms() -> u128 {
    (jbc::chain::system_clock())()
}

/// A network of `version` whose genesis is stamped `genesis_ms`.
fn network(version: RuleVersion, max_future_ms: u64, genesis_ms: u128) -> Network {
    let mut rule = RetargetRule::new(BLOCK_MS, Target::for_expected_hashes(HASHES));
    rule.version = version;
    rule.max_future_ms = max_future_ms;
    let genesis = common::chains::mine_here(&Job {
        index: Height(0),
        prev_hash: None,
        data: format!("stall test {version}"),
        timestamp: Timestamp(genesis_ms),
        target: rule.initial_target,
    });
    Network::new(
        format!("stall test {version}"),
        genesis,
        DifficultyRule::Retarget(rule),
        EntryRules::ORIGINAL,
    )
    .expect("a mined genesis is valid")
}

/// A child of `parent` stamped `timestamp`, at the target the rule gives
/// it, and the context of its own children.
fn child(network: &Network, parent: &ParentContext, timestamp: u128) -> (Block, ParentContext) {
    let template = network.template(parent);
    let block = common::chains::mine_here(&Job {
        index: template.index,
        prev_hash: Some(template.prev_hash),
        data: format!("block {}", template.index),
        timestamp: Timestamp(timestamp),
        target: template.target,
    });
    let checked = CheckedBlock::new(block.clone(), network).expect("stage 1");
    let validated =
        validate_child(checked, parent, network, Some(Timestamp(u128::MAX))).expect("stage 2");
    (block, parent.child(&validated))
}

/// A network whose `HISTORY` blocks, a block time apart, ended `gap_ms`
/// ago; its file and its store in `dir`. Returns the network and the
/// tip's context.
fn idle_network(
    dir: &Path,
    version: RuleVersion,
    max_future_ms: u64,
    gap_ms: u128,
) -> (Network, ParentContext) {
    let start = now_ms() - gap_ms - u128::from(HISTORY * BLOCK_MS);
    let network = network(version, max_future_ms, start);
    let mut context = ParentContext::genesis(&network);
    let mut blocks = Vec::new();
    for k in 1..=u128::from(HISTORY) {
        let (block, next) = child(&network, &context, start + k * u128::from(BLOCK_MS));
        blocks.push(block);
        context = next;
    }
    std::fs::write(
        dir.join("network.json"),
        jbc::wire::network::to_json(&network),
    )
    .unwrap();
    common::chains::preload(&dir.join("node"), &network, &blocks);
    (network, context)
}

fn start_node(dir: &Path, name: &str, extra: &[&str]) -> ProcessNode {
    let file = dir.join("network.json");
    let mut args = vec!["--threads", "1", "--no-discovery"];
    args.extend_from_slice(extra);
    ProcessNode::start(
        &dir.join(name),
        &["--network", file.to_str().unwrap()],
        &args,
    )
}

fn post_block(node: &ProcessNode, block: &Block) {
    let body = String::from_utf8(jbc::wire::block_to_json(block)).unwrap();
    let (code, answer) = common::post_at(node.port, "/v1/blocks", &body).expect("the node answers");
    assert!(code == 200 || code == 201, "{code}: {answer}");
}

/// The hashes each block above `from` took on average (its target's
/// work), from `/v1/pace`.
fn works_above(node: &ProcessNode, from: u64) -> Vec<f64> {
    let pace = node.get("/v1/pace?blocks=200").expect("pace");
    pace["points"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["index"].as_u64().unwrap() > from)
        .map(|p| p["hashes_per_block"].as_f64().unwrap())
        .collect()
}

/// The miner of a node whose next block is out of reach tries no hash
/// and the tip stays: read twice, 2 s (ten block times) apart.
fn assert_stalled(node: &ProcessNode, height: u64) {
    let status = node.wait_status("the out-of-reach warning", Duration::from_secs(30), |s| {
        s["difficulty"]["warning"].is_string() && s["mining"]["enabled"] == true
    });
    let warning = status["difficulty"]["warning"].as_str().unwrap();
    assert!(warning.contains("stopped"), "{warning}");
    assert!(
        node.log().contains("this network has stopped"),
        "{}",
        node.log()
    );
    let hashes = status["mining"]["hashes"].as_u64().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let later = node.status().unwrap();
    assert_eq!(later["tip"]["index"].as_u64(), Some(height), "{later}");
    assert_eq!(later["mining"]["hashes"].as_u64(), Some(hashes), "{later}");
}

/// After the sequence, the network goes on: ten more blocks, and none of
/// the blocks from `from` on harder than the one before by more than the
/// rule allows a block (`2^(block_time / halflife)`, 2^(1/20)): the
/// targets follow this machine's hash rate at that pace, never in a jump.
fn assert_goes_on(node: &ProcessNode, from: u64, height: u64) {
    node.wait_status(
        "ten blocks after the sequence",
        Duration::from_secs(120),
        |s| s["tip"]["index"].as_u64().unwrap() >= height + 10,
    );
    assert!(node.status().unwrap()["difficulty"]["warning"].is_null());
    let works = works_above(node, from - 1);
    assert!(works.len() >= 10, "{works:?}");
    for pair in works.windows(2) {
        assert!(
            pair[1] <= pair[0] * 1.04,
            "a block took {} hashes after one of {}: {works:?}",
            pair[1],
            pair[0]
        );
    }
}

#[test]
fn a_block_dated_back_after_an_idle_gap_stalls_version_1_and_not_version_2() {
    for version in [RuleVersion::PerBlock1, RuleVersion::Median2] {
        let dir = tempfile::tempdir().unwrap();
        // Two minutes idle: 30 half-lives of this network.
        let (network, tip) = idle_network(dir.path(), version, 2_000, 120_000);
        let node = start_node(dir.path(), "node", &[]);
        // The first block after the gap, stamped now; the next one just
        // after the median of the last eleven (before the gap).
        let (b1, after_b1) = child(&network, &tip, now_ms());
        let median = after_b1.times.median().unwrap().0;
        let (b2, _) = child(&network, &after_b1, median + 1);
        post_block(&node, &b1);
        post_block(&node, &b2);
        let height = HISTORY + 2;
        assert_eq!(node.height(), Some(height));
        node.control(&["mining", "on"]);
        match version {
            RuleVersion::PerBlock1 => assert_stalled(&node, height),
            RuleVersion::Median2 => assert_goes_on(&node, HISTORY, height),
        }
    }
}

#[test]
fn a_miner_whose_clock_is_15_minutes_slow_stalls_version_1_and_not_version_2() {
    for version in [RuleVersion::PerBlock1, RuleVersion::Median2] {
        let dir = tempfile::tempdir().unwrap();
        // A network that lets clocks be 20 minutes apart, idle for half
        // an hour. One node's clock is 15 minutes slow: it takes the
        // first block after the gap (stamped now by another miner) and
        // stamps its own by its clock, before the gap's end.
        let (network, tip) = idle_network(dir.path(), version, 20 * 60_000, 30 * 60_000);
        let slow = start_node(dir.path(), "node", &["--clock-offset", "-15m"]);
        let (b1, _) = child(&network, &tip, now_ms());
        post_block(&slow, &b1);
        slow.control(&["mining", "on"]);
        match version {
            RuleVersion::PerBlock1 => {
                // It finds one block, stamped 15 minutes back, after which
                // nothing can be found.
                slow.wait_status("the slow miner's block", Duration::from_secs(60), |s| {
                    s["tip"]["index"].as_u64() == Some(HISTORY + 2)
                });
                assert_stalled(&slow, HISTORY + 2);
            }
            RuleVersion::Median2 => assert_goes_on(&slow, HISTORY, HISTORY + 1),
        }
        // Its blocks carry its clock: 15 minutes behind the first block
        // after the gap.
        let pace = slow.get("/v1/pace?blocks=5").unwrap();
        let last = pace["points"].as_array().unwrap().last().unwrap()["time_ms"]
            .as_f64()
            .unwrap();
        let b1_time = b1.timestamp.0 as f64;
        assert!(
            last < b1_time - 14.0 * 60_000.0,
            "{version}: the slow miner's last block is stamped {last}, the first after the gap {b1_time}"
        );
    }
}
