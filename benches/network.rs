//! A network of many node processes: N `jbc node` processes (each given
//! one `--peer`, node 0; discovery does the rest) on a block-time network,
//! one or two of them mining on one thread. Once discovery has settled it
//! times, for each of `--blocks` blocks, how long the block takes from the
//! first node having it to the last (each node's `/v1/events`: a `block`
//! event, or a `tip` event of it or a descendant, as sync tells of a batch
//! only by its tip), and reads what spreading blocks cost meanwhile: the
//! bytes and sends of block relay from the nodes' `/metrics`, and the CPU
//! time of all the node processes from `/proc`. Prints figures; nothing
//! here passes or fails.
//!
//! `cargo bench --bench network -- --nodes 30 --blocks 20`
//! `cargo bench --bench network -- --before OLD_JBC` (both binaries, one
//! after the other, same settings)
//! `cargo bench --bench network -- --netns` (as root: each node on its own
//! network namespace, on one bridge, so traffic crosses real interfaces)

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;
use serde_json::Value;

use common::Reaped;
use common::netns::Lab;

#[derive(Parser)]
struct Args {
    /// Node processes to start.
    #[arg(long, value_name = "N", default_value_t = 10)]
    nodes: usize,
    /// Blocks timed once discovery has settled.
    #[arg(long, value_name = "N", default_value_t = 20)]
    blocks: usize,
    /// Nodes mining, on one thread each: 1 (node 0) or 2 (nodes 0 and 1).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
    miners: u8,
    /// The network's target time between blocks.
    #[arg(long, value_name = "TIME", default_value = "2s")]
    block_time: String,
    /// The `jbc` binary to run (default: this build's).
    #[arg(long, value_name = "PATH")]
    binary: Option<PathBuf>,
    /// Another `jbc` binary (an older build) run first with the same
    /// settings, its figures printed before this one's.
    #[arg(long, value_name = "PATH")]
    before: Option<PathBuf>,
    /// Each node in its own network namespace on a shared bridge (root
    /// only; skipped, saying so, otherwise).
    #[arg(long)]
    netns: bool,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// Set by SIGINT or SIGTERM: every wait gives up, and what was started is
/// stopped and removed on the way out.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn check_stop() -> Result<()> {
    if STOP.load(Ordering::SeqCst) {
        bail!("interrupted");
    }
    Ok(())
}

/// The port every node listens on in its own namespace.
const NETNS_PORT: u16 = 5000;
/// The longest a block may take to reach every node before it counts as
/// missed.
const BLOCK_DEADLINE: Duration = Duration::from_secs(30);

fn main() -> Result<()> {
    let args = Args::parse();
    if args.nodes < 2 {
        bail!("--nodes must be at least 2 (got {})", args.nodes);
    }
    if args.netns && args.nodes > 250 {
        bail!("--netns gives each node an address of one /24: at most 250 nodes");
    }
    if args.netns && unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: --netns puts each node in its own network namespace, which needs root");
        return Ok(());
    }
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
        libc::signal(
            libc::SIGTERM,
            on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
    let this = args
        .binary
        .clone()
        .unwrap_or_else(|| PathBuf::from(common::jbc_bin()));
    let mut binaries = Vec::new();
    if let Some(before) = &args.before {
        binaries.push(("before: ", before.clone()));
        binaries.push(("after: ", this));
    } else {
        binaries.push(("", this));
    }
    let place = if args.netns {
        "one network namespace each, on one bridge"
    } else {
        "loopback"
    };
    println!(
        "{} nodes on {place}, {} mining (one thread each), one --peer each (node 0), block time {}, {} blocks timed",
        args.nodes, args.miners, args.block_time, args.blocks
    );
    // Each run's figures, printed together at the end (progress goes to
    // stderr meanwhile).
    let mut lines = Vec::new();
    for (label, binary) in &binaries {
        let figures = run(&args, binary).with_context(|| format!("with {}", binary.display()))?;
        lines.push(figures.lines(&format!("{label}{}", binary.display())));
    }
    for text in lines {
        println!("{text}");
    }
    Ok(())
}

/// Where the nodes run: on this machine's loopback, or each on a host of
/// a lab of network namespaces.
enum Place {
    Loopback,
    Lab(Lab),
}

impl Place {
    /// A TCP connection to `addr` from where the node `i` runs (a host's
    /// address is reachable only from inside the lab).
    fn connect(&self, i: usize, addr: SocketAddr) -> Result<TcpStream> {
        let stream = match self {
            Place::Loopback => TcpStream::connect_timeout(&addr, Duration::from_secs(2)),
            Place::Lab(lab) => lab.inside(i, move || {
                TcpStream::connect_timeout(&addr, Duration::from_secs(2))
            }),
        };
        stream.with_context(|| format!("cannot connect to node {i} at {addr}"))
    }
}

struct Node {
    child: Reaped,
    pid: i32,
    addr: SocketAddr,
    url: String,
    log: PathBuf,
}

/// The nodes of one run; dropping them stops them all (SIGTERM to every
/// one first, so they stop together; `Reaped` kills what lingers).
struct Nodes(Vec<Node>);

impl Drop for Nodes {
    fn drop(&mut self) {
        for node in &self.0 {
            // SAFETY: kill(2) on a child this bench started and still owns.
            unsafe {
                libc::kill(node.pid, libc::SIGTERM);
            }
        }
        self.0.clear();
    }
}

/// What one run measured.
struct Figures {
    nodes: usize,
    settled: Duration,
    links: usize,
    /// Nodes in no other node's list of peers up.
    unlisted: usize,
    /// From first announcement to the last node's, one per block that
    /// reached every node.
    reach_all: Vec<Duration>,
    missed: usize,
    /// Blocks first announced between the two snapshots: what the costs
    /// are shared by.
    blocks: usize,
    /// Sends and bytes of block relay, summed over the nodes; `None` when
    /// the binary does not count them.
    relay: Option<(u64, u64)>,
    cpu_all: f64,
    cpu_not_mining: f64,
}

impl Figures {
    fn lines(&self, name: &str) -> String {
        let mut reach = self.reach_all.clone();
        reach.sort();
        let at = |q: f64| -> String {
            if reach.is_empty() {
                return "-".into();
            }
            let i = ((reach.len() as f64 * q).ceil() as usize).clamp(1, reach.len()) - 1;
            format!("{:.1} ms", reach[i].as_secs_f64() * 1e3)
        };
        let blocks = self.blocks as f64;
        let relay = match self.relay {
            Some((sends, bytes)) if sends > 0 => format!(
                "{:.0} bytes per block per link ({:.1} sends per block, {:.1} KB per block in all)",
                bytes as f64 / sends as f64,
                sends as f64 / blocks,
                bytes as f64 / blocks / 1e3
            ),
            Some(_) => "no block sent".into(),
            None => "not counted by this binary (no jbc_relay_sent_total)".into(),
        };
        let missed = if self.missed > 0 {
            format!(
                ", {} missed: not everywhere within {BLOCK_DEADLINE:?}",
                self.missed
            )
        } else {
            String::new()
        };
        format!(
            "{name}\n  settled {:.1} s after the last node started: {} peer links up ({:.1} per node); nodes in no other node's list: {}\n  a block reaches all {} nodes: median {}, 90th percentile {}, worst {} ({} blocks{missed})\n  block relay: {relay}\n  CPU: {:.3} CPU-seconds per block across all nodes ({:.3} on the nodes not mining); costs over the {} blocks mined while timing",
            self.settled.as_secs_f64(),
            self.links,
            self.links as f64 / self.nodes as f64,
            self.unlisted,
            self.nodes,
            at(0.5),
            at(0.9),
            at(1.0),
            reach.len(),
            self.cpu_all / blocks,
            self.cpu_not_mining / blocks,
            self.blocks,
        )
    }
}

fn run(args: &Args, binary: &Path) -> Result<Figures> {
    let dir = tempfile::tempdir().context("cannot make a temporary directory")?;
    let network = dir.path().join("network.json");
    let made = Command::new(binary)
        .args(["network", "new", "--block-time", &args.block_time])
        .args(["--threads", "1", "--data"])
        .arg(format!("bench network {}", std::process::id()))
        .output()
        .with_context(|| format!("cannot run {}", binary.display()))?;
    if !made.status.success() {
        bail!(
            "jbc network new failed: {}",
            String::from_utf8_lossy(&made.stderr).trim()
        );
    }
    std::fs::write(&network, &made.stdout).context("cannot write the network file")?;

    let place = if args.netns {
        match Lab::new(&vec![0; args.nodes]) {
            Some(lab) => Place::Lab(lab),
            None => bail!("cannot make the network namespaces (the reason is above)"),
        }
    } else {
        Place::Loopback
    };
    let mut nodes = Nodes(Vec::new());
    for i in 0..args.nodes {
        check_stop()?;
        let peer = nodes.0.first().map(|n| n.url.clone());
        let node = start_node(
            &place,
            binary,
            dir.path(),
            &network,
            i,
            peer,
            i < args.miners as usize,
        )?;
        nodes.0.push(node);
    }
    eprintln!(
        "started {} nodes; waiting for discovery to settle",
        args.nodes
    );

    let (seen_tx, seen_rx) = mpsc::channel::<Message>();
    for (i, node) in nodes.0.iter().enumerate() {
        let stream = place.connect(i, node.addr)?;
        let seen = seen_tx.clone();
        let addr = node.addr;
        std::thread::spawn(move || read_events(i, stream, addr, seen));
    }
    drop(seen_tx);

    let started = Instant::now();
    let (links, unlisted) = settle(&place, &mut nodes)?;
    let settled = started.elapsed();
    eprintln!(
        "settled in {:.1} s ({links} peer links up); timing {} blocks",
        settled.as_secs_f64(),
        args.blocks
    );

    let mut arrivals = Arrivals::new(args.nodes);
    // Blocks from before the streams were all open are not timed.
    arrivals.wait_event(&seen_rx)?;
    let mut known: Vec<String> = arrivals.order.iter().map(|(h, _)| h.clone()).collect();
    // A block reaching every node marks a quiet moment to start from.
    arrivals.next_complete(&seen_rx, &place, &mut nodes, &mut known, 60)?;
    let before = Snapshot::take(&place, &nodes)?;
    let mut reach_all = Vec::new();
    let mut missed = 0;
    while reach_all.len() + missed < args.blocks {
        match arrivals.next_complete(&seen_rx, &place, &mut nodes, &mut known, 120)? {
            Some(took) => reach_all.push(took),
            None => missed += 1,
        }
    }
    let after = Snapshot::take(&place, &nodes)?;
    // Costs are shared by every block mined meanwhile (one that took long
    // to reach everyone overlaps the next).
    let mined = arrivals
        .order
        .iter()
        .filter(|(_, at)| (before.at..after.at).contains(at))
        .count()
        .max(1);
    let miners = args.miners as usize;
    let cpu = |from: usize| -> f64 {
        (from..args.nodes)
            .map(|i| after.cpu[i] - before.cpu[i])
            .sum::<f64>()
    };
    let relay = match (&before.relay, &after.relay) {
        (Some(b), Some(a)) => Some((a.0 - b.0, a.1 - b.1)),
        _ => None,
    };
    Ok(Figures {
        nodes: args.nodes,
        settled,
        links,
        unlisted,
        reach_all,
        missed,
        blocks: mined,
        relay,
        cpu_all: cpu(0),
        cpu_not_mining: cpu(miners),
    })
}

/// Starts node `i`: in its namespace on the lab's port, or on loopback on
/// a port the system picks (read back from its first line).
fn start_node(
    place: &Place,
    binary: &Path,
    dir: &Path,
    network: &Path,
    i: usize,
    peer: Option<String>,
    mine: bool,
) -> Result<Node> {
    let mut command = match place {
        Place::Loopback => Command::new(binary),
        Place::Lab(lab) => lab.command(i, binary.to_str().context("a binary path in UTF-8")?),
    };
    command
        .arg("--network")
        .arg(network)
        .arg("--data-dir")
        .arg(dir.join(format!("node-{i}")))
        .arg("node");
    let listen = match place {
        Place::Loopback => {
            command.args(["--port", "0"]);
            None
        }
        Place::Lab(lab) => {
            let addr: SocketAddr = format!("{}:{NETNS_PORT}", lab.hosts[i].ip).parse()?;
            command.arg("--listen").arg(addr.to_string());
            Some(addr)
        }
    };
    command.args(["--threads", "1"]);
    if let Some(peer) = &peer {
        command.args(["--peer", peer]);
    }
    if mine {
        command.arg("--mine");
    }
    let log = dir.join(format!("node-{i}.log"));
    let file = std::fs::File::create(&log).context("cannot create a node's log file")?;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(file);
    // SAFETY: prctl(2) only, between fork and exec: a node outlives no
    // bench, even one killed with SIGKILL.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut child = Reaped(
        command
            .spawn()
            .with_context(|| format!("cannot start node {i} ({})", binary.display()))?,
    );
    let pid = child.id() as i32;
    let deadline = Instant::now() + Duration::from_secs(60);
    let addr = loop {
        check_stop()?;
        if let Some(addr) = listen.or_else(|| listening_on(&log)) {
            break addr;
        }
        if let Some(status) = child.try_wait()? {
            bail!("node {i} exited ({status}):\n{}", tail(&log));
        }
        if Instant::now() > deadline {
            bail!("node {i} did not listen within 60 s:\n{}", tail(&log));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let node = Node {
        child,
        pid,
        addr,
        url: format!("http://{addr}/"),
        log,
    };
    loop {
        check_stop()?;
        if get(place, i, &node, "/v1/status").is_ok() {
            break;
        }
        if Instant::now() > deadline {
            bail!("node {i} did not answer within 60 s:\n{}", tail(&node.log));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // `ip netns exec` execs the node in place: the pid is the node's, so
    // its CPU time is the node's own.
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if comm.trim() == "ip" {
        bail!("node {i} runs under `ip netns exec` as a child: its CPU time cannot be read");
    }
    Ok(node)
}

/// The address from a node's first line, "jbc node on http://ADDR/ ...".
fn listening_on(log: &Path) -> Option<SocketAddr> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines().find_map(|line| {
        let rest = line.strip_prefix("jbc node on http://")?;
        rest.split('/').next()?.parse().ok()
    })
}

/// The end of a node's log, for an error.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Fails naming the node, with its log, when one has exited.
fn check_alive(nodes: &mut Nodes) -> Result<()> {
    for (i, node) in nodes.0.iter_mut().enumerate() {
        if let Some(status) = node.child.try_wait()? {
            bail!("node {i} exited ({status}):\n{}", tail(&node.log));
        }
    }
    Ok(())
}

/// Writes `GET path` on `stream` and reads the status line and headers:
/// whether the body is chunked.
fn request(stream: &mut BufReader<TcpStream>, addr: SocketAddr, path: &str) -> Result<bool> {
    let host = addr.ip();
    write!(
        stream.get_mut(),
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut status = String::new();
    stream.read_line(&mut status)?;
    let code: u16 = status
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("GET {path}: not an HTTP answer: {status:?}"))?;
    let mut chunked = false;
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        chunked |= lower.starts_with("transfer-encoding:") && lower.contains("chunked");
    }
    if code != 200 {
        bail!("GET {path}: HTTP {code}");
    }
    Ok(chunked)
}

/// The next piece of a body: a chunk, or what a plain body has next;
/// empty at its end.
fn next_piece(stream: &mut BufReader<TcpStream>, chunked: bool) -> Result<Vec<u8>> {
    if !chunked {
        let mut buffer = vec![0; 64 * 1024];
        let n = stream.read(&mut buffer)?;
        buffer.truncate(n);
        return Ok(buffer);
    }
    let mut size = String::new();
    stream.read_line(&mut size)?;
    let size = size.trim().split(';').next().unwrap_or("");
    let size = usize::from_str_radix(size, 16).with_context(|| format!("chunk size {size:?}"))?;
    let mut chunk = vec![0; size];
    stream.read_exact(&mut chunk)?;
    let mut end = [0; 2];
    stream.read_exact(&mut end)?;
    Ok(chunk)
}

/// A whole `GET path` of node `i`, as text.
fn get(place: &Place, i: usize, node: &Node, path: &str) -> Result<String> {
    let stream = place.connect(i, node.addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut stream = BufReader::new(stream);
    let chunked = request(&mut stream, node.addr, path)?;
    let mut body = Vec::new();
    loop {
        let piece = next_piece(&mut stream, chunked)?;
        if piece.is_empty() {
            break;
        }
        body.extend(piece);
    }
    String::from_utf8(body).with_context(|| format!("GET {path} of node {i}: not UTF-8"))
}

/// What a node's event stream said, as the bench reads it.
enum Heard {
    /// A block stored alone (mined, posted or relayed): a `block` event.
    Block { hash: String, prev: String },
    /// The main chain's tip moved: a `tip` event. Sync stores blocks in
    /// batches and tells only of the new tip, so its ancestors arrived too.
    Tip { hash: String },
    /// The stream ended.
    Ended,
}

/// Node, what it said, when the bench read it.
type Message = (usize, Heard, Instant);

/// Reads node `i`'s `/v1/events` until it ends, sending its `block` and
/// `tip` events, then `Ended`.
fn read_events(i: usize, stream: TcpStream, addr: SocketAddr, seen: mpsc::Sender<Message>) {
    follow_events(i, stream, addr, &seen);
    let _ = seen.send((i, Heard::Ended, Instant::now()));
}

fn follow_events(i: usize, stream: TcpStream, addr: SocketAddr, seen: &mpsc::Sender<Message>) {
    let mut stream = BufReader::new(stream);
    let Ok(chunked) = request(&mut stream, addr, "/v1/events") else {
        return;
    };
    let mut pending = String::new();
    while let Ok(piece) = next_piece(&mut stream, chunked) {
        if piece.is_empty() {
            return;
        }
        let now = Instant::now();
        pending.push_str(&String::from_utf8_lossy(&piece));
        while let Some(end) = pending.find("\n\n") {
            let event: String = pending.drain(..end + 2).collect();
            for line in event.lines() {
                let Some(data) = line.strip_prefix("data:") else {
                    continue;
                };
                let Ok(value) = serde_json::from_str::<Value>(data.trim()) else {
                    continue;
                };
                let text = |field: &str| value[field].as_str().unwrap_or_default().to_owned();
                let heard = match value["type"].as_str() {
                    Some("block") => Heard::Block {
                        hash: text("hash"),
                        prev: text("prev_hash"),
                    },
                    Some("tip") => Heard::Tip { hash: text("hash") },
                    _ => continue,
                };
                if seen.send((i, heard, now)).is_err() {
                    return;
                }
            }
        }
    }
}

/// What node `i` says about itself, for a block it did not announce.
fn why_not(place: &Place, i: usize, node: &Node, stream_ended: bool) -> String {
    let tip = get(place, i, node, "/v1/status")
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .map(|status| status["tip"]["index"].to_string())
        .unwrap_or_else(|| "?".into());
    let metrics = get(place, i, node, "/metrics").unwrap_or_default();
    let count = |name: &str| sample(&metrics, name).map_or("?".into(), |v| v.to_string());
    let log = std::fs::read_to_string(&node.log).unwrap_or_default();
    let last = log.lines().rev().take(3).collect::<Vec<_>>().join(" | ");
    format!(
        "tip {tip}, event stream {}, peers up {}, connections refused {}, evicted {}, sync rounds {}; log ends: {last}",
        if stream_ended { "ended" } else { "open" },
        peers_up(place, i, node).map_or("?".into(), |up| up.len().to_string()),
        count("jbc_connections_refused_total"),
        count("jbc_connections_evicted_total"),
        count("jbc_sync_rounds_total"),
    )
}

/// Node `i`'s peers that are up.
fn peers_up(place: &Place, i: usize, node: &Node) -> Result<Vec<String>> {
    let answer: Value = serde_json::from_str(&get(place, i, node, "/v1/peers")?)
        .with_context(|| format!("node {i}'s /v1/peers is not JSON"))?;
    Ok(common::peers_up_in(&answer))
}

/// Waits until every node has peers up (as many as it can have, up to 3)
/// and the number of links has not changed for two sync rounds (6 s);
/// the links then (peer URLs up, summed over the nodes) and how many nodes
/// are in no other node's list (a node relays only to the peers it has up,
/// so these hear of a block only when they ask).
fn settle(place: &Place, nodes: &mut Nodes) -> Result<(usize, usize)> {
    let n = nodes.0.len();
    let least = (n - 1).min(3);
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut last = (usize::MAX, Instant::now());
    loop {
        check_stop()?;
        check_alive(nodes)?;
        let mut lists = Vec::new();
        for (i, node) in nodes.0.iter().enumerate() {
            lists.push(peers_up(place, i, node).unwrap_or_default());
        }
        let counts: Vec<usize> = lists.iter().map(Vec::len).collect();
        let links: usize = counts.iter().sum();
        if links != last.0 {
            last = (links, Instant::now());
        }
        if counts.iter().all(|c| *c >= least) && last.1.elapsed() >= Duration::from_secs(6) {
            let unlisted = nodes
                .0
                .iter()
                .filter(|node| !lists.iter().any(|list| list.contains(&node.url)))
                .count();
            return Ok((links, unlisted));
        }
        if Instant::now() > deadline {
            let lonely = counts.iter().rposition(|c| *c < least).unwrap_or(0);
            let asked = match peers_up(place, lonely, &nodes.0[lonely]) {
                Ok(peers) => format!("it answers {} peers up", peers.len()),
                Err(e) => format!("asking it failed: {e:#}"),
            };
            bail!(
                "discovery did not settle within 180 s: peers up by node {counts:?}; node {lonely} ({asked}), its log ends:\n{}",
                tail(&nodes.0[lonely].log)
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// When each node had each block, from its events: a `block` event, or a
/// `tip` event of the block or of one of its descendants.
struct Arrivals {
    nodes: usize,
    /// Every block a `block` event told of: its parent.
    parents: HashMap<String, String>,
    /// Blocks in the order they were first told of, with when.
    order: Vec<(String, Instant)>,
    /// Per node: when it had each block.
    arrived: Vec<HashMap<String, Instant>>,
    /// Per node: tips whose ancestors are not all traced yet (the walk
    /// stopped at a block whose parent is unknown so far), with when.
    tracing: Vec<Vec<(String, Instant)>>,
    /// Whose event stream has ended.
    ended: Vec<bool>,
}

impl Arrivals {
    fn new(nodes: usize) -> Arrivals {
        Arrivals {
            nodes,
            parents: HashMap::new(),
            order: Vec::new(),
            arrived: vec![HashMap::new(); nodes],
            tracing: vec![Vec::new(); nodes],
            ended: vec![false; nodes],
        }
    }

    fn record(&mut self, (i, heard, at): Message) {
        match heard {
            Heard::Ended => self.ended[i] = true,
            Heard::Block { hash, prev } => {
                if !self.parents.contains_key(&hash) {
                    self.parents.insert(hash.clone(), prev);
                    self.order.push((hash.clone(), at));
                }
                self.arrived[i].entry(hash).or_insert(at);
                // A parent now known may let a tip's walk go on.
                for node in 0..self.nodes {
                    self.trace(node);
                }
            }
            Heard::Tip { hash } => {
                self.tracing[i].push((hash, at));
                self.trace(i);
            }
        }
    }

    /// Walks node `i`'s new tips back through their ancestors, marking
    /// each as arrived (when the tip was told) until one it already had.
    fn trace(&mut self, i: usize) {
        let walks = std::mem::take(&mut self.tracing[i]);
        for (mut block, at) in walks {
            loop {
                self.arrived[i].entry(block.clone()).or_insert(at);
                match self.parents.get(&block) {
                    // Not known yet: go on from here when it is, unless
                    // the walk has reached where the streams began.
                    None => {
                        if at.elapsed() < Duration::from_secs(60) {
                            self.tracing[i].push((block, at));
                        }
                        break;
                    }
                    Some(parent) if self.arrived[i].contains_key(parent) || parent.is_empty() => {
                        break;
                    }
                    Some(parent) => block = parent.clone(),
                }
            }
        }
    }

    /// Waits for the next block not in `known` to be told of, then for
    /// every node to have it: the time from the first node's having it to
    /// the last's, or `None` when some node did not within
    /// `BLOCK_DEADLINE`. Gives up when no new block comes within
    /// `patience` seconds.
    fn next_complete(
        &mut self,
        events: &mpsc::Receiver<Message>,
        place: &Place,
        nodes: &mut Nodes,
        known: &mut Vec<String>,
        patience: u64,
    ) -> Result<Option<Duration>> {
        let waiting_since = Instant::now();
        let hash = loop {
            check_stop()?;
            check_alive(nodes)?;
            if let Some((hash, _)) = self.order.iter().find(|(h, _)| !known.contains(h)) {
                break hash.clone();
            }
            if waiting_since.elapsed() > Duration::from_secs(patience) {
                bail!("no new block within {patience} s: is the miner running?");
            }
            self.wait_event(events)?;
        };
        known.push(hash.clone());
        loop {
            check_stop()?;
            let times: Vec<Option<Instant>> = self
                .arrived
                .iter()
                .map(|node| node.get(&hash).copied())
                .collect();
            let first = times.iter().flatten().min().copied().expect("told of once");
            if times.iter().all(Option::is_some) {
                let last = times.iter().flatten().max().copied().expect("all had it");
                return Ok(Some(last - first));
            }
            if first.elapsed() > BLOCK_DEADLINE {
                let missing: Vec<usize> = (0..self.nodes).filter(|i| times[*i].is_none()).collect();
                eprintln!("block {hash} did not reach nodes {missing:?} within {BLOCK_DEADLINE:?}");
                for i in missing {
                    eprintln!(
                        "  node {i}: {}",
                        why_not(place, i, &nodes.0[i], self.ended[i])
                    );
                }
                return Ok(None);
            }
            check_alive(nodes)?;
            self.wait_event(events)?;
        }
    }

    /// Records the next event, or none within 100 ms.
    fn wait_event(&mut self, events: &mpsc::Receiver<Message>) -> Result<()> {
        match events.recv_timeout(Duration::from_millis(100)) {
            Ok(event) => self.record(event),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(anyhow!("every node's event stream ended"));
            }
        }
        while let Ok(event) = events.try_recv() {
            self.record(event);
        }
        Ok(())
    }
}

/// The CPU seconds of every node process and the block relay counters
/// summed over the nodes, at one moment.
struct Snapshot {
    at: Instant,
    cpu: Vec<f64>,
    /// (sends, bytes); `None` when a node does not have the counters.
    relay: Option<(u64, u64)>,
}

impl Snapshot {
    fn take(place: &Place, nodes: &Nodes) -> Result<Snapshot> {
        let mut cpu = Vec::new();
        for node in &nodes.0 {
            cpu.push(cpu_seconds(node.pid)?);
        }
        let mut relay = Some((0, 0));
        for (i, node) in nodes.0.iter().enumerate() {
            let text = get(place, i, node, "/metrics")?;
            let sends = sample(&text, "jbc_relay_sent_total{kind=\"block\"}");
            let bytes = sample(&text, "jbc_relay_sent_bytes_total{kind=\"block\"}");
            relay = match (relay, sends, bytes) {
                (Some((s, b)), Some(sends), Some(bytes)) => Some((s + sends, b + bytes)),
                _ => None,
            };
        }
        Ok(Snapshot {
            at: Instant::now(),
            cpu,
            relay,
        })
    }
}

/// The value of one series in a `/metrics` text.
fn sample(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// User and system CPU time of a process, from /proc/PID/stat.
fn cpu_seconds(pid: i32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
    // The fields after the command name (which may hold spaces), from the
    // state (field 3): utime and stime are fields 14 and 15.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("a /proc stat line without its command name")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |n: usize| -> Result<u64> {
        fields
            .get(n)
            .and_then(|f| f.parse().ok())
            .with_context(|| format!("/proc/{pid}/stat: field {} is not a number", n + 3))
    };
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok((ticks(11)? + ticks(12)?) as f64 / per_second)
}
