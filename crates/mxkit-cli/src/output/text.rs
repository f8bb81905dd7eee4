//! Text output for people: `host -t MX`-style record lines, the numbered
//! plan, warnings, and one verdict line.

use std::io::{self, Write};

use mxkit::dane::TlsRequirement;
use mxkit::route::{ExchangerState, Route, RouteKind, RouteVerdict};

use super::{ignored_exchanger, sanitize};

/// Write the route the way a mail administrator reads it; `refused`: the
/// questions about names outside the loaded zones that were not asked
/// (offline), which the note under the plan mentions.
pub fn route(out: &mut impl Write, route: &Route, refused: usize) -> io::Result<()> {
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
    policy_lines(out, route, &d)?;
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
    // and its own line says so: the note would say it a second time. It is
    // said only when some name was in fact not looked up.
    let failed_offline = route.status == RouteVerdict::Temporary
        || route
            .exchangers
            .iter()
            .any(|e| e.state == ExchangerState::Temporary);
    if refused > 0 && !failed_offline {
        writeln!(
            out,
            "note: offline: names outside the loaded zones were not looked up and count as unresolvable"
        )?;
    }
    verdict(out, route)
}

/// The MTA-STS policy in force and the TLS-RPT addresses, when looked at
/// (docs/rules/secure.md, Rules S7 to S12).
fn policy_lines(out: &mut impl Write, route: &Route, alias: &str) -> io::Result<()> {
    match &route.mta_sts {
        Some(Some(sts)) => match (sts.mode, sts.source) {
            (Some(mode), Some(source)) => {
                let id = sts
                    .id
                    .as_deref()
                    .map(|i| format!("id {}, ", sanitize(i)))
                    .unwrap_or_default();
                let source = match source {
                    mxkit::mta_sts::Source::Fetched => "fetched",
                    mxkit::mta_sts::Source::Cache => "from the cache",
                    mxkit::mta_sts::Source::File => "from the file given",
                };
                let mx: Vec<String> = sts.mx.iter().map(|m| sanitize(m)).collect();
                writeln!(
                    out,
                    "{alias} MTA-STS policy: {} ({id}max_age {}, {source}){}{}",
                    mode.as_str(),
                    sts.max_age.unwrap_or(0),
                    if mx.is_empty() { "" } else { ": mx " },
                    mx.join(", ")
                )?;
            }
            // The reason, unless a warning below gives it.
            _ if route.warnings.iter().any(|w| w.code == "mta_sts_error") => writeln!(
                out,
                "{alias} MTA-STS policy: none applied (see the warning below)"
            )?,
            _ => writeln!(
                out,
                "{alias} MTA-STS policy: none applied ({})",
                sanitize(sts.error.as_deref().unwrap_or("no policy"))
            )?,
        },
        Some(None) => writeln!(out, "{alias} has no MTA-STS policy")?,
        None => {}
    }
    match &route.tls_rpt {
        Some(Some(rua)) => {
            let rua: Vec<String> = rua.iter().map(|r| sanitize(r)).collect();
            writeln!(
                out,
                "{alias} TLS reports (TLS-RPT) go to {}",
                rua.join(", ")
            )?
        }
        Some(None) if route.mta_sts.as_ref().is_some_and(Option::is_some) => {
            writeln!(out, "{alias} has no TLS-RPT record")?
        }
        _ => {}
    }
    Ok(())
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
            ExchangerState::InvalidName | ExchangerState::IpAddress => {
                ignored_exchanger(e.state).unwrap_or("ignored")
            }
            ExchangerState::SelfHost => "this host (self): level dropped",
            ExchangerState::BelowSelf => "not more preferred than this host: dropped",
            ExchangerState::TlsaLookupFailed => "TLSA lookup failed: not used now (Rule S5)",
            ExchangerState::MtaStsMismatch => {
                "not in the MTA-STS policy (enforce): not used (Rule S11)"
            }
            ExchangerState::Ok | ExchangerState::NotLookedUp => "not used",
        };
        // The detail, unless a warning below gives it (once is enough), or
        // the words before it do.
        let detail = e
            .detail
            .as_deref()
            .filter(|_| e.state != ExchangerState::IpAddress)
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
    let base = || {
        e.tlsa
            .as_ref()
            .map(|t| sanitize(&t.base))
            .unwrap_or_else(|| sanitize(exchanger))
    };
    match e.tls? {
        TlsRequirement::Dane => Some(format!(
            "DANE: TLS, certificate must match _25._tcp.{} TLSA",
            base()
        )),
        TlsRequirement::DaneEncrypt => Some(format!(
            "DANE: TLS required, any certificate (_25._tcp.{} TLSA unusable)",
            base()
        )),
        TlsRequirement::MtaSts => {
            Some("MTA-STS: TLS, certificate must be valid for this name".to_string())
        }
        TlsRequirement::MtaStsTesting => {
            Some("MTA-STS testing: certificate checked and reported, not required".to_string())
        }
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
