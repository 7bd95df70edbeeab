//! A devnet with a 1 s target block time, for real: three `jbc` processes
//! mine for a minute of chain time on this machine; the mean block time
//! is within 25% of the target, and all three end on one chain that
//! verifies. In its own test binary, so no other test takes its CPU.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_ports, get_at, jbc_bin, status_at};
use jbc::store::BlockReads;

const NODES: u16 = 3;
/// Chain time to mine, in milliseconds.
const RUN_MS: f64 = 60_000.0;

fn tips(base: u16) -> Vec<Option<(u64, String)>> {
    (0..NODES)
        .map(|i| {
            let status = status_at(base + i)?;
            Some((
                status["tip"]["index"].as_u64()?,
                status["tip"]["hash"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

#[test]
fn a_devnet_with_a_one_second_target_keeps_it_and_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let net_dir = dir.path().join("devnet");
    let base = free_ports(NODES);
    let mut devnet = common::Reaped(
        Command::new(jbc_bin())
            .args([
                "devnet",
                "--nodes",
                "3",
                "--mine",
                "--block-time",
                "1s",
                "--base-port",
            ])
            .arg(base.to_string())
            .arg("--dir")
            .arg(&net_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stop = |devnet: &mut std::process::Child| {
        unsafe {
            libc::kill(devnet.id() as i32, libc::SIGTERM);
        }
        devnet.wait().unwrap()
    };
    // Every node up and mining: from here the chain's minute starts.
    let deadline = Instant::now() + Duration::from_secs(60);
    let start_index = loop {
        let statuses: Vec<_> = (0..NODES).map(|i| status_at(base + i)).collect();
        let mining = statuses
            .iter()
            .all(|s| s.as_ref().is_some_and(|s| s["mining"]["enabled"] == true));
        if mining {
            break statuses[0].as_ref().unwrap()["tip"]["index"]
                .as_u64()
                .unwrap();
        }
        assert!(devnet.try_wait().unwrap().is_none(), "the devnet ended");
        assert!(
            Instant::now() < deadline,
            "the devnet never got going: {statuses:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // A minute of blocks after that (chain time, from their timestamps).
    let deadline = Instant::now() + Duration::from_secs(180);
    let points = loop {
        let pace = get_at(base, "/v1/pace?blocks=1000");
        if let Some(points) = pace.as_ref().and_then(|p| p["points"].as_array()) {
            let times: Vec<(u64, f64)> = points
                .iter()
                .filter_map(|p| Some((p["index"].as_u64()?, p["time_ms"].as_f64()?)))
                // From the first block mined once every node mines.
                .filter(|(index, _)| *index > start_index)
                .collect();
            if let (Some(first), Some(last)) = (times.first(), times.last())
                && last.1 - first.1 >= RUN_MS
            {
                break times;
            }
        }
        assert!(
            Instant::now() < deadline,
            "not a minute of chain in 3 minutes"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    // All three on one tip (blocks come every second; they agree between).
    let deadline = Instant::now() + Duration::from_secs(30);
    let agreed = loop {
        let tips = tips(base);
        if tips.iter().all(|t| t.is_some() && *t == tips[0]) {
            break tips[0].clone().unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "the nodes never agreed: {tips:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(stop(&mut devnet).success());

    let intervals: Vec<f64> = points.windows(2).map(|w| w[1].1 - w[0].1).collect();
    let mean = intervals.iter().sum::<f64>() / intervals.len() as f64;
    let spread =
        (intervals.iter().map(|i| (i - mean).powi(2)).sum::<f64>() / intervals.len() as f64).sqrt();
    eprintln!(
        "devnet, 3 nodes, target 1000 ms: {} blocks, mean {mean:.0} ms, standard deviation {spread:.0} ms, shortest {:.0} ms, longest {:.0} ms",
        intervals.len(),
        intervals.iter().cloned().fold(f64::INFINITY, f64::min),
        intervals.iter().cloned().fold(0.0, f64::max),
    );
    assert!(
        (mean - 1000.0).abs() <= 250.0,
        "mean block time {mean:.0} ms is not within 25% of 1000 ms; intervals: {intervals:?}"
    );
    // Each node's store: one chain that verifies, ending where they agreed.
    for i in 0..NODES {
        let data_dir = net_dir.join(format!("node-{i}"));
        let out = Command::new(jbc_bin())
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["chain", "verify"])
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "node {i}: {said}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // A block may have come between agreeing and stopping: the chain
        // goes through the agreed tip.
        let reader = jbc::store::StoreReader::open(&data_dir.join(jbc::store::DB_FILE)).unwrap();
        let at = reader
            .main_hash_at(jbc::consensus::Height(agreed.0))
            .unwrap();
        assert_eq!(
            at.map(|h| h.to_string()),
            Some(agreed.1.clone()),
            "node {i} left the agreed chain"
        );
    }
}
