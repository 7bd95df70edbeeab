//! TUTORIAL.md cannot rot: its `console` blocks run as written (trycmd, in
//! a scratch directory; `sqlite3` is one of their commands), and the steps
//! that need running nodes are replayed here with the command lines the
//! tutorial shows (each one is checked to appear in it verbatim), and the
//! log lines it quotes are found in the nodes' logs.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::ports::Ports;
use common::{Reaped, get_at, jbc_bin, status_at};

fn tutorial() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("TUTORIAL.md")).unwrap()
}

#[test]
fn the_tutorials_console_blocks_print_what_it_says() {
    // A copy beside an empty TUTORIAL.out/: trycmd then runs every block
    // in one scratch directory, in order, as a reader would.
    let scratch = tempfile::tempdir().unwrap();
    std::fs::write(scratch.path().join("TUTORIAL.md"), tutorial()).unwrap();
    std::fs::create_dir(scratch.path().join("TUTORIAL.out")).unwrap();
    // Step 3 looks into the store with the sqlite3 tool, as the tutorial
    // tells its reader to install it; ./scripts/test installs it too.
    let sqlite3 = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("sqlite3"))
        .find(|path| path.is_file())
        .expect("sqlite3 not found: install it (apt install sqlite3), or run ./scripts/test, which does");
    trycmd::TestCases::new()
        .register_bin("jbc", Path::new(jbc_bin()))
        .register_bin("sqlite3", sqlite3)
        .case(scratch.path().join("TUTORIAL.md"));
}

/// The words of a command line as a shell splits it (double quotes only).
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let (mut quoted, mut started) = (false, false);
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                started = true;
            }
            ' ' if !quoted => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            c => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        words.push(word);
    }
    words
}

/// Replays the tutorial's command lines in a scratch directory, with its
/// ports 5000-5002 moved to a block claimed for this test.
struct Reader {
    tutorial: String,
    dir: tempfile::TempDir,
    ports: [u16; 3],
    _claimed: Ports,
}

/// A node the reader started: its log in the scratch directory
/// (`alice.log` for `--data-dir alice`), printed if the test fails.
struct Started {
    child: Reaped,
    log: std::path::PathBuf,
}

impl Started {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Ctrl-C; the node must stop cleanly.
    fn interrupt(&mut self) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGINT);
        }
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status}:\n{}", self.log());
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- {} ---\n{}", self.log.display(), self.log());
        }
    }
}

/// The tutorial's prose with its line breaks undone, so a quote it wraps
/// is found whole.
fn unwrapped(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Asserts that the tutorial quotes `quote`, and waits until one line of
/// one of the `nodes`' logs holds each of `pieces` (what the quote says,
/// less what varies), in order.
fn says(reader: &Reader, nodes: &[&Started], quote: &str, pieces: &[&str]) {
    assert!(
        unwrapped(&reader.tutorial).contains(quote),
        "TUTORIAL.md no longer quotes `{quote}`"
    );
    let pieces: Vec<String> = pieces.iter().map(|p| reader.ported(p)).collect();
    let in_line = |line: &str| {
        let mut rest = line;
        pieces.iter().all(|piece| match rest.find(piece.as_str()) {
            Some(at) => {
                rest = &rest[at + piece.len()..];
                true
            }
            None => false,
        })
    };
    let logs: Vec<String> = nodes.iter().map(|n| n.log.display().to_string()).collect();
    wait(
        &format!("a line of {logs:?} that says {pieces:?}, as the tutorial quotes `{quote}`"),
        || nodes.iter().any(|node| node.log().lines().any(in_line)),
    );
}

impl Reader {
    fn command(&self, line: &str) -> Command {
        assert!(
            self.tutorial.contains(line),
            "TUTORIAL.md no longer shows `{line}`"
        );
        let words = words(&self.ported(line));
        assert_eq!(words[0], "jbc");
        let mut command = Command::new(jbc_bin());
        command.args(&words[1..]).current_dir(self.dir.path());
        command
    }

    /// `text` with the tutorial's ports moved to the test's.
    fn ported(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for (i, port) in self.ports.iter().enumerate() {
            text = text.replace(&format!("{}", 5000 + i), &port.to_string());
        }
        text
    }

    /// Runs a one-shot command; its stdout.
    fn run(&self, line: &str) -> String {
        self.try_run(line)
            .unwrap_or_else(|error| panic!("`{line}` failed: {error}"))
    }

    /// Runs a one-shot command; its stdout, or what it said on failing.
    fn try_run(&self, line: &str) -> Result<String, String> {
        let out = self.command(line).output().unwrap();
        match out.status.success() {
            true => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
            false => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
        }
    }

    /// Starts a node, its log in `NAME.log` for `--data-dir NAME`.
    fn start(&self, line: &str) -> Started {
        let name = line
            .split_whitespace()
            .skip_while(|w| *w != "--data-dir")
            .nth(1)
            .expect("a node's command line names its data directory");
        let log = self.dir.path().join(format!("{name}.log"));
        let mut command = self.command(line);
        command
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        Started {
            child: Reaped::spawn(&mut command),
            log,
        }
    }

    fn tip(&self, node: usize) -> Option<(u64, String)> {
        let status = status_at(self.ports[node])?;
        Some((
            status["tip"]["index"].as_u64()?,
            status["tip"]["hash"].as_str()?.to_owned(),
        ))
    }
}

fn wait(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_tutorials_nodes_do_what_it_says() {
    let claimed = Ports::take();
    let reader = Reader {
        tutorial: tutorial(),
        dir: tempfile::tempdir().unwrap(),
        ports: [claimed.port(0), claimed.port(1), claimed.port(2)],
        _claimed: claimed,
    };
    // 4. A node on the network.
    reader.run(r#"jbc --data-dir alice mine --blocks 5 --data "alice was here""#);
    let mut alice = reader.start("jbc --data-dir alice node --port 5000");
    wait("Alice to serve", || reader.tip(0).is_some_and(|t| t.0 == 5));
    says(
        &reader,
        &[&alice],
        "node started ... tip=5",
        &["node started", " tip=5 "],
    );
    // 5. Bob syncs from Alice.
    let mut bob = reader.start("jbc --data-dir bob node --port 5001 --peer http://127.0.0.1:5000/");
    wait("Bob to sync", || reader.tip(1) == reader.tip(0));
    says(
        &reader,
        &[&bob],
        "peer has more work; syncing",
        &["peer has more work; syncing"],
    );
    let done = r#"sync with peer done peer="http://127.0.0.1:5000/" blocks=5 tip=5"#;
    says(&reader, &[&bob], done, &[done]);
    let chain = get_at(reader.ports[1], "/blockchain.json").unwrap();
    assert_eq!(chain.as_array().unwrap().len(), 6);
    assert_eq!(chain[5]["data"], "alice was here");
    // 6. Alice mines; her blocks reach Bob.
    reader.run("jbc --data-dir alice mining on --node http://127.0.0.1:5000/");
    wait("Alice to mine and Bob to follow", || {
        let (a, b) = (reader.tip(0), reader.tip(1));
        a.as_ref().is_some_and(|t| t.0 >= 10) && a == b
    });
    says(
        &reader,
        &[&bob],
        r#"block accepted ... source="relayed by http://127.0.0.1:5000/""#,
        &[
            "block accepted",
            r#"source="relayed by http://127.0.0.1:5000/""#,
        ],
    );
    reader.run("jbc --data-dir alice mining off --node http://127.0.0.1:5000/");
    bob.interrupt();
    // 7. Carol mines alone, so does Alice; then they meet.
    let alice_before = reader.tip(0).unwrap().0;
    let mut carol = reader.start("jbc --data-dir carol node --port 5002 --mine");
    reader.run("jbc --data-dir alice mining on --node http://127.0.0.1:5000/");
    wait("both to mine apart", || {
        reader.tip(2).is_some_and(|t| t.0 >= 3)
            && reader.tip(0).is_some_and(|t| t.0 >= alice_before + 3)
    });
    reader
        .run("jbc --data-dir carol peers add http://127.0.0.1:5000/ --node http://127.0.0.1:5002/");
    wait("Alice and Carol to agree", || {
        let (a, c) = (reader.tip(0), reader.tip(2));
        a.is_some() && a == c
    });
    // The loser says it reorganised.
    says(
        &reader,
        &[&alice, &carol],
        "WARN reorg: switched to a branch with more work depth=N ...",
        &["WARN reorg: switched to a branch with more work depth="],
    );
    reader.run("jbc --data-dir alice mining off --node http://127.0.0.1:5000/");
    reader.run("jbc --data-dir carol mining off --node http://127.0.0.1:5002/");
    // The loser keeps its blocks as a side branch.
    let side_branch = |port: u16| {
        get_at(port, "/v1/tree?depth=200").is_some_and(|tree| {
            tree["blocks"]
                .as_array()
                .is_some_and(|blocks| blocks.iter().any(|b| b["main_chain"] == false))
        })
    };
    assert!(
        side_branch(reader.ports[0]) || side_branch(reader.ports[2]),
        "no side branch after the two chains met"
    );
    // 8. An entry, submitted to Alice, confirmed as Carol sees it.
    let id = reader.run(r#"jbc submit "invoice 2026-117 paid" --node http://127.0.0.1:5000/"#);
    let id = id.trim();
    assert_eq!(
        id,
        "30400b934ce578f8f3cf0f1e2401c2e0299744dcea5f201cc9e30b2c4299c02c"
    );
    reader.run("jbc --data-dir alice mining on --node http://127.0.0.1:5000/");
    // Until the entry and then its block reach Carol, she may not know it
    // (an error) or know it pending.
    let entry = "jbc entry 30400b93 --node http://127.0.0.1:5002/";
    wait("the entry to be confirmed at Carol", || {
        reader
            .try_run(entry)
            .is_ok_and(|said| said.starts_with("confirmed in block "))
    });
    reader.run("jbc --data-dir alice mining off --node http://127.0.0.1:5000/");
    alice.interrupt();
    carol.interrupt();
    // 10. The chaos devnet the tutorial shows is what `jbc devnet` offers
    // (tests/chaos.rs runs one).
    assert!(
        reader
            .tutorial
            .contains("jbc devnet --nodes 3 --mine --chaos")
    );
}
