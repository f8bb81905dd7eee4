//! `mxkit trap list|show`: text and JSON.
//!
//! JSON keys (a promise to other tools): a listing is `ip`, `grade`
//! (`suspect`, `trapped`, `repeat`), `reason`, `first_seen`, `last_seen`,
//! `expires` (ISO 8601 UTC), `events`, `shadow`.

use std::io::{self, Write};
use std::net::IpAddr;

use mxkit_trap::model::{AllowEntry, Decision, Listing, Micros, Observation, Pause, iso8601};
use serde_json::{Value, json};

use super::sanitize;

pub fn listing_json(l: &Listing) -> Value {
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

pub fn listings_json(listings: &[Listing]) -> Value {
    Value::Array(listings.iter().map(listing_json).collect())
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

pub fn show_json(
    ip: IpAddr,
    listing: Option<&Listing>,
    decisions: &[Decision],
    observations: &[Observation],
    allowed: &[AllowEntry],
) -> Value {
    json!({
        "ip": ip.to_string(),
        "listing": listing.map(listing_json),
        "allowlisted": allowed.iter().map(|a| json!({"net": a.net.to_string(), "note": a.note})).collect::<Vec<_>>(),
        "decisions": decisions.iter().map(decision_json).collect::<Vec<_>>(),
        "observations": observations.iter().map(observation_json).collect::<Vec<_>>(),
    })
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

pub fn show_text(
    w: &mut impl Write,
    ip: IpAddr,
    listing: Option<&Listing>,
    decisions: &[Decision],
    observations: &[Observation],
    allowed: &[AllowEntry],
    now: Micros,
) -> io::Result<()> {
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
