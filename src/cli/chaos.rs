//! `jbc devnet --chaos`: every link between two devnet nodes passes
//! through a small TCP proxy in the devnet process, which can delay it or
//! cut it; a seeded schedule cuts and heals links and whole nodes and
//! changes delays, so that forks and reorgs happen several times a minute
//! without the network staying split for long. No root needed, and the
//! nodes' stores are never touched: only their connections are.
//!
//! Node `i` reaches node `j` at `127.0.0.1:{proxy_port(i, j)}`; both
//! directions of a pair share one `Link` (cut and delay). What the
//! schedule does is printed, one line a change, with the nodes named as
//! the devnet numbers them ("link node 0 - node 2 cut for 3.1 s").

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use super::watch::say;

/// One pair of nodes' connection: cut or not, and its delay each way.
#[derive(Default)]
struct Link {
    cut: AtomicBool,
    delay_ms: AtomicU64,
    /// The proxied connections open now (aborted by a cut).
    open: Mutex<Vec<AbortHandle>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The port at which node `from` reaches node `to` (`from != to`).
pub fn proxy_port(base_port: u16, nodes: u16, from: u16, to: u16) -> u16 {
    base_port + nodes + from * nodes + to
}

/// splitmix64: a seeded stream, so `--seed` repeats a run's schedule.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `low..high` (milliseconds, counts).
    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low).max(1)
    }
}

/// The links of a devnet and what the chaos did to them.
pub struct Chaos {
    nodes: usize,
    links: Vec<Vec<Arc<Link>>>,
    /// When the network last became split, and the time split so far.
    split: Mutex<(Option<Instant>, Duration)>,
    cuts: AtomicU64,
}

impl Chaos {
    /// Listens on every proxy port and forwards to the nodes' ports.
    pub async fn start(base_port: u16, nodes: u16) -> Result<Arc<Chaos>> {
        let n = usize::from(nodes);
        // One Link per pair: links[i][j] and links[j][i] are the same.
        let mut links: Vec<Vec<Arc<Link>>> = Vec::with_capacity(n);
        for i in 0..n {
            let row = (0..n).map(|j| {
                if j < i {
                    Arc::clone(&links[j][i])
                } else {
                    Arc::default()
                }
            });
            links.push(row.collect());
        }
        let chaos = Arc::new(Chaos {
            nodes: n,
            links,
            split: Mutex::new((None, Duration::ZERO)),
            cuts: AtomicU64::new(0),
        });
        for from in 0..nodes {
            for to in (0..nodes).filter(|to| *to != from) {
                let port = proxy_port(base_port, nodes, from, to);
                let listener = TcpListener::bind(("127.0.0.1", port))
                    .await
                    .with_context(|| {
                        format!("cannot listen on 127.0.0.1:{port} for the chaos proxy")
                    })?;
                let link = Arc::clone(&chaos.links[usize::from(from)][usize::from(to)]);
                tokio::spawn(forward(listener, base_port + to, link));
            }
        }
        Ok(chaos)
    }

    /// Whether the uncut links still join every node.
    fn connected(&self) -> bool {
        let mut seen = HashSet::from([0usize]);
        let mut todo = vec![0usize];
        while let Some(i) = todo.pop() {
            for j in 0..self.nodes {
                if j != i && !self.links[i][j].cut.load(Ordering::SeqCst) && seen.insert(j) {
                    todo.push(j);
                }
            }
        }
        seen.len() == self.nodes
    }

    /// Keeps the split clock right after a change.
    fn note_change(&self) {
        let connected = self.connected();
        let mut split = lock(&self.split);
        match (split.0, connected) {
            (None, false) => split.0 = Some(Instant::now()),
            (Some(since), true) => {
                split.1 += since.elapsed();
                split.0 = None;
            }
            _ => {}
        }
    }

    fn cut(&self, i: usize, j: usize) {
        let link = &self.links[i][j];
        link.cut.store(true, Ordering::SeqCst);
        for task in lock(&link.open).drain(..) {
            task.abort();
        }
        self.cuts.fetch_add(1, Ordering::SeqCst);
        self.note_change();
    }

    fn heal(&self, i: usize, j: usize) {
        self.links[i][j].cut.store(false, Ordering::SeqCst);
        self.note_change();
    }

    /// Heals every link and removes every delay.
    pub fn heal_all(&self) {
        for link in self.links.iter().flatten() {
            link.cut.store(false, Ordering::SeqCst);
            link.delay_ms.store(0, Ordering::SeqCst);
        }
        self.note_change();
    }

    /// The time the network spent split, and how many cuts there were.
    pub fn split_time(&self) -> (Duration, u64) {
        let split = lock(&self.split);
        let now = split.0.map_or(Duration::ZERO, |since| since.elapsed());
        (split.1 + now, self.cuts.load(Ordering::SeqCst))
    }

    /// Runs the schedule until dropped (with the heals it has planned):
    /// every 1.5-4 s, cut one node off (3-6 s), cut one link (3-8 s), or
    /// change a link's delay. Each change is one line, naming the nodes.
    pub async fn run(self: Arc<Chaos>, seed: u64) {
        let mut rng = Rng(seed);
        let n = self.nodes;
        if n < 2 {
            return;
        }
        let mut heals = tokio::task::JoinSet::new();
        loop {
            tokio::time::sleep(Duration::from_millis(rng.between(1500, 4000))).await;
            // Reap the heals done (the set holds the ones to come).
            while heals.try_join_next().is_some() {}
            let roll = rng.between(0, 100);
            let i = rng.between(0, n as u64) as usize;
            let j = (i + 1 + rng.between(0, n as u64 - 1) as usize) % n;
            let link = format!("link node {} - node {}", i.min(j), i.max(j));
            // Node i cut off from the others, or one link cut, for a while
            // (up to `longest` ms), unless a cut already holds one of them.
            let (pairs, longest, cut, healed): (Vec<_>, _, _, _) = if roll < 40 {
                let others = (0..n).filter(|k| *k != i).map(|k| (i, k)).collect();
                let cut = format!("node {i} cut off from the others");
                (others, 6000, cut, format!("node {i} reconnected"))
            } else if roll < 75 {
                (
                    vec![(i, j)],
                    8000,
                    format!("{link} cut"),
                    format!("{link} healed"),
                )
            } else {
                let delay = [0, 50, 200, 500][rng.between(0, 4) as usize];
                if self.links[i][j].delay_ms.swap(delay, Ordering::SeqCst) != delay {
                    say(match delay {
                        0 => format!("chaos: {link} no longer delayed"),
                        ms => format!("chaos: {link} delayed {ms} ms each way"),
                    });
                }
                continue;
            };
            if pairs
                .iter()
                .any(|&(a, b)| self.links[a][b].cut.load(Ordering::SeqCst))
            {
                continue;
            }
            let for_ms = rng.between(3000, longest);
            say(format!("chaos: {cut} for {:.1} s", for_ms as f64 / 1000.0));
            for &(a, b) in &pairs {
                self.cut(a, b);
            }
            let chaos = Arc::clone(&self);
            heals.spawn(async move {
                tokio::time::sleep(Duration::from_millis(for_ms)).await;
                for (a, b) in pairs {
                    chaos.heal(a, b);
                }
                say(format!("chaos: {healed}"));
            });
        }
    }
}

/// Accepts connections for one direction of a link and forwards them to
/// the node at `target` (a cut link closes them at once).
async fn forward(listener: TcpListener, target: u16, link: Arc<Link>) {
    while let Ok((client, _)) = listener.accept().await {
        if link.cut.load(Ordering::SeqCst) {
            drop(client);
            continue;
        }
        let for_task = Arc::clone(&link);
        let task = tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await else {
                return;
            };
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            tokio::join!(
                pump(client_read, server_write, &for_task),
                pump(server_read, client_write, &for_task)
            );
        });
        let mut open = lock(&link.open);
        open.retain(|t| !t.is_finished());
        open.push(task.abort_handle());
    }
}

/// Copies one direction, each piece after the link's delay.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    link: &Link,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let delay = link.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if link.cut.load(Ordering::SeqCst) || to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_ports_do_not_collide_with_nodes_or_each_other() {
        let mut ports = HashSet::new();
        for node in 0..5u16 {
            assert!(ports.insert(5000 + node));
        }
        for from in 0..5 {
            for to in (0..5).filter(|t| *t != from) {
                assert!(ports.insert(proxy_port(5000, 5, from, to)), "{from}->{to}");
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_schedule() {
        let (mut a, mut b) = (Rng(7), Rng(7));
        let first: Vec<u64> = (0..10).map(|_| a.between(0, 100)).collect();
        let second: Vec<u64> = (0..10).map(|_| b.between(0, 100)).collect();
        assert_eq!(first, second);
        let mut c = Rng(8);
        assert_ne!(
            first,
            (0..10).map(|_| c.between(0, 100)).collect::<Vec<_>>()
        );
    }
}
