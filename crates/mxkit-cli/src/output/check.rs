//! `mxkit check` for people (text) and for monitoring (nagios).

use std::io::{self, Write};

use mxkit::check::{Incomplete, Report, Rule, Severity};
use mxkit::route::RouteVerdict;

use super::sanitize;
use super::wrap::wrap;

const SEVERITIES: [Severity; 4] = [
    Severity::Error,
    Severity::Warning,
    Severity::Notice,
    Severity::Info,
];

fn heading(s: Severity) -> &'static str {
    match s {
        Severity::Error => "Errors",
        Severity::Warning => "Warnings",
        Severity::Notice => "Notices",
        Severity::Info => "Info",
    }
}

fn paint(s: Severity, text: &str, colour: bool) -> String {
    if !colour {
        return text.to_string();
    }
    let code = match s {
        Severity::Error => "1;31",
        Severity::Warning => "1;33",
        Severity::Notice => "36",
        Severity::Info => "2",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// The text report: findings grouped by severity (worst first), what could
/// not be checked, changes for senders, the plan in one line, a summary.
///
/// Without a width, each item is one line (`  ID SUBJECT: MESSAGE`, then
/// its evidence, fix and source), for scripts and `grep`. With one, the
/// id and subject head each finding, the message is wrapped beneath it,
/// and the evidence, fix and source beneath that, their continuation
/// lines indented further ([`wrap`]).
pub fn text(
    out: &mut impl Write,
    report: &Report,
    resolvers: &str,
    colour: bool,
    width: Option<usize>,
) -> io::Result<()> {
    // One item, wrapped to the width (continuation lines at `indent`).
    let item = |out: &mut dyn Write, first: &str, text: &str, indent: usize| -> io::Result<()> {
        for line in wrap(text, width, first, indent) {
            writeln!(out, "{line}")?;
        }
        Ok(())
    };
    let mode = match report.mode {
        "live" => format!("live DNS (resolver {resolvers})"),
        "zone" => format!("zone files over live DNS (resolver {resolvers})"),
        _ => "zone files only (offline)".to_string(),
    };
    item(
        out,
        "",
        &format!("mxkit check {}: {mode}", report.domain),
        4,
    )?;
    for w in report
        .route
        .warnings
        .iter()
        .filter(|w| w.code == mxkit::route::DNSSEC_FROM_REMOTE_RESOLVER)
    {
        item(
            out,
            "note: ",
            &format!("{} ({})", sanitize(&w.message), w.code),
            4,
        )?;
    }
    for severity in SEVERITIES {
        let group: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.severity == severity)
            .collect();
        if group.is_empty() {
            continue;
        }
        writeln!(out)?;
        writeln!(
            out,
            "{} ({})",
            paint(severity, heading(severity), colour),
            group.len()
        )?;
        for f in group {
            let id = paint(severity, f.id, colour);
            let subject = sanitize(&f.subject);
            let message = sanitize(&f.message);
            if width.is_some() {
                // The subject is one name or record: never cut, it heads
                // the finding even when longer than the line.
                writeln!(out, "  {id} {subject}")?;
                item(out, "    ", &message, 4)?;
            } else {
                writeln!(out, "  {id} {subject}: {message}")?;
            }
            for e in &f.evidence {
                let q = e
                    .query
                    .as_deref()
                    .map(|q| format!(" {}", sanitize(q)))
                    .unwrap_or_default();
                let text = format!("{}{q} -> {}", sanitize(&e.source), sanitize(&e.answer));
                item(out, "      evidence: ", &text, 10)?;
            }
            if let Some(fix) = &f.fix {
                item(out, "      fix: ", &sanitize(fix), 10)?;
            }
            item(out, "      see: ", f.rfc, 10)?;
        }
    }
    let incomplete = by_reason(&report.incomplete);
    if !incomplete.is_empty() {
        writeln!(out)?;
        writeln!(out, "Could not be checked ({})", incomplete.len())?;
        for (rules, reason) in &incomplete {
            let text = format!("{}: {}", rules.join(", "), sanitize(reason));
            item(out, "  ", &text, 4)?;
        }
    }
    if !report.skipped.is_empty() {
        writeln!(out)?;
        writeln!(out, "Not checked ({})", report.skipped.len())?;
        for i in &report.skipped {
            let text = format!("{}: {}", i.rules.join(", "), sanitize(&i.reason));
            item(out, "  ", &text, 4)?;
        }
    }
    if let Some(changes) = &report.changes {
        writeln!(out)?;
        if changes.is_empty() {
            writeln!(out, "Changes for senders when the zone is published: none")?;
        } else {
            writeln!(out, "Changes for senders when the zone is published:")?;
            for line in changes.lines() {
                item(out, "  ", &sanitize(&line), 4)?;
            }
        }
    }
    writeln!(out)?;
    item(
        out,
        "Route: ",
        &sanitize(&route_line(report, &incomplete)),
        4,
    )?;
    item(out, "Summary: ", &summary_line(report), 4)
}

/// The undecided rules, one entry per reason: one failed lookup leaves
/// many rules (of several families) undecided, and its cause is given once.
fn by_reason(incomplete: &[Incomplete]) -> Vec<(Vec<&'static str>, &str)> {
    let mut groups: Vec<(Vec<&'static str>, &str)> = Vec::new();
    for i in incomplete {
        match groups.iter_mut().find(|(_, reason)| *reason == i.reason) {
            Some((rules, _)) => rules.extend(&i.rules),
            None => groups.push((i.rules.clone(), &i.reason)),
        }
    }
    groups
}

/// The route in one line; a failure's message is left out when a reason
/// above already gives it.
fn route_line(report: &Report, incomplete: &[(Vec<&'static str>, &str)]) -> String {
    let r = &report.route;
    match (&r.status, &r.error) {
        (RouteVerdict::Deliverable, _) => {
            let mut hosts: Vec<&str> = r.candidates.iter().map(|c| c.exchanger.as_str()).collect();
            hosts.dedup();
            let addresses = r.candidates.len();
            format!(
                "deliverable ({}) to {addresses} address{} on {} exchanger{}, best first: {}",
                r.outcome.code(),
                if addresses == 1 { "" } else { "es" },
                hosts.len(),
                plural(hosts.len()),
                hosts.first().copied().unwrap_or("-")
            )
        }
        (status, Some(e)) => {
            let kind = if *status == RouteVerdict::Permanent {
                "permanent failure"
            } else {
                "temporary failure"
            };
            if incomplete.iter().any(|(_, r)| r.contains(&e.message)) {
                format!("{kind} {} ({})", e.dsn, e.code)
            } else {
                format!("{kind} {} ({}): {}", e.dsn, e.code, e.message)
            }
        }
        (_, None) => "no route".to_string(),
    }
}

fn summary_line(report: &Report) -> String {
    let s = &report.summary;
    let mut line = format!(
        "{} error{}, {} warning{}, {} notice{}, {} info",
        s.errors,
        plural(s.errors),
        s.warnings,
        plural(s.warnings),
        s.notices,
        plural(s.notices),
        s.infos
    );
    if s.incomplete > 0 {
        line.push_str(&format!(", {} incomplete", s.incomplete));
    }
    line
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The monitoring-plugins format: `SERVICE STATE - text | perfdata`, then
/// one line per finding. The state follows the exit code. Text from DNS,
/// zone files or servers goes through [`nagios_text`]: it cannot start
/// performance data or a line of its own.
pub fn nagios(out: &mut impl Write, report: &Report, code: u8) -> io::Result<()> {
    let state = match code {
        0 => "OK",
        1 => "WARNING",
        2 => "CRITICAL",
        _ => "UNKNOWN",
    };
    let s = &report.summary;
    writeln!(
        out,
        "MXKIT CHECK {state} - {}: {} | errors={};;;0 warnings={};;;0 notices={};;;0 infos={};;;0 incomplete={};;;0 candidates={};;;0",
        nagios_text(&report.domain),
        summary_line(report),
        s.errors,
        s.warnings,
        s.notices,
        s.infos,
        s.incomplete,
        report.route.candidates.len()
    )?;
    for f in &report.findings {
        writeln!(
            out,
            "{} {} {}: {}",
            f.severity.as_str().to_uppercase(),
            f.id,
            nagios_text(&f.subject),
            nagios_text(&f.message)
        )?;
    }
    for (rules, reason) in by_reason(&report.incomplete) {
        writeln!(out, "UNKNOWN {}: {}", rules.join(","), nagios_text(reason))?;
    }
    Ok(())
}

/// Text for a Nagios line: [`sanitize`]d, and neither a line break (the
/// first line is the status, the rest long output) nor `|` (it starts the
/// performance data, on the first line and in the long output alike), so
/// text from DNS or from the user can only ever be text. Both are escaped
/// as `sanitize` escapes control characters: `\u{a}`, `\u{7c}`.
pub fn nagios_text(s: &str) -> String {
    sanitize(s).replace('\n', "\\u{a}").replace('|', "\\u{7c}")
}

/// `--list-rules`.
pub fn rules(out: &mut impl Write, rules: &[&Rule]) -> io::Result<()> {
    let w = rules.iter().map(|r| r.id.len()).max().unwrap_or(2);
    writeln!(
        out,
        "{:<w$}  {:<8}  {:<4}  TITLE (SOURCE)",
        "ID", "SEVERITY", "ROW"
    )?;
    for r in rules {
        writeln!(
            out,
            "{:<w$}  {:<8}  {:<4}  {} ({})",
            r.id,
            r.severity.as_str(),
            r.row,
            r.title,
            r.rfc
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::nagios_text;

    #[test]
    fn nagios_text_cannot_start_perfdata_or_a_line() {
        assert_eq!(nagios_text("a|b\nc\x1b"), "a\\u{7c}b\\u{a}c\\u{1b}");
        assert_eq!(nagios_text("mx1.example.org"), "mx1.example.org");
    }
}
