//! SMTP client: walk a [`Route`](crate::route::Route) the way an MTA does, with failover,
//! per-stage timeouts, STARTTLS and a full transcript.
//!
//! This is RFC 5321 (section 3.8, 4.2, 4.5.3, 4.5.4, 5.1) and RFC 3207
//! (STARTTLS), with the failover policy of Postfix `smtp(8)`
//! (`smtp_trouble.c`) as `docs/rules/route.md` states it (the failover
//! table, Rules 22 to 26).
//!
//! Words:
//! - a **stage** ([`Stage`]) is one step of a session: connect, greeting,
//!   EHLO, STARTTLS, MAIL, RCPT, DATA, the final dot, QUIT; every failure
//!   names the stage it happened at and whether it is **soft** (the walk
//!   moves on, the message is deferred) or **hard** (5xx where final);
//! - an **attempt** ([`Attempt`]) is one connection to one candidate (two
//!   when opportunistic TLS failed and the same address was retried in
//!   plaintext); a **walk** ([`Walk`]) is the attempts in plan order until
//!   one succeeds or every candidate has failed;
//! - the **transcript** is every line sent and received, with the time since
//!   the attempt started and whether it was inside TLS ([`Event`]).
//!
//! Entry points: [`probe`] (walk until one candidate reaches
//! [`SmtpOptions::stop_after`]), [`probe_all`] (every candidate at once, no
//! failover), [`deliver`] (send a [`Message`]), and [`attempt_on`] (one
//! session over any stream, for tests and custom transports).
//!
//! Replies are parsed by smtp-proto (`ResponseReceiver`, `EhloResponse`);
//! this module only frames lines, and bounds them: a reply line longer than
//! [`MAX_REPLY_LINE`] octets, more than [`MAX_REPLY_LINES`] lines or more than
//! [`MAX_REPLY_BYTES`] in total is a protocol error (soft).
//!
//! Test hook: [`SmtpOptions::connect_to`] maps a candidate address to the
//! socket address actually dialled (like curl's `--connect-to`), so that a
//! route built by hand can point several candidates at fake servers on
//! `127.0.0.1` ephemeral ports. Names (SNI, certificate checks, reports)
//! still come from the candidate.

mod error;
mod message;
mod reply;
mod session;
mod tls;
mod walk;

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;

use crate::route::Candidate;

pub use error::{MessageError, ParseStageError, ProtocolError, SmtpError};
pub use message::{DEFAULT_MAX_SIZE, MAX_MAX_SIZE, Message, validate_address};
pub use reply::{MAX_REPLY_BYTES, MAX_REPLY_LINE, MAX_REPLY_LINES};
pub use session::{Mode, attempt_on};
pub use tls::{MAX_CA_FILE, iso8601};
pub use walk::{deliver, probe, probe_all};

/// One step of an SMTP session, in the order a client goes through them.
/// Serialized in snake case (`"starttls"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// TCP connect.
    Connect,
    /// The server's 220 greeting (RFC 5321 section 4.3.1).
    Greeting,
    /// EHLO, or HELO after EHLO got 500/502.
    Ehlo,
    /// STARTTLS, the TLS handshake and the EHLO after it (RFC 3207).
    Starttls,
    /// MAIL FROM.
    Mail,
    /// RCPT TO.
    Rcpt,
    /// DATA and the 354 reply.
    Data,
    /// The message, the final `.` and its reply.
    Dot,
    /// QUIT.
    Quit,
}

impl Stage {
    /// The lower-case name (`"starttls"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Connect => "connect",
            Stage::Greeting => "greeting",
            Stage::Ehlo => "ehlo",
            Stage::Starttls => "starttls",
            Stage::Mail => "mail",
            Stage::Rcpt => "rcpt",
            Stage::Data => "data",
            Stage::Dot => "dot",
            Stage::Quit => "quit",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Stage {
    type Err = ParseStageError;

    /// Accepts the stages a probe can stop after: `connect`, `greeting`,
    /// `ehlo`, `starttls`, `mail`, `rcpt` (any case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "connect" => Ok(Stage::Connect),
            "greeting" | "banner" => Ok(Stage::Greeting),
            "ehlo" | "helo" => Ok(Stage::Ehlo),
            "starttls" | "tls" => Ok(Stage::Starttls),
            "mail" => Ok(Stage::Mail),
            "rcpt" => Ok(Stage::Rcpt),
            _ => Err(ParseStageError(s.to_string())),
        }
    }
}

/// How to use STARTTLS. Serialized in snake case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsMode {
    /// Never send STARTTLS.
    Off,
    /// Use STARTTLS when offered; report the certificate but accept any
    /// (posttls-finger style); on a handshake failure retry the same address
    /// once in plaintext (Postfix `retry_plain`, Exim `tls_tempfail_tryclear`).
    Opportunistic,
    /// STARTTLS must be offered and succeed, the chain must be trusted and
    /// the certificate must name the MX host; otherwise the attempt fails
    /// softly at [`Stage::Starttls`] and the walk moves on.
    Required,
    /// What the route says of each candidate's exchanger (its `tls`,
    /// docs/rules/secure.md, Rules S4 and S6): `dane`: STARTTLS with a
    /// certificate a usable TLSA record matches (DANE-EE: the leaf or its
    /// key; DANE-TA: a chain that verifies to the matching certificate and
    /// a leaf naming the host), SNI the TLSA base name; `dane-encrypt`:
    /// STARTTLS with any certificate; `mta-sts` (an MTA-STS policy in
    /// `enforce` mode, Rule S11): STARTTLS with a PKIX-valid certificate
    /// naming the exchanger; `mta-sts-testing`: as opportunistic, with the
    /// PKIX verdict reported; otherwise [`TlsMode::Opportunistic`].
    /// A requirement not met fails the attempt softly at
    /// [`Stage::Starttls`]: the walk moves on, never to plaintext. The
    /// default.
    Policy,
}

/// Per-stage timeouts (docs/rules/route.md, "Timeouts per stage"; RFC 5321
/// section 4.5.3.2) and an overall deadline for the whole walk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect.
    pub connect: Duration,
    /// Waiting for the 220 greeting.
    pub greeting: Duration,
    /// EHLO/HELO command and reply.
    pub ehlo: Duration,
    /// STARTTLS command, reply and TLS handshake.
    pub starttls: Duration,
    /// MAIL command and reply.
    pub mail: Duration,
    /// Each RCPT command and reply.
    pub rcpt: Duration,
    /// DATA command and the 354 reply.
    pub data_init: Duration,
    /// Each block of message data written (no progress for this long fails).
    pub data_block: Duration,
    /// The reply to the final dot.
    pub data_done: Duration,
    /// QUIT (never sent after a timeout).
    pub quit: Duration,
    /// The whole walk (or, for [`probe_all`], every attempt).
    pub overall: Duration,
}

impl Timeouts {
    /// Short presets for probing (docs/rules/route.md, "Timeouts per stage",
    /// the `probe` column).
    pub fn probe() -> Self {
        let s = Duration::from_secs;
        Timeouts {
            connect: s(10),
            greeting: s(60),
            ehlo: s(30),
            starttls: s(30),
            mail: s(60),
            rcpt: s(60),
            data_init: s(120),
            data_block: s(180),
            data_done: s(600),
            quit: s(10),
            overall: s(300),
        }
    }

    /// Delivery presets (docs/rules/route.md, "Timeouts per stage", the
    /// `send` column; RFC 5321 section 4.5.3.2 minimums).
    pub fn deliver() -> Self {
        let s = Duration::from_secs;
        Timeouts {
            connect: s(30),
            greeting: s(300),
            ehlo: s(300),
            starttls: s(300),
            mail: s(300),
            rcpt: s(300),
            data_init: s(120),
            data_block: s(180),
            data_done: s(600),
            quit: s(10),
            overall: s(1800),
        }
    }

    /// The timeout of one stage (`Dot` is the reply to the final dot).
    pub fn for_stage(&self, stage: Stage) -> Duration {
        match stage {
            Stage::Connect => self.connect,
            Stage::Greeting => self.greeting,
            Stage::Ehlo => self.ehlo,
            Stage::Starttls => self.starttls,
            Stage::Mail => self.mail,
            Stage::Rcpt => self.rcpt,
            Stage::Data => self.data_init,
            Stage::Dot => self.data_done,
            Stage::Quit => self.quit,
        }
    }
}

/// Trust anchors for certificate checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Roots {
    /// The compiled-in Mozilla set (webpki-roots).
    WebPki,
    /// Every certificate in this PEM file, and nothing else (`--ca-file`).
    PemFile(PathBuf),
}

/// What to do and how.
#[derive(Clone, Debug)]
pub struct SmtpOptions {
    /// TCP port (25).
    pub port: u16,
    /// Our name in EHLO/HELO.
    pub helo: String,
    /// STARTTLS policy (default opportunistic).
    pub tls: TlsMode,
    /// Trust anchors.
    pub roots: Roots,
    /// Per-stage timeouts and the overall deadline.
    pub timeouts: Timeouts,
    /// Probe: the stage to reach (connect .. rcpt); [`deliver`] ignores it.
    /// Default: [`Stage::Starttls`]. `Ehlo` stops after the first EHLO,
    /// before STARTTLS. `Starttls` with TLS off, or opportunistic TLS that
    /// the server does not offer (or that fell back to plaintext), stops
    /// after EHLO and reports `Reached { stage: Ehlo }`. With
    /// [`TlsMode::Required`] a probe never stops before STARTTLS (see
    /// [`SmtpOptions::probe_stop`]).
    pub stop_after: Stage,
    /// MAIL FROM; `""` is the null sender `<>`.
    pub mail_from: String,
    /// RCPT TO: for a probe that stops after RCPT, and for [`deliver`].
    pub rcpt_to: Vec<String>,
    /// The domain being routed: the second certificate name check and reports.
    pub recipient_domain: String,
    /// Dial this socket address instead of `candidate.address:port` (like
    /// curl's `--connect-to`). Names still come from the candidate. Meant for
    /// tests (fake servers on ephemeral loopback ports) and debugging.
    pub connect_to: HashMap<IpAddr, SocketAddr>,
    /// Which addresses may be dialled ([`crate::targets`]): any (the
    /// default), or global ones only (`mxkit serve`). A refused address
    /// is a soft failure at connect that sends nothing.
    pub targets: crate::targets::Targets,
}

impl SmtpOptions {
    /// Defaults: port 25, opportunistic TLS with webpki roots, probe
    /// timeouts, stop after STARTTLS, null sender, no recipients.
    pub fn new(helo: impl Into<String>, recipient_domain: impl Into<String>) -> Self {
        SmtpOptions {
            port: 25,
            helo: helo.into(),
            tls: TlsMode::Policy,
            roots: Roots::WebPki,
            timeouts: Timeouts::probe(),
            stop_after: Stage::Starttls,
            mail_from: String::new(),
            rcpt_to: Vec::new(),
            recipient_domain: recipient_domain.into(),
            connect_to: HashMap::new(),
            targets: crate::targets::Targets::Any,
        }
    }

    /// Dial `target` whenever a candidate has address `address` (see
    /// [`SmtpOptions::connect_to`]).
    pub fn with_connect_to(mut self, address: IpAddr, target: SocketAddr) -> Self {
        self.connect_to.insert(address, target);
        self
    }

    /// Where a probe really stops: [`SmtpOptions::stop_after`], but never
    /// before [`Stage::Starttls`] when TLS is required. A requirement that
    /// was not checked is not met: stopping at the greeting would report a
    /// server without STARTTLS (or with a certificate that does not name
    /// it) as reached, so the probe goes on through STARTTLS and the EHLO
    /// after it, and reports `Reached { stage: Starttls }`. (With
    /// [`TlsMode::Policy`] the same holds for each candidate whose policy
    /// requires TLS.)
    pub fn probe_stop(&self) -> Stage {
        self.stop_for(self.tls == TlsMode::Required)
    }

    /// [`SmtpOptions::probe_stop`] for an attempt that must (`mandatory`)
    /// or need not use TLS.
    pub(crate) fn stop_for(&self, mandatory: bool) -> Stage {
        if mandatory {
            self.stop_after.max(Stage::Starttls)
        } else {
            self.stop_after
        }
    }

    /// The socket address dialled for a candidate.
    pub fn target(&self, candidate: &Candidate) -> SocketAddr {
        self.connect_to
            .get(&candidate.address)
            .copied()
            .unwrap_or(SocketAddr::new(candidate.address, self.port))
    }

    /// Check what is sent verbatim before anything is sent: the EHLO name,
    /// MAIL FROM and every RCPT TO (no CR, LF, NUL, `<`, `>`: no SMTP
    /// command injection). `deliver`/`probe` call this first and connect
    /// nowhere when it fails.
    pub fn validate(&self) -> Result<(), SmtpError> {
        let helo = &self.helo;
        if helo.is_empty()
            || helo.len() > 255
            || helo
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || c == '<' || c == '>')
        {
            return Err(SmtpError::InvalidHelo(helo.clone()));
        }
        if !self.mail_from.is_empty() {
            message::validate_address_at(&self.mail_from, Stage::Mail)?;
        }
        for rcpt in &self.rcpt_to {
            message::validate_address_at(rcpt, Stage::Rcpt)?;
        }
        Ok(())
    }
}

/// A server reply: the code, the enhanced status code (RFC 3463) when the
/// server sent one, and the text of each line without the code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Reply {
    /// The three-digit code (of the first line).
    pub code: u16,
    /// `"2.0.0"`, when present.
    pub enhanced: Option<String>,
    /// The text of each line, without code and enhanced code.
    pub lines: Vec<String>,
}

impl Reply {
    /// 2xx.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }
    /// 4xx: try again later.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }
    /// 5xx: final.
    pub fn is_permanent(&self) -> bool {
        (500..600).contains(&self.code)
    }
    /// The text of every line joined with spaces.
    pub fn text(&self) -> String {
        self.lines.join(" ")
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(e) = &self.enhanced {
            write!(f, " {e}")?;
        }
        let text = self.text();
        if !text.is_empty() {
            write!(f, " {text}")?;
        }
        Ok(())
    }
}

/// Who produced a transcript line. Serialized in snake case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// We sent it (swaks `->`, `~>` in TLS).
    Sent,
    /// The server sent it (swaks `<-`, `<~` in TLS).
    Received,
    /// What we did (connected, TLS established, reconnecting...).
    Info,
    /// What went wrong.
    Error,
}

/// One transcript line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Milliseconds since the attempt started.
    pub at_ms: u64,
    /// Sent, received, info or error.
    pub direction: Direction,
    /// Inside TLS.
    pub tls: bool,
    /// The line without CRLF (remote text is not escaped here: the output
    /// module does that). Message content is summarised, not copied.
    pub line: String,
}

/// The server's certificate (the leaf).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CertInfo {
    /// Subject DN (RFC 4514 form).
    pub subject: String,
    /// DNS names and IP addresses of the subjectAltName extension.
    pub sans: Vec<String>,
    /// Issuer DN.
    pub issuer: String,
    /// Start of validity, `YYYY-MM-DDTHH:MM:SSZ`.
    pub not_before: String,
    /// End of validity, `YYYY-MM-DDTHH:MM:SSZ`.
    pub not_after: String,
    /// SHA-256 of the DER certificate, lower-case hex.
    pub sha256: String,
    /// SHA-256 of its SubjectPublicKeyInfo, lower-case hex: the data of
    /// the DANE-EE record `3 1 1` for this key (docs/rules/secure.md).
    pub spki_sha256: String,
}

/// What STARTTLS gave.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TlsReport {
    /// What was required of this attempt's TLS: `opportunistic`,
    /// `required` (PKIX), `dane`, `dane-encrypt` (docs/rules/secure.md).
    pub policy: &'static str,
    /// What authenticated the server: `dane-ee`, `dane-ta`, `pkix`; none
    /// when nothing was required or the requirement was not met.
    pub verified_by: Option<&'static str>,
    /// The TLSA records that matched (presentation format).
    pub tlsa_matched: Vec<String>,
    /// Why the requirement was not met.
    pub error: Option<String>,
    /// `TLSv1.3`, `TLSv1.2` (empty when the handshake did not complete).
    pub version: String,
    /// The IANA cipher suite name (empty when the handshake did not complete).
    pub cipher: String,
    /// The server name sent (the MX name; none for address literals).
    pub sni: Option<String>,
    /// The leaf certificate, when the server sent one.
    pub certificate: Option<CertInfo>,
    /// The chain leads to one of the trust anchors and is valid now.
    pub chain_trusted: bool,
    /// Why the chain is not trusted.
    pub chain_error: Option<String>,
    /// The certificate names the MX host (DNS SANs, one-label wildcards;
    /// the subject CN only when there is no DNS SAN).
    pub mx_name_matches: bool,
    /// The certificate names the recipient domain (what posttls-finger's
    /// default `secure` level checks).
    pub domain_name_matches: bool,
    /// The handshake completed.
    pub completed: bool,
    /// The key exchange group, when known.
    pub kx_group: Option<String>,
}

impl TlsReport {
    /// `; policy dane: verified by dane-ee (TLSA 3 1 1 ...)`, or why not; empty
    /// for opportunistic TLS.
    pub fn policy_note(&self) -> String {
        if self.policy == "opportunistic" {
            return String::new();
        }
        let mut s = format!("; policy {}", self.policy);
        match (self.verified_by, &self.error) {
            (Some(by), _) if self.tlsa_matched.is_empty() => {
                s.push_str(&format!(": verified by {by}"))
            }
            (Some(by), _) => s.push_str(&format!(
                ": verified by {by} (TLSA {})",
                self.tlsa_matched.join(", ")
            )),
            (None, Some(e)) => s.push_str(&format!(": NOT met: {e}")),
            (None, None) => {}
        }
        s
    }
}

/// What happened at one stage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StageResult {
    /// The stage.
    pub stage: Stage,
    /// The server's reply, if one came.
    pub reply: Option<Reply>,
    /// What went wrong, if anything (a negative reply is also described here).
    pub error: Option<String>,
    /// How long the stage took.
    pub elapsed_ms: u64,
}

/// How one attempt ended. Serialized with a `result` tag in snake case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// The probe got through the requested stage.
    Reached {
        /// The last stage completed.
        stage: Stage,
    },
    /// The message was accepted after the final dot.
    Accepted {
        /// Parsed from the reply (`queued as 4ABC123`, `id=...`).
        queue_id: Option<String>,
        /// The reply to the final dot.
        reply: Reply,
    },
    /// A temporary failure: retry later or elsewhere.
    Soft {
        /// Where.
        stage: Stage,
        /// Why.
        reason: String,
    },
    /// A permanent (5xx) failure.
    Hard {
        /// Where.
        stage: Stage,
        /// Why.
        reason: String,
    },
}

impl AttemptOutcome {
    /// The stage the attempt ended at.
    pub fn stage(&self) -> Stage {
        match self {
            AttemptOutcome::Reached { stage }
            | AttemptOutcome::Soft { stage, .. }
            | AttemptOutcome::Hard { stage, .. } => *stage,
            AttemptOutcome::Accepted { .. } => Stage::Dot,
        }
    }
}

/// One connection to one candidate (two with a plaintext retry).
#[derive(Clone, Debug, Serialize)]
pub struct Attempt {
    /// Where.
    pub candidate: Candidate,
    /// The socket address dialled (differs from the candidate's only with
    /// [`SmtpOptions::connect_to`]).
    pub target: SocketAddr,
    /// Every stage gone through, in order.
    pub stages: Vec<StageResult>,
    /// How it ended.
    pub outcome: AttemptOutcome,
    /// STARTTLS details, when a handshake was tried.
    pub tls: Option<TlsReport>,
    /// Opportunistic TLS failed and the same address was retried in clear.
    pub plaintext_fallback: bool,
    /// EHLO keywords (upper case) of the last EHLO.
    pub capabilities: Vec<String>,
    /// Each RCPT TO and its reply in this attempt (verdict of the reply alone).
    pub recipients: Vec<RcptResult>,
    /// Every line, with timestamps.
    pub transcript: Vec<Event>,
    /// Why the walk moved on to the next candidate.
    pub next: Option<String>,
}

/// The verdict of a walk (or of one recipient). Serialized in snake case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WalkVerdict {
    /// A probe got through the requested stage.
    Reached,
    /// The message was accepted.
    Accepted,
    /// Bounce: 5xx where final, no route, or every attempt failed permanently.
    Permanent,
    /// Defer: retry later.
    Temporary,
}

/// What became of one recipient.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RcptResult {
    /// The address.
    pub address: String,
    /// Accepted/reached, permanent or temporary.
    pub verdict: WalkVerdict,
    /// The deciding reply.
    pub reply: Option<Reply>,
}

/// The result of walking a route.
#[derive(Clone, Debug, Serialize)]
pub struct Walk {
    /// The verdict.
    pub verdict: WalkVerdict,
    /// Every attempt, in order.
    pub attempts: Vec<Attempt>,
    /// Each recipient (probes that stop before RCPT have none).
    pub recipients: Vec<RcptResult>,
    /// For people.
    pub reason: String,
}
