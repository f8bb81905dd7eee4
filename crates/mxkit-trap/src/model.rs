//! The words of the trap: observations, verdicts and listings.
//!
//! Times are Unix microseconds ([`Micros`]) everywhere: journald gives
//! microseconds, and one integer type keeps both stores' schemas equal.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Unix time in microseconds.
pub type Micros = i64;

/// Now, in Unix microseconds.
pub fn now() -> Micros {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as Micros)
        .unwrap_or(0)
}

/// Seconds to microseconds.
pub const fn secs(s: i64) -> Micros {
    s * 1_000_000
}

/// Where an observation was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The decoy listener itself.
    Decoy,
    /// A real MX host (primary or real backup), seen through its log.
    Primary,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Decoy => "decoy",
            Role::Primary => "primary",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "decoy" => Some(Role::Decoy),
            "primary" => Some(Role::Primary),
            _ => None,
        }
    }
}

/// How far a session got. Ordered: a later stage implies the earlier ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// TCP connection (and, at the decoy, the greeting sent).
    Connect,
    /// HELO or EHLO.
    Helo,
    /// MAIL FROM.
    Mail,
    /// RCPT TO.
    Rcpt,
    /// DATA was asked for (the decoy refuses it).
    Data,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Connect => "connect",
            Stage::Helo => "helo",
            Stage::Mail => "mail",
            Stage::Rcpt => "rcpt",
            Stage::Data => "data",
        }
    }

    pub fn parse(s: &str) -> Option<Stage> {
        Some(match s {
            "connect" => Stage::Connect,
            "helo" => Stage::Helo,
            "mail" => Stage::Mail,
            "rcpt" => Stage::Rcpt,
            "data" => Stage::Data,
            _ => return None,
        })
    }
}

/// Things a session did that make a verdict firmer (or, for
/// [`Flags::ACCEPTED`], clear the client for good).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Flags(pub u32);

impl Flags {
    /// Spoke before the greeting (decoy) or postscreen logged PREGREET.
    pub const PREGREET: Flags = Flags(1);
    /// Sent several commands without waiting for replies, without PIPELINING.
    pub const PIPELINING: Flags = Flags(2);
    /// RCPT to an address that does not exist or is a spam trap.
    pub const BAD_RCPT: Flags = Flags(4);
    /// The real MX host accepted a message from this client (known-good).
    pub const ACCEPTED: Flags = Flags(8);
    /// Non-SMTP garbage, an over-long line or too many commands.
    pub const ABUSE: Flags = Flags(16);

    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn insert(&mut self, other: Flags) {
        self.0 |= other.0;
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The names of the set flags, for reasons and JSON.
    pub fn names(self) -> Vec<&'static str> {
        [
            (Flags::PREGREET, "pregreet"),
            (Flags::PIPELINING, "pipelining"),
            (Flags::BAD_RCPT, "bad-rcpt"),
            (Flags::ACCEPTED, "accepted"),
            (Flags::ABUSE, "abuse"),
        ]
        .into_iter()
        .filter(|(f, _)| self.contains(*f))
        .map(|(_, n)| n)
        .collect()
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

/// One SMTP session seen at the decoy or at a real MX host.
///
/// Envelope senders are kept as their domain only: local parts of addresses
/// are never stored (docs/rules/trap.md, "Retention and privacy").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    /// When the session started.
    pub at: Micros,
    pub role: Role,
    /// The stream it came from: "decoy", or a log stream's name.
    pub stream: String,
    pub client: IpAddr,
    /// The local address the client connected to, when known (the decoy
    /// always knows; postscreen logs it, smtpd does not).
    pub local: Option<IpAddr>,
    /// The client's name as the MTA verified it (forward-confirmed reverse
    /// DNS), when known.
    pub client_name: Option<String>,
    pub stage: Stage,
    pub helo: Option<String>,
    pub mail_domain: Option<String>,
    pub flags: Flags,
}

/// A graded verdict. Ordered by severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Grade {
    /// Decided not to list: seen at a real MX in time, allowlisted, known
    /// good, or a guard was active. Kept as evidence only.
    Observed,
    /// Disconnected before MAIL FROM at the decoy: logged, never listed.
    Probe,
    /// Reached MAIL/RCPT at the decoy without trying a real MX: soft listing.
    Suspect,
    /// A suspect with aggravating evidence, or a second decoy-first session.
    Trapped,
    /// Trapped three times within seven days.
    Repeat,
}

impl Grade {
    pub fn as_str(self) -> &'static str {
        match self {
            Grade::Observed => "observed",
            Grade::Probe => "probe",
            Grade::Suspect => "suspect",
            Grade::Trapped => "trapped",
            Grade::Repeat => "repeat",
        }
    }

    pub fn parse(s: &str) -> Option<Grade> {
        Some(match s {
            "observed" => Grade::Observed,
            "probe" => Grade::Probe,
            "suspect" => Grade::Suspect,
            "trapped" => Grade::Trapped,
            "repeat" => Grade::Repeat,
            _ => return None,
        })
    }

    /// Whether this grade puts an address on the lists.
    pub fn listed(self) -> bool {
        self >= Grade::Suspect
    }
}

/// A decision about one decoy session, kept as evidence (30 days).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// The decoy observation this decides.
    pub observation: i64,
    pub client: IpAddr,
    /// When the decoy session happened.
    pub at: Micros,
    /// When it was decided.
    pub decided: Micros,
    pub grade: Grade,
    /// Short reason code, e.g. `decoy-first`, `seen-at-primary`,
    /// `allowlisted`, `startup-grace`, `second-session`.
    pub reason: String,
}

/// An address on the lists (or, in shadow mode, one that would be).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    pub ip: IpAddr,
    pub grade: Grade,
    pub reason: String,
    pub first_seen: Micros,
    pub last_seen: Micros,
    pub expires: Micros,
    /// Listed decoy-first sessions counted for this address.
    pub events: u32,
    /// Recorded in shadow mode: reported, never exported.
    pub shadow: bool,
}

/// Where a log stream has got to: its resume cursor and the time up to
/// which it has been read (the watermark).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamState {
    pub name: String,
    /// Opaque resume point: "inode:offset" for files, the journal cursor.
    pub cursor: Option<String>,
    /// Every event of this stream up to this time has been stored.
    pub watermark: Micros,
    /// When this stream was (re)started: the start-up grace counts from it.
    pub started: Micros,
    /// Why the stream cannot be read now (the file is missing, is a
    /// folder, may not be read...), `None` while it is read. While a
    /// stream has a problem, nothing is listed: what the real MX host saw
    /// is unknown.
    pub problem: Option<String>,
}

/// A pause of listing by the anomaly alarm ([`crate::detect`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    pub started: Micros,
    /// `None` while the pause is on.
    pub ended: Option<Micros>,
    /// What set it off, e.g. `decoy-first sessions from 25 networks in
    /// 600 s, 3 sessions at the real MX hosts`.
    pub reason: String,
}

/// An allowlist entry: never listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllowEntry {
    pub net: ipnet::IpNet,
    pub note: String,
    pub added: Micros,
}

/// The domain used to join a pool of senders: the verified client name
/// without its first label, but never shorter than two labels
/// (`mail-a1.google.com` → `google.com`, `o1.smtp.example.co.uk` →
/// `smtp.example.co.uk`). `unknown` (Postfix's word for "no verified name")
/// gives `None`. A public-suffix list would be exact; the pool join only
/// ever clears suspicion, so a too-specific domain errs on the safe side.
pub fn name_domain(name: &str) -> Option<String> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if name.is_empty() || name == "unknown" || !name.contains('.') {
        return None;
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() <= 2 {
        return Some(name);
    }
    Some(labels[1..].join("."))
}

/// `2026-11-26T09:46:24Z` for a time in Unix microseconds (UTC, whole
/// seconds).
pub fn iso8601(t: Micros) -> String {
    mxkit::smtp::iso8601(t.div_euclid(1_000_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(secs(1_795_686_384)), "2026-11-26T09:46:24Z");
        assert_eq!(iso8601(secs(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn name_domains() {
        assert_eq!(
            name_domain("mail-a1.google.com").as_deref(),
            Some("google.com")
        );
        assert_eq!(name_domain("example.net.").as_deref(), Some("example.net"));
        assert_eq!(name_domain("unknown"), None);
        assert_eq!(name_domain("localhost"), None);
    }
}
