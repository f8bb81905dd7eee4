//! Rules on the domain's authoritative name servers, each asked directly.
//!
//! A resolver asks one of the zone's name servers, any of them; if they do
//! not all answer, or answer differently, senders see the domain's mail
//! routing come and go. So every server is asked the domain's MX question
//! itself, without recursion (RD=0), as Zonemaster's Zone09 tests do.
//!
//! Words:
//! - the **zone cut** is the closest name at or above the domain that has NS
//!   records; those NS records name the zone's **name servers** (NS hosts);
//! - a **server** is one (NS host, address) pair: a host with an IPv4 and an
//!   IPv6 address is two servers, and both must answer;
//! - a server **answers properly** when it gives NOERROR or NXDOMAIN with the
//!   AA bit set (RFC 1035 section 4.1.1: the answer comes from an authority
//!   for the zone); a timeout, SERVFAIL, REFUSED, another error rcode, a
//!   malformed reply, an answer without AA (a lame server, RFC 1912 section
//!   2.8) or a truncated answer that TCP could not complete is not proper;
//! - the **MX set** a server serves is its MX records as a set of
//!   (preference, lower-cased exchange): order, case and TTL do not count
//!   (zonemaster/zonemaster#1515, #1373: identical data reported as
//!   inconsistent because of record order or TTLs); NXDOMAIN and "no MX
//!   records" are sets of their own.
//!
//! Rules:
//! - `nameserver-unresponsive` (MX15): per server that does not answer
//!   properly, and per NS host without any address; a warning each, an error
//!   each when no server of the zone answers properly;
//! - `nameservers-disagree` (MX16): the servers that answered properly serve
//!   different MX sets; one finding listing which server served which set;
//! - `nameservers-ttl-differ` (MX16, notice): same MX set, different TTLs
//!   (RFC 2181 section 5.2): reported on its own, never as disagreement.
//!
//! Not decided here: a domain that does not exist (NXDOMAIN: the records
//! family reports it), and anything offline (`Context::direct` is `None`). A
//! temporary failure finding the name servers or their addresses makes the
//! rules incomplete; so does an address this machine cannot reach at all (no
//! IPv6 route, say): that is about us, not about the server.
//!
//! The name servers and their addresses are looked up through live DNS
//! ([`Context::live`]) when it may be asked, else through the resolver view:
//! the servers asked are the ones serving the zone now, whatever a zone file
//! given with `--zone` says.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use futures::future::join_all;

use super::{
    Context, Direct, Evidence, Findings, NAMESERVER_UNRESPONSIVE, NAMESERVERS_DISAGREE,
    NAMESERVERS_TTL_DIFFER, Rule, Severity,
};
use crate::address::display_name;
use crate::dns::engine::{Engine, EngineConfig};
use crate::dns::{
    BoxFuture, Lookup, Name, Outcome, RData, RecordType, Response, Status, TempError, resolve,
};

/// The rules of this family, for incomplete checks.
const ALL: [&Rule; 3] = [
    &NAMESERVER_UNRESPONSIVE,
    &NAMESERVERS_DISAGREE,
    &NAMESERVERS_TTL_DIFFER,
];

/// Asks one authoritative server at a time, directly and without recursion
/// (RD=0), with the live [`Engine`]: one engine per server address, made on
/// first use and kept for the next questions.
#[derive(Debug)]
pub struct EngineDirect {
    port: u16,
    timeout: Duration,
    attempts: u32,
    engines: Mutex<HashMap<IpAddr, Engine>>,
}

impl EngineDirect {
    /// Ask servers on `port` (53 in real use), waiting `timeout` for the
    /// first try (later ones back off, see `EngineConfig::try_timeout`), at
    /// most `attempts` tries per question (0 counts as 1).
    pub fn new(port: u16, timeout: Duration, attempts: u32) -> Self {
        EngineDirect {
            port,
            timeout,
            attempts,
            engines: Mutex::new(HashMap::new()),
        }
    }

    /// The engine for `ip`, made on first use (needs a tokio runtime).
    async fn engine(&self, ip: IpAddr) -> io::Result<Engine> {
        let cached = self.lock().get(&ip).cloned();
        if let Some(engine) = cached {
            return Ok(engine);
        }
        let engine = Engine::new(EngineConfig {
            servers: vec![SocketAddr::new(ip, self.port)],
            recursion_desired: false,
            timeout: self.timeout,
            attempts: self.attempts,
            udp_sockets: 1,
            ..EngineConfig::new(Vec::new())
        })
        .await?;
        // Two questions may have made one each at once: keep the first.
        Ok(self.lock().entry(ip).or_insert(engine).clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Engine>> {
        self.engines.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Tries per question an authoritative server gets in a check: one fewer
/// than a resolver gets ([`DEFAULT_ATTEMPTS`](crate::dns::engine::DEFAULT_ATTEMPTS)),
/// since a silent server is a finding, not a wait.
pub const CHECK_ATTEMPTS: u32 = crate::dns::engine::DEFAULT_ATTEMPTS - 1;

impl EngineDirect {
    /// Ask as a check does: port 53, `timeout` for the first try (the
    /// resolver's), at most [`CHECK_ATTEMPTS`] tries per question.
    pub fn for_check(timeout: Duration) -> Self {
        EngineDirect::new(53, timeout, CHECK_ATTEMPTS)
    }
}

impl Direct for EngineDirect {
    fn ask<'a>(
        &'a self,
        server: IpAddr,
        name: &'a Name,
        rtype: RecordType,
    ) -> BoxFuture<'a, Response> {
        Box::pin(async move {
            match self.engine(server).await {
                Ok(engine) => engine.ask(name, rtype).await,
                Err(e) => {
                    let addr = SocketAddr::new(server, self.port).to_string();
                    Response::status(
                        Status::Temporary(TempError::Network {
                            server: addr.clone(),
                            reason: e.to_string(),
                        }),
                        addr,
                    )
                }
            }
        })
    }
}

/// Run this family's rules.
pub async fn check(ctx: &Context<'_>, out: &mut Findings) {
    let Some(direct) = ctx.direct else {
        out.skipped(&ALL, "offline: the authoritative servers were not asked");
        return;
    };
    let lookup = ctx.live.unwrap_or(ctx.lookup);
    let (zone, hosts) = match zone_cut(lookup, ctx.domain.name()).await {
        Cut::Found { zone, hosts } => (zone, hosts),
        Cut::NoDomain | Cut::NotFound => return,
        Cut::Temporary(reason) => {
            out.incomplete(&ALL, reason);
            return;
        }
    };
    let zone_text = display_name(&zone);
    let asked = ask_every_server(ctx, direct, lookup, &hosts, &zone_text, out).await;
    unresponsive(ctx, &asked, &zone_text, out);
    let served: Vec<ServedBy<'_>> = asked
        .heard
        .iter()
        .filter_map(|s| match &s.heard {
            Heard::Served { served, ttls } => Some((s, served, ttls)),
            _ => None,
        })
        .collect();
    if served.len() < 2 {
        return;
    }
    let sets = group(&served, |(_, set, _)| *set);
    if sets.len() > 1 {
        disagree(ctx, direct, &zone, &zone_text, &served, &sets, out).await;
    } else {
        ttls_differ(ctx, &zone_text, &served, out);
    }
}

/// What the zone's servers said, and the NS hosts that could not be asked.
struct Asked {
    /// Every server asked, with what it said (the unreachable ones left out).
    heard: Vec<Server>,
    /// NS hosts without any address, with the answers as evidence.
    no_address: Vec<(Name, Vec<Evidence>)>,
    /// An address lookup failed temporarily or a server could not be asked
    /// from here: "no server answers properly" cannot be decided.
    undecided: bool,
}

/// A server that answered properly: what it served, with the TTLs.
type ServedBy<'a> = (&'a Server, &'a Served, &'a BTreeMap<Item, u32>);

/// Every NS host's addresses, all at once; then every server the MX
/// question, all at once. Temporary failures and servers this machine
/// cannot reach make the rules incomplete.
async fn ask_every_server(
    ctx: &Context<'_>,
    direct: &dyn Direct,
    lookup: &dyn Lookup,
    hosts: &[Name],
    zone_text: &str,
    out: &mut Findings,
) -> Asked {
    let found = join_all(hosts.iter().map(|h| addresses(lookup, h))).await;
    let mut servers: Vec<(Name, IpAddr)> = Vec::new();
    let mut no_address: Vec<(Name, Vec<Evidence>)> = Vec::new();
    let mut undecided = false;
    for (host, found) in hosts.iter().zip(found) {
        match found {
            Addresses::Found(ips) => servers.extend(ips.into_iter().map(|ip| (host.clone(), ip))),
            Addresses::None(evidence) => no_address.push((host.clone(), evidence)),
            Addresses::Temporary(reason) => {
                undecided = true;
                out.incomplete(&ALL, reason);
            }
        }
    }

    let domain = ctx.domain.name();
    let replies = join_all(
        servers
            .iter()
            .map(|(_, ip)| direct.ask(*ip, domain, RecordType::MX)),
    )
    .await;
    let mut heard: Vec<Server> = Vec::new();
    let mut unreachable: Vec<String> = Vec::new();
    for ((host, ip), resp) in servers.into_iter().zip(replies) {
        let source = source(&host, ip, &resp);
        match hear(&resp) {
            Heard::Unreachable(why) => {
                undecided = true;
                unreachable.push(format!("{source}: {why}"));
            }
            heard_now => heard.push(Server {
                host,
                ip,
                source,
                heard: heard_now,
            }),
        }
    }
    if !unreachable.is_empty() {
        out.incomplete(
            &ALL,
            format!(
                "could not ask {} of {zone_text} from this machine: {}",
                super::count(
                    unreachable.len(),
                    "name server address",
                    "name server addresses"
                ),
                unreachable.join("; ")
            ),
        );
    }
    Asked {
        heard,
        no_address,
        undecided,
    }
}

/// `nameserver-unresponsive` (MX15): every NS host without an address and
/// every server that did not answer properly; errors when none did.
fn unresponsive(ctx: &Context<'_>, asked: &Asked, zone_text: &str, out: &mut Findings) {
    let proper = asked
        .heard
        .iter()
        .filter(|s| matches!(s.heard, Heard::Served { .. }))
        .count();
    let none = proper == 0 && !asked.undecided;
    let severity = if none {
        Severity::Error
    } else {
        Severity::Warning
    };
    let consequence = if none {
        format!(
            " No name server of {zone_text} answers properly: resolvers cannot get the MX \
             records of {}, and mail to it waits in queues until it bounces.",
            ctx.domain.as_str()
        )
    } else {
        String::new()
    };
    for (host, evidence) in &asked.no_address {
        let host_text = display_name(host);
        out.add(
            &NAMESERVER_UNRESPONSIVE,
            host_text.clone(),
            format!(
                "the name server {host_text} of {zone_text} has no address (no A or AAAA \
                 record): no resolver can ask it.{consequence}"
            ),
        )
        .evidence_all(evidence.iter().cloned())
        .fix(format!(
            "publish the A and/or AAAA records of {host_text} (and glue at the parent if it \
             is inside {zone_text}), or remove {host_text} from the NS records of {zone_text} \
             (in the zone and at the parent)"
        ))
        .severity(severity);
    }
    for s in &asked.heard {
        let Heard::Failed(fail) = &s.heard else {
            continue;
        };
        let host_text = display_name(&s.host);
        out.add(
            &NAMESERVER_UNRESPONSIVE,
            format!("{host_text} ({})", s.ip),
            format!(
                "the name server {} {} to {} MX.{consequence}",
                s.source,
                fail.what,
                ctx.domain.as_str()
            ),
        )
        .evidence(Evidence::dns(
            s.source.clone(),
            ctx.domain.name(),
            RecordType::MX,
            fail.answer.clone(),
        ))
        .fix(fail.kind.fix(&host_text, s.ip, zone_text))
        .severity(severity);
    }
}

/// The servers that answered properly, grouped by `key` (equal keys
/// together), in the order first seen.
fn group<'a, K: PartialEq>(
    served: &[ServedBy<'a>],
    key: impl Fn(&ServedBy<'a>) -> &'a K,
) -> Vec<(&'a K, Vec<&'a Server>)> {
    let mut groups: Vec<(&K, Vec<&Server>)> = Vec::new();
    for s in served {
        let k = key(s);
        match groups.iter_mut().find(|(other, _)| *other == k) {
            Some((_, who)) => who.push(s.0),
            None => groups.push((k, vec![s.0])),
        }
    }
    groups
}

/// `nameservers-disagree` (MX16): the servers that answered properly serve
/// different MX sets; one finding listing which server served which set,
/// with the SOA serials as evidence of which copy is stale.
async fn disagree(
    ctx: &Context<'_>,
    direct: &dyn Direct,
    zone: &Name,
    zone_text: &str,
    served: &[ServedBy<'_>],
    sets: &[(&Served, Vec<&Server>)],
    out: &mut Findings,
) {
    let reference = reference_set(ctx, sets);
    let serials = serials(direct, zone, served).await;
    let listing: Vec<String> = sets
        .iter()
        .map(|(set, who)| {
            let names: Vec<&str> = who.iter().map(|s| s.source.as_str()).collect();
            format!("{{{set}}} from {}", names.join(", "))
        })
        .collect();
    let others: Vec<String> = sets
        .iter()
        .filter(|(set, _)| *set != reference)
        .flat_map(|(_, who)| who.iter().map(|s| s.label()))
        .collect();
    let mut evidence: Vec<Evidence> = served
        .iter()
        .map(|(s, set, _)| {
            Evidence::dns(
                s.source.clone(),
                ctx.domain.name(),
                RecordType::MX,
                set.to_string(),
            )
        })
        .collect();
    evidence.extend(serials);
    out.add(
        &NAMESERVERS_DISAGREE,
        format!("{} MX", ctx.domain.as_str()),
        format!(
            "the name servers of {zone_text} serve {} different MX sets for {}: {}. \
             Resolvers get one or the other depending on the server they ask.",
            sets.len(),
            ctx.domain.as_str(),
            listing.join("; ")
        ),
    )
    .evidence_all(evidence)
    .fix(format!(
        "make every name server serve the same zone: bump the SOA serial on the primary \
         and check zone transfers to {} (every server should answer {{{reference}}})",
        others.join(", ")
    ));
}

/// `nameservers-ttl-differ` (MX16, notice): the same MX set everywhere, with
/// different TTLs (RFC 2181 section 5.2); never reported as disagreement.
fn ttls_differ(ctx: &Context<'_>, zone_text: &str, served: &[ServedBy<'_>], out: &mut Findings) {
    let by_ttls = group(served, |(_, _, ttls)| *ttls);
    if by_ttls.len() < 2 {
        return;
    }
    let most = by_ttls
        .iter()
        .enumerate()
        .max_by_key(|(i, (_, who))| (who.len(), std::cmp::Reverse(*i)))
        .map_or(0, |(i, _)| i);
    let listing: Vec<String> = by_ttls
        .iter()
        .map(|(ttls, who)| {
            let names: Vec<&str> = who.iter().map(|s| s.source.as_str()).collect();
            format!("{} from {}", ttl_text(ttls), names.join(", "))
        })
        .collect();
    let others: Vec<String> = by_ttls
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != most)
        .flat_map(|(_, (_, who))| who.iter().map(|s| s.label()))
        .collect();
    out.add(
        &NAMESERVERS_TTL_DIFFER,
        format!("{} MX", ctx.domain.as_str()),
        format!(
            "the name servers of {zone_text} serve the same MX set for {} with different \
             TTLs: {}. The MX set itself agrees; the servers serve different versions of \
             the zone.",
            ctx.domain.as_str(),
            listing.join("; ")
        ),
    )
    .evidence_all(served.iter().map(|(s, set, ttls)| {
        Evidence::dns(
            s.source.clone(),
            ctx.domain.name(),
            RecordType::MX,
            format!("{set} ({})", ttl_text(ttls)),
        )
    }))
    .fix(format!(
        "make every name server serve the same zone: bump the SOA serial on the primary and \
         check zone transfers to {}",
        others.join(", ")
    ));
}

/// Where the zone's name servers were looked for.
enum Cut {
    /// The zone cut and its NS hosts (lower-cased, sorted, no duplicates).
    Found { zone: Name, hosts: Vec<Name> },
    /// The domain does not exist.
    NoDomain,
    /// No name with NS records up to the top-level domain.
    NotFound,
    /// A lookup failed temporarily: why.
    Temporary(String),
}

/// Find the zone cut: NS for the domain, else for its parent, one label at a
/// time, up to the top-level domain (never the root). A name that is an
/// alias cannot own NS records (RFC 2181 section 10.1): its zone is above.
async fn zone_cut(lookup: &dyn Lookup, domain: &Name) -> Cut {
    let mut name = domain.clone();
    loop {
        let answer = resolve(lookup, &name, RecordType::NS).await;
        let alias = !answer.cname_chain.is_empty();
        match &answer.outcome {
            Outcome::Records(records) if !alias => {
                let hosts: BTreeSet<Name> = records
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::NS(ns) => Some(ns.0.to_lowercase()),
                        _ => None,
                    })
                    .collect();
                if !hosts.is_empty() {
                    return Cut::Found {
                        zone: name,
                        hosts: hosts.into_iter().collect(),
                    };
                }
            }
            Outcome::Temporary(_) | Outcome::Truncated => {
                return Cut::Temporary(format!(
                    "the name servers of {} could not be found: {} NS: {}",
                    display_name(domain),
                    display_name(&name),
                    answer.outcome
                ));
            }
            Outcome::NxDomain { .. } if !alias => {
                return if name == *domain {
                    Cut::NoDomain
                } else {
                    Cut::NotFound
                };
            }
            Outcome::Records(_) | Outcome::NoData { .. } | Outcome::NxDomain { .. } => {}
        }
        if name.num_labels() <= 1 {
            return Cut::NotFound;
        }
        name = name.base_name();
    }
}

/// What the lookups of one NS host's addresses gave.
enum Addresses {
    /// Its addresses (IPv4 first, sorted).
    Found(Vec<IpAddr>),
    /// None at all: the answers, as evidence.
    None(Vec<Evidence>),
    /// None found, and a lookup failed temporarily: why.
    Temporary(String),
}

async fn addresses(lookup: &dyn Lookup, host: &Name) -> Addresses {
    let (a, aaaa) = futures::join!(
        resolve(lookup, host, RecordType::A),
        resolve(lookup, host, RecordType::AAAA)
    );
    let mut ips: Vec<IpAddr> = a
        .outcome
        .records()
        .iter()
        .chain(aaaa.outcome.records())
        .filter_map(|r| match &r.data {
            RData::A(v4) => Some(IpAddr::V4(v4.0)),
            RData::AAAA(v6) => Some(IpAddr::V6(v6.0)),
            _ => None,
        })
        .collect();
    ips.sort();
    ips.dedup();
    if !ips.is_empty() {
        return Addresses::Found(ips);
    }
    if a.outcome.is_temporary() || aaaa.outcome.is_temporary() {
        let failed = if a.outcome.is_temporary() { &a } else { &aaaa };
        return Addresses::Temporary(format!(
            "the addresses of the name server {} could not be found: {}",
            display_name(host),
            failed.outcome
        ));
    }
    Addresses::None(vec![
        Evidence::dns(&*a.server, host, RecordType::A, a.outcome.to_string()),
        Evidence::dns(
            &*aaaa.server,
            host,
            RecordType::AAAA,
            aaaa.outcome.to_string(),
        ),
    ])
}

/// One server asked, and what it said.
struct Server {
    host: Name,
    ip: IpAddr,
    /// `ns1.example.org (192.0.2.53:53)`, for evidence and messages.
    source: String,
    heard: Heard,
}

impl Server {
    /// `ns1.example.org (192.0.2.53)`, for fixes.
    fn label(&self) -> String {
        format!("{} ({})", display_name(&self.host), self.ip)
    }
}

/// `ns1.example.org (192.0.2.53:53)`: the host and the address that answered.
fn source(host: &Name, ip: IpAddr, resp: &Response) -> String {
    let addr = if resp.server.is_empty() {
        ip.to_string()
    } else {
        resp.server.to_string()
    };
    format!("{} ({addr})", display_name(host))
}

/// What one server's answer means here.
enum Heard {
    /// A proper answer.
    Served {
        served: Served,
        /// The TTL of each item (the lowest, if one is repeated).
        ttls: BTreeMap<Item, u32>,
    },
    /// Not a proper answer.
    Failed(Failure),
    /// Could not be asked from here (no route, socket error): why.
    Unreachable(String),
}

/// How a server failed to answer properly.
struct Failure {
    kind: FailureKind,
    /// For the message: "did not answer (timeout)".
    what: String,
    /// For the evidence: "timeout".
    answer: String,
}

#[derive(Clone, Copy)]
enum FailureKind {
    /// No answer, or a reply that could not be used.
    Silent,
    /// SERVFAIL: it has no usable copy of the zone.
    ServFail,
    /// REFUSED, or an answer without AA: it does not serve the zone.
    NotServing,
    /// Truncated over UDP, nothing over TCP.
    NoTcp,
    /// Another error rcode.
    Rcode,
}

impl FailureKind {
    fn fix(self, host: &str, ip: IpAddr, zone: &str) -> String {
        match self {
            FailureKind::Silent => format!(
                "make sure {host} ({ip}) runs a name server that serves {zone} and is reachable \
                 on UDP and TCP port 53, or remove {host} from the NS records of {zone} (in the \
                 zone and at the parent)"
            ),
            FailureKind::ServFail => format!(
                "look in the logs of the name server on {host} ({ip}) for {zone}: the zone \
                 failed to load, expired (the primary is unreachable for zone transfers) or its \
                 DNSSEC signatures are broken"
            ),
            FailureKind::NotServing => format!(
                "configure {host} ({ip}) to serve {zone} authoritatively (as a secondary of the \
                 primary), or remove {host} from the NS records of {zone} (in the zone and at \
                 the parent)"
            ),
            FailureKind::NoTcp => format!(
                "let DNS over TCP port 53 reach {host} ({ip}) (RFC 7766: TCP support is \
                 required, and long answers come only over TCP)"
            ),
            FailureKind::Rcode => format!(
                "make the name server on {host} ({ip}) answer MX questions for {zone} with \
                 NOERROR, or remove {host} from the NS records of {zone}"
            ),
        }
    }
}

fn hear(resp: &Response) -> Heard {
    let failed = |kind, what: &str, answer: &str| {
        Heard::Failed(Failure {
            kind,
            what: what.to_owned(),
            answer: answer.to_owned(),
        })
    };
    match &resp.status {
        Status::NoError | Status::NxDomain if !resp.authoritative => failed(
            FailureKind::NotServing,
            "answered without the AA bit (it is not authoritative for the zone: a lame server)",
            "answer without AA bit",
        ),
        Status::NoError => {
            let mut ttls: BTreeMap<Item, u32> = BTreeMap::new();
            for r in resp.answers.iter() {
                let item = match &r.data {
                    RData::MX(mx) => Item::Mx {
                        owner: r.name.to_lowercase(),
                        preference: mx.preference,
                        exchange: fqdn_text(&mx.exchange),
                    },
                    RData::CNAME(c) => Item::Alias {
                        owner: r.name.to_lowercase(),
                        target: fqdn_text(&c.0),
                    },
                    _ => continue,
                };
                let ttl = ttls.entry(item).or_insert(r.ttl);
                *ttl = (*ttl).min(r.ttl);
            }
            let items: BTreeSet<Item> = ttls.keys().cloned().collect();
            Heard::Served {
                served: Served::Records(items),
                ttls,
            }
        }
        Status::NxDomain => Heard::Served {
            served: Served::NxDomain,
            ttls: BTreeMap::new(),
        },
        Status::Truncated => failed(
            FailureKind::NoTcp,
            "answered with a truncated reply (TC bit) over UDP and gave no full answer over TCP",
            "truncated, no answer over TCP",
        ),
        Status::Temporary(e) => match e {
            TempError::Timeout { .. } => {
                failed(FailureKind::Silent, "did not answer (timeout)", "timeout")
            }
            TempError::ServFail(_) | TempError::Bogus { .. } => failed(
                FailureKind::ServFail,
                "answered SERVFAIL (it has no usable copy of the zone)",
                "SERVFAIL",
            ),
            TempError::Refused(_) => failed(
                FailureKind::NotServing,
                "answered REFUSED (it does not serve the zone)",
                "REFUSED",
            ),
            TempError::Rcode { rcode, .. } => {
                failed(FailureKind::Rcode, &format!("answered {rcode}"), rcode)
            }
            TempError::Malformed { reason, .. } => failed(
                FailureKind::Silent,
                &format!("sent a reply that could not be used ({reason})"),
                &format!("malformed reply: {reason}"),
            ),
            TempError::Network { reason, .. } => Heard::Unreachable(reason.clone()),
            other => failed(
                FailureKind::Silent,
                &format!("gave no usable answer ({other})"),
                &other.to_string(),
            ),
        },
    }
}

/// An exchanger name as compared and shown: lower-case, with the final dot.
fn fqdn_text(name: &Name) -> String {
    if name.is_root() {
        ".".to_owned()
    } else {
        format!("{}.", display_name(name))
    }
}

/// One record of an MX answer, as compared between servers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Item {
    /// An MX record: (owner, preference, exchange), lower-cased.
    Mx {
        owner: Name,
        preference: u16,
        exchange: String,
    },
    /// The domain (or a name on its alias chain) is an alias.
    Alias { owner: Name, target: String },
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Item::Mx {
                preference,
                exchange,
                ..
            } => write!(f, "{preference} {exchange}"),
            Item::Alias { owner, target } => write!(f, "{} CNAME {target}", fqdn_text(owner)),
        }
    }
}

/// The MX set one server serves.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Served {
    /// NOERROR: these records (empty: no MX records, NODATA).
    Records(BTreeSet<Item>),
    /// NXDOMAIN.
    NxDomain,
}

impl Served {
    /// The MX records as (preference, exchange), for comparing with the
    /// resolver's answer.
    fn mx_pairs(&self) -> BTreeSet<(u16, String)> {
        match self {
            Served::Records(items) => items
                .iter()
                .filter_map(|i| match i {
                    Item::Mx {
                        preference,
                        exchange,
                        ..
                    } => Some((*preference, exchange.clone())),
                    Item::Alias { .. } => None,
                })
                .collect(),
            Served::NxDomain => BTreeSet::new(),
        }
    }
}

impl fmt::Display for Served {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Served::Records(items) if items.is_empty() => f.write_str("no MX records (NODATA)"),
            Served::Records(items) => {
                // Aliases first, then MX records by preference and name.
                let mut parts: Vec<&Item> = items.iter().collect();
                parts.sort_by_key(|i| match i {
                    Item::Alias { .. } => (0, 0, String::new()),
                    Item::Mx {
                        preference,
                        exchange,
                        ..
                    } => (1, *preference, exchange.clone()),
                });
                let text: Vec<String> = parts.iter().map(ToString::to_string).collect();
                f.write_str(&text.join(", "))
            }
            Served::NxDomain => f.write_str("no such domain (NXDOMAIN)"),
        }
    }
}

/// The TTLs of a set, for people: `TTL 300`, or per record when they differ.
fn ttl_text(ttls: &BTreeMap<Item, u32>) -> String {
    let distinct: BTreeSet<u32> = ttls.values().copied().collect();
    match distinct.len() {
        0 => "no records".to_owned(),
        1 => format!("TTL {}", distinct.first().copied().unwrap_or_default()),
        _ => {
            let parts: Vec<String> = ttls.iter().map(|(i, t)| format!("{i} TTL {t}")).collect();
            format!("TTLs {}", parts.join(", "))
        }
    }
}

/// The set the others should serve: the one in the zone file being checked,
/// else the one most servers serve (a tie goes to the one the resolver
/// answered, then to the first).
fn reference_set<'s>(ctx: &Context<'_>, sets: &[(&'s Served, Vec<&Server>)]) -> &'s Served {
    let resolver: BTreeSet<(u16, String)> = ctx
        .mx
        .outcome
        .records()
        .iter()
        .filter_map(|r| match &r.data {
            RData::MX(mx) => Some((mx.preference, fqdn_text(&mx.exchange))),
            _ => None,
        })
        .collect();
    let matches_resolver = |set: &Served| !resolver.is_empty() && set.mx_pairs() == resolver;
    if !ctx.zones.is_empty()
        && let Some((set, _)) = sets.iter().find(|(set, _)| matches_resolver(set))
    {
        return set;
    }
    sets.iter()
        .enumerate()
        .max_by_key(|(i, (set, who))| (who.len(), matches_resolver(set), std::cmp::Reverse(*i)))
        .map_or(sets[0].0, |(_, (set, _))| *set)
}

/// The SOA serial each server serves for the zone, as evidence of which copy
/// is stale.
async fn serials(direct: &dyn Direct, zone: &Name, served: &[ServedBy<'_>]) -> Vec<Evidence> {
    let replies = join_all(
        served
            .iter()
            .map(|(s, _, _)| direct.ask(s.ip, zone, RecordType::SOA)),
    )
    .await;
    served
        .iter()
        .zip(replies)
        .filter_map(|((s, _, _), resp)| {
            let serial = resp.answers.iter().find_map(|r| match &r.data {
                RData::SOA(soa) if resp.status == Status::NoError => Some(soa.serial),
                _ => None,
            })?;
            Some(Evidence::dns(
                s.source.clone(),
                zone,
                RecordType::SOA,
                format!("serial {serial}"),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::Domain;
    use crate::check::{CheckOptions, Report, check as check_all};
    use crate::dns::Record;
    use crate::dns::fake::Fake;
    use crate::dns::rdata::MX;
    use crate::dns::zone::ZoneSet;

    /// A scripted `Direct`: a response per (address, type); others time out.
    #[derive(Default)]
    struct Script {
        replies: HashMap<(IpAddr, RecordType), Response>,
        asked: Mutex<Vec<(IpAddr, Name, RecordType)>>,
    }

    impl Script {
        fn mx(mut self, ip: &str, aa: bool, mxs: &[(u16, &str, u32)]) -> Self {
            let mut resp = Response::status(Status::NoError, format!("{ip}:53"));
            resp.authoritative = aa;
            resp.answers = mxs
                .iter()
                .map(|(p, x, ttl)| {
                    Record::from_rdata(n("example.test."), *ttl, RData::MX(MX::new(*p, n(x))))
                })
                .collect();
            self.replies
                .insert((ip.parse().unwrap(), RecordType::MX), resp);
            self
        }

        fn status(mut self, ip: &str, status: Status) -> Self {
            let mut resp = Response::status(status, format!("{ip}:53"));
            resp.authoritative = true;
            self.replies
                .insert((ip.parse().unwrap(), RecordType::MX), resp);
            self
        }
    }

    impl Direct for Script {
        fn ask<'a>(
            &'a self,
            server: IpAddr,
            name: &'a Name,
            rtype: RecordType,
        ) -> BoxFuture<'a, Response> {
            self.asked
                .lock()
                .unwrap()
                .push((server, name.clone(), rtype));
            let resp = self
                .replies
                .get(&(server, rtype))
                .cloned()
                .unwrap_or_else(|| {
                    Response::status(
                        Status::Temporary(TempError::Timeout {
                            servers: format!("{server}:53"),
                            ignored: 0,
                            last_ignored: None,
                        }),
                        format!("{server}:53"),
                    )
                });
            Box::pin(async move { resp })
        }
    }

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    const ZONE: &str = "$ORIGIN example.test.\n$TTL 300\n\
        @ SOA ns1 hostmaster 1 3600 600 86400 300\n\
        @ NS ns1\n@ NS NS2.example.test.\n\
        ns1 A 192.0.2.1\nns2 A 192.0.2.2\nns2 AAAA 2001:db8::2\n\
        @ MX 10 mx1\nmx1 A 192.0.2.25\n\
        alias CNAME elsewhere.invalid.\n";

    async fn run(domain: &str, lookup: &Fake, direct: Option<&dyn Direct>) -> Report {
        let domain = Domain::parse(domain).unwrap();
        check_all(
            &domain,
            lookup,
            Some(lookup),
            direct,
            &ZoneSet::default(),
            &CheckOptions::default(),
        )
        .await
    }

    fn ours(report: &Report) -> Vec<(&'static str, Severity, String)> {
        report
            .findings
            .iter()
            .filter(|f| ALL.iter().any(|r| r.id == f.id))
            .map(|f| (f.id, f.severity, f.subject.clone()))
            .collect()
    }

    fn three_agreeing() -> Script {
        Script::default()
            .mx("192.0.2.1", true, &[(10, "mx1.example.test.", 300)])
            .mx("192.0.2.2", true, &[(10, "MX1.Example.Test.", 300)])
            .mx("2001:db8::2", true, &[(10, "mx1.example.test.", 300)])
    }

    #[tokio::test]
    async fn offline_asks_nothing() {
        let fake = Fake::new().zone(ZONE).unwrap();
        let report = run("example.test", &fake, None).await;
        assert!(ours(&report).is_empty());
        assert_eq!(fake.count("example.test", RecordType::NS), 0);
    }

    #[tokio::test]
    async fn every_address_of_every_ns_host_is_asked() {
        let fake = Fake::new().zone(ZONE).unwrap();
        let script = three_agreeing();
        let report = run("example.test", &fake, Some(&script)).await;
        assert!(ours(&report).is_empty(), "{:?}", report.findings);
        let mut asked: Vec<IpAddr> = script.asked.lock().unwrap().iter().map(|a| a.0).collect();
        asked.sort();
        let want: Vec<IpAddr> = ["192.0.2.1", "192.0.2.2", "2001:db8::2"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        assert_eq!(asked, want);
    }

    #[tokio::test]
    async fn a_name_without_ns_walks_up_to_the_zone_cut() {
        let text = format!("{ZONE}sub.deep MX 10 mx1\n");
        let fake = Fake::new().zone(&text).unwrap();
        let script = Script::default();
        let _ = run("sub.deep.example.test", &fake, Some(&script)).await;
        assert_eq!(fake.count("sub.deep.example.test", RecordType::NS), 1);
        assert_eq!(fake.count("deep.example.test", RecordType::NS), 1);
        assert_eq!(fake.count("example.test", RecordType::NS), 1);
        assert_eq!(fake.count("test", RecordType::NS), 0);
        let asked = script.asked.lock().unwrap();
        assert!(
            asked
                .iter()
                .all(|(_, name, _)| *name == n("sub.deep.example.test."))
        );
        assert_eq!(asked.len(), 3);
    }

    #[tokio::test]
    async fn an_alias_has_its_zone_above_it() {
        let fake = Fake::new().zone(ZONE).unwrap();
        let script = Script::default();
        let _ = run("alias.example.test", &fake, Some(&script)).await;
        assert_eq!(fake.count("example.test", RecordType::NS), 1);
        assert_eq!(script.asked.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn no_such_domain_is_left_to_another_family() {
        let fake = Fake::new().zone(ZONE).unwrap();
        let script = Script::default();
        let report = run("nowhere.example.test", &fake, Some(&script)).await;
        assert!(ours(&report).is_empty());
        assert!(script.asked.lock().unwrap().is_empty());
        assert!(
            report
                .incomplete
                .iter()
                .all(|i| !i.rules.contains(&"nameservers-disagree"))
        );
    }

    #[tokio::test]
    async fn an_unreachable_address_is_incomplete_not_a_finding() {
        let fake = Fake::new().zone(ZONE).unwrap();
        let mut script = three_agreeing();
        let v6: IpAddr = "2001:db8::2".parse().unwrap();
        script.replies.insert(
            (v6, RecordType::MX),
            Response::status(
                Status::Temporary(TempError::Network {
                    server: "[2001:db8::2]:53".into(),
                    reason: "Network is unreachable".into(),
                }),
                "[2001:db8::2]:53",
            ),
        );
        let report = run("example.test", &fake, Some(&script)).await;
        assert!(ours(&report).is_empty(), "{:?}", report.findings);
        let inc: Vec<_> = report
            .incomplete
            .iter()
            .filter(|i| i.rules.contains(&"nameserver-unresponsive"))
            .collect();
        assert_eq!(inc.len(), 1, "{:?}", report.incomplete);
        assert!(
            inc[0]
                .reason
                .contains("ns2.example.test ([2001:db8::2]:53)"),
            "{}",
            inc[0].reason
        );
    }

    #[tokio::test]
    async fn nxdomain_at_one_server_is_disagreement() {
        let fake = Fake::new().zone(ZONE).unwrap();
        let script = three_agreeing().status("192.0.2.2", Status::NxDomain);
        let report = run("example.test", &fake, Some(&script)).await;
        assert_eq!(
            ours(&report),
            vec![(
                "nameservers-disagree",
                Severity::Warning,
                "example.test MX".to_owned()
            )]
        );
        let f = &report
            .findings
            .iter()
            .find(|f| f.id == "nameservers-disagree")
            .unwrap();
        assert!(
            f.evidence
                .iter()
                .any(|e| e.answer == "no such domain (NXDOMAIN)")
        );
        assert!(
            f.fix
                .as_deref()
                .unwrap()
                .contains("ns2.example.test (192.0.2.2)"),
            "{:?}",
            f.fix
        );
    }

    #[tokio::test]
    async fn lame_and_failing_servers_are_each_reported() {
        let fake = Fake::new().zone(ZONE).unwrap();
        let script = three_agreeing()
            .mx("192.0.2.2", false, &[(10, "mx9.example.test.", 300)])
            .status(
                "2001:db8::2",
                Status::Temporary(TempError::Rcode {
                    rcode: "NOTIMP".into(),
                    server: "[2001:db8::2]:53".into(),
                }),
            );
        let report = run("example.test", &fake, Some(&script)).await;
        let got = ours(&report);
        assert_eq!(
            got,
            vec![
                (
                    "nameserver-unresponsive",
                    Severity::Warning,
                    "ns2.example.test (192.0.2.2)".to_owned()
                ),
                (
                    "nameserver-unresponsive",
                    Severity::Warning,
                    "ns2.example.test (2001:db8::2)".to_owned()
                ),
            ],
            "the lame server's different data is not disagreement"
        );
        let answers: Vec<&str> = report
            .findings
            .iter()
            .flat_map(|f| f.evidence.iter().map(|e| e.answer.as_str()))
            .collect();
        assert!(answers.contains(&"answer without AA bit"), "{answers:?}");
        assert!(answers.contains(&"NOTIMP"), "{answers:?}");
    }

    #[tokio::test]
    async fn the_ns_lookup_failing_makes_the_family_incomplete() {
        let fake = Fake::new()
            .zone(ZONE)
            .unwrap()
            .servfail("example.test", RecordType::NS);
        let script = Script::default();
        let report = run("example.test", &fake, Some(&script)).await;
        assert!(ours(&report).is_empty());
        let inc = report
            .incomplete
            .iter()
            .find(|i| i.rules == ALL.iter().map(|r| r.id).collect::<Vec<_>>())
            .expect("incomplete");
        assert!(inc.reason.contains("SERVFAIL"), "{}", inc.reason);
        assert!(script.asked.lock().unwrap().is_empty());
    }

    #[test]
    fn sets_ignore_order_case_and_ttl() {
        let resp = |mxs: &[(u16, &str, u32)]| {
            let mut r = Response::status(Status::NoError, "x");
            r.authoritative = true;
            r.answers = mxs
                .iter()
                .map(|(p, x, t)| {
                    Record::from_rdata(n("example.test."), *t, RData::MX(MX::new(*p, n(x))))
                })
                .collect();
            r
        };
        let served = |r: &Response| match hear(r) {
            Heard::Served { served, ttls } => (served, ttls),
            _ => panic!("not served"),
        };
        let (a, at) = served(&resp(&[(10, "a.example.", 300), (20, "b.example.", 300)]));
        let (b, bt) = served(&resp(&[(20, "B.Example.", 60), (10, "a.example.", 60)]));
        assert_eq!(a, b);
        assert_ne!(at, bt);
        assert_eq!(a.to_string(), "10 a.example., 20 b.example.");
        assert_eq!(ttl_text(&at), "TTL 300");
    }
}
