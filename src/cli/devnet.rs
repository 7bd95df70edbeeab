//! `jbc devnet`: a local network of N nodes, each its own process with its
//! own data directory and port, all peered with each other. It replaces the
//! original's hard-link script. Ctrl-C (or SIGTERM) stops every node
//! cleanly (SIGTERM, then a wait), and so does any node dying on its own.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;

use super::Config;
use super::chaos::{Chaos, proxy_port};
use super::node::LogFormat;

#[derive(Args, Debug, Clone)]
pub struct DevnetArgs {
    /// How many nodes.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub nodes: u16,
    /// Let every node mine.
    #[arg(long)]
    pub mine: bool,
    /// Port of the first node; the others follow (5000, 5001, ...).
    #[arg(long, value_name = "PORT", default_value_t = 5000)]
    pub base_port: u16,
    /// Folder for the nodes' data directories (node-0, node-1, ...).
    #[arg(long, value_name = "DIR", default_value = "./devnet")]
    pub dir: PathBuf,
    /// Mining threads per node.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = super::threads)]
    pub threads: usize,
    /// Log format of the nodes.
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "text")]
    pub log_format: LogFormat,
    /// The target time between blocks of the devnet's own network (made
    /// on the first run, kept in DIR/network.json). Not used with
    /// --difficulty or --network, which name a network of fixed difficulty.
    #[arg(long, value_name = "TIME", default_value = "1s", value_parser = super::network::duration_ms)]
    pub block_time: u64,
    /// Pass every link between two nodes through a proxy in this process
    /// that cuts and heals links, cuts nodes off and delays traffic on a
    /// random schedule: forks and reorgs several times a minute.
    #[arg(long)]
    pub chaos: bool,
    /// The chaos schedule's seed: the same seed gives the same schedule
    /// (default: from the clock, printed).
    #[arg(long, value_name = "N", requires = "chaos")]
    pub seed: Option<u64>,
}

/// The devnet's network file: made on the first run (its initial
/// difficulty measured on this machine, for every node's threads at once),
/// reused after, so a devnet restarted goes on with its chain.
pub fn ensure_network(args: &DevnetArgs) -> Result<PathBuf> {
    let path = args.dir.join("network.json");
    if let Ok(bytes) = std::fs::read(&path) {
        let network = jbc::wire::network::from_json(&bytes)
            .with_context(|| format!("{} is not a usable network file", path.display()))?;
        if network.retarget().map(|r| r.block_time_ms) == Some(args.block_time) {
            return Ok(path);
        }
        bail!(
            "{} is a network with another block time; remove the devnet folder {} (its chain \
             goes with it) or use --block-time as before",
            path.display(),
            args.dir.display()
        );
    }
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    // All nodes mine on this machine at once: measure as many threads as
    // they run (at most the cores there are).
    let threads = (usize::from(args.nodes) * args.threads).min(jbc::miner::default_threads());
    let timing = super::network::Timing {
        block_time_ms: args.block_time,
        halflife_ms: None,
        max_future_ms: None,
        hashes_per_block: None,
    };
    let (rule, genesis) =
        super::network::retarget_genesis(&timing, "jbc devnet".into(), None, Some(threads))?;
    let network = jbc::consensus::Network::new(
        "jbc devnet".into(),
        genesis,
        rule,
        jbc::consensus::EntryRules::STRICT,
    )
    .context("the devnet's network")?;
    std::fs::write(&path, jbc::wire::network::to_json(&network))
        .with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!(
        "made the devnet's network {}: {}",
        path.display(),
        network.difficulty()
    );
    Ok(path)
}

/// Where devnet keeps a genesis it mined for a difficulty the default
/// genesis does not meet.
pub fn genesis_path(args: &DevnetArgs) -> PathBuf {
    args.dir.join("genesis.json")
}

pub fn run(config: &Config, genesis_file: Option<&Path>, args: DevnetArgs) -> Result<()> {
    if args.nodes == 0 {
        bail!("--nodes must be at least 1");
    }
    let last_port = u32::from(args.base_port) + u32::from(args.nodes) - 1;
    if last_port > u32::from(u16::MAX) {
        bail!(
            "ports {}..={last_port} do not fit below 65536; lower --base-port",
            args.base_port
        );
    }
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    let exe = std::env::current_exe().context("cannot find the jbc executable")?;
    let urls: Vec<String> = (0..args.nodes)
        .map(|i| format!("http://127.0.0.1:{}/", args.base_port + i))
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // Catch Ctrl-C and SIGTERM before any node exists: a signal during
    // startup must stop the nodes too, not orphan them.
    let signals = {
        let _inside = runtime.enter();
        jbc::node::shutdown::Signals::install()
    };

    let chaos = match args.chaos {
        true => Some(runtime.block_on(Chaos::start(args.base_port, args.nodes))?),
        false => None,
    };
    let mut children: Vec<Child> = Vec::new();
    let mut data_dirs = Vec::new();
    for i in 0..args.nodes {
        let data_dir = args.dir.join(format!("node-{i}"));
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("cannot create {}", data_dir.display()))?;
        data_dirs.push(data_dir.clone());
        let data_txt = data_dir.join("data.txt");
        if !data_txt.exists() {
            std::fs::write(&data_txt, format!("Mined by devnet node {i}\n"))
                .with_context(|| format!("cannot write {}", data_txt.display()))?;
        }
        let mut command = Command::new(&exe);
        command.arg("--data-dir").arg(&data_dir);
        match (&config.network_file, genesis_file) {
            (Some(network), _) => {
                command.arg("--network").arg(network);
            }
            (None, genesis) => {
                command
                    .arg("--difficulty")
                    .arg(config.params.difficulty().zeros().to_string());
                if let Some(genesis) = genesis {
                    command.arg("--genesis").arg(genesis);
                }
            }
        }
        command
            .arg("node")
            .arg("--port")
            .arg((args.base_port + i).to_string())
            .arg("--threads")
            .arg(args.threads.to_string())
            .arg("--log-format")
            .arg(match args.log_format {
                LogFormat::Text => "text",
                LogFormat::Json => "json",
            });
        for (j, url) in urls.iter().enumerate() {
            match (j == usize::from(i), chaos.is_some()) {
                (true, _) => {}
                (false, false) => {
                    command.arg("--peer").arg(url);
                }
                // Through the chaos proxy, and nowhere else: no discovery
                // (which would find the direct address).
                (false, true) => {
                    let port = proxy_port(args.base_port, args.nodes, i, j as u16);
                    command
                        .arg("--peer")
                        .arg(format!("http://127.0.0.1:{port}/"));
                }
            }
        }
        if chaos.is_some() {
            command.arg("--no-discovery");
        }
        if args.mine {
            command.arg("--mine");
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // Its own process group: Ctrl-C in the terminal reaches the devnet
        // alone, which stops the nodes itself once it has summed up.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                stop_all(&mut children);
                return Err(e).context("cannot start a node process");
            }
        };
        if let Some(stderr) = child.stderr.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    eprintln!("node {i} | {line}");
                }
            });
        }
        children.push(child);
    }

    let run = Run {
        urls: &urls,
        data_dirs: &data_dirs,
        mining: args.mine,
        chaos: chaos.as_ref(),
        seed: args.seed,
        base_port: args.base_port,
    };
    let outcome = runtime.block_on(supervise(&mut children, &run, signals));
    stop_all(&mut children);
    outcome
}

/// What `supervise` needs to know of the devnet.
struct Run<'a> {
    urls: &'a [String],
    data_dirs: &'a [PathBuf],
    mining: bool,
    chaos: Option<&'a Arc<Chaos>>,
    seed: Option<u64>,
    base_port: u16,
}

/// Waits for the nodes to answer, prints where they are, starts the chaos
/// schedule, then waits for Ctrl-C/SIGTERM (and prints a summary) or a
/// node dying.
async fn supervise(
    children: &mut [Child],
    run: &Run<'_>,
    signals: jbc::node::shutdown::Signals,
) -> Result<()> {
    let urls = run.urls;
    let stop = signals.recv();
    tokio::pin!(stop);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .no_proxy()
        .build()
        .context("cannot build an HTTP client")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    for (i, url) in urls.iter().enumerate() {
        loop {
            if let Some(status) = children[i].try_wait()? {
                bail!("node {i} exited during startup ({status}); see its log lines above");
            }
            if client.get(format!("{url}v1/status")).send().await.is_ok() {
                break;
            }
            if Instant::now() > deadline {
                bail!("node {i} did not answer on {url} within 30 s");
            }
            tokio::select! {
                _ = &mut stop => {
                    println!("devnet: stopping the nodes");
                    return Ok(());
                }
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
    }
    println!(
        "devnet: {} nodes{}, all peered:",
        urls.len(),
        if run.mining { ", mining" } else { "" }
    );
    for (i, url) in urls.iter().enumerate() {
        println!(
            "  node {i}: {url}  (explorer: open it in a browser; chain: {url}blockchain.json)"
        );
    }
    let started = Instant::now();
    let schedule = run.chaos.map(|chaos| {
        let seed = run.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_secs())
        });
        let nodes = urls.len() as u16;
        for i in 0..nodes {
            let through: Vec<String> = (0..nodes)
                .filter(|j| *j != i)
                .map(|j| {
                    format!(
                        "node {j} at 127.0.0.1:{}",
                        proxy_port(run.base_port, nodes, i, j)
                    )
                })
                .collect();
            println!("chaos: node {i} reaches {}", through.join(", "));
        }
        println!("chaos: schedule seed {seed} (--seed {seed} repeats it)");
        tokio::spawn(Arc::clone(chaos).run(seed))
    });
    println!("Ctrl-C stops them all.");
    let mut check = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = check.tick() => {
                for (i, child) in children.iter_mut().enumerate() {
                    if let Some(status) = child.try_wait()? {
                        bail!("node {i} exited on its own ({status}); stopping the others");
                    }
                }
            }
        }
    }
    if let Some(schedule) = schedule {
        schedule.abort();
    }
    summarize(&client, run, started.elapsed()).await;
    println!("devnet: stopping the nodes");
    Ok(())
}

/// A counter or gauge's value in a `/metrics` text (labels included in
/// `name`, as written there).
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// Every node's tip (index, hash), `None` for a node that did not answer.
async fn tips(client: &reqwest::Client, urls: &[String]) -> Vec<Option<(u64, String)>> {
    let mut tips = Vec::new();
    for url in urls {
        let status: Option<serde_json::Value> =
            match client.get(format!("{url}v1/status")).send().await {
                Ok(answer) => answer
                    .bytes()
                    .await
                    .ok()
                    .and_then(|body| serde_json::from_slice(&body).ok()),
                Err(_) => None,
            };
        tips.push(status.and_then(|s| {
            Some((
                s["tip"]["index"].as_u64()?,
                s["tip"]["hash"].as_str()?.to_owned(),
            ))
        }));
    }
    tips
}

/// Stops mining, heals every link, waits for the nodes to agree, and
/// prints what happened: blocks mined, reorgs, time split, agreement.
async fn summarize(client: &reqwest::Client, run: &Run<'_>, ran: Duration) {
    for (url, dir) in run.urls.iter().zip(run.data_dirs) {
        if let Ok(token) = jbc::node::operator::read_token(dir) {
            let _ = client
                .post(format!("{url}v1/mining"))
                .bearer_auth(token)
                .body(r#"{"mine": false}"#)
                .send()
                .await;
        }
    }
    let (split, cuts) = match run.chaos {
        Some(chaos) => {
            let split = chaos.split_time();
            chaos.heal_all();
            split
        }
        None => (Duration::ZERO, 0),
    };
    let healed = Instant::now();
    let mut agreed = None;
    while healed.elapsed() < Duration::from_secs(30) {
        let now = tips(client, run.urls).await;
        if now.iter().all(|t| t.is_some() && *t == now[0]) {
            agreed = now[0].clone().map(|tip| (tip, healed.elapsed()));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (mut mined, mut reorgs, mut deepest) = (0.0, 0.0, 0.0f64);
    for url in run.urls {
        let Ok(answer) = client.get(format!("{url}metrics")).send().await else {
            continue;
        };
        let text = answer.text().await.unwrap_or_default();
        mined += metric(&text, "jbc_blocks_accepted_total{source=\"mined\"}");
        reorgs += metric(&text, "jbc_reorgs_total");
        deepest = deepest.max(metric(&text, "jbc_reorg_deepest_blocks"));
    }
    let minutes = ran.as_secs_f64() / 60.0;
    let mode = match (run.chaos, run.seed) {
        (Some(_), Some(seed)) => format!(", chaos seed {seed}"),
        (Some(_), None) => ", chaos".into(),
        _ => String::new(),
    };
    println!("devnet summary ({:.0} s{mode}):", ran.as_secs_f64());
    println!("  blocks mined: {mined:.0}");
    println!(
        "  reorgs: {reorgs:.0} ({:.1} a minute), the deepest {deepest:.0} block(s)",
        reorgs / minutes.max(1e-9)
    );
    if run.chaos.is_some() {
        println!(
            "  network split: {:.1} s of {:.0} s, {cuts} cuts",
            split.as_secs_f64(),
            ran.as_secs_f64()
        );
    }
    match agreed {
        Some(((index, hash), after)) => println!(
            "  agreement: all {} nodes on block {index} {hash} ({:.1} s after every link was healed)",
            run.urls.len(),
            after.as_secs_f64()
        ),
        None => {
            println!("  agreement: NO, the nodes did not agree within 30 s of healing every link")
        }
    }
}

/// SIGTERM to every node still running, then up to 10 s for each to stop
/// cleanly, then SIGKILL.
fn stop_all(children: &mut [Child]) {
    for child in children.iter_mut() {
        if matches!(child.try_wait(), Ok(None))
            && let Ok(pid) = i32::try_from(child.id())
        {
            // SAFETY: kill(2) with a pid we spawned and still own.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for child in children.iter_mut() {
        loop {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() > deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}
