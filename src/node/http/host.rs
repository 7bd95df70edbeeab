//! Which `Host` a request may name. A web page can make a browser send
//! requests to a node on the browser's own machine by giving its own
//! domain a short DNS lifetime and pointing it at 127.0.0.1 afterwards
//! (DNS rebinding): the browser then thinks the node is the page's own
//! site and lets the page read every answer. Such requests carry the
//! page's domain in `Host`, so a node that listens on loopback (meant
//! for this machine only) answers only to an IP address, `localhost`, the
//! host of its `--advertise` URL and the names given with `--allow-host`,
//! as other local servers (Jupyter, webpack's dev server) do.
//!
//! A node listening on another address has chosen to serve its network:
//! whoever can make a browser reach it could reach it directly, and the
//! names people use for a machine are not known to it, so it answers to
//! any host.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};

#[derive(Clone, Debug, Default)]
pub struct HostPolicy {
    /// False: any host is answered.
    enforce: bool,
    /// Names answered besides IP addresses and `localhost`, lower case.
    names: HashSet<String>,
}

impl HostPolicy {
    /// The policy of a node listening at `listen`, reached by others at
    /// `advertise`, told to answer to `allowed` too.
    pub fn new(listen: SocketAddr, advertise: &str, allowed: &[String]) -> HostPolicy {
        let mut names: HashSet<String> = allowed.iter().map(|n| n.to_ascii_lowercase()).collect();
        if let Some(host) = reqwest::Url::parse(advertise)
            .ok()
            .and_then(|url| url.host_str().map(str::to_ascii_lowercase))
        {
            names.insert(host);
        }
        HostPolicy {
            enforce: listen.ip().is_loopback(),
            names,
        }
    }

    /// True when a request naming `host` (the `Host` header: a name or an
    /// address, with or without a port) is answered.
    pub fn allows(&self, host: Option<&str>) -> bool {
        if !self.enforce {
            return true;
        }
        let Some(host) = host else {
            // HTTP/1.0 without Host: not a browser of this century.
            return true;
        };
        let name = strip_port(host.trim()).to_ascii_lowercase();
        let bare = name.trim_start_matches('[').trim_end_matches(']');
        bare.parse::<IpAddr>().is_ok() || name == "localhost" || self.names.contains(&name)
    }
}

/// `example.com:5000` -> `example.com`; `[::1]:5000` -> `[::1]`; an
/// IPv6 address without brackets or port is left whole.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loopback_node_answers_to_addresses_and_its_names_only() {
        let policy = HostPolicy::new(
            "127.0.0.1:5000".parse().unwrap(),
            "http://node1.lan:5000/",
            &["Jbc.Example".into()],
        );
        for host in [
            "127.0.0.1:5000",
            "127.0.0.1",
            "[::1]:5000",
            "::1",
            "10.1.2.3:80",
            "localhost:5000",
            "LOCALHOST",
            "node1.lan:5000",
            "jbc.example",
        ] {
            assert!(policy.allows(Some(host)), "{host}");
        }
        for host in [
            "evil.example:5000",
            "127.0.0.1.evil.example",
            "localhost.evil.example",
            "node1.lan.evil.example:5000",
            "",
        ] {
            assert!(!policy.allows(Some(host)), "{host}");
        }
    }

    #[test]
    fn a_node_serving_its_network_answers_to_any_name() {
        let policy = HostPolicy::new("0.0.0.0:5000".parse().unwrap(), "http://0.0.0.0:5000/", &[]);
        assert!(policy.allows(Some("alice-laptop:5000")));
        assert!(policy.allows(Some("evil.example")));
    }
}
