//! The `jbc` binary as a person uses it: real processes, real files.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use std::time::Duration;

use common::devnet::Devnet;
use common::process::ProcessNode;
use common::{fixture, jbc_bin, status_at};

fn jbc(args: &[&str]) -> Output {
    Command::new(jbc_bin())
        .args(args)
        .output()
        .expect("run jbc")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Mines a genesis at `zeros` into `dir/genesis.json`; returns the global
/// flags that select that network and `dir/node` as data directory.
fn easy_network(dir: &Path, zeros: u32) -> Vec<String> {
    let zeros = zeros.to_string();
    let out = jbc(&[
        "--difficulty",
        &zeros,
        "genesis",
        "--data",
        "cli test network",
        "--timestamp",
        "1",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let genesis = dir.join("genesis.json");
    std::fs::write(&genesis, &out.stdout).unwrap();
    vec![
        "--difficulty".into(),
        zeros,
        "--genesis".into(),
        genesis.display().to_string(),
        "--data-dir".into(),
        dir.join("node").display().to_string(),
    ]
}

fn with(flags: &[String], args: &[&str]) -> Output {
    let mut all: Vec<&str> = flags.iter().map(String::as_str).collect();
    all.extend_from_slice(args);
    jbc(&all)
}

#[test]
fn help_is_written_for_people() {
    let out = jbc(&["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for word in [
        "genesis",
        "mine",
        "chain",
        "--data-dir",
        "--difficulty",
        "--genesis",
    ] {
        assert!(help.contains(word), "help lacks {word}: {help}");
    }
    let out = jbc(&["chain", "import", "--help"]);
    assert!(text(&out.stdout).contains("chaindata"));
}

#[test]
fn mine_show_verify_on_a_new_network() {
    let dir = tempfile::tempdir().unwrap();
    let flags = easy_network(dir.path(), 2);
    let out = with(
        &flags,
        &["mine", "--blocks", "5", "--data", "hello", "--threads", "2"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).matches("mined block").count(), 5);

    let out = with(&flags, &["chain", "show", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let blocks = jbc::wire::chain_from_slice(&out.stdout).unwrap();
    assert_eq!(blocks.len(), 6);
    assert_eq!(blocks[5].data, "hello");
    assert_eq!(blocks[5].index.0, 5);

    let out = with(&flags, &["chain", "show", "--from", "2", "--limit", "2"]);
    let table = text(&out.stdout);
    assert!(
        table.contains("hello") && table.lines().count() == 4,
        "{table}"
    );

    let out = with(&flags, &["chain", "verify"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("verified 6 blocks"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn import_then_export_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("node");
    let data_dir = data_dir.to_str().unwrap();
    let out = jbc(&[
        "--data-dir",
        data_dir,
        "chain",
        "import",
        fixture("chaindata").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("imported 4 blocks"),
        "{}",
        text(&out.stdout)
    );
    let export = dir.path().join("exported");
    let out = jbc(&[
        "--data-dir",
        data_dir,
        "chain",
        "export",
        export.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for name in ["000000.json", "000001.json", "000002.json", "000003.json"] {
        assert_eq!(
            std::fs::read(export.join(name)).unwrap(),
            std::fs::read(fixture("chaindata").join(name)).unwrap()
        );
    }
}

#[test]
fn errors_print_once_and_exit_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let out = jbc(&[
        "--data-dir",
        data_dir,
        "--difficulty",
        "99",
        "chain",
        "show",
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert_eq!(err.matches("error:").count(), 1, "{err}");
    assert!(err.contains("99"), "{err}");

    let out = jbc(&["--data-dir", data_dir, "--difficulty", "6", "chain", "show"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("genesis"),
        "{}",
        text(&out.stderr)
    );

    let out = jbc(&["--data-dir", data_dir, "chain", "import", "/no/such/folder"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("/no/such/folder"),
        "{}",
        text(&out.stderr)
    );

    // A store opened with another network's parameters is refused (with
    // none, it opens on the network it remembers).
    let flags = easy_network(dir.path(), 1);
    assert!(with(&flags, &["chain", "show"]).status.success());
    let node = dir.path().join("node");
    let out = jbc(&["--data-dir", node.to_str().unwrap(), "chain", "show"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = jbc(&[
        "--data-dir",
        node.to_str().unwrap(),
        "--difficulty",
        "5",
        "chain",
        "show",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("another network"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_store_killed_mid_mining_reopens_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let flags = easy_network(dir.path(), 1);
    let mut child = common::Reaped(
        Command::new(jbc_bin())
            .args(&flags)
            .args(["mine", "--blocks", "100000", "--threads", "1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Read until 100 blocks are acknowledged (printed after the commit).
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acknowledged = 0u64;
    while acknowledged < 100 {
        let line = lines.next().expect("miner ended early").unwrap();
        if let Some(rest) = line.strip_prefix("mined block ") {
            acknowledged = rest.split(' ').next().unwrap().parse().unwrap();
        }
    }
    child.kill().unwrap(); // SIGKILL, in the middle of the run
    let status = child.wait().unwrap();
    assert!(
        status.code().is_none(),
        "the miner was not killed: {status}"
    );

    let out = with(&flags, &["chain", "verify"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    let verified: u64 = report
        .strip_prefix("verified ")
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    // Nothing acknowledged was lost (blocks 0..=acknowledged at least).
    assert!(
        verified > acknowledged,
        "verified {verified}, acknowledged {acknowledged}"
    );
    assert!(verified <= 100_001);
}

#[test]
fn devnet_runs_mining_nodes_and_stops_them_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut devnet = Devnet::start(
        &dir.path().join("devnet"),
        2,
        &["--difficulty", "3"],
        &["--mine"],
    );
    devnet.wait_ready();
    let urls: Vec<String> = devnet
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("  node "))
        .collect();
    assert_eq!(urls.len(), 2, "{urls:?}");
    // Both mine, see each other, and agree within a few blocks.
    devnet.wait_until(
        "both nodes to mine, peered",
        Duration::from_secs(60),
        |devnet| {
            (0..2).all(|i| {
                devnet.status(i).is_some_and(|s| {
                    s["tip"]["index"].as_u64().unwrap_or(0) >= 5
                        && s["mining"]["enabled"] == serde_json::json!(true)
                        && s["peers"][0]["state"] == serde_json::json!("up")
                })
            })
        },
    );
    // SIGTERM: every node stops and closes its store.
    let status = devnet.terminate();
    assert!(status.success(), "{status}");
    assert!(
        devnet.status(0).is_none() && devnet.status(1).is_none(),
        "a node outlived the devnet"
    );
    for node in 0..2 {
        devnet.verify(node);
    }
}

#[test]
fn a_node_logs_json_lines_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = common::Reaped(
        Command::new(jbc_bin())
            .arg("--data-dir")
            .arg(dir.path())
            .args(["node", "--port", "0", "--log-format", "json"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["fields"]["message"], "node started", "{first}");
    assert_eq!(first["level"], "INFO");
    // The port the system picked, as the line says.
    let port: u16 = first["fields"]["address"]
        .as_str()
        .and_then(|a| a.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no address in {first}"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while status_at(port).is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the node never answered"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let rest: Vec<serde_json::Value> = lines
        .map(|l| serde_json::from_str(&l.unwrap()).expect("every log line is JSON"))
        .collect();
    assert!(child.wait().unwrap().success());
    let messages: Vec<&str> = rest
        .iter()
        .filter_map(|l| l["fields"]["message"].as_str())
        .collect();
    assert!(
        messages.contains(&"store closed; node stopped"),
        "{messages:?}"
    );
}

/// Makes closing `stream` send a reset instead of a normal goodbye.
fn abort_on_close(stream: &std::net::TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a socket we own, with a correctly sized value.
    let result = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(result, 0, "setsockopt SO_LINGER");
}

#[test]
fn a_node_survives_clients_that_hang_up_mid_answer() {
    use std::io::{Read, Write};
    // A few megabytes of chain: 20,000 blocks at difficulty 1.
    let dir = tempfile::tempdir().unwrap();
    let params = common::easy_params(1, "hang up");
    let chain = common::blocks_on(&params, params.genesis(), 20_000, "a block of a long chain");
    let data_dir = dir.path().join("node");
    common::net::preload(&data_dir, &params, &chain);
    let genesis = dir.path().join("genesis.json");
    std::fs::write(&genesis, jbc::wire::block_to_json(params.genesis())).unwrap();
    let genesis = genesis.display().to_string();
    let mut node = ProcessNode::start(
        &data_dir,
        &["--difficulty", "1", "--genesis", &genesis],
        &[],
    );
    let port = node.port;
    for round in 0..40 {
        let mut dead = |e: std::io::Error| -> ! {
            panic!(
                "round {round}: the node stopped answering ({e}): {:?}",
                node.exited()
            )
        };
        let mut stream =
            std::net::TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| dead(e));
        stream
            .write_all(b"GET /blockchain.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap_or_else(|e| dead(e));
        let mut first = [0u8; 1000];
        stream.read_exact(&mut first).unwrap_or_else(|e| dead(e));
        assert!(first.starts_with(b"HTTP/1.1 200"));
        if round % 2 == 0 {
            // Hang up at once with a reset, most of the answer unread.
            abort_on_close(&stream);
        } else {
            // Take what has arrived, then hang up politely, as `curl | head`
            // does: the node's next writes meet a closed socket (EPIPE).
            stream.set_nonblocking(true).unwrap();
            let mut sink = vec![0u8; 1 << 20];
            while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
        }
    }
    let status = status_at(port).expect("the node still answers");
    assert_eq!(status["tip"]["index"], serde_json::json!(20_000));
    let exited = node.exited();
    assert!(exited.is_none(), "the node died: {exited:?}");
    assert!(node.terminate().success());
}

#[test]
fn genesis_works_at_every_difficulty_from_1_to_7() {
    let dir = tempfile::tempdir().unwrap();
    for zeros in 1..=7u32 {
        // Difficulty 7 takes 16^7 tries on average; this timestamp has a
        // valid nonce early (86390, found once with the same search), so one
        // thread finds it in well under a second.
        let (data, fixed) = match zeros {
            7 => (
                "jbc genesis at difficulty 7",
                vec!["--timestamp", "356", "--threads", "1"],
            ),
            _ => ("a new network", vec!["--threads", "2"]),
        };
        let difficulty = zeros.to_string();
        let mut args = vec!["--difficulty", &difficulty, "genesis", "--data", data];
        args.extend(fixed);
        let out = jbc(&args);
        assert!(out.status.success(), "{zeros}: {}", text(&out.stderr));
        let block = jbc::wire::block_from_slice(&out.stdout).unwrap();
        assert_eq!(block.index.0, 0);
        assert_eq!(block.data, data);
        assert!(
            block.hash.leading_zero_digits() >= zeros,
            "{zeros}: {}",
            block.hash
        );
        if zeros == 7 {
            assert_eq!(block.nonce.0, 86390);
        }
        // The block starts a network: a node of it opens and verifies.
        let file = dir.path().join(format!("genesis-{zeros}.json"));
        std::fs::write(&file, &out.stdout).unwrap();
        let data_dir = dir.path().join(format!("node-{zeros}"));
        let out = jbc(&[
            "--difficulty",
            &difficulty,
            "--genesis",
            file.to_str().unwrap(),
            "--data-dir",
            data_dir.to_str().unwrap(),
            "chain",
            "verify",
        ]);
        assert!(out.status.success(), "{zeros}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains("verified 1 blocks"));
    }
}

#[test]
fn a_devnet_at_difficulty_6_starts() {
    let dir = tempfile::tempdir().unwrap();
    let net_dir = dir.path().join("devnet");
    let mut devnet = Devnet::start(&net_dir, 1, &["--difficulty", "6"], &[]);
    devnet.wait_ready();
    let status = devnet.status(0).expect("node 0 answers");
    assert_eq!(status["network"]["difficulty"], serde_json::json!(6));
    let genesis =
        jbc::wire::block_from_slice(&std::fs::read(net_dir.join("genesis.json")).unwrap()).unwrap();
    assert!(genesis.hash.leading_zero_digits() >= 6);
    assert_eq!(
        status["network"]["genesis_hash"],
        serde_json::json!(genesis.hash.to_string())
    );
    assert!(devnet.terminate().success());
}

#[test]
fn a_node_on_port_0_gives_its_operator_a_link_with_the_port_it_got() {
    let dir = tempfile::tempdir().unwrap();
    let node = ProcessNode::start(&dir.path().join("node"), &[], &[]);
    let token = jbc::node::operator::read_token(&node.data_dir).unwrap();
    let link = format!(
        "the operator's explorer (mining button included): http://127.0.0.1:{}/#token={token}",
        node.port
    );
    assert!(node.log().contains(&link), "{}", node.log());
}
