//! Text output for people: `host -t MX`-style record lines, the numbered
//! plan, warnings, and one verdict line.

use std::io::{self, Write};

use mxkit::dane::TlsRequirement;
use mxkit::route::{ExchangerState, Route, RouteKind, RouteVerdict};

use super::sanitize;

/// Write the route the way a mail administrator reads it.
pub fn route(out: &mut impl Write, route: &Route, offline: bool) -> io::Result<()> {
    let d = sanitize(&route.domain);
    // The MX records, as `host -t MX` prints them.
    let mut alias = d.clone();
    for target in &route.cname_chain {
        writeln!(out, "{alias} is an alias for {}.", sanitize(target))?;
        alias = sanitize(target);
    }
    match route.outcome {
        RouteKind::AddressLiteral => writeln!(out, "{d} is an address literal: no DNS lookup")?,
        RouteKind::InvalidAddress => {}
        RouteKind::NoSuchDomain => writeln!(out, "Host {alias} not found: 3(NXDOMAIN)")?,
        RouteKind::DnsTemporary if route.records.is_empty() && route.exchangers.is_empty() => {
            writeln!(out, "Host {alias} not found: MX lookup failed")?
        }
        _ if route.records.is_empty() => writeln!(out, "{alias} has no MX record")?,
        _ => {
            for r in &route.records {
                let ex = if r.exchanger == "." {
                    ".".to_string()
                } else {
                    format!("{}.", sanitize(&r.exchanger))
                };
                writeln!(out, "{alias} mail is handled by {} {ex}", r.preference)?;
            }
        }
    }
    writeln!(out)?;

    if !route.exchangers.is_empty() {
        plan(out, route)?;
        writeln!(out)?;
    }
    for w in &route.warnings {
        // Not a fault of the destination: a note about this host's setup.
        let kind = if w.code == mxkit::route::DNSSEC_FROM_REMOTE_RESOLVER {
            "note"
        } else {
            "warning"
        };
        writeln!(out, "{kind}: {} ({})", sanitize(&w.message), w.code)?;
    }
    // Offline, a temporary failure can only be a name outside the zones,
    // and its own line says so: the note would say it a second time.
    let failed_offline = route.status == RouteVerdict::Temporary
        || route
            .exchangers
            .iter()
            .any(|e| e.state == ExchangerState::Temporary);
    if offline && !failed_offline {
        writeln!(
            out,
            "note: offline: names outside the loaded zones were not looked up and count as unresolvable"
        )?;
    }
    verdict(out, route)
}

fn plan(out: &mut impl Write, route: &Route) -> io::Result<()> {
    let mut rows: Vec<[String; 5]> = Vec::new();
    let mut n = 0;
    // Candidates in plan order, then the exchangers that gave none.
    for c in &route.candidates {
        n += 1;
        let mut notes = Vec::new();
        if route.outcome == RouteKind::ImplicitMx {
            notes.push("implicit MX (no MX records)".to_string());
        }
        if let Some(canon) = &c.canonical {
            notes.push(format!("alias of {}", sanitize(canon)));
        }
        if let Some(note) = tls_note(route, &c.exchanger) {
            notes.push(note);
        }
        rows.push([
            n.to_string(),
            c.preference.to_string(),
            sanitize(&c.exchanger),
            c.address.to_string(),
            notes.join("; "),
        ]);
    }
    for e in route.exchangers.iter().filter(|e| e.addresses.is_empty()) {
        let why = match e.state {
            ExchangerState::NoAddress => "no address",
            ExchangerState::Temporary => "lookup failed (temporary)",
            ExchangerState::InvalidName => "not a host name: ignored",
            ExchangerState::IpAddress => "IP address as MX target: ignored",
            ExchangerState::SelfHost => "this host (self): level dropped",
            ExchangerState::BelowSelf => "not more preferred than this host: dropped",
            ExchangerState::TlsaLookupFailed => "TLSA lookup failed: not used now (Rule S5)",
            ExchangerState::Ok | ExchangerState::NotLookedUp => "not used",
        };
        // The detail, unless a warning below gives it (once is enough).
        let detail = e
            .detail
            .as_deref()
            .filter(|d| !route.warnings.iter().any(|w| w.message.contains(*d)))
            .map(|d| format!(": {}", sanitize(d)))
            .unwrap_or_default();
        rows.push([
            "-".into(),
            e.preference.to_string(),
            sanitize(&e.name),
            "-".into(),
            format!("{why}{detail}"),
        ]);
    }
    let head = ["#", "PREF", "EXCHANGER", "ADDRESS", "NOTES"];
    let mut width = head.map(str::len);
    for row in &rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    writeln!(
        out,
        "Delivery plan ({} candidate{}):",
        route.candidates.len(),
        plural(route.candidates.len())
    )?;
    let line = |cells: [&str; 5]| {
        format!(
            "  {:>w0$}  {:>w1$}  {:<w2$}  {:<w3$}  {}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            cells[4],
            w0 = width[0],
            w1 = width[1],
            w2 = width[2],
            w3 = width[3]
        )
        .trim_end()
        .to_string()
    };
    writeln!(out, "{}", line(head))?;
    for row in &rows {
        writeln!(
            out,
            "{}",
            line([&row[0], &row[1], &row[2], &row[3], &row[4]])
        )?;
    }
    Ok(())
}

/// What TLS a sender requires of the exchanger, when more than
/// opportunistic (docs/rules/secure.md, Rule S4).
fn tls_note(route: &Route, exchanger: &str) -> Option<String> {
    let e = route.exchangers.iter().find(|e| e.name == exchanger)?;
    let tlsa = e.tlsa.as_ref()?;
    let base = sanitize(&tlsa.base);
    match e.tls? {
        TlsRequirement::Dane => Some(format!(
            "DANE: TLS, certificate must match _25._tcp.{base} TLSA"
        )),
        TlsRequirement::DaneEncrypt => Some(format!(
            "DANE: TLS required, any certificate (_25._tcp.{base} TLSA unusable)"
        )),
        TlsRequirement::Opportunistic => None,
    }
}

fn verdict(out: &mut impl Write, route: &Route) -> io::Result<()> {
    match (&route.status, &route.error) {
        (RouteVerdict::Deliverable, _) => {
            let hosts = {
                let mut names: Vec<&str> = route
                    .candidates
                    .iter()
                    .map(|c| c.exchanger.as_str())
                    .collect();
                names.dedup();
                names.len()
            };
            let ttl = route
                .ttl
                .map(|t| format!(", valid for {t} s"))
                .unwrap_or_default();
            let dnssec = if route.dnssec == Some(mxkit::dns::Dnssec::Secure) {
                ", DNSSEC-validated"
            } else {
                ""
            };
            writeln!(
                out,
                "deliverable: {} address{} on {hosts} exchanger{}{ttl}{dnssec}",
                route.candidates.len(),
                if route.candidates.len() == 1 {
                    ""
                } else {
                    "es"
                },
                plural(hosts),
            )
        }
        (status, Some(e)) => {
            let kind = if *status == RouteVerdict::Permanent {
                "permanent failure"
            } else {
                "temporary failure"
            };
            writeln!(
                out,
                "{kind} {} ({}): {}",
                e.dsn,
                e.code,
                sanitize(&e.message)
            )
        }
        (_, None) => writeln!(out, "no route"),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
