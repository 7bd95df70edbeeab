//! What discovery costs and how fast it is, on loopback with the node's
//! default settings (3 s between sync rounds): the time a node given one
//! `--peer` takes to be connected to every node of a 10-node network, and
//! what an idle network spends on address exchange per node per minute.
//! Prints figures; nothing here passes or fails.
//!
//! `cargo bench --bench discovery -- --idle-seconds 60`

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Parser;

use common::net::{TestNode, bind, get_bytes, get_json, wait_for};

#[derive(Parser)]
struct Args {
    /// How long the network idles while address exchange is counted.
    #[arg(long, value_name = "S", default_value_t = 60)]
    idle_seconds: u64,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .try_init();
    let args = Args::parse();
    tokio::runtime::Runtime::new()?.block_on(run(args.idle_seconds))
}

async fn peers_up(node: &TestNode) -> usize {
    let peers = get_json(&format!("{}v1/peers", node.url)).await;
    peers["peers"]
        .as_array()
        .map(|l| l.iter().filter(|p| p["state"] == "up").count())
        .unwrap_or(0)
}

/// A counter's value in a node's `/metrics`.
async fn metric(node: &TestNode, name: &str) -> f64 {
    let text =
        String::from_utf8(get_bytes(&format!("{}metrics", node.url)).await).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

async fn run(idle_seconds: u64) -> Result<()> {
    let network = common::easy_params(1, "bench discovery");
    let default_settings = |c: &mut jbc::node::NodeConfig| {
        c.sync_interval = Duration::from_secs(3);
    };
    // Nine nodes, each given node 0 only, settle into a full mesh.
    let mut nodes = Vec::new();
    let (l0, url0) = bind().await;
    nodes.push(TestNode::start(
        l0,
        tempfile::tempdir()?,
        &network,
        default_settings,
    ));
    for _ in 1..9 {
        let (listener, _) = bind().await;
        let peer = url0.clone();
        nodes.push(TestNode::start(
            listener,
            tempfile::tempdir()?,
            &network,
            move |c| {
                default_settings(c);
                c.peers = vec![peer];
            },
        ));
    }
    for node in &nodes {
        wait_for("the nine to mesh", Duration::from_secs(120), || async {
            peers_up(node).await == 8
        })
        .await;
    }
    // The tenth, given one peer (the last node started, not node 0).
    let (listener, _) = bind().await;
    let peer = nodes[8].url.clone();
    let started = Instant::now();
    let newcomer = TestNode::start(listener, tempfile::tempdir()?, &network, move |c| {
        default_settings(c);
        c.peers = vec![peer];
    });
    wait_for(
        "the newcomer to be connected to all nine",
        Duration::from_secs(120),
        || async { peers_up(&newcomer).await == 9 },
    )
    .await;
    println!(
        "a node given one --peer is connected to all 9 others of a 10-node network in {:.2} s (sync rounds every 3 s)",
        started.elapsed().as_secs_f64()
    );
    nodes.push(newcomer);
    // The newcomer's arrival changed every book, so every node reads its
    // peers' lists once more; let that pass, then count an idle minute
    // (the lists are read again every 5 minutes, or when they change).
    tokio::time::sleep(Duration::from_secs(10)).await;
    let mut before = Vec::new();
    for node in &nodes {
        before.push((
            metric(node, "jbc_address_exchanges_total").await,
            metric(node, "jbc_address_exchange_bytes_total").await,
        ));
    }
    tokio::time::sleep(Duration::from_secs(idle_seconds)).await;
    let (mut requests, mut bytes) = (0.0, 0.0);
    for (node, (r, b)) in nodes.iter().zip(before) {
        requests += metric(node, "jbc_address_exchanges_total").await - r;
        bytes += metric(node, "jbc_address_exchange_bytes_total").await - b;
    }
    let per_node_minute = 60.0 / idle_seconds as f64 / nodes.len() as f64;
    println!(
        "idle 10-node network: {:.2} address-list requests and {:.0} bytes per node per minute (over {idle_seconds} s)",
        requests * per_node_minute,
        bytes * per_node_minute
    );
    Ok(())
}
