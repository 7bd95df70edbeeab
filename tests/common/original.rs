//! The Python stand-in for an original node (`fixtures/original_node.py`,
//! written from the spec), as a process on a free port, killed when
//! dropped.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use jbc::consensus::Network;

pub struct Original {
    child: super::Reaped,
    pub url: String,
}

impl Drop for Original {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a stand-in on `network`'s genesis and difficulty. With
/// `drop_every: Some(n)`, it forgets every nth block posted to `/mined`
/// (answering as if it took it), as an original does with a block that
/// arrives while the one before is still queued.
pub fn start(network: &Network, dir: &Path, drop_every: Option<u32>) -> Original {
    let genesis = dir.join("original-genesis.json");
    std::fs::write(&genesis, jbc::wire::block_to_json(network.genesis())).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = Command::new("python3");
    command
        .arg(super::fixture("original_node.py"))
        .arg(port.to_string())
        .arg(network.difficulty().zeros().to_string())
        .arg(&genesis)
        .stdout(Stdio::piped());
    if let Some(n) = drop_every {
        command.arg(n.to_string());
    }
    let mut child = super::Reaped(command.spawn().expect("python3 runs the original stand-in"));
    let mut ready = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(ready.trim(), "ready");
    Original {
        child,
        url: format!("http://127.0.0.1:{port}/"),
    }
}
