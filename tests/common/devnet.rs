//! A `jbc devnet` as a real process, for tests that need one: its ports a
//! block claimed with `Ports` (never where another test, a person's
//! devnet on 5000-5002 or an outgoing connection can be), its stdout and
//! stderr in files beside its folder, printed with the end of every
//! node's log (`DIR/node-N.log`) when the test fails.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::ports::Ports;
use super::{Reaped, get_at, jbc_bin};

/// Lines of each node's log printed when a test fails.
const LOG_TAIL: usize = 60;

pub struct Devnet {
    child: Option<Reaped>,
    /// The devnet's folder (`--dir`).
    pub dir: PathBuf,
    pub nodes: u16,
    ports: Ports,
    out: PathBuf,
    err: PathBuf,
}

impl Devnet {
    /// Starts `jbc [global] devnet --nodes N --dir DIR --base-port P
    /// [args]` (DIR need not exist).
    pub fn start(dir: &Path, nodes: u16, global: &[&str], args: &[&str]) -> Devnet {
        let ports = Ports::take();
        let out = dir.with_extension("out");
        let err = dir.with_extension("err");
        let child = Reaped::spawn(
            Command::new(jbc_bin())
                .args(global)
                .arg("devnet")
                .args(["--nodes", &nodes.to_string()])
                .arg("--dir")
                .arg(dir)
                .args(["--base-port", &ports.first.to_string()])
                .args(args)
                .stdin(Stdio::null())
                .stdout(std::fs::File::create(&out).expect("the devnet's stdout file"))
                .stderr(std::fs::File::create(&err).expect("the devnet's stderr file")),
        );
        Devnet {
            child: Some(child),
            dir: dir.to_owned(),
            nodes,
            ports,
            out,
            err,
        }
    }

    /// Node `i`'s port.
    pub fn port(&self, i: u16) -> u16 {
        assert!(i < self.nodes, "node {i} of {}", self.nodes);
        self.ports.port(i)
    }

    pub fn url(&self, i: u16) -> String {
        format!("http://127.0.0.1:{}/", self.port(i))
    }

    pub fn data_dir(&self, i: u16) -> PathBuf {
        self.dir.join(format!("node-{i}"))
    }

    /// What the devnet printed on stdout so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    pub fn lines(&self) -> Vec<String> {
        self.output().lines().map(str::to_owned).collect()
    }

    /// What it printed on stderr so far.
    pub fn errors(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// Node `i`'s log file so far.
    pub fn node_log(&self, i: u16) -> String {
        std::fs::read_to_string(self.dir.join(format!("node-{i}.log"))).unwrap_or_default()
    }

    /// Node `i`'s process id, as its data directory's lock file names it.
    pub fn node_pid(&self, i: u16) -> i32 {
        let lock = std::fs::read_to_string(self.data_dir(i).join(".lock"))
            .unwrap_or_else(|e| panic!("node {i}'s lock file: {e}"));
        lock.lines()
            .find_map(|l| l.strip_prefix("pid ")?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no pid in node {i}'s lock file: {lock}"))
    }

    pub fn status(&self, i: u16) -> Option<Value> {
        get_at(self.port(i), "/v1/status")
    }

    pub fn get(&self, i: u16, path: &str) -> Option<Value> {
        get_at(self.port(i), path)
    }

    /// Node `i`'s tip (index, hash), while it answers.
    pub fn tip(&self, i: u16) -> Option<(u64, String)> {
        let status = self.status(i)?;
        Some((
            status["tip"]["index"].as_u64()?,
            status["tip"]["hash"].as_str()?.to_owned(),
        ))
    }

    /// The tip every node is on, if they agree.
    pub fn agreed_tip(&self) -> Option<(u64, String)> {
        let first = self.tip(0)?;
        (1..self.nodes)
            .all(|i| self.tip(i).as_ref() == Some(&first))
            .then_some(first)
    }

    /// Waits until `done` holds, up to `limit`, the devnet running all the
    /// while; fails naming `what`.
    pub fn wait_until(&mut self, what: &str, limit: Duration, done: impl Fn(&Devnet) -> bool) {
        let deadline = Instant::now() + limit;
        loop {
            if done(self) {
                return;
            }
            let exited = self.child_mut().try_wait().expect("the devnet's state");
            assert!(exited.is_none(), "{what}: the devnet ended ({exited:?})");
            assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the devnet says its nodes are up and peered (it
    /// measures the machine and mines its genesis first, on a first run).
    pub fn wait_ready(&mut self) {
        self.wait_until(
            "the devnet to be ready",
            Duration::from_secs(180),
            |devnet| devnet.output().contains("Ctrl-C stops them all"),
        );
    }

    /// Ctrl-C, as a terminal sends it (SIGINT to the devnet alone: the
    /// nodes have their own process group); waits for the devnet to sum up
    /// and stop.
    pub fn interrupt(&mut self) -> ExitStatus {
        self.signal(libc::SIGINT)
    }

    /// SIGTERM; waits for the devnet to stop.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal(libc::SIGTERM)
    }

    fn signal(&mut self, signal: i32) -> ExitStatus {
        let child = self.child_mut();
        // SAFETY: kill(2) on a child this test started and still owns.
        unsafe {
            libc::kill(child.id() as i32, signal);
        }
        self.wait_exit()
    }

    /// Waits for the devnet to end (up to 2 minutes: summing up waits up
    /// to 30 s for agreement, twice).
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(status) = self.child_mut().try_wait().expect("the devnet's state") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the devnet did not stop within 2 minutes"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `jbc --data-dir NODE chain verify` on node `i`'s data directory
    /// (it remembers its network), asserting it passes; what it printed.
    pub fn verify(&self, i: u16) -> String {
        let out = Command::new(jbc_bin())
            .arg("--data-dir")
            .arg(self.data_dir(i))
            .args(["chain", "verify"])
            .output()
            .expect("run jbc chain verify");
        assert!(
            out.status.success(),
            "node {i}'s chain does not verify: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn child_mut(&mut self) -> &mut Reaped {
        self.child.as_mut().expect("the devnet process")
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        drop(self.child.take());
        if std::thread::panicking() {
            eprintln!(
                "--- the devnet in {}: stdout ---\n{}--- stderr ---\n{}",
                self.dir.display(),
                self.output(),
                self.errors()
            );
            for i in 0..self.nodes {
                let log = self.node_log(i);
                let lines: Vec<&str> = log.lines().collect();
                eprintln!(
                    "--- the last {} lines of node {i}'s log ---\n{}",
                    LOG_TAIL.min(lines.len()),
                    lines[lines.len().saturating_sub(LOG_TAIL)..].join("\n")
                );
            }
        }
    }
}
