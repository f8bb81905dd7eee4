//! `mxkit trap`: everything its commands print, as text and JSON, and the
//! lines the running trap writes on standard error.
//!
//! JSON keys (a promise to other tools): a listing is `ip`, `grade`
//! (`suspect`, `trapped`, `repeat`), `reason`, `first_seen`, `last_seen`,
//! `expires` (ISO 8601 UTC), `events`, `shadow`; `trap expire --json` is
//! `decisions`, `listings`, `observations` (how many were removed).
//!
//! The running trap's lines on standard error are stable, for fail2ban and
//! log watchers: `mxtrap: TRAPPED ip=198.51.100.7 reason=decoy-first-again
//! ttl=86400` and the like ([`step`]).

use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use mxkit_trap::detect::Step;
use mxkit_trap::model::{
    AllowEntry, Decision, Grade, Listing, Micros, Observation, Pause, iso8601,
};
use mxkit_trap::run::LogSource;
use mxkit_trap::store::Expired;
use serde::Serialize;
use serde_json::{Value, json};

use super::sanitize;

/// A store URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// `trap run` without a primary log: nothing will ever be listed.
pub fn no_logs_warning(w: &mut impl Write) -> io::Result<()> {
    writeln!(
        w,
        "mxkit: warning: no --primary-log: without the real MX hosts' logs nothing is \
         ever listed (every decoy session is only recorded)"
    )
}

/// `trap run` has started: where it listens, its store (`url`, shown
/// without a password) and the logs it follows.
pub fn started(
    w: &mut impl Write,
    listen: &[SocketAddr],
    url: &str,
    logs: &[LogSource],
    shadow: bool,
) -> io::Result<()> {
    writeln!(
        w,
        "mxkit: trap: decoy on {}, store {}, logs [{}]{}",
        listen
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        redact(url),
        logs.iter()
            .map(LogSource::name)
            .collect::<Vec<_>>()
            .join(", "),
        if shadow {
            ", shadow mode: nothing is listed"
        } else {
            ""
        }
    )
}

/// `trap run` has stopped (a signal).
pub fn stopped(w: &mut impl Write) -> io::Result<()> {
    writeln!(w, "mxkit: trap: stopped")
}

/// A primary log that cannot be read (`problem`), or is read again.
pub fn stream(w: &mut impl Write, name: &str, problem: Option<&str>) -> io::Result<()> {
    match problem {
        Some(problem) => writeln!(
            w,
            "mxkit: warning: primary log {} cannot be read: {}; nothing is listed until it can \
             be (decisions say primary-log-unreadable)",
            sanitize(name),
            sanitize(problem)
        ),
        None => writeln!(
            w,
            "mxkit: trap: primary log {} is read again",
            sanitize(name)
        ),
    }
}

/// One stable line per decision worth reading (fail2ban-friendly):
/// `mxtrap: TRAPPED ip=198.51.100.7 reason=decoy-first-again ttl=86400`
/// (`WOULD-LIST TRAPPED` in shadow mode), and one when the anomaly alarm
/// pauses or resumes listing.
pub fn step(w: &mut impl Write, step: &Step, shadow: bool, now: Micros) -> io::Result<()> {
    if let Some(p) = &step.paused {
        writeln!(
            w,
            "mxtrap: PAUSED reason=\"{}\" (nothing is listed while the primary may be \
             unreachable from outside; it resumes by itself)",
            p.reason
        )?;
    }
    if let Some(p) = &step.resumed {
        writeln!(
            w,
            "mxtrap: RESUMED paused_for={}s",
            (p.ended.unwrap_or(p.started) - p.started).max(0) / 1_000_000
        )?;
    }
    for l in &step.listed {
        let ttl = (l.expires - now).max(0) / 1_000_000;
        writeln!(
            w,
            "mxtrap: {}{} ip={} reason={} ttl={ttl}",
            if shadow { "WOULD-LIST " } else { "" },
            l.grade.as_str().to_ascii_uppercase(),
            l.ip,
            l.reason.replace(' ', "_"),
        )?;
    }
    for d in &step.decided {
        if !d.grade.listed() && d.grade == Grade::Probe {
            writeln!(w, "mxtrap: PROBE ip={} reason={}", d.client, d.reason)?;
        }
    }
    for ip in &step.delisted {
        writeln!(w, "mxtrap: DELISTED ip={ip} reason=known-good")?;
    }
    Ok(())
}

/// `trap list --json` while listing is paused: said on standard error, so
/// that the JSON stays an array of listings.
pub fn pause_warning(w: &mut impl Write, pause: &Pause) -> io::Result<()> {
    writeln!(
        w,
        "mxkit: warning: listing is PAUSED since {}: {}",
        iso8601(pause.started),
        sanitize(&pause.reason)
    )
}

/// `trap allow --remove`.
pub fn unallowed(w: &mut impl Write, net: IpNet) -> io::Result<()> {
    writeln!(w, "{net}: removed from the allowlist")
}

/// `trap allow`: the network, and each listing inside it that was withdrawn.
pub fn allowed(w: &mut impl Write, net: IpNet, withdrawn: &[IpAddr]) -> io::Result<()> {
    writeln!(w, "{net}: allowlisted")?;
    for ip in withdrawn {
        writeln!(w, "{ip}: listing withdrawn")?;
    }
    Ok(())
}

/// `trap delist`.
pub fn delisted(w: &mut impl Write, ip: IpAddr) -> io::Result<()> {
    writeln!(
        w,
        "{ip}: listing withdrawn (it is listed again if it comes back decoy-first; `mxkit trap \
         allow {ip}` prevents that)"
    )
}

/// `trap expire --json`: what was removed.
#[derive(Serialize)]
struct ExpiredJson {
    /// Decisions past their retention.
    decisions: u64,
    /// Expired listings.
    listings: u64,
    /// Observations past their retention.
    observations: u64,
}

/// `trap expire`: what was removed, as text or as one JSON line.
pub fn expired(w: &mut impl Write, e: &Expired, json: bool) -> io::Result<()> {
    if json {
        let doc = ExpiredJson {
            decisions: e.decisions,
            listings: e.listings,
            observations: e.observations,
        };
        serde_json::to_writer(&mut *w, &doc)?;
        return writeln!(w);
    }
    writeln!(
        w,
        "removed {} expired listings, {} observations and {} decisions past retention",
        e.listings, e.observations, e.decisions
    )
}

/// `trap export` without `--out`: the blocklist as the exporter rendered it.
pub fn blocklist(w: &mut impl Write, text: &str) -> io::Result<()> {
    w.write_all(text.as_bytes())
}

/// One value as pretty-printed JSON and a line end.
fn pretty(w: &mut impl Write, value: &Value) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, value)?;
    writeln!(w)
}

fn listing_json(l: &Listing) -> Value {
    json!({
        "ip": l.ip.to_string(),
        "grade": l.grade.as_str(),
        "reason": l.reason,
        "first_seen": iso8601(l.first_seen),
        "last_seen": iso8601(l.last_seen),
        "expires": iso8601(l.expires),
        "events": l.events,
        "shadow": l.shadow,
    })
}

/// `trap list --json`: an array of listings.
pub fn listings_json(w: &mut impl Write, listings: &[Listing]) -> io::Result<()> {
    pretty(
        w,
        &Value::Array(listings.iter().map(listing_json).collect()),
    )
}

fn decision_json(d: &Decision) -> Value {
    json!({
        "at": iso8601(d.at),
        "decided": iso8601(d.decided),
        "grade": d.grade.as_str(),
        "reason": d.reason,
    })
}

fn observation_json(o: &Observation) -> Value {
    json!({
        "at": iso8601(o.at),
        "role": o.role.as_str(),
        "stream": o.stream,
        "local": o.local.map(|a| a.to_string()),
        "client_name": o.client_name,
        "stage": o.stage.as_str(),
        "helo": o.helo,
        "mail_domain": o.mail_domain,
        "flags": o.flags.names(),
    })
}

/// Everything kept about one address: what `trap show` prints.
pub struct About<'a> {
    pub ip: IpAddr,
    /// Its listing, in force or expired.
    pub listing: Option<&'a Listing>,
    pub decisions: &'a [Decision],
    pub observations: &'a [Observation],
    /// The allowlist entries that cover it.
    pub allowed: &'a [AllowEntry],
}

/// `trap show --json`: one object.
pub fn show_json(w: &mut impl Write, about: &About<'_>) -> io::Result<()> {
    let value = json!({
        "ip": about.ip.to_string(),
        "listing": about.listing.map(listing_json),
        "allowlisted": about.allowed.iter().map(|a| json!({"net": a.net.to_string(), "note": a.note})).collect::<Vec<_>>(),
        "decisions": about.decisions.iter().map(decision_json).collect::<Vec<_>>(),
        "observations": about.observations.iter().map(observation_json).collect::<Vec<_>>(),
    });
    pretty(w, &value)
}

/// Remaining time, roughly: `5h12m`, `3d4h`, `expired`.
fn remaining(expires: Micros, now: Micros) -> String {
    let s = (expires - now) / 1_000_000;
    if s <= 0 {
        return "expired".into();
    }
    span(s)
}

/// `2d3h`, `4h05m`, `3m07s`.
fn span(s: i64) -> String {
    let (d, h, m) = (s / 86_400, s / 3600 % 24, s / 60 % 60);
    if d > 0 {
        format!("{d}d{h}h")
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else {
        format!("{m}m{:02}s", s % 60)
    }
}

/// The pause of listing that is on, above the listings.
pub fn pause_text(w: &mut impl Write, pause: &Pause, now: Micros) -> io::Result<()> {
    writeln!(
        w,
        "listing PAUSED since {} ({} ago) by the anomaly alarm: {}\n",
        iso8601(pause.started),
        span(now.saturating_sub(pause.started).max(0) / 1_000_000),
        sanitize(&pause.reason)
    )
}

pub fn listings_text(w: &mut impl Write, listings: &[Listing], now: Micros) -> io::Result<()> {
    if listings.is_empty() {
        return writeln!(w, "nothing listed");
    }
    writeln!(
        w,
        "{:<39} {:<8} {:>9} {:>6}  {:<20}  reason",
        "address", "grade", "left", "events", "last seen"
    )?;
    for l in listings {
        writeln!(
            w,
            "{:<39} {:<8} {:>9} {:>6}  {:<20}  {}{}",
            l.ip.to_string(),
            l.grade.as_str(),
            remaining(l.expires, now),
            l.events,
            iso8601(l.last_seen),
            sanitize(&l.reason),
            if l.shadow {
                " [shadow: not exported]"
            } else {
                ""
            }
        )?;
    }
    let shadow = listings.iter().filter(|l| l.shadow).count();
    writeln!(
        w,
        "{} listed{}",
        listings.len() - shadow,
        if shadow > 0 {
            format!(", {shadow} more in shadow mode")
        } else {
            String::new()
        }
    )
}

/// `trap show`: the address, its listing, the allowlist entries that cover
/// it, then its decisions and sessions.
pub fn show_text(w: &mut impl Write, about: &About<'_>, now: Micros) -> io::Result<()> {
    let About {
        ip,
        listing,
        decisions,
        observations,
        allowed,
    } = *about;
    writeln!(w, "{ip}")?;
    match listing {
        Some(l) if l.expires > now => writeln!(
            w,
            "  listed: {}{} until {} ({} left), {} events, first seen {}: {}",
            l.grade.as_str(),
            if l.shadow {
                " (shadow: not exported)"
            } else {
                ""
            },
            iso8601(l.expires),
            remaining(l.expires, now),
            l.events,
            iso8601(l.first_seen),
            sanitize(&l.reason)
        )?,
        Some(l) => writeln!(
            w,
            "  not listed (a {} listing expired {})",
            l.grade.as_str(),
            iso8601(l.expires)
        )?,
        None => writeln!(w, "  not listed")?,
    }
    for a in allowed {
        writeln!(
            w,
            "  allowlisted by {}{}",
            a.net,
            if a.note.is_empty() {
                String::new()
            } else {
                format!(": {}", sanitize(&a.note))
            }
        )?;
    }
    if !decisions.is_empty() {
        writeln!(w, "  decisions:")?;
        for d in decisions {
            writeln!(
                w,
                "    {}  {:<8} {}",
                iso8601(d.at),
                d.grade.as_str(),
                d.reason
            )?;
        }
    }
    if !observations.is_empty() {
        writeln!(w, "  sessions:")?;
        for o in observations {
            let mut extra = Vec::new();
            if let Some(h) = &o.helo {
                extra.push(format!("helo={}", sanitize(h)));
            }
            if let Some(d) = &o.mail_domain {
                extra.push(format!("from=*@{}", sanitize(d)));
            }
            let flags = o.flags.names();
            if !flags.is_empty() {
                extra.push(flags.join(","));
            }
            writeln!(
                w,
                "    {}  {:<7} {:<7} {}{}",
                iso8601(o.at),
                o.role.as_str(),
                o.stage.as_str(),
                o.local.map(|l| format!("to {l} ")).unwrap_or_default(),
                extra.join(" ")
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgres://trap:s3cret@db.example.org/trap"),
            "postgres://trap:***@db.example.org/trap"
        );
        assert_eq!(
            redact("sqlite:/var/lib/mxkit/trap.db"),
            "sqlite:/var/lib/mxkit/trap.db"
        );
        assert_eq!(redact("postgres://trap@db/trap"), "postgres://trap@db/trap");
    }

    #[test]
    fn expired_json_keeps_its_keys_and_their_order() {
        let e = Expired {
            listings: 1,
            observations: 2,
            decisions: 3,
        };
        let mut out = Vec::new();
        expired(&mut out, &e, true).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"decisions\":3,\"listings\":1,\"observations\":2}\n"
        );
    }
}
