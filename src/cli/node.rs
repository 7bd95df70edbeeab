//! `jbc node`: run one node until Ctrl-C or SIGTERM.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use clap::Args;

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

use indicatif::ProgressBar;
use jbc::node::{self, NodeConfig, SyncProgress};
use jbc::store::pool::PoolLimits;

use super::args::LogFormat;
use super::config::Config;

#[derive(Args, Debug, Clone)]
pub struct NodeArgs {
    /// Port to listen on, on 127.0.0.1 (only this machine can connect).
    #[arg(long, value_name = "PORT", default_value_t = 5000)]
    pub port: u16,
    /// Address to listen on instead, e.g. 0.0.0.0:5000 to serve other
    /// machines of your network.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// A peer's base URL, like the original's http://localhost:5001/.
    /// Repeat for more peers. One is enough: the node learns the others
    /// from it, and remembers them (and this one) for the next start.
    #[arg(long = "peer", value_name = "URL")]
    pub peers: Vec<String>,
    /// The URL other nodes reach this one at, told to every peer (default:
    /// the address it listens on; listening on 0.0.0.0, peers use the IP
    /// they see it at).
    #[arg(long, value_name = "URL")]
    pub advertise: Option<String>,
    /// Peers to keep from the address book, besides those given with
    /// --peer: a network of up to this many more nodes is fully connected.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub max_outbound: usize,
    /// Ports dialled for addresses heard from other nodes (never below
    /// 1024 by default).
    #[arg(long, value_name = "FIRST-LAST", default_value = "1024-65535", value_parser = port_range)]
    pub dial_ports: (u16, u16),
    /// A host name this node answers to besides its IP addresses,
    /// localhost and the --advertise host (repeat for more). A node on
    /// loopback refuses other names, so that no web page can read it
    /// through DNS rebinding; a node on another address answers to any.
    #[arg(long = "allow-host", value_name = "NAME")]
    pub allow_hosts: Vec<String>,
    /// Use only the --peer nodes (and those added later): learn no
    /// addresses from peers, dial none of the address book.
    #[arg(long)]
    pub no_discovery: bool,
    /// Mine blocks on the current tip (after a first sync with the peers).
    #[arg(long)]
    pub mine: bool,
    /// Mining threads (default: all cores).
    #[arg(long, value_name = "N", value_parser = super::args::threads)]
    pub threads: Option<usize>,
    /// The `data` of mined blocks (default: data.txt in the data directory,
    /// read for each block as the original did, else a line naming the node).
    #[arg(long, value_name = "TEXT")]
    pub data: Option<String>,
    /// Most entries the pool of pending entries holds (the oldest are
    /// evicted first).
    #[arg(long, value_name = "N", default_value_t = PoolLimits::default().max_entries)]
    pub max_pending: u64,
    /// Most bytes of entries the pool holds.
    #[arg(long, value_name = "BYTES", default_value_t = PoolLimits::default().max_bytes)]
    pub max_pending_bytes: u64,
    /// Run as if this machine's clock were off by this much, e.g. -15m or
    /// 30s: to see what a node with a wrong clock does to a network whose
    /// difficulty follows the clock (its blocks' timestamps, and which
    /// blocks it finds too far in the future).
    #[arg(long, value_name = "OFFSET", value_parser = clock_offset, allow_hyphen_values = true)]
    pub clock_offset: Option<i64>,
    /// Log lines as human text or as JSON objects (one per line).
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "text")]
    pub log_format: LogFormat,
}

/// `--dial-ports 1024-65535`.
fn port_range(text: &str) -> std::result::Result<(u16, u16), String> {
    let (first, last) = text
        .split_once('-')
        .ok_or_else(|| format!("{text:?} is not a range like 1024-65535"))?;
    let port = |p: &str| {
        p.trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("{p:?} is not a port (1-65535)"))
    };
    let (first, last) = (port(first)?, port(last)?);
    if first > last {
        return Err(format!("{first} is above {last}"));
    }
    Ok((first, last))
}

/// `--clock-offset -15m`: signed milliseconds.
fn clock_offset(text: &str) -> std::result::Result<i64, String> {
    let (sign, magnitude) = match text.trim().strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text.trim().trim_start_matches('+')),
    };
    let ms = super::args::duration_ms(magnitude)?;
    i64::try_from(ms)
        .map(|ms| sign * ms)
        .map_err(|_| format!("{text:?} is out of range"))
}

/// The progress bar of a long sync, while one is shown. Log lines are
/// printed "around" it (`ProgressBar::suspend`) so the two do not mix.
static SYNC_BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// One log line, buffered until the formatter is done with it, then
/// written to stderr, stepping around a progress bar.
struct LogLine(Vec<u8>);

/// Where the formatter writes each log line.
fn log_line() -> LogLine {
    LogLine(Vec::with_capacity(256))
}

impl std::io::Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        let line = std::mem::take(&mut self.0);
        let print = || {
            let _ = std::io::Write::write_all(&mut std::io::stderr(), &line);
        };
        match SYNC_BAR.lock().ok().and_then(|bar| bar.clone()) {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }
}

/// A sync progress callback drawing a bar on the terminal (none when
/// stderr is not a terminal).
fn sync_progress_bar() -> Option<SyncProgress> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    Some(Arc::new(|done, total| {
        let Ok(mut slot) = SYNC_BAR.lock() else {
            return;
        };
        let bar = slot.get_or_insert_with(|| super::progress::progress_bar(total, "syncing"));
        bar.set_length(total);
        bar.set_position(done);
        if done >= total {
            bar.finish_and_clear();
            *slot = None;
        }
    }))
}

/// Raises the open-file soft limit to the hard one; (soft before, soft,
/// hard).
fn raise_file_limit() -> (u64, u64, u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to an rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return (1024, 1024, 1024);
        }
        let before = limit.rlim_cur;
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit.rlim_cur = limit.rlim_max;
            }
        }
        (before, limit.rlim_cur, limit.rlim_max)
    }
}

/// Logs to stderr. `JBC_LOG` picks levels, e.g. `debug` or `info,jbc=debug`.
pub fn init_logging(format: LogFormat) -> Result<()> {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = match std::env::var("JBC_LOG") {
        Ok(spec) => spec.parse::<Targets>().with_context(|| {
            format!(
                "JBC_LOG={spec:?} is not a log filter (try JBC_LOG=debug or JBC_LOG=info,jbc=debug)"
            )
        })?,
        Err(_) => Targets::new().with_default(LevelFilter::INFO),
    };
    let registry = tracing_subscriber::registry().with(filter);
    // Already initialised (tests): keep the first.
    let _ = match format {
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(log_line)
                    .with_target(false)
                    // Colours for a terminal only, not for a pipe or a file.
                    .with_ansi(std::io::stderr().is_terminal()),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(log_line)
                    .with_current_span(false),
            )
            .try_init(),
    };
    Ok(())
}

pub fn run(config: &Config, args: NodeArgs) -> Result<()> {
    let log_format = args.log_format;
    init_logging(log_format)?;
    for peer in &args.peers {
        node::normalize_url(peer)?;
    }
    let address = args
        .listen
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], args.port)));
    let mut node_config = NodeConfig::new(config.data_dir.clone(), config.params.clone());
    node_config.peers = args.peers;
    node_config.advertise = args.advertise;
    node_config.max_outbound = args.max_outbound;
    node_config.dial_ports = args.dial_ports;
    node_config.discover = !args.no_discovery;
    node_config.allow_hosts = args.allow_hosts;
    node_config.mine = args.mine;
    node_config.threads = args.threads.unwrap_or_else(jbc::miner::default_threads);
    node_config.mining_data = args.data;
    node_config.clock_offset_ms = args.clock_offset.unwrap_or(0);
    node_config.sync_progress = sync_progress_bar();
    node_config.pool_limits = PoolLimits {
        max_entries: args.max_pending,
        max_bytes: args.max_pending_bytes,
    };
    // Every connection is a file: take what the system allows, and keep
    // the connection cap well below it.
    let (before, soft, hard) = raise_file_limit();
    let cap = usize::try_from(soft.saturating_sub(128)).unwrap_or(usize::MAX);
    node_config.http.max_connections = node_config.http.max_connections.min(cap.max(16));
    node_config.open_files = Some((before, soft, hard));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let signals = node::shutdown::Signals::install();
        let listener = tokio::net::TcpListener::bind(address).await.with_context(|| {
            format!("cannot listen on {address} (is another node using that port? pick another with --port)")
        })?;
        // The address bound (port 0 picks a free one: tests use it).
        let address = listener.local_addr().unwrap_or(address);
        node_config.on_start = Some(Arc::new(move |token: &str| {
            if log_format == LogFormat::Text {
                eprintln!(
                    "the operator's explorer (mining button included): http://{address}/#token={token}"
                );
            }
        }));
        if log_format == LogFormat::Text {
            // JSON logs stay pure JSON lines; this one is for people.
            eprintln!(
                "jbc node on http://{address}/ (data in {}); Ctrl-C stops it",
                config.data_dir.display()
            );
        }
        node::run(listener, node_config, signals.recv())
            .await
            .context("the node stopped with an error")
    })
}
