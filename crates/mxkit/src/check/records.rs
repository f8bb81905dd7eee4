//! Rules on the MX RRset and its exchangers: `implicit-mx` (MX01),
//! `mx-is-address` (MX02), `exchanger-bad-name` (MX03), `null-mx-mixed` and
//! `null-mx-preference` (MX04), `duplicate-exchanger` (MX06),
//! `single-exchanger` (MX07), `mx-at-tld` (MX09), `exchanger-without-address`
//! and `no-usable-exchanger` (MX10), `exchanger-is-cname` (MX11),
//! `domain-is-cname` (MX12) and `mx-ttl` (MX17).
//!
//! Words:
//! - the **MX RRset** is the domain's MX records as one answer gives them;
//!   its **owner** is the domain, or the end of the domain's CNAME chain;
//! - an **exchanger** is a host name an MX record points to; the plan
//!   ([`crate::route::Route`]) says what became of each one, and these rules
//!   read it rather than deciding again, so that `check` and `route` never
//!   disagree;
//! - the **fix** is the exact record to publish, written for the zone file
//!   (`example.org. IN MX 10 mail.example.org.`).
//!
//! Outcomes of the MX lookup, each handled before any rule runs:
//! - temporary (SERVFAIL, timeout, truncated, offline outside the zones):
//!   every rule here is reported incomplete, with the reason, and nothing
//!   fires (a temporary failure is never "no MX", postalserver/postal#2833);
//! - NXDOMAIN: one error, `no-usable-exchanger`, saying the domain does not
//!   exist (RFC 5321 section 5.1: nothing to deliver to);
//! - NODATA: implicit MX (`implicit-mx`);
//! - records: the record rules, then the exchanger rules.
//!
//! Evidence: the `file:line` of zone-file records (see
//! [`Context::mx_evidence`]), else the server and its answer. Names in
//! subjects and messages are escaped ([`display_name`]): a zone or a server
//! may put any byte in a label.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::addresses::{HostLookup, answer_text, dotted, lookup_host, lookup_hosts, shorten};
use super::{
    Context, DOMAIN_IS_CNAME, DUPLICATE_EXCHANGER, EXCHANGER_BAD_NAME, EXCHANGER_IS_CNAME,
    EXCHANGER_WITHOUT_ADDRESS, Evidence, Findings, IMPLICIT_MX, MX_AT_TLD, MX_IS_ADDRESS, MX_TTL,
    NO_USABLE_EXCHANGER, NULL_MX_MIXED, NULL_MX_PREFERENCE, Rule, SINGLE_EXCHANGER, Severity,
};
use crate::address::{ExchangeName, classify_exchange, display_name};
use crate::dns::{Name, Outcome, RData, RecordType};
use crate::route::{Exchanger, ExchangerState, Route, RouteKind, RouteVerdict};

/// Every rule of this family (reported incomplete together when the MX
/// lookup fails temporarily).
pub const FAMILY: &[&Rule] = &[
    &IMPLICIT_MX,
    &MX_IS_ADDRESS,
    &EXCHANGER_BAD_NAME,
    &NULL_MX_MIXED,
    &NULL_MX_PREFERENCE,
    &DUPLICATE_EXCHANGER,
    &SINGLE_EXCHANGER,
    &MX_AT_TLD,
    &EXCHANGER_WITHOUT_ADDRESS,
    &NO_USABLE_EXCHANGER,
    &EXCHANGER_IS_CNAME,
    &DOMAIN_IS_CNAME,
    &MX_TTL,
];

/// Lowest MX TTL not worth a notice, in seconds (five minutes).
pub const MIN_MX_TTL: u32 = 300;

/// Highest MX TTL not worth a notice, in seconds (one week).
pub const MAX_MX_TTL: u32 = 604_800;

/// One MX record as published.
struct Mx {
    preference: u16,
    exchange: Name,
    ttl: u32,
}

/// Run this family's rules.
pub async fn check(ctx: &Context<'_>, out: &mut Findings) {
    let domain = ctx.domain.name();
    let text = ctx.domain.as_str();
    match &ctx.mx.outcome {
        o if o.is_temporary() => {
            out.incomplete(FAMILY, format!("the MX lookup for {text} failed: {o}"));
            return;
        }
        Outcome::NxDomain { .. } => {
            no_such_domain(ctx, out);
            return;
        }
        _ => {}
    }
    domain_is_cname(ctx, out);
    let owner = ctx.mx.canonical(domain).clone();
    let records: Vec<Mx> = ctx
        .mx
        .outcome
        .records()
        .iter()
        .filter_map(|r| match &r.data {
            RData::MX(m) => Some(Mx {
                preference: m.preference,
                exchange: m.exchange.clone(),
                ttl: r.ttl,
            }),
            _ => None,
        })
        .collect();
    if records.is_empty() {
        implicit_mx(ctx, out).await;
        return;
    }
    let nulls: Vec<&Mx> = records.iter().filter(|m| m.exchange.is_root()).collect();
    let lone_null = nulls.len() == records.len();
    if !lone_null {
        mx_at_tld(ctx, out, &owner);
    }
    mx_ttl(ctx, out, &owner, &records);
    null_mx(ctx, out, &owner, &records, &nulls);
    for m in &records {
        exchange_name(ctx, out, &owner, m);
    }
    duplicates(ctx, out, &owner, &records);
    if !nulls.is_empty() {
        // Null MX wins (RFC 7505 section 3): no exchanger is looked up.
        return;
    }
    exchangers(ctx, out, &owner).await;
}

/// `example.org. MX 10 mx1.example.org.`
fn record_subject(owner: &Name, preference: u16, exchange: &Name) -> String {
    format!("{} MX {preference} {}", dotted(owner), dotted(exchange))
}

/// The domain's own CNAME records (and the rest of its chain) as evidence.
fn domain_cname_evidence(ctx: &Context<'_>) -> Vec<Evidence> {
    ctx.cname_evidence(
        ctx.domain.name(),
        &ctx.mx.cname_chain,
        &ctx.mx.server,
        RecordType::MX,
    )
}

/// The MX answer itself as DNS evidence (for negative answers).
fn mx_answer_evidence(ctx: &Context<'_>) -> Evidence {
    Evidence::dns(
        &*ctx.mx.server,
        ctx.domain.name(),
        RecordType::MX,
        answer_text(ctx.mx, &[]),
    )
}

/// NXDOMAIN for the domain: one error.
fn no_such_domain(ctx: &Context<'_>, out: &mut Findings) {
    let text = ctx.domain.as_str();
    let mut message = match ctx.mx.cname_chain.last() {
        Some(target) => format!(
            "{text} is an alias (CNAME) for {}, which does not exist (NXDOMAIN)",
            display_name(target)
        ),
        None => format!("{text} does not exist (NXDOMAIN)"),
    };
    message
        .push_str(": there is nothing to deliver to, and every sender bounces mail for it at once");
    let mut evidence = domain_cname_evidence(ctx);
    evidence.push(mx_answer_evidence(ctx));
    out.add(&NO_USABLE_EXCHANGER, text, message)
        .evidence_all(evidence)
        .fix(format!(
            "check the spelling; if {text} should receive mail, publish it with MX records: `{text}. IN MX 10 mail.{text}.` and `mail.{text}. IN A <address>`"
        ));
}

/// MX12: the domain is an alias; its MX records are the target's.
fn domain_is_cname(ctx: &Context<'_>, out: &mut Findings) {
    let Some(target) = ctx.mx.cname_chain.last() else {
        return;
    };
    let text = ctx.domain.as_str();
    let chain: Vec<String> = ctx.mx.cname_chain.iter().map(display_name).collect();
    let message = format!(
        "{text} is an alias (CNAME) for {}; senders follow it and use the MX records of {} (allowed: RFC 5321 section 5.1 processes the alias's target as if it were the domain, and recipient addresses keep {text}). \
This is not exchanger-is-cname: an alias may lead to a name that has MX records, as here, but the host an MX record names must not itself be an alias (RFC 2181 section 10.3)",
        chain.join(" -> "),
        display_name(target)
    );
    out.add(&DOMAIN_IS_CNAME, text, message)
        .evidence_all(domain_cname_evidence(ctx));
}

/// True for a single-label domain (a TLD) or a name under `.arpa`.
fn tld_or_arpa(text: &str) -> bool {
    !text.contains('.') || text == "arpa" || text.ends_with(".arpa")
}

/// MX01: no MX records.
async fn implicit_mx(ctx: &Context<'_>, out: &mut Findings) {
    let domain = ctx.domain.name();
    let text = ctx.domain.as_str();
    let look = lookup_host(ctx, domain).await;
    let mut evidence = vec![mx_answer_evidence(ctx)];
    evidence.extend(look.evidence(ctx, domain, None));
    let fix = format!(
        "publish MX records naming the mail host(s): `{text}. IN MX 10 mail.{text}.` (with `mail.{text}. IN A <address>`); or, if {text} takes no mail, `{text}. IN MX 0 .` (RFC 7505)"
    );
    if !look.addresses.is_empty() {
        let ips: Vec<String> = look.addresses.iter().map(ToString::to_string).collect();
        let message = format!(
            "{text} has no MX records, so senders deliver to its own address ({}): implicit MX, RFC 5321 section 5.1. That host is often a web server, which then gets (or refuses) the mail",
            shorten(&ips, 5)
        );
        out.add(&IMPLICIT_MX, text, message)
            .evidence_all(evidence)
            .fix(fix);
        return;
    }
    if let Some(why) = look.temporary() {
        out.incomplete(
            &[&IMPLICIT_MX],
            format!("{text} has no MX records, and the lookup of its own address failed: {why}"),
        );
        return;
    }
    if tld_or_arpa(text) {
        // Top-level domains and .arpa names are not expected to take mail
        // (Zonemaster Zone09; zonemaster#841).
        return;
    }
    let message = format!(
        "{text} has no MX records and no A or AAAA record: mail for it bounces. If it takes no mail, say so explicitly with a null MX, which senders act on at once and without guessing"
    );
    out.add(&IMPLICIT_MX, text, message)
        .evidence_all(evidence)
        .fix(fix)
        .severity(Severity::Notice);
}

/// MX09: MX records on a TLD or under `.arpa`.
fn mx_at_tld(ctx: &Context<'_>, out: &mut Findings, owner: &Name) {
    let text = ctx.domain.as_str();
    if !tld_or_arpa(text) {
        return;
    }
    let what = if text.contains('.') {
        "a name under .arpa, which is infrastructure and takes no mail"
    } else {
        "a top-level domain; RFC 7085 advises against dotless mail domains, and many mail programs treat a dotless name as local"
    };
    out.add(
        &MX_AT_TLD,
        text,
        format!("{text} publishes MX records but is {what}"),
    )
    .evidence_all(ctx.mx_evidence(|_, _| true))
    .fix(format!(
        "remove the MX records of {}; to say it takes no mail, publish only `{}. IN MX 0 .`",
        dotted(owner),
        display_name(owner)
    ));
}

/// MX17: MX TTL very low or very high.
fn mx_ttl(ctx: &Context<'_>, out: &mut Findings, owner: &Name, records: &[Mx]) {
    let Some(ttl) = records.iter().map(|m| m.ttl).min() else {
        return;
    };
    let high = records.iter().map(|m| m.ttl).max().unwrap_or(ttl);
    let (shown, why) = if ttl < MIN_MX_TTL {
        let mut why = format!(
            "below {MIN_MX_TTL} s: every sender asks again every few minutes, and a short outage of the name servers stops mail sooner"
        );
        if ctx.zones.is_empty() {
            let _ = write!(
                why,
                " (as {} gave it; a caching resolver shows the time left, so ask an authoritative server to confirm)",
                ctx.mx.server
            );
        }
        (ttl, why)
    } else if high > MAX_MX_TTL {
        (
            high,
            format!(
                "above {MAX_MX_TTL} s (one week): after a change of mail hosts, senders keep using the old ones that long"
            ),
        )
    } else {
        return;
    };
    let example = records
        .iter()
        .find(|m| !m.exchange.is_root())
        .or(records.first())
        .map(|m| {
            format!(
                "`{} 3600 IN MX {} {}`",
                dotted(owner),
                m.preference,
                dotted(&m.exchange)
            )
        })
        .unwrap_or_default();
    out.add(
        &MX_TTL,
        format!("{} MX", dotted(owner)),
        format!("the MX TTL is {shown} s, {why}"),
    )
    .evidence_all(ctx.mx_evidence(|_, _| true))
    .fix(format!(
        "publish the MX records with a TTL between {MIN_MX_TTL} and {MAX_MX_TTL} s (an hour or a day is usual), e.g. {example}"
    ));
}

/// MX04: null MX mixed with others, or with a preference other than 0.
fn null_mx(ctx: &Context<'_>, out: &mut Findings, owner: &Name, records: &[Mx], nulls: &[&Mx]) {
    let Some(first) = nulls.first() else {
        return;
    };
    let o = display_name(owner);
    let null_record = format!("`{o}. IN MX 0 .`");
    for m in nulls {
        if m.preference != 0 {
            out.add(
                &NULL_MX_PREFERENCE,
                record_subject(owner, m.preference, &m.exchange),
                format!(
                    "{o} publishes a null MX with preference {}: RFC 7505 section 3 says the preference of a null MX SHOULD be 0; senders that look for exactly `0 .` (checkdmarc, some libraries) miss it, and tutorials showing `MX 10 .` are wrong",
                    m.preference
                ),
            )
            .evidence_all(ctx.mx_evidence(|p, n| p == m.preference && n.is_root()))
            .fix(format!("publish {null_record} in its place"));
        }
    }
    let others = records.len() - nulls.len();
    if others > 0 {
        let exchangers: Vec<String> = records
            .iter()
            .filter(|m| !m.exchange.is_root())
            .map(|m| format!("{} {}", m.preference, display_name(&m.exchange)))
            .collect();
        out.add(
            &NULL_MX_MIXED,
            record_subject(owner, first.preference, &first.exchange),
            format!(
                "{o} publishes a null MX (it takes no mail) together with {} ({}): RFC 7505 section 3 forbids this; senders disagree on what it means (most bounce, some deliver to the others, some read a lone empty exchanger as null MX)",
                super::count(others, "other MX record", "other MX records"),
                shorten(&exchangers, 5)
            ),
        )
        .evidence_all(ctx.mx_evidence(|_, _| true))
        .fix(format!(
            "if {o} takes no mail, keep only {null_record} and remove the other MX records; if it does, remove the null MX"
        ));
    }
}

/// MX02 and MX03: the exchange name is an address, or not a host name.
fn exchange_name(ctx: &Context<'_>, out: &mut Findings, owner: &Name, m: &Mx) {
    let o = display_name(owner);
    let subject = record_subject(owner, m.preference, &m.exchange);
    let evidence = || ctx.mx_evidence(|p, n| p == m.preference && *n == m.exchange);
    let shown = display_name(&m.exchange);
    match classify_exchange(&m.exchange) {
        ExchangeName::Root | ExchangeName::Host => {}
        ExchangeName::Ip(ip) => {
            let rtype = if ip.is_ipv4() { "A" } else { "AAAA" };
            out.add(
                &MX_IS_ADDRESS,
                subject,
                format!(
                    "the MX record names the IP address {ip} instead of a host name: RFC 5321 section 5.1 requires a domain name there; senders disagree on what to do with it: Postfix connects to the address with a warning, Exim ignores the record unless allow_mx_to_ip is set, others look up a host literally called \"{shown}\", which does not exist"
                ),
            )
            .evidence_all(evidence())
            .fix(format!(
                "give the address a host name and point the MX at it: `mail.{o}. IN {rtype} {ip}` and `{o}. IN MX {} mail.{o}.`",
                m.preference
            ));
            return;
        }
        ExchangeName::Invalid(why) => {
            out.add(
                &EXCHANGER_BAD_NAME,
                subject,
                format!(
                    "exchanger {shown} is not a valid host name ({why}): RFC 5321 section 2.3.5 allows only letters, digits and hyphens; senders ignore this MX record"
                ),
            )
            .evidence_all(evidence())
            .fix(format!(
                "name the mail host with letters, digits and hyphens only, e.g. `{o}. IN MX {} mail.{o}.` with `mail.{o}. IN A <address>`",
                m.preference
            ));
            return;
        }
    }
    if m.exchange.is_root() {
        return;
    }
    // Host names that pass but are doubtful (Zonemaster Syntax08; BIND
    // check-names): warnings.
    let labels: Vec<String> = m
        .exchange
        .iter()
        .map(|l| String::from_utf8_lossy(l).to_ascii_lowercase())
        .collect();
    if let Some(k) = doubled_suffix(&labels) {
        let fixed = format!("{}.", labels[..labels.len() - k].join("."));
        out.add(
            &EXCHANGER_BAD_NAME,
            subject,
            format!(
                "exchanger {shown} ends in {} twice: most likely the zone file names it without a final dot, so the origin was appended once more",
                labels[labels.len() - k..].join(".")
            ),
        )
        .evidence_all(evidence())
        .fix(format!(
            "end the name with a dot: `{o}. IN MX {} {fixed}`",
            m.preference
        ))
        .severity(Severity::Warning);
        return;
    }
    if let Some(tld) = labels.last()
        && tld.bytes().all(|b| b.is_ascii_digit())
    {
        out.add(
            &EXCHANGER_BAD_NAME,
            subject,
            format!(
                "exchanger {shown} ends in the all-numeric label \"{tld}\": no top-level domain is numeric (RFC 3696 section 2), and some senders take such a name for an address"
            ),
        )
        .evidence_all(evidence())
        .fix(format!(
            "point the MX at the host's real name: `{o}. IN MX {} mail.{o}.`",
            m.preference
        ))
        .severity(Severity::Warning);
        return;
    }
    if let Some(label) = labels
        .iter()
        .find(|l| l.len() >= 4 && &l[2..4] == "--" && !l.starts_with("xn"))
    {
        out.add(
            &EXCHANGER_BAD_NAME,
            subject,
            format!(
                "exchanger {shown} has the label \"{label}\" with \"--\" in the third and fourth places, which are reserved for encodings such as IDNA's xn-- (RFC 5891 section 4.2.3.1); some software rejects such names"
            ),
        )
        .evidence_all(evidence())
        .fix(format!(
            "rename the host without \"--\" there, e.g. `{o}. IN MX {} mail.{o}.`",
            m.preference
        ))
        .severity(Severity::Warning);
    }
}

/// `Some(k)` when the last `k >= 2` labels repeat the `k` before them
/// (`mail.example.org.example.org`).
fn doubled_suffix(labels: &[String]) -> Option<usize> {
    let n = labels.len();
    (2..=n / 2).find(|&k| labels[n - k..] == labels[n - 2 * k..n - k])
}

/// MX06: the same exchanger in several records.
fn duplicates(ctx: &Context<'_>, out: &mut Findings, owner: &Name, records: &[Mx]) {
    let mut by_name: BTreeMap<Name, Vec<u16>> = BTreeMap::new();
    let mut order: Vec<Name> = Vec::new();
    for m in records.iter().filter(|m| !m.exchange.is_root()) {
        let key = m.exchange.to_lowercase();
        if !by_name.contains_key(&key) {
            order.push(key.clone());
        }
        by_name.entry(key).or_default().push(m.preference);
    }
    for name in order {
        let mut prefs = by_name[&name].clone();
        if prefs.len() < 2 {
            continue;
        }
        prefs.sort_unstable();
        let shown = display_name(&name);
        let list: Vec<String> = prefs.iter().map(u16::to_string).collect();
        out.add(
            &DUPLICATE_EXCHANGER,
            shown.clone(),
            format!(
                "exchanger {shown} is listed {} times (preferences {}): senders try it once, at its lowest preference {}, so {} nothing, and a backup that was meant to be another host is missing",
                prefs.len(),
                list.join(", "),
                prefs[0],
                if prefs.len() == 2 {
                    "the other record adds"
                } else {
                    "the other records add"
                }
            ),
        )
        .evidence_all(ctx.mx_evidence(|_, n| n.to_lowercase() == name))
        .fix(format!(
            "keep one record, `{}. IN MX {} {shown}.`, and remove the others (or point them at another host)",
            display_name(owner),
            prefs[0]
        ));
    }
}

/// The MX records naming the exchanger the route calls `ex`, for evidence.
fn exchanger_evidence(ctx: &Context<'_>, ex: &Exchanger) -> Vec<Evidence> {
    ctx.mx_evidence(|_, n| display_name(n) == ex.name)
}

/// The exchange name of the route's exchanger (its text form is escaped).
fn exchange_of(ctx: &Context<'_>, ex: &Exchanger) -> Option<Name> {
    ctx.mx.outcome.records().iter().find_map(|r| match &r.data {
        RData::MX(m) if display_name(&m.exchange) == ex.name => Some(m.exchange.clone()),
        _ => None,
    })
}

/// An exchanger the route looked up addresses for.
struct Looked<'r> {
    /// What became of it.
    ex: &'r Exchanger,
    /// Its exchange name.
    name: Name,
    /// Its own lookup, for evidence: only where a rule fires on it (no
    /// address, a failed lookup, an alias).
    lookup: Option<HostLookup>,
}

/// The exchangers the route looked up (named hosts), in plan order, with the
/// evidence lookups of those a rule fires on, all at once.
async fn looked_up<'r>(ctx: &Context<'r>) -> Vec<Looked<'r>> {
    let route: &'r Route = ctx.route;
    let mut looked: Vec<Looked<'r>> = route
        .exchangers
        .iter()
        .filter(|e| {
            matches!(
                e.state,
                ExchangerState::Ok | ExchangerState::NoAddress | ExchangerState::Temporary
            )
        })
        .filter_map(|ex| {
            exchange_of(ctx, ex).map(|name| Looked {
                ex,
                name,
                lookup: None,
            })
        })
        .collect();
    let wanted: Vec<usize> = looked
        .iter()
        .enumerate()
        .filter(|(_, l)| l.ex.state != ExchangerState::Ok || !l.ex.cname_chain.is_empty())
        .map(|(i, _)| i)
        .collect();
    let names: Vec<Name> = wanted.iter().map(|&i| looked[i].name.clone()).collect();
    let lookups: Vec<HostLookup> = lookup_hosts(ctx, &names).await;
    for (i, lookup) in wanted.into_iter().zip(lookups) {
        looked[i].lookup = Some(lookup);
    }
    looked
}

/// MX07, MX10, MX11: what became of each exchanger.
async fn exchangers(ctx: &Context<'_>, out: &mut Findings, owner: &Name) {
    let route = ctx.route;
    let text = ctx.domain.as_str();
    let looked = looked_up(ctx).await;
    exchanger_is_cname(ctx, out, owner, &looked);

    let temporary: Vec<String> = looked
        .iter()
        .filter(|l| l.ex.state == ExchangerState::Temporary)
        .map(|l| {
            format!(
                "{} ({})",
                l.ex.name,
                l.ex.detail.as_deref().unwrap_or("lookup failed")
            )
        })
        .collect();
    match (route.status, route.outcome) {
        (RouteVerdict::Permanent, RouteKind::NoUsableExchanger) => {
            no_usable(ctx, out, owner, &looked);
            return;
        }
        (RouteVerdict::Temporary, RouteKind::DnsTemporary) => {
            out.incomplete(
                &[&NO_USABLE_EXCHANGER, &EXCHANGER_WITHOUT_ADDRESS, &SINGLE_EXCHANGER],
                format!(
                    "no exchanger of {text} has an address now, and address lookups failed temporarily for {}",
                    shorten(&temporary, 5)
                ),
            );
        }
        _ => {
            if !temporary.is_empty() {
                out.incomplete(
                    &[&EXCHANGER_WITHOUT_ADDRESS, &SINGLE_EXCHANGER],
                    format!(
                        "address lookups failed temporarily for {}",
                        shorten(&temporary, 5)
                    ),
                );
            }
        }
    }
    exchangers_without_address(ctx, out, owner, &looked);
    if route.status == RouteVerdict::Deliverable && temporary.is_empty() {
        single_exchanger(ctx, out, owner, &looked);
    }
}

/// MX11: an exchanger that is an alias.
fn exchanger_is_cname(ctx: &Context<'_>, out: &mut Findings, owner: &Name, looked: &[Looked<'_>]) {
    let o = display_name(owner);
    for Looked { ex, name, lookup } in looked {
        if ex.cname_chain.is_empty() {
            continue;
        }
        let target = ex.cname_chain.last().cloned().unwrap_or_default();
        let mut evidence = exchanger_evidence(ctx, ex);
        if let Some(look) = lookup {
            evidence.extend(look.cname_evidence(ctx, name));
        }
        out.add(
            &EXCHANGER_IS_CNAME,
            record_subject(owner, ex.preference, name),
            format!(
                "exchanger {} is an alias (CNAME) for {}: RFC 2181 section 10.3 says an MX record must name the host that owns the address records, not an alias. Senders follow it, but some refuse DANE through it (Exim) and TLS still checks the alias's name",
                ex.name,
                ex.cname_chain.join(" -> ")
            ),
        )
        .evidence_all(evidence)
        .fix(format!(
            "point the MX at the canonical name: `{o}. IN MX {} {target}.`",
            ex.preference
        ));
    }
}

/// MX10, some: exchangers without an address.
fn exchangers_without_address(
    ctx: &Context<'_>,
    out: &mut Findings,
    owner: &Name,
    looked: &[Looked<'_>],
) {
    let o = display_name(owner);
    for Looked { ex, name, lookup } in looked {
        if ex.state != ExchangerState::NoAddress {
            continue;
        }
        let mut evidence = exchanger_evidence(ctx, ex);
        if let Some(look) = lookup {
            evidence.extend(look.evidence(ctx, name, None));
        }
        let canonical = lookup
            .as_ref()
            .map_or_else(|| name.clone(), |l| l.canonical.clone());
        out.add(
            &EXCHANGER_WITHOUT_ADDRESS,
            ex.name.clone(),
            format!(
                "exchanger {} (preference {}) has no A or AAAA record ({}): senders skip it, so it is no backup",
                ex.name,
                ex.preference,
                ex.detail.as_deref().unwrap_or("no address")
            ),
        )
        .evidence_all(evidence)
        .fix(format!(
            "publish its address, `{} IN A <address>` (or AAAA), or remove `{o}. IN MX {} {}`",
            dotted(&canonical),
            ex.preference,
            dotted(name)
        ));
    }
}

/// MX07: one exchanger, or every candidate at one address.
fn single_exchanger(ctx: &Context<'_>, out: &mut Findings, owner: &Name, looked: &[Looked<'_>]) {
    let route = ctx.route;
    let text = ctx.domain.as_str();
    let o = display_name(owner);
    let usable: Vec<&str> = looked
        .iter()
        .filter(|l| l.ex.state == ExchangerState::Ok)
        .map(|l| l.ex.name.as_str())
        .collect();
    let mut addresses: Vec<std::net::IpAddr> = route.candidates.iter().map(|c| c.address).collect();
    addresses.sort_unstable();
    addresses.dedup();
    let named = route.records.iter().filter(|r| r.exchanger != ".").count();
    let message = if usable.len() == 1 {
        if named == 1 {
            format!(
                "{text} has a single exchanger, {}: when it is down or unreachable, senders queue mail and retry (usually for up to five days) instead of handing it to a backup",
                usable[0]
            )
        } else {
            format!(
                "of the {named} MX records of {text}, only the one naming {} leads to an address: when that host is down, there is no backup",
                usable[0]
            )
        }
    } else if usable.len() > 1 && addresses.len() == 1 {
        format!(
            "{} exchangers of {text} ({}) share the one address {}: they are one host, so there is no backup",
            if usable.len() == 2 {
                "both".to_string()
            } else {
                format!("all {}", usable.len())
            },
            shorten(
                &usable.iter().map(ToString::to_string).collect::<Vec<_>>(),
                5
            ),
            addresses[0]
        )
    } else {
        return;
    };
    let next = route
        .records
        .iter()
        .map(|r| r.preference)
        .max()
        .unwrap_or(0)
        .saturating_add(10);
    out.add(&SINGLE_EXCHANGER, text, message)
        .evidence_all(ctx.mx_evidence(|_, _| true))
        .fix(format!(
            "if mail must not wait for that host, add a backup exchanger on another host and network that accepts mail for {text}: `{o}. IN MX {next} backup-mx.{o}.` with `backup-mx.{o}. IN A <its address>`"
        ));
}

/// MX10, all: no exchanger has an address (or none names a host).
fn no_usable(ctx: &Context<'_>, out: &mut Findings, owner: &Name, looked: &[Looked<'_>]) {
    let text = ctx.domain.as_str();
    let o = display_name(owner);
    let why: Vec<String> = ctx
        .route
        .exchangers
        .iter()
        .map(|e| {
            let what = match e.state {
                ExchangerState::IpAddress => "an IP address, not a host name".to_string(),
                ExchangerState::InvalidName => "not a host name".to_string(),
                _ => e.detail.clone().unwrap_or_else(|| "no address".into()),
            };
            format!("{} ({what})", e.name)
        })
        .collect();
    let mut evidence = ctx.mx_evidence(|_, _| true);
    for Looked { name, lookup, .. } in looked {
        if let Some(look) = lookup {
            evidence.extend(look.evidence(ctx, name, None));
        }
    }
    let first = looked.first().map(|l| {
        l.lookup
            .as_ref()
            .map_or_else(|| l.name.clone(), |look| look.canonical.clone())
    });
    let publish = match first {
        Some(host) => format!(
            "publish the exchangers' addresses, e.g. `{} IN A <address>`",
            dotted(&host)
        ),
        None => format!(
            "point the MX records at host names with addresses, e.g. `{o}. IN MX 10 mail.{o}.` and `mail.{o}. IN A <address>`"
        ),
    };
    out.add(
        &NO_USABLE_EXCHANGER,
        text,
        format!(
            "no exchanger of {text} has an address, so mail for it bounces (RFC 5321 section 5.1): {}",
            shorten(&why, 10)
        ),
    )
    .evidence_all(evidence)
    .fix(format!(
        "{publish}; or, if {text} takes no mail, replace the MX records with `{o}. IN MX 0 .`"
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(s: &str) -> Vec<String> {
        s.split('.').map(str::to_string).collect()
    }

    #[test]
    fn doubled_suffix_finds_an_appended_origin() {
        assert_eq!(
            doubled_suffix(&labels("mail.example.org.example.org")),
            Some(2)
        );
        assert_eq!(doubled_suffix(&labels("mx.a.b.c.a.b.c")), Some(3));
        assert_eq!(doubled_suffix(&labels("mail.example.org")), None);
        assert_eq!(doubled_suffix(&labels("mx.mail.mail")), None);
        assert_eq!(doubled_suffix(&labels("a")), None);
    }

    #[test]
    fn tld_or_arpa_is_single_label_or_under_arpa() {
        assert!(tld_or_arpa("test"));
        assert!(tld_or_arpa("arpa"));
        assert!(tld_or_arpa("10.in-addr.arpa"));
        assert!(!tld_or_arpa("example.org"));
        assert!(!tld_or_arpa("arpa.example"));
    }

    #[test]
    fn bad_names_are_shown_as_dns_presentation_text() {
        let name = Name::from_labels([&b"mx\x07bell"[..], b"test"]).unwrap();
        let ExchangeName::Invalid(why) = crate::address::classify_exchange(&name) else {
            panic!("mx\\007bell.test is no host name")
        };
        assert_eq!(
            why,
            "label \"mx\\007bell\" is not a host name label: only letters, digits and hyphens are allowed"
        );
    }
}
