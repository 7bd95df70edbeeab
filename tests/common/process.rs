//! A `jbc node` as a real process, for tests that need one: it binds a
//! port the system picks (`--port 0`, read back from its first line), so
//! no two tests, and no devnet a user left running, can collide with it;
//! its log goes to a file, printed when the test fails.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Reaped, get_at, jbc_bin};

pub struct ProcessNode {
    child: Option<Reaped>,
    pub port: u16,
    pub url: String,
    pub data_dir: PathBuf,
    log: PathBuf,
    /// Flags given before `node` (`--network FILE`, ...), kept for
    /// `jbc` commands on the same data directory.
    global: Vec<String>,
}

impl ProcessNode {
    /// Starts `jbc [global] --data-dir DIR node --port 0 [args]` and waits
    /// (up to a minute) until it answers: then its operator's cookie is
    /// written (it listens a moment before, when it prints its port).
    pub fn start(data_dir: &Path, global: &[&str], args: &[&str]) -> ProcessNode {
        std::fs::create_dir_all(data_dir).expect("data directory");
        let log = data_dir.with_extension("log");
        let file = std::fs::File::create(&log).expect("log file");
        let child = Reaped::spawn(
            Command::new(jbc_bin())
                .args(global)
                .arg("--data-dir")
                .arg(data_dir)
                .args(["node", "--port", "0"])
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(file),
        );
        let mut node = ProcessNode {
            child: Some(child),
            port: 0,
            url: String::new(),
            data_dir: data_dir.to_owned(),
            log,
            global: global.iter().map(|s| s.to_string()).collect(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        node.port = loop {
            if let Some(port) = node.listening_port() {
                break port;
            }
            let exited = node
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            assert!(
                exited.is_none(),
                "the node exited ({exited:?}):\n{}",
                node.log()
            );
            assert!(
                Instant::now() < deadline,
                "the node never listened:\n{}",
                node.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        node.url = format!("http://127.0.0.1:{}/", node.port);
        node.wait_status("the node to answer", Duration::from_secs(60), |_| true);
        node
    }

    /// The port from the node's first line, "jbc node on http://ADDR/ ...".
    fn listening_port(&self) -> Option<u16> {
        let file = std::fs::File::open(&self.log).ok()?;
        BufReader::new(file)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| {
                let rest = line.strip_prefix("jbc node on http://")?;
                let address = rest.split('/').next()?;
                address.rsplit(':').next()?.parse().ok()
            })
    }

    /// Everything the node logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn status(&self) -> Option<Value> {
        get_at(self.port, "/v1/status")
    }

    pub fn get(&self, path: &str) -> Option<Value> {
        get_at(self.port, path)
    }

    /// A sample of the node's `/metrics`, by name and labels as written
    /// (`jbc_relay_sent_total{kind="block"}`); 0 when absent.
    pub fn metric(&self, series: &str) -> u64 {
        let (code, text) = super::get_text_at(self.port, "/metrics").expect("the node answers");
        assert_eq!(code, 200, "{text}");
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0)
    }

    /// The tip's height, while the node answers.
    pub fn height(&self) -> Option<u64> {
        self.status()?["tip"]["index"].as_u64()
    }

    /// Runs `jbc [global] --data-dir DIR args` (a control command such as
    /// `mining on`), asserting it succeeds.
    pub fn jbc(&self, args: &[&str]) -> Output {
        let output = Command::new(jbc_bin())
            .args(&self.global)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(args)
            .output()
            .expect("run jbc");
        assert!(
            output.status.success(),
            "jbc {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// Runs an operator's command on this node, e.g. `["mining", "on"]`.
    pub fn control(&self, args: &[&str]) -> Output {
        let mut args = args.to_vec();
        args.extend(["--node", self.url.as_str()]);
        self.jbc(&args)
    }

    /// Waits until `condition` holds of the node's status, up to `limit`;
    /// fails with `what`, the last status and the node's log.
    pub fn wait_status(
        &self,
        what: &str,
        limit: Duration,
        condition: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + limit;
        let mut last = None;
        loop {
            if let Some(status) = self.status() {
                if condition(&status) {
                    return status;
                }
                last = Some(status);
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not within {limit:?}; last status {last:?}\nlog of {}:\n{}",
                self.url,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl ProcessNode {
    /// How the node ended, if it did.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().expect("the node's state"))
    }

    /// SIGTERM, as a service manager sends it; waits for the node to stop.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let child = self.child.as_mut().expect("the node process");
        // SAFETY: kill(2) on a child this test started and still owns.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        child.wait().expect("wait for the node")
    }
}

impl Drop for ProcessNode {
    fn drop(&mut self) {
        drop(self.child.take());
        if std::thread::panicking() {
            eprintln!("--- log of the node at {} ---\n{}", self.url, self.log());
        }
    }
}
