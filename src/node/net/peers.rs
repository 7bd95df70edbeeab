//! The peer list and what the node knows of each peer: which protocol it
//! speaks (ours with `/v1`, or only the original's), whether it answered
//! lately, its tip, and whether it is being ignored for sending invalid
//! blocks. Each peer also has a bounded queue of blocks to relay to it
//! (drained by `relay`), so one slow peer never holds up the others.
//!
//! Locks here are short and never held across `.await`.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::consensus::Block;
use crate::store::Tip;

/// Items waiting to be relayed to one peer; more are dropped (the peer
/// catches up by syncing instead, and fetches pending entries when it
/// comes back).
pub const RELAY_QUEUE: usize = 64;

/// Something to tell a peer.
#[derive(Clone, Debug)]
pub enum Relay {
    Block(Arc<Block>),
    /// New entries, as canonical lines (never sent to original peers).
    Entries(Arc<Vec<String>>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerKind {
    /// Not asked yet.
    Unknown,
    /// A jbc node like this one (`/v1` answers).
    Jbc,
    /// Speaks only the original protocol (`/blockchain.json`, `/mined`).
    Original,
    /// This very node, behind some URL: never sent anything.
    Myself,
}

pub struct Peer {
    pub url: String,
    pub kind: PeerKind,
    pub node_id: Option<String>,
    /// `None` until first contact.
    pub up: Option<bool>,
    /// Its tip as it last told us (or as we last saw it have).
    pub tip: Option<Tip>,
    pub last_seen: Option<Instant>,
    pub last_error: Option<String>,
    pub ignored_until: Option<Instant>,
    pub ignored_reason: Option<String>,
    /// Entries it had pending when it last told us its status.
    pub pending_entries: u64,
    relay: mpsc::Sender<Relay>,
}

impl Peer {
    pub fn is_ignored(&self, now: Instant) -> bool {
        self.ignored_until.is_some_and(|until| until > now)
    }
}

/// How a peer stands with us, as the API shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerState {
    /// Not contacted yet.
    Unknown,
    Up,
    Down,
    /// It sent an invalid block; not asked for a while.
    Ignored,
    /// This very node.
    #[serde(rename = "self")]
    Myself,
}

/// What the API shows of a peer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PeerInfo {
    pub url: String,
    pub kind: PeerKind,
    pub state: PeerState,
    pub node_id: Option<String>,
    pub tip_index: Option<u64>,
    pub tip_hash: Option<String>,
    pub last_seen_ms_ago: Option<u64>,
    pub last_error: Option<String>,
    pub ignored_for_s: Option<u64>,
    pub ignored_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{url:?} is not a peer URL ({reason}); write it like http://localhost:5001/")]
pub struct PeerUrlError {
    pub url: String,
    pub reason: String,
}

/// Checks a peer URL and writes it the original's way: a base URL with a
/// trailing slash, e.g. `http://localhost:5001/`.
pub fn normalize_url(text: &str) -> Result<String, PeerUrlError> {
    let err = |reason: &str| PeerUrlError {
        url: text.to_owned(),
        reason: reason.to_owned(),
    };
    let mut url = reqwest::Url::parse(text.trim()).map_err(|e| err(&e.to_string()))?;
    if url.scheme() != "http" {
        return Err(err("only http:// is spoken between nodes"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(err("it has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(err("a base URL has no query or fragment"));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url.to_string())
}

#[derive(Default)]
pub struct Peers {
    list: Mutex<Vec<Peer>>,
}

impl Peers {
    fn lock(&self) -> MutexGuard<'_, Vec<Peer>> {
        // A panic while holding this lock cannot leave a peer half-updated
        // in a way that matters; keep serving.
        self.list
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a peer (already normalized) unless present. Returns the receiving
    /// end of its relay queue when it was added.
    pub fn add(&self, url: &str) -> Option<mpsc::Receiver<Relay>> {
        let mut list = self.lock();
        if list.iter().any(|p| p.url == url) {
            return None;
        }
        let (tx, rx) = mpsc::channel(RELAY_QUEUE);
        list.push(Peer {
            url: url.to_owned(),
            kind: PeerKind::Unknown,
            node_id: None,
            up: None,
            tip: None,
            last_seen: None,
            last_error: None,
            ignored_until: None,
            ignored_reason: None,
            pending_entries: 0,
            relay: tx,
        });
        Some(rx)
    }

    pub fn urls(&self) -> Vec<String> {
        self.lock().iter().map(|p| p.url.clone()).collect()
    }

    /// Runs `f` on the peer with this URL, if any.
    pub fn with<T>(&self, url: &str, f: impl FnOnce(&mut Peer) -> T) -> Option<T> {
        self.lock().iter_mut().find(|p| p.url == url).map(f)
    }

    /// Records a successful contact. Returns true when the peer just came up.
    pub fn mark_up(&self, url: &str) -> bool {
        self.with(url, |p| {
            let was = p.up;
            p.up = Some(true);
            p.last_seen = Some(Instant::now());
            p.last_error = None;
            was != Some(true)
        })
        .unwrap_or(false)
    }

    /// Records a failed contact. Returns true when the peer just went down.
    pub fn mark_down(&self, url: &str, error: String) -> bool {
        self.with(url, |p| {
            let was = p.up;
            p.up = Some(false);
            p.last_error = Some(error);
            was != Some(false)
        })
        .unwrap_or(false)
    }

    /// Ignores a peer that broke a rule, for `period`.
    pub fn ignore(&self, url: &str, period: Duration, reason: String) {
        self.with(url, |p| {
            p.ignored_until = Some(Instant::now() + period);
            p.ignored_reason = Some(reason);
        });
    }

    /// Records that a peer has at least `tip` (it sent us that block).
    pub fn saw_tip(&self, url: &str, tip: Tip) {
        self.with(url, |p| {
            if p.tip.is_none_or(|t| t.chain_work < tip.chain_work) {
                p.tip = Some(tip);
            }
        });
    }

    /// The URL of the peer with this node id.
    pub fn url_of_node(&self, node_id: &str) -> Option<String> {
        self.lock()
            .iter()
            .find(|p| p.node_id.as_deref() == Some(node_id))
            .map(|p| p.url.clone())
    }

    /// Queues `item` for every peer but `except` and ourselves (and, for
    /// entries, original peers). A full queue drops the item for that
    /// peer. Returns how many got it.
    pub fn queue_relay(&self, item: &Relay, except: Option<&str>) -> usize {
        let list = self.lock();
        let mut queued = 0;
        for peer in list.iter() {
            let entries_to_original =
                matches!(item, Relay::Entries(_)) && peer.kind == PeerKind::Original;
            if peer.kind == PeerKind::Myself
                || Some(peer.url.as_str()) == except
                || entries_to_original
            {
                continue;
            }
            if peer.relay.try_send(item.clone()).is_ok() {
                queued += 1;
            } else {
                tracing::debug!(peer = %peer.url, "relay queue full; the peer will sync instead");
            }
        }
        queued
    }

    pub fn snapshot(&self) -> Vec<PeerInfo> {
        let now = Instant::now();
        self.lock()
            .iter()
            .map(|p| PeerInfo {
                url: p.url.clone(),
                kind: p.kind,
                state: match (p.kind, p.up) {
                    (PeerKind::Myself, _) => PeerState::Myself,
                    _ if p.is_ignored(now) => PeerState::Ignored,
                    (_, Some(true)) => PeerState::Up,
                    (_, Some(false)) => PeerState::Down,
                    (_, None) => PeerState::Unknown,
                },
                node_id: p.node_id.clone(),
                tip_index: p.tip.map(|t| t.index.0),
                tip_hash: p.tip.map(|t| t.hash.to_string()),
                last_seen_ms_ago: p
                    .last_seen
                    .map(|t| now.duration_since(t).as_millis() as u64),
                last_error: p.last_error.clone(),
                ignored_for_s: p
                    .ignored_until
                    .filter(|u| *u > now)
                    .map(|u| u.duration_since(now).as_secs() + 1),
                ignored_reason: p
                    .ignored_until
                    .filter(|u| *u > now)
                    .and(p.ignored_reason.clone()),
            })
            .collect()
    }

    /// How many peers are up (for metrics).
    pub fn count_up(&self) -> (usize, usize) {
        let list = self.lock();
        let up = list.iter().filter(|p| p.up == Some(true)).count();
        (up, list.len() - up)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_written_the_originals_way() {
        assert_eq!(
            normalize_url("http://localhost:5001").unwrap(),
            "http://localhost:5001/"
        );
        assert_eq!(
            normalize_url("http://localhost:5001/").unwrap(),
            "http://localhost:5001/"
        );
        assert_eq!(
            normalize_url(" http://10.0.0.2:5000/jbc ").unwrap(),
            "http://10.0.0.2:5000/jbc/"
        );
        assert!(normalize_url("localhost:5001").is_err());
        assert!(normalize_url("https://example.com/").is_err());
        assert!(normalize_url("http://x/?a=b").is_err());
        assert!(normalize_url("").is_err());
    }

    #[test]
    fn relay_skips_the_source_and_ourselves_and_drops_when_full() {
        let peers = Peers::default();
        let mut a = peers.add("http://a/").unwrap();
        let _b = peers.add("http://b/").unwrap();
        let _c = peers.add("http://c/").unwrap();
        assert!(peers.add("http://a/").is_none());
        peers.with("http://c/", |p| p.kind = PeerKind::Myself);
        let block = Relay::Block(Arc::new(crate::consensus::network::seed_genesis()));
        assert_eq!(peers.queue_relay(&block, Some("http://b/")), 1);
        assert!(a.try_recv().is_ok());
        for _ in 0..RELAY_QUEUE {
            peers.queue_relay(&block, None);
        }
        // a's queue is full now; b's too. Nothing blocks, nothing grows.
        assert_eq!(peers.queue_relay(&block, None), 0);
    }

    #[test]
    fn up_and_down_report_changes_only() {
        let peers = Peers::default();
        peers.add("http://a/");
        assert!(peers.mark_up("http://a/"));
        assert!(!peers.mark_up("http://a/"));
        assert!(peers.mark_down("http://a/", "gone".into()));
        assert!(!peers.mark_down("http://a/", "still gone".into()));
        peers.ignore("http://a/", Duration::from_secs(60), "lies".into());
        assert_eq!(peers.snapshot()[0].state, PeerState::Ignored);
    }
}
