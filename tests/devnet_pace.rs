//! A devnet whose difficulty follows the clock, for real: three `jbc`
//! processes mine; every block's difficulty is what `asert-median/2` gives
//! it from the timestamps that came before it, all three end on one chain,
//! and every store verifies.
//!
//! What is asserted is what the code controls: the rule's answer to the
//! intervals that happened, whatever they were. How close the mean block
//! time comes to the target depends on the machine's luck (a busy machine
//! mines in fits and starts); that figure is a bench:
//! `cargo bench --bench retarget -- --devnet`.

mod common;

use std::time::Duration;

use common::devnet::Devnet;
use jbc::store::BlockReads;

const NODES: u16 = 3;
const BLOCK_MS: f64 = 500.0;
/// Blocks to check once the median window is full.
const CHECKED: u64 = 40;
/// The rule's first block with a full window: the solve time of block `h`
/// is the median of the 11 timestamps ending at `h - 1` minus the median
/// of the 11 ending at `h - 2`.
const FIRST_FULL: u64 = 12;

/// The median of 11 timestamps.
fn median(times: &[f64]) -> f64 {
    assert_eq!(times.len(), 11);
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[5]
}

#[test]
fn a_devnet_follows_its_difficulty_rule_block_by_block_and_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let mut devnet = Devnet::start(
        &dir.path().join("devnet"),
        NODES,
        &[],
        &["--mine", "--block-time", "500ms"],
    );
    devnet.wait_ready();
    devnet.wait_until("the blocks to check", Duration::from_secs(240), |devnet| {
        devnet.tip(0).is_some_and(|t| t.0 >= FIRST_FULL + CHECKED)
    });
    let status = devnet.interrupt();
    assert!(status.success(), "{status}: {}", devnet.output());
    let text = devnet.output();
    let agreement = text
        .lines()
        .find(|l| l.trim().starts_with("agreement: "))
        .unwrap_or_else(|| panic!("no agreement line: {text}"));
    assert!(agreement.contains("all 3 nodes on block"), "{agreement}");
    let agreed_hash = agreement.trim().split(' ').nth(7).unwrap_or_default();

    // The network: its block time and half-life.
    let network =
        jbc::wire::network::from_json(&std::fs::read(devnet.dir.join("network.json")).unwrap())
            .unwrap();
    let rule = network.retarget().expect("a network with a block time");
    assert_eq!(rule.version.name(), "asert-median/2");
    assert_eq!(rule.block_time_ms as f64, BLOCK_MS);
    let halflife = rule.halflife_ms as f64;

    // Every node's store verifies and ends on the agreed tip; the chain,
    // with each block's target, read from node 0's store.
    for i in 0..NODES {
        let verified = devnet.verify(i);
        assert!(verified.contains(agreed_hash), "node {i}: {verified}");
    }
    let reader = jbc::store::StoreReader::open(&devnet.data_dir(0).join(jbc::store::DB_FILE))
        .expect("node 0's store");
    let tip = reader.tip().unwrap();
    let chain = reader
        .main_chain_times(jbc::consensus::Height(0), tip.index)
        .unwrap();
    assert_eq!(chain.len() as u64, tip.index.0 + 1);
    assert!(tip.index.0 >= FIRST_FULL + CHECKED, "tip {}", tip.index);
    let times: Vec<f64> = chain.iter().map(|b| b.timestamp.0 as f64).collect();
    let hashes: Vec<f64> = chain
        .iter()
        .map(|b| {
            // The genesis block's is the network's initial target.
            let target = b.target.unwrap_or(rule.initial_target);
            target.work().as_f64()
        })
        .collect();

    // Until the window is full, every block counts as on time: the
    // genesis target stays.
    for h in 1..FIRST_FULL as usize {
        assert_eq!(hashes[h], hashes[0], "block {h} before the window was full");
    }
    // From then on: the parent's difficulty times 2^((block time - solve
    // time) / half-life), the solve time measured between medians and
    // clamped to block time ± half-life. Its direction exactly (a solve
    // time above the block time makes the next block easier), its size to
    // the rule's fixed-point precision (0.013%, well inside 0.1%).
    let mut slower = 0;
    let mut faster = 0;
    for h in FIRST_FULL as usize..times.len() {
        let solve = median(&times[h - 11..h]) - median(&times[h - 12..h - 1]);
        let clamped = solve.clamp(BLOCK_MS - halflife, BLOCK_MS + halflife);
        let expected = 2f64.powf((BLOCK_MS - clamped) / halflife);
        let ratio = hashes[h] / hashes[h - 1];
        let said = format!(
            "block {h}: solve time {solve} ms, difficulty x{ratio:.6}, the rule says x{expected:.6}"
        );
        match clamped.total_cmp(&BLOCK_MS) {
            std::cmp::Ordering::Greater => {
                slower += 1;
                assert!(ratio < 1.0, "{said}");
            }
            std::cmp::Ordering::Less => {
                faster += 1;
                assert!(ratio > 1.0, "{said}");
            }
            std::cmp::Ordering::Equal => assert_eq!(ratio, 1.0, "{said}"),
        }
        assert!((ratio / expected - 1.0).abs() < 1e-3, "{said}");
    }
    eprintln!(
        "{} blocks checked: {slower} made easier after a slow solve time, {faster} harder after a fast one",
        times.len() - FIRST_FULL as usize
    );
}
