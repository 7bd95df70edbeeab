//! `jbc devnet`: a local network of N nodes, each its own process with its
//! own data directory, port and log file (`DIR/node-N.log`), all peered
//! with each other. It replaces the original's hard-link script. It waits
//! until every node reaches every other, prints where they are, and from
//! then on says only what is worth a person's attention (reorgs, chaos
//! cuts and heals, a node down or back, a summary every minute: see
//! `watch`); `-v` prints every line of every node's log too. Ctrl-C (or
//! SIGTERM) sums up (mining stopped, links healed, the nodes brought to
//! one tip) and stops every node cleanly (SIGTERM, then a wait), and so
//! does any node dying on its own.

mod report;

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;

use jbc::consensus::{Difficulty, EntryRules, Network};

use super::args::LogFormat;
use super::chaos::{Chaos, proxy_port};
use super::config::Config;
use super::watch::{Names, Narrator, say, watch_all};
use report::{
    Progress, duration_text, highest, missing_links, progress, status, statuses, summarize,
};

/// How long the nodes may take to answer once started (a busy machine
/// starts processes slowly).
const STARTUP_LIMIT: Duration = Duration::from_secs(60);
/// How long they may take to reach each other after that.
const PEERING_LIMIT: Duration = Duration::from_secs(30);
/// Lines of a node's log shown when it dies.
const LOG_TAIL: usize = 15;

#[derive(Args, Debug, Clone)]
pub struct DevnetArgs {
    /// How many nodes.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub nodes: u16,
    /// Let every node mine.
    #[arg(long)]
    pub mine: bool,
    /// Port of the first node; the others follow (5000, 5001, ...), then,
    /// with --chaos, the proxies.
    #[arg(long, value_name = "PORT", default_value_t = 5000)]
    pub base_port: u16,
    /// Folder for the nodes' data directories (node-0, node-1, ...) and
    /// their logs (node-0.log, ...).
    #[arg(long, value_name = "DIR", default_value = "./devnet")]
    pub dir: PathBuf,
    /// Mining threads per node.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = super::args::threads)]
    pub threads: usize,
    /// Log format of the nodes.
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "text")]
    pub log_format: LogFormat,
    /// The target time between blocks of the devnet's own network (made
    /// on the first run, kept in DIR/network.json). Not used with
    /// --difficulty or --network, which name a network of fixed difficulty.
    #[arg(long, value_name = "TIME", default_value = "1s", value_parser = super::args::duration_ms)]
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
    /// Print every line of every node's log as well (each block, each
    /// peer): the logs are always in DIR/node-N.log.
    #[arg(short, long)]
    pub verbose: bool,
    /// How often to print a one-line summary: height, blocks a minute,
    /// reorgs, entries pending.
    #[arg(long, value_name = "TIME", default_value = "1m", value_parser = super::args::duration_ms)]
    pub summary_every: u64,
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
    let network = Network::new("jbc devnet".into(), genesis, rule, EntryRules::STRICT)
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

/// Mines a genesis block for `difficulty` into `path`, unless the file
/// already holds one that is valid there.
pub fn ensure_genesis(path: &Path, difficulty: Difficulty) -> Result<()> {
    if super::config::shorthand_network(Some(path), difficulty).is_ok() {
        return Ok(());
    }
    eprintln!(
        "mining a genesis block at difficulty {} into {}",
        difficulty.zeros(),
        path.display()
    );
    let block =
        super::mine::mine_genesis(difficulty.target(), "jbc devnet genesis".into(), None, None)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, jbc::wire::block_to_json(&block))
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The ports a devnet of `nodes` nodes listens on from `base_port`: the
/// nodes', then with chaos its proxies'. An error names the flag to change.
fn check_ports(args: &DevnetArgs) -> Result<()> {
    if args.nodes == 0 {
        bail!("--nodes must be at least 1");
    }
    if args.base_port == 0 {
        bail!(
            "--base-port 0: the nodes need ports known in advance to find each other; \
             pick a free range, such as 5000"
        );
    }
    let nodes = u32::from(args.nodes);
    let ports = match args.chaos {
        // Node i reaches node j through proxy base + nodes + i * nodes + j.
        true => nodes + nodes * nodes,
        false => nodes,
    };
    let last_port = u32::from(args.base_port) + ports - 1;
    if last_port > u32::from(u16::MAX) {
        bail!(
            "--base-port {}: the devnet needs ports {}..={last_port}{}, which do not fit below \
             65536; lower --base-port",
            args.base_port,
            args.base_port,
            if args.chaos {
                " (its nodes, then the chaos proxies)"
            } else {
                ""
            }
        );
    }
    Ok(())
}

pub fn run(config: &Config, genesis_file: Option<&Path>, args: DevnetArgs) -> Result<()> {
    check_ports(&args)?;
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    let exe = std::env::current_exe().context("cannot find the jbc executable")?;
    let urls: Vec<String> = (0..args.nodes)
        .map(|i| format!("http://127.0.0.1:{}/", args.base_port + i))
        .collect();
    let runtime = super::remote::runtime()?;
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
    let proxies: Vec<(u16, usize)> = match chaos {
        Some(_) => (0..args.nodes)
            .flat_map(|i| {
                (0..args.nodes)
                    .filter(move |j| *j != i)
                    .map(move |j| (proxy_port(args.base_port, args.nodes, i, j), usize::from(j)))
            })
            .collect(),
        None => Vec::new(),
    };
    let names = Arc::new(Names::new(&urls, &proxies));
    let mut children: Vec<Child> = Vec::new();
    let mut loggers: Vec<Option<JoinHandle<()>>> = Vec::new();
    let mut data_dirs = Vec::new();
    let mut logs = Vec::new();
    for i in 0..args.nodes {
        let data_dir = args.dir.join(format!("node-{i}"));
        let log = args.dir.join(format!("node-{i}.log"));
        // Appended: a devnet restarted goes on with its nodes' logs.
        let started = File::options()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("cannot open node {i}'s log file {}", log.display()))
            .and_then(|file| {
                let child = start_node(config, genesis_file, &args, &exe, &urls, i, &data_dir)?;
                Ok((child, file))
            });
        let (mut child, file) = match started {
            Ok(started) => started,
            Err(e) => {
                stop_all(&mut children);
                return Err(e);
            }
        };
        let logger = keep_log(i, &mut child, file, args.verbose, Arc::clone(&names));
        loggers.push(Some(logger));
        children.push(child);
        data_dirs.push(data_dir);
        logs.push(log);
    }

    let mut run = Run {
        urls: &urls,
        data_dirs: &data_dirs,
        logs: &logs,
        loggers,
        chaos: chaos.as_ref(),
        names: &names,
        args: &args,
    };
    let outcome = runtime.block_on(supervise(&mut children, &mut run, signals));
    stop_all(&mut children);
    outcome
}

/// Starts node `i` in its own process group (so that Ctrl-C in the
/// terminal reaches the devnet alone, which stops the nodes itself once it
/// has summed up), its stderr piped to the devnet.
fn start_node(
    config: &Config,
    genesis_file: Option<&Path>,
    args: &DevnetArgs,
    exe: &Path,
    urls: &[String],
    i: u16,
    data_dir: &Path,
) -> Result<Child> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let data_txt = data_dir.join("data.txt");
    if !data_txt.exists() {
        std::fs::write(&data_txt, format!("Mined by devnet node {i}\n"))
            .with_context(|| format!("cannot write {}", data_txt.display()))?;
    }
    let mut command = Command::new(exe);
    command.arg("--data-dir").arg(data_dir);
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
        match (j == usize::from(i), args.chaos) {
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
    if args.chaos {
        command.arg("--no-discovery");
    }
    if args.mine {
        command.arg("--mine");
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    command
        .spawn()
        .with_context(|| format!("cannot start node {i} ({})", exe.display()))
}

/// Copies node `i`'s stderr, line by line, to its log file, and with `-v`
/// to the devnet's stderr, peers named by node.
fn keep_log(
    i: u16,
    child: &mut Child,
    mut file: File,
    verbose: bool,
    names: Arc<Names>,
) -> JoinHandle<()> {
    let stderr = child
        .stderr
        .take()
        .expect("start_node pipes every node's stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            // A full disk must not stop the node: its log is then lost.
            let _ = writeln!(file, "{line}");
            if verbose {
                eprintln!("node {i} | {}", names.rename(&line));
            }
        }
    })
}

/// What `supervise` needs to know of the devnet.
struct Run<'a> {
    urls: &'a [String],
    data_dirs: &'a [PathBuf],
    logs: &'a [PathBuf],
    /// The threads copying each node's log (joined when a node dies, so
    /// that its last lines are in the file).
    loggers: Vec<Option<JoinHandle<()>>>,
    chaos: Option<&'a Arc<Chaos>>,
    names: &'a Arc<Names>,
    args: &'a DevnetArgs,
}

impl Run<'_> {
    /// The error for node `i` having exited, with the end of its log.
    fn exited(&mut self, i: usize, status: std::process::ExitStatus, when: &str) -> anyhow::Error {
        if let Some(logger) = self.loggers.get_mut(i).and_then(Option::take) {
            let _ = logger.join();
        }
        let path = &self.logs[i];
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(LOG_TAIL)..].join("\n");
        anyhow!(
            "node {i} exited {when} ({status}), so the devnet stops; the end of its log ({}):\n{tail}",
            path.display()
        )
    }

    /// Checks that every node still runs.
    fn check_alive(&mut self, children: &mut [Child], when: &str) -> Result<()> {
        for (i, child) in children.iter_mut().enumerate() {
            if let Some(status) = child.try_wait()? {
                return Err(self.exited(i, status, when));
            }
        }
        Ok(())
    }
}

/// Waits for the nodes to answer and to reach each other, prints where
/// they are, starts the chaos schedule, then says what happens until
/// Ctrl-C/SIGTERM (and sums up) or a node dying.
async fn supervise(
    children: &mut [Child],
    run: &mut Run<'_>,
    signals: jbc::node::shutdown::Signals,
) -> Result<()> {
    let (urls, args) = (run.urls, run.args);
    let summary_every = Duration::from_millis(args.summary_every);
    let stop = signals.recv();
    tokio::pin!(stop);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .no_proxy()
        .build()
        .context("cannot build an HTTP client")?;
    // Every node answers.
    let deadline = Instant::now() + STARTUP_LIMIT;
    for (i, url) in urls.iter().enumerate() {
        loop {
            run.check_alive(children, "during startup")?;
            if status(&client, url).await.is_some() {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "node {i} did not answer on {url} within {} s; its log: {}",
                    STARTUP_LIMIT.as_secs(),
                    run.logs[i].display()
                );
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
    // Every node reaches every other: until then a link is not there to
    // cut, and "all peered" would not be true.
    let deadline = Instant::now() + PEERING_LIMIT;
    let missing = loop {
        run.check_alive(children, "during startup")?;
        let missing = missing_links(&client, urls, run.names).await;
        if missing.is_empty() || Instant::now() > deadline {
            break missing;
        }
        tokio::select! {
            _ = &mut stop => {
                println!("devnet: stopping the nodes");
                return Ok(());
            }
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    };
    println!(
        "devnet: {} node{}{}{}:",
        urls.len(),
        if urls.len() == 1 { "" } else { "s" },
        if args.mine { ", mining" } else { "" },
        match (urls.len(), missing.is_empty()) {
            (1, _) => "",
            (_, true) => ", all peered",
            (_, false) => ", not all peered yet",
        }
    );
    for (i, url) in urls.iter().enumerate() {
        println!(
            "  node {i}: {url}  (explorer: open it in a browser; chain: {url}blockchain.json)"
        );
    }
    for line in &missing {
        println!("  {line}");
    }
    let logs: Vec<String> = run.logs.iter().map(|l| l.display().to_string()).collect();
    println!(
        "each node logs to its own file: {}{}",
        logs.join(", "),
        if args.verbose {
            " (printed here too)"
        } else {
            " (-v prints them here too)"
        }
    );
    let started = Instant::now();
    let schedule = run.chaos.map(|chaos| {
        let seed = args.seed.unwrap_or_else(|| {
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
                        proxy_port(args.base_port, nodes, i, j)
                    )
                })
                .collect();
            println!("chaos: node {i} reaches {}", through.join(", "));
        }
        println!("chaos: schedule seed {seed} (--seed {seed} repeats it)");
        tokio::spawn(Arc::clone(chaos).run(seed))
    });
    println!(
        "Ctrl-C stops them all. From here: {}, and a summary every {}.",
        match run.chaos {
            Some(_) => "cuts and heals, reorgs, a node that stops answering",
            None => "reorgs, links lost, a node that stops answering",
        },
        duration_text(summary_every)
    );
    let mut seen = watch_all(urls);
    let mut narrator = Narrator::new(Arc::clone(run.names), run.chaos.is_some());
    let mut check = tokio::time::interval(Duration::from_millis(200));
    let mut summary =
        tokio::time::interval_at((Instant::now() + summary_every).into(), summary_every);
    let mut last = Progress {
        at: Instant::now(),
        height: highest(&statuses(&client, urls).await, "/tip/index"),
        reorgs: 0,
    };
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = check.tick() => {
                if let Err(e) = run.check_alive(children, "on its own") {
                    if let Some(schedule) = &schedule {
                        schedule.abort();
                    }
                    return Err(e);
                }
            }
            Some(event) = seen.recv() => {
                if let Some(line) = narrator.line(&event) {
                    say(line);
                }
            }
            _ = summary.tick() => {
                say(progress(&client, urls, &mut last, narrator.reorgs).await);
            }
        }
    }
    drop(seen);
    if let Some(schedule) = schedule {
        schedule.abort();
    }
    let ran = started.elapsed();
    summarize(&client, urls, run.data_dirs, run.chaos, args.seed, ran).await;
    println!("devnet: stopping the nodes");
    Ok(())
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
