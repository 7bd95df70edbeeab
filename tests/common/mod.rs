//! Helpers shared by the integration tests and the benchmarks (`benches/`
//! include this folder too): the seed vectors, the `jbc` binary, quick
//! networks and chains (`chains`), nodes in this process on real sockets
//! (`net`), `jbc node` and `jbc devnet` as real processes whose output is
//! printed when a test fails (`process`, `devnet`), ports no one else
//! takes (`ports`), a Prometheus text checker and a WebDriver client. None
//! of it is part of the node.
#![allow(dead_code, unused_imports)]

pub mod chains;
pub mod devnet;
pub mod hostile;
pub mod net;
pub mod netns;
pub mod original;
pub mod ports;
pub mod process;
pub mod prometheus;
pub mod receipts;
pub mod webdriver;

use std::path::{Path, PathBuf};

use jbc::consensus::Block;

pub use chains::{block_with_entries, blocks_on, easy_params, strict_network, twin_entries};

/// The spec's five seed blocks (0, 1, 2, 3, 3b), read from the fixture.
pub fn seed_blocks() -> Vec<Block> {
    let text = std::fs::read(fixture("seed_vectors.json")).expect("fixture");
    jbc::wire::chain_from_slice(&text).expect("seed vectors parse")
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The path of the built `jbc` binary.
pub fn jbc_bin() -> &'static str {
    env!("CARGO_BIN_EXE_jbc")
}

/// `GET /v1/status` of the node on `port`, over a plain socket (no async
/// runtime needed); `None` while nothing answers there.
pub fn status_at(port: u16) -> Option<serde_json::Value> {
    get_at(port, "/v1/status")
}

/// A JSON answer from `path` of the node on `port`.
pub fn get_at(port: u16, path: &str) -> Option<serde_json::Value> {
    let (_, body) = get_text_at(port, path)?;
    serde_json::from_str(&body).ok()
}

/// The status code and body of `GET path` from the node on `port`.
pub fn get_text_at(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let code = response.split(' ').nth(1)?.parse().ok()?;
    let (_, body) = response.split_once("\r\n\r\n")?;
    Some((code, body.to_owned()))
}

/// `POST path` with a JSON body to the node on `port`: the status code and
/// the JSON answer (`Value::Null` when it is not JSON).
pub fn post_at(port: u16, path: &str, body: &str) -> Option<(u16, serde_json::Value)> {
    post_with_headers(port, path, "", body)
}

/// `post_at` with more header lines (each ending in `\r\n`).
pub fn post_with_headers(
    port: u16,
    path: &str,
    headers: &str,
    body: &str,
) -> Option<(u16, serde_json::Value)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let code = response.split(' ').nth(1)?.parse().ok()?;
    let answer = response
        .split("\r\n\r\n")
        .nth(1)
        .and_then(|body| serde_json::from_str(body).ok())
        .unwrap_or(serde_json::Value::Null);
    Some((code, answer))
}

/// A child process that is stopped when the test lets go of it, even when
/// the test fails half-way: SIGTERM (so a devnet stops its nodes too),
/// then SIGKILL if it is still there after ten seconds. A failed test
/// leaves no node behind.
pub struct Reaped(pub std::process::Child);

impl Reaped {
    pub fn spawn(command: &mut std::process::Command) -> Reaped {
        Reaped(command.spawn().expect("start a child process"))
    }
}

impl std::ops::Deref for Reaped {
    type Target = std::process::Child;

    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for Reaped {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if !matches!(self.0.try_wait(), Ok(None)) {
            return;
        }
        unsafe {
            libc::kill(self.0.id() as i32, libc::SIGTERM);
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if !matches!(self.0.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The URLs of the peers that are up in a `/v1/peers` answer, sorted.
pub fn peers_up_in(answer: &serde_json::Value) -> Vec<String> {
    let mut up: Vec<String> = answer["peers"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter(|p| p["state"] == "up")
                .filter_map(|p| p["url"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    up.sort();
    up
}

/// Waits (up to `limit`) until `condition` holds, asking every 20 ms;
/// fails naming `what`.
pub fn wait_until(what: &str, limit: std::time::Duration, mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !condition() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within {limit:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Whose CPU time [`cpu_time`] reads.
#[derive(Clone, Copy)]
pub enum CpuOf {
    /// Every thread of this process (in-process nodes included).
    Process,
    /// The calling thread only.
    Thread,
}

/// User and system CPU time used so far, for benches' figures.
pub fn cpu_time(of: CpuOf) -> std::time::Duration {
    let who = match of {
        CpuOf::Process => libc::RUSAGE_SELF,
        CpuOf::Thread => libc::RUSAGE_THREAD,
    };
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| std::time::Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}
