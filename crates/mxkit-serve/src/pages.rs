//! The HTML pages (maud: compile-time templates; every value is escaped
//! unless marked otherwise, and nothing here marks anything: all values
//! from DNS, SMTP or a client are text). Plain HTML and CSS, no script;
//! one style sheet served by this server.

use std::time::Duration;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use mxkit::check::{Finding, Severity};
use mxkit::smtp::{Attempt, Stage};

use crate::work::Checked;
use mxkit::route::{Route, RouteVerdict};

/// Where each check rule is explained.
const RULES_DOC: &str = concat!(
    env!("CARGO_PKG_REPOSITORY"),
    "/blob/main/docs/rules/check.md"
);

/// A page as a response.
pub fn html(status: StatusCode, page: Markup) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page.into_string(),
    )
        .into_response()
}

/// Percent-encode a path segment (what is not a letter, digit, `.`, `-`,
/// `_`, `@`).
pub fn path_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'@') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · mxkit" }
                link rel="stylesheet" href="/static/style.css";
            }
            body {
                header {
                    a.brand href="/" { "mxkit" }
                    form action="/check" method="get" {
                        input type="text" name="q" placeholder="domain or address" aria-label="domain or address";
                        button type="submit" { "Check" }
                    }
                }
                main { (body) }
                footer {
                    "mxkit " (env!("CARGO_PKG_VERSION")) ": where mail goes, as a standards-following sender decides."
                }
            }
        }
    }
}

/// `/`: one box, and this server's recent questions.
/// When and where a page was made: its time, and its permalink when it
/// was kept.
pub struct Stamp<'a> {
    /// Unix time in seconds.
    pub at: i64,
    /// `/r/ID`, when the page was kept.
    pub permalink: Option<&'a str>,
}

fn stamp(s: &Stamp<'_>) -> Markup {
    html! {
        " As of " (mxkit::smtp::iso8601(s.at)) "."
        @if let Some(link) = s.permalink {
            " " a.permalink href=(link) { "Permalink" }
        }
    }
}

/// The home page's list: (link, what) pairs, newest first.
pub fn home(recent: &[(String, String)]) -> Markup {
    layout(
        "Mail routing",
        html! {
            h1 { "Where does mail go?" }
            p { "A domain gets its check (MX records, the delivery plan, findings with fixes); an address gets its route." }
            form.big action="/check" method="get" {
                input type="text" name="q" placeholder="example.org or user@example.org" autofocus aria-label="domain or address";
                button type="submit" { "Check" }
            }
            @if !recent.is_empty() {
                h2 { "Recent" }
                ul {
                    @for (link, what) in recent {
                        li { a href=(link) { (what) } }
                    }
                }
            }
        },
    )
}

/// The store of kept pages cannot be read.
pub fn store_error(why: &str) -> Markup {
    layout(
        "Store unavailable",
        html! {
            h1 { "Kept pages are unavailable" }
            p { "The store cannot be read: " (why) }
        },
    )
}

/// A permalink that leads nowhere (expired, mistyped).
pub fn not_kept(why: &str) -> Markup {
    layout(
        "Not kept",
        html! {
            h1 { "No such page" }
            p { "Nothing is kept under " code { (why) } ": pages are kept for the days this server was told (--keep-days), and only with --store." }
        },
    )
}

/// A refused input: the CLI's message.
pub fn bad_input(input: &str, why: &str) -> Markup {
    layout(
        "Not a domain or address",
        html! {
            h1 { "Not a domain or address" }
            p.verdict.permanent { code { (input) } ": " (why) }
        },
    )
}

/// `host -t MX` lines.
fn mx_records(route: &Route) -> Markup {
    html! {
        @if route.records.is_empty() {
            p { (route.domain) " has no MX record." }
        } @else {
            pre.records {
                @for r in &route.records {
                    (route.domain) " mail is handled by " (r.preference) " " (r.exchanger) "\n"
                }
            }
        }
    }
}

fn verdict(route: &Route) -> Markup {
    let (class, word) = match route.status {
        RouteVerdict::Deliverable => ("deliverable", "deliverable"),
        RouteVerdict::Permanent => ("permanent", "permanent failure"),
        RouteVerdict::Temporary => ("temporary", "temporary failure"),
    };
    html! {
        p class={ "verdict " (class) } {
            "Mail to " (route.domain) ": "
            strong { (word) }
            " (" (route.outcome.code()) ")"
            @if let Some(e) = &route.error { ": " (e.dsn) " " (e.message) }
        }
    }
}

/// The plan: candidates in order with their TLS requirement, then the
/// exchangers that gave none and why.
fn plan(route: &Route) -> Markup {
    html! {
        table.plan {
            thead { tr { th { "#" } th { "Pref" } th { "Exchanger" } th { "Address" } th { "TLS" } } }
            tbody {
                @for (i, c) in route.candidates.iter().enumerate() {
                    @let tls = route.exchangers.iter().find(|e| e.name == c.exchanger).and_then(|e| e.tls);
                    tr {
                        td { (i + 1) }
                        td { (c.preference) }
                        td { (c.exchanger) }
                        td { (c.address) }
                        td { @if let Some(t) = tls { (t.as_str()) } }
                    }
                }
                @for e in route.exchangers.iter().filter(|e| e.addresses.is_empty()) {
                    tr.removed {
                        td { "-" }
                        td { (e.preference) }
                        td { (e.name) }
                        td { "-" }
                        td {
                            (serde_json::to_value(e.state).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default())
                            @if let Some(d) = &e.detail { ": " (d) }
                        }
                    }
                }
            }
        }
        @if !route.warnings.is_empty() {
            ul.warnings {
                @for w in &route.warnings {
                    li { code { (w.code) } " " (w.message) }
                }
            }
        }
    }
}

/// `/route/ADDRESS`.
pub fn route(route: &Route, took: Duration, when: &Stamp<'_>) -> Markup {
    layout(
        &format!("Route for {}", route.domain),
        html! {
            h1 { "Route for " (route.domain) }
            (verdict(route))
            (mx_records(route))
            (plan(route))
            p.timing { "Routed in " (took.as_millis()) " ms." (stamp(when)) }
        },
    )
}

fn finding(f: &Finding) -> Markup {
    html! {
        li.finding {
            a.id href={ (RULES_DOC) "#" (f.id) } { (f.id) }
            " "
            span.subject { (f.subject) }
            p { (f.message) }
            @if !f.evidence.is_empty() {
                ul.evidence {
                    @for e in &f.evidence {
                        li {
                            (e.source)
                            @if let Some(q) = &e.query { " " (q) }
                            " → " (e.answer)
                        }
                    }
                }
            }
            @if let Some(fix) = &f.fix {
                p.fix { "Fix: " }
                pre.fix { (fix) }
            }
            p.source { "See " (f.rfc) }
        }
    }
}

/// `/check/DOMAIN`.
/// Per exchanger and address: reverse DNS, the greeting, STARTTLS, the
/// certificate, and what TLS senders require.
fn exchangers(checked: &Checked) -> Markup {
    let report = &checked.report;
    let attempt = |name: &str, ip: &std::net::IpAddr| -> Option<&Attempt> {
        report
            .attempts
            .iter()
            .find(|a| a.candidate.exchanger == name && a.candidate.address == *ip)
    };
    // A failed lookup's reason is long (a name, a server): a tooltip.
    let ptr = |ip: &std::net::IpAddr| -> Markup {
        match checked.ptrs.iter().find(|(a, _)| a == ip).map(|(_, p)| p) {
            Some(Ok(names)) if !names.is_empty() => html! { (names.join(", ")) },
            Some(Ok(_)) => html! { "none" },
            Some(Err(why)) => html! { span title=(why) { "lookup failed" } },
            None => html! { "-" },
        }
    };
    html! {
        table.exchangers {
            thead { tr { th { "Exchanger" } th { "Address" } th { "Reverse DNS" } th { "Greeting" } th { "STARTTLS" } th { "Certificate" } th { "TLS required" } } }
            tbody {
                @for e in report.route.exchangers.iter().filter(|e| !e.addresses.is_empty()) {
                    @for ip in &e.addresses {
                        @let a = attempt(&e.name, ip);
                        tr {
                            td { (e.name) }
                            td { (ip) }
                            td { (ptr(ip)) }
                            td { (greeting(a)) }
                            td { (starttls(a)) }
                            td { (certificate(a)) }
                            td {
                                @if let Some(t) = e.tls { (t.as_str()) }
                                @if let Some(tlsa) = &e.tlsa { " (TLSA " (tlsa.base) ")" }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn greeting(a: Option<&Attempt>) -> String {
    let Some(a) = a else {
        return "not probed".into();
    };
    match a.stages.iter().find(|s| s.stage == Stage::Greeting) {
        Some(s) => match (&s.reply, &s.error) {
            (Some(r), _) => format!(
                "{} {}",
                r.code,
                r.lines.first().map(String::as_str).unwrap_or("")
            ),
            (None, Some(e)) => e.clone(),
            (None, None) => "-".into(),
        },
        None => a
            .stages
            .iter()
            .find_map(|s| s.error.clone())
            .unwrap_or_else(|| "no greeting".into()),
    }
}

fn starttls(a: Option<&Attempt>) -> String {
    let Some(a) = a else {
        return "-".into();
    };
    match &a.tls {
        Some(t) if t.completed => format!("{} {}", t.version, t.cipher),
        Some(t) => t.error.clone().unwrap_or_else(|| "handshake failed".into()),
        None if a.capabilities.iter().any(|c| c == "STARTTLS") => "offered, not tried".into(),
        None if a.stages.iter().any(|s| s.stage == Stage::Ehlo) => "not offered".into(),
        None => "-".into(),
    }
}

fn certificate(a: Option<&Attempt>) -> String {
    let Some(t) = a.and_then(|a| a.tls.as_ref()) else {
        return "-".into();
    };
    let Some(c) = &t.certificate else {
        return "-".into();
    };
    let trust = match t.verified_by {
        Some(by) => format!("verified by {by}"),
        None if t.chain_trusted && t.mx_name_matches => "trusted, names the host".into(),
        None if t.chain_trusted => "trusted, does not name the host".into(),
        None => "not trusted".into(),
    };
    format!(
        "{} (issuer {}, until {}; {trust})",
        c.sans.join(" "),
        c.issuer,
        c.not_after
    )
}

pub fn check(checked: &Checked, resolvers: &str, took: Duration, when: &Stamp<'_>) -> Markup {
    let report = &checked.report;
    let groups = [
        (Severity::Error, "Errors"),
        (Severity::Warning, "Warnings"),
        (Severity::Notice, "Notices"),
        (Severity::Info, "Info"),
    ];
    layout(
        &format!("Check of {}", report.domain),
        html! {
            h1 { "Check of " (report.domain) }
            p.summary {
                (report.summary.errors) " errors, " (report.summary.warnings) " warnings, "
                (report.summary.notices) " notices, " (report.summary.infos) " info, "
                (report.summary.incomplete) " incomplete"
            }
            (verdict(&report.route))
            h2 { "MX records" }
            (mx_records(&report.route))
            h2 { "Delivery plan" }
            (plan(&report.route))
            @if report.route.exchangers.iter().any(|e| !e.addresses.is_empty()) {
                h2 { "Exchangers" }
                (exchangers(checked))
            }
            @for (severity, title) in groups {
                @let list: Vec<&Finding> = report.findings.iter().filter(|f| f.severity == severity).collect();
                @if !list.is_empty() {
                    section class={ "findings " (severity.as_str()) } {
                        h2 { (title) " (" (list.len()) ")" }
                        ul { @for f in list { (finding(f)) } }
                    }
                }
            }
            @if !report.incomplete.is_empty() {
                h2 { "Could not be checked" }
                ul { @for i in &report.incomplete { li { (i.rules.join(", ")) ": " (i.reason) } } }
            }
            @if !report.skipped.is_empty() {
                h2 { "Not checked" }
                ul { @for i in &report.skipped { li { (i.rules.join(", ")) ": " (i.reason) } } }
            }
            p.timing { "Checked through " (resolvers) " in " (took.as_millis()) " ms (" (report.mode) ")." (stamp(when)) }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(path_escape("user@example.org"), "user@example.org");
        assert_eq!(path_escape("a b/<x>"), "a%20b%2F%3Cx%3E");
    }
}
