//! The six attacks of issue 10, measured against a `jbc` binary as its own
//! process on loopback (any version: run it against an older build to
//! compare). Each is bounded in count and time. Prints figures; nothing
//! here passes or fails.
//!
//! `cargo bench --bench attack` (this build) or
//! `cargo bench --bench attack -- --jbc /path/to/other/jbc`
//!
//! 1. 1,100 slow connections from one address, the node's file limit at
//!    1,024: how long `/v1/status` takes for another address.
//! 2. A body promised at 1 MB, 10 bytes sent: how long the node holds it.
//! 3. 500 connections holding 1,048,000 bytes of 1 MiB bodies: peak RSS.
//! 4. An original peer with an endless `/blockchain.json`: what it makes
//!    the node read, its peak RSS, and how late an honest block arrives.
//! 5. A peer claiming more work and sending none: how often it is asked;
//!    a dripping peer: when mining starts, how late an honest block is.
//! 6. A stranger switching mining off; 10,000 posted peers.
//!
//! The four findings of issue 17, for this binary and, with `--before
//! PATH`, for an older one in the same run:
//!
//! 7. A stranger on 127.0.0.2 names a service on 127.0.0.1 as its address:
//!    is that service dialled, and is what it answered shown to the world?
//! 8. Eight addresses hold every connection they can: how many of 20
//!    requests from a ninth are answered?
//! 9. A pool of 1,000: another client's acknowledged entry after 1,100 from
//!    a flooder; what the flooder's first entry says.
//! 10. `Authorization: bearer` in lower case; a second node on the same
//!     data directory; a request naming another host (DNS rebinding).

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Parser;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::hostile::{
    self, claims_and_sends_nothing, connect_from, dripping_peer, endless_original,
    raise_own_file_limit,
};
use common::net::{TestNode, bind, get_json, preload};
use common::{blocks_on, easy_params};
use jbc::consensus::{Block, Network};

#[derive(Parser)]
struct Args {
    /// The `jbc` binary to attack (default: this build's).
    #[arg(long, value_name = "PATH")]
    jbc: Option<PathBuf>,
    /// An older `jbc` binary to run the findings of issue 17 (7-10)
    /// against too, in the same run.
    #[arg(long, value_name = "PATH")]
    before: Option<PathBuf>,
    /// Only the findings of issue 17.
    #[arg(long)]
    strangers_only: bool,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::ERROR)
        .try_init();
    let args = Args::parse();
    let jbc = args.jbc.unwrap_or_else(|| PathBuf::from(common::jbc_bin()));
    raise_own_file_limit();
    println!("attacking {}", jbc.display());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let network = easy_params(1, "attack bench");
        if !args.strangers_only {
            slow_connections(&jbc, &network).await;
            stalled_body(&jbc, &network).await;
            held_bodies(&jbc, &network).await;
            hostile_original(&jbc, &network).await;
            wasteful_peers(&jbc, &network).await;
            strangers(&jbc, &network).await;
        }
        let mut builds = vec![("this build", jbc.clone())];
        if let Some(before) = &args.before {
            builds.insert(0, ("before", before.clone()));
        }
        for (name, binary) in &builds {
            println!("-- issue 17, {name} ({})", binary.display());
            named_host(binary, &network).await;
            locked_out(binary, &network).await;
            pool_flood(binary, &network).await;
            small_holes(binary, &network).await;
        }
    });
    Ok(())
}

/// The node under attack: `jbc node` on the bench network, its file limit
/// set, with these extra flags.
struct Target {
    child: Child,
    address: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Target {
    /// Starts with an empty chain (the store is the binary's own: an
    /// older build cannot read a newer store).
    async fn start(jbc: &Path, network: &Network, files: u32, extra: &str) -> Target {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("node");
        let genesis = dir.path().join("genesis.json");
        std::fs::write(&genesis, jbc::wire::block_to_json(network.genesis())).expect("genesis");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let script = format!(
            "ulimit -n {files} && exec {} --difficulty {} --genesis {} --data-dir {} node --port {port} {extra}",
            jbc.display(),
            network.difficulty().zeros(),
            genesis.display(),
            data.display()
        );
        let child = Command::new("sh")
            .args(["-c", &script])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the node");
        let target = Target {
            child,
            address: SocketAddr::from(([127, 0, 0, 1], port)),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while reqwest::get(format!("{}v1/status", target.url()))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "the node did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        target
    }

    fn url(&self) -> String {
        format!("http://{}/", self.address)
    }

    /// Waits (up to 60 s) until the node's tip is at `index`.
    async fn wait_tip(&self, index: u64) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let status = get_json(&format!("{}v1/status", self.url())).await;
            if status["tip"]["index"].as_u64() >= Some(index) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn proc(&self, what: &str) -> String {
        std::fs::read_to_string(format!("/proc/{}/{what}", self.child.id())).unwrap_or_default()
    }

    fn rss_mb(&self) -> f64 {
        self.proc("status")
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }

    fn open_files(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// CPU seconds the node used so far (user + system).
    fn cpu_seconds(&self) -> f64 {
        let stat = self.proc("stat");
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        (ticks(11) + ticks(12)) / 100.0
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET /v1/status` from 127.0.0.N, within 5 s: how long it took.
async fn status_from(source: u8, to: SocketAddr) -> Option<Duration> {
    tokio::time::timeout(Duration::from_secs(5), hostile::status_from(source, to))
        .await
        .ok()
        .and_then(Result::ok)
}

fn shown(d: Option<Duration>) -> String {
    d.map_or("no answer within 5 s".into(), |d| {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    })
}

async fn slow_connections(jbc: &Path, network: &Network) {
    let target = Target::start(jbc, network, 1024, "").await;
    let mut crowd = Vec::new();
    for _ in 0..1100 {
        if let Ok(Ok(mut stream)) =
            tokio::time::timeout(Duration::from_millis(200), connect_from(1, target.address)).await
        {
            let _ = stream.write_all(b"GET /v1/status HTTP/1.1\r\nHo").await;
            crowd.push(stream);
        }
    }
    for stream in &mut crowd {
        let _ = stream.write_all(b"s").await;
    }
    let mut times = Vec::new();
    for _ in 0..5 {
        times.push(status_from(2, target.address).await);
    }
    times.sort();
    println!(
        "1. 1,100 slow connections from one address, file limit 1,024: /v1/status from another address: median {}, worst {}; node holds {} files",
        shown(times[2]),
        shown(times[4]),
        target.open_files()
    );
}

async fn stalled_body(jbc: &Path, network: &Network) {
    let target = Target::start(jbc, network, 4096, "").await;
    let mut stream = TcpStream::connect(target.address).await.expect("connect");
    let started = Instant::now();
    let _ = stream
        .write_all(
            b"POST /v1/blocks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000\r\n\r\n0123456789",
        )
        .await;
    let mut answer = Vec::new();
    let held = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer)).await;
    println!(
        "2. a 1 MB body stalled after 10 bytes: {}",
        match held {
            Ok(_) => format!(
                "closed after {:.1} s ({})",
                started.elapsed().as_secs_f64(),
                String::from_utf8_lossy(answer.split(|b| *b == b'\r').next().unwrap_or_default())
            ),
            Err(_) => "still held after 30 s".into(),
        }
    );
}

async fn held_bodies(jbc: &Path, network: &Network) {
    let target = Target::start(jbc, network, 8192, "").await;
    let before = target.rss_mb();
    let chunk = vec![b' '; 1_048_000];
    let mut held = Vec::new();
    let mut peak = before;
    for i in 0..500u32 {
        let Ok(mut stream) = connect_from(1 + (i % 10) as u8, target.address).await else {
            continue;
        };
        let head =
            b"POST /v1/blocks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1048576\r\n\r\n";
        if stream.write_all(head).await.is_ok() {
            let _ =
                tokio::time::timeout(Duration::from_millis(200), stream.write_all(&chunk)).await;
        }
        held.push(stream);
        if i % 25 == 0 {
            peak = peak.max(target.rss_mb());
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    peak = peak.max(target.rss_mb());
    println!(
        "3. 500 connections holding 1,048,000 bytes of 1 MiB bodies: RSS {before:.0} MB before, {peak:.0} MB peak; /v1/status from elsewhere: {}",
        shown(status_from(20, target.address).await)
    );
    drop(held);
}

/// An honest jbc node holding `chain`, in this process.
async fn honest(network: &Network, chain: &[Block]) -> TestNode {
    let dir = tempfile::tempdir().expect("temp dir");
    preload(dir.path(), network, chain);
    let (listener, _) = bind().await;
    TestNode::start(listener, dir, network, |c| {
        c.sync_interval = Duration::from_secs(3600)
    })
}

/// Posts a new block to `honest`; how long until `target` has it.
async fn honest_block_delay(
    network: &Network,
    honest: &TestNode,
    parent: &Block,
    target: &Target,
) -> Option<Duration> {
    let next = blocks_on(network, parent, 1, "honest news").remove(0);
    let started = Instant::now();
    honest.post_block(&next).await;
    let deadline = started + Duration::from_secs(60);
    while Instant::now() < deadline {
        let answer = reqwest::get(format!("{}v1/blocks/{}", target.url(), next.hash)).await;
        if answer.is_ok_and(|a| a.status().is_success()) {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

async fn hostile_original(jbc: &Path, network: &Network) {
    let (hostile, sent) = endless_original(network).await;
    let chain = blocks_on(network, network.genesis(), 10, "honest");
    let good = honest(network, &chain).await;
    let extra = format!("--peer {hostile} --peer {}", good.url);
    let target = Target::start(jbc, network, 8192, &extra).await;
    target.wait_tip(10).await;
    let cpu_before = target.cpu_seconds();
    let mut peak = target.rss_mb();
    let watch_until = Instant::now() + Duration::from_secs(20);
    let delay = {
        let delay = honest_block_delay(network, &good, &chain[9], &target);
        tokio::pin!(delay);
        loop {
            tokio::select! {
                d = &mut delay => break d,
                _ = tokio::time::sleep(Duration::from_millis(200)) => peak = peak.max(target.rss_mb()),
            }
        }
    };
    while Instant::now() < watch_until {
        peak = peak.max(target.rss_mb());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "4. an original peer with an endless chain (20 s): it sent {:.0} MB; node peak RSS {peak:.0} MB, {:.1} s of CPU; an honest block arrived after {}",
        sent.load(Ordering::SeqCst) as f64 / 1e6,
        target.cpu_seconds() - cpu_before,
        delay.map_or("more than 60 s".into(), |d| format!(
            "{:.2} s",
            d.as_secs_f64()
        ))
    );
}

async fn wasteful_peers(jbc: &Path, network: &Network) {
    // A peer that claims more work and sends nothing.
    let (claimer, asked) = claims_and_sends_nothing(network).await;
    let target = Target::start(jbc, network, 4096, &format!("--peer {claimer}")).await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    let peers = get_json(&format!("{}v1/peers", target.url())).await;
    println!(
        "5a. a peer claiming more work and sending none: asked {} times in 30 s; its state: {}",
        asked.load(Ordering::SeqCst),
        peers["peers"][0]["state"]
    );
    drop(target);
    // A peer that drips its answers, beside an honest one, on a mining node.
    let drip = dripping_peer().await;
    let chain = blocks_on(network, network.genesis(), 10, "honest");
    let good = honest(network, &chain).await;
    let started = Instant::now();
    let extra = format!("--peer {drip} --peer {} --mine --threads 1", good.url);
    let target = Target::start(jbc, network, 4096, &extra).await;
    let mut mining_after = None;
    while started.elapsed() < Duration::from_secs(30) {
        let status = get_json(&format!("{}v1/status", target.url())).await;
        if status["mining"]["enabled"] == json!(true) {
            mining_after = Some(started.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Stop mining (as the operator if the node asks for one) to measure
    // an honest block on a still chain.
    let token =
        jbc::node::operator::read_token(&target._dir.path().join("node")).unwrap_or_default();
    let _ = reqwest::Client::new()
        .post(format!("{}v1/mining", target.url()))
        .bearer_auth(token)
        .body(json!({"mine": false}).to_string())
        .send()
        .await;
    let tip = get_json(&format!("{}v1/status", target.url())).await;
    let tip_hash = tip["tip"]["hash"].as_str().unwrap_or_default().to_owned();
    let parent = get_json(&format!("{}v1/blocks/{tip_hash}", target.url())).await;
    let parent = jbc::wire::block_from_value(&parent["block"]).unwrap_or_else(|_| chain[9].clone());
    // The honest peer must have the parent to take the child.
    let mut missing = Vec::new();
    let mut cursor = parent.clone();
    while good.post_block(&cursor).await.0 == 409 && missing.len() < 1000 {
        missing.push(cursor.clone());
        let prev = cursor.prev_hash.map(|h| h.to_string()).unwrap_or_default();
        let back = get_json(&format!("{}v1/blocks/{prev}", target.url())).await;
        match jbc::wire::block_from_value(&back["block"]) {
            Ok(block) => cursor = block,
            Err(_) => break,
        }
    }
    for block in missing.iter().rev() {
        good.post_block(block).await;
    }
    let delay = honest_block_delay(network, &good, &parent, &target).await;
    println!(
        "5b. a peer dripping a byte a second beside an honest one: mining started after {}; an honest block arrived after {}",
        mining_after.map_or("more than 30 s".into(), |d| format!(
            "{:.2} s",
            d.as_secs_f64()
        )),
        delay.map_or("more than 60 s".into(), |d| format!(
            "{:.2} s",
            d.as_secs_f64()
        ))
    );
}

async fn strangers(jbc: &Path, network: &Network) {
    let target = Target::start(jbc, network, 8192, "--mine --threads 1").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let client = reqwest::Client::new();
    let answer = client
        .post(format!("{}v1/mining", target.url()))
        .body(json!({"mine": false}).to_string())
        .send()
        .await
        .map(|a| a.status().as_u16())
        .unwrap_or(0);
    let mining = get_json(&format!("{}v1/status", target.url())).await["mining"]["enabled"].clone();
    let before = (target.open_files(), target.rss_mb());
    let mut kept = 0;
    for i in 0..10_000u32 {
        let url = format!(
            "http://10.{}.{}.{}:5000/",
            i / 65536,
            (i / 256) % 256,
            i % 256
        );
        let answer = client
            .post(format!("{}v1/peers", target.url()))
            .body(json!({ "url": url }).to_string())
            .send()
            .await;
        if answer.is_ok_and(|a| a.status().is_success()) {
            kept += 1;
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!(
        "6. a stranger's POST /v1/mining {{\"mine\": false}}: HTTP {answer}, mining afterwards: {mining}; 10,000 peers posted by a stranger: {kept} kept, open files {} -> {}, RSS {:.0} -> {:.0} MB",
        before.0,
        target.open_files(),
        before.1,
        target.rss_mb()
    );
}

// ------------------------------------------------------------ issue 17

/// A service answering every request with HTTP 500 and a secret; counts
/// the connections it gets.
async fn secret_service(
    address: SocketAddr,
) -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    let listener = tokio::net::TcpListener::bind(address).await.expect("bind");
    let address = listener.local_addr().expect("address");
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = std::sync::Arc::clone(&hits);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut head = [0u8; 4096];
                let _ = tokio::time::timeout(Duration::from_secs(1), stream.read(&mut head)).await;
                let body = "SECRET-OF-THE-INTERNAL-SERVICE";
                let answer = format!(
                    "HTTP/1.1 500 Oops\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    (address, hits)
}

/// A raw request from 127.0.0.N; the raw answer.
async fn raw_from(source: u8, to: SocketAddr, request: &str) -> String {
    let Ok(Ok(mut stream)) =
        tokio::time::timeout(Duration::from_secs(5), connect_from(source, to)).await
    else {
        return String::new();
    };
    let _ = stream.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

async fn named_host(jbc: &Path, network: &Network) {
    let target = Target::start(jbc, network, 8192, "").await;
    let (service, hits) = secret_service("127.0.0.1:0".parse().unwrap()).await;
    let request = format!(
        "GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nx-jbc-advertise: http://{service}/\r\n\r\n"
    );
    raw_from(2, target.address, &request).await;
    // Long enough for a dial and its answer (the connector runs every
    // second).
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut shown = false;
    while Instant::now() < deadline && !shown {
        let peers = get_json(&format!("{}v1/peers", target.url())).await;
        shown = peers.to_string().contains("SECRET");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "7. a stranger names a service on 127.0.0.1 as its address: the service was dialled {} times; its answer shown in /v1/peers: {}",
        hits.load(Ordering::SeqCst),
        if shown { "yes" } else { "no" }
    );
}

async fn locked_out(jbc: &Path, network: &Network) {
    let target = Target::start(jbc, network, 8192, "").await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut holders = Vec::new();
    for source in 11..=18u8 {
        let (stop, to) = (std::sync::Arc::clone(&stop), target.address);
        holders.push(tokio::spawn(async move {
            let mut held: Vec<TcpStream> = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                // Reopen whatever the node closed.
                let mut probe = [0u8; 1];
                let mut kept = Vec::new();
                for mut stream in held.drain(..) {
                    match tokio::time::timeout(Duration::from_millis(1), stream.read(&mut probe))
                        .await
                    {
                        Ok(Ok(0)) | Ok(Err(_)) => {}
                        _ => kept.push(stream),
                    }
                }
                held = kept;
                while held.len() < 64 {
                    match tokio::time::timeout(Duration::from_millis(200), connect_from(source, to))
                        .await
                    {
                        Ok(Ok(stream)) => held.push(stream),
                        _ => break,
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut answered = 0;
    for _ in 0..20 {
        if status_from(99, target.address).await.is_some() {
            answered += 1;
        }
    }
    stop.store(true, Ordering::SeqCst);
    for holder in holders {
        let _ = holder.await;
    }
    println!(
        "8. eight addresses hold every connection they can: a ninth got {answered} answers of 20"
    );
}

async fn pool_flood(jbc: &Path, network: &Network) {
    let target = Target::start(jbc, network, 8192, "--max-pending 1000").await;
    let post = |source: u8, body: String| {
        let to = target.address;
        async move {
            let request = format!(
                "POST /v1/entries HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            let answer = raw_from(source, to, &request).await;
            serde_json::from_str::<serde_json::Value>(answer.split("\r\n\r\n").nth(1).unwrap_or(""))
                .unwrap_or_default()
        }
    };
    let victim = post(2, json!({"text": "an invoice"}).to_string()).await;
    let victim = victim["id"].as_str().unwrap_or_default().to_owned();
    let mut first = None;
    for batch in 0..11 {
        let list: Vec<serde_json::Value> = (0..100)
            .map(|i| json!({"text": format!("spam {batch} {i}")}))
            .collect();
        let ids = post(3, serde_json::Value::from(list).to_string()).await;
        if first.is_none() {
            first = ids[0].as_str().map(str::to_owned);
        }
    }
    let status = |id: String| {
        let url = format!("{}v1/entries/{id}", target.url());
        async move {
            match reqwest::get(&url).await {
                Ok(answer) if answer.status() == 404 => "404 (unknown)".to_owned(),
                Ok(answer) => answer
                    .bytes()
                    .await
                    .ok()
                    .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                    .map(|v| v["status"].as_str().unwrap_or("?").to_owned())
                    .unwrap_or_default(),
                Err(e) => e.to_string(),
            }
        }
    };
    println!(
        "9. pool of 1,000, 1,100 entries from a flooder: another client's acknowledged entry: {}; the flooder's first: {}",
        status(victim).await,
        status(first.unwrap_or_default()).await
    );
}

async fn small_holes(jbc: &Path, network: &Network) {
    let target = Target::start(jbc, network, 8192, "").await;
    let data = target._dir.path().join("node");
    let token = jbc::node::operator::read_token(&data).unwrap_or_default();
    let body = json!({"mine": false}).to_string();
    let lower = raw_from(
        1,
        target.address,
        &format!(
            "POST /v1/mining HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: bearer {token}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    let rebound = raw_from(
        1,
        target.address,
        "GET /v1/status HTTP/1.1\r\nHost: attacker.example:5000\r\nConnection: close\r\n\r\n",
    )
    .await;
    // A second node on the same data directory.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0);
    let mut second = Command::new(jbc)
        .arg("--data-dir")
        .arg(&data)
        .args(["node", "--port", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start a second node");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut second_runs = false;
    while Instant::now() < deadline {
        if second.try_wait().ok().flatten().is_some() {
            break;
        }
        if reqwest::get(format!("http://127.0.0.1:{port}/v1/status"))
            .await
            .is_ok()
        {
            second_runs = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Stopped as a person would (SIGTERM: an orderly stop, which removes
    // the cookie the stopping node thinks is its own).
    unsafe {
        libc::kill(second.id() as i32, libc::SIGTERM);
    }
    let stopped = Instant::now() + Duration::from_secs(10);
    while second.try_wait().ok().flatten().is_none() && Instant::now() < stopped {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = second.kill();
    let _ = second.wait();
    let cookie_left = data.join(".cookie").exists();
    let code = |answer: &str| answer.split(' ').nth(1).unwrap_or("none").to_owned();
    println!(
        "10. 'Authorization: bearer' (lower case): HTTP {}; a second node on the same data directory: {}; the first's cookie afterwards: {}; a request for Host attacker.example: HTTP {}",
        code(&lower),
        if second_runs { "started" } else { "refused" },
        if cookie_left { "kept" } else { "gone" },
        code(&rebound)
    );
}
