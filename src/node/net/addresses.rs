//! The address book: every node address this node has heard of, kept apart
//! from the ones that worked, in the spirit of Bitcoin Core's address
//! manager.
//!
//! - **new**: heard of (from a peer's list, or from a node that contacted
//!   us and said where it listens), never reached. Bucketed by who told us:
//!   one source fills at most `NEW_PER_SOURCE` places, and when the table
//!   is full the largest source's oldest address goes first. A peer that
//!   sends 100,000 addresses only churns its own bucket.
//! - **tried**: reached at least once. Only a success enters it, so
//!   nothing a stranger says can push out an address that worked; when it
//!   is full the one that worked longest ago leaves.
//!
//! Which addresses may be dialled at all is `DialPolicy`: http only, a port
//! in the documented range, never this node, and a loopback address only
//! when whoever named it is on loopback too. The book is kept in the store
//! (`peer_addresses`), so a restarted node reconnects without flags; this
//! module only tracks what changed since the last save.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::peers::normalize_url;
use super::scope::Scopes;

/// Places in the new table, in all and for one source.
pub const MAX_NEW: usize = 1024;
pub const NEW_PER_SOURCE: usize = 64;
/// Places in the tried table.
pub const MAX_TRIED: usize = 256;
/// A new address that failed this many times in a row is forgotten.
const NEW_FAILURES_BEFORE_FORGET: u32 = 3;
/// Most addresses one `/v1/addresses` answer carries.
pub const MAX_SHARED: usize = 256;

/// Where an address came from.
pub const SOURCE_OPERATOR: &str = "operator";

/// One known address: the store's row, as the book keeps it.
pub use crate::store::PeerAddress as Address;

impl Address {
    /// An address first heard of at `now`, never tried.
    fn heard_of(url: &str, source: &str, manual: bool, now: u64) -> Address {
        Address {
            url: url.to_owned(),
            source: source.to_owned(),
            tried: false,
            manual,
            heard_at: now,
            last_success: None,
            last_attempt: None,
            failures: 0,
        }
    }

    /// Heard from the node itself (it contacted us), or reached by us:
    /// what we pass on to others.
    pub fn vouched(&self) -> bool {
        self.tried || self.manual || self.source.starts_with("inbound ")
    }
}

/// What `/v1/addresses` says of one address.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SharedAddress {
    pub url: String,
    /// When this node last reached it (unix seconds), if ever.
    #[serde(default)]
    pub last_success: Option<u64>,
}

/// Which addresses this node dials on someone else's word (the
/// operator's own peers are not asked).
#[derive(Clone, Debug)]
pub struct DialPolicy {
    /// The lowest and highest port dialled for an address a peer gave.
    pub ports: (u16, u16),
    /// URLs this node is reached at (never dialled).
    pub own: HashSet<String>,
    /// The kinds of network it may dial (`scope`).
    pub scopes: Scopes,
}

impl DialPolicy {
    /// The address written the one way, when this node would dial it on
    /// the word of someone on loopback (`from_loopback`) or not: an IP
    /// address (a name could be pointed anywhere after it was checked), in
    /// a kind of network this node may dial, at a port in the range, not
    /// this node.
    pub fn admit(&self, url: &str, from_loopback: bool) -> Option<String> {
        let url = normalize_url(url).ok()?;
        let parsed = reqwest::Url::parse(&url).ok()?;
        let port = parsed.port_or_known_default()?;
        if port < self.ports.0 || port > self.ports.1 || self.own.contains(&url) {
            return None;
        }
        let ip = super::scope::ip_of(&url)?;
        if !self.scopes.allows(ip) {
            return None;
        }
        // Nobody off this machine gets us to dial our own loopback.
        if ip.is_loopback() && !from_loopback {
            return None;
        }
        Some(url)
    }
}

/// True when a base URL's host is this machine: a loopback or unspecified
/// IP, or `localhost`.
pub fn is_loopback_url(url: &str) -> bool {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return false;
    };
    let Some(host) = parsed.host_str() else {
        return false;
    };
    match host.trim_matches(['[', ']']).parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback() || ip.is_unspecified(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// The address book (see the module comment).
#[derive(Default)]
pub struct AddressBook {
    entries: HashMap<String, Address>,
    /// Bumped whenever an address we vouch for is added: peers fetch our
    /// list again when they see it change in our status.
    version: u64,
    /// Changed since the last save, and removed since the last save.
    dirty: HashSet<String>,
    removed: HashSet<String>,
}

impl AddressBook {
    /// A book holding what the store kept.
    pub fn load(addresses: Vec<Address>) -> AddressBook {
        let mut book = AddressBook::default();
        for address in addresses {
            book.entries.insert(address.url.clone(), address);
        }
        book.version = book.entries.len() as u64;
        book
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    pub fn get(&self, url: &str) -> Option<&Address> {
        self.entries.get(url)
    }

    fn count(&self, tried: bool) -> usize {
        self.entries
            .values()
            .filter(|a| a.tried == tried && !a.manual)
            .count()
    }

    /// Records an address heard from `source`. True when it is new.
    pub fn heard(&mut self, url: &str, source: &str, now: u64) -> bool {
        if self.entries.contains_key(url) {
            return false;
        }
        // Room in the source's bucket: its oldest goes.
        let from_source: Vec<&Address> = self
            .entries
            .values()
            .filter(|a| !a.tried && !a.manual && a.source == source)
            .collect();
        if from_source.len() >= NEW_PER_SOURCE {
            let oldest = oldest_heard(&from_source);
            self.forget(&oldest);
        }
        // Room in the table: the largest source's oldest goes.
        if self.count(false) >= MAX_NEW {
            let mut sizes: HashMap<&str, Vec<&Address>> = HashMap::new();
            for a in self.entries.values().filter(|a| !a.tried && !a.manual) {
                sizes.entry(a.source.as_str()).or_default().push(a);
            }
            if let Some(bucket) = sizes.values().max_by_key(|b| b.len()) {
                let oldest = oldest_heard(bucket);
                self.forget(&oldest);
            }
        }
        let address = Address::heard_of(url, source, false, now);
        if address.vouched() {
            self.version += 1;
        }
        self.entries.insert(url.to_owned(), address);
        self.touch(url);
        true
    }

    /// Records an address the operator gave (kept until the operator
    /// removes it).
    pub fn add_manual(&mut self, url: &str, now: u64) {
        self.entries
            .entry(url.to_owned())
            .or_insert_with(|| Address::heard_of(url, SOURCE_OPERATOR, true, now))
            .manual = true;
        self.version += 1;
        self.touch(url);
    }

    /// The node at `url` answered: it enters (or stays in) tried.
    pub fn succeeded(&mut self, url: &str, now: u64) {
        let Some(address) = self.entries.get_mut(url) else {
            return;
        };
        let newly_tried = !address.tried;
        address.tried = true;
        address.failures = 0;
        address.last_attempt = Some(now);
        // Saving every poll would write the store every few seconds per
        // peer for nothing: once a minute is enough to know it works.
        let stale = address.last_success.is_none_or(|t| now >= t + 60);
        if stale {
            address.last_success = Some(now);
        }
        let manual = address.manual;
        if newly_tried {
            self.version += 1;
            if !manual && self.count(true) > MAX_TRIED {
                let oldest = self
                    .entries
                    .values()
                    .filter(|a| a.tried && !a.manual && a.url != url)
                    .min_by_key(|a| a.last_success)
                    .map(|a| a.url.clone());
                if let Some(oldest) = oldest {
                    self.forget(&oldest);
                }
            }
        }
        if newly_tried || stale {
            self.touch(url);
        }
    }

    /// We tried `url` and it did not answer. A new address that keeps
    /// failing is forgotten.
    pub fn failed(&mut self, url: &str, now: u64) {
        let Some(address) = self.entries.get_mut(url) else {
            return;
        };
        address.failures = address.failures.saturating_add(1);
        address.last_attempt = Some(now);
        let forget =
            !address.tried && !address.manual && address.failures >= NEW_FAILURES_BEFORE_FORGET;
        if forget {
            self.forget(url);
        } else {
            self.touch(url);
        }
    }

    /// Removes an address (the operator removed it, or it is this node).
    pub fn forget(&mut self, url: &str) {
        if self.entries.remove(url).is_some() {
            self.dirty.remove(url);
            self.removed.insert(url.to_owned());
        }
    }

    fn touch(&mut self, url: &str) {
        self.removed.remove(url);
        self.dirty.insert(url.to_owned());
    }

    /// The addresses the operator gave.
    pub fn manual(&self) -> Vec<String> {
        let mut urls: Vec<String> = self
            .entries
            .values()
            .filter(|a| a.manual)
            .map(|a| a.url.clone())
            .collect();
        urls.sort();
        urls
    }

    /// Addresses worth dialling now, best first, skipping `connected`:
    /// tried ones (latest success first), then new ones (oldest heard
    /// first); an address that failed waits 2^failures seconds (at most a
    /// minute) after its last attempt.
    pub fn candidates(&self, connected: &HashSet<String>, now: u64, limit: usize) -> Vec<String> {
        let ready = |a: &&Address| {
            let wait = 1u64 << a.failures.min(6);
            !a.manual
                && !connected.contains(&a.url)
                && a.last_attempt
                    .is_none_or(|t| a.failures == 0 || now >= t + wait)
        };
        let (mut tried, mut new): (Vec<&Address>, Vec<&Address>) =
            self.entries.values().filter(ready).partition(|a| a.tried);
        tried.sort_by_key(|a| std::cmp::Reverse(a.last_success));
        new.sort_by(|a, b| (a.heard_at, &a.url).cmp(&(b.heard_at, &b.url)));
        tried
            .into_iter()
            .chain(new)
            .take(limit)
            .map(|a| a.url.clone())
            .collect()
    }

    /// What we tell others: addresses we reached or that told us
    /// themselves, latest success first, at most `MAX_SHARED`.
    pub fn shareable(&self) -> Vec<SharedAddress> {
        let mut vouched: Vec<&Address> = self.entries.values().filter(|a| a.vouched()).collect();
        vouched.sort_by_key(|a| (std::cmp::Reverse(a.last_success), a.heard_at));
        vouched
            .into_iter()
            .take(MAX_SHARED)
            .map(|a| SharedAddress {
                url: a.url.clone(),
                last_success: a.last_success,
            })
            .collect()
    }

    /// Every address, for the operator.
    pub fn all(&self) -> Vec<Address> {
        let mut all: Vec<Address> = self.entries.values().cloned().collect();
        all.sort_by(|a, b| (b.tried, &a.url).cmp(&(a.tried, &b.url)));
        all
    }

    /// What changed since the last call: addresses to write, urls to
    /// delete.
    pub fn take_changes(&mut self) -> (Vec<Address>, Vec<String>) {
        let changed = std::mem::take(&mut self.dirty)
            .into_iter()
            .filter_map(|url| self.entries.get(&url).cloned())
            .collect();
        let removed = std::mem::take(&mut self.removed).into_iter().collect();
        (changed, removed)
    }
}

fn oldest_heard(addresses: &[&Address]) -> String {
    addresses
        .iter()
        .min_by(|a, b| (a.heard_at, &a.url).cmp(&(b.heard_at, &b.url)))
        .map(|a| a.url.clone())
        .expect("a full bucket has an oldest address")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(i: usize) -> String {
        format!(
            "http://10.{}.{}.{}:5000/",
            i / 65536 % 256,
            i / 256 % 256,
            i % 256
        )
    }

    #[test]
    fn a_flood_of_addresses_cannot_push_out_the_ones_that_worked() {
        let mut book = AddressBook::default();
        for i in 0..20 {
            book.heard(&url(i), "http://honest:5000/", 1);
            book.succeeded(&url(i), 2);
        }
        book.heard(&url(500), "http://honest:5000/", 3);
        // 100,000 addresses from one stuffer.
        for i in 1000..101_000 {
            book.heard(&url(i), "http://stuffer:5000/", 10);
        }
        // The ones that worked are all there, and so is the honest new one.
        for i in 0..20 {
            assert!(book.get(&url(i)).unwrap().tried);
        }
        assert!(book.get(&url(500)).is_some());
        // The stuffer holds its bucket and no more.
        let stuffed = book
            .all()
            .iter()
            .filter(|a| a.source == "http://stuffer:5000/")
            .count();
        assert_eq!(stuffed, NEW_PER_SOURCE);
        assert!(book.len() <= MAX_NEW + MAX_TRIED);
        // Tried ones are dialled first.
        let first = book.candidates(&HashSet::new(), 20, 5);
        assert!(
            first.iter().all(|u| book.get(u).unwrap().tried),
            "{first:?}"
        );
    }

    #[test]
    fn many_sources_fill_the_table_and_the_largest_gives_way() {
        let mut book = AddressBook::default();
        let mut n = 0;
        for source in 0..40 {
            for _ in 0..40 {
                book.heard(&url(n), &format!("http://s{source}:5000/"), n as u64);
                n += 1;
            }
        }
        assert_eq!(book.len(), MAX_NEW);
        let per_source = |s: usize| {
            book.all()
                .iter()
                .filter(|a| a.source == format!("http://s{s}:5000/"))
                .count()
        };
        // Every source keeps a share; none is wiped out by later ones.
        assert!(
            (0..40).all(|s| per_source(s) >= 20),
            "{:?}",
            (0..40).map(per_source).collect::<Vec<_>>()
        );
    }

    #[test]
    fn new_addresses_that_keep_failing_are_forgotten_tried_ones_are_not() {
        let mut book = AddressBook::default();
        book.heard(&url(1), "http://a:5000/", 0);
        book.heard(&url(2), "http://a:5000/", 0);
        book.succeeded(&url(2), 1);
        for t in 0..5 {
            book.failed(&url(1), 10 + t);
            book.failed(&url(2), 10 + t);
        }
        assert!(book.get(&url(1)).is_none());
        assert_eq!(book.get(&url(2)).unwrap().failures, 5);
        // It waits 2^5 s after its last attempt before it is a candidate.
        assert!(book.candidates(&HashSet::new(), 20, 10).is_empty());
        assert_eq!(book.candidates(&HashSet::new(), 14 + 32, 10), vec![url(2)]);
        let (changed, removed) = book.take_changes();
        assert_eq!(changed.len(), 1);
        assert_eq!(removed, vec![url(1)]);
        assert_eq!(book.take_changes(), (vec![], vec![]));
    }

    #[test]
    fn the_dial_policy_refuses_what_a_peer_should_not_make_us_dial() {
        let mut scopes = Scopes::for_node("10.0.0.1".parse().unwrap(), None);
        scopes.add(super::super::scope::Scope::Loopback);
        let mut policy = DialPolicy {
            ports: (1024, 65535),
            own: HashSet::new(),
            scopes,
        };
        policy.own.insert("http://10.0.0.1:5000/".into());
        let (remote, local) = (false, true);
        assert_eq!(
            policy.admit("http://10.0.0.2:5000", remote).as_deref(),
            Some("http://10.0.0.2:5000/")
        );
        for (refused, why) in [
            ("http://10.0.0.1:5000/", "ourselves"),
            ("http://10.0.0.2:22/", "port range"),
            ("https://10.0.0.2:5000/", "scheme"),
            ("http://10.0.0.2:5000/admin", "path"),
            ("file:///etc/passwd", "not http"),
            ("http://127.0.0.1:5000/", "loopback from afar"),
        ] {
            assert_eq!(policy.admit(refused, remote), None, "{why}");
        }
        assert_eq!(policy.admit("http://localhost:5000/", remote), None);
        assert!(policy.admit("http://127.0.0.1:5001/", local).is_some());
        // A name, even of this machine: it could be pointed anywhere.
        assert_eq!(policy.admit("http://localhost:5001/", local), None);
        assert_eq!(policy.admit("http://node7.lan:5000/", remote), None);
        // Never link-local (cloud metadata), whoever names it.
        assert_eq!(policy.admit("http://169.254.169.254:8080/", local), None);
        assert_eq!(policy.admit("http://[fe80::1]:8080/", local), None);
        // Kinds of network this node does not sit on.
        assert_eq!(policy.admit("http://100.64.0.1:5000/", remote), None);
        assert!(policy.admit("http://192.168.7.7:9200/", remote).is_some());
        assert!(policy.admit("http://8.8.8.8:5000/", remote).is_some());
    }

    #[test]
    fn only_vouched_addresses_are_shared() {
        let mut book = AddressBook::default();
        book.heard(&url(1), "http://a:5000/", 0);
        book.heard(&url(2), "inbound 10.0.0.2", 0);
        book.heard(&url(3), "http://a:5000/", 0);
        book.succeeded(&url(3), 5);
        book.add_manual(&url(4), 0);
        let shared: Vec<String> = book.shareable().into_iter().map(|a| a.url).collect();
        assert_eq!(shared.len(), 3);
        assert!(!shared.contains(&url(1)), "second-hand and never reached");
        assert_eq!(shared[0], url(3), "the one reached lately first");
    }
}
