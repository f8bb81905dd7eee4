//! Rules: the exchangers over SMTP (docs/rules/check.md, rows MX22 to MX25).
//!
//! Every candidate address of the plan is probed concurrently up to
//! STARTTLS and the EHLO after it (`smtp::probe_all`), never further: no MAIL,
//! no message. Findings: port 25 not reachable (`smtp-unreachable`, error when
//! no address is), a greeting other than 220 (`smtp-greeting`), EHLO or
//! STARTTLS failing or STARTTLS not offered (`smtp-starttls`), a certificate
//! that is not trusted or does not name the exchanger (`smtp-certificate`,
//! info: opportunistic TLS between MTAs does not verify, RFC 7435), a slow
//! greeting (`smtp-slow-greeting`, info only: greet-pause and postscreen delay
//! it on purpose, mailcow#576). The probe verifies as the route requires
//! (`TlsMode::Policy`): an exchanger with usable TLSA records must present a
//! certificate they match, on every address of both families
//! (`tlsa-mismatch`, docs/rules/secure.md, Rule S6), and the fix is the
//! `3 1 1` record of the key it presents now.
//!
//! Outbound port 25 is blocked on many networks (cloud hosts, ISPs): when
//! every connection attempt times out, the rules are reported as not run,
//! with that reason, instead of failing every exchanger.

use std::ops::ControlFlow;
use std::time::Duration;

use super::{
    Context, Evidence, Findings, MTA_STS_CERTIFICATE, SMTP_CERTIFICATE, SMTP_GREETING,
    SMTP_SLOW_GREETING, SMTP_STARTTLS, SMTP_UNREACHABLE, Severity, TLSA_MISMATCH,
};
use crate::smtp::{Attempt, AttemptOutcome, SmtpOptions, Stage, Timeouts, TlsMode};

/// A greeting slower than this is reported (info).
pub const SLOW_GREETING: Duration = Duration::from_secs(10);

/// Whether and how the SMTP rules run.
#[derive(Clone)]
pub enum SmtpCheck {
    /// Probe every candidate with these options (stop after STARTTLS).
    Run(Box<SmtpOptions>),
    /// Do not probe; the reason is shown (`--no-smtp`, offline).
    Skip(String),
}

impl SmtpCheck {
    /// Probe as a check does: the probe's timeouts ([`Timeouts::probe`]),
    /// TLS as the route requires of each exchanger (STARTTLS when offered;
    /// DANE verification where TLSA records say so), `helo` in EHLO, for
    /// mail to `domain`.
    pub fn probe(helo: String, domain: &str) -> SmtpCheck {
        let mut o = SmtpOptions::new(helo, domain);
        o.timeouts = Timeouts::probe();
        o.tls = TlsMode::Policy;
        SmtpCheck::Run(Box::new(o))
    }
}

impl Default for SmtpCheck {
    fn default() -> Self {
        SmtpCheck::Skip("SMTP probing was not asked for".into())
    }
}

impl std::fmt::Debug for SmtpCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SmtpCheck::Run(o) => write!(f, "Run(port {})", o.port),
            SmtpCheck::Skip(why) => write!(f, "Skip({why:?})"),
        }
    }
}

const ALL: [&super::Rule; 7] = [
    &SMTP_UNREACHABLE,
    &SMTP_GREETING,
    &SMTP_STARTTLS,
    &SMTP_CERTIFICATE,
    &SMTP_SLOW_GREETING,
    &TLSA_MISMATCH,
    &MTA_STS_CERTIFICATE,
];

/// Run this family's rules; the attempts they were decided on (none when
/// nothing was probed), for [`super::Report::attempts`].
pub async fn check(ctx: &Context<'_>, smtp: &SmtpCheck, out: &mut Findings) -> Vec<Attempt> {
    let opts = match smtp {
        SmtpCheck::Skip(why) => {
            out.skipped(&ALL, why.clone());
            return Vec::new();
        }
        SmtpCheck::Run(opts) => opts,
    };
    if ctx.route.candidates.is_empty() {
        return Vec::new();
    }
    let mut opts = (**opts).clone();
    opts.stop_after = Stage::Starttls;
    // Addresses this checker may not connect to (`mxkit serve` without
    // --allow-probe for them) are left out, and said so.
    let (allowed, refused): (Vec<_>, Vec<_>) = ctx
        .route
        .candidates
        .iter()
        .cloned()
        .partition(|c| opts.targets.check(opts.target(c).ip()).is_ok());
    if let Some(first) = refused.first() {
        let why = opts
            .targets
            .check(opts.target(first).ip())
            .err()
            .unwrap_or_default();
        let labels: Vec<String> = refused.iter().map(|c| c.label()).collect();
        out.skipped(
            &ALL,
            format!("not probed over SMTP: {} ({why})", labels.join(", ")),
        );
    }
    if allowed.is_empty() {
        return Vec::new();
    }
    let route = crate::route::Route {
        candidates: allowed,
        ..ctx.route.clone()
    };
    let attempts = crate::smtp::probe_all(&route, &opts).await;
    let connect_timeouts = attempts.iter().filter(|a| timed_out_connecting(a)).count();
    if connect_timeouts == attempts.len() {
        out.skipped(
            &ALL,
            format!(
                "every connection to port {} timed out ({}): outbound port {} looks blocked from here, so the SMTP rules were not run; try from another network",
                opts.port,
                super::count(attempts.len(), "address", "addresses"),
                opts.port
            ),
        );
        return attempts;
    }
    let none_reachable = !attempts.iter().any(connected);
    for a in &attempts {
        attempt_findings(ctx, out, a, opts.port, none_reachable);
    }
    attempts
}

/// The findings on one address: unreachable; else its greeting, then
/// STARTTLS and the certificate when it greeted with 220.
fn attempt_findings(
    ctx: &Context<'_>,
    out: &mut Findings,
    a: &Attempt,
    port: u16,
    none_reachable: bool,
) {
    let subject = format!(
        "{} [{}]:{}",
        a.candidate.exchanger, a.candidate.address, port
    );
    let evidence = transcript_evidence(a, &subject);
    if !connected(a) {
        unreachable(out, a, &subject, evidence, port, none_reachable);
        return;
    }
    if greeting(out, a, &subject, &evidence).is_break() {
        return;
    }
    if dane_mismatch(out, a, &subject) {
        return;
    }
    // An MTA-STS policy in enforce mode failed the handshake: that is the
    // finding, not a STARTTLS problem.
    if sts_certificate(ctx, out, a, &subject)
        && a.tls.as_ref().is_some_and(|t| t.policy == "mta-sts")
    {
        return;
    }
    starttls(out, a, &subject, &evidence);
    certificate(out, a, &subject);
}

/// `mta-sts-certificate` (docs/rules/secure.md, Rule S11): the exchanger
/// falls under the domain's MTA-STS policy and its certificate is not
/// PKIX-valid for its name. True when it fired.
fn sts_certificate(ctx: &Context<'_>, out: &mut Findings, a: &Attempt, subject: &str) -> bool {
    let Some(t) = &a.tls else {
        return false;
    };
    if !t.policy.starts_with("mta-sts") || t.verified_by.is_some() || t.certificate.is_none() {
        return false;
    }
    let problems = pkix_problems(t, &a.candidate.exchanger);
    if problems.is_empty() {
        return false;
    }
    let evidence = Evidence {
        source: subject.to_string(),
        query: Some("STARTTLS".into()),
        answer: describe(t),
    };
    super::mta_sts::certificate(
        ctx,
        out,
        &a.candidate.exchanger,
        subject,
        &problems,
        evidence,
    )
}

/// Why a certificate is not PKIX-valid for `exchanger`.
fn pkix_problems(t: &crate::smtp::TlsReport, exchanger: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if !t.chain_trusted {
        problems.push(format!(
            "the certificate chain is not trusted ({})",
            t.chain_error.as_deref().unwrap_or("unknown reason")
        ));
    }
    if !t.mx_name_matches {
        problems.push(format!("the certificate does not name {exchanger}"));
    }
    problems
}

/// The presented certificate, for evidence.
fn describe(t: &crate::smtp::TlsReport) -> String {
    t.certificate
        .as_ref()
        .map(|c| {
            format!(
                "subject {}, SAN {}, issuer {}",
                c.subject,
                c.sans.join(" "),
                c.issuer
            )
        })
        .unwrap_or_else(|| "no certificate".into())
}

/// `tlsa-mismatch` (docs/rules/secure.md, Rule S6): the exchanger requires
/// DANE and the certificate it presented matched none of its usable TLSA
/// records. True when it fired (the failed handshake is this, not a
/// STARTTLS problem).
fn dane_mismatch(out: &mut Findings, a: &Attempt, subject: &str) -> bool {
    let Some(t) = &a.tls else {
        return false;
    };
    let (Some(why), None) = (&t.error, t.verified_by) else {
        return false;
    };
    if t.policy != "dane" {
        return false;
    }
    let base = t.sni.as_deref().unwrap_or(&a.candidate.exchanger);
    let owner = format!("_25._tcp.{base}");
    let presented = t.certificate.as_ref();
    let b = out
        .add(
            &TLSA_MISMATCH,
            subject,
            format!("{subject}: {why}: DANE senders (Postfix, Exim, Exchange Online) refuse this address and deliver elsewhere or defer"),
        )
        .evidence_all(presented.map(|c| Evidence {
            source: subject.to_string(),
            query: Some("STARTTLS".into()),
            answer: format!(
                "subject {}, issuer {}, key SHA-256 {}",
                c.subject, c.issuer, c.spki_sha256
            ),
        }));
    match presented {
        Some(c) => b.fix(format!(
            "publish the record for the key presented now, `{owner}. IN TLSA 3 1 1 {}`, beside the old one, then remove the old one once its TTL has passed; or install the certificate whose key the published records name",
            c.spki_sha256
        )),
        None => b.fix(format!(
            "present a certificate matching the records at {owner}, or publish records for the one it has"
        )),
    };
    true
}

/// `smtp-unreachable` (MX22): no TCP connection; an error when no address
/// of the plan accepts one.
fn unreachable(
    out: &mut Findings,
    a: &Attempt,
    subject: &str,
    evidence: Vec<Evidence>,
    port: u16,
    none_reachable: bool,
) {
    let why = stage_error(a, Stage::Connect).unwrap_or_else(|| "no connection".into());
    let b = out
        .add(
            &SMTP_UNREACHABLE,
            subject,
            format!("cannot connect to {subject}: {why}; senders move on to the next address, and mail waits if none answers"),
        )
        .evidence_all(evidence)
        .fix(format!(
            "make the mail server on {} listen on port {port} and let the firewall pass it, or remove the address from the DNS of {}",
            a.candidate.address, a.candidate.exchanger
        ));
    if none_reachable {
        b.severity(Severity::Error);
    }
}

/// `smtp-greeting` (MX23) and `smtp-slow-greeting` (MX25). Breaks when the
/// greeting was not 220: the later stages say nothing more.
fn greeting(
    out: &mut Findings,
    a: &Attempt,
    subject: &str,
    evidence: &[Evidence],
) -> ControlFlow<()> {
    let Some(result) = a.stages.iter().find(|s| s.stage == Stage::Greeting) else {
        return ControlFlow::Continue(());
    };
    let code = result.reply.as_ref().map(|r| r.code);
    if code != Some(220) {
        let what = match (&result.reply, &result.error) {
            (Some(r), _) => format!("{} {}", r.code, r.lines.join(" ")),
            (None, Some(e)) => e.clone(),
            (None, None) => "no greeting".into(),
        };
        out.add(
            &SMTP_GREETING,
            subject,
            format!("{subject} greets with {what} instead of 220: senders treat it as not available and try the next exchanger"),
        )
        .evidence_all(evidence.iter().cloned())
        .fix("make the server greet with 220 (RFC 5321 section 4.2); a server that is meant to refuse mail should not be an MX");
        return ControlFlow::Break(());
    }
    if Duration::from_millis(result.elapsed_ms) > SLOW_GREETING {
        out.add(
            &SMTP_SLOW_GREETING,
            subject,
            format!(
                "{subject} took {:.1} s to greet: fine for MTAs (RFC 5321 section 4.5.3.2 lets them wait 5 minutes), often deliberate (greet-pause, postscreen)",
                result.elapsed_ms as f64 / 1000.0
            ),
        );
    }
    ControlFlow::Continue(())
}

/// `smtp-starttls` (MX24): EHLO or STARTTLS failed, STARTTLS is not
/// offered, or the handshake failed and the probe fell back to plaintext.
fn starttls(out: &mut Findings, a: &Attempt, subject: &str, evidence: &[Evidence]) {
    match &a.outcome {
        AttemptOutcome::Reached { .. } => {}
        AttemptOutcome::Soft { stage, reason } | AttemptOutcome::Hard { stage, reason }
            if matches!(stage, Stage::Ehlo | Stage::Starttls) =>
        {
            out.add(
                &SMTP_STARTTLS,
                subject,
                format!("{subject}: {} failed: {reason}", stage_name(*stage)),
            )
            .evidence_all(evidence.iter().cloned())
            .fix("offer STARTTLS with a working certificate (RFC 3207); senders otherwise deliver in plaintext or not at all when they require TLS");
        }
        _ => {}
    }
    if a.tls.is_none()
        && matches!(a.outcome, AttemptOutcome::Reached { .. })
        && !a
            .capabilities
            .iter()
            .any(|c| c.eq_ignore_ascii_case("STARTTLS"))
    {
        out.add(
            &SMTP_STARTTLS,
            subject,
            format!("{subject} does not offer STARTTLS: mail to it travels in plaintext"),
        )
        .evidence_all(evidence.iter().cloned())
        .fix("enable STARTTLS (Postfix: smtpd_tls_security_level = may, with smtpd_tls_cert_file and smtpd_tls_key_file)");
    }
    if a.plaintext_fallback {
        out.add(
            &SMTP_STARTTLS,
            subject,
            format!("{subject} offers STARTTLS but the TLS handshake fails; senders fall back to plaintext or give up"),
        )
        .evidence_all(evidence.iter().cloned())
        .fix("fix the server's TLS set-up (certificate and key files, protocol versions)");
    }
}

/// `smtp-certificate` (MX24, info): the chain is not trusted or the
/// certificate does not name the exchanger.
fn certificate(out: &mut Findings, a: &Attempt, subject: &str) {
    let Some(t) = &a.tls else {
        return;
    };
    // DANE authenticated it: its PKIX standing does not matter to senders.
    if t.verified_by.is_some_and(|by| by.starts_with("dane")) {
        return;
    }
    let problems = pkix_problems(t, &a.candidate.exchanger);
    if problems.is_empty() {
        return;
    }
    let cert = describe(t);
    out.add(
        &SMTP_CERTIFICATE,
        subject,
        format!(
            "{subject}: {}; opportunistic TLS still works, but MTA-STS (RFC 8461) and DANE senders will refuse it",
            problems.join("; ")
        ),
    )
    .evidence(Evidence {
        source: subject.to_string(),
        query: Some("STARTTLS".into()),
        answer: cert,
    })
    .fix(format!(
        "install a certificate from a public CA whose subjectAltName includes {}",
        a.candidate.exchanger
    ));
}

fn connected(a: &Attempt) -> bool {
    a.stages
        .iter()
        .any(|s| s.stage == Stage::Connect && s.error.is_none())
}

fn timed_out_connecting(a: &Attempt) -> bool {
    !connected(a)
        && stage_error(a, Stage::Connect)
            .is_some_and(|e| e.contains("timed out") || e.contains("timeout"))
}

fn stage_error(a: &Attempt, stage: Stage) -> Option<String> {
    a.stages
        .iter()
        .find(|s| s.stage == stage)
        .and_then(|s| s.error.clone())
}

fn stage_name(s: Stage) -> &'static str {
    match s {
        Stage::Connect => "connect",
        Stage::Greeting => "greeting",
        Stage::Ehlo => "EHLO",
        Stage::Starttls => "STARTTLS",
        Stage::Mail => "MAIL",
        Stage::Rcpt => "RCPT",
        Stage::Data => "DATA",
        Stage::Dot => "the final dot",
        Stage::Quit => "QUIT",
    }
}

/// The first lines of the conversation (what was sent and said), as evidence.
fn transcript_evidence(a: &Attempt, source: &str) -> Vec<Evidence> {
    use crate::smtp::Direction;
    a.transcript
        .iter()
        .filter(|e| !matches!(e.direction, Direction::Info))
        .take(3)
        .map(|e| {
            let arrow = match e.direction {
                Direction::Sent => "->",
                Direction::Received => "<-",
                _ => "***",
            };
            Evidence {
                source: source.to_string(),
                query: None,
                answer: format!("{arrow} {}", e.line),
            }
        })
        .collect()
}
