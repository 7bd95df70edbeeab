//! Five `jbc node` processes, each on its own host (a Linux network
//! namespace with its own address), wired through a switch that can cut
//! the network in two (`common::netns`). Skipped, saying so, where network
//! namespaces are not available (they need root; CI runs as root).
//!
//! 1. Each node is given only one `--peer`; they all find each other.
//! 2. Both sides mine, the network is cut, both grow, the cut heals: all
//!    nodes converge on the chain with the most work within 5 s, and the
//!    losing side keeps its blocks as a side branch.
//! 3. A node killed (SIGKILL) during the cut and restarted after it, with
//!    no `--peer`, reconnects from the peers it stored and catches up.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::netns::Lab;
use common::{Reaped, jbc_bin};
use serde_json::{Value, json};

const PORT: u16 = 5000;
const SIDES: [usize; 5] = [0, 0, 0, 1, 1];
/// Node 0 mines on side A, node 3 on side B.
const MINERS: [usize; 2] = [0, 3];

fn wait(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    started.elapsed()
}

struct Net {
    lab: Lab,
    dir: tempfile::TempDir,
    network: PathBuf,
}

impl Net {
    fn data_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("node-{i}"))
    }

    /// Starts `jbc node` on host `i`; `first_start` gives it host 0 as its
    /// one peer (and the network file); a restart gives it nothing.
    fn start(&self, i: usize, first_start: bool, mine: bool) -> Reaped {
        let mut command = self.lab.command(i, jbc_bin());
        command.arg("--data-dir").arg(self.data_dir(i));
        if first_start {
            command.arg("--network").arg(&self.network);
        }
        let listen = format!("{}:{PORT}", self.lab.hosts[i].ip);
        command.args(["node", "--listen", &listen, "--threads", "1"]);
        if first_start && i != 0 {
            command.arg("--peer").arg(self.lab.hosts[0].url(PORT));
        }
        if mine {
            command.arg("--mine");
        }
        let log = std::fs::File::create(self.dir.path().join(format!("node-{i}.log"))).unwrap();
        command.stdout(Stdio::null()).stderr(log);
        Reaped::spawn(&mut command)
    }

    fn status(&self, i: usize) -> Option<Value> {
        self.lab.get(i, PORT, "/v1/status")
    }

    /// (index, hash, chain work) of node `i`'s tip.
    fn tip(&self, i: usize) -> Option<(u64, String, String)> {
        let status = self.status(i)?;
        let tip = &status["tip"];
        Some((
            tip["index"].as_u64()?,
            tip["hash"].as_str()?.to_owned(),
            tip["chain_work"].as_str()?.to_owned(),
        ))
    }

    /// The peers node `i` has up.
    fn peers_up(&self, i: usize) -> Vec<String> {
        self.lab
            .get(i, PORT, "/v1/peers")
            .map(|answer| common::peers_up_in(&answer))
            .unwrap_or_default()
    }

    fn set_mining(&self, i: usize, on: bool) {
        let token = jbc::node::operator::read_token(&self.data_dir(i)).unwrap();
        let body = json!({ "mine": on }).to_string();
        let answer = self
            .lab
            .request(i, PORT, "POST", "/v1/mining", Some(&token), &body);
        assert!(matches!(answer, Some((200, _))), "{answer:?}");
    }

    /// The block `hash` as node `i` has it.
    fn block(&self, i: usize, hash: &str) -> Option<Value> {
        self.lab.get(i, PORT, &format!("/v1/blocks/{hash}"))
    }
}

/// Work as a number, for comparing (exact decimal text in the API).
fn work(text: &str) -> u128 {
    text.parse().unwrap_or(0)
}

fn network_file(dir: &Path) -> PathBuf {
    let out = Command::new(jbc_bin())
        .args([
            "network",
            "new",
            "--block-time",
            "300ms",
            "--hashes-per-block",
            "300000",
            "--data",
            "hosts test",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = dir.join("network.json");
    std::fs::write(&path, out.stdout).unwrap();
    path
}

#[test]
fn five_hosts_find_each_other_survive_a_partition_and_a_crash() {
    let Some(lab) = Lab::new(&SIDES) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let network = network_file(dir.path());
    let net = Net { lab, dir, network };
    let urls: Vec<String> = net.lab.hosts.iter().map(|h| h.url(PORT)).collect();

    // 1. One --peer each; every node finds the four others.
    let mut nodes: Vec<Option<Reaped>> = (0..SIDES.len())
        .map(|i| Some(net.start(i, true, MINERS.contains(&i))))
        .collect();
    let found = wait(
        "every node to find the four others",
        Duration::from_secs(30),
        || (0..SIDES.len()).all(|i| net.peers_up(i).len() == SIDES.len() - 1),
    );
    eprintln!("5 hosts, one --peer each: all connected in {found:?}");
    for (i, url) in urls.iter().enumerate() {
        let mut others: Vec<String> = urls.iter().filter(|u| *u != url).cloned().collect();
        others.sort();
        assert_eq!(net.peers_up(i), others, "node {i}");
    }
    wait("a few blocks everywhere", Duration::from_secs(60), || {
        (0..SIDES.len()).all(|i| net.tip(i).is_some_and(|t| t.0 >= 3))
    });

    // 2. Cut; both sides grow; node 4 is killed on the way.
    net.lab.cut();
    let at_cut: Vec<u64> = MINERS.iter().map(|&i| net.tip(i).unwrap().0).collect();
    wait("side B to grow", Duration::from_secs(60), || {
        net.tip(3).is_some_and(|t| t.0 >= at_cut[1] + 2)
    });
    let mut killed = nodes[4].take().unwrap();
    killed.kill().unwrap();
    killed.wait().unwrap();
    wait("both sides to grow", Duration::from_secs(60), || {
        net.tip(0).is_some_and(|t| t.0 >= at_cut[0] + 4)
            && net.tip(3).is_some_and(|t| t.0 >= at_cut[1] + 4)
    });
    for &i in &MINERS {
        net.set_mining(i, false);
    }
    // The sides must differ in work, or neither is "most": mine on A
    // until it leads.
    loop {
        let (a, b) = (net.tip(0).unwrap(), net.tip(3).unwrap());
        if work(&a.2) != work(&b.2) {
            break;
        }
        net.set_mining(0, true);
        wait("side A to pull ahead", Duration::from_secs(30), || {
            net.tip(0).is_some_and(|t| t.0 > a.0)
        });
        net.set_mining(0, false);
    }
    let (a, b) = (net.tip(0).unwrap(), net.tip(3).unwrap());
    let (winner, loser, losing_side) = if work(&a.2) > work(&b.2) {
        (a, b, 1)
    } else {
        (b, a, 0)
    };
    let alive = [0, 1, 2, 3];

    // Heal: everyone alive on the most-work chain within 5 s.
    net.lab.heal();
    let converged = wait(
        "every node on the most-work chain",
        Duration::from_secs(30),
        || {
            alive
                .iter()
                .all(|&i| net.tip(i).is_some_and(|t| t.1 == winner.1))
        },
    );
    eprintln!(
        "after the heal, all nodes on the most-work chain (block {}) in {converged:?}",
        winner.0
    );
    assert!(
        converged < Duration::from_secs(5),
        "converged in {converged:?}"
    );
    // The losing side keeps its blocks, off the main chain.
    for &i in alive.iter().filter(|&&i| SIDES[i] == losing_side) {
        let stored = net.block(i, &loser.1).expect("the node answers");
        assert_eq!(
            stored["block"]["hash"],
            json!(loser.1),
            "node {i}: {stored}"
        );
        assert_eq!(stored["main_chain"], json!(false), "node {i}");
    }

    // 3. Node 4 restarts with no --peer: it reconnects from its stored
    // peers and catches up.
    nodes[4] = Some(net.start(4, false, false));
    let caught_up = wait(
        "the restarted node to catch up",
        Duration::from_secs(30),
        || net.tip(4).is_some_and(|t| t.1 == winner.1),
    );
    eprintln!("node 4, restarted without --peer, caught up in {caught_up:?}");
    wait(
        "the restarted node to reconnect to all",
        Duration::from_secs(30),
        || net.peers_up(4).len() == SIDES.len() - 1,
    );
    drop(nodes);
}
