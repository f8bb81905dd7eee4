//! `probe` and `send` output: per attempt, what happened at each stage and
//! why the walk moved on; `--transcript` prints every line swaks-style.

use std::io::{self, Write};

use mxkit::route::Route;
use mxkit::smtp::{Attempt, AttemptOutcome, Direction, Stage, TlsReport, Walk, WalkVerdict};
use serde::Serialize;

use super::sanitize;

fn stage(s: Stage) -> &'static str {
    s.as_str()
}

fn plan_line(out: &mut impl Write, route: &Route) -> io::Result<()> {
    let plan: Vec<String> = route
        .candidates
        .iter()
        .map(|c| format!("{} {}", c.preference, sanitize(&c.label())))
        .collect();
    if plan.is_empty() {
        let why = route
            .error
            .as_ref()
            .map(|e| format!("{} ({}): {}", e.dsn, e.code, e.message));
        writeln!(
            out,
            "{}: no candidate: {}",
            route.domain,
            sanitize(&why.unwrap_or_default())
        )
    } else {
        writeln!(out, "{}: plan {}", route.domain, plan.join(", "))
    }
}

fn tls_line(t: &TlsReport) -> String {
    let cert = match &t.certificate {
        Some(c) => format!(
            "certificate {} (SAN {}; issuer {}; valid {} to {})",
            c.subject,
            if c.sans.is_empty() {
                "none".to_string()
            } else {
                c.sans.join(", ")
            },
            c.issuer,
            c.not_before,
            c.not_after
        ),
        None => "no certificate".to_string(),
    };
    let trust = if t.chain_trusted {
        "chain trusted".to_string()
    } else {
        format!(
            "chain NOT trusted ({})",
            t.chain_error.as_deref().unwrap_or("unknown")
        )
    };
    format!(
        "{} {}; {cert}; {trust}; matches the MX name: {}; matches the domain: {}",
        t.version,
        t.cipher,
        if t.mx_name_matches { "yes" } else { "no" },
        if t.domain_name_matches { "yes" } else { "no" }
    )
}

/// One attempt for people.
pub fn attempt_text(
    out: &mut impl Write,
    n: usize,
    a: &Attempt,
    transcript: bool,
) -> io::Result<()> {
    let c = &a.candidate;
    writeln!(
        out,
        "Attempt {n}: {} {}",
        c.preference,
        sanitize(&c.label())
    )?;
    if transcript {
        for e in &a.transcript {
            let prefix = match (e.direction, e.tls) {
                (Direction::Sent, false) => " -> ",
                (Direction::Sent, true) => " ~> ",
                (Direction::Received, false) => "<-  ",
                (Direction::Received, true) => "<~  ",
                (Direction::Info, _) => "=== ",
                (Direction::Error, _) => "*** ",
            };
            writeln!(out, "  [{:>6} ms] {prefix}{}", e.at_ms, sanitize(&e.line))?;
        }
    } else {
        for s in &a.stages {
            let what = match (&s.reply, &s.error) {
                (_, Some(err)) => sanitize(err),
                (Some(r), None) => {
                    let first = r.lines.first().map(String::as_str).unwrap_or("");
                    let more = if r.lines.len() > 1 {
                        format!(" (+{} lines)", r.lines.len() - 1)
                    } else {
                        String::new()
                    };
                    sanitize(&format!("{} {first}{more}", r.code))
                }
                (None, None) => "ok".to_string(),
            };
            writeln!(out, "  {:<9} {what} ({} ms)", stage(s.stage), s.elapsed_ms)?;
        }
    }
    if let Some(t) = &a.tls {
        writeln!(out, "  tls       {}", sanitize(&tls_line(t)))?;
    }
    if a.plaintext_fallback {
        writeln!(
            out,
            "  note      the TLS handshake failed; retried in plaintext on the same address"
        )?;
    }
    let result = match &a.outcome {
        AttemptOutcome::Reached { stage: s } => format!("reached {}", stage(*s)),
        AttemptOutcome::Accepted { queue_id, .. } => match queue_id {
            Some(id) => format!("accepted, queued as {}", sanitize(id)),
            None => "accepted".to_string(),
        },
        AttemptOutcome::Soft { stage: s, reason } => {
            format!("temporary failure at {}: {}", stage(*s), sanitize(reason))
        }
        AttemptOutcome::Hard { stage: s, reason } => {
            format!("permanent failure at {}: {}", stage(*s), sanitize(reason))
        }
    };
    match &a.next {
        Some(_) => writeln!(out, "  result    {result}; the walk moves on")?,
        None => writeln!(out, "  result    {result}")?,
    }
    Ok(())
}

/// A walk for people: the plan, each attempt, the verdict.
pub fn walk_text(
    out: &mut impl Write,
    route: &Route,
    walk: &Walk,
    transcript: bool,
) -> io::Result<()> {
    plan_line(out, route)?;
    for (i, a) in walk.attempts.iter().enumerate() {
        attempt_text(out, i + 1, a, transcript)?;
    }
    for r in &walk.recipients {
        let reply = r
            .reply
            .as_ref()
            .map(|r| format!(": {} {}", r.code, r.lines.join(" ")))
            .unwrap_or_default();
        writeln!(
            out,
            "recipient {}: {}{}",
            sanitize(&r.address),
            verdict(&r.verdict),
            sanitize(&reply)
        )?;
    }
    writeln!(
        out,
        "{}: {}",
        verdict(&walk.verdict),
        sanitize(&walk.reason)
    )
}

/// `send`: the accepted line with the server's queue id.
pub fn accepted_line(out: &mut impl Write, walk: &Walk) -> io::Result<()> {
    for a in &walk.attempts {
        if let AttemptOutcome::Accepted { reply, .. } = &a.outcome {
            writeln!(
                out,
                "server said: {} {}",
                reply.code,
                sanitize(&reply.lines.join(" "))
            )?;
        }
    }
    Ok(())
}

fn verdict(v: &WalkVerdict) -> &'static str {
    match v {
        WalkVerdict::Reached => "reached",
        WalkVerdict::Accepted => "accepted",
        WalkVerdict::Permanent => "permanent failure",
        WalkVerdict::Temporary => "temporary failure",
    }
}

/// `probe --all` for people.
pub fn probe_all_text(
    out: &mut impl Write,
    route: &Route,
    attempts: &[Attempt],
    goal: Stage,
    transcript: bool,
) -> io::Result<()> {
    plan_line(out, route)?;
    for (i, a) in attempts.iter().enumerate() {
        attempt_text(out, i + 1, a, transcript)?;
    }
    let reached = attempts
        .iter()
        .filter(|a| matches!(a.outcome, AttemptOutcome::Reached { .. }))
        .count();
    writeln!(
        out,
        "{reached} of {} candidates reached {}",
        attempts.len(),
        stage(goal)
    )
}

#[derive(Serialize)]
struct WalkJson<'a> {
    input: &'a str,
    route: &'a Route,
    walk: &'a Walk,
}

/// `probe --json`: `{input, route, walk}` (the schema is `mxkit::smtp::Walk`).
pub fn walk_json(out: &mut impl Write, input: &str, route: &Route, walk: &Walk) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &WalkJson { input, route, walk })?;
    writeln!(out)
}

#[derive(Serialize)]
struct AllJson<'a> {
    input: &'a str,
    route: &'a Route,
    attempts: &'a [Attempt],
}

/// `probe --all --json`: `{input, route, attempts}`.
pub fn probe_all_json(
    out: &mut impl Write,
    input: &str,
    route: &Route,
    attempts: &[Attempt],
) -> io::Result<()> {
    serde_json::to_writer_pretty(
        &mut *out,
        &AllJson {
            input,
            route,
            attempts,
        },
    )?;
    writeln!(out)
}

#[derive(Serialize)]
struct DomainJson<'a> {
    domain: &'a str,
    route: &'a Route,
    walk: &'a Walk,
}

#[derive(Serialize)]
struct SendJson<'a> {
    from: &'a str,
    size: usize,
    domains: Vec<DomainJson<'a>>,
}

/// `send --json`: `{from, size, domains: [{domain, route, walk}]}`.
pub fn send_json(
    out: &mut impl Write,
    from: &str,
    size: usize,
    results: &[(String, Route, Walk)],
) -> io::Result<()> {
    let doc = SendJson {
        from,
        size,
        domains: results
            .iter()
            .map(|(d, r, w)| DomainJson {
                domain: d,
                route: r,
                walk: w,
            })
            .collect(),
    };
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}
