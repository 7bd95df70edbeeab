//! What a devnet tells the person who started it while it runs: one line
//! per event worth their attention, the time first. The devnet learns
//! what happens from each node's `/v1/events` stream (server-sent events:
//! `data: {json}` lines), read here over plain HTTP, and says: a reorg
//! (a `tip` event that took blocks off a main chain), a node that stops
//! answering or answers again, and, without chaos (whose own lines say
//! it), a node losing or finding its link to another. Blocks are not worth
//! a line each: every node's log has them (`DIR/node-N.log`), and `-v`
//! prints those logs through.
//!
//! Nodes are named as the devnet numbers them ("node 1"), never by a URL
//! or a proxy's port.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;

/// A node that sends nothing for this long (the events stream sends a
/// keep-alive every 15 s) is taken as not answering.
const SILENCE: Duration = Duration::from_secs(20);
/// How long opening a node's events stream may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(3);
/// How often a node that does not answer is asked again.
const RETRY: Duration = Duration::from_secs(1);

/// Prints a line of the devnet, after the local time (`HH:MM:SS`).
pub fn say(text: impl std::fmt::Display) {
    println!("{} {text}", clock());
}

/// The local time of day, `HH:MM:SS`.
fn clock() -> String {
    let Ok(now) = libc::time_t::try_from(jbc::clock::unix_seconds()) else {
        return "--:--:--".into();
    };
    // SAFETY: an all-zero `tm` is a valid value of this plain C struct.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: localtime_r reads `now` and fills `tm`, both valid for the call.
    if unsafe { libc::localtime_r(&now, &mut tm) }.is_null() {
        return "--:--:--".into();
    }
    format!("{:02}:{:02}:{:02}", tm.tm_hour, tm.tm_min, tm.tm_sec)
}

/// The devnet's names for the URLs its nodes know each other by: a node's
/// own URL, or (with chaos) the proxy through which another node reaches
/// it.
pub struct Names {
    /// (URL, the node it leads to, the proxy's port when it is one).
    urls: Vec<(String, usize, Option<u16>)>,
}

impl Names {
    /// `node_urls[i]` is node i's own URL; `proxies` lists (port, node)
    /// for each proxy in front of a node.
    pub fn new(node_urls: &[String], proxies: &[(u16, usize)]) -> Names {
        let own = node_urls.iter().enumerate();
        let proxied = proxies
            .iter()
            .map(|(port, node)| (format!("http://127.0.0.1:{port}/"), *node, Some(*port)));
        let urls = own.map(|(i, url)| (url.clone(), i, None)).chain(proxied);
        Names {
            urls: urls.collect(),
        }
    }

    /// The node a URL leads to.
    pub fn node(&self, url: &str) -> Option<usize> {
        self.urls
            .iter()
            .find(|(u, ..)| u == url)
            .map(|(_, i, _)| *i)
    }

    /// A node log line with every peer URL in it (as the log quotes it: a
    /// field's value ending with the URL) named: `node 1`, or `node 1 via
    /// proxy 127.0.0.1:5004`.
    pub fn rename(&self, line: &str) -> String {
        let mut line = line.to_owned();
        for (url, node, proxy) in &self.urls {
            let quoted = format!("{url}\"");
            if line.contains(&quoted) {
                let name = match proxy {
                    Some(port) => format!("node {node} via proxy 127.0.0.1:{port}\""),
                    None => format!("node {node}\""),
                };
                line = line.replace(&quoted, &name);
            }
        }
        line
    }
}

/// What a watcher saw of one node.
pub enum Seen {
    /// An event of node `.0`'s stream.
    Event(usize, Value),
    /// The node stopped answering.
    Down(usize),
    /// It answers again.
    Back(usize),
}

/// Starts one watcher per node: each reads the node's events stream, and
/// reopens it when it ends, until the receiver is dropped.
pub fn watch_all(urls: &[String]) -> mpsc::UnboundedReceiver<Seen> {
    let (sender, receiver) = mpsc::unbounded_channel();
    for (i, url) in urls.iter().enumerate() {
        tokio::spawn(watch(i, url.clone(), sender.clone()));
    }
    receiver
}

async fn watch(node: usize, url: String, seen: mpsc::UnboundedSender<Seen>) {
    let Ok(client) = reqwest::Client::builder()
        .connect_timeout(OPEN_TIMEOUT)
        .no_proxy()
        .build()
    else {
        return;
    };
    let mut down = false;
    loop {
        let opened =
            tokio::time::timeout(OPEN_TIMEOUT, client.get(format!("{url}v1/events")).send()).await;
        match opened {
            Ok(Ok(mut answer)) if answer.status().is_success() => {
                if std::mem::take(&mut down) && seen.send(Seen::Back(node)).is_err() {
                    return;
                }
                let mut stream = EventStream::default();
                // Until the stream ends, fails, or falls silent.
                while let Ok(Ok(Some(bytes))) = tokio::time::timeout(SILENCE, answer.chunk()).await
                {
                    for event in stream.feed(&bytes) {
                        if seen.send(Seen::Event(node, event)).is_err() {
                            return;
                        }
                    }
                }
                // Ended: reopen at once; only a node that then does not
                // answer is down.
            }
            _ => {
                if !std::mem::replace(&mut down, true) && seen.send(Seen::Down(node)).is_err() {
                    return;
                }
                if seen.is_closed() {
                    return;
                }
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

/// Server-sent events, parsed from the bytes as they come: the JSON of
/// each default event (`data:` lines up to a blank line); named events
/// (`lagged`) and comments (keep-alives) are skipped.
#[derive(Default)]
struct EventStream {
    pending: Vec<u8>,
    data: String,
    named: bool,
}

impl EventStream {
    fn feed(&mut self, bytes: &[u8]) -> Vec<Value> {
        self.pending.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if !self.named
                    && let Ok(event) = serde_json::from_str::<Value>(&self.data)
                {
                    events.push(event);
                }
                self.data.clear();
                self.named = false;
            } else if let Some(data) = line.strip_prefix("data:") {
                if !self.data.is_empty() {
                    self.data.push('\n');
                }
                self.data.push_str(data.strip_prefix(' ').unwrap_or(data));
            } else if line.starts_with("event:") {
                self.named = true;
            }
        }
        events
    }
}

/// Turns what the watchers see into lines for a person, and counts the
/// reorgs.
pub struct Narrator {
    names: Arc<Names>,
    /// With chaos, links going down and up are the chaos's own doing, and
    /// its lines say so.
    chaos: bool,
    /// Links (node, peer URL) said to be lost, so that finding them again
    /// is said once.
    lost: HashSet<(usize, String)>,
    pub reorgs: u64,
}

impl Narrator {
    pub fn new(names: Arc<Names>, chaos: bool) -> Narrator {
        Narrator {
            names,
            chaos,
            lost: HashSet::new(),
            reorgs: 0,
        }
    }

    /// What to say about `seen`, if anything.
    pub fn line(&mut self, seen: &Seen) -> Option<String> {
        match seen {
            Seen::Down(i) => Some(format!("node {i} does not answer")),
            Seen::Back(i) => Some(format!("node {i} answers again")),
            Seen::Event(i, event) => match event["type"].as_str()? {
                "tip" => self.tip(*i, event),
                "peer" if !self.chaos => self.peer(*i, event),
                _ => None,
            },
        }
    }

    fn tip(&mut self, node: usize, event: &Value) -> Option<String> {
        let disconnected = event["disconnected"].as_u64()?;
        if disconnected == 0 {
            return None;
        }
        self.reorgs += 1;
        let hash = event["hash"].as_str().unwrap_or("");
        Some(format!(
            "node {node} reorg: {disconnected} block{} replaced by {} from block {}; tip now block {} {}",
            if disconnected == 1 { "" } else { "s" },
            event["connected"].as_u64().unwrap_or(0),
            event["fork_index"].as_u64().unwrap_or(0) + 1,
            event["index"].as_u64().unwrap_or(0),
            hash.get(..16).unwrap_or(hash),
        ))
    }

    fn peer(&mut self, node: usize, event: &Value) -> Option<String> {
        let url = event["url"].as_str()?;
        let peer = self
            .names
            .node(url)
            .map_or_else(|| url.to_owned(), |j| format!("node {j}"));
        let key = (node, url.to_owned());
        if event["state"].as_str()? == "up" {
            return self
                .lost
                .remove(&key)
                .then(|| format!("node {node} reaches {peer} again"));
        }
        if !self.lost.insert(key) {
            return None;
        }
        let why = event["trouble"]
            .as_str()
            .map(|t| format!(" ({t})"))
            .unwrap_or_default();
        Some(format!("node {node} lost its link to {peer}{why}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_sent_events_are_read_across_chunks() {
        let mut stream = EventStream::default();
        assert!(stream.feed(b"data: {\"type\":\"ti").is_empty());
        let events = stream.feed(b"p\",\"disconnected\":2}\n\n:\n\nevent: lagged\ndata: 5\n\n");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["disconnected"], 2);
    }

    #[test]
    fn reorgs_are_said_and_counted_forward_moves_are_not() {
        let names = Names::new(&["http://127.0.0.1:5000/".into()], &[]);
        let mut narrator = Narrator::new(Arc::new(names), false);
        let forward = serde_json::json!({"type": "tip", "index": 7, "hash": "00ab", "fork_index": 6, "disconnected": 0, "connected": 1});
        assert_eq!(narrator.line(&Seen::Event(0, forward)), None);
        let reorg = serde_json::json!({"type": "tip", "index": 9, "hash": "0000a3f1c2b4e5d6aaaa", "fork_index": 6, "disconnected": 2, "connected": 3});
        assert_eq!(
            narrator.line(&Seen::Event(1, reorg)).as_deref(),
            Some(
                "node 1 reorg: 2 blocks replaced by 3 from block 7; tip now block 9 0000a3f1c2b4e5d6"
            )
        );
        assert_eq!(narrator.reorgs, 1);
    }

    #[test]
    fn links_are_named_by_node_and_said_once_each_way() {
        let urls = ["5000", "5001"].map(|port| format!("http://127.0.0.1:{port}/"));
        let mut narrator = Narrator::new(Arc::new(Names::new(&urls, &[])), false);
        let down = serde_json::json!({"type": "peer", "url": "http://127.0.0.1:5001/", "state": "down", "trouble": "refused"});
        let up =
            serde_json::json!({"type": "peer", "url": "http://127.0.0.1:5001/", "state": "up"});
        assert_eq!(narrator.line(&Seen::Event(0, up.clone())), None);
        assert_eq!(
            narrator.line(&Seen::Event(0, down.clone())).as_deref(),
            Some("node 0 lost its link to node 1 (refused)")
        );
        assert_eq!(narrator.line(&Seen::Event(0, down)), None);
        assert_eq!(
            narrator.line(&Seen::Event(0, up)).as_deref(),
            Some("node 0 reaches node 1 again")
        );
    }

    #[test]
    fn proxies_are_named_by_the_node_behind_them() {
        let urls = ["5000", "5001"].map(|port| format!("http://127.0.0.1:{port}/"));
        let names = Names::new(&urls, &[(5003, 1)]);
        assert_eq!(names.node("http://127.0.0.1:5003/"), Some(1));
        assert_eq!(
            names.rename(r#"WARN peer down peer="http://127.0.0.1:5003/" state="down""#),
            r#"WARN peer down peer="node 1 via proxy 127.0.0.1:5003" state="down""#
        );
        assert_eq!(
            names.rename(r#"source="relayed by http://127.0.0.1:5001/""#),
            r#"source="relayed by node 1""#
        );
        // Not a peer field: left as it is.
        let own = "jbc node on http://127.0.0.1:5000/ (data in devnet/node-0)";
        assert_eq!(names.rename(own), own);
    }
}
