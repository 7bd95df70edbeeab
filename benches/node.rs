//! Node speed over loopback: the node's network figures, on real sockets over
//! loopback: a fresh sync of a long chain, catching up one block, serving
//! `/blockchain.json`, propagation along a line of nodes (of plain blocks,
//! and of blocks of 5,000 entries on a strict Merkle network), and the
//! memory and start-up time of a node serving a very long chain (a
//! separate process, so its RSS is its own).
//!
//! `cargo bench --bench node -- --blocks 100000 --big 1000000`
//! `cargo bench --bench node -- --only propagation` (the propagation alone)

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use clap::Parser;
use jbc::consensus::entry::Content;
use jbc::consensus::{Block, Entry, Network};

use common::net::{TestNode, bind, counting_proxy, preload, wait_for};

#[derive(Parser)]
struct Args {
    /// Length of the chain to sync.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    blocks: u64,
    /// Length of the chain for the memory test (0 skips it).
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    big: u64,
    /// Only this part: `propagation` runs the two propagation figures
    /// alone (no long chain built, no memory test).
    #[arg(long, value_name = "PART")]
    only: Option<Part>,
    /// Only the fresh sync, this many times (for profiling).
    #[arg(long, value_name = "TIMES")]
    sync_only: Option<u32>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Part {
    /// Plain blocks and blocks of 5,000 entries along a line of 5 nodes.
    Propagation,
}

fn main() -> Result<()> {
    // Warnings only: the nodes' info lines would drown the figures.
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .try_init();
    let args = Args::parse();
    if let Some(times) = args.sync_only {
        return sync_only(args.blocks, times);
    }
    if let Some(Part::Propagation) = args.only {
        return propagation_only();
    }
    run(args.blocks, args.big)
}

fn sync_only(blocks: u64, times: u32) -> Result<()> {
    let params = common::easy_params(1, "bench node");
    let chain = common::blocks_on(&params, params.genesis(), blocks, "bench");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    for _ in 0..times {
        runtime.block_on(fresh_sync(&params, &chain))?;
    }
    Ok(())
}

fn propagation_only() -> Result<()> {
    let params = common::easy_params(1, "bench node");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        propagation(&params).await?;
        propagation_of_entries().await
    })
}

const NEVER: Duration = Duration::from_secs(3600);

pub fn run(blocks: u64, big: u64) -> Result<()> {
    let params = common::easy_params(1, "bench node");
    let scratch = tempfile::tempdir()?;
    println!("building a {blocks}-block chain at difficulty 1");
    let chain = common::blocks_on(&params, params.genesis(), blocks, "bench");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        serve_blockchain_json(&params, &chain).await?;
        fresh_sync(&params, &chain).await?;
        one_behind(&params, &chain).await?;
        propagation(&params).await?;
        propagation_of_entries().await
    })?;
    if big > 0 {
        memory_and_startup(&params, big, scratch.path())?;
    }
    Ok(())
}

fn median(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    (samples[samples.len() / 2], samples[samples.len() - 1])
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// A temp dir holding `blocks` in its store.
fn preloaded(params: &Network, blocks: &[Block]) -> Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    preload(dir.path(), params, blocks);
    Ok(dir)
}

async fn serve_blockchain_json(params: &Network, chain: &[Block]) -> Result<()> {
    let n = chain.len().min(10_000);
    let dir = preloaded(params, &chain[..n])?;
    let (listener, url) = bind().await;
    let _node = TestNode::start(listener, dir, params, |c| c.sync_interval = NEVER);
    let client = reqwest::Client::new();
    // One whole GET /blockchain.json: the time and the body size.
    let fetch = || async {
        let started = Instant::now();
        let body = client
            .get(format!("{url}blockchain.json"))
            .send()
            .await?
            .bytes()
            .await?;
        Ok::<_, reqwest::Error>((started.elapsed(), body.len()))
    };
    let (cold, _) = fetch().await?;
    let mut samples = Vec::new();
    let mut size = 0;
    for i in 0..35 {
        let (elapsed, len) = fetch().await?;
        if i >= 5 {
            samples.push(elapsed);
        }
        size = len;
    }
    let (median, worst) = median(samples);
    // One more block: the next answer prints only that block.
    let parent = chain[n - 1].clone();
    let next = common::blocks_on(params, &parent, 1, "one more").remove(0);
    client
        .post(format!("{url}v1/blocks"))
        .body(jbc::wire::block_to_json(&next))
        .send()
        .await?;
    let (after_block, _) = fetch().await?;
    println!(
        "GET /blockchain.json at {} blocks ({:.1} MB): median {}, worst {} (30 requests); first request {}, first after a new block {}",
        n + 1,
        size as f64 / 1e6,
        ms(median),
        ms(worst),
        ms(cold),
        ms(after_block)
    );
    Ok(())
}

async fn fresh_sync(params: &Network, chain: &[Block]) -> Result<()> {
    let seconds = common::net::fresh_sync_seconds(params, chain).await;
    println!(
        "fresh sync of {} blocks from one peer: {:.2} s ({:.0} blocks/s, node start included)",
        chain.len(),
        seconds,
        chain.len() as f64 / seconds
    );
    Ok(())
}

async fn one_behind(params: &Network, chain: &[Block]) -> Result<()> {
    let dir_a = preloaded(params, chain)?;
    let dir_b = preloaded(params, &chain[..chain.len() - 1])?;
    let (la, url_a) = bind().await;
    let _a = TestNode::start(la, dir_a, params, |c| {
        c.sync_interval = NEVER;
        c.discover = false;
    });
    let upstream = url_a
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let (proxy, counts) = counting_proxy(upstream).await;
    let (lb, _) = bind().await;
    let started = Instant::now();
    let b = TestNode::start(lb, dir_b, params, |c| {
        c.peers = vec![proxy.clone()];
        c.discover = false; // sync's cost alone
        c.sync_interval = NEVER;
    });
    let want = (
        chain.len() as u64,
        chain.last().map(|b| b.hash.to_string()).unwrap_or_default(),
    );
    wait_for(
        "the node one behind to catch up",
        Duration::from_secs(60),
        || async { b.tip().await == want },
    )
    .await;
    println!(
        "one block behind on {} blocks: caught up with {} requests, {} bytes on the wire, {}",
        chain.len(),
        counts.requests(),
        counts.bytes(),
        ms(started.elapsed())
    );
    Ok(())
}

/// A line of 5 nodes, each peered with the next; blocks posted to the
/// first; the time until the last one's event stream announces each.
async fn propagation(params: &Network) -> Result<()> {
    let blocks = common::blocks_on(params, params.genesis(), 21, "propagation");
    let posts = blocks
        .iter()
        .map(|b| Post {
            hash: b.hash.to_string(),
            json: jbc::wire::block_to_json(b),
            compact: Vec::new(),
            gossip_first: Vec::new(),
            pool_holds: 0,
        })
        .collect();
    let line = along_a_line(params, posts, Sent::Whole).await?;
    println!("propagation along a line of 5 nodes (4 hops): {line}");
    Ok(())
}

/// Entries in each block of [`propagation_of_entries`].
const ENTRIES_PER_BLOCK: usize = 5000;

/// As [`propagation`], with blocks carrying 5,000 text entries each on a
/// strict network that commits them by a Merkle root (the block posted
/// with its body), the entries new to every node and then gossiped to
/// every pool first; and blocks of 2,000 entries stamping documents (a
/// SHA-256 digest each, the common case), gossiped first.
async fn propagation_of_entries() -> Result<()> {
    let network = common::strict_network(1, "bench node entries", 0);
    let text = |b: usize, i: usize| Content::Text(format!("propagation block {b} entry {i}"));
    let posts = blocks_of_entries(&network, ENTRIES_PER_BLOCK, text);
    let unknown: Vec<Post> = posts
        .iter()
        .map(|post| Post {
            gossip_first: Vec::new(),
            pool_holds: 0,
            ..post.clone()
        })
        .collect();
    let digest = |b: usize, i: usize| {
        let document = format!("propagation document {b} {i}");
        Content::Sha256(*jbc::consensus::BlockHash::of(document.as_bytes()).as_bytes())
    };
    let gossiped = "5,000 entries gossiped to every pool first";
    let ahead = pools_ahead(&posts, 3);
    for (posts, how, sent) in [
        (unknown, "5,000 entries new to every node", Sent::Whole),
        (posts.clone(), gossiped, Sent::Whole),
        (posts, gossiped, Sent::Compact),
        (
            ahead,
            "5,000 entries gossiped first, the pools holding the next 3 blocks' too",
            Sent::Compact,
        ),
        (
            blocks_of_entries(&network, 2000, digest),
            "2,000 document digests gossiped to every pool first",
            Sent::Whole,
        ),
    ] {
        let line = along_a_line(&network, posts, sent).await?;
        let hops = match sent {
            Sent::Whole => "along a line of 5 nodes (4 hops)",
            Sent::Compact => {
                "sent compact by their miner along a line of 5 nodes (5 hops: miner to the last node)"
            }
        };
        println!("propagation of blocks of {how}, {hops}: {line}");
    }
    Ok(())
}

/// `posts` with every pool holding the entries of the `more` blocks after
/// the one posted too (gossiped earlier, so the block's own are the
/// oldest, as a miner takes them): a pool larger than a block.
fn pools_ahead(posts: &[Post], more: usize) -> Vec<Post> {
    let lines = |range: std::ops::Range<usize>| -> Vec<String> {
        posts[range.start.min(posts.len())..range.end.min(posts.len())]
            .iter()
            .flat_map(|post| post.gossip_first.iter().cloned())
            .collect()
    };
    (0..posts.len())
        .map(|b| Post {
            gossip_first: if b == 0 {
                lines(0..more + 1)
            } else {
                lines(b + more..b + more + 1)
            },
            pool_holds: lines(b..b + more + 1).len(),
            ..posts[b].clone()
        })
        .collect()
}

/// 11 blocks of `count` entries each, in a chain from genesis, their
/// entries to gossip first.
fn blocks_of_entries(
    network: &Network,
    count: usize,
    content: impl Fn(usize, usize) -> Content,
) -> Vec<Post> {
    let mut parent = network.genesis().clone();
    let mut posts = Vec::new();
    for b in 0..11 {
        let lines: Vec<String> = (0..count)
            .map(|i| Entry::new(content(b, i)).encoding())
            .collect();
        let block = common::block_with_entries(network, &parent, &lines);
        let salt = jbc::wire::compact::Salt((b as u64).to_le_bytes());
        posts.push(Post {
            hash: block.block.hash.to_string(),
            json: jbc::wire::block_and_body_to_json(&block),
            compact: jbc::wire::compact::CompactBlock::of(&block, salt).to_json(),
            pool_holds: lines.len(),
            gossip_first: lines,
        });
        parent = block.block;
    }
    posts
}

/// A block to post to the first node of a line: its hash, its JSON, its
/// compact form (short ids, as its miner would relay it), the entries to
/// give the first node before, and how many entries the last node's pool
/// then holds (waited for).
#[derive(Clone)]
struct Post {
    hash: String,
    json: Vec<u8>,
    compact: Vec<u8>,
    gossip_first: Vec<String>,
    pool_holds: usize,
}

/// How a block goes to the first node of a line.
#[derive(Clone, Copy, PartialEq)]
enum Sent {
    /// Whole (`POST /v1/blocks`): the first node reads all of it.
    Whole,
    /// As its miner relays it (`POST /v1/blocks/compact`): one hop more
    /// than the line's 4, of the kind every hop of the line makes.
    Compact,
}

/// What a line of nodes did with the blocks posted to its first node.
struct LineFigures {
    median: Duration,
    worst: Duration,
    /// From the first node announcing a block (stored) to the last one
    /// announcing it: the 4 hops of relay, without the first node's own
    /// reading of the posted block.
    first_to_last: Duration,
    blocks: usize,
    /// CPU time of this process (every node of the line) per block.
    cpu_per_block: Duration,
    /// Bytes the nodes sent to spread one block to one peer, on average
    /// (`jbc_relay_sent_bytes_total` over `jbc_relay_sent_total`, kind
    /// "block", summed over the nodes), and the block's own JSON size.
    bytes_per_send: u64,
    block_json: u64,
}

impl std::fmt::Display for LineFigures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "median {}, worst {} ({} blocks), first node to last {}; CPU of the 5 nodes \
             per block {}; {} bytes sent per block per peer, for a block of {} bytes as \
             JSON ({:.1}%)",
            ms(self.median),
            ms(self.worst),
            self.blocks,
            ms(self.first_to_last),
            ms(self.cpu_per_block),
            self.bytes_per_send,
            self.block_json,
            100.0 * self.bytes_per_send as f64 / self.block_json.max(1) as f64
        )
    }
}

/// (sends, bytes) of blocks relayed by these nodes so far, summed.
async fn block_relay(client: &reqwest::Client, urls: &[String]) -> Result<(u64, u64)> {
    let mut total = (0, 0);
    for url in urls {
        let text = client
            .get(format!("{url}metrics"))
            .send()
            .await?
            .text()
            .await?;
        let sample = |series: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(series)?.trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        total.0 += sample("jbc_relay_sent_total{kind=\"block\"}");
        total.1 += sample("jbc_relay_sent_bytes_total{kind=\"block\"}");
    }
    Ok(total)
}

/// Starts a line of 5 nodes, posts each block (its hash, its JSON) to the
/// first and times until the last one's event stream announces it; the
/// first block, which pays for new connections, is left out. The median,
/// the worst and the number of blocks timed, and the median from the
/// first node's announcement to the last one's.
async fn along_a_line(params: &Network, posts: Vec<Post>, sent: Sent) -> Result<LineFigures> {
    let nodes = common::net::line_of_nodes(params, 5).await;
    let urls: Vec<String> = nodes.iter().map(|n| n.url.clone()).collect();
    let mut last_seen = common::net::events(&urls[4]).await?;
    let mut first_seen = common::net::events(&urls[0]).await?;
    let client = reqwest::Client::new();
    let (mut samples, mut spans) = (Vec::new(), Vec::new());
    let mut cpu = Duration::ZERO;
    let (mut sends, mut bytes) = (0, 0);
    let mut block_json = 0;
    for post in posts {
        if !post.gossip_first.is_empty() {
            gossip(&client, &urls, &post.gossip_first, post.pool_holds).await?;
        }
        let Post {
            hash: want,
            json,
            compact,
            ..
        } = post;
        let relayed_before = block_relay(&client, &urls).await?;
        let json_len = json.len() as u64;
        let (path, body) = match sent {
            Sent::Whole => ("v1/blocks", json),
            Sent::Compact => ("v1/blocks/compact", compact),
        };
        let cpu_before = common::cpu_time(common::CpuOf::Process);
        let started = Instant::now();
        let answer = client
            .post(format!("{}{path}", urls[0]))
            .body(body)
            .send()
            .await?;
        if !answer.status().is_success() {
            let status = answer.status();
            let text = answer.text().await.unwrap_or_default();
            bail!("posting a block to the first node: HTTP {status}: {text}");
        }
        let arrived = announced(&mut last_seen, &want)
            .await
            .context("a block never reached the end of the line")?;
        let first = announced(&mut first_seen, &want)
            .await
            .context("the first node never announced a block")?;
        samples.push(arrived.duration_since(started));
        spans.push(arrived.saturating_duration_since(first));
        if samples.len() > 1 {
            cpu += common::cpu_time(common::CpuOf::Process).saturating_sub(cpu_before);
            // Every send of this block is counted once the last node has
            // it (each node counts a send as it makes it).
            let relayed = block_relay(&client, &urls).await?;
            sends += relayed.0 - relayed_before.0;
            bytes += relayed.1 - relayed_before.1;
            block_json += json_len;
        }
    }
    // The first block pays for new connections.
    samples.remove(0);
    spans.remove(0);
    let blocks = samples.len();
    let (first_to_last, _) = median(spans);
    let (median, worst) = median(samples);
    Ok(LineFigures {
        median,
        worst,
        first_to_last,
        blocks,
        cpu_per_block: cpu / blocks as u32,
        bytes_per_send: bytes / sends.max(1),
        block_json: block_json / blocks as u64,
    })
}

/// When a node whose events are `seen` (`common::net::events`) announced
/// the block `hash`; `None` after 10 s.
async fn announced(
    seen: &mut tokio::sync::mpsc::UnboundedReceiver<(serde_json::Value, Instant)>,
    hash: &str,
) -> Option<Instant> {
    let wait = async {
        while let Some((event, at)) = seen.recv().await {
            if event["type"] == "block" && event["hash"] == hash {
                return Some(at);
            }
        }
        None
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .ok()
        .flatten()
}

/// Posts `lines` to the first node and waits until the last one's pool
/// holds `holds` entries.
async fn gossip(
    client: &reqwest::Client,
    urls: &[String],
    lines: &[String],
    holds: usize,
) -> Result<()> {
    for chunk in lines.chunks(500) {
        let body = format!("[{}]", chunk.join(","));
        let answer = client
            .post(format!("{}v1/entries", urls[0]))
            .body(body)
            .send()
            .await?;
        if !answer.status().is_success() {
            bail!("posting entries: HTTP {}", answer.status());
        }
    }
    let last = urls.last().context("an empty line")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = client
            .get(format!("{last}v1/status"))
            .send()
            .await?
            .bytes()
            .await?;
        let status: serde_json::Value = serde_json::from_slice(&status)?;
        if status["pool"]["entries"].as_u64() == Some(holds as u64) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "the entries never reached the last node's pool: {}",
                status["pool"]
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Resident memory of a process, from /proc.
fn rss_mb(pid: u32) -> Option<f64> {
    proc_status_mb(pid, "VmRSS:")
}

/// The most memory the process has held so far.
fn peak_rss_mb(pid: u32) -> Option<f64> {
    proc_status_mb(pid, "VmHWM:")
}

fn proc_status_mb(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn memory_and_startup(params: &Network, blocks: u64, scratch: &Path) -> Result<()> {
    println!("building a {blocks}-block store for the memory test");
    let dir = scratch.join("big");
    let chain = common::blocks_on(params, params.genesis(), blocks, "big");
    preload(&dir, params, &chain);
    drop(chain);
    let genesis = scratch.join("big-genesis.json");
    std::fs::write(&genesis, jbc::wire::block_to_json(params.genesis()))?;
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
        probe.local_addr()?.port()
    };
    let exe = common::jbc_bin();
    let started = Instant::now();
    let mut child = Command::new(exe)
        .arg("--data-dir")
        .arg(&dir)
        .args(["--difficulty", "1", "--genesis"])
        .arg(&genesis)
        .args(["node", "--port", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start a node process")?;
    let url = format!("http://127.0.0.1:{port}/");
    let result = (|| -> Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let client = reqwest::Client::new();
            loop {
                if client.get(format!("{url}v1/status")).send().await.is_ok() {
                    break;
                }
                if started.elapsed() > Duration::from_secs(60) {
                    bail!("the node did not start within 60 s");
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let startup = started.elapsed();
            let after_start = rss_mb(child.id()).unwrap_or(0.0);
            client.get(format!("{url}v1/blocks?from=500000&limit=2000")).send().await?.bytes().await?;
            let mut body = client.get(format!("{url}blockchain.json")).send().await?;
            let mut size = 0usize;
            let mut peak = after_start;
            while let Some(chunk) = body.chunk().await? {
                size += chunk.len();
                peak = peak.max(rss_mb(child.id()).unwrap_or(0.0));
            }
            let after = rss_mb(child.id()).unwrap_or(0.0);
            println!(
                "node serving {} blocks: started in {} ; RSS {:.0} MB after start, {:.0} MB peak while streaming /blockchain.json ({:.0} MB), {:.0} MB after",
                blocks + 1,
                ms(startup),
                after_start,
                peak,
                size as f64 / 1e6,
                after
            );
            // A fresh node (a process) syncs the whole chain from it.
            let fresh = scratch.join("big-fresh");
            let fresh_port = {
                let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
                probe.local_addr()?.port()
            };
            let synced = Instant::now();
            let mut syncer = Command::new(exe)
                .arg("--data-dir")
                .arg(&fresh)
                .args(["--difficulty", "1", "--genesis"])
                .arg(&genesis)
                .args(["node", "--port", &fresh_port.to_string(), "--peer", &url])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("cannot start the syncing node")?;
            let fresh_url = format!("http://127.0.0.1:{fresh_port}/v1/status");
            let mut done = false;
            while synced.elapsed() < Duration::from_secs(600) {
                let tip = match client.get(&fresh_url).send().await {
                    Ok(answer) => answer.bytes().await.ok().and_then(|b| {
                        serde_json::from_slice::<serde_json::Value>(&b).ok()
                    }),
                    Err(_) => None,
                };
                if tip.is_some_and(|s| s["tip"]["index"].as_u64() == Some(blocks)) {
                    done = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let took = synced.elapsed();
            let peak_sync = peak_rss_mb(syncer.id()).unwrap_or(0.0);
            // SAFETY: kill(2) on the child we spawned.
            unsafe {
                libc::kill(syncer.id() as i32, libc::SIGTERM);
            }
            let _ = syncer.wait();
            if !done {
                bail!("the fresh node did not sync {blocks} blocks within 600 s");
            }
            println!(
                "fresh sync of {} blocks by a node process: {:.2} s ({:.0} blocks/s, process start included), peak RSS {:.0} MB",
                blocks,
                took.as_secs_f64(),
                blocks as f64 / took.as_secs_f64(),
                peak_sync
            );
            Ok(())
        })
    })();
    // SAFETY: kill(2) on the child we spawned.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let _ = child.wait();
    result
}
