//! Hosts for tests, each in its own Linux network namespace with its own
//! address, wired through a switch namespace with two bridges joined by a
//! trunk link: hosts on bridge A and hosts on bridge B can be cut apart
//! (`cut`) and joined again (`heal`). Needs root and iproute2; `Lab::new`
//! says why and returns `None` where they are missing, so a test can skip.
//! Dropping the lab deletes every namespace it made (with its links), even
//! when the test failed half-way.
//!
//! The test process talks to a host from inside its namespace (`request`:
//! a thread that `setns`es into it), so nothing is added to the machine's
//! own network.

use std::io::{Read, Write};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

pub struct Lab {
    prefix: String,
    switch: String,
    pub hosts: Vec<Host>,
    /// Kernel settings raised for a large lab, with their values before.
    raised: Vec<(&'static str, String)>,
}

/// The kernel's ARP table limits. Every namespace's entries count against
/// them together; with the defaults (hard limit 1,024) about 40 hosts that
/// all talk to one another fill the table, and the next host's packets are
/// dropped ("neighbor table overflow").
const NEIGH_LIMITS: [&str; 3] = [
    "/proc/sys/net/ipv4/neigh/default/gc_thresh1",
    "/proc/sys/net/ipv4/neigh/default/gc_thresh2",
    "/proc/sys/net/ipv4/neigh/default/gc_thresh3",
];

/// Raises the ARP table limits to fit `hosts` hosts that all talk to one
/// another; what was there before, to put back.
fn raise_neighbour_limits(hosts: usize) -> Vec<(&'static str, String)> {
    if hosts < 30 {
        return Vec::new(); // the tests' few hosts fit the defaults
    }
    let needed = hosts * hosts + 1024;
    let mut raised = Vec::new();
    for (path, wanted) in NEIGH_LIMITS.iter().zip([needed / 4, needed / 2, needed]) {
        let Ok(before) = std::fs::read_to_string(path) else {
            continue;
        };
        let now: usize = before.trim().parse().unwrap_or(0);
        if now < wanted && std::fs::write(path, wanted.to_string()).is_ok() {
            raised.push((*path, before.trim().to_owned()));
        }
    }
    raised
}

pub struct Host {
    pub namespace: String,
    pub ip: String,
    /// Which side of the trunk: 0 (A) or 1 (B).
    pub side: usize,
}

impl Host {
    /// Its node's base URL, at `port`.
    pub fn url(&self, port: u16) -> String {
        format!("http://{}:{port}/", self.ip)
    }
}

static LABS: AtomicUsize = AtomicUsize::new(0);

fn ip(args: &[&str]) -> Result<(), String> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip ({e}); install iproute2"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

impl Lab {
    /// `sides[i]` is host i's side (0 or 1). `None`, with the reason on
    /// stderr, where network namespaces cannot be made.
    pub fn new(sides: &[usize]) -> Option<Lab> {
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: network namespaces need root (CI runs as root)");
            return None;
        }
        let n = LABS.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("jbc{}x{n}", std::process::id() % 100_000);
        let mut lab = Lab {
            switch: format!("{prefix}sw"),
            prefix,
            hosts: Vec::new(),
            raised: raise_neighbour_limits(sides.len()),
        };
        match lab.build(sides) {
            Ok(()) => Some(lab),
            Err(e) => {
                eprintln!("skipped: cannot build test hosts in network namespaces: {e}");
                None
            }
        }
    }

    fn build(&mut self, sides: &[usize]) -> Result<(), String> {
        let sw = self.switch.clone();
        ip(&["netns", "add", &sw])?;
        for bridge in ["br0", "br1"] {
            ip(&["-n", &sw, "link", "add", bridge, "type", "bridge"])?;
            ip(&["-n", &sw, "link", "set", bridge, "up"])?;
        }
        ip(&[
            "-n", &sw, "link", "add", "trunk0", "type", "veth", "peer", "name", "trunk1",
        ])?;
        ip(&["-n", &sw, "link", "set", "trunk0", "master", "br0", "up"])?;
        ip(&["-n", &sw, "link", "set", "trunk1", "master", "br1", "up"])?;
        // A /24 per lab run, so labs of parallel tests never meet.
        let subnet = 10 + (std::process::id() as usize + LABS.load(Ordering::SeqCst)) % 200;
        for (i, side) in sides.iter().enumerate() {
            let namespace = format!("{}h{i}", self.prefix);
            ip(&["netns", "add", &namespace])?;
            let host = Host {
                namespace: namespace.clone(),
                ip: format!("10.213.{subnet}.{}", i + 1),
                side: *side,
            };
            self.hosts.push(host);
            let port = format!("v{i}");
            ip(&[
                "-n", &sw, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns",
                &namespace,
            ])?;
            let bridge = if *side == 0 { "br0" } else { "br1" };
            ip(&["-n", &sw, "link", "set", &port, "master", bridge, "up"])?;
            let address = format!("{}/24", self.hosts[i].ip);
            ip(&["-n", &namespace, "addr", "add", &address, "dev", "eth0"])?;
            ip(&["-n", &namespace, "link", "set", "eth0", "up"])?;
            ip(&["-n", &namespace, "link", "set", "lo", "up"])?;
        }
        Ok(())
    }

    /// A command run inside host `i`'s namespace.
    pub fn command(&self, i: usize, program: &str) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.hosts[i].namespace])
            .arg(program);
        command
    }

    /// Cuts side A from side B (the trunk goes down).
    pub fn cut(&self) {
        ip(&["-n", &self.switch, "link", "set", "trunk0", "down"]).expect("cut the trunk");
    }

    /// Joins the two sides again.
    pub fn heal(&self) {
        ip(&["-n", &self.switch, "link", "set", "trunk0", "up"]).expect("heal the trunk");
    }

    /// An HTTP request to `path` of the node on host `i` at `port`, made
    /// from inside that host; the status code and the JSON answer.
    pub fn request(
        &self,
        i: usize,
        port: u16,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> Option<(u16, Value)> {
        let namespace = format!("/var/run/netns/{}", self.hosts[i].namespace);
        let address = format!("{}:{port}", self.hosts[i].ip);
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        if let Some(token) = token {
            request.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        std::thread::spawn(move || {
            // This thread alone enters the host's network namespace.
            let file = std::fs::File::open(&namespace).ok()?;
            use std::os::fd::AsRawFd;
            if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return None;
            }
            let address: std::net::SocketAddr = address.parse().ok()?;
            let mut stream =
                std::net::TcpStream::connect_timeout(&address, std::time::Duration::from_secs(2))
                    .ok()?;
            stream
                .set_read_timeout(Some(std::time::Duration::from_secs(10)))
                .ok()?;
            stream.write_all(request.as_bytes()).ok()?;
            let mut response = String::new();
            stream.read_to_string(&mut response).ok()?;
            let code: u16 = response.split(' ').nth(1)?.parse().ok()?;
            let json = serde_json::from_str(response.split("\r\n\r\n").nth(1)?).ok()?;
            Some((code, json))
        })
        .join()
        .ok()
        .flatten()
    }

    /// Runs `f` on a thread that has entered host `i`'s namespace (a
    /// socket made there belongs to that host, whichever thread uses it
    /// later).
    pub fn inside<T: Send + 'static>(&self, i: usize, f: impl FnOnce() -> T + Send + 'static) -> T {
        let namespace = format!("/var/run/netns/{}", self.hosts[i].namespace);
        std::thread::spawn(move || {
            let file = std::fs::File::open(&namespace).expect("the namespace's file");
            use std::os::fd::AsRawFd;
            let entered = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(entered, 0, "setns into {namespace}");
            f()
        })
        .join()
        .expect("the thread inside the host")
    }

    /// A TCP listener on host `i` at `port`.
    pub fn listen(&self, i: usize, port: u16) -> std::net::TcpListener {
        let address = format!("{}:{port}", self.hosts[i].ip);
        self.inside(i, move || {
            std::net::TcpListener::bind(&address).expect("bind in the host")
        })
    }

    /// Sends `raw` (a whole HTTP request) from host `from` to `to` and
    /// returns the raw answer (empty if the connection failed).
    pub fn send_from(&self, from: usize, to: std::net::SocketAddr, raw: String) -> String {
        self.inside(from, move || {
            let Ok(mut stream) =
                std::net::TcpStream::connect_timeout(&to, std::time::Duration::from_secs(2))
            else {
                return String::new();
            };
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
            let _ = stream.write_all(raw.as_bytes());
            let mut response = String::new();
            let _ = stream.read_to_string(&mut response);
            response
        })
    }

    /// `GET path` of the node on host `i`, from inside it.
    pub fn get(&self, i: usize, port: u16, path: &str) -> Option<Value> {
        self.request(i, port, "GET", path, None, "")
            .map(|(_, json)| json)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for host in &self.hosts {
            // Whatever still runs there (a node of a failed test) goes first.
            if let Ok(output) = Command::new("ip")
                .args(["netns", "pids", &host.namespace])
                .output()
            {
                for pid in String::from_utf8_lossy(&output.stdout).split_whitespace() {
                    if let Ok(pid) = pid.parse::<i32>() {
                        unsafe {
                            libc::kill(pid, libc::SIGKILL);
                        }
                    }
                }
            }
            let _ = ip(&["netns", "del", &host.namespace]);
        }
        let _ = ip(&["netns", "del", &self.switch]);
        // Put back the highest limit first: gc_thresh3 stays above the others.
        for (path, before) in self.raised.iter().rev() {
            let _ = std::fs::write(path, before);
        }
    }
}
