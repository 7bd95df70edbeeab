//! `jbc devnet --chaos`, for real: three node processes behind the
//! devnet's link proxies, links cut and healed on a seeded schedule; on
//! Ctrl-C (SIGINT to the devnet alone, as a terminal sends it: the nodes
//! have their own process group) it sums up, all nodes agree, and every
//! node's store verifies. What it printed names nodes, never proxies'
//! ports.

mod common;

use std::time::Duration;

use common::devnet::Devnet;

#[test]
fn a_chaos_devnet_forks_reorgs_heals_and_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let mut devnet = Devnet::start(
        &dir.path().join("devnet"),
        3,
        &[],
        &["--mine", "--chaos", "--seed", "3", "--block-time", "300ms"],
    );
    devnet.wait_ready();
    // Run until the schedule has cut links a few times and the chain has
    // grown, then press Ctrl-C.
    devnet.wait_until(
        "four cuts and 30 blocks",
        Duration::from_secs(120),
        |devnet| {
            let cuts = devnet
                .lines()
                .iter()
                .filter(|l| l.contains(" chaos: ") && l.contains(" cut "))
                .count();
            cuts >= 4 && devnet.tip(0).is_some_and(|t| t.0 >= 30)
        },
    );
    let status = devnet.interrupt();
    let text = devnet.output();
    assert!(status.success(), "{status}");
    assert!(text.contains("chaos: schedule seed 3"), "{text}");
    let first = devnet.port(0);
    assert!(
        text.contains(&format!(
            "chaos: node 0 reaches node 1 at 127.0.0.1:{}",
            first + 4
        )),
        "{text}"
    );
    // Every change of the schedule names the nodes it touches.
    for line in text.lines().filter(|l| l.contains(" chaos: ")) {
        assert!(
            line.contains("link node ") || line.contains(" chaos: node "),
            "{line}"
        );
    }
    let reorgs: u64 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("reorgs: "))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no reorg line: {text}"));
    assert!(reorgs >= 1, "{text}");
    let agreement = text
        .lines()
        .find(|l| l.trim().starts_with("agreement: "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(agreement.contains("all 3 nodes on block"), "{agreement}");
    assert!(
        agreement.contains("after every link was healed"),
        "{agreement}"
    );
    assert!(text.contains("network split: "), "{text}");
    // Chaos touched connections only: every store verifies, on one tip.
    let agreed_hash = agreement
        .trim()
        .split(' ')
        .nth(7)
        .unwrap_or_default()
        .to_owned();
    assert_eq!(agreed_hash.len(), 64, "{agreement}");
    for i in 0..3 {
        let verified = devnet.verify(i);
        assert!(
            verified.contains(&agreed_hash),
            "node {i}: {verified} vs {agreement}"
        );
    }
}
