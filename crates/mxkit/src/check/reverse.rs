//! Rules on reverse DNS of the exchangers' addresses: `no-reverse-dns` (MX20)
//! and `reverse-dns-mismatch` (MX21).
//!
//! Words:
//! - the **reverse name** of an address is its name under `in-addr.arpa.`
//!   (IPv4: the four octets in reverse order, RFC 1035 section 3.5) or
//!   `ip6.arpa.` (IPv6: the 32 nibbles in reverse order, RFC 3596 section
//!   2.5); its PTR records name the host the address belongs to;
//! - an address is **forward-confirmed** (FCrDNS, RFC 8601 section 3 "iprev")
//!   when one of its PTR names has an address record (A for IPv4, AAAA for
//!   IPv6) holding the address again.
//!
//! Every distinct address of the plan's exchangers is checked, all at once.
//! CNAMEs on the way are followed, which covers RFC 2317 classless delegation
//! (`10.2.0.192.in-addr.arpa. CNAME 10.0/26.2.0.192.in-addr.arpa.`;
//! zonemaster#1353). A temporary failure leaves only that address undecided
//! (checkdmarc#64: one PTR SERVFAIL must not wipe the whole result). Offline,
//! reverse zones that are not loaded cannot be asked: that is one
//! "not checked" entry, not a finding per address.
//!
//! Severity: notice. The rules are about the exchangers as inbound hosts;
//! receivers check reverse DNS of the hosts that *send* to them, and MX hosts
//! often send too (bounces, forwarding), so a missing or unconfirmed PTR is
//! worth fixing but loses no inbound mail.

use std::fmt::Write as _;
use std::net::IpAddr;

use futures::future::join_all;

use super::{
    Context, Evidence, Findings, NO_REVERSE_DNS, REVERSE_DNS_MISMATCH, Target, exchanger_addresses,
};
use crate::dns::{Answer, Lookup, Name, Outcome, RData, RecordType, TempError, resolve};

/// The reverse name of `ip`: `10.2.0.192.in-addr.arpa.` or the 32-nibble
/// `...8.b.d.0.1.0.0.2.ip6.arpa.` (RFC 1035 section 3.5, RFC 3596 section
/// 2.5). Absolute, lower case.
pub fn reverse_name(ip: IpAddr) -> Name {
    // hickory builds exactly these labels (octets / lower-case hex nibbles,
    // least significant first) as an absolute name.
    let mut name = Name::from(ip);
    name.set_fqdn(true);
    name
}

/// What became of one address.
enum Verdict {
    /// A PTR name resolves back to the address.
    Confirmed,
    /// No PTR record: NXDOMAIN or NODATA at the reverse name (or at the end
    /// of its CNAME chain).
    NoPtr(Answer),
    /// PTR records exist, but none of their names resolves back.
    Mismatch {
        /// The PTR answer.
        ptr: Answer,
        /// Each PTR name and what its A/AAAA query gave.
        forward: Vec<(Name, Answer)>,
    },
    /// The PTR lookup failed temporarily.
    PtrFailed(Answer),
    /// PTR records exist, none confirmed, and some forward lookup failed
    /// temporarily (so a mismatch cannot be told).
    ForwardFailed {
        /// The PTR name whose lookup failed, and why.
        name: Name,
        /// What the lookup gave.
        answer: Answer,
    },
    /// A name on the way lies outside the loaded zones and no server may be
    /// asked (offline).
    Offline {
        /// The PTR records were read; only the forward lookup was offline.
        ptr_read: bool,
    },
}

/// Run the reverse-DNS rules on every distinct exchanger address.
pub async fn check(ctx: &Context<'_>, out: &mut Findings) {
    let targets = exchanger_addresses(ctx.route);
    if targets.is_empty() {
        return;
    }
    let verdicts = join_all(targets.iter().map(|t| examine(ctx.lookup, t.ip))).await;

    let mut offline: Vec<IpAddr> = Vec::new();
    let mut offline_ptr = false;
    for (target, verdict) in targets.iter().zip(verdicts) {
        let ip = target.ip;
        let rev = reverse_name(ip);
        match verdict {
            Verdict::Confirmed => {}
            Verdict::NoPtr(ptr) => report_no_ptr(ctx, out, target, &rev, &ptr),
            Verdict::Mismatch { ptr, forward } => {
                report_mismatch(ctx, out, target, &rev, &ptr, &forward);
            }
            Verdict::PtrFailed(ptr) => out.incomplete(
                &[&NO_REVERSE_DNS, &REVERSE_DNS_MISMATCH],
                format!(
                    "reverse DNS of {ip} (exchanger {}) not checked: PTR lookup for {} failed: {}",
                    target.exchanger,
                    rev.to_ascii(),
                    ptr.outcome
                ),
            ),
            Verdict::ForwardFailed { name, answer } => out.incomplete(
                &[&REVERSE_DNS_MISMATCH],
                format!(
                    "forward confirmation of {ip} (exchanger {}) not checked: {} {} lookup failed: {}",
                    target.exchanger,
                    name.to_ascii(),
                    forward_type(ip),
                    answer.outcome
                ),
            ),
            Verdict::Offline { ptr_read } => {
                offline.push(ip);
                offline_ptr |= !ptr_read;
            }
        }
    }
    if !offline.is_empty() {
        let list: Vec<String> = offline.iter().map(IpAddr::to_string).collect();
        let rules: &[&'static super::Rule] = if offline_ptr {
            &[&NO_REVERSE_DNS, &REVERSE_DNS_MISMATCH]
        } else {
            &[&REVERSE_DNS_MISMATCH]
        };
        out.skipped(
            rules,
            format!(
                "reverse DNS not checked offline for {} ({}): their reverse zones (or PTR target names) are not in the loaded zone files; load them with --zone, or run without --offline",
                super::count(list.len(), "exchanger address", "exchanger addresses"),
                list.join(", ")
            ),
        );
    }
}

/// A or AAAA: the type that forward-confirms `ip`.
fn forward_type(ip: IpAddr) -> RecordType {
    match ip {
        IpAddr::V4(_) => RecordType::A,
        IpAddr::V6(_) => RecordType::AAAA,
    }
}

fn is_offline(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Temporary(TempError::Offline(_)))
}

/// The PTR names in an answer.
fn ptr_names(answer: &Answer) -> Vec<Name> {
    let mut names: Vec<Name> = Vec::new();
    for r in answer.outcome.records() {
        if let RData::PTR(p) = &r.data
            && !names.contains(&p.0)
        {
            names.push(p.0.clone());
        }
    }
    names
}

/// The addresses in an A/AAAA answer.
fn addresses(answer: &Answer) -> Vec<IpAddr> {
    answer
        .outcome
        .records()
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect()
}

/// The forward-confirmed name of `ip` (FCrDNS): the first of its PTR names
/// whose A or AAAA records contain `ip` again, lower case and absolute;
/// `None` when there is no such name or a lookup failed. This is the name
/// Postfix logs as `name[ip]` (and `unknown[ip]` when there is none).
pub async fn confirmed_name(lookup: &dyn Lookup, ip: IpAddr) -> Option<Name> {
    let ptr = resolve(lookup, &reverse_name(ip), RecordType::PTR).await;
    let rtype = forward_type(ip);
    for name in ptr_names(&ptr) {
        if addresses(&resolve(lookup, &name, rtype).await).contains(&ip) {
            return Some(name.to_lowercase());
        }
    }
    None
}

/// PTR for `ip`, then the address records of every PTR name.
async fn examine(lookup: &dyn Lookup, ip: IpAddr) -> Verdict {
    let rev = reverse_name(ip);
    let ptr = resolve(lookup, &rev, RecordType::PTR).await;
    match &ptr.outcome {
        Outcome::Records(_) => {}
        Outcome::NxDomain { .. } | Outcome::NoData { .. } => return Verdict::NoPtr(ptr),
        o if is_offline(o) => return Verdict::Offline { ptr_read: false },
        Outcome::Temporary(_) | Outcome::Truncated => return Verdict::PtrFailed(ptr),
    }
    let names = ptr_names(&ptr);
    if names.is_empty() {
        // Records of another type cannot come back from resolve(); treat an
        // empty set as no PTR.
        return Verdict::NoPtr(ptr);
    }
    let rtype = forward_type(ip);
    let answers = join_all(names.iter().map(|n| resolve(lookup, n, rtype))).await;
    let forward: Vec<(Name, Answer)> = names.into_iter().zip(answers).collect();
    if forward.iter().any(|(_, a)| addresses(a).contains(&ip)) {
        return Verdict::Confirmed;
    }
    if forward.iter().any(|(_, a)| is_offline(&a.outcome)) {
        return Verdict::Offline { ptr_read: true };
    }
    if let Some((name, answer)) = forward.iter().find(|(_, a)| a.outcome.is_temporary()) {
        return Verdict::ForwardFailed {
            name: name.clone(),
            answer: answer.clone(),
        };
    }
    Verdict::Mismatch { ptr, forward }
}

/// `NXDOMAIN`, `NODATA`, or the records, for evidence and messages.
fn said(answer: &Answer, records: &[String]) -> String {
    match &answer.outcome {
        Outcome::Records(_) => records.join(", "),
        Outcome::NxDomain { .. } => "NXDOMAIN".into(),
        Outcome::NoData { .. } => "NODATA".into(),
        other => other.to_string(),
    }
}

/// The answer text for evidence, with the CNAME chain when one was followed.
fn with_chain(answer: &Answer, text: String) -> String {
    if answer.cname_chain.is_empty() {
        return text;
    }
    let chain: Vec<String> = answer.cname_chain.iter().map(Name::to_ascii).collect();
    format!("CNAME {} -> {text}", chain.join(" -> "))
}

/// Evidence for a PTR answer: the zone file lines when the reverse zone is
/// loaded, else the server's answer.
fn ptr_evidence(ctx: &Context<'_>, rev: &Name, ptr: &Answer) -> Vec<Evidence> {
    let owner = ptr.canonical(rev);
    let from_zone: Vec<Evidence> = ctx
        .zone_records(owner, RecordType::PTR, |_| true)
        .iter()
        .map(Evidence::zone)
        .collect();
    if !from_zone.is_empty() {
        return from_zone;
    }
    let names: Vec<String> = ptr_names(ptr).iter().map(Name::to_ascii).collect();
    vec![Evidence::dns(
        &*ptr.server,
        rev,
        RecordType::PTR,
        with_chain(ptr, said(ptr, &names)),
    )]
}

fn report_no_ptr(
    ctx: &Context<'_>,
    out: &mut Findings,
    target: &Target<'_>,
    rev: &Name,
    ptr: &Answer,
) {
    let ip = target.ip;
    let owner = ptr.canonical(rev);
    let how = match &ptr.outcome {
        Outcome::NxDomain { .. } => "NXDOMAIN",
        _ => "no PTR record (NODATA)",
    };
    let mut message = format!(
        "{ip} (exchanger {}) has no reverse DNS: {} PTR gives {how}",
        target.exchanger,
        rev.to_ascii()
    );
    if !ptr.cname_chain.is_empty() {
        let _ = write!(
            message,
            " at the end of its CNAME chain ({})",
            owner.to_ascii()
        );
    }
    message.push_str(
        "; receivers that check reverse DNS distrust mail this host sends (bounces, forwards)",
    );
    let fix = format!(
        "publish `{} IN PTR {}.` (ask whoever runs the address block)",
        owner.to_ascii(),
        target.exchanger
    );
    out.add(&NO_REVERSE_DNS, ip.to_string(), message)
        .evidence_all(ptr_evidence(ctx, rev, ptr))
        .fix(fix);
}

fn report_mismatch(
    ctx: &Context<'_>,
    out: &mut Findings,
    target: &Target<'_>,
    rev: &Name,
    ptr: &Answer,
    forward: &[(Name, Answer)],
) {
    let ip = target.ip;
    let rtype = forward_type(ip);
    let tried: Vec<String> = forward
        .iter()
        .map(|(name, answer)| {
            let addrs: Vec<String> = addresses(answer).iter().map(IpAddr::to_string).collect();
            format!("{} {rtype} -> {}", name.to_ascii(), said(answer, &addrs))
        })
        .collect();
    let message = format!(
        "{ip} (exchanger {}) is not forward-confirmed: {} back to it ({})",
        target.exchanger,
        if forward.len() == 1 {
            "its PTR name does not resolve"
        } else {
            "its PTR names do not resolve"
        },
        tried.join("; ")
    );
    let mut evidence = ptr_evidence(ctx, rev, ptr);
    for (name, answer) in forward {
        let addrs: Vec<String> = addresses(answer).iter().map(IpAddr::to_string).collect();
        evidence.push(Evidence::dns(
            &*answer.server,
            name,
            rtype,
            with_chain(answer, said(answer, &addrs)),
        ));
    }
    // The exchanger name resolves to the address (that is how it is in the
    // plan), so a PTR naming it is confirmed at once; alternatively the PTR
    // name gets the address.
    let first = forward
        .first()
        .map(|(n, _)| n.to_ascii())
        .unwrap_or_default();
    let fix = format!(
        "publish `{} IN PTR {}.` instead (ask whoever runs the address block), or, if {first} is this host, `{first} IN {rtype} {ip}`",
        ptr.canonical(rev).to_ascii(),
        target.exchanger
    );
    out.add(&REVERSE_DNS_MISMATCH, ip.to_string(), message)
        .evidence_all(evidence)
        .fix(fix);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn confirmed_names_need_the_way_back() {
        let fake = crate::dns::fake::Fake::new()
            .zone(
                "$ORIGIN 2.0.192.in-addr.arpa.\n@ SOA ns h 1 1 1 1 1\n10 PTR Mail.Example.org.\n11 PTR other.example.org.\n",
            )
            .unwrap()
            .zone("$ORIGIN example.org.\n@ SOA ns h 1 1 1 1 1\nmail A 192.0.2.10\nother A 192.0.2.99\n")
            .unwrap();
        let name = confirmed_name(&fake, "192.0.2.10".parse().unwrap()).await;
        assert_eq!(name.map(|n| n.to_ascii()), Some("mail.example.org.".into()));
        assert_eq!(
            confirmed_name(&fake, "192.0.2.11".parse().unwrap()).await,
            None
        );
        assert_eq!(
            confirmed_name(&fake, "192.0.2.12".parse().unwrap()).await,
            None
        );
    }

    #[test]
    fn reverse_name_ipv4_is_octets_reversed_under_in_addr_arpa() {
        let n = reverse_name("192.0.2.10".parse().unwrap());
        assert_eq!(n.to_ascii(), "10.2.0.192.in-addr.arpa.");
        assert!(n.is_fqdn());
    }

    #[test]
    fn reverse_name_ipv6_is_32_nibbles_under_ip6_arpa() {
        let n = reverse_name("2001:db8::25".parse().unwrap());
        assert_eq!(
            n.to_ascii(),
            "5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."
        );
        assert!(n.is_fqdn());
        let n = reverse_name("2001:db8:abcd::f0".parse().unwrap());
        assert!(n.to_ascii().starts_with("0.f.0.0."), "{n}");
        assert!(
            n.to_ascii().ends_with(".d.c.b.a.8.b.d.0.1.0.0.2.ip6.arpa."),
            "{n}"
        );
    }
}
