//! drake's network policy (api.md §8): which URLs and addresses a fetch may
//! reach. One implementation for both runtimes of a task: drake's host
//! (every fetch and `wasi:http` request of a component) and the Spin entry
//! point of the SDK (where only IP-literal hosts can be judged; names are
//! Spin's `allowed_outbound_hosts`).
//!
//! [`NetworkPolicy`] is immutable: built once from the allow-list and port
//! list, then shared. It only *decides*; it never does I/O. A fetcher asks it
//! twice per hop:
//!
//! - [`NetworkPolicy::check_url`] before anything touches the network (scheme,
//!   port, and the address itself when the host is an IP literal), and again
//!   on every redirect hop;
//! - [`NetworkPolicy::check_ip`] at connect time, for every address DNS
//!   returned for a host name, so the address that is actually dialled is the
//!   one that was checked (no DNS-rebinding window).
//!
//! Private, loopback, link-local and other special-purpose ranges are blocked
//! by default, including IPv4 addresses smuggled inside IPv6 (IPv4-mapped,
//! IPv4-compatible, 6to4, NAT64, Teredo). The allow-list (CIDRs, IPs, host
//! names, `*.suffix` wildcards) is the only way to open an exception; the test
//! suite uses it for its loopback fixture server.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use url::{Host, Url};

/// Ports a URL may use when its host is not allow-listed.
///
/// Why 80 and 443: they are the only ports public media origins use in
/// practice, and refusing every other port keeps a fetch from probing internal
/// services (Redis on 6379, admin UIs on 8080, SMTP on 25) on hosts that happen
/// to be publicly addressable.
pub const DEFAULT_ALLOWED_PORTS: [u16; 2] = [80, 443];

/// Why a URL or address was refused. [`DenyReason::as_str`] is the stable
/// snake_case value logged as `error.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DenyReason {
    /// The scheme is not `http` or `https` (`file:`, `ftp:`, `gopher:`, …).
    SchemeNotAllowed,
    /// The port is not in the allowed port list and the host is not allow-listed.
    PortNotAllowed,
    /// The URL has no host to connect to.
    MissingHost,
    /// The destination address is in a blocked range.
    DestinationIpProhibited,
}

impl DenyReason {
    /// The stable snake_case name, for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SchemeNotAllowed => "scheme_not_allowed",
            Self::PortNotAllowed => "port_not_allowed",
            Self::MissingHost => "missing_host",
            Self::DestinationIpProhibited => "destination_ip_prohibited",
        }
    }
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A policy refusal: a stable [`DenyReason`] plus a readable message naming
/// the offending value, e.g. `169.254.169.254 is a link-local address`.
///
/// A name's resolved address is for the operator's log only
/// ([`Denied::message`]); the requester sees [`Denied::public`], which
/// does not say what the name resolved to — else every refusal would
/// answer an internal DNS query for whoever sends a URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Denied {
    reason: DenyReason,
    message: String,
    /// What the requester may read, when it differs from `message`.
    public: Option<String>,
}

impl Denied {
    fn new(reason: DenyReason, message: String) -> Self {
        Self {
            reason,
            message,
            public: None,
        }
    }

    /// The stable reason code.
    pub fn reason(&self) -> DenyReason {
        self.reason
    }

    /// The whole message, for the operator (also the `Display` output).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The message for whoever asked for the URL: the same, except that a
    /// name's resolved addresses are not told.
    pub fn public(&self) -> &str {
        self.public.as_deref().unwrap_or(&self.message)
    }
}

/// An invalid network policy configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// An allow-list entry is not a CIDR, an IP address, a host name or a
    /// `*.suffix` wildcard.
    #[error("invalid network allow-list entry {entry:?}: {problem}")]
    InvalidAllowEntry {
        /// The entry as written in the configuration.
        entry: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// Port 0 cannot be dialled, so listing it is a configuration mistake.
    #[error("invalid allowed port 0")]
    InvalidPort,
}

/// The kind of special-purpose range an address falls in; the text is what
/// appears in denial messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RangeKind {
    Unspecified,
    Loopback,
    Private,
    SharedCgnat,
    LinkLocal,
    IetfProtocol,
    Documentation,
    SixToFourRelay,
    Benchmarking,
    Multicast,
    Broadcast,
    Reserved,
    Discard,
    Teredo,
    Nat64LocalUse,
    UniqueLocal,
    SiteLocal,
    NotGlobalUnicast,
}

impl RangeKind {
    /// A noun phrase with its article, to follow "is".
    fn phrase(self) -> &'static str {
        match self {
            Self::Unspecified => "an unspecified (\"this network\") address",
            Self::Loopback => "a loopback address",
            Self::Private => "a private (RFC 1918) address",
            Self::SharedCgnat => "a carrier-grade NAT (RFC 6598) address",
            Self::LinkLocal => "a link-local address",
            Self::IetfProtocol => "an IETF protocol assignment (192.0.0.0/24) address",
            Self::Documentation => "a documentation-only address",
            Self::SixToFourRelay => "a deprecated 6to4 relay anycast address",
            Self::Benchmarking => "a benchmarking address",
            Self::Multicast => "a multicast address",
            Self::Broadcast => "the broadcast address",
            Self::Reserved => "a reserved (240.0.0.0/4) address",
            Self::Discard => "a discard-only (100::/64) address",
            Self::Teredo => "a Teredo tunnel address",
            Self::Nat64LocalUse => "a local-use NAT64 (64:ff9b:1::/48) address",
            Self::UniqueLocal => "a unique local (ULA, fc00::/7) address",
            Self::SiteLocal => "a deprecated site-local (fec0::/10) address",
            Self::NotGlobalUnicast => "an IPv6 address outside global unicast (2000::/3)",
        }
    }
}

/// Blocked IPv4 ranges, each with why a media fetch must never reach it.
/// `255.255.255.255` comes before `240.0.0.0/4`, which contains it.
const BLOCKED_V4: &[(Ipv4Net, RangeKind)] = &[
    // "This network": connecting to 0.0.0.0 reaches the local host on Linux.
    (v4(0, 0, 0, 0, 8), RangeKind::Unspecified),
    // RFC 1918 private: internal services behind the deployment's firewall.
    (v4(10, 0, 0, 0, 8), RangeKind::Private),
    // RFC 6598 shared address space: the provider's side of a carrier NAT.
    (v4(100, 64, 0, 0, 10), RangeKind::SharedCgnat),
    // Loopback: the host itself, including drake's own API and admin ports.
    (v4(127, 0, 0, 0, 8), RangeKind::Loopback),
    // Link-local: includes 169.254.169.254, the cloud metadata/credentials endpoint.
    (v4(169, 254, 0, 0, 16), RangeKind::LinkLocal),
    // RFC 1918 private.
    (v4(172, 16, 0, 0, 12), RangeKind::Private),
    // IETF protocol assignments (DS-Lite, PCP anycast, …): never a media origin.
    (v4(192, 0, 0, 0, 24), RangeKind::IetfProtocol),
    // TEST-NET-1 documentation range: not routed, so any use is a mistake or a probe.
    (v4(192, 0, 2, 0, 24), RangeKind::Documentation),
    // Deprecated 6to4 relay anycast (RFC 7526): reaches whichever relay is nearest.
    (v4(192, 88, 99, 0, 24), RangeKind::SixToFourRelay),
    // RFC 1918 private.
    (v4(192, 168, 0, 0, 16), RangeKind::Private),
    // Benchmarking (RFC 2544): lab networks, often internal.
    (v4(198, 18, 0, 0, 15), RangeKind::Benchmarking),
    // TEST-NET-2 documentation range.
    (v4(198, 51, 100, 0, 24), RangeKind::Documentation),
    // TEST-NET-3 documentation range.
    (v4(203, 0, 113, 0, 24), RangeKind::Documentation),
    // Multicast: not a unicast HTTP destination.
    (v4(224, 0, 0, 0, 4), RangeKind::Multicast),
    // Limited broadcast: reaches every host on the local segment.
    (v4(255, 255, 255, 255, 32), RangeKind::Broadcast),
    // Reserved for future use: not routed on the internet.
    (v4(240, 0, 0, 0, 4), RangeKind::Reserved),
];

/// Blocked IPv6 ranges that carry no IPv4 address (those that do are
/// unwrapped in [`classify_v6`] first). The last entry is a catch-all: every
/// other address outside 2000::/3 is unassigned or special-purpose.
const BLOCKED_V6: &[(Ipv6Net, RangeKind)] = &[
    // Discard-only prefix (RFC 6666): black-hole routes, never a real origin.
    (v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64), RangeKind::Discard),
    // Teredo (RFC 4380): the client IPv4 is obfuscated and the relay path is
    // not ours to control, so every Teredo address is refused outright.
    (v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32), RangeKind::Teredo),
    // Benchmarking (RFC 5180): lab networks.
    (
        v6([0x2001, 2, 0, 0, 0, 0, 0, 0], 48),
        RangeKind::Benchmarking,
    ),
    // Documentation (RFC 3849): not routed.
    (
        v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32),
        RangeKind::Documentation,
    ),
    // Documentation (RFC 9637): not routed.
    (
        v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20),
        RangeKind::Documentation,
    ),
    // Unique local addresses: the IPv6 equivalent of RFC 1918.
    (v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7), RangeKind::UniqueLocal),
    // Link-local: the local segment only.
    (v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), RangeKind::LinkLocal),
    // Deprecated site-local: still treated as internal by some stacks.
    (v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10), RangeKind::SiteLocal),
    // Multicast: not a unicast HTTP destination.
    (v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), RangeKind::Multicast),
];

/// Global unicast space; anything outside it not handled above is refused.
const GLOBAL_UNICAST_V6: Ipv6Net = v6([0x2000, 0, 0, 0, 0, 0, 0, 0], 3);

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len)
}

const fn v6(s: [u16; 8], len: u8) -> Ipv6Net {
    Ipv6Net::new_assert(
        Ipv6Addr::new(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]),
        len,
    )
}

/// Why an address is blocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Blocked {
    /// The address itself is in a blocked range.
    Direct(RangeKind),
    /// An IPv6 address embeds an IPv4 address that is in a blocked range.
    Embedded {
        via: &'static str,
        v4: Ipv4Addr,
        kind: RangeKind,
    },
}

fn classify_v4(ip: Ipv4Addr) -> Option<RangeKind> {
    BLOCKED_V4
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|&(_, kind)| kind)
}

/// The IPv4 address an IPv6 address carries, and the name of the mechanism,
/// for the transition formats whose embedding is fixed by the prefix.
fn embedded_v4(ip: Ipv6Addr) -> Option<(&'static str, Ipv4Addr)> {
    let s = ip.segments();
    let low32 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        // ::ffff:a.b.c.d — dual-stack sockets dial the IPv4 address directly.
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(("an IPv4-mapped", low32)),
        // ::ffff:0:a.b.c.d — SIIT "IPv4-translated" (RFC 2765).
        [0, 0, 0, 0, 0xffff, 0, _, _] => Some(("an IPv4-translated", low32)),
        // ::a.b.c.d — deprecated IPv4-compatible (:: and ::1 are handled earlier).
        [0, 0, 0, 0, 0, 0, _, _] => Some(("an IPv4-compatible", low32)),
        // 64:ff9b::a.b.c.d — well-known NAT64 prefix (RFC 6052): the
        // translator dials the embedded address.
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(("a NAT64", low32)),
        // 2002:AABB:CCDD::/48 — 6to4 (RFC 3056): the relay dials the IPv4 in bits 16..48.
        [0x2002, hi, lo, ..] => Some((
            "a 6to4",
            Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8),
        )),
        _ => None,
    }
}

fn classify_v6(ip: Ipv6Addr) -> Option<Blocked> {
    if ip.is_unspecified() {
        // `::` — like 0.0.0.0, reaches the local host.
        return Some(Blocked::Direct(RangeKind::Unspecified));
    }
    if ip.is_loopback() {
        return Some(Blocked::Direct(RangeKind::Loopback));
    }
    if let Some((via, v4)) = embedded_v4(ip) {
        return classify_v4(v4).map(|kind| Blocked::Embedded { via, v4, kind });
    }
    // Local-use NAT64 (RFC 8215): the operator picks where the IPv4 sits
    // inside the /48, so it cannot be checked reliably; refuse it all.
    if v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48).contains(&ip) {
        return Some(Blocked::Direct(RangeKind::Nat64LocalUse));
    }
    if let Some(&(_, kind)) = BLOCKED_V6.iter().find(|(net, _)| net.contains(&ip)) {
        return Some(Blocked::Direct(kind));
    }
    if !GLOBAL_UNICAST_V6.contains(&ip) {
        return Some(Blocked::Direct(RangeKind::NotGlobalUnicast));
    }
    None
}

fn classify(ip: IpAddr) -> Option<Blocked> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4).map(Blocked::Direct),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// A host-name allow-list entry, normalised to lower case without a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// Matches this name only.
    Exact(String),
    /// `*.example.com`, stored as `.example.com`: matches any name below
    /// `example.com` at any depth, but not `example.com` itself.
    Suffix(String),
}

impl HostPattern {
    fn matches(&self, host: &str) -> bool {
        match self {
            Self::Exact(name) => host == name,
            Self::Suffix(suffix) => host.len() > suffix.len() && host.ends_with(suffix.as_str()),
        }
    }
}

/// Lower-cases a host and drops a trailing dot and IPv6 brackets, so that
/// `LocalHost.` and `localhost` compare equal.
fn normalise_host(host: &str) -> String {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase()
}

/// Parses a host name (after any `*.`) with the same rules the `url` crate
/// applies to URLs, so that allow-list entries and URL hosts agree (IDNA,
/// lower-casing, IPv4 number forms).
fn parse_host(entry: &str, name: &str) -> Result<Host<String>, PolicyError> {
    let invalid = |problem| PolicyError::InvalidAllowEntry {
        entry: entry.to_owned(),
        problem,
    };
    if name.is_empty() || name.contains('*') {
        return Err(invalid(
            "expected a CIDR, an IP address, a host name or *.suffix",
        ));
    }
    Host::parse(name).map_err(|_| invalid("not a CIDR, an IP address or a valid host name"))
}

/// The process-wide network policy: which destinations a host-side fetch may
/// reach. Built once from configuration and shared behind an `Arc`.
#[derive(Debug, Clone)]
pub struct NetworkPolicy {
    /// Networks opened by the allow-list; any port is allowed there.
    allowed_nets: Vec<IpNet>,
    /// Host names opened by the allow-list; any port and any resolved address
    /// is allowed for them.
    allowed_hosts: Vec<HostPattern>,
    /// Ports allowed for hosts that are not allow-listed.
    allowed_ports: Vec<u16>,
    /// Every port is allowed (the runtime restricts them, as Spin's
    /// `allowed_outbound_hosts` does).
    any_port: bool,
}

impl Default for NetworkPolicy {
    /// Blocks every special-purpose range and allows ports 80 and 443 only.
    fn default() -> Self {
        Self {
            allowed_nets: Vec::new(),
            allowed_hosts: Vec::new(),
            allowed_ports: DEFAULT_ALLOWED_PORTS.to_vec(),
            any_port: false,
        }
    }
}

impl NetworkPolicy {
    /// Builds a policy from configuration.
    ///
    /// Each `allow` entry (operator-controlled, from config) is a CIDR
    /// (`127.0.0.0/8`, `::1/128`; host bits are dropped), a bare IP, a host
    /// name (`fixtures.internal`) or a wildcard (`*.example.com`, which matches
    /// subdomains at any depth but not `example.com` itself). An allow-listed
    /// host or network may be reached on any port; every other host only on
    /// `allowed_ports` (see [`DEFAULT_ALLOWED_PORTS`]). An empty port list
    /// means only allow-listed destinations are reachable.
    pub fn new(allow: &[String], allowed_ports: Vec<u16>) -> Result<Self, PolicyError> {
        if allowed_ports.contains(&0) {
            return Err(PolicyError::InvalidPort);
        }
        let mut policy = Self {
            allowed_nets: Vec::new(),
            allowed_hosts: Vec::new(),
            allowed_ports,
            any_port: false,
        };
        for raw in allow {
            let entry = raw.trim();
            if let Ok(net) = IpNet::from_str(entry) {
                policy.allowed_nets.push(net.trunc());
                continue;
            }
            if let Ok(ip) = IpAddr::from_str(entry) {
                policy.allowed_nets.push(IpNet::from(ip));
                continue;
            }
            let (wildcard, name) = match entry.strip_prefix("*.") {
                Some(rest) => (true, rest),
                None => (false, entry),
            };
            match parse_host(raw, name)? {
                Host::Ipv4(ip) if !wildcard => {
                    policy.allowed_nets.push(IpNet::from(IpAddr::V4(ip)))
                }
                Host::Ipv6(ip) if !wildcard => {
                    policy.allowed_nets.push(IpNet::from(IpAddr::V6(ip)))
                }
                Host::Domain(domain) => {
                    let domain = normalise_host(&domain);
                    if domain.is_empty() {
                        return Err(PolicyError::InvalidAllowEntry {
                            entry: raw.clone(),
                            problem: "empty host name",
                        });
                    }
                    policy.allowed_hosts.push(if wildcard {
                        HostPattern::Suffix(format!(".{domain}"))
                    } else {
                        HostPattern::Exact(domain)
                    });
                }
                Host::Ipv4(_) | Host::Ipv6(_) => {
                    return Err(PolicyError::InvalidAllowEntry {
                        entry: raw.clone(),
                        problem: "a wildcard needs a domain name; use a CIDR for address ranges",
                    });
                }
            }
        }
        Ok(policy)
    }

    /// A policy that judges addresses only and leaves ports to the
    /// runtime (Spin's `allowed_outbound_hosts`), for a component that
    /// cannot resolve names either: there, only IP-literal hosts are judged.
    pub fn any_port(allow: &[String]) -> Result<Self, PolicyError> {
        Ok(Self {
            any_port: true,
            ..Self::new(allow, Vec::new())?
        })
    }

    /// The ports allowed for hosts that are not allow-listed.
    pub fn allowed_ports(&self) -> &[u16] {
        &self.allowed_ports
    }

    fn host_allowed(&self, host: &str) -> bool {
        let host = normalise_host(host);
        self.allowed_hosts.iter().any(|p| p.matches(&host))
    }

    fn ip_allowed(&self, ip: IpAddr) -> bool {
        // An IPv4-mapped address is the same destination as the IPv4 address
        // it carries, so an IPv4 CIDR opens both spellings.
        let mapped = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        self.allowed_nets
            .iter()
            .any(|net| net.contains(&ip) || mapped.is_some_and(|m| net.contains(&m)))
    }

    /// Checks a URL before any network access: the scheme must be `http` or
    /// `https`; an IP-literal host is checked with [`Self::check_ip`] right
    /// away; and the port (explicit or default) must be allowed unless the
    /// host is allow-listed. Host names are checked again after DNS, in the
    /// fetcher's resolver. The URL is user-controlled (task definitions,
    /// redirects), so this runs on every hop.
    pub fn check_url(&self, url: &Url) -> Result<(), Denied> {
        let scheme = url.scheme();
        if scheme != "http" && scheme != "https" {
            return Err(Denied::new(
                DenyReason::SchemeNotAllowed,
                format!("URL scheme \"{scheme}\" is not allowed; only http and https are"),
            ));
        }
        let host = url.host().ok_or_else(|| {
            Denied::new(
                DenyReason::MissingHost,
                format!("URL {url} has no host to connect to"),
            )
        })?;
        let allow_listed = match host {
            Host::Ipv4(ip) => {
                self.check_ip(&ip.to_string(), IpAddr::V4(ip))?;
                self.ip_allowed(IpAddr::V4(ip))
            }
            Host::Ipv6(ip) => {
                self.check_ip(&ip.to_string(), IpAddr::V6(ip))?;
                self.ip_allowed(IpAddr::V6(ip))
            }
            Host::Domain(name) => self.host_allowed(name),
        };
        // Always `Some` for http/https; 0 is never in the port list.
        let port = url.port_or_known_default().unwrap_or(0);
        if !allow_listed && !self.any_port && !self.allowed_ports.contains(&port) {
            let allowed = self
                .allowed_ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            return Err(Denied::new(
                DenyReason::PortNotAllowed,
                format!(
                    "port {port} on {} is not allowed; allowed ports: [{allowed}]",
                    url.host_str().unwrap_or_default()
                ),
            ));
        }
        Ok(())
    }

    /// Checks one address a connection would be made to. `host` is the name
    /// being connected to (the URL host; for IP literals, the address itself).
    ///
    /// Allowed if `ip` is in an allow-listed network or `host` is an
    /// allow-listed name; otherwise denied if `ip` (or the IPv4 address it
    /// embeds) is in any blocked range.
    pub fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), Denied> {
        if self.ip_allowed(ip) || self.host_allowed(host) {
            return Ok(());
        }
        let Some(blocked) = classify(ip) else {
            return Ok(());
        };
        let literal = normalise_host(host) == ip.to_string();
        let subject = if literal {
            ip.to_string()
        } else {
            format!("{host} resolved to {ip}, which")
        };
        let message = match blocked {
            Blocked::Direct(kind) => format!("{subject} is {}", kind.phrase()),
            Blocked::Embedded { via, v4, kind } => format!(
                "{subject} is {via} IPv6 address embedding {v4}, {}",
                kind.phrase()
            ),
        };
        let mut denied = Denied::new(DenyReason::DestinationIpProhibited, message);
        if !literal {
            denied.public = Some(format!("{host} resolves to a non-public address"));
        }
        Err(denied)
    }
}

/// Redirects a fetch follows before giving up.
///
/// Why 5: api.md §8 ("on every redirect hop (≤ 5)"); real CDNs need one or
/// two, and each hop is another policy check and another connection.
pub const MAX_REDIRECTS: usize = 5;

/// Why a redirect is not followed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectRefused {
    /// The chain is longer than [`MAX_REDIRECTS`].
    #[error("stopped after {MAX_REDIRECTS} redirects")]
    TooMany,
    /// The `Location` is not a URL.
    #[error("redirect to an invalid URL: {0}")]
    InvalidLocation(String),
    /// The policy refuses the next hop.
    #[error("{}", .0.message())]
    Denied(Denied),
}

impl NetworkPolicy {
    /// Whether a fetch that has followed `followed` redirects may follow
    /// one more, to `next`: within [`MAX_REDIRECTS`], and `next` passes
    /// [`Self::check_url`] like the first URL did (its addresses are
    /// checked again at connect time).
    pub fn check_redirect(&self, followed: usize, next: &Url) -> Result<(), RedirectRefused> {
        if followed >= MAX_REDIRECTS {
            return Err(RedirectRefused::TooMany);
        }
        self.check_url(next).map_err(RedirectRefused::Denied)
    }
}

/// The URL a response redirects to, for clients that follow redirects
/// themselves: `Some` for a 301, 302, 303, 307 or 308 with a `Location`
/// (resolved against `from`), `None` for any other response.
pub fn redirect_target(
    from: &Url,
    status: u16,
    location: Option<&str>,
) -> Option<Result<Url, RedirectRefused>> {
    if !matches!(status, 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let location = location?;
    Some(
        from.join(location)
            .map_err(|e| RedirectRefused::InvalidLocation(e.to_string())),
    )
}

/// The allow-list in its one-line form (`DRAKE_FETCH_ALLOW`, for the host
/// and for Spin components): comma-separated entries, blanks ignored.
pub fn parse_allow_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_rules() {
        let p = policy(&[]);
        let next = Url::parse("https://example.com/b").expect("url");
        assert_eq!(p.check_redirect(0, &next), Ok(()));
        assert_eq!(
            p.check_redirect(MAX_REDIRECTS, &next),
            Err(RedirectRefused::TooMany)
        );
        let private = Url::parse("http://169.254.169.254/").expect("url");
        assert!(matches!(
            p.check_redirect(1, &private),
            Err(RedirectRefused::Denied(_))
        ));
        let from = Url::parse("https://example.com/a/b?c").expect("url");
        assert_eq!(
            redirect_target(&from, 302, Some("../x")).map(|r| r.map(String::from)),
            Some(Ok("https://example.com/x".to_owned()))
        );
        assert_eq!(redirect_target(&from, 200, Some("/x")), None);
        assert_eq!(redirect_target(&from, 304, Some("/x")), None);
        assert_eq!(redirect_target(&from, 301, None), None);
        assert_eq!(
            parse_allow_list(" 127.0.0.0/8, ,fixtures.internal,"),
            ["127.0.0.0/8", "fixtures.internal"]
        );
    }

    fn policy(allow: &[&str]) -> NetworkPolicy {
        let allow: Vec<String> = allow.iter().map(|s| s.to_string()).collect();
        NetworkPolicy::new(&allow, DEFAULT_ALLOWED_PORTS.to_vec()).expect("valid policy")
    }

    /// `(allow-list, address, expected: None = allowed, Some(substring of message))`.
    #[test]
    fn check_ip_table() {
        #[rustfmt::skip]
        let cases: &[(&[&str], &str, Option<&str>)] = &[
            // Loopback.
            (&[], "127.0.0.1", Some("127.0.0.1 is a loopback address")),
            (&[], "127.255.255.254", Some("loopback")),
            (&[], "::1", Some("::1 is a loopback address")),
            // Unspecified.
            (&[], "0.0.0.0", Some("unspecified")),
            (&[], "0.1.2.3", Some("unspecified")),
            (&[], "::", Some("unspecified")),
            // RFC 1918, both edges of each range, and the public neighbours.
            (&[], "10.0.0.0", Some("private (RFC 1918)")),
            (&[], "10.255.255.255", Some("private")),
            (&[], "9.255.255.255", None),
            (&[], "11.0.0.0", None),
            (&[], "172.16.0.0", Some("private")),
            (&[], "172.31.255.255", Some("private")),
            (&[], "172.15.255.255", None),
            (&[], "172.32.0.0", None),
            (&[], "192.168.0.0", Some("private")),
            (&[], "192.168.255.255", Some("private")),
            (&[], "192.167.255.255", None),
            (&[], "192.169.0.0", None),
            // CGNAT.
            (&[], "100.64.0.1", Some("carrier-grade NAT")),
            (&[], "100.127.255.255", Some("carrier-grade NAT")),
            (&[], "100.128.0.0", None),
            // Link-local and the cloud metadata endpoint.
            (&[], "169.254.169.254", Some("169.254.169.254 is a link-local address")),
            (&[], "169.254.0.1", Some("link-local")),
            (&[], "fe80::1", Some("link-local")),
            // Multicast, broadcast, reserved.
            (&[], "224.0.0.1", Some("multicast")),
            (&[], "239.255.255.250", Some("multicast")),
            (&[], "ff02::1", Some("multicast")),
            (&[], "255.255.255.255", Some("broadcast")),
            (&[], "240.0.0.1", Some("reserved")),
            // Benchmarking, documentation, IETF.
            (&[], "198.18.0.1", Some("benchmarking")),
            (&[], "198.19.255.255", Some("benchmarking")),
            (&[], "192.0.2.10", Some("documentation")),
            (&[], "198.51.100.7", Some("documentation")),
            (&[], "203.0.113.99", Some("documentation")),
            (&[], "2001:db8::1", Some("documentation")),
            (&[], "192.0.0.8", Some("IETF protocol")),
            (&[], "192.88.99.1", Some("6to4 relay")),
            // IPv6 local ranges.
            (&[], "fc00::1", Some("unique local")),
            (&[], "fd12:3456::1", Some("unique local")),
            (&[], "fec0::1", Some("site-local")),
            (&[], "100::1", Some("discard")),
            (&[], "1::1", Some("outside global unicast")),
            // IPv4 embedded in IPv6.
            (&[], "::ffff:127.0.0.1", Some("IPv4-mapped IPv6 address embedding 127.0.0.1, a loopback address")),
            (&[], "::ffff:169.254.169.254", Some("embedding 169.254.169.254, a link-local")),
            (&[], "::ffff:8.8.8.8", None),
            (&[], "::ffff:0:10.0.0.1", Some("IPv4-translated")),
            (&[], "::10.0.0.1", Some("IPv4-compatible IPv6 address embedding 10.0.0.1")),
            (&[], "::8.8.8.8", None),
            (&[], "2002:7f00:1::", Some("6to4 IPv6 address embedding 127.0.0.1")),
            (&[], "2002:a9fe:a9fe::1", Some("embedding 169.254.169.254")),
            (&[], "2002:0808:0808::1", None),
            (&[], "64:ff9b::7f00:1", Some("NAT64 IPv6 address embedding 127.0.0.1")),
            (&[], "64:ff9b::c0a8:101", Some("embedding 192.168.1.1")),
            (&[], "64:ff9b::808:808", None),
            (&[], "64:ff9b:1::808:808", Some("local-use NAT64")),
            (&[], "2001:0:4136:e378:8000:63bf:3fff:fdd2", Some("Teredo")),
            (&[], "2001:0:5ef5:79fb:0:59d:80ff:fffe", Some("Teredo")),
            // Public addresses.
            (&[], "8.8.8.8", None),
            (&[], "1.1.1.1", None),
            (&[], "93.184.216.34", None),
            (&[], "2606:4700:4700::1111", None),
            (&[], "2a00:1450:4007:80e::200e", None),
            // Allow-list openings.
            (&["127.0.0.0/8"], "127.0.0.1", None),
            (&["127.0.0.0/8"], "::ffff:127.0.0.1", None),
            (&["127.0.0.0/8"], "::1", Some("loopback")),
            (&["::1/128"], "::1", None),
            (&["10.1.2.3"], "10.1.2.3", None),
            (&["10.1.2.3"], "10.1.2.4", Some("private")),
            (&["10.1.2.0/24"], "10.1.2.200", None),
        ];
        for (allow, ip, expected) in cases {
            let addr: IpAddr = ip.parse().expect("test IP parses");
            let result = policy(allow).check_ip(&addr.to_string(), addr);
            match (expected, &result) {
                (None, Ok(())) => {}
                (Some(needle), Err(denied)) => {
                    assert_eq!(denied.reason(), DenyReason::DestinationIpProhibited, "{ip}");
                    assert!(
                        denied.message().contains(needle),
                        "{ip} (allow {allow:?}): message {:?} should contain {needle:?}",
                        denied.message()
                    );
                }
                _ => panic!("{ip} (allow {allow:?}): expected {expected:?}, got {result:?}"),
            }
        }
    }

    #[test]
    fn check_ip_by_host_name() {
        let loopback: IpAddr = "127.0.0.1".parse().expect("ip");
        let p = policy(&["fixtures.test", "*.example.com"]);
        assert_eq!(p.check_ip("fixtures.test", loopback), Ok(()));
        assert_eq!(p.check_ip("FIXTURES.test.", loopback), Ok(()));
        assert_eq!(p.check_ip("cdn.example.com", loopback), Ok(()));
        assert_eq!(p.check_ip("a.b.example.com", loopback), Ok(()));
        let denied = p
            .check_ip("example.com", loopback)
            .expect_err("apex not covered");
        assert_eq!(
            denied.message(),
            "example.com resolved to 127.0.0.1, which is a loopback address"
        );
        // The requester is not told what the name resolved to.
        assert_eq!(
            denied.public(),
            "example.com resolves to a non-public address"
        );
        let literal = p.check_ip("127.0.0.1", loopback).expect_err("literal");
        assert_eq!(literal.public(), literal.message());
        assert!(p.check_ip("badexample.com", loopback).is_err());
        assert!(p.check_ip("localhost", loopback).is_err());
    }

    /// `(allow-list, URL, expected: None = allowed, Some(reason, substring))`.
    type UrlCase = (
        &'static [&'static str],
        &'static str,
        Option<(DenyReason, &'static str)>,
    );

    #[test]
    fn check_url_table() {
        use DenyReason::*;
        #[rustfmt::skip]
        let cases: &[UrlCase] = &[
            // Schemes.
            (&[], "https://example.com/a.jpg", None),
            (&[], "http://example.com/a.jpg", None),
            (&[], "file:///etc/passwd", Some((SchemeNotAllowed, "\"file\""))),
            (&[], "ftp://example.com/a.jpg", Some((SchemeNotAllowed, "\"ftp\""))),
            (&[], "gopher://example.com:70/_", Some((SchemeNotAllowed, "\"gopher\""))),
            (&[], "data:text/plain,hello", Some((SchemeNotAllowed, "\"data\""))),
            // Ports: explicit, default, and explicit-default.
            (&[], "http://example.com:80/", None),
            (&[], "https://example.com:443/", None),
            (&[], "http://example.com:8080/", Some((PortNotAllowed, "port 8080 on example.com"))),
            (&[], "https://example.com:6379/", Some((PortNotAllowed, "port 6379"))),
            (&[], "http://8.8.8.8:22/", Some((PortNotAllowed, "port 22"))),
            // IP literals are checked before DNS; the IP check wins over the port check.
            (&[], "http://127.0.0.1/", Some((DestinationIpProhibited, "127.0.0.1 is a loopback address"))),
            (&[], "http://127.0.0.1:8080/", Some((DestinationIpProhibited, "loopback"))),
            (&[], "http://169.254.169.254/latest/meta-data", Some((DestinationIpProhibited, "169.254.169.254 is a link-local address"))),
            (&[], "http://[::1]/", Some((DestinationIpProhibited, "::1 is a loopback address"))),
            (&[], "http://[::ffff:127.0.0.1]/", Some((DestinationIpProhibited, "embedding 127.0.0.1"))),
            (&[], "http://[::ffff:7f00:1]/", Some((DestinationIpProhibited, "embedding 127.0.0.1"))),
            (&[], "http://[fd00::2]/", Some((DestinationIpProhibited, "unique local"))),
            (&[], "http://[2606:4700:4700::1111]/", None),
            (&[], "http://8.8.8.8/", None),
            // Alternative IPv4 spellings are normalised by the url crate.
            (&[], "http://2130706433/", Some((DestinationIpProhibited, "127.0.0.1 is a loopback"))),
            (&[], "http://0x7f.1/", Some((DestinationIpProhibited, "127.0.0.1 is a loopback"))),
            (&[], "http://0177.0.0.1/", Some((DestinationIpProhibited, "127.0.0.1 is a loopback"))),
            (&[], "http://127.1/", Some((DestinationIpProhibited, "127.0.0.1 is a loopback"))),
            (&[], "http://127.0.0.1./", Some((DestinationIpProhibited, "127.0.0.1 is a loopback"))),
            (&[], "http://0xa9fea9fe/", Some((DestinationIpProhibited, "169.254.169.254"))),
            (&[], "http://0/", Some((DestinationIpProhibited, "0.0.0.0 is an unspecified"))),
            // Host names pass check_url on allowed ports; DNS results are checked later.
            (&[], "http://localhost/", None),
            (&[], "http://localhost:8080/", Some((PortNotAllowed, "port 8080 on localhost"))),
            // Allow-list: CIDRs and names open any port.
            (&["127.0.0.0/8"], "http://127.0.0.1:43210/fixture.png", None),
            (&["127.0.0.0/8"], "http://[::1]:43210/", Some((DestinationIpProhibited, "loopback"))),
            (&["::1/128"], "http://[::1]:43210/", None),
            (&["localhost"], "http://localhost:43210/", None),
            (&["localhost"], "http://LOCALHOST.:43210/", None),
            (&["localhost"], "http://127.0.0.1:43210/", Some((DestinationIpProhibited, "loopback"))),
            (&["*.fixtures.test"], "http://img.fixtures.test:8081/", None),
            (&["*.fixtures.test"], "http://fixtures.test:8081/", Some((PortNotAllowed, "port 8081"))),
            // An allow-listed CIDR does not open other schemes.
            (&["127.0.0.0/8"], "ftp://127.0.0.1/", Some((SchemeNotAllowed, "\"ftp\""))),
        ];
        for (allow, url, expected) in cases {
            let parsed = Url::parse(url).expect("test URL parses");
            let result = policy(allow).check_url(&parsed);
            match (expected, &result) {
                (None, Ok(())) => {}
                (Some((reason, needle)), Err(denied)) => {
                    assert_eq!(denied.reason(), *reason, "{url}: {denied}");
                    assert!(
                        denied.message().contains(needle),
                        "{url} (allow {allow:?}): message {:?} should contain {needle:?}",
                        denied.message()
                    );
                }
                _ => panic!("{url} (allow {allow:?}): expected {expected:?}, got {result:?}"),
            }
        }
    }

    #[test]
    fn custom_port_list() {
        let p = NetworkPolicy::new(&[], vec![8443]).expect("valid policy");
        let ok = Url::parse("https://example.com:8443/").expect("url");
        let blocked = Url::parse("https://example.com/").expect("url");
        assert_eq!(p.check_url(&ok), Ok(()));
        let denied = p.check_url(&blocked).expect_err("443 no longer allowed");
        assert_eq!(denied.reason(), DenyReason::PortNotAllowed);
        assert_eq!(
            denied.message(),
            "port 443 on example.com is not allowed; allowed ports: [8443]"
        );
    }

    #[test]
    fn default_policy_blocks_private_and_allows_80_443() {
        let p = NetworkPolicy::default();
        assert_eq!(p.allowed_ports(), &[80, 443]);
        let ip: IpAddr = "10.0.0.1".parse().expect("ip");
        assert!(p.check_ip("10.0.0.1", ip).is_err());
    }

    #[test]
    fn allow_list_parsing() {
        let accepted = [
            "127.0.0.0/8",
            "::1/128",
            "10.0.0.1",
            "fd00::1",
            "[::1]",
            " localhost ",
            "fixtures.test.",
            "*.example.com",
            "bücher.example",
            "192.168.1.77/24",
        ];
        for entry in accepted {
            let allow = vec![entry.to_owned()];
            assert!(NetworkPolicy::new(&allow, vec![80]).is_ok(), "{entry:?}");
        }
        // Host bits are dropped from CIDRs; IDNA names are matched in punycode.
        let p = policy(&["192.168.1.77/24", "bücher.example"]);
        let ip: IpAddr = "192.168.1.3".parse().expect("ip");
        assert_eq!(p.check_ip("192.168.1.3", ip), Ok(()));
        let url = Url::parse("http://bücher.example:9000/").expect("url");
        assert_eq!(p.check_url(&url), Ok(()));

        let rejected = [
            "",
            "*",
            "*.",
            "foo.*.com",
            "*.10.0.0.1",
            "10.0.0.0/33",
            "http://example.com",
            "example.com/path",
            "exa mple.com",
            "999.1.1.1",
        ];
        for entry in rejected {
            let allow = vec![entry.to_owned()];
            let err = NetworkPolicy::new(&allow, vec![80]).expect_err(entry);
            assert!(
                err.to_string().contains(&format!("{entry:?}")),
                "error should name the entry: {err}"
            );
        }
        assert_eq!(
            NetworkPolicy::new(&[], vec![80, 0]).expect_err("port 0"),
            PolicyError::InvalidPort
        );
    }

    #[test]
    fn reason_codes_are_stable() {
        assert_eq!(DenyReason::SchemeNotAllowed.as_str(), "scheme_not_allowed");
        assert_eq!(DenyReason::PortNotAllowed.as_str(), "port_not_allowed");
        assert_eq!(DenyReason::MissingHost.as_str(), "missing_host");
        assert_eq!(
            DenyReason::DestinationIpProhibited.as_str(),
            "destination_ip_prohibited"
        );
    }
}
