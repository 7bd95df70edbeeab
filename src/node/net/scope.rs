//! What kind of network an IP address is on, and which kinds this node
//! sits on. The dial policy (`addresses::DialPolicy`) dials an address it
//! heard from someone else only in a kind of network it may reach on a
//! stranger's word: never a link-local address (where clouds keep their
//! metadata service, 169.254.169.254), and a loopback, private or shared
//! (carrier NAT) address only when this node itself sits on that kind of
//! network, or its operator named a peer there. A node on a home LAN
//! finds the LAN's other nodes; a node on the internet cannot be made to
//! probe the private network behind it.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// This machine: 127.0.0.0/8, ::1.
    Loopback,
    /// 169.254.0.0/16, fe80::/10: a single link; metadata services live
    /// here. Never dialled on anyone's word.
    LinkLocal,
    /// 10/8, 172.16/12, 192.168/16, fc00::/7.
    Private,
    /// 100.64.0.0/10 (carrier-grade NAT).
    Shared,
    /// Everything routable on the internet.
    Public,
    /// Unspecified, multicast, broadcast, reserved: never a node.
    Unusable,
}

impl Scope {
    pub fn of(ip: IpAddr) -> Scope {
        match ip {
            IpAddr::V4(ip) => v4(ip),
            IpAddr::V6(ip) => ip.to_ipv4_mapped().map_or_else(|| v6(ip), v4),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Scope::Loopback => "loopback",
            Scope::LinkLocal => "link-local",
            Scope::Private => "private",
            Scope::Shared => "shared",
            Scope::Public => "public",
            Scope::Unusable => "unusable",
        }
    }
}

fn v4(ip: Ipv4Addr) -> Scope {
    let [a, b, _, _] = ip.octets();
    if ip.is_loopback() {
        Scope::Loopback
    } else if ip.is_link_local() {
        Scope::LinkLocal
    } else if ip.is_private() {
        Scope::Private
    } else if a == 100 && (64..128).contains(&b) {
        Scope::Shared
    } else if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || a == 0 || a >= 240 {
        Scope::Unusable
    } else {
        Scope::Public
    }
}

fn v6(ip: Ipv6Addr) -> Scope {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Scope::Loopback
    } else if first & 0xffc0 == 0xfe80 {
        Scope::LinkLocal
    } else if first & 0xfe00 == 0xfc00 {
        Scope::Private
    } else if ip.is_unspecified() || ip.is_multicast() {
        Scope::Unusable
    } else {
        Scope::Public
    }
}

/// The kinds of network that may be dialled on a stranger's word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scopes(BTreeSet<Scope>);

impl Scopes {
    /// Public addresses only.
    pub fn public() -> Scopes {
        Scopes([Scope::Public].into())
    }

    /// Public, and the kinds this node sits on: its listening address (all
    /// of the machine's addresses when it listens on every one) and the
    /// address others reach it at.
    pub fn for_node(listen: IpAddr, advertised: Option<IpAddr>) -> Scopes {
        let mut scopes = Scopes::public();
        if listen.is_unspecified() {
            scopes.add(Scope::Loopback);
            for ip in local_addresses() {
                scopes.add(Scope::of(ip));
            }
        } else {
            scopes.add(Scope::of(listen));
        }
        if let Some(ip) = advertised {
            scopes.add(Scope::of(ip));
        }
        scopes
    }

    /// Allows the kind of `ip` (a peer the operator named there), except
    /// what is never allowed.
    pub fn add(&mut self, scope: Scope) {
        if !matches!(scope, Scope::LinkLocal | Scope::Unusable) {
            self.0.insert(scope);
        }
    }

    pub fn allows(&self, ip: IpAddr) -> bool {
        self.0.contains(&Scope::of(ip))
    }

    /// For the log: "public, private".
    pub fn names(&self) -> String {
        self.0
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The addresses of this machine's network interfaces (none if the
/// system will not say).
fn local_addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list it allocates, or
    // fails and leaves it alone; every node read below belongs to that
    // list, and freeifaddrs releases it once, after the last read.
    unsafe {
        if libc::getifaddrs(&mut list) != 0 {
            return out;
        }
        let mut node = list;
        while !node.is_null() {
            let address = (*node).ifa_addr;
            if !address.is_null() {
                match i32::from((*address).sa_family) {
                    libc::AF_INET => {
                        let v4 = &*(address as *const libc::sockaddr_in);
                        out.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr))));
                    }
                    libc::AF_INET6 => {
                        let v6 = &*(address as *const libc::sockaddr_in6);
                        out.push(IpAddr::V6(Ipv6Addr::from(v6.sin6_addr.s6_addr)));
                    }
                    _ => {}
                }
            }
            node = (*node).ifa_next;
        }
        libc::freeifaddrs(list);
    }
    out
}

/// The group a source address counts in, for the bounds a stranger meets
/// (connections, body bytes, the pool's shares): a public address's IPv4
/// /24 or IPv6 /64, so that owning many addresses of one network buys
/// nothing; an address of this machine or of a private or link-local
/// network alone. Those are the operator's own machines, and a private
/// network of many nodes puts them all in one /24: counted as one, 64
/// nodes filled a node's 128 places (each holds two connections to every
/// peer it dialled), and the rest could not join.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SourceGroup(IpAddr);

impl SourceGroup {
    pub fn of(ip: IpAddr) -> SourceGroup {
        let ip = ip.to_canonical();
        SourceGroup(match (ip, Scope::of(ip)) {
            (ip, Scope::Loopback | Scope::Private | Scope::LinkLocal) => ip,
            (IpAddr::V4(v4), _) => IpAddr::V4((u32::from(v4) & 0xffff_ff00).into()),
            (IpAddr::V6(v6), _) => IpAddr::V6((u128::from(v6) & !0u128 << 64).into()),
        })
    }
}

impl std::fmt::Display for SourceGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.0, Scope::of(self.0)) {
            (ip, Scope::Loopback | Scope::Private | Scope::LinkLocal) => write!(f, "{ip}"),
            (IpAddr::V4(ip), _) => write!(f, "{ip}/24"),
            (IpAddr::V6(ip), _) => write!(f, "{ip}/64"),
        }
    }
}

/// The IP address a base URL names, if it names one (not a host name).
pub fn ip_of(url: &str) -> Option<IpAddr> {
    let parsed = reqwest::Url::parse(url).ok()?;
    parsed.host_str()?.trim_matches(['[', ']']).parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(text: &str) -> Scope {
        Scope::of(text.parse().unwrap())
    }

    #[test]
    fn addresses_are_sorted_into_kinds_of_network() {
        use Scope::*;
        for (text, kind) in [
            ("127.0.0.1", Loopback),
            ("127.9.8.7", Loopback),
            ("::1", Loopback),
            ("169.254.169.254", LinkLocal),
            ("fe80::1", LinkLocal),
            ("10.1.2.3", Private),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("192.168.7.7", Private),
            ("fd00::1", Private),
            ("100.64.0.1", Shared),
            ("100.127.255.255", Shared),
            ("100.128.0.1", Public),
            ("172.32.0.1", Public),
            ("8.8.8.8", Public),
            ("2001:db8::1", Public),
            ("::ffff:10.0.0.1", Private),
            ("::ffff:169.254.169.254", LinkLocal),
            ("0.0.0.0", Unusable),
            ("255.255.255.255", Unusable),
            ("224.0.0.1", Unusable),
            ("240.0.0.1", Unusable),
            ("::", Unusable),
            ("ff02::1", Unusable),
        ] {
            assert_eq!(scope(text), kind, "{text}");
        }
    }

    #[test]
    fn a_node_may_dial_the_kinds_of_network_it_sits_on_and_never_link_local() {
        let loopback = Scopes::for_node("127.0.0.1".parse().unwrap(), None);
        assert!(loopback.allows("127.0.0.1".parse().unwrap()));
        assert!(loopback.allows("8.8.8.8".parse().unwrap()));
        assert!(!loopback.allows("10.0.0.1".parse().unwrap()));
        assert!(!loopback.allows("169.254.169.254".parse().unwrap()));
        let lan = Scopes::for_node("192.168.1.5".parse().unwrap(), None);
        assert!(lan.allows("192.168.1.9".parse().unwrap()));
        assert!(lan.allows("10.0.0.1".parse().unwrap()));
        assert!(!lan.allows("127.0.0.1".parse().unwrap()));
        assert!(!lan.allows("100.64.0.1".parse().unwrap()));
        let mut told = Scopes::public();
        told.add(Scope::LinkLocal);
        told.add(Scope::Shared);
        assert!(!told.allows("169.254.169.254".parse().unwrap()));
        assert!(told.allows("100.64.0.1".parse().unwrap()));
        // Every address: loopback and whatever the machine's interfaces are.
        let everywhere = Scopes::for_node("0.0.0.0".parse().unwrap(), None);
        assert!(everywhere.allows("127.0.0.1".parse().unwrap()));
        assert!(!everywhere.allows("169.254.169.254".parse().unwrap()));
    }
}
