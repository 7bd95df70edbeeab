//! The `jbc` binary as a person uses it: real processes, real files.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{fixture, free_ports, jbc_bin, status_at};

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

/// Two consecutive free ports on 127.0.0.1.
#[test]
fn devnet_runs_mining_nodes_and_stops_them_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let net_dir = dir.path().join("devnet");
    let base = free_ports(2);
    let mut child = common::Reaped(
        Command::new(jbc_bin())
            .args([
                "--difficulty",
                "3",
                "devnet",
                "--nodes",
                "2",
                "--mine",
                "--base-port",
            ])
            .arg(base.to_string())
            .arg("--dir")
            .arg(&net_dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut urls = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.contains("Ctrl-C stops them all") {
            break;
        }
        if line.starts_with("  node ") {
            urls.push(line);
        }
    }
    assert_eq!(urls.len(), 2, "{urls:?}");
    // Both mine, see each other, and agree within a few blocks.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let statuses: Vec<_> = [base, base + 1].iter().map(|p| status_at(*p)).collect();
        let ready = statuses.iter().all(|s| {
            s.as_ref().is_some_and(|s| {
                s["tip"]["index"].as_u64().unwrap_or(0) >= 5
                    && s["mining"]["enabled"] == serde_json::json!(true)
                    && s["peers"][0]["state"] == serde_json::json!("up")
            })
        });
        if ready {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "devnet never got going: {statuses:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // SIGTERM: every node stops and closes its store.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(
        status_at(base).is_none() && status_at(base + 1).is_none(),
        "a node outlived the devnet"
    );
    let genesis = net_dir.join("genesis.json");
    for node in ["node-0", "node-1"] {
        let out = jbc(&[
            "--difficulty",
            "3",
            "--genesis",
            genesis.to_str().unwrap(),
            "--data-dir",
            net_dir.join(node).to_str().unwrap(),
            "chain",
            "verify",
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
}

#[test]
fn a_node_logs_json_lines_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_ports(2);
    let mut child = common::Reaped(
        Command::new(jbc_bin())
            .arg("--data-dir")
            .arg(dir.path())
            .args(["node", "--port", &port.to_string(), "--log-format", "json"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["fields"]["message"], "node started", "{first}");
    assert_eq!(first["level"], "INFO");
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

/// Starts `jbc node` on a free port with these global flags; waits until it
/// answers.
fn start_node(flags: &[String]) -> (common::Reaped, u16) {
    let port = free_ports(2);
    let child = common::Reaped(
        Command::new(jbc_bin())
            .args(flags)
            .args(["node", "--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while status_at(port).is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the node never answered"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    (child, port)
}

fn sigterm(child: &mut std::process::Child) -> std::process::ExitStatus {
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    child.wait().unwrap()
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
    let flags: Vec<String> = vec![
        "--difficulty".into(),
        "1".into(),
        "--genesis".into(),
        genesis.display().to_string(),
        "--data-dir".into(),
        data_dir.display().to_string(),
    ];
    let (mut child, port) = start_node(&flags);
    for round in 0..40 {
        let mut dead = |e: std::io::Error| -> ! {
            panic!(
                "round {round}: the node stopped answering ({e}): {:?}",
                child.try_wait()
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
    assert!(
        child.try_wait().unwrap().is_none(),
        "the node died: {:?}",
        child.try_wait()
    );
    assert!(sigterm(&mut child).success());
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
    let base = free_ports(2);
    let mut child = common::Reaped(
        Command::new(jbc_bin())
            .args(["--difficulty", "6", "devnet", "--nodes", "1", "--base-port"])
            .arg(base.to_string())
            .arg("--dir")
            .arg(&net_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = status_at(base) {
            break status;
        }
        assert!(child.try_wait().unwrap().is_none(), "the devnet ended");
        assert!(std::time::Instant::now() < deadline, "no node answered");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(status["network"]["difficulty"], serde_json::json!(6));
    let genesis =
        jbc::wire::block_from_slice(&std::fs::read(net_dir.join("genesis.json")).unwrap()).unwrap();
    assert!(genesis.hash.leading_zero_digits() >= 6);
    assert_eq!(
        status["network"]["genesis_hash"],
        serde_json::json!(genesis.hash.to_string())
    );
    assert!(sigterm(&mut child).success());
}
