//! Finding the rest of the network from one address.
//!
//! - **Telling.** Every request this node makes carries where it listens
//!   (`x-jbc-advertise`, set on the client); a node asked for its status
//!   notes the asker there, in its address book's new table, under the
//!   asker's own IP (`Net::heard_inbound`).
//! - **Swapping lists.** Each peer's status carries its address book's
//!   version; when it changed since we last looked (and at least every 5
//!   minutes), we read its `/v1/addresses` (the addresses it reached or
//!   that told it themselves) into our new table. An idle network spends
//!   nothing on this beyond that 5-minute refresh.
//! - **Dialling.** A connector keeps up to `max_outbound` peers from the
//!   book (tried ones first), besides those the operator gave; a new one
//!   that never answers gives its place back after a few tries.
//! - **Remembering.** What changed in the book is saved every few
//!   seconds, so a restarted node dials its known peers without flags.

use std::sync::Arc;
use std::time::Duration;

use super::super::protocol::AddressesReply;
use super::client::PeerError;
use super::handle::Net;

/// A peer's list is read again after this long even if unchanged.
const EXCHANGE_EVERY: Duration = Duration::from_secs(300);
/// ... and not more often than this when it keeps changing.
const EXCHANGE_AT_MOST: Duration = Duration::from_secs(2);
/// Largest `/v1/addresses` answer read.
const ADDRESSES_CAP: usize = 256 * 1024;
/// How often the connector looks for free places (it is also woken when
/// the book learns an address).
const CONNECT_EVERY: Duration = Duration::from_secs(1);
/// How often the book's changes are saved.
const SAVE_EVERY: Duration = Duration::from_secs(2);

/// Starts the connector and the saver.
pub fn spawn(net: &Arc<Net>) {
    tokio::spawn(connect_loop(Arc::clone(net)));
    tokio::spawn(save_loop(Arc::clone(net)));
}

async fn connect_loop(net: Arc<Net>) {
    loop {
        if net.shutdown.is_requested() {
            return;
        }
        fill_outbound(&net);
        tokio::select! {
            _ = net.learned.notified() => {}
            _ = tokio::time::sleep(CONNECT_EVERY) => {}
            _ = net.shutdown.wait() => return,
        }
    }
}

/// Dials candidates from the book until `max_outbound` places are taken.
fn fill_outbound(net: &Arc<Net>) {
    if !net.config.discover {
        return;
    }
    let max = net.config.max_outbound;
    let taken = net.peers.count_automatic();
    if taken >= max {
        return;
    }
    for url in net.candidates(max - taken) {
        match net.start_peer(&url, true) {
            Ok(true) => tracing::debug!(peer = %url, "dialling a node from the address book"),
            Ok(false) => {}
            Err(e) => {
                tracing::debug!(peer = %url, "{e}");
                return;
            }
        }
    }
}

async fn save_loop(net: Arc<Net>) {
    loop {
        let stopping = tokio::select! {
            _ = tokio::time::sleep(SAVE_EVERY) => false,
            _ = net.shutdown.wait() => true,
        };
        net.save_addresses().await;
        if stopping {
            return;
        }
    }
}

/// Reads `url`'s address list when its book changed since we last did
/// (its status said `version`), or long ago.
pub async fn maybe_exchange(net: &Arc<Net>, url: &str, version: Option<u64>) {
    let seen = net.peers.addresses_seen(url);
    let due = match (seen, version) {
        (None, _) => true,
        (Some((_, at)), _) if at.elapsed() >= EXCHANGE_EVERY => true,
        (Some((old, at)), Some(new)) => old != new && at.elapsed() >= EXCHANGE_AT_MOST,
        (Some(_), None) => false,
    };
    if !due {
        return;
    }
    net.peers.set_addresses_seen(url, version.unwrap_or(0));
    match fetch(net, url).await {
        Ok(learned) if learned > 0 => {
            tracing::debug!(peer = %url, learned, "learned node addresses from a peer");
        }
        Ok(_) => {}
        // A node without the route (an older jbc, or an original) simply
        // has no list to give: not a failure.
        Err(e) => tracing::debug!(peer = %url, "could not read its addresses: {e}"),
    }
}

async fn fetch(net: &Arc<Net>, url: &str) -> Result<usize, PeerError> {
    let timeout = net.client.timeouts().request;
    let body = net
        .client
        .get(&format!("{url}v1/addresses"), ADDRESSES_CAP, timeout)
        .await?;
    net.metrics.address_exchanges.inc();
    net.metrics.address_exchange_bytes.inc_by(body.len() as u64);
    let reply: AddressesReply = serde_json::from_slice(&body)
        .map_err(|e| PeerError::Other(format!("its address list is malformed: {e}")))?;
    let urls: Vec<String> = reply.addresses.into_iter().map(|a| a.url).collect();
    let from_loopback = super::addresses::is_loopback_url(url);
    Ok(net.heard_addresses(&urls, url, from_loopback))
}
