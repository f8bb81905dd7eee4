//! Check: audit a domain's mail DNS and report findings.
//!
//! Words:
//! - a **rule** has a stable id (kebab-case, never renamed once released), a
//!   default [`Severity`], the RFC it comes from and its catalogue row
//!   (`MX01`...); all rules are listed in [`RULES`] and described, by id, in
//!   `docs/rules/check.md`;
//! - a **finding** is one rule firing on one subject (a record, an exchanger,
//!   an address, a name server), with the **evidence** (which server answered
//!   what to which question, or `file:line` in a zone file) and the **fix**
//!   (the exact record to publish, where one exists);
//! - a check is **incomplete** when a lookup it needs failed temporarily
//!   (SERVFAIL, timeout): its rules are then neither passed nor failed, and
//!   the report says which ones could not finish.
//!
//! One module per family of rules: [`records`] (the MX RRset and its
//! exchangers), [`addresses`] (where the exchangers' addresses point),
//! [`nameservers`] (every authoritative server asked directly), [`reverse`]
//! (PTR records), [`secure`] (DNSSEC status and DANE's TLSA records),
//! [`smtp`] (the exchangers over SMTP, up to STARTTLS, with DANE matching),
//! [`zonefile`] (the loaded zone files themselves), [`blocklists`] (the
//! exchangers' addresses on the DNS blocklists given); [`diff`] compares a zone
//! file with live DNS before it is published. Each family has one entry point, `async fn check(&Context, &mut
//! Findings)`.

pub mod addresses;
pub mod blocklists;
pub mod diff;
mod error;
pub mod mta_sts;
pub mod nameservers;
pub mod records;
pub mod reverse;
pub mod secure;
pub mod smtp;
pub mod zonefile;

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use serde::Serialize;

use crate::address::Domain;
use crate::dns::zone::{ZoneRecord, ZoneSet};
use crate::dns::{Answer, Lookup, Name, RData, RecordType, resolve};
pub(crate) use crate::english::{and_list, count};
use crate::mta_sts::MtaStsConfig;
use crate::route::{Route, RouteOptions, route};

pub use error::PolicyError;

/// How bad a finding is. Ordered: `Error` is the worst.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Mail is lost, bounced or at risk now.
    Error,
    /// Works, but breaks rules senders rely on, or will break.
    Warning,
    /// Worth knowing; a possible improvement.
    Notice,
    /// Informational.
    Info,
}

impl Severity {
    /// The lowercase name (`"warning"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
            Severity::Info => "info",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = PolicyError;
    fn from_str(s: &str) -> Result<Self, PolicyError> {
        match s.to_ascii_lowercase().as_str() {
            "error" => Ok(Severity::Error),
            "warning" | "warn" => Ok(Severity::Warning),
            "notice" => Ok(Severity::Notice),
            "info" => Ok(Severity::Info),
            _ => Err(PolicyError::UnknownSeverity(s.to_string())),
        }
    }
}

/// A rule: what it checks and how bad it is by default.
#[derive(Debug, PartialEq, Eq)]
pub struct Rule {
    /// Stable id, kebab-case.
    pub id: &'static str,
    /// Catalogue row in `docs/rules/check.md` (`MX10`); `ZONE` for the rules
    /// on the loaded zone files themselves, which have no row.
    pub row: &'static str,
    /// Default severity (some rules escalate, see their docs).
    pub severity: Severity,
    /// Where the rule comes from.
    pub rfc: &'static str,
    /// One line: what it checks.
    pub title: &'static str,
}

macro_rules! rules {
    ($($konst:ident = $id:literal, $row:literal, $sev:ident, $rfc:literal, $title:literal;)*) => {
        $(
            #[doc = $title]
            pub const $konst: Rule = Rule {
                id: $id,
                row: $row,
                severity: Severity::$sev,
                rfc: $rfc,
                title: $title,
            };
        )*
        /// Every rule, in catalogue order.
        pub static RULES: &[&Rule] = &[$(&$konst),*];
    };
}

rules! {
    IMPLICIT_MX = "implicit-mx", "MX01", Warning, "RFC 5321 section 5.1",
        "no MX records: senders fall back to the domain's own A/AAAA (warning when it has some, notice when it has none)";
    MX_IS_ADDRESS = "mx-is-address", "MX02", Error, "RFC 5321 section 5.1",
        "an MX record names an IP address instead of a host name";
    EXCHANGER_BAD_NAME = "exchanger-bad-name", "MX03", Error, "RFC 5321 section 2.3.5, RFC 1123 section 2.1",
        "an exchanger is not a valid host name";
    NULL_MX_MIXED = "null-mx-mixed", "MX04", Error, "RFC 7505 section 3",
        "a null MX is published together with other MX records";
    NULL_MX_PREFERENCE = "null-mx-preference", "MX04", Warning, "RFC 7505 section 3",
        "a null MX has a preference other than 0";
    DUPLICATE_EXCHANGER = "duplicate-exchanger", "MX06", Warning, "RFC 5321 section 5.1",
        "the same exchanger is listed more than once";
    SHARED_ADDRESS = "shared-address", "MX06", Info, "RFC 5321 section 5.1",
        "several exchangers resolve to the same address";
    SINGLE_EXCHANGER = "single-exchanger", "MX07", Info, "RFC 5321 section 5.1",
        "only one exchanger, or every exchanger shares one address: no redundancy";
    MX_AT_TLD = "mx-at-tld", "MX09", Warning, "RFC 7085",
        "MX records on a top-level domain or under .arpa";
    EXCHANGER_WITHOUT_ADDRESS = "exchanger-without-address", "MX10", Warning, "RFC 5321 section 5.1",
        "an exchanger has no A or AAAA record";
    NO_USABLE_EXCHANGER = "no-usable-exchanger", "MX10", Error, "RFC 5321 section 5.1",
        "no exchanger has an address: mail bounces";
    EXCHANGER_IS_CNAME = "exchanger-is-cname", "MX11", Warning, "RFC 2181 section 10.3, RFC 5321 section 5.1",
        "an exchanger is an alias (CNAME)";
    DOMAIN_IS_CNAME = "domain-is-cname", "MX12", Info, "RFC 5321 section 5.1",
        "the domain is an alias: its MX records are found through the CNAME";
    EXCHANGER_SPECIAL_ADDRESS = "exchanger-special-address", "MX13", Warning, "RFC 6890",
        "an exchanger resolves to a private, loopback, documentation or other special-purpose address (error when all do)";
    NAMESERVER_UNRESPONSIVE = "nameserver-unresponsive", "MX15", Warning, "RFC 1034 section 4.3.1",
        "an authoritative server does not answer the MX query properly (error when none does)";
    NAMESERVERS_DISAGREE = "nameservers-disagree", "MX16", Warning, "RFC 1034 section 4.3.5",
        "authoritative servers return different MX sets";
    NAMESERVERS_TTL_DIFFER = "nameservers-ttl-differ", "MX16", Notice, "RFC 2181 section 5.2",
        "authoritative servers return the same MX set with different TTLs";
    MX_TTL = "mx-ttl", "MX17", Notice, "RFC 1912 section 2.2",
        "the MX TTL is very low or very high";
    NO_REVERSE_DNS = "no-reverse-dns", "MX20", Notice, "RFC 1912 section 2.1",
        "an exchanger address has no PTR record";
    REVERSE_DNS_MISMATCH = "reverse-dns-mismatch", "MX21", Notice, "RFC 1912 section 2.1, RFC 8601 section 3",
        "an exchanger address's PTR name does not resolve back to it (not forward-confirmed)";
    SMTP_UNREACHABLE = "smtp-unreachable", "MX22", Warning, "RFC 5321 section 5.1",
        "an exchanger address does not accept TCP connections on port 25 (error when none does)";
    SMTP_GREETING = "smtp-greeting", "MX23", Warning, "RFC 5321 section 4.2",
        "an exchanger greets with something other than 220";
    SMTP_STARTTLS = "smtp-starttls", "MX24", Warning, "RFC 3207",
        "an exchanger does not offer STARTTLS, or EHLO or the TLS handshake fails";
    SMTP_CERTIFICATE = "smtp-certificate", "MX24", Info, "RFC 7435, RFC 8461",
        "an exchanger's certificate is not trusted or does not name it";
    SMTP_SLOW_GREETING = "smtp-slow-greeting", "MX25", Info, "RFC 5321 section 4.5.3.2",
        "an exchanger takes more than 10 s to greet";
    DNSSEC_UNSIGNED = "dnssec-unsigned", "MX19", Info, "RFC 4033 section 5, RFC 7672 section 2.2",
        "the MX records or an exchanger's addresses are not DNSSEC-signed: no sender can apply DANE";
    DNSSEC_BOGUS = "dnssec-bogus", "MX19", Error, "RFC 4035 section 5.5, RFC 8914",
        "a lookup of the domain or an exchanger fails DNSSEC validation: validating senders defer mail";
    TLSA_LOOKUP_FAILED = "tlsa-lookup-failed", "MX19", Error, "RFC 7672 section 2.2",
        "the TLSA lookup of an exchanger with signed addresses fails: DANE senders defer mail to it";
    TLSA_INSECURE = "tlsa-insecure", "MX19", Warning, "RFC 7672 section 2.2",
        "TLSA records are published where they are not DNSSEC-signed: no sender uses them";
    TLSA_UNUSABLE = "tlsa-unusable", "MX19", Warning, "RFC 7672 section 3.1",
        "an exchanger's TLSA records are all unusable for SMTP (usages 0 and 1, unknown parameters): senders require TLS but authenticate nothing";
    TLSA_MISMATCH = "tlsa-mismatch", "MX19", Error, "RFC 7672 section 3",
        "the certificate an exchanger presents matches none of its usable TLSA records: DANE senders do not deliver to it";
    TLSA_NO_ROLLOVER = "tlsa-no-rollover", "MX19", Notice, "RFC 7671 section 8.1",
        "an exchanger has a single DANE-EE record: the next key change breaks delivery unless a record for the new key is published first";
    MTA_STS_RECORD_INVALID = "mta-sts-record-invalid", "MX27", Error, "RFC 8461 section 3.1",
        "the _mta-sts TXT record is missing (beside a policy), duplicated or malformed: senders apply no policy";
    MTA_STS_POLICY_UNREACHABLE = "mta-sts-policy-unreachable", "MX28", Error, "RFC 8461 section 3.3",
        "the MTA-STS policy cannot be fetched (DNS, connection, TLS, redirect, status, timeout): senders apply no policy, or a stale cached one";
    MTA_STS_POLICY_INVALID = "mta-sts-policy-invalid", "MX28", Error, "RFC 8461 sections 3.2 and 3.3",
        "the MTA-STS policy is not a valid policy file (syntax, content type, size, max_age): senders apply no policy";
    MTA_STS_MX_MISMATCH = "mta-sts-mx-mismatch", "MX29", Error, "RFC 8461 section 4.1",
        "an exchanger matches none of the MTA-STS mx patterns: enforcing senders do not deliver to it (warning in testing mode)";
    MTA_STS_CERTIFICATE = "mta-sts-certificate", "MX29", Error, "RFC 8461 section 4.2",
        "an exchanger's certificate is not PKIX-valid for its name: enforcing senders do not deliver to it (warning in testing mode)";
    MTA_STS_ID_STALE = "mta-sts-id-stale", "MX28", Warning, "RFC 8461 sections 3.1 and 5.1",
        "the policy changed but the TXT id did not: senders keep the policy they cached";
    TLS_RPT_MISSING = "tls-rpt-missing", "MX30", Notice, "RFC 8460 section 3",
        "DANE or MTA-STS is published without a TLS-RPT record: nobody hears of failed deliveries";
    TLS_RPT_INVALID = "tls-rpt-invalid", "MX30", Warning, "RFC 8460 section 3",
        "the _smtp._tls TXT record is malformed or duplicated: senders send no reports";
    EXCHANGER_LISTED = "exchanger-listed", "MX33", Error, "RFC 5782 sections 2.1 and 2.2",
        "an exchanger address is listed on a DNS blocklist given with --dnsbl";
    DNSBL_REFUSED = "dnsbl-refused", "MX33", Warning, "RFC 5782 section 2.1",
        "a DNS blocklist refused to answer this resolver (error codes 127.255.255.x): the addresses were not checked on it";
    DNSBL_UNUSABLE = "dnsbl-unusable", "MX33", Warning, "RFC 5782 sections 2.1 and 5",
        "a DNS blocklist's answers mean nothing here: its test entries fail (dead, or lists everything) or it answers outside 127.0.0.0/8";
    ZONE_APEX_INCOMPLETE = "zone-apex-incomplete", "ZONE", Error, "RFC 1035 section 5.2, RFC 1034 section 4.2.1",
        "a loaded zone file has no SOA or no NS record at its apex: name servers refuse to load it";
}

/// An exchanger address a rule asks about, with the exchanger it was found
/// under (the first one, in plan order).
pub(crate) struct Target<'r> {
    pub(crate) ip: IpAddr,
    pub(crate) exchanger: &'r str,
}

/// Every distinct address of the route's exchangers, in plan order: what
/// the reverse-DNS and blocklist rules ask about, each address once.
pub(crate) fn exchanger_addresses(route: &Route) -> Vec<Target<'_>> {
    let mut targets: Vec<Target<'_>> = Vec::new();
    for ex in &route.exchangers {
        for ip in &ex.addresses {
            if !targets.iter().any(|t| t.ip == *ip) {
                targets.push(Target {
                    ip: *ip,
                    exchanger: &ex.name,
                });
            }
        }
    }
    targets
}

/// Look a rule up by id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().copied().find(|r| r.id == id)
}

/// One piece of evidence: who said what.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// Where it comes from: a server (`192.0.2.53:53`), the resolver, or a
    /// zone file location (`example.org.zone:12`).
    pub source: String,
    /// The question, when it came from DNS (`example.org. MX`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// The answer or the record as written.
    pub answer: String,
}

impl Evidence {
    /// Evidence from a DNS answer.
    pub fn dns(
        source: impl Into<String>,
        name: &Name,
        rtype: RecordType,
        answer: impl Into<String>,
    ) -> Self {
        Evidence {
            source: source.into(),
            query: Some(format!("{} {rtype}", name.to_ascii())),
            answer: answer.into(),
        }
    }

    /// Evidence from a zone file.
    pub fn zone(record: &ZoneRecord) -> Self {
        Evidence {
            source: record.location(),
            query: None,
            answer: record.record.to_string(),
        }
    }
}

/// One rule firing on one subject.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule's stable id.
    pub id: &'static str,
    /// How bad (after `--set` overrides).
    pub severity: Severity,
    /// What it is about: a record, an exchanger, an address, a server.
    pub subject: String,
    /// What is wrong, for people.
    pub message: String,
    /// Who said what.
    pub evidence: Vec<Evidence>,
    /// The exact record(s) to publish, or what to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// Where the rule comes from.
    pub rfc: &'static str,
}

/// A check that could not finish (a lookup failed temporarily), or that was
/// not run (offline).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Incomplete {
    /// The rule ids that could not be decided.
    pub rules: Vec<&'static str>,
    /// Why (the temporary failure).
    pub reason: String,
}

/// Severity overrides (`--set ID=SEVERITY|ignore`).
#[derive(Clone, Debug, Default)]
pub struct Policy {
    overrides: HashMap<&'static str, Option<Severity>>,
}

impl Policy {
    /// Parse one `ID=error|warning|notice|info|ignore`.
    pub fn set(&mut self, spec: &str) -> Result<(), PolicyError> {
        let (id, level) = spec
            .split_once('=')
            .ok_or_else(|| PolicyError::Syntax(spec.to_string()))?;
        let rule = rule(id.trim()).ok_or_else(|| PolicyError::UnknownRule(id.to_string()))?;
        let level = match level.trim() {
            "ignore" | "off" => None,
            other => Some(other.parse::<Severity>()?),
        };
        self.overrides.insert(rule.id, level);
        Ok(())
    }

    /// The severity for a finding of `rule` that would be `default`, or
    /// `None` when the rule is ignored.
    pub fn grade(&self, rule: &Rule, default: Severity) -> Option<Severity> {
        match self.overrides.get(rule.id) {
            Some(over) => *over,
            None => Some(default),
        }
    }
}

/// The findings of one run, with the policy applied as they are added.
#[derive(Debug, Default)]
pub struct Findings {
    policy: Policy,
    list: Vec<Finding>,
    incomplete: Vec<Incomplete>,
    skipped: Vec<Incomplete>,
}

/// A finding under construction: `findings.add(&RULE, subject, message)` then
/// `.evidence(...)`, `.fix(...)`, `.severity(...)`; it is recorded when dropped.
pub struct Builder<'f> {
    findings: &'f mut Findings,
    rule: &'static Rule,
    finding: Option<Finding>,
}

impl Builder<'_> {
    /// Add evidence.
    pub fn evidence(mut self, e: Evidence) -> Self {
        if let Some(f) = &mut self.finding
            && !f.evidence.contains(&e)
        {
            f.evidence.push(e);
        }
        self
    }

    /// Add several pieces of evidence (each once).
    pub fn evidence_all(mut self, e: impl IntoIterator<Item = Evidence>) -> Self {
        for one in e {
            self = self.evidence(one);
        }
        self
    }

    /// Say how to fix it.
    pub fn fix(mut self, fix: impl Into<String>) -> Self {
        if let Some(f) = &mut self.finding {
            f.fix = Some(fix.into());
        }
        self
    }

    /// Use another default severity for this finding (a rule that escalates);
    /// a `--set` override still wins.
    pub fn severity(mut self, severity: Severity) -> Self {
        if let Some(f) = &mut self.finding {
            if self.findings.policy.overrides.contains_key(self.rule.id) {
                return self;
            }
            f.severity = severity;
        }
        self
    }
}

impl Drop for Builder<'_> {
    fn drop(&mut self) {
        if let Some(f) = self.finding.take() {
            self.findings.list.push(f);
        }
    }
}

impl Findings {
    /// An empty set of findings under `policy`.
    pub fn new(policy: Policy) -> Self {
        Findings {
            policy,
            ..Findings::default()
        }
    }

    /// Record that `rule` fired on `subject`.
    pub fn add(
        &mut self,
        rule: &'static Rule,
        subject: impl Into<String>,
        message: impl Into<String>,
    ) -> Builder<'_> {
        let finding = self
            .policy
            .grade(rule, rule.severity)
            .map(|severity| Finding {
                id: rule.id,
                severity,
                subject: subject.into(),
                message: message.into(),
                evidence: Vec::new(),
                fix: None,
                rfc: rule.rfc,
            });
        Builder {
            findings: self,
            rule,
            finding,
        }
    }

    /// Record that these rules could not be decided, and why.
    pub fn incomplete(&mut self, rules: &[&'static Rule], reason: impl Into<String>) {
        self.incomplete.push(Incomplete {
            rules: rules.iter().map(|r| r.id).collect(),
            reason: reason.into(),
        });
    }

    /// Record that these rules were not run, and why (offline, say). Unlike
    /// [`Findings::incomplete`], this does not make the report incomplete:
    /// the user chose it.
    pub fn skipped(&mut self, rules: &[&'static Rule], reason: impl Into<String>) {
        self.skipped.push(Incomplete {
            rules: rules.iter().map(|r| r.id).collect(),
            reason: reason.into(),
        });
    }

    /// The findings so far.
    pub fn list(&self) -> &[Finding] {
        &self.list
    }
}

/// Counts per severity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Findings of severity error.
    pub errors: usize,
    /// Findings of severity warning.
    pub warnings: usize,
    /// Findings of severity notice.
    pub notices: usize,
    /// Findings of severity info.
    pub infos: usize,
    /// Checks that could not finish.
    pub incomplete: usize,
}

/// The result of `check`.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The domain checked (A-labels, no final dot).
    pub domain: String,
    /// Where the data came from: `"live"`, `"zone"` (zone files over live
    /// DNS) or `"offline"` (zone files only).
    pub mode: &'static str,
    /// Every finding, worst first, then by rule and subject.
    pub findings: Vec<Finding>,
    /// Checks that could not finish (exit 3).
    pub incomplete: Vec<Incomplete>,
    /// Checks that were not run (offline): they do not change the exit code.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Incomplete>,
    /// Counts.
    pub summary: Summary,
    /// With `--dnsbl`: what each list said about each exchanger address,
    /// and its test entries (absent when no list was asked).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dnsbl: Vec<blocklists::ListReport>,
    /// The delivery plan senders see (from the zone files when given).
    pub route: Route,
    /// With `--zone` and live DNS: what changes for senders when the zone is
    /// published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<diff::Changes>,
    /// The SMTP attempts the SMTP rules were decided on, one per candidate
    /// address probed (none when they were skipped): what `mxkit serve`
    /// shows per exchanger. Not in the JSON, whose findings say what
    /// matters of them.
    #[serde(skip)]
    pub attempts: Vec<crate::smtp::Attempt>,
}

impl Report {
    /// The worst severity found, if any.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).min()
    }
}

/// Ask one server directly, not recursively (RD=0), as a check of
/// authoritative servers must.
pub trait Direct: Send + Sync {
    /// Ask `server` for `name`/`rtype`.
    fn ask<'a>(
        &'a self,
        server: std::net::IpAddr,
        name: &'a Name,
        rtype: RecordType,
    ) -> crate::dns::BoxFuture<'a, crate::dns::Response>;
}

/// Settings of one check run.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Severity overrides.
    pub policy: Policy,
    /// Whether the SMTP rules probe the exchangers (default: skipped).
    pub smtp: smtp::SmtpCheck,
    /// Whether the lookups have a DNSSEC status (`--dnssec ad`, the
    /// default) and the DNSSEC and DANE rules run ([`secure`]).
    pub dnssec: bool,
    /// MTA-STS (`--mta-sts on`, [`mta_sts`]): how policies are fetched,
    /// and the policy files to try (`--mta-sts-policy`). `None`: the
    /// MTA-STS and TLS-RPT rules are skipped.
    pub mta_sts: Option<Arc<MtaStsConfig>>,
    /// The DNS blocklists to look the exchangers' addresses up on
    /// (`--dnsbl`, [`blocklists`]); none by default.
    pub dnsbl: Vec<crate::dnsbl::List>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            policy: Policy::default(),
            smtp: smtp::SmtpCheck::default(),
            dnssec: true,
            mta_sts: None,
            dnsbl: Vec::new(),
        }
    }
}

/// Everything the rule families see.
pub struct Context<'a> {
    /// The domain checked.
    pub domain: &'a Domain,
    /// The resolver view: live DNS, zone files over live DNS, or zone files alone.
    pub lookup: &'a dyn Lookup,
    /// Live DNS without the zone files, when live DNS may be asked (for the
    /// pre-publish diff and the name-server checks); `None` offline.
    pub live: Option<&'a dyn Lookup>,
    /// Asks authoritative servers directly; `None` offline.
    pub direct: Option<&'a dyn Direct>,
    /// The loaded zone files (empty in live mode).
    pub zones: &'a ZoneSet,
    /// The MX answer for the domain, through `lookup`.
    pub mx: &'a Answer,
    /// The delivery plan, through `lookup`, seen as a plain sender (no self,
    /// no limit, IP-address MX refused, loopback not treated as self).
    pub route: &'a Route,
    /// The MTA-STS settings ([`CheckOptions::mta_sts`]).
    pub mta_sts: Option<&'a Arc<MtaStsConfig>>,
}

impl Context<'_> {
    /// The zone-file records owned by `name` of type `rtype` that `keep`
    /// accepts, for `file:line` evidence.
    pub fn zone_records(
        &self,
        name: &Name,
        rtype: RecordType,
        keep: impl Fn(&RData) -> bool,
    ) -> Vec<ZoneRecord> {
        self.zones
            .zones()
            .iter()
            .flat_map(|z| z.records_at(name))
            .filter(|r| r.record.record_type() == rtype && keep(&r.record.data))
            .collect()
    }

    /// Evidence for the CNAME chain followed from `start` (the question
    /// `start`/`rtype` that `server` answered): the `file:line` of each CNAME
    /// record where it comes from a zone file, else the answer that carried it.
    pub fn cname_evidence(
        &self,
        start: &Name,
        chain: &[Name],
        server: &str,
        rtype: RecordType,
    ) -> Vec<Evidence> {
        let mut out = Vec::new();
        let owners = std::iter::once(start).chain(chain.iter());
        for (owner, target) in owners.zip(chain.iter()) {
            let lines = self.zone_records(
                owner,
                RecordType::CNAME,
                |d| matches!(d, RData::CNAME(c) if c.0 == *target),
            );
            if lines.is_empty() {
                let text = format!(
                    "{} CNAME {}",
                    addresses::dotted(owner),
                    addresses::dotted(target)
                );
                let asked = if owner == start {
                    rtype
                } else {
                    RecordType::CNAME
                };
                out.push(Evidence::dns(server.to_string(), owner, asked, text));
            } else {
                out.extend(lines.iter().map(Evidence::zone));
            }
        }
        out
    }

    /// Evidence for the MX records of the domain matching `keep`: their
    /// `file:line` when they come from a zone file, else the resolver's answer.
    pub fn mx_evidence(&self, keep: impl Fn(u16, &Name) -> bool) -> Vec<Evidence> {
        let owner = self.mx.canonical(self.domain.name());
        let from_zone: Vec<Evidence> = self
            .zone_records(owner, RecordType::MX, |d| match d {
                RData::MX(m) => keep(m.preference, &m.exchange),
                _ => false,
            })
            .iter()
            .map(Evidence::zone)
            .collect();
        if !from_zone.is_empty() {
            return from_zone;
        }
        let answer: Vec<String> = self
            .mx
            .outcome
            .records()
            .iter()
            .filter_map(|r| match &r.data {
                RData::MX(m) if keep(m.preference, &m.exchange) => {
                    Some(format!("{} {}", m.preference, m.exchange))
                }
                _ => None,
            })
            .collect();
        vec![Evidence::dns(
            &*self.mx.server,
            owner,
            RecordType::MX,
            answer.join(", "),
        )]
    }
}

/// The route options a check uses: a plain sender's view, with DANE as
/// `dnssec` says and MTA-STS as `mta_sts` says. A check judges what is
/// published now: its route fetches the policy rather than read a cached
/// one.
pub fn sender_view(dnssec: bool, mta_sts: Option<&Arc<MtaStsConfig>>) -> RouteOptions {
    RouteOptions {
        loopback_is_self: false,
        seed: Some(0),
        dnssec,
        dane: dnssec,
        mta_sts: mta_sts.map(|c| {
            Arc::new(MtaStsConfig {
                cache: None,
                ..(**c).clone()
            })
        }),
        ..RouteOptions::default()
    }
}

/// Run every rule family on `domain`.
///
/// `lookup` is the resolver view (zone files over live DNS, or alone when
/// offline); `live` and `direct` are `None` offline; `zones` are the loaded
/// zone files (empty in live mode).
pub async fn check(
    domain: &Domain,
    lookup: &dyn Lookup,
    live: Option<&dyn Lookup>,
    direct: Option<&dyn Direct>,
    zones: &ZoneSet,
    options: &CheckOptions,
) -> Report {
    let mx = resolve(lookup, domain.name(), RecordType::MX).await;
    let route = route(
        lookup,
        &crate::address::Destination::Domain(domain.clone()),
        &sender_view(options.dnssec, options.mta_sts.as_ref()),
    )
    .await;
    let ctx = Context {
        domain,
        lookup,
        live,
        direct,
        zones,
        mx: &mx,
        route: &route,
        mta_sts: options.mta_sts.as_ref(),
    };
    let mut findings = Findings::new(options.policy.clone());
    zonefile::check(&ctx, &mut findings);
    records::check(&ctx, &mut findings).await;
    addresses::check(&ctx, &mut findings).await;
    nameservers::check(&ctx, &mut findings).await;
    reverse::check(&ctx, &mut findings).await;
    let dnsbl = blocklists::check(&ctx, &options.dnsbl, &mut findings).await;
    secure::check(&ctx, options.dnssec, &mut findings).await;
    mta_sts::check(&ctx, &mut findings).await;
    let attempts = smtp::check(&ctx, &options.smtp, &mut findings).await;
    let changes = match (live, zones.is_empty()) {
        (Some(live), false) => diff::changes(&ctx, live).await,
        _ => None,
    };
    let Findings {
        mut list,
        incomplete,
        skipped,
        ..
    } = findings;
    list.sort_by(|a, b| (a.severity, a.id, &a.subject).cmp(&(b.severity, b.id, &b.subject)));
    let mut summary = Summary {
        incomplete: incomplete.len(),
        ..Summary::default()
    };
    for f in &list {
        match f.severity {
            Severity::Error => summary.errors += 1,
            Severity::Warning => summary.warnings += 1,
            Severity::Notice => summary.notices += 1,
            Severity::Info => summary.infos += 1,
        }
    }
    let mode = match (live.is_some(), zones.is_empty()) {
        (true, true) => "live",
        (true, false) => "zone",
        (false, _) => "offline",
    };
    Report {
        domain: domain.as_str().to_string(),
        mode,
        findings: list,
        incomplete,
        skipped,
        summary,
        dnsbl,
        route,
        changes,
        attempts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_lists_read_as_english() {
        assert_eq!(count(1, "address", "addresses"), "1 address");
        assert_eq!(count(0, "address", "addresses"), "0 addresses");
        assert_eq!(count(2, "record", "records"), "2 records");
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(and_list(&names(&[])), "");
        assert_eq!(and_list(&names(&["a"])), "a");
        assert_eq!(and_list(&names(&["a", "b"])), "a and b");
        assert_eq!(and_list(&names(&["a", "b", "c"])), "a, b and c");
    }

    #[test]
    fn policy_set_refuses_with_a_typed_error() {
        let mut policy = Policy::default();
        assert_eq!(
            policy.set("mx-ttl"),
            Err(PolicyError::Syntax("mx-ttl".into()))
        );
        assert_eq!(
            policy.set("no-such-rule=error"),
            Err(PolicyError::UnknownRule("no-such-rule".into()))
        );
        let e = policy.set("mx-ttl=loud").unwrap_err();
        assert_eq!(e, PolicyError::UnknownSeverity("loud".into()));
        assert_eq!(
            e.to_string(),
            "unknown severity \"loud\" (error, warning, notice, info)"
        );
        assert_eq!(policy.set("mx-ttl = ignore"), Ok(()));
        assert_eq!(policy.grade(&MX_TTL, Severity::Notice), None);
    }
}
