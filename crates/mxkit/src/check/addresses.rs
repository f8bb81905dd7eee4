//! Rules on where the exchangers' addresses point: `exchanger-special-address`
//! (MX13) and `shared-address` (MX06, second half).
//!
//! Words:
//! - a **special-purpose** address is one the IANA special-purpose address
//!   registries (RFC 6890 and its updates) list as not globally reachable:
//!   private-use, loopback, link-local, shared (CGNAT), documentation,
//!   benchmarking, multicast, reserved... A sender on the Internet cannot
//!   deliver to it (or, worse, delivers to a host of its own network);
//!   [`classify`] names the range, its purpose and its RFC;
//! - a **shared** address belongs to several exchangers: whatever their
//!   names, they are one host, and a sender that cannot reach it has no other
//!   exchanger to fall back on.
//!
//! Every address of every exchanger in the plan is classified (for an
//! implicit MX, the domain's own addresses). Severity: warning when some
//! addresses are special (senders skip them after a failed connection, with a
//! delay), error when all are (nobody on the Internet can deliver). When the
//! MX lookup or an exchanger's address lookup failed temporarily, the
//! undecidable part is reported as incomplete, never as passed.
//!
//! This module also holds `lookup_host`, which the [`super::records`] rules
//! share: one host's A and AAAA answers, with their evidence (`file:line`
//! for zone-file records, else who answered what).

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures::future::join_all;

use super::{Context, EXCHANGER_SPECIAL_ADDRESS, Evidence, Findings, SHARED_ADDRESS, Severity};
use crate::address::display_name;
use crate::dns::{Answer, Name, Outcome, RData, RecordType, resolve};
use crate::route::{Exchanger, ExchangerState, RouteKind};

/// A special-purpose address block: the range, what it is for, its RFC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Special {
    /// The block in CIDR form (`192.0.2.0/24`).
    pub range: &'static str,
    /// What it is for (`TEST-NET-1, documentation`).
    pub purpose: &'static str,
    /// Where it is defined (`RFC 5737`).
    pub rfc: &'static str,
}

impl fmt::Display for Special {
    /// `192.0.2.0/24 (TEST-NET-1, documentation, RFC 5737)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, {})", self.range, self.purpose, self.rfc)
    }
}

/// What [`classify`] says of one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Globally reachable unicast: fine for an exchanger.
    Global,
    /// In a special-purpose block.
    Special(Special),
    /// An IPv4-mapped IPv6 address (`::ffff:0:0/96`, RFC 4291 section
    /// 2.5.5.2): never on the wire, so special itself; carries the mapped
    /// IPv4 address and that address's own block when it is special too.
    Mapped(Ipv4Addr, Option<Special>),
}

const fn sp(range: &'static str, purpose: &'static str, rfc: &'static str) -> Special {
    Special {
        range,
        purpose,
        rfc,
    }
}

/// IPv4 blocks that are globally reachable although they sit inside a
/// special block listed below (IANA IPv4 special-purpose registry).
const V4_GLOBAL: &[(u32, u8)] = &[
    (0xc000_0009, 32), // 192.0.0.9/32 Port Control Protocol anycast, RFC 7723
    (0xc000_000a, 32), // 192.0.0.10/32 TURN anycast, RFC 8155
];

/// The IANA IPv4 special-purpose registry's blocks that are not globally
/// reachable, most specific first.
const V4_SPECIAL: &[(u32, u8, Special)] = &[
    (
        0xffff_ffff,
        32,
        sp(
            "255.255.255.255/32",
            "limited broadcast",
            "RFC 919, RFC 8190",
        ),
    ),
    (
        0x0000_0000,
        8,
        sp("0.0.0.0/8", "\"this network\"", "RFC 791, RFC 1122"),
    ),
    (0x0a00_0000, 8, sp("10.0.0.0/8", "private-use", "RFC 1918")),
    (
        0x6440_0000,
        10,
        sp(
            "100.64.0.0/10",
            "shared address space, carrier-grade NAT",
            "RFC 6598",
        ),
    ),
    (0x7f00_0000, 8, sp("127.0.0.0/8", "loopback", "RFC 1122")),
    (
        0xa9fe_0000,
        16,
        sp("169.254.0.0/16", "link-local", "RFC 3927"),
    ),
    (
        0xac10_0000,
        12,
        sp("172.16.0.0/12", "private-use", "RFC 1918"),
    ),
    (
        0xc000_0000,
        24,
        sp("192.0.0.0/24", "IETF protocol assignments", "RFC 6890"),
    ),
    (
        0xc000_0200,
        24,
        sp("192.0.2.0/24", "TEST-NET-1, documentation", "RFC 5737"),
    ),
    (
        0xc058_6300,
        24,
        sp(
            "192.88.99.0/24",
            "6to4 relay anycast, deprecated",
            "RFC 7526",
        ),
    ),
    (
        0xc0a8_0000,
        16,
        sp("192.168.0.0/16", "private-use", "RFC 1918"),
    ),
    (
        0xc612_0000,
        15,
        sp("198.18.0.0/15", "benchmarking", "RFC 2544"),
    ),
    (
        0xc633_6400,
        24,
        sp("198.51.100.0/24", "TEST-NET-2, documentation", "RFC 5737"),
    ),
    (
        0xcb00_7100,
        24,
        sp("203.0.113.0/24", "TEST-NET-3, documentation", "RFC 5737"),
    ),
    (0xe000_0000, 4, sp("224.0.0.0/4", "multicast", "RFC 5771")),
    (
        0xf000_0000,
        4,
        sp("240.0.0.0/4", "reserved for future use", "RFC 1112"),
    ),
];

/// IPv6 blocks inside a special block below that are globally reachable
/// (IANA IPv6 special-purpose registry), or fine for another reason.
const V6_GLOBAL: &[(u128, u8)] = &[
    (0x0064_ff9b_0000_0000_0000_0000_0000_0000, 96), // 64:ff9b::/96 well-known NAT64 prefix, RFC 6052
    (0x2001_0001_0000_0000_0000_0000_0000_0001, 128), // 2001:1::1/128 PCP anycast, RFC 7723
    (0x2001_0001_0000_0000_0000_0000_0000_0002, 128), // 2001:1::2/128 TURN anycast, RFC 8155
    (0x2001_0001_0000_0000_0000_0000_0000_0003, 128), // 2001:1::3/128 DNS-SD SRP anycast, RFC 9665
    (0x2001_0003_0000_0000_0000_0000_0000_0000, 32), // 2001:3::/32 AMT, RFC 7450
    (0x2001_0004_0112_0000_0000_0000_0000_0000, 48), // 2001:4:112::/48 AS112-v6, RFC 7535
    (0x2001_0020_0000_0000_0000_0000_0000_0000, 28), // 2001:20::/28 ORCHIDv2, RFC 7343
    (0x2001_0030_0000_0000_0000_0000_0000_0000, 28), // 2001:30::/28 drone remote ID, RFC 9374
];

/// The IANA IPv6 special-purpose registry's blocks that are not globally
/// reachable, most specific first. `::ffff:0:0/96` is handled apart.
const V6_SPECIAL: &[(u128, u8, Special)] = &[
    (0, 128, sp("::/128", "unspecified address", "RFC 4291")),
    (1, 128, sp("::1/128", "loopback", "RFC 4291")),
    (
        0x0064_ff9b_0001_0000_0000_0000_0000_0000,
        48,
        sp(
            "64:ff9b:1::/48",
            "local-use IPv4/IPv6 translation",
            "RFC 8215",
        ),
    ),
    (
        0x0100_0000_0000_0000_0000_0000_0000_0000,
        64,
        sp("100::/64", "discard-only", "RFC 6666"),
    ),
    (
        0x2001_0000_0000_0000_0000_0000_0000_0000,
        32,
        sp("2001::/32", "Teredo", "RFC 4380"),
    ),
    (
        0x2001_0002_0000_0000_0000_0000_0000_0000,
        48,
        sp("2001:2::/48", "benchmarking", "RFC 5180"),
    ),
    (
        0x2001_0010_0000_0000_0000_0000_0000_0000,
        28,
        sp("2001:10::/28", "ORCHID, deprecated", "RFC 4843"),
    ),
    (
        0x2001_0db8_0000_0000_0000_0000_0000_0000,
        32,
        sp("2001:db8::/32", "documentation", "RFC 3849"),
    ),
    (
        0x2001_0000_0000_0000_0000_0000_0000_0000,
        23,
        sp("2001::/23", "IETF protocol assignments", "RFC 2928"),
    ),
    (
        0x3fff_0000_0000_0000_0000_0000_0000_0000,
        20,
        sp("3fff::/20", "documentation", "RFC 9637"),
    ),
    (
        0x5f00_0000_0000_0000_0000_0000_0000_0000,
        16,
        sp("5f00::/16", "segment routing (SRv6) SIDs", "RFC 9602"),
    ),
    (
        0xfc00_0000_0000_0000_0000_0000_0000_0000,
        7,
        sp("fc00::/7", "unique local", "RFC 4193"),
    ),
    (
        0xfe80_0000_0000_0000_0000_0000_0000_0000,
        10,
        sp("fe80::/10", "link-local", "RFC 4291"),
    ),
    (
        0xfec0_0000_0000_0000_0000_0000_0000_0000,
        10,
        sp("fec0::/10", "site-local, deprecated", "RFC 3879"),
    ),
    (
        0xff00_0000_0000_0000_0000_0000_0000_0000,
        8,
        sp("ff00::/8", "multicast", "RFC 4291"),
    ),
];

/// Everything outside `2000::/3` not listed above is unassigned space the
/// IETF reserves (RFC 4291 section 2.4): not routed.
const V6_RESERVED: Special = sp(
    "outside 2000::/3",
    "not global unicast, reserved by the IETF",
    "RFC 4291",
);

fn in_v4(ip: u32, net: u32, len: u8) -> bool {
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    ip & mask == net & mask
}

fn in_v6(ip: u128, net: u128, len: u8) -> bool {
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    };
    ip & mask == net & mask
}

fn classify_v4(ip: Ipv4Addr) -> Option<Special> {
    let n = u32::from(ip);
    if V4_GLOBAL.iter().any(|&(net, len)| in_v4(n, net, len)) {
        return None;
    }
    V4_SPECIAL
        .iter()
        .find(|&&(net, len, _)| in_v4(n, net, len))
        .map(|&(_, _, s)| s)
}

/// Classify an address against the IANA special-purpose registries (RFC
/// 6890 and updates, RFC 9637 for `3fff::/20`).
pub fn classify(ip: IpAddr) -> Class {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4).map_or(Class::Global, Class::Special),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v6(ip: Ipv6Addr) -> Class {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Class::Mapped(v4, classify_v4(v4));
    }
    let n = u128::from(ip);
    if V6_GLOBAL.iter().any(|&(net, len)| in_v6(n, net, len)) {
        return Class::Global;
    }
    if let Some(&(_, _, s)) = V6_SPECIAL.iter().find(|&&(net, len, _)| in_v6(n, net, len)) {
        return Class::Special(s);
    }
    if !in_v6(n, 0x2000 << 112, 3) {
        return Class::Special(V6_RESERVED);
    }
    Class::Global
}

/// Why `ip` is special, for messages; `None` when it is global.
fn why_special(ip: IpAddr) -> Option<String> {
    match classify(ip) {
        Class::Global => None,
        Class::Special(s) => Some(format!("{ip} is in {s}")),
        Class::Mapped(v4, Some(s)) => Some(format!(
            "{ip} is an IPv4-mapped address (::ffff:0:0/96, RFC 4291), never used on the wire, and the IPv4 address it maps, {v4}, is in {s}"
        )),
        Class::Mapped(v4, None) => Some(format!(
            "{ip} is an IPv4-mapped address (::ffff:0:0/96, RFC 4291), never used on the wire; publish {v4} as an A record instead"
        )),
    }
}

/// One host's A and AAAA answers and their evidence.
pub(super) struct HostLookup {
    /// The addresses, AAAA first, in the order received.
    pub addresses: Vec<IpAddr>,
    /// The CNAME targets followed (from the first answer that followed any).
    pub cname_chain: Vec<Name>,
    /// The name owning the address records: the last CNAME target, or the host.
    pub canonical: Name,
    /// The A and AAAA answers.
    pub answers: Vec<(RecordType, Answer)>,
}

impl HostLookup {
    /// Evidence for the address records: `file:line` of each zone-file
    /// record (restricted to `only` when given), else who answered what.
    pub fn evidence(&self, ctx: &Context<'_>, host: &Name, only: Option<IpAddr>) -> Vec<Evidence> {
        let mut out = Vec::new();
        for (rtype, answer) in &self.answers {
            let ips = answer_ips(answer);
            if let Some(ip) = only
                && !ips.contains(&ip)
            {
                continue;
            }
            let owner = answer.canonical(host);
            let from_zone: Vec<Evidence> = ctx
                .zone_records(owner, *rtype, |d| {
                    rdata_ip(d).is_some_and(|ip| only.is_none_or(|o| o == ip))
                })
                .iter()
                .map(Evidence::zone)
                .collect();
            if matches!(answer.outcome, Outcome::Records(_)) && !from_zone.is_empty() {
                out.extend(from_zone);
            } else {
                out.push(Evidence::dns(
                    &*answer.server,
                    host,
                    *rtype,
                    answer_text(answer, &ips),
                ));
            }
        }
        out
    }

    /// Evidence for the CNAME records followed from `host`: `file:line`
    /// where they come from a zone file, else the answer that carried them.
    pub fn cname_evidence(&self, ctx: &Context<'_>, host: &Name) -> Vec<Evidence> {
        let server = self
            .answers
            .first()
            .map(|(_, a)| &*a.server)
            .unwrap_or_default();
        ctx.cname_evidence(host, &self.cname_chain, server, RecordType::CNAME)
    }

    /// The first temporary failure, as text.
    pub fn temporary(&self) -> Option<String> {
        self.answers
            .iter()
            .find(|(_, a)| a.outcome.is_temporary())
            .map(|(t, a)| format!("{t}: {}", a.outcome))
    }
}

/// Ask A and AAAA for `host` through the check's resolver view.
pub(super) async fn lookup_host(ctx: &Context<'_>, host: &Name) -> HostLookup {
    let (aaaa, a) = futures::join!(
        resolve(ctx.lookup, host, RecordType::AAAA),
        resolve(ctx.lookup, host, RecordType::A)
    );
    let answers = vec![(RecordType::AAAA, aaaa), (RecordType::A, a)];
    let cname_chain = answers
        .iter()
        .map(|(_, a)| &a.cname_chain)
        .find(|c| !c.is_empty())
        .cloned()
        .unwrap_or_default();
    let addresses = answers.iter().flat_map(|(_, a)| answer_ips(a)).collect();
    HostLookup {
        addresses,
        canonical: cname_chain.last().cloned().unwrap_or_else(|| host.clone()),
        cname_chain,
        answers,
    }
}

/// Look several hosts up at once.
pub(super) async fn lookup_hosts(ctx: &Context<'_>, hosts: &[Name]) -> Vec<HostLookup> {
    join_all(hosts.iter().map(|h| lookup_host(ctx, h))).await
}

fn rdata_ip(d: &RData) -> Option<IpAddr> {
    match d {
        RData::A(a) => Some(IpAddr::V4(a.0)),
        RData::AAAA(a) => Some(IpAddr::V6(a.0)),
        _ => None,
    }
}

fn answer_ips(answer: &Answer) -> Vec<IpAddr> {
    answer
        .outcome
        .records()
        .iter()
        .filter_map(|r| rdata_ip(&r.data))
        .collect()
}

/// The answer as evidence text: the addresses, `NXDOMAIN`, `NODATA` or the
/// failure, after the CNAME chain when one was followed.
pub(super) fn answer_text(answer: &Answer, ips: &[IpAddr]) -> String {
    let text = match &answer.outcome {
        Outcome::Records(_) => ips
            .iter()
            .map(IpAddr::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        Outcome::NxDomain { .. } => "NXDOMAIN".into(),
        Outcome::NoData { .. } => "NODATA".into(),
        other => other.to_string(),
    };
    if answer.cname_chain.is_empty() {
        return text;
    }
    let chain: Vec<String> = answer.cname_chain.iter().map(dotted).collect();
    format!("CNAME {} -> {text}", chain.join(" -> "))
}

/// A name as people read it in a record: escaped, with the final dot.
pub(super) fn dotted(name: &Name) -> String {
    if name.is_root() {
        ".".into()
    } else {
        format!("{}.", display_name(name))
    }
}

/// Run this family's rules.
pub async fn check(ctx: &Context<'_>, out: &mut Findings) {
    let route = ctx.route;
    if ctx.mx.outcome.is_temporary() {
        out.incomplete(
            &[&EXCHANGER_SPECIAL_ADDRESS, &SHARED_ADDRESS],
            format!(
                "the MX lookup for {} failed: {}",
                ctx.domain.as_str(),
                ctx.mx.outcome
            ),
        );
        return;
    }
    if !matches!(
        route.outcome,
        RouteKind::Mx
            | RouteKind::ImplicitMx
            | RouteKind::NoUsableExchanger
            | RouteKind::DnsTemporary
    ) {
        return;
    }
    // The hosts whose addresses are used: every exchanger with a name
    // (not an IP-address MX or an invalid name), in plan order.
    let hosts: Vec<&Exchanger> = route
        .exchangers
        .iter()
        .filter(|e| matches!(e.state, ExchangerState::Ok | ExchangerState::Temporary))
        .collect();
    if hosts.is_empty() {
        return;
    }
    let names: Vec<Name> = hosts.iter().map(|e| name_of(ctx, &e.name)).collect();
    let lookups = lookup_hosts(ctx, &names).await;

    // address -> the exchangers (index into hosts) that have it.
    let mut owners: BTreeMap<IpAddr, Vec<usize>> = BTreeMap::new();
    let mut order: Vec<IpAddr> = Vec::new();
    let mut undecided: Vec<String> = Vec::new();
    for (i, (host, look)) in hosts.iter().zip(&lookups).enumerate() {
        if let Some(why) = look.temporary() {
            undecided.push(format!("{} ({why})", host.name));
        }
        for ip in &look.addresses {
            let list = owners.entry(*ip).or_default();
            if !list.contains(&i) {
                list.push(i);
            }
            if !order.contains(ip) {
                order.push(*ip);
            }
        }
    }

    let seen = Seen {
        hosts,
        names,
        lookups,
        owners,
        order,
    };
    special_addresses(ctx, out, &seen, undecided.is_empty());
    shared_addresses(ctx, out, &seen);
    if !undecided.is_empty() {
        out.incomplete(
            &[&EXCHANGER_SPECIAL_ADDRESS, &SHARED_ADDRESS],
            format!(
                "address lookups failed for {}: the addresses of {} could not all be classified",
                shorten(&undecided, 5),
                if undecided.len() == 1 {
                    "that exchanger"
                } else {
                    "those exchangers"
                }
            ),
        );
    }
}

/// The exchanger's name as the route shows it, back to a DNS name (the
/// route keeps the name it looked up; its text form is escaped, so parse it
/// back from the MX records where possible).
fn name_of(ctx: &Context<'_>, text: &str) -> Name {
    if text == ctx.domain.as_str() {
        return ctx.domain.name().clone();
    }
    for r in ctx.mx.outcome.records() {
        if let RData::MX(m) = &r.data
            && display_name(&m.exchange) == text
        {
            return m.exchange.clone();
        }
    }
    let mut n = Name::from_ascii(text).unwrap_or_else(|_| Name::root());
    n.set_fqdn(true);
    n
}

/// `a, b, c and 4 more`.
pub(super) fn shorten(items: &[String], keep: usize) -> String {
    if items.len() <= keep {
        return items.join(", ");
    }
    format!(
        "{} and {} more",
        items[..keep].join(", "),
        items.len() - keep
    )
}

/// The exchangers looked up and the addresses they gave.
struct Seen<'r> {
    /// The exchangers (named, looked up), in plan order.
    hosts: Vec<&'r Exchanger>,
    /// Their DNS names.
    names: Vec<Name>,
    /// Their A/AAAA answers.
    lookups: Vec<HostLookup>,
    /// Address -> the exchangers (indexes into `hosts`) that have it.
    owners: BTreeMap<IpAddr, Vec<usize>>,
    /// Every address once, in plan order.
    order: Vec<IpAddr>,
}

impl Seen<'_> {
    /// Evidence for `ip`: its record under each exchanger that has it.
    fn evidence(&self, ctx: &Context<'_>, ip: IpAddr) -> Vec<Evidence> {
        self.owners[&ip]
            .iter()
            .flat_map(|&i| self.lookups[i].evidence(ctx, &self.names[i], Some(ip)))
            .collect()
    }

    /// The names of the exchangers that have `ip`.
    fn who(&self, ip: IpAddr) -> Vec<String> {
        self.owners[&ip]
            .iter()
            .map(|&i| self.hosts[i].name.clone())
            .collect()
    }
}

/// MX13: special-purpose addresses; `decided` is false when some address
/// lookup failed (then "all special" cannot be told).
fn special_addresses(ctx: &Context<'_>, out: &mut Findings, seen: &Seen<'_>, decided: bool) {
    let order = &seen.order;
    let special: Vec<(IpAddr, String)> = order
        .iter()
        .filter_map(|ip| why_special(*ip).map(|why| (*ip, why)))
        .collect();
    if special.is_empty() {
        return;
    }
    // All special, and nothing left undecided: no sender can deliver.
    let all = special.len() == order.len() && decided;
    let domain = ctx.domain.as_str();
    for (ip, why) in special {
        let who = seen.who(ip);
        let kind = if ctx.route.outcome == RouteKind::ImplicitMx {
            format!("{domain} has no MX records, so mail goes to its own address")
        } else {
            match who.as_slice() {
                [one] => format!("exchanger {one} resolves to it"),
                _ => format!("exchangers {} resolve to it", super::and_list(&who)),
            }
        };
        let consequence = if all {
            format!(
                "every address mail for {domain} could go to is special-purpose: no sender on the Internet can deliver, mail is deferred and then bounces"
            )
        } else {
            "senders on the Internet cannot reach it (or reach a host of their own network instead); they lose time on it before trying the next address".to_string()
        };
        let message = format!("{why}; {kind}; {consequence}");
        let evidence = seen.evidence(ctx, ip);
        let rtype = if ip.is_ipv4() { "A" } else { "AAAA" };
        let owner = seen.lookups[seen.owners[&ip][0]].canonical.clone();
        let fix = format!(
            "publish the host's public address instead: `{} IN {rtype} <public address>` (and remove `{} IN {rtype} {ip}`)",
            dotted(&owner),
            dotted(&owner)
        );
        let b = out
            .add(&EXCHANGER_SPECIAL_ADDRESS, ip.to_string(), message)
            .evidence_all(evidence)
            .fix(fix);
        if all {
            b.severity(Severity::Error);
        }
    }
}

/// MX06, second half: one address, several exchangers.
fn shared_addresses(ctx: &Context<'_>, out: &mut Findings, seen: &Seen<'_>) {
    for ip in &seen.order {
        let idx = &seen.owners[ip];
        if idx.len() < 2 {
            continue;
        }
        let who = seen.who(*ip);
        let message = format!(
            "{ip} is the address of {} exchangers ({}): whatever their names, they are one host, so a sender that cannot reach it has no other exchanger to try there (senders try the address once)",
            idx.len(),
            shorten(&who, 10)
        );
        out.add(&SHARED_ADDRESS, ip.to_string(), message)
            .evidence_all(seen.evidence(ctx, *ip))
            .fix(format!(
                "if the exchangers are meant as backups for each other, give each its own host, on another network; e.g. `{} IN A <address of another host>`",
                dotted(&seen.lookups[idx[1]].canonical)
            ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(s: &str) -> Option<&'static str> {
        match classify(s.parse().unwrap()) {
            Class::Global => None,
            Class::Special(sp) => Some(sp.range),
            Class::Mapped(..) => Some("::ffff:0:0/96"),
        }
    }

    #[test]
    fn special_ipv4_blocks_are_named() {
        let cases = [
            ("0.1.2.3", Some("0.0.0.0/8")),
            ("10.20.30.40", Some("10.0.0.0/8")),
            ("100.64.0.1", Some("100.64.0.0/10")),
            ("100.127.255.255", Some("100.64.0.0/10")),
            ("100.128.0.1", None),
            ("127.0.0.1", Some("127.0.0.0/8")),
            ("169.254.1.1", Some("169.254.0.0/16")),
            ("172.16.0.1", Some("172.16.0.0/12")),
            ("172.31.255.255", Some("172.16.0.0/12")),
            ("172.32.0.1", None),
            ("192.0.0.1", Some("192.0.0.0/24")),
            ("192.0.0.9", None),
            ("192.0.0.10", None),
            ("192.0.2.10", Some("192.0.2.0/24")),
            ("192.88.99.1", Some("192.88.99.0/24")),
            ("192.168.1.1", Some("192.168.0.0/16")),
            ("198.18.0.1", Some("198.18.0.0/15")),
            ("198.19.255.255", Some("198.18.0.0/15")),
            ("198.20.0.1", None),
            ("198.51.100.7", Some("198.51.100.0/24")),
            ("203.0.113.9", Some("203.0.113.0/24")),
            ("224.0.0.1", Some("224.0.0.0/4")),
            ("239.255.255.255", Some("224.0.0.0/4")),
            ("240.0.0.1", Some("240.0.0.0/4")),
            ("255.255.255.255", Some("255.255.255.255/32")),
            ("255.255.255.254", Some("240.0.0.0/4")),
            ("193.0.6.139", None),
            ("8.8.8.8", None),
            ("11.0.0.1", None),
        ];
        for (ip, want) in cases {
            assert_eq!(class(ip), want, "{ip}");
        }
    }

    #[test]
    fn special_ipv6_blocks_are_named() {
        let cases = [
            ("::", Some("::/128")),
            ("::1", Some("::1/128")),
            ("::2", Some("outside 2000::/3")),
            ("64:ff9b::192.0.2.1", None),
            ("64:ff9b:1::1", Some("64:ff9b:1::/48")),
            ("100::1", Some("100::/64")),
            ("2001::1", Some("2001::/32")),
            ("2001:1::1", None),
            ("2001:1::4", Some("2001::/23")),
            ("2001:2::1", Some("2001:2::/48")),
            ("2001:3::1", None),
            ("2001:4:112::1", None),
            ("2001:10::1", Some("2001:10::/28")),
            ("2001:20::1", None),
            ("2001:db8::25", Some("2001:db8::/32")),
            ("2001:200::1", None),
            ("2002:c000:0201::1", None),
            ("2a01:4f8::1", None),
            ("3fff::1", Some("3fff::/20")),
            ("3fff:fff::1", Some("3fff::/20")),
            ("3fff:1000::1", None),
            ("5f00::1", Some("5f00::/16")),
            ("fc00::1", Some("fc00::/7")),
            ("fd12:3456::1", Some("fc00::/7")),
            ("fe80::1", Some("fe80::/10")),
            ("fec0::1", Some("fec0::/10")),
            ("ff02::1", Some("ff00::/8")),
            ("4000::1", Some("outside 2000::/3")),
            ("::ffff:10.1.2.3", Some("::ffff:0:0/96")),
        ];
        for (ip, want) in cases {
            assert_eq!(class(ip), want, "{ip}");
        }
    }

    #[test]
    fn mapped_addresses_carry_the_ipv4_class() {
        assert_eq!(
            classify("::ffff:10.1.2.3".parse().unwrap()),
            Class::Mapped(
                Ipv4Addr::new(10, 1, 2, 3),
                classify_v4(Ipv4Addr::new(10, 1, 2, 3))
            )
        );
        assert_eq!(
            classify("::ffff:193.0.6.139".parse().unwrap()),
            Class::Mapped(Ipv4Addr::new(193, 0, 6, 139), None)
        );
        let why = why_special("::ffff:10.1.2.3".parse().unwrap()).unwrap();
        assert!(why.contains("10.0.0.0/8 (private-use, RFC 1918)"), "{why}");
    }

    #[test]
    fn message_names_the_range() {
        assert_eq!(
            why_special("192.0.2.10".parse().unwrap()).unwrap(),
            "192.0.2.10 is in 192.0.2.0/24 (TEST-NET-1, documentation, RFC 5737)"
        );
        assert_eq!(why_special("193.0.6.139".parse().unwrap()), None);
    }
}
