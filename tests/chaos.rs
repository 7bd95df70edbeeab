//! `jbc devnet --chaos`, for real: three node processes behind the
//! devnet's link proxies, links cut and healed on a seeded schedule; on
//! Ctrl-C (SIGINT to the devnet alone, as a terminal sends it: the nodes
//! have their own process group) it sums up, all nodes agree, and every
//! node's store verifies.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Reaped, free_ports, jbc_bin, status_at};

#[test]
fn a_chaos_devnet_forks_reorgs_heals_and_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let net_dir = dir.path().join("devnet");
    // Three nodes and their six proxies: nine ports in a row.
    let base = free_ports(9);
    let mut devnet = Reaped::spawn(
        Command::new(jbc_bin())
            .args(["devnet", "--nodes", "3", "--mine", "--chaos", "--seed", "3"])
            .args(["--block-time", "300ms", "--base-port"])
            .arg(base.to_string())
            .arg("--dir")
            .arg(&net_dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let (lines_tx, lines) = mpsc::channel();
    let stdout = devnet.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut said = Vec::new();
    // Run until the schedule has cut links a few times and the chain has
    // grown, then press Ctrl-C.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        while let Ok(line) = lines.try_recv() {
            said.push(line);
        }
        let cuts = said
            .iter()
            .filter(|l| l.starts_with("chaos:") && l.contains("cut"))
            .count();
        let tip = status_at(base)
            .and_then(|s| s["tip"]["index"].as_u64())
            .unwrap_or(0);
        if cuts >= 4 && tip >= 30 {
            break;
        }
        assert!(
            devnet.try_wait().unwrap().is_none(),
            "the devnet ended: {said:#?}"
        );
        assert!(
            Instant::now() < deadline,
            "not enough chaos in 2 minutes: {said:#?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    unsafe {
        libc::kill(devnet.id() as i32, libc::SIGINT);
    }
    let status = devnet.wait().unwrap();
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(5)) {
        said.push(line);
    }
    assert!(status.success(), "{status}: {said:#?}");
    let text = said.join("\n");
    assert!(text.contains("chaos: schedule seed 3"), "{text}");
    assert!(
        text.contains("chaos: node 0 reaches node 1 at 127.0.0.1:"),
        "{text}"
    );
    let reorgs: u64 = said
        .iter()
        .find_map(|l| l.trim().strip_prefix("reorgs: "))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no reorg line: {text}"));
    assert!(reorgs >= 1, "{text}");
    let agreement = said
        .iter()
        .find(|l| l.trim().starts_with("agreement: "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(agreement.contains("all 3 nodes on block"), "{agreement}");
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
        let out = Command::new(jbc_bin())
            .arg("--data-dir")
            .arg(net_dir.join(format!("node-{i}")))
            .args(["chain", "verify"])
            .output()
            .unwrap();
        let verified = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "node {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            verified.contains(&agreed_hash),
            "node {i}: {verified} vs {agreement}"
        );
    }
    eprintln!("{text}");
}
