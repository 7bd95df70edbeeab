//! `jbc devnet`: a local network of N nodes, each its own process with its
//! own data directory and port, all peered with each other. It replaces the
//! original's hard-link script. Ctrl-C (or SIGTERM) stops every node
//! cleanly (SIGTERM, then a wait), and so does any node dying on its own.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;

use super::Config;
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
        jbc::consensus::EntryRules {
            strict: true,
            ..jbc::consensus::EntryRules::ORIGINAL
        },
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

    let mut children: Vec<Child> = Vec::new();
    for i in 0..args.nodes {
        let data_dir = args.dir.join(format!("node-{i}"));
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("cannot create {}", data_dir.display()))?;
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
            if j != usize::from(i) {
                command.arg("--peer").arg(url);
            }
        }
        if args.mine {
            command.arg("--mine");
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
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

    let outcome = runtime.block_on(supervise(&mut children, &urls, args.mine, signals));
    stop_all(&mut children);
    outcome
}

/// Waits for the nodes to answer, prints where they are, then waits for
/// Ctrl-C/SIGTERM or a node dying.
async fn supervise(
    children: &mut [Child],
    urls: &[String],
    mining: bool,
    signals: jbc::node::shutdown::Signals,
) -> Result<()> {
    let stop = signals.recv();
    tokio::pin!(stop);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
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
        if mining { ", mining" } else { "" }
    );
    for (i, url) in urls.iter().enumerate() {
        println!(
            "  node {i}: {url}  (explorer: open it in a browser; chain: {url}blockchain.json)"
        );
    }
    println!("Ctrl-C stops them all.");
    let mut check = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            _ = &mut stop => {
                println!("devnet: stopping the nodes");
                return Ok(());
            }
            _ = check.tick() => {
                for (i, child) in children.iter_mut().enumerate() {
                    if let Some(status) = child.try_wait()? {
                        bail!("node {i} exited on its own ({status}); stopping the others");
                    }
                }
            }
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
