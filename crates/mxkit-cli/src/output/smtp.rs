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

/// The plan in one line, or (no candidate) the route's failure: with its
/// cause when nothing later prints it (`probe --all`), else only its code.
fn plan_line(out: &mut impl Write, route: &Route, with_cause: bool) -> io::Result<()> {
    let plan: Vec<String> = route
        .candidates
        .iter()
        .map(|c| format!("{} {}", c.preference, sanitize(&c.label())))
        .collect();
    // Exchangers that name no host, as the route's table shows them.
    for e in &route.exchangers {
        if let Some(why) = super::ignored_exchanger(e.state) {
            writeln!(
                out,
                "{}: MX {} {}: {why}",
                route.domain,
                e.preference,
                sanitize(&e.name)
            )?;
        }
    }
    if !plan.is_empty() {
        return writeln!(out, "{}: plan {}", route.domain, plan.join(", "));
    }
    match &route.error {
        Some(e) if with_cause => writeln!(
            out,
            "{}: no candidate: {}",
            route.domain,
            sanitize(&format!("{} ({}): {}", e.dsn, e.code, e.message))
        ),
        Some(e) => writeln!(out, "{}: no candidate ({})", route.domain, e.code),
        None => writeln!(out, "{}: no candidate", route.domain),
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
    let session = if t.completed {
        format!("{} {}", t.version, t.cipher)
    } else {
        "handshake not completed".to_string()
    };
    format!(
        "{session}; {cert}; {trust}; matches the MX name: {}; matches the domain: {}{}",
        if t.mx_name_matches { "yes" } else { "no" },
        if t.domain_name_matches { "yes" } else { "no" },
        // A requirement not met already shows on the STARTTLS line.
        if t.completed || t.error.is_none() {
            t.policy_note()
        } else {
            format!("; policy {}", t.policy)
        }
    )
}

/// One attempt for people: each stage (or, with `transcript`, every
/// line), then the result. A failure's reason is printed once: the result
/// line names it only when the lines above do not already show it. `last`:
/// whether the walk ended with this attempt (its `next`, if any, then says
/// why it went no further instead of "the walk moves on").
pub fn attempt_text(
    out: &mut impl Write,
    n: usize,
    a: &Attempt,
    transcript: bool,
    last: bool,
) -> io::Result<()> {
    let c = &a.candidate;
    let mut block = String::new();
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
            block.push_str(&format!(
                "  [{:>6} ms] {prefix}{}\n",
                e.at_ms,
                sanitize(&e.line)
            ));
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
            block.push_str(&format!(
                "  {:<9} {what} ({} ms)\n",
                stage(s.stage),
                s.elapsed_ms
            ));
        }
    }
    if let Some(t) = &a.tls {
        block.push_str(&format!("  tls       {}\n", sanitize(&tls_line(t))));
    }
    if a.plaintext_fallback {
        block.push_str(
            "  note      the TLS handshake failed; retried in plaintext on the same address\n",
        );
    }
    let failure = |kind: &str, s: Stage, reason: &str| {
        let reason = sanitize(reason);
        if block.contains(&reason) {
            format!("{kind} at {}", stage(s))
        } else {
            format!("{kind} at {}: {reason}", stage(s))
        }
    };
    let result = match &a.outcome {
        AttemptOutcome::Reached { stage: s } => format!("reached {}", stage(*s)),
        AttemptOutcome::Accepted { queue_id, .. } => match queue_id {
            Some(id) => format!("accepted, queued as {}", sanitize(id)),
            None => "accepted".to_string(),
        },
        AttemptOutcome::Soft { stage: s, reason } => failure("temporary failure", *s, reason),
        AttemptOutcome::Hard { stage: s, reason } => failure("permanent failure", *s, reason),
    };
    let then = match (&a.next, last) {
        (Some(why), true) => format!("; {}", sanitize(why)),
        (Some(_), false) => "; the walk moves on".to_string(),
        (None, _) => String::new(),
    };
    writeln!(
        out,
        "Attempt {n}: {} {}",
        c.preference,
        sanitize(&c.label())
    )?;
    out.write_all(block.as_bytes())?;
    writeln!(out, "  result    {result}{then}")
}

/// A walk for people: the plan, each attempt, the recipients, the verdict.
/// The verdict line is the walk's reason without the causes the attempts
/// above already gave (each cause is printed once).
pub fn walk_text(
    out: &mut impl Write,
    route: &Route,
    walk: &Walk,
    transcript: bool,
) -> io::Result<()> {
    plan_line(out, route, false)?;
    for (i, a) in walk.attempts.iter().enumerate() {
        attempt_text(out, i + 1, a, transcript, i + 1 == walk.attempts.len())?;
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
    // The library sums each failed attempt up as "LABEL at STAGE: REASON";
    // the attempts above show the reasons, so the summary keeps the rest.
    let mut reason = walk.reason.clone();
    for a in &walk.attempts {
        if let AttemptOutcome::Soft {
            stage: s,
            reason: r,
        }
        | AttemptOutcome::Hard {
            stage: s,
            reason: r,
        } = &a.outcome
        {
            let at = format!("{} at {s}", a.candidate.label());
            reason = reason.replace(&format!("{at}: {r}"), &at);
        }
    }
    writeln!(out, "{}: {}", verdict(&walk.verdict), sanitize(&reason))
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
    plan_line(out, route, true)?;
    for (i, a) in attempts.iter().enumerate() {
        attempt_text(out, i + 1, a, transcript, true)?;
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

#[cfg(test)]
mod tests {
    use mxkit::route::Candidate;
    use mxkit::smtp::StageResult;

    use super::*;

    fn attempt(error: &str, next: Option<&str>) -> Attempt {
        Attempt {
            candidate: Candidate {
                preference: 10,
                exchanger: "mx1.example.test".into(),
                address: "192.0.2.1".parse().unwrap(),
                canonical: None,
            },
            target: "192.0.2.1:25".parse().unwrap(),
            stages: vec![StageResult {
                stage: Stage::Connect,
                reply: None,
                error: Some(error.into()),
                elapsed_ms: 0,
            }],
            outcome: AttemptOutcome::Soft {
                stage: Stage::Connect,
                reason: error.into(),
            },
            tls: None,
            plaintext_fallback: false,
            capabilities: Vec::new(),
            recipients: Vec::new(),
            transcript: Vec::new(),
            next: next.map(str::to_string),
        }
    }

    fn text(a: &Attempt, last: bool) -> String {
        let mut out = Vec::new();
        attempt_text(&mut out, 1, a, false, last).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_result_line_says_how_the_attempt_ended_without_repeating_the_cause() {
        let a = attempt("refused", Some("next address"));
        let t = text(&a, false);
        assert_eq!(t.matches("refused").count(), 1, "{t}");
        assert!(t.ends_with("result    temporary failure at connect; the walk moves on\n"));
        // The last attempt: why the walk went no further, not "moves on".
        let a = attempt(
            "refused",
            Some("overall deadline reached: no further address tried"),
        );
        let t = text(&a, true);
        assert!(
            t.ends_with("at connect; overall deadline reached: no further address tried\n"),
            "{t}"
        );
    }
}
