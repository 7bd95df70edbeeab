//! Entries: how fast a node takes them over HTTP (lists of 100, and one
//! per request), how fast one crosses a line of 5 nodes, the memory of a
//! node holding 100,000 pending entries and the time to fill a block from
//! them, and the time of a reorg that returns 10,000 entries to the pool.
//! Prints figures; nothing here passes or fails.
//!
//! `cargo bench --bench entries -- --entries 100000`

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use futures_util::future::join_all;

use common::net::{TestNode, bind, post_json, wait_for};
use common::{block_with_entries, blocks_on, strict_network};
use jbc::chain::ChainState;
use jbc::consensus::entry::Content;
use jbc::consensus::{Entry, Network};
use jbc::store::{Durability, EntryReads, StoreReader};

#[derive(Parser)]
struct Args {
    /// Pending entries for the memory and block-building figures.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    entries: usize,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

const NEVER: Duration = Duration::from_secs(3600);

fn main() -> Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .try_init();
    let args = Args::parse();
    let network = strict_network(1, "bench entries", 0);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        submit_rates(&network).await?;
        propagation(&network).await
    })?;
    big_pool(&network, args.entries)?;
    reorg_return(&network)
}

fn entry(tag: &str, i: usize) -> Entry {
    Entry::new(Content::Text(format!("{tag} entry number {i}")))
}

/// Sends `bodies` with `clients` requests in flight; entries per second.
async fn hammer(url: &str, bodies: Vec<String>, entries: usize, clients: usize) -> Result<f64> {
    let url = format!("{url}v1/entries");
    let started = Instant::now();
    let chunks: Vec<Vec<String>> = bodies
        .chunks(bodies.len().div_ceil(clients))
        .map(|c| c.to_vec())
        .collect();
    let results = join_all(chunks.into_iter().map(|chunk| {
        let url = url.clone();
        async move {
            for body in chunk {
                let (code, answer) = post_json(&url, body).await;
                if code != 201 {
                    return Err(format!("{code}: {answer}"));
                }
            }
            Ok(())
        }
    }))
    .await;
    if let Some(Err(e)) = results.into_iter().find(Result::is_err) {
        bail!("a submission failed: {e}");
    }
    Ok(entries as f64 / started.elapsed().as_secs_f64())
}

async fn submit_rates(network: &Network) -> Result<()> {
    let (listener, _) = bind().await;
    let node = TestNode::start(listener, tempfile::tempdir()?, network, |c| {
        c.sync_interval = NEVER;
    });
    let batches: Vec<String> = (0..200)
        .map(|b| {
            let lines: Vec<String> = (0..100)
                .map(|i| entry("batched", b * 100 + i).encoding())
                .collect();
            format!("[{}]", lines.join(","))
        })
        .collect();
    let batched = hammer(&node.url, batches, 20_000, 4).await?;
    let singles: Vec<String> = (0..5000).map(|i| entry("single", i).encoding()).collect();
    let single = hammer(&node.url, singles, 5000, 8).await?;
    println!(
        "submitting over HTTP to one node: {batched:.0} entries/s in lists of 100 (20,000 entries, 4 clients); {single:.0} entries/s one per request (5,000, 8 clients)"
    );
    Ok(())
}

/// A line of 5 nodes; entries submitted to the first, one at a time; the
/// time until the last one's event stream reports it pending.
async fn propagation(network: &Network) -> Result<()> {
    let nodes = common::net::line_of_nodes(network, 5).await;
    let urls: Vec<String> = nodes.iter().map(|n| n.url.clone()).collect();
    let mut events = common::net::events(&urls[4]).await?;
    let mut samples = Vec::new();
    for i in 0..21 {
        let started = Instant::now();
        let (code, answer) = post_json(
            &format!("{}v1/entries", urls[0]),
            entry("travelling", i).encoding(),
        )
        .await;
        if code != 201 {
            bail!("submitting: {code} {answer}");
        }
        let added = async {
            while let Some((event, at)) = events.recv().await {
                if event["type"] == "pool" && event["added"].as_u64().unwrap_or(0) > 0 {
                    return Some(at);
                }
            }
            None
        };
        let arrived = tokio::time::timeout(Duration::from_secs(10), added)
            .await
            .ok()
            .flatten()
            .context("an entry never reached the end of the line")?;
        samples.push(arrived.duration_since(started));
    }
    samples.remove(0); // the first pays for new connections
    samples.sort();
    println!(
        "an entry along a line of 5 nodes (4 hops): median {:.2} ms, worst {:.2} ms (20 entries)",
        samples[samples.len() / 2].as_secs_f64() * 1e3,
        samples[samples.len() - 1].as_secs_f64() * 1e3
    );
    Ok(())
}

fn rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// A `jbc node` process takes `count` entries; its memory, then the time
/// to pick a full block's entries from its pool (the miner's query).
fn big_pool(network: &Network, count: usize) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("network.json");
    std::fs::write(&file, jbc::wire::network::to_json(network))?;
    let data_dir = dir.path().join("node");
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut child = Command::new(common::jbc_bin())
        .arg("--network")
        .arg(&file)
        .arg("--data-dir")
        .arg(&data_dir)
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
        let peak = runtime.block_on(async {
            wait_for("the node", Duration::from_secs(30), || async {
                reqwest::get(format!("{url}v1/status")).await.is_ok()
            })
            .await;
            let mut peak = 0f64;
            for batch in (0..count).collect::<Vec<_>>().chunks(1000) {
                let lines: Vec<String> = batch
                    .iter()
                    .map(|i| entry("pooled", *i).encoding())
                    .collect();
                let (code, answer) = post_json(
                    &format!("{url}v1/entries"),
                    format!("[{}]", lines.join(",")),
                )
                .await;
                if code != 201 {
                    bail!("submitting: {code} {answer}");
                }
                peak = peak.max(rss_mb(child.id()).unwrap_or(0.0));
            }
            Ok::<_, anyhow::Error>(peak)
        })?;
        let status = runtime.block_on(common::net::get_json(&format!("{url}v1/status")));
        let after = rss_mb(child.id()).unwrap_or(0.0);
        println!(
            "a node holding {} pending entries ({:.1} MB of entries): RSS {:.0} MB, peak {:.0} MB while they arrived",
            status["pool"]["entries"],
            status["pool"]["bytes"].as_f64().unwrap_or(0.0) / 1e6,
            after,
            peak
        );
        // What the miner does for each job: the oldest entries that fit.
        let reader = StoreReader::open(&data_dir.join(jbc::store::DB_FILE))?;
        let budget = network.entry_rules().max_block_data_bytes - 100;
        let mut times = Vec::new();
        let mut picked = 0;
        for _ in 0..20 {
            let started = Instant::now();
            picked = reader.entries_for_block(budget)?.len();
            times.push(started.elapsed());
        }
        times.sort();
        println!(
            "filling a block ({} KiB of data) from that pool: {picked} entries in {:.2} ms (median of 20)",
            budget / 1024,
            times[10].as_secs_f64() * 1e3
        );
        Ok(())
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// 10,000 entries confirmed in 5 blocks; a branch of 6 empty blocks takes
/// over: the time of the reorg that puts them back in the pool.
fn reorg_return(network: &Network) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut chain = ChainState::open(dir.path(), network.clone())?;
    let base = blocks_on(network, network.genesis(), 2, "base");
    chain.add_blocks(base.iter().cloned(), Durability::Bulk);
    let mut parent = base[1].clone();
    let mut carriers = Vec::new();
    for b in 0..5 {
        let lines: Vec<String> = (0..2000)
            .map(|i| entry("reorged", b * 2000 + i).encoding())
            .collect();
        let block = block_with_entries(network, &parent, &lines);
        assert_eq!(block.body.len(), 2000);
        parent = block.block.clone();
        carriers.push(block);
    }
    let outcome = chain.add_blocks(carriers, Durability::Bulk);
    if let Some((_, e)) = outcome.error {
        bail!("storing the carriers: {e}");
    }
    let branch = blocks_on(network, &base[1], 6, "empty branch");
    let outcome_side = chain.add_blocks(branch[..5].iter().cloned(), Durability::Bulk);
    if let Some((_, e)) = outcome_side.error {
        bail!("storing the side branch: {e}");
    }
    let started = Instant::now();
    let outcome = chain.add_blocks(branch[5..].iter().cloned(), Durability::Acknowledged);
    let elapsed = started.elapsed();
    if let Some((_, e)) = outcome.error {
        bail!("the reorg: {e}");
    }
    println!(
        "a reorg returning {} entries to the pool (5 blocks off, 6 on, one transaction): {:.1} ms",
        outcome.entries.returned,
        elapsed.as_secs_f64() * 1e3
    );
    Ok(())
}
