//! Mining inside the node: one OS thread (never an async task) that mines
//! on the current tip with `crate::miner`, and a small async watcher that
//! raises the job's stop signal the moment the tip changes, mining is
//! switched off, or the node shuts down. The thread then starts over on the
//! new tip, well within 10 ms (the miner checks its stop flag every few
//! thousand nonces).
//!
//! A mined block goes through `ChainHandle::submit` like any other block.
//! `Mining` is the handle the rest of the node has: on or off, idle or
//! busy, and how fast. The template comes ready from the chain handle
//! (built from the new tip's context when the tip moved).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::chain::{Accepted, FromPool, PendingSeen};
use crate::consensus::BlockAndBody;
use crate::miner::{self, Job, MinerStats, Outcome, Settings, StopSignal};
use crate::store::{Durability, EntryReads, StoreReader};

use super::chain::ChainHandle;
use super::config::NodeConfig;
use super::events::Events;
use super::lock;
use super::notify::Source;
use super::protocol::MiningInfo;
use super::shutdown::Shutdown;

/// Whether the node mines, and how fast: the hash rate is sampled once a
/// second from the miner's counters.
pub struct Mining {
    chain: Arc<ChainHandle>,
    events: Events,
    shutdown: Shutdown,
    /// The text of mined blocks (`--data`), else data.txt in `data_dir`,
    /// else a line naming the node.
    mining_data: Option<String>,
    data_dir: std::path::PathBuf,
    node_id: String,
    clock_offset_ms: i64,
    enabled: watch::Sender<bool>,
    /// True while the mining thread is not working on a block (and has
    /// stored anything it found).
    idle: watch::Sender<bool>,
    threads: usize,
    /// Hashes per second over the last second, per mining thread.
    rates: Mutex<Vec<f64>>,
    stats: Mutex<Option<Arc<MinerStats>>>,
    /// The mining thread is started on first use and then stays.
    thread_started: AtomicBool,
    /// Its handle, joined at shutdown.
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Mining {
    pub fn new(
        config: &NodeConfig,
        chain: Arc<ChainHandle>,
        events: Events,
        shutdown: Shutdown,
        node_id: &str,
    ) -> Mining {
        Mining {
            chain,
            events,
            shutdown,
            mining_data: config.mining_data.clone(),
            data_dir: config.data_dir.clone(),
            node_id: node_id.to_owned(),
            clock_offset_ms: config.clock_offset_ms,
            enabled: watch::channel(false).0,
            idle: watch::channel(true).0,
            threads: config.threads.max(1),
            rates: Mutex::new(Vec::new()),
            stats: Mutex::new(None),
            thread_started: AtomicBool::new(false),
            thread: Mutex::new(None),
        }
    }

    /// Switches mining on or off, starting the miner thread on first use.
    pub fn set(self: &Arc<Self>, on: bool) {
        if on {
            ensure_started(self);
        }
        if self.set_enabled(on) {
            self.events.mining(on);
        }
    }

    /// Switches mining off and waits (up to 5 s) until the miner has
    /// stopped and stored any block it found meanwhile: after this, no more
    /// blocks.
    pub async fn stop(self: &Arc<Self>) {
        self.set(false);
        let mut idle = self.idle.subscribe();
        let _ = tokio::time::timeout(Duration::from_secs(5), idle.wait_for(|idle| *idle)).await;
    }

    /// At shutdown: stops the miner and waits for its thread to end.
    pub async fn join(&self) {
        self.set_enabled(false);
        let thread = lock(&self.thread).take();
        if let Some(miner) = thread {
            let _ = tokio::task::spawn_blocking(move || miner.join()).await;
        }
    }

    /// The miner's state in `/v1/status` (hashes per thread: empty before
    /// the miner first started).
    pub fn info(&self) -> MiningInfo {
        let hashes_per_thread = lock(&self.stats)
            .as_ref()
            .map(|s| s.per_thread())
            .unwrap_or_default();
        let rates = lock(&self.rates).clone();
        MiningInfo {
            enabled: self.is_enabled(),
            threads: self.threads as u64,
            // (A sum of no floats is -0.0; no miner yet is 0.)
            hash_rate: rates.iter().fold(0.0, |sum, rate| sum + rate),
            hash_rate_per_thread: rates,
            hashes: hashes_per_thread.iter().sum(),
            hashes_per_thread,
        }
    }

    pub fn is_enabled(&self) -> bool {
        *self.enabled.borrow()
    }

    /// Returns true when this changed the setting.
    fn set_enabled(&self, enabled: bool) -> bool {
        self.enabled.send_if_modified(|current| {
            let changed = *current != enabled;
            *current = enabled;
            changed
        })
    }
}

/// Starts the mining thread and its helpers if they are not running yet.
/// The thread's handle goes into `Mining::thread`, for shutdown.
fn ensure_started(mining: &Arc<Mining>) {
    if mining.thread_started.swap(true, Ordering::SeqCst) {
        return;
    }
    let threads = mining.threads;
    let stats = Arc::new(MinerStats::new(threads));
    *lock(&mining.stats) = Some(Arc::clone(&stats));
    let current_stop = Arc::new(Mutex::new(StopSignal::new()));
    let restarts = watch_for_restarts(Arc::clone(mining), Arc::clone(&current_stop));
    tokio::spawn(restarts);
    tokio::spawn(sample_hash_rate(Arc::clone(mining), Arc::clone(&stats)));
    let runtime = tokio::runtime::Handle::current();
    let for_thread = Arc::clone(mining);
    let spawned = std::thread::Builder::new()
        .name("jbc-miner".into())
        .spawn(move || mine_loop(for_thread, runtime, stats, current_stop, threads));
    match spawned {
        Ok(handle) => *lock(&mining.thread) = Some(handle),
        Err(e) => tracing::error!("cannot start the mining thread: {e}"),
    }
}

fn mine_loop(
    mining: Arc<Mining>,
    runtime: tokio::runtime::Handle,
    stats: Arc<MinerStats>,
    current_stop: Arc<Mutex<StopSignal>>,
    threads: usize,
) {
    let network = mining.chain.params().clone();
    let clock = crate::clock::offset_clock(mining.clock_offset_ms);
    let settings = Settings::for_network(threads, &network, clock);
    let clock = Arc::clone(&settings.clock);
    let mut enabled = mining.enabled.subscribe();
    loop {
        if mining.shutdown.is_requested() {
            mining.idle.send_replace(true);
            return;
        }
        if !mining.is_enabled() {
            // Sleep until mining is switched on or the node stops.
            mining.idle.send_replace(true);
            runtime.block_on(async {
                tokio::select! {
                    _ = enabled.wait_for(|on| *on) => {}
                    _ = mining.shutdown.wait() => {}
                }
            });
            continue;
        }
        // Register the stop signal before reading the tip: a tip change
        // after this point stops this very job.
        let stop = StopSignal::new();
        *lock(&current_stop) = stop.clone();
        mining.idle.send_replace(false);
        let template = mining.chain.template();
        if mining.chain.pace().is_some_and(|pace| pace.out_of_reach()) {
            // No honest miner would find this block (the node has logged
            // why, loudly): hash nothing until the tip changes.
            mining.idle.send_replace(true);
            let mut tip = mining.chain.watch_tip();
            tip.mark_unchanged();
            if mining.chain.tip().hash == template.prev_hash {
                runtime.block_on(async {
                    tokio::select! {
                        _ = tip.changed() => {}
                        _ = enabled.wait_for(|on| !*on) => {}
                        _ = mining.shutdown.wait() => {}
                    }
                });
            }
            continue;
        }
        if let Some(wait_ms) = network.too_early_to_mine(&template, clock()) {
            // The chain's median time is ahead of our clock: a block now
            // would be from the future for us. Wait (or for a new tip).
            tracing::debug!(wait_ms, "waiting for the clock");
            std::thread::sleep(Duration::from_millis(wait_ms.min(100)));
            continue;
        }
        let (data, body, seen) = block_data(&mining, &runtime);
        let job = Job::from_template(&template, data, clock());
        let started = Instant::now();
        match miner::mine(&job, &settings, &stop, &stats) {
            Ok(Outcome::Found(block)) => {
                let index = block.index;
                tracing::debug!(
                    index = index.0,
                    seconds = started.elapsed().as_secs_f64(),
                    "found a block"
                );
                let block = BlockAndBody { block, body };
                match runtime.block_on(mining.chain.submit(
                    vec![FromPool { block, seen }],
                    Source::Miner,
                    Durability::Acknowledged,
                )) {
                    Ok(outcome) => match (outcome.last, outcome.error) {
                        (Some(Accepted::TipMoved { .. }), _) => {}
                        (_, Some((_, e))) => {
                            tracing::warn!(index = index.0, "our mined block was refused: {e}")
                        }
                        (Some(other), None) => tracing::info!(
                            index = index.0,
                            "our mined block did not become the tip: {other}"
                        ),
                        (None, None) => {}
                    },
                    Err(e) => tracing::warn!("could not store a mined block: {e}"),
                }
            }
            Ok(Outcome::Stopped) => {}
            Err(e) => {
                tracing::error!("miner error: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Raises the current job's stop signal whenever the tip changes, mining is
/// switched off, or the node shuts down.
async fn watch_for_restarts(mining: Arc<Mining>, current_stop: Arc<Mutex<StopSignal>>) {
    let mut tip = mining.chain.watch_tip();
    let mut enabled = mining.enabled.subscribe();
    let mut pool = mining.chain.watch_pool();
    let mut shutdown = mining.shutdown.watch();
    loop {
        let stop_for_good = tokio::select! {
            changed = tip.changed() => changed.is_err(),
            changed = enabled.changed() => changed.is_err(),
            changed = pool.changed() => {
                // New entries: let more gather for a moment, then start a
                // job that carries them.
                tokio::time::sleep(POOL_SETTLE).await;
                pool.mark_unchanged();
                changed.is_err()
            }
            _ = shutdown.changed() => true,
        };
        lock(&current_stop).stop();
        if stop_for_good || mining.shutdown.is_requested() {
            return;
        }
    }
}

/// Once a second: hashes tried since the last sample, per second, per
/// thread.
async fn sample_hash_rate(mining: Arc<Mining>, stats: Arc<MinerStats>) {
    let mut shutdown = mining.shutdown.watch();
    let mut last = stats.per_thread();
    let mut last_time = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.changed() => return,
        }
        let now_counts = stats.per_thread();
        let now = Instant::now();
        let seconds = now.duration_since(last_time).as_secs_f64().max(1e-3);
        let enabled = mining.is_enabled();
        let rates = now_counts
            .iter()
            .zip(&last)
            .map(|(now, before)| {
                if enabled {
                    (now - before) as f64 / seconds
                } else {
                    0.0
                }
            })
            .collect();
        *lock(&mining.rates) = rates;
        last = now_counts;
        last_time = now;
    }
}

/// How long the miner waits after the pool changes before it restarts its
/// job with the new entries.
const POOL_SETTLE: Duration = Duration::from_millis(100);

/// The `data` and body of the next block: the miner's note alone when the
/// pool is empty (as the original's blocks), else the note and the oldest
/// pending entries that fit the network's block data limit, in the data
/// or beside it as the network says; and what the pool showed of them.
fn block_data(
    mining: &Arc<Mining>,
    runtime: &tokio::runtime::Handle,
) -> (String, Vec<String>, PendingSeen) {
    let rules = *mining.chain.params().entry_rules();
    let max = rules.max_block_data_bytes;
    let mut note = mining_note(mining);
    // What comes before the entries' lines.
    let overhead = |note: &str| rules.commit.overhead(note);
    while !note.is_empty() && (note.len() > max || overhead(&note) > max) {
        // A note too long for a block: cut it (at a character boundary).
        let mut end = note.len() / 2;
        while !note.is_char_boundary(end) {
            end -= 1;
        }
        note.truncate(end);
    }
    let nothing = |note| {
        let seen = PendingSeen {
            tip: mining.chain.tip().hash,
            rows: Vec::new(),
            forgotten: 0,
        };
        (note, Vec::new(), seen)
    };
    if mining.chain.pool().entries == 0 {
        return nothing(note);
    }
    let budget = max.saturating_sub(overhead(&note));
    let read = move |r: &StoreReader| {
        r.snapshot(|r| {
            let forgotten = r.entries_forgotten()?;
            Ok((r.tip()?.hash, forgotten, r.entries_for_block(budget)?))
        })
    };
    match runtime.block_on(mining.chain.read(read)) {
        Ok((tip, forgotten, found)) if !found.is_empty() => {
            let (lines, rows): (Vec<String>, Vec<_>) = found
                .into_iter()
                .map(|(line, row)| (line, Some(row)))
                .unzip();
            let (data, body) = rules.commit.encode(&note, lines);
            (
                data,
                body,
                PendingSeen {
                    tip,
                    rows,
                    forgotten,
                },
            )
        }
        Ok(_) => nothing(note),
        Err(e) => {
            tracing::warn!("cannot read the pool: {e}");
            nothing(note)
        }
    }
}

/// The miner's own text: the configured text, else the text of data.txt
/// in the data directory (read each time, as the original did), else a
/// line naming this node.
fn mining_note(mining: &Mining) -> String {
    if let Some(data) = &mining.mining_data {
        return data.clone();
    }
    crate::chaindata::mining_data(&mining.data_dir)
        .unwrap_or_else(|e| {
            tracing::warn!("cannot read data.txt: {e}");
            None
        })
        .unwrap_or_else(|| {
            let id = &mining.node_id;
            format!("Mined by jbc node {}", &id[..8.min(id.len())])
        })
}
