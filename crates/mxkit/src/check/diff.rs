//! The pre-publish diff: what changes for senders when the zone file goes out.
//!
//! Words:
//! - the **old** side is live DNS now (what senders see today); the **new**
//!   side is the zone files laid over live DNS (what they will see once the
//!   zone is published): the check's own view, [`Context::route`];
//! - a change is **for senders** when it changes what a sending MTA does: the
//!   MX set (as a set of (preference, exchange), record order and case do not
//!   matter, zonemaster#1515), an exchanger's preference, an exchanger's
//!   addresses, the verdict (deliverable, null MX, ...), or the MX TTL;
//! - **cached for**: after publishing, resolvers may keep serving the old
//!   answer for as long as its TTL (RFC 1035 section 3.2.1, RFC 2181 section
//!   5.2; RFC 2308 section 5 for a cached "no such name" or "no MX"), so the
//!   old hosts must keep accepting mail that long.
//!
//! Both routes are computed as a plain sender sees them
//! ([`crate::check::sender_view`]). Exchanger address sets are asked for
//! again per exchanger (A and AAAA) rather than read from the plans, because
//! a plan lists an address shared by two exchangers only once.
//!
//! A temporary failure reading the domain's MX records on either side is not
//! a change: [`Changes::live_error`] / [`Changes::zone_error`] say that side
//! could not be read and nothing was compared.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use futures::future::join_all;
use serde::Serialize;

use super::error::TemporaryLookup;
use super::{Context, sender_view};
use crate::address::Destination;
use crate::dns::{Answer, Lookup, Name, Outcome, RData, RecordType, resolve};
use crate::route::{ExchangerState, Route, RouteKind, RouteVerdict, route};

/// What changes for senders when the zone file is published. "old" is live
/// DNS now, "new" the zone files (over live DNS).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Changes {
    /// Live DNS could not be read for the domain's MX records (a temporary
    /// failure, e.g. `SERVFAIL from 192.0.2.53:53`): nothing was compared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_error: Option<String>,
    /// The zone-file view could not be read for the domain's MX records
    /// (the domain is outside the loaded zones and live DNS failed): nothing
    /// was compared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone_error: Option<String>,
    /// The verdict before and after, when it changes (e.g. deliverable
    /// through MX records -> permanent failure by null MX).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<VerdictChange>,
    /// MX records only the zone files have, by preference then exchanger.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mx_added: Vec<MxEntry>,
    /// MX records only live DNS has, by preference then exchanger.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mx_removed: Vec<MxEntry>,
    /// Exchangers listed on both sides with another preference.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub preference_changed: Vec<PreferenceChange>,
    /// Exchangers on both sides whose addresses change.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub addresses_changed: Vec<AddressChange>,
    /// The MX RRset's TTL, when both sides have MX records and it changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mx_ttl: Option<TtlChange>,
    /// Exchangers on both sides whose TLS requirement changes, or that a
    /// failed TLSA lookup drops on one side (docs/rules/secure.md).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tls_changed: Vec<TlsChange>,
    /// Zones of the zone files taken as signed, because live DNS serves
    /// them signed: their DANE records count on the new side.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub assumed_signed: Vec<String>,
    /// Seconds resolvers may keep serving live DNS's current MX answer after
    /// publishing (its TTL, or its negative-caching TTL for "no MX" or "no
    /// such domain"); set when the MX set, a preference or the verdict changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached_for: Option<u32>,
    /// Comparisons that could not be made, for people (an exchanger's
    /// addresses could not be read on one side).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_compared: Vec<String>,
}

/// One MX record, as compared: preference and exchange.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct MxEntry {
    /// Preference.
    pub preference: u16,
    /// Exchange, lower case, no final dot; `"."` for a null MX.
    pub exchanger: String,
}

/// An exchanger listed on both sides under another preference.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PreferenceChange {
    /// The exchanger, lower case, no final dot.
    pub exchanger: String,
    /// Preference in live DNS.
    pub old: u16,
    /// Preference in the zone files.
    pub new: u16,
}

/// An exchanger on both sides whose addresses change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AddressChange {
    /// The exchanger, lower case, no final dot.
    pub exchanger: String,
    /// Addresses only the zone files give it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub added: Vec<IpAddr>,
    /// Addresses only live DNS gives it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<IpAddr>,
    /// Seconds resolvers may keep the old addresses (the lowest TTL of the
    /// live A/AAAA answers, or their negative-caching TTL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached_for: Option<u32>,
}

/// An exchanger on both sides whose TLS requirement changes: `dane`,
/// `dane-encrypt`, `mta-sts`, `mta-sts-testing`, `opportunistic`,
/// `dropped` (its TLSA lookup failed: not used, docs/rules/secure.md, Rule
/// S5) or `removed` (an MTA-STS policy in enforce mode does not list it,
/// Rule S11).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TlsChange {
    /// The exchanger, lower case, no final dot.
    pub exchanger: String,
    /// In live DNS.
    pub old: &'static str,
    /// With the zone files.
    pub new: &'static str,
}

/// A verdict: the route's [`RouteVerdict`] and its [`RouteKind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// `deliverable`, `permanent` or `temporary`.
    pub status: RouteVerdict,
    /// `mx`, `implicit_mx`, `null_mx`, `no_such_domain`, ... (see `route`).
    pub outcome: RouteKind,
}

/// The verdict changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct VerdictChange {
    /// In live DNS.
    pub old: Verdict,
    /// With the zone files.
    pub new: Verdict,
}

/// A TTL that changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct TtlChange {
    /// In live DNS, seconds.
    pub old: u32,
    /// In the zone files, seconds.
    pub new: u32,
}

impl Changes {
    /// True when the comparison was made in full and nothing changes for senders.
    pub fn is_empty(&self) -> bool {
        self.live_error.is_none()
            && self.zone_error.is_none()
            && self.verdict.is_none()
            && self.mx_added.is_empty()
            && self.mx_removed.is_empty()
            && self.preference_changed.is_empty()
            && self.addresses_changed.is_empty()
            && self.tls_changed.is_empty()
            && self.mx_ttl.is_none()
            && self.not_compared.is_empty()
    }

    /// One line per change, for people (printed under "Changes for senders").
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(e) = &self.live_error {
            lines.push(format!(
                "live DNS could not be read ({e}): nothing compared; try again later"
            ));
        }
        if let Some(e) = &self.zone_error {
            lines.push(format!(
                "the zone files' view could not be read ({e}): nothing compared"
            ));
        }
        if let Some(v) = &self.verdict {
            lines.push(format!(
                "verdict: {} -> {}",
                verdict_text(v.old),
                verdict_text(v.new)
            ));
        }
        for m in &self.mx_added {
            lines.push(format!("MX added: {}", mx_text(m)));
        }
        for m in &self.mx_removed {
            lines.push(format!("MX removed: {}", mx_text(m)));
        }
        for p in &self.preference_changed {
            lines.push(format!(
                "preference of {}: {} -> {}",
                p.exchanger, p.old, p.new
            ));
        }
        for a in &self.addresses_changed {
            let mut parts = Vec::new();
            if !a.removed.is_empty() {
                parts.push(format!("loses {}", join(&a.removed)));
            }
            if !a.added.is_empty() {
                parts.push(format!("gains {}", join(&a.added)));
            }
            let mut line = format!("exchanger {} {}", a.exchanger, parts.join(", "));
            if let (false, Some(ttl)) = (a.removed.is_empty(), a.cached_for) {
                line.push_str(&format!(
                    "; old addresses may stay in caches for up to {ttl} s"
                ));
            }
            lines.push(line);
        }
        for t in &self.tls_changed {
            lines.push(match (t.old, t.new) {
                (_, "dropped") => format!(
                    "exchanger {} is dropped: its TLSA lookup fails, so DANE senders defer (was {})",
                    t.exchanger, t.old
                ),
                ("removed", _) => format!(
                    "exchanger {} is used again: the MTA-STS policy lists it (now {})",
                    t.exchanger, t.new
                ),
                (_, "removed") => format!(
                    "exchanger {} is removed: the MTA-STS policy (enforce) does not list it (was {})",
                    t.exchanger, t.old
                ),
                _ => format!(
                    "TLS senders require of {}: {} -> {}",
                    t.exchanger, t.old, t.new
                ),
            });
        }
        if !self.assumed_signed.is_empty() {
            lines.push(format!(
                "taken as signed when published, as in live DNS now: {}",
                self.assumed_signed.join(", ")
            ));
        }
        if let Some(t) = &self.mx_ttl {
            lines.push(format!("MX TTL: {} s -> {} s", t.old, t.new));
        }
        if let Some(ttl) = self.cached_for {
            let set_changes = self.verdict.is_some()
                || !self.mx_added.is_empty()
                || !self.mx_removed.is_empty()
                || !self.preference_changed.is_empty();
            let old_hosts = self.mx_removed.iter().any(|m| m.exchanger != ".")
                || self
                    .verdict
                    .is_some_and(|v| v.old.status == RouteVerdict::Deliverable);
            let mut line = if set_changes {
                format!("old records may stay in caches for up to {ttl} s after publishing")
            } else {
                format!(
                    "the new TTL takes effect once the old one has run out: up to {ttl} s after publishing"
                )
            };
            if set_changes && old_hosts {
                line.push_str(": keep the old exchangers accepting mail that long");
            }
            lines.push(line);
        }
        for n in &self.not_compared {
            lines.push(format!("not compared: {n}"));
        }
        lines
    }
}

fn join(ips: &[IpAddr]) -> String {
    ips.iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn mx_text(m: &MxEntry) -> String {
    if m.exchanger == "." {
        format!("{} . (null MX)", m.preference)
    } else {
        format!("{} {}", m.preference, m.exchanger)
    }
}

fn verdict_text(v: Verdict) -> String {
    let status = match v.status {
        RouteVerdict::Deliverable => "deliverable",
        RouteVerdict::Permanent => "permanent failure",
        RouteVerdict::Temporary => "temporary failure",
    };
    format!("{status} ({})", v.outcome.code())
}

/// The route's MX records as (preference, exchanger) entries.
fn entries(route: &Route) -> BTreeSet<MxEntry> {
    route
        .records
        .iter()
        .map(|r| MxEntry {
            preference: r.preference,
            exchanger: r.exchanger.clone(),
        })
        .collect()
}

/// The MX RRset TTL (lowest of the records), when there are records.
fn mx_ttl(answer: &Answer) -> Option<u32> {
    match &answer.outcome {
        Outcome::Records(_) => answer.outcome.ttl(),
        _ => None,
    }
}

/// Names of the exchangers a route looked up addresses for.
fn host_names(route: &Route) -> BTreeSet<String> {
    route
        .exchangers
        .iter()
        .filter(|e| {
            !matches!(
                e.state,
                ExchangerState::InvalidName | ExchangerState::IpAddress
            )
        })
        .map(|e| e.name.clone())
        .collect()
}

/// An exchanger's addresses (A and AAAA), with the lowest TTL of the
/// answers; `Err` when a lookup failed temporarily.
async fn addresses_of(
    lookup: &dyn Lookup,
    name: &Name,
) -> Result<(BTreeSet<IpAddr>, Option<u32>), TemporaryLookup> {
    let (aaaa, a) = futures::join!(
        resolve(lookup, name, RecordType::AAAA),
        resolve(lookup, name, RecordType::A)
    );
    let mut set = BTreeSet::new();
    let mut ttl: Option<u32> = None;
    for (rtype, answer) in [(RecordType::AAAA, aaaa), (RecordType::A, a)] {
        if answer.outcome.is_temporary() {
            return Err(TemporaryLookup {
                name: name.to_ascii(),
                rtype,
                outcome: answer.outcome,
            });
        }
        for r in answer.outcome.records() {
            match &r.data {
                RData::A(x) => {
                    set.insert(IpAddr::V4(x.0));
                }
                RData::AAAA(x) => {
                    set.insert(IpAddr::V6(x.0));
                }
                _ => {}
            }
        }
        ttl = [ttl, answer.outcome.ttl()].into_iter().flatten().min();
    }
    Ok((set, ttl))
}

/// Compare the zone files (the context's view) with live DNS.
///
/// `None` when there is nothing to compare (no zone file is loaded, so both
/// sides are live DNS).
pub async fn changes(ctx: &Context<'_>, live: &dyn Lookup) -> Option<Changes> {
    if ctx.zones.is_empty() {
        return None;
    }
    let name = ctx.domain.name();
    let dest = Destination::Domain(ctx.domain.clone());
    // As the check's own route: with DANE when it has DNSSEC status (zone
    // files of zones live DNS serves signed count as signed).
    // Live DNS now: the policy published now, not a file being tried.
    let live_sts = ctx.mta_sts.map(|c| {
        std::sync::Arc::new(crate::mta_sts::MtaStsConfig {
            files: Vec::new(),
            ..(**c).clone()
        })
    });
    let opts = sender_view(ctx.route.dnssec.is_some(), live_sts.as_ref());
    let (old_mx, old_route) = futures::join!(
        resolve(live, name, RecordType::MX),
        route(live, &dest, &opts)
    );
    let new_route = ctx.route;
    let mut changes = Changes::default();
    if old_mx.outcome.is_temporary() {
        changes.live_error = Some(format!(
            "MX lookup for {} failed: {}",
            ctx.domain.as_str(),
            old_mx.outcome
        ));
        return Some(changes);
    }
    if ctx.mx.outcome.is_temporary() {
        changes.zone_error = Some(format!(
            "MX lookup for {} failed: {}",
            ctx.domain.as_str(),
            ctx.mx.outcome
        ));
        return Some(changes);
    }
    verdict_change(&mut changes, &old_route, new_route);
    mx_set_changes(&mut changes, &old_route, new_route);
    if let (Some(old), Some(new)) = (mx_ttl(&old_mx), mx_ttl(ctx.mx))
        && old != new
    {
        changes.mx_ttl = Some(TtlChange { old, new });
    }
    address_changes(&mut changes, ctx, live, &old_route, new_route).await;
    tls_changes(&mut changes, &old_route, new_route);
    let mut signed: Vec<String> = ctx
        .zones
        .assumed_signed()
        .map(crate::address::display_name)
        .collect();
    signed.sort();
    changes.assumed_signed = signed;
    if changes.verdict.is_some()
        || !changes.mx_added.is_empty()
        || !changes.mx_removed.is_empty()
        || !changes.preference_changed.is_empty()
        || changes.mx_ttl.is_some()
    {
        changes.cached_for = old_mx.outcome.ttl();
    }
    Some(changes)
}

/// docs/rules/secure.md: the TLS requirement of each exchanger on both
/// sides, or `dropped` when its TLSA lookup fails.
fn tls_changes(changes: &mut Changes, old_route: &Route, new_route: &Route) {
    let word = |e: &crate::route::Exchanger| -> Option<&'static str> {
        match e.state {
            ExchangerState::TlsaLookupFailed => Some("dropped"),
            ExchangerState::MtaStsMismatch => Some("removed"),
            ExchangerState::Ok => e.tls.map(|t| t.as_str()),
            _ => None,
        }
    };
    for old in &old_route.exchangers {
        let Some(new) = new_route.exchangers.iter().find(|e| e.name == old.name) else {
            continue;
        };
        if let (Some(o), Some(n)) = (word(old), word(new))
            && o != n
        {
            changes.tls_changed.push(TlsChange {
                exchanger: old.name.clone(),
                old: o,
                new: n,
            });
        }
    }
}

/// The verdict, when it changes. A temporary failure on either side is not
/// a change of verdict: it is not compared.
fn verdict_change(changes: &mut Changes, old_route: &Route, new_route: &Route) {
    let old = Verdict {
        status: old_route.status,
        outcome: old_route.outcome,
    };
    let new = Verdict {
        status: new_route.status,
        outcome: new_route.outcome,
    };
    let temporary = [("live DNS", old_route), ("the zone files' view", new_route)]
        .into_iter()
        .filter(|(_, r)| r.outcome == RouteKind::DnsTemporary)
        .map(|(side, r)| {
            let why = r.error.as_ref().map_or("", |e| e.message.as_str());
            format!("verdict: lookups through {side} failed ({why})")
        })
        .collect::<Vec<_>>();
    if !temporary.is_empty() {
        changes.not_compared.extend(temporary);
    } else if old != new {
        changes.verdict = Some(VerdictChange { old, new });
    }
}

/// The MX set as a set, with a preference change of one exchanger told
/// apart from an add and a remove.
fn mx_set_changes(changes: &mut Changes, old_route: &Route, new_route: &Route) {
    let old_set = entries(old_route);
    let new_set = entries(new_route);
    let mut removed: Vec<MxEntry> = old_set.difference(&new_set).cloned().collect();
    let mut added: Vec<MxEntry> = new_set.difference(&old_set).cloned().collect();
    let mut by_name: BTreeMap<String, (Vec<u16>, Vec<u16>)> = BTreeMap::new();
    for m in &removed {
        by_name
            .entry(m.exchanger.clone())
            .or_default()
            .0
            .push(m.preference);
    }
    for m in &added {
        by_name
            .entry(m.exchanger.clone())
            .or_default()
            .1
            .push(m.preference);
    }
    for (exchanger, (old, new)) in by_name {
        if let ([old], [new]) = (old.as_slice(), new.as_slice()) {
            removed.retain(|m| m.exchanger != exchanger);
            added.retain(|m| m.exchanger != exchanger);
            changes.preference_changed.push(PreferenceChange {
                exchanger,
                old: *old,
                new: *new,
            });
        }
    }
    changes.mx_added = added;
    changes.mx_removed = removed;
}

/// The addresses of the exchangers listed on both sides, asked again on
/// each side (a plan lists an address shared by two exchangers only once).
async fn address_changes(
    changes: &mut Changes,
    ctx: &Context<'_>,
    live: &dyn Lookup,
    old_route: &Route,
    new_route: &Route,
) {
    let common: Vec<String> = host_names(old_route)
        .intersection(&host_names(new_route))
        .cloned()
        .collect();
    let names: Vec<Option<Name>> = common
        .iter()
        .map(|n| Name::from_ascii(format!("{n}.")).ok())
        .collect();
    let lookups = names.iter().map(|n| async move {
        match n {
            Some(n) => Some(futures::join!(
                addresses_of(live, n),
                addresses_of(ctx.lookup, n)
            )),
            None => None,
        }
    });
    let results = join_all(lookups).await;
    for (exchanger, result) in common.into_iter().zip(results) {
        match result {
            None => {}
            Some((Err(e), _)) => changes
                .not_compared
                .push(format!("addresses of {exchanger}: live DNS failed ({e})")),
            Some((_, Err(e))) => changes.not_compared.push(format!(
                "addresses of {exchanger}: the zone files' view failed ({e})"
            )),
            Some((Ok((old, ttl)), Ok((new, _)))) if old != new => {
                changes.addresses_changed.push(AddressChange {
                    exchanger,
                    added: new.difference(&old).copied().collect(),
                    removed: old.difference(&new).copied().collect(),
                    cached_for: ttl,
                });
            }
            Some(_) => {}
        }
    }
}
