//! Listen: news from the peers this node dialled. Relay pushes blocks
//! only to the peers a node dialled, so without this a node that only
//! asks (it is in nobody's list, or behind NAT) would hear of a block only
//! when its own sync round polls. So each jbc peer we dialled is asked for
//! its tip announcements (`GET /v1/events?only=tip`, server-sent events)
//! on one long-lived connection, and the link carries news both ways:
//! ours go out by relay, theirs come in here.
//!
//! An announcement is only a hint (a hash, a height, a chain work). A tip
//! with more work than ours wakes that peer's sync loop, which fetches
//! only what we lack and blames the peer as any sync does. Several peers
//! announcing the same block cost one fetch: the first claims it
//! (`Net::claim_fetch`); the others wait until that claim lapses and
//! fetch it themselves only if it has still not arrived (the first was
//! slow or lied).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::store::Tip;

use super::client::PeerError;
use super::handle::Net;
use super::peers::PeerKind;
use super::sync::SyncSignals;

/// The route and filter asked for.
const ROUTE: &str = "v1/events?only=tip";
/// The longest event read; a node of an earlier version ignores `only`
/// and sends every event, block events with their data included.
const MAX_EVENT: usize = 1024 * 1024;
/// A server sends at least a keep-alive comment every 15 s; silence this
/// long means the connection is dead.
const SILENCE: Duration = Duration::from_secs(45);
/// A connection is renewed after this long, so none is held for ever.
const LIFETIME: Duration = Duration::from_secs(600);
/// Waits before asking again after a failure: the first, then doubling.
const RETRY_FIRST: Duration = Duration::from_secs(2);
const RETRY_MOST: Duration = Duration::from_secs(60);

/// Starts listening to the peer at `url`, once its sync loop's first
/// round is over; what it hears wakes that loop.
pub fn spawn(net: Arc<Net>, url: String, signals: Arc<SyncSignals>) {
    tokio::spawn(async move {
        tokio::select! {
            _ = signals.first_round_done.notified() => {}
            _ = net.shutdown.wait() => return,
        }
        let mut retry = RETRY_FIRST;
        loop {
            let Some(kind) = net.peers.sync_view(&url).map(|(kind, _)| kind) else {
                return; // removed
            };
            // An original has no events, and this node needs none of its own.
            if matches!(kind, PeerKind::Original | PeerKind::Myself) {
                return;
            }
            let started = Instant::now();
            let result = tokio::select! {
                result = listen(&net, &url, &signals) => result,
                _ = net.shutdown.wait() => return,
            };
            match result {
                Ok(()) => retry = RETRY_FIRST,
                Err(PeerError::Status { status: 404, .. }) if kind == PeerKind::Unknown => {
                    // Not a jbc node, most likely; its sync loop will tell.
                }
                Err(e) => tracing::debug!(peer = %url, "announcements: {e}"),
            }
            if started.elapsed() > RETRY_MOST {
                retry = RETRY_FIRST;
            }
            tokio::select! {
                _ = tokio::time::sleep(retry) => {}
                _ = net.shutdown.wait() => return,
            }
            retry = (retry * 2).min(RETRY_MOST);
        }
    });
}

/// One connection: reads announcements until it ends, fails or lapses;
/// `signals.hearing` says so meanwhile.
async fn listen(net: &Arc<Net>, url: &str, signals: &SyncSignals) -> Result<(), PeerError> {
    let mut stream = net
        .client
        .listen(&format!("{url}{ROUTE}"), LIFETIME, SILENCE)
        .await?;
    let _hearing = Hearing::new(&signals.hearing);
    let wake = &signals.wake;
    let mut pending = Vec::new();
    // An announcement another peer claimed first: fetched from this one
    // if it has not arrived when that claim lapses.
    let mut waiting: Option<(Tip, Instant)> = None;
    loop {
        let retry_at = waiting.map(|(_, at)| at);
        let chunk = tokio::select! {
            chunk = stream.next() => chunk?,
            _ = sleep_until(retry_at) => {
                if let Some((tip, _)) = waiting.take() {
                    waiting = heard(net, url, wake, tip);
                }
                continue;
            }
        };
        let Some(chunk) = chunk else {
            return Ok(());
        };
        if net.peers.sync_view(url).is_none() {
            return Ok(()); // no longer a peer
        }
        pending.extend_from_slice(&chunk);
        while let Some(end) = find(&pending, b"\n\n") {
            let event: Vec<u8> = pending.drain(..end + 2).collect();
            if let Some(tip) = announced_tip(&event) {
                waiting = heard(net, url, wake, tip).or(waiting);
            }
        }
        if pending.len() > MAX_EVENT {
            return Err(PeerError::TooLarge { limit: MAX_EVENT });
        }
    }
}

/// Acts on a tip a peer announced: wakes its sync when the tip has more
/// work than ours and nobody fetches it yet; when another peer does, the
/// tip and when to look again.
fn heard(net: &Net, url: &str, wake: &Notify, tip: Tip) -> Option<(Tip, Instant)> {
    if tip.chain_work <= net.chain.tip().chain_work {
        return None;
    }
    match net.claim_fetch(tip.hash) {
        Ok(()) => {
            tracing::debug!(peer = %url, index = tip.index.0, "announced a tip with more work; fetching");
            wake.notify_one();
            None
        }
        Err(lapses) => Some((tip, lapses)),
    }
}

/// The tip of a `tip` event (`data: {"type":"tip",...}`); `None` for any
/// other event, a comment or something unreadable.
fn announced_tip(event: &[u8]) -> Option<Tip> {
    #[derive(serde::Deserialize)]
    struct Announcement {
        #[serde(rename = "type")]
        kind: String,
        #[serde(flatten)]
        tip: Tip,
    }
    let text = std::str::from_utf8(event).ok()?;
    let data = text.lines().find_map(|line| line.strip_prefix("data:"))?;
    let announcement: Announcement = serde_json::from_str(data.trim()).ok()?;
    (announcement.kind == "tip").then_some(announcement.tip)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// `hearing` set while this lives.
struct Hearing<'a>(&'a AtomicBool);

impl<'a> Hearing<'a> {
    fn new(flag: &'a AtomicBool) -> Hearing<'a> {
        flag.store(true, Ordering::Relaxed);
        Hearing(flag)
    }
}

impl Drop for Hearing<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_tip_of_a_tip_event_and_nothing_else() {
        let hash = "00".repeat(32);
        let event = format!(
            "data: {{\"type\":\"tip\",\"index\":7,\"hash\":\"{hash}\",\"chain_work\":\"8388608\",\"fork_index\":6,\"disconnected\":0,\"connected\":1}}\n\n"
        );
        let tip = announced_tip(event.as_bytes()).expect("a tip");
        assert_eq!(tip.index.0, 7);
        assert_eq!(tip.chain_work.to_string(), "8388608");
        let block = "data: {\"type\":\"mining\",\"mining\":true}\n\n";
        assert!(announced_tip(block.as_bytes()).is_none());
        assert!(announced_tip(b": keep-alive\n\n").is_none());
        assert!(announced_tip(b"data: {\"type\":\"tip\",\"index\":\"x\"}\n\n").is_none());
    }
}
