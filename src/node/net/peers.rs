//! The peer list and what the node knows of each peer: which protocol it
//! speaks (ours with `/v1`, or only the original's), whether it answered
//! lately, its tip, whether it is backed off (it failed or wasted our time:
//! each failure doubles the wait before the next try) or ignored (it sent
//! an invalid block, or failed too often: not asked for a while). Each peer
//! also has a bounded queue of blocks and entries to relay to it (drained
//! by `relay`), so one slow peer never holds up the others. The list is
//! bounded (`MAX_PEERS`), and only well-formed base URLs enter it.
//!
//! Locks here are short and never held across `.await`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::store::Tip;

use super::super::lock;
use super::outgoing::OutgoingBlock;
use super::trouble::{PeerFault, Trouble};

/// Most peers a node keeps.
pub const MAX_PEERS: usize = 64;
/// Longest peer URL accepted.
pub const MAX_URL_LEN: usize = 200;
/// A failing peer is retried after a first wait (1 s by default), then
/// twice as long each time, up to 64 times the first.
const MAX_BACKOFF_STEPS: u32 = 6;
/// A peer that answered before and is now unreachable (a network cut, a
/// restart) is retried at least this often, and never dropped for it: so
/// a healed partition reconnects within seconds.
pub const KNOWN_PEER_MAX_BACKOFF: Duration = Duration::from_secs(2);
/// After this many failures in a row, a peer is dropped for a while.
pub const FAILURES_BEFORE_DROP: u32 = 8;

/// Items waiting to be relayed to one peer; more are dropped (the peer
/// catches up by syncing instead, and fetches pending entries when it
/// comes back).
pub const RELAY_QUEUE: usize = 64;

/// Something to tell a peer.
#[derive(Clone, Debug)]
pub enum Relay {
    /// A block and its body, with the forms it is sent in.
    Block(Arc<OutgoingBlock>),
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
    url: String,
    /// Dialled because the address book had it, not because the operator
    /// said so: it holds one of the `max_outbound` places.
    automatic: bool,
    kind: PeerKind,
    node_id: Option<String>,
    /// `None` until first contact.
    up: Option<bool>,
    /// Its tip as it last told us (or as we last saw it have).
    tip: Option<Tip>,
    last_seen: Option<Instant>,
    last_error: Option<PeerFault>,
    ignored_until: Option<Instant>,
    ignored_reason: Option<PeerFault>,
    /// Entries it had pending when it last told us its status.
    pending_entries: u64,
    /// Failures in a row (reset by a success).
    failures: u32,
    /// Not asked before this (backing off after failures).
    retry_at: Option<Instant>,
    /// Its address book's version when we last read its list, and when.
    addresses_seen: Option<(u64, Instant)>,
    relay: mpsc::Sender<Relay>,
}

impl Peer {
    pub fn is_ignored(&self, now: Instant) -> bool {
        self.ignored_until.is_some_and(|until| until > now)
    }

    /// It answered at least once since it was added.
    pub fn answered_before(&self) -> bool {
        self.last_seen.is_some()
    }

    /// When it may be asked again: now, or after its backoff or ignoring.
    pub fn ready_at(&self) -> Option<Instant> {
        self.retry_at.max(self.ignored_until)
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
    /// It failed lately; asked again after a wait that doubles.
    Backoff,
    /// It sent an invalid block, or failed too often; not asked for a while.
    Ignored,
    /// This very node.
    #[serde(rename = "self")]
    Myself,
}

impl std::fmt::Display for PeerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PeerKind::Unknown => "not asked yet",
            PeerKind::Jbc => "jbc",
            PeerKind::Original => "original",
            PeerKind::Myself => "this node",
        })
    }
}

impl std::fmt::Display for PeerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PeerState::Unknown => "not contacted yet",
            PeerState::Up => "up",
            PeerState::Down => "down",
            PeerState::Backoff => "backing off",
            PeerState::Ignored => "ignored",
            PeerState::Myself => "this node",
        })
    }
}

/// The one rule that tells an original node from a jbc node: an original
/// has no `/v1` routes, so it answers a request there with 404 (or 405,
/// for a method its route for that path does not take).
pub fn answers_as_original(status: u16) -> bool {
    matches!(status, 404 | 405)
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
    /// What went wrong last, in a word (`Trouble`): never what the peer
    /// sent.
    pub last_error: Option<Trouble>,
    pub ignored_for_s: Option<u64>,
    pub ignored_reason: Option<Trouble>,
    /// The whole story of `last_error` and `ignored_reason`, for the
    /// operator only (absent from answers to anyone else).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error_detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignored_detail: Option<String>,
    /// Dialled from the address book (not given by the operator).
    #[serde(default)]
    pub automatic: bool,
    /// Failures in a row.
    #[serde(default)]
    pub failures: u32,
    /// Seconds until it is asked again, when backing off.
    #[serde(default)]
    pub retry_in_s: Option<u64>,
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
    if text.len() > MAX_URL_LEN {
        return Err(PeerUrlError {
            url: format!("{}...", text.chars().take(40).collect::<String>()),
            reason: format!(
                "it is {} bytes long; a peer URL has at most {MAX_URL_LEN}",
                text.len()
            ),
        });
    }
    let url = reqwest::Url::parse(text.trim()).map_err(|e| err(&e.to_string()))?;
    if url.scheme() != "http" {
        return Err(err("only http:// is spoken between nodes"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(err("it has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(err("a peer URL carries no user name or password"));
    }
    if url.port() == Some(0) {
        return Err(err("port 0 is no port"));
    }
    if url.path() != "/" {
        return Err(err(
            "a node lives at the root of its host and port: no path",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(err("a base URL has no query or fragment"));
    }
    Ok(url.to_string())
}

/// The peer list is full.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the peer list is full ({MAX_PEERS} peers); remove one first")]
pub struct PeersFull;

#[derive(Default)]
pub struct Peers {
    list: Mutex<Vec<Peer>>,
}

impl Peers {
    /// Adds a peer (already normalized; `automatic`: from the address book)
    /// unless the list is full. Returns the receiving end of its relay
    /// queue when it was added, `None` when it is a peer already.
    pub fn add(
        &self,
        url: &str,
        automatic: bool,
    ) -> Result<Option<mpsc::Receiver<Relay>>, PeersFull> {
        let mut list = lock(&self.list);
        if let Some(known) = list.iter_mut().find(|p| p.url == url) {
            // The operator's word makes a peer dialled from the book theirs.
            known.automatic &= automatic;
            return Ok(None);
        }
        if list.len() >= MAX_PEERS {
            return Err(PeersFull);
        }
        let (tx, rx) = mpsc::channel(RELAY_QUEUE);
        list.push(Peer {
            url: url.to_owned(),
            automatic,
            kind: PeerKind::Unknown,
            node_id: None,
            up: None,
            tip: None,
            last_seen: None,
            last_error: None,
            ignored_until: None,
            ignored_reason: None,
            pending_entries: 0,
            failures: 0,
            retry_at: None,
            addresses_seen: None,
            relay: tx,
        });
        Ok(Some(rx))
    }

    /// Removes a peer: its relay and sync tasks end. True if it was there.
    pub fn remove(&self, url: &str) -> bool {
        let mut list = lock(&self.list);
        let before = list.len();
        list.retain(|p| p.url != url);
        list.len() < before
    }

    /// Runs `f` on the peer with this URL, if any.
    fn with<T>(&self, url: &str, f: impl FnOnce(&mut Peer) -> T) -> Option<T> {
        lock(&self.list).iter_mut().find(|p| p.url == url).map(f)
    }

    /// Records a successful contact. Returns true when the peer just came up.
    pub fn mark_up(&self, url: &str) -> bool {
        self.with(url, |p| {
            let was = p.up;
            p.up = Some(true);
            p.last_seen = Some(Instant::now());
            p.last_error = None;
            p.failures = 0;
            p.retry_at = None;
            was != Some(true)
        })
        .unwrap_or(false)
    }

    /// Records a failure: the peer is down and backed off (`base`, twice
    /// that, four times ... up to 64 times). Returns (whether it just went
    /// down, failures in a row).
    pub fn mark_down(&self, url: &str, error: PeerFault, base: Duration) -> (bool, u32) {
        self.with(url, |p| {
            let was = p.up;
            p.up = Some(false);
            p.last_error = Some(error);
            p.failures = p.failures.saturating_add(1);
            let steps = p.failures.saturating_sub(1).min(MAX_BACKOFF_STEPS);
            let mut wait = base.saturating_mul(1 << steps);
            if p.answered_before() {
                wait = wait.min(KNOWN_PEER_MAX_BACKOFF.max(base));
            }
            p.retry_at = Some(Instant::now() + wait);
            (was != Some(false), p.failures)
        })
        .unwrap_or((false, 0))
    }

    /// True when every peer was tried at least once (or is this node, or
    /// is being ignored).
    pub fn all_tried(&self) -> bool {
        let now = Instant::now();
        lock(&self.list)
            .iter()
            .all(|p| p.up.is_some() || p.kind == PeerKind::Myself || p.is_ignored(now))
    }

    /// Ignores a peer that broke a rule, for `period`.
    pub fn ignore(&self, url: &str, period: Duration, reason: PeerFault) {
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

    /// The URLs of the peers with this node id (one node may be listed
    /// under a host name and its address both).
    pub fn urls_of_node(&self, node_id: &str) -> Vec<String> {
        lock(&self.list)
            .iter()
            .filter(|p| p.node_id.as_deref() == Some(node_id))
            .map(|p| p.url.clone())
            .collect()
    }

    /// Queues `item` for every peer but `except` and ourselves (and, for
    /// entries, original peers). A full queue drops the item for that
    /// peer. Returns how many got it.
    pub fn queue_relay(&self, item: &Relay, except: Option<&str>) -> usize {
        let list = lock(&self.list);
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

    /// What the API shows of every peer; `details` (for the operator
    /// only) adds the whole story of each fault.
    pub fn snapshot(&self, details: bool) -> Vec<PeerInfo> {
        let now = Instant::now();
        // Whole seconds left, rounded up.
        let left = |until: Instant| until.duration_since(now).as_secs() + 1;
        lock(&self.list)
            .iter()
            .map(|p| {
                let ignored = p.ignored_reason.as_ref().filter(|_| p.is_ignored(now));
                let retry_at = p.retry_at.filter(|at| *at > now);
                PeerInfo {
                    url: p.url.clone(),
                    kind: p.kind,
                    state: match (p.kind, p.up) {
                        (PeerKind::Myself, _) => PeerState::Myself,
                        _ if p.is_ignored(now) => PeerState::Ignored,
                        _ if retry_at.is_some() => PeerState::Backoff,
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
                    last_error: p.last_error.as_ref().map(|f| f.trouble),
                    ignored_for_s: p.ignored_until.filter(|u| *u > now).map(left),
                    ignored_reason: ignored.map(|f| f.trouble),
                    last_error_detail: p
                        .last_error
                        .as_ref()
                        .filter(|_| details)
                        .map(|f| f.detail.clone()),
                    ignored_detail: ignored.filter(|_| details).map(|f| f.detail.clone()),
                    automatic: p.automatic,
                    failures: p.failures,
                    retry_in_s: retry_at.map(left),
                }
            })
            .collect()
    }

    /// What the peer is (`Unknown` when it is not a peer).
    pub fn kind(&self, url: &str) -> PeerKind {
        self.with(url, |p| p.kind).unwrap_or(PeerKind::Unknown)
    }

    /// (dialled from the book, answered at least once).
    pub fn standing(&self, url: &str) -> (bool, bool) {
        self.with(url, |p| (p.automatic, p.answered_before()))
            .unwrap_or((false, false))
    }

    /// When the peer may be asked again (`None` inside: now); `None` when
    /// it is no longer a peer.
    pub fn ready_at(&self, url: &str) -> Option<Option<Instant>> {
        self.with(url, |p| p.ready_at())
    }

    /// (what it is, ignored now), when it is a peer.
    pub fn sync_view(&self, url: &str) -> Option<(PeerKind, bool)> {
        let now = Instant::now();
        self.with(url, |p| (p.kind, p.is_ignored(now)))
    }

    /// Entries it had pending when it last told us its status.
    pub fn pending_entries(&self, url: &str) -> u64 {
        self.with(url, |p| p.pending_entries).unwrap_or(0)
    }

    /// It answered as a jbc node with this status.
    pub fn record_status(&self, url: &str, node_id: &str, tip: Tip, pending_entries: u64) {
        self.with(url, |p| {
            p.kind = PeerKind::Jbc;
            p.node_id = Some(node_id.to_owned());
            p.tip = Some(tip);
            p.pending_entries = pending_entries;
        });
    }

    /// It is this very node (found by its node id).
    pub fn mark_myself(&self, url: &str, node_id: &str) {
        self.with(url, |p| {
            p.kind = PeerKind::Myself;
            p.node_id = Some(node_id.to_owned());
        });
    }

    /// It speaks the original protocol only.
    pub fn mark_original(&self, url: &str) {
        self.with(url, |p| p.kind = PeerKind::Original);
    }

    /// Learns from the HTTP status of an answer to a `/v1` request whether
    /// the peer is an original node (`answers_as_original`); true if so.
    pub fn learn_from_answer(&self, url: &str, status: u16) -> bool {
        let original = answers_as_original(status);
        if original {
            self.mark_original(url);
        }
        original
    }

    /// Its tip, as it told us.
    pub fn set_tip(&self, url: &str, tip: Tip) {
        self.with(url, |p| p.tip = Some(tip));
    }

    /// Its address book's version when we last read its list, and when.
    pub fn addresses_seen(&self, url: &str) -> Option<(u64, Instant)> {
        self.with(url, |p| p.addresses_seen).flatten()
    }

    pub fn set_addresses_seen(&self, url: &str, version: u64) {
        self.with(url, |p| p.addresses_seen = Some((version, Instant::now())));
    }

    /// Peers dialled from the address book.
    pub fn count_automatic(&self) -> usize {
        lock(&self.list).iter().filter(|p| p.automatic).count()
    }

    pub fn urls(&self) -> std::collections::HashSet<String> {
        lock(&self.list).iter().map(|p| p.url.clone()).collect()
    }

    /// A peer we wait for answered us first (it just came back): ask it
    /// again now rather than at the end of its backoff.
    pub fn retry_now(&self, url: &str) -> bool {
        self.with(url, |p| {
            p.retry_at.take().is_some() && !p.is_ignored(Instant::now())
        })
        .unwrap_or(false)
    }

    /// How many peers are up, and how many not (for metrics).
    pub fn count_up(&self) -> (usize, usize) {
        let list = lock(&self.list);
        let up = list.iter().filter(|p| p.up == Some(true)).count();
        (up, list.len() - up)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_written_the_originals_way() {
        for (given, written) in [
            ("http://localhost:5001", "http://localhost:5001/"),
            ("http://localhost:5001/", "http://localhost:5001/"),
            (" http://10.0.0.2:5000 ", "http://10.0.0.2:5000/"),
        ] {
            assert_eq!(normalize_url(given).unwrap(), written);
        }
        // A node is the root of its host and port, reached without
        // credentials, by a URL of a sane length.
        for bad in [
            "http://10.0.0.2:5000/jbc",
            "http://user:secret@10.0.0.2:5000/",
            "http://10.0.0.2:0/",
            &format!("http://{}.example/", "a".repeat(300)),
            "localhost:5001",
            "https://example.com/",
            "http://x/?a=b",
            "",
        ] {
            assert!(normalize_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn relay_skips_the_source_and_ourselves_and_drops_when_full() {
        let peers = Peers::default();
        let mut a = peers.add("http://a/", false).unwrap().unwrap();
        let _b = peers.add("http://b/", false).unwrap().unwrap();
        let _c = peers.add("http://c/", false).unwrap().unwrap();
        assert!(peers.add("http://a/", false).unwrap().is_none());
        peers.mark_myself("http://c/", "c");
        let genesis = Arc::new(crate::consensus::network::seed_genesis().into());
        let block = Relay::Block(Arc::new(OutgoingBlock::new(genesis)));
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
        let _queue = peers.add("http://a/", false);
        assert!(peers.mark_up("http://a/"));
        assert!(!peers.mark_up("http://a/"));
        let refused = |detail| PeerFault::new(Trouble::Refused, detail);
        let second = Duration::from_secs(1);
        assert_eq!(
            peers.mark_down("http://a/", refused("gone"), second),
            (true, 1)
        );
        assert_eq!(
            peers.mark_down("http://a/", refused("still gone"), second),
            (false, 2)
        );
        assert_eq!(peers.snapshot(false)[0].state, PeerState::Backoff);
        peers.ignore(
            "http://a/",
            Duration::from_secs(60),
            PeerFault::new(Trouble::InvalidBlock, "lies"),
        );
        assert_eq!(peers.snapshot(false)[0].state, PeerState::Ignored);
        assert!(peers.mark_up("http://a/"));
        assert_eq!(peers.snapshot(false)[0].failures, 0);
    }

    #[test]
    fn the_list_is_bounded() {
        let peers = Peers::default();
        let queues: Vec<_> = (0..MAX_PEERS)
            .map(|i| {
                peers
                    .add(&format!("http://10.0.0.{i}:5000/"), false)
                    .unwrap()
            })
            .collect();
        assert!(queues.iter().all(Option::is_some));
        assert!(peers.add("http://10.0.1.1:5000/", false).is_err());
        assert!(peers.remove("http://10.0.0.3:5000/"));
        assert!(peers.add("http://10.0.1.1:5000/", false).unwrap().is_some());
    }
}
